/* cli.c: argument parsing for etcd-explorer (see cli.h and docs/etcd-explorer.1). */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ee.h"

static const char *const COMMANDS[] = {
	"trace", "status", "members", "size", "list", "count", "get", "search", "custom",
	"watch", "writes", "why", "help", NULL,
};

void cli_usage(FILE *f)
{
	fputs("usage: etcd-explorer [options] COMMAND [ARGS] [-- BPF-EXPRESSION]\n"
	      "\n"
	      "Decodes kube-apiserver <-> etcd gRPC traffic from the wire (live or a capture file).\n"
	      "\n"
	      "Commands:\n"
	      "  trace                 every RPC, write and watch event as a timeline (default)\n"
	      "  status                endpoints, cluster, revision, rates, latency, errors, verdict\n"
	      "  members               cluster members (MemberList) or member ids seen\n"
	      "  size                  db size (Status) and bytes observed per resource type\n"
	      "  list [PREFIX]         keys the capture revealed, latest revision of each\n"
	      "  count                 keys per resource type\n"
	      "  get KEY [--rev N]     one key: decoded object and its history of writes\n"
	      "  search PATTERN [-E]   keys matching a substring or regex\n"
	      "  custom [RESOURCE]     custom resources by group and resource\n"
	      "  watch PREFIX          every change under PREFIX as it happens\n"
	      "  writes [PREFIX]       every write attempt: applied or not, by whom, diff\n"
	      "  why KEY|RES/NS/NAME   why an operator did (not) react to changes of one object\n"
	      "  help                  this text\n"
	      "\n"
	      "Source:\n"
	      "  -r FILE               read a pcap/pcapng file ('-' for stdin)\n"
	      "  -i IFACE              capture live (default 'any' when no -r)\n"
	      "  -p PORT[,PORT]|auto   etcd client ports (default 2379); auto finds etcd on any port\n"
	      "  -c N                  stop after N packets\n"
	      "  --duration D          stop after D (30s, 5m) of capture time\n"
	      "  -w FILE               also save the raw packets to FILE\n"
	      "  -B KIB                live capture buffer in KiB, as tcpdump's -B (default 32768)\n"
	      "  -- EXPR               BPF filter (default: tcp port PORT ...)\n"
	      "Output:\n"
	      "  --json                JSON lines (docs/json.md)\n"
	      "  --color=auto|always|never\n"
	      "  -q                    no summary on stderr at the end\n"
	      "Kubernetes:\n"
	      "  --prefix P            API server --etcd-prefix (default /registry)\n"
	      "  --show-secrets        show Secret values (redacted by default)\n"
	      "  --noise               include resourceVersion/managedFields changes in diffs\n"
	      "  --no-housekeeping     hide health checks, compaction, Status polls, lease keep-alives\n"
	      "Filters (trace, watch, writes):\n"
	      "  --resource R --namespace NS --name N --manager M --key-prefix P --writes\n"
	      "Limits:\n"
	      "  --max-mem SIZE        memory budget of the key store (default 256M for reports,\n"
	      "                        32M for trace, watch and writes, which only need recent values)\n"
	      "  --max-message SIZE    largest gRPC message decoded (default 64M; bigger ones are\n"
	      "                        skipped and counted)\n",
	      f);
}

int64_t cli_parse_duration(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return -1;
	double mul = 1e6;
	if (!strcmp(end, "ms")) mul = 1e3;
	else if (!strcmp(end, "s") || !*end) mul = 1e6;
	else if (!strcmp(end, "m")) mul = 60e6;
	else if (!strcmp(end, "h")) mul = 3600e6;
	else return -1;
	return (int64_t)(v * mul);
}

uint64_t cli_parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v <= 0)
		return 0;
	double mul = 1;
	switch (*end) {
	case 0: break;
	case 'k': case 'K': mul = 1024; break;
	case 'm': case 'M': mul = 1024.0 * 1024; break;
	case 'g': case 'G': mul = 1024.0 * 1024 * 1024; break;
	default: return 0;
	}
	return (uint64_t)(v * mul);
}

