/* cmd_trace.c: the `trace` command: every record, filtered, printed as it arrives. */
#include "app.h"

static void trace_record(struct app *a, const struct etcd_record *r, const struct meaning *m)
{
	if (app_filter_pass(a, r, m))
		out_record(&a->out, r, m);
}

const struct command_ops cmd_trace = {
	.name = "trace",
	.streaming = true,
	.on_record = trace_record,
};
