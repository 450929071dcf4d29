/* main.c: etcd-explorer entry point: parse the command line, run the pipeline.
 * Exit codes: 0 success, 1 runtime error (unreadable file, no permission ...), 2 usage. */
#include <stdio.h>

#include "app.h"
#include "cli.h"

int main(int argc, char **argv)
{
	struct cli_opts o;
	int rc = cli_parse(argc, argv, &o);
	if (rc == 1) {
		cli_free(&o);
		return 0;
	}
	if (rc < 0) {
		cli_free(&o);
		return 2;
	}
	rc = app_main(&o);
	cli_free(&o);
	return rc;
}