/* "2379,12379" or "auto" into o->ports. */
static int parse_ports(const char *s, struct cli_opts *o)
{
	if (!strcmp(s, "auto")) {
		o->any_port = true;
		return 0;
	}
	o->n_ports = 0;
	const char *p = s;
	while (*p) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p || v <= 0 || v > 65535 || o->n_ports >= CLI_MAX_PORTS)
			return EE_USAGE;
		o->ports[o->n_ports++] = (uint16_t)v;
		p = end;
		if (*p == ',')
			p++;
		else if (*p)
			return EE_USAGE;
	}
	return o->n_ports ? 0 : EE_USAGE;
}

enum {
	OPT_JSON = 256, OPT_COLOR, OPT_DURATION, OPT_PREFIX, OPT_SHOW_SECRETS, OPT_NOISE,
	OPT_NO_HOUSEKEEPING, OPT_WRITES, OPT_MAX_MEM, OPT_MAX_MESSAGE, OPT_RESOURCE, OPT_NAMESPACE, OPT_NAME,
	OPT_MANAGER, OPT_KEY_PREFIX, OPT_REV, OPT_HELP,
};

static const struct option LONGOPTS[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{"color", optional_argument, NULL, OPT_COLOR},
	{"colour", optional_argument, NULL, OPT_COLOR},
	{"duration", required_argument, NULL, OPT_DURATION},
	{"prefix", required_argument, NULL, OPT_PREFIX},
	{"show-secrets", no_argument, NULL, OPT_SHOW_SECRETS},
	{"noise", no_argument, NULL, OPT_NOISE},
	{"no-housekeeping", no_argument, NULL, OPT_NO_HOUSEKEEPING},
	{"writes", no_argument, NULL, OPT_WRITES},
	{"max-mem", required_argument, NULL, OPT_MAX_MEM},
	{"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
	{"resource", required_argument, NULL, OPT_RESOURCE},
	{"namespace", required_argument, NULL, OPT_NAMESPACE},
	{"name", required_argument, NULL, OPT_NAME},
	{"manager", required_argument, NULL, OPT_MANAGER},
	{"key-prefix", required_argument, NULL, OPT_KEY_PREFIX},
	{"rev", required_argument, NULL, OPT_REV},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "etcd-explorer: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see 'etcd-explorer help')\n");
	return EE_USAGE;
}

