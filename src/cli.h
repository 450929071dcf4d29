/* cli.h: command line of etcd-explorer (tcpdump habits: -r, -i, -p, -c, -w, BPF after --). */
#ifndef EE_CLI_H
#define EE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_MAX_PORTS 16

enum cli_color { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };

struct cli_opts {
	const char *read_file;     /* -r */
	const char *iface;         /* -i; "any" when neither -r nor -i */
	const char *write_file;    /* -w */
	uint16_t ports[CLI_MAX_PORTS];
	int n_ports;
	bool any_port;             /* -p auto, or a file read without -p */
	bool ports_given;          /* -p was on the command line */
	uint64_t max_packets;      /* -c, 0 = unlimited */
	int64_t duration_us;       /* --duration, 0 = unlimited */
	bool json;
	enum cli_color color;
	const char *prefix;        /* --prefix, default "/registry" */
	bool show_secrets;
	bool show_noise;           /* --noise: diffs include resourceVersion, managedFields */
	bool hide_housekeeping;    /* --no-housekeeping */
	bool writes_only;          /* --writes */
	bool quiet;                /* -q: no summary on stderr */
	uint64_t max_mem;          /* --max-mem, bytes */
	bool max_mem_set;          /* given by the user (else a per-command default) */
	uint64_t max_message;      /* --max-message, bytes; 0 = GRPC_DEFAULT_MAX_MESSAGE */
	uint64_t buffer_bytes;     /* -B, live capture buffer; 0 = the default (32 MiB) */
	const char *f_resource, *f_namespace, *f_name, *f_manager, *f_key_prefix;
	int64_t rev;               /* get --rev N, 0 = latest */
	bool regex;                /* search -E */
	char *bpf;                 /* expression after --, owned */
	const char *command;       /* trace, status, ... */
	const char *args[4];       /* command arguments */
	int n_args;
};

/* Parses argv. Returns 0, 1 when help was printed (exit 0), or EE_USAGE with a message on
 * stderr. */
int cli_parse(int argc, char **argv, struct cli_opts *o);
void cli_usage(FILE *f);
void cli_free(struct cli_opts *o);
/* Parses "30s", "5m", "1h", "250ms", plain seconds. Returns microseconds or -1. */
int64_t cli_parse_duration(const char *s);
/* Parses "64M", "1G", "512k", bytes. Returns bytes or 0 on error. */
uint64_t cli_parse_size(const char *s);

#endif