/* Joins argv[from..to) with spaces (the BPF expression). */
static char *join_args(char **argv, int from, int to)
{
	size_t n = 1;
	for (int i = from; i < to; i++)
		n += strlen(argv[i]) + 1;
	char *s = calloc(1, n);
	if (!s)
		return NULL;
	for (int i = from; i < to; i++) {
		if (i > from)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

int cli_parse(int argc, char **argv, struct cli_opts *o)
{
	memset(o, 0, sizeof *o);
	o->ports[0] = 2379;
	o->n_ports = 1;
	o->prefix = "/registry";
	o->max_mem = 256ull << 20;
	o->color = COLOR_AUTO;

	/* Everything after "--" is the BPF expression; getopt must not see it (GNU getopt
	 * permutes arguments, so it could not tell command arguments from BPF words). */
	int end = argc;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			end = i;
			break;
		}
	if (end < argc - 1) {
		o->bpf = join_args(argv, end + 1, argc);
		if (!o->bpf)
			return EE_NOMEM;
	}

	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(end, argv, ":r:i:p:c:w:B:qEh", LONGOPTS, NULL)) != -1) {
		switch (c) {
		case 'r': o->read_file = optarg; break;
		case 'i': o->iface = optarg; break;
		case 'w': o->write_file = optarg; break;
		case 'p':
			if (parse_ports(optarg, o))
				return usage_error("bad port list '%s': use PORT[,PORT] or auto", optarg);
			o->ports_given = true;
			break;
		case 'c': {
			char *e;
			long long v = strtoll(optarg, &e, 10);
			if (*e || v <= 0)
				return usage_error("bad packet count '%s'", optarg);
			o->max_packets = (uint64_t)v;
			break;
		}
		case 'B': {
			char *e;
			long long v = strtoll(optarg, &e, 10);
			if (*e || v <= 0 || v > (1ll << 21))
				return usage_error("bad buffer size '%s': KiB, e.g. 65536", optarg);
			o->buffer_bytes = (uint64_t)v << 10;
			break;
		}
		case 'q': o->quiet = true; break;
		case 'E': o->regex = true; break;
		case 'h': case OPT_HELP: o->command = "help"; break;
		case OPT_JSON: o->json = true; break;
		case OPT_COLOR:
			if (!optarg || !strcmp(optarg, "always")) o->color = COLOR_ALWAYS;
			else if (!strcmp(optarg, "never")) o->color = COLOR_NEVER;
			else if (!strcmp(optarg, "auto")) o->color = COLOR_AUTO;
			else return usage_error("bad --color value '%s': use auto, always or never", optarg);
			break;
		case OPT_DURATION:
			o->duration_us = cli_parse_duration(optarg);
			if (o->duration_us <= 0)
				return usage_error("bad duration '%s': use e.g. 30s, 5m", optarg);
			break;
		case OPT_PREFIX: o->prefix = optarg; break;
		case OPT_SHOW_SECRETS: o->show_secrets = true; break;
		case OPT_NOISE: o->show_noise = true; break;
		case OPT_NO_HOUSEKEEPING: o->hide_housekeeping = true; break;
		case OPT_WRITES: o->writes_only = true; break;
		case OPT_MAX_MEM:
			o->max_mem = cli_parse_size(optarg);
			o->max_mem_set = true;
			if (!o->max_mem)
				return usage_error("bad size '%s': use e.g. 256M", optarg);
			break;
		case OPT_MAX_MESSAGE:
			o->max_message = cli_parse_size(optarg);
			if (!o->max_message || o->max_message > UINT32_MAX)
				return usage_error("bad size '%s': use e.g. 64M (at most 4G - 1)", optarg);
			break;
		case OPT_RESOURCE: o->f_resource = optarg; break;
		case OPT_NAMESPACE: o->f_namespace = optarg; break;
		case OPT_NAME: o->f_name = optarg; break;
		case OPT_MANAGER: o->f_manager = optarg; break;
		case OPT_KEY_PREFIX: o->f_key_prefix = optarg; break;
		case OPT_REV: {
			char *e;
			long long v = strtoll(optarg, &e, 10);
			if (*e || v <= 0)
				return usage_error("bad revision '%s'", optarg);
			o->rev = v;
			break;
		}
		case ':': return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	for (int i = optind; i < end; i++) {
		if (!o->command) {
			o->command = argv[i];
			continue;
		}
		if (o->n_args >= (int)(sizeof o->args / sizeof o->args[0]))
			return usage_error("too many arguments at '%s'", argv[i]);
		o->args[o->n_args++] = argv[i];
	}
	if (!o->command)
		o->command = "trace";
	bool known = false;
	for (int i = 0; COMMANDS[i]; i++)
		known |= !strcmp(COMMANDS[i], o->command);
	if (!known)
		return usage_error("unknown command '%s'", o->command);
	if (!strcmp(o->command, "help")) {
		cli_usage(stdout);
		return 1;
	}
	if ((!strcmp(o->command, "get") || !strcmp(o->command, "search") ||
	     !strcmp(o->command, "watch") || !strcmp(o->command, "why")) && o->n_args < 1)
		return usage_error("'%s' needs an argument", o->command);
	if (o->read_file && o->iface)
		return usage_error("%s", "use either -r FILE or -i IFACE, not both");
	if (!o->read_file && !o->iface)
		o->iface = "any";
	/* A saved capture may come from anywhere (envtest runs etcd on a random port): without
	 * -p, find etcd on any port. Live, the BPF filter on 2379 keeps the kernel's copy small. */
	if (o->read_file && !o->ports_given)
		o->any_port = true;
	return 0;
}

void cli_free(struct cli_opts *o)
{
	free(o->bpf);
	o->bpf = NULL;
}
