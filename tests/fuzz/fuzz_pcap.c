/* fuzz_pcap.c: libFuzzer target for the whole pipeline: the input is a complete capture file
 * (pcap or pcapng) run through app_main exactly as the command line would run it:
 * capture -> tcp -> h2/hpack -> grpc -> etcd -> meaning/store -> out. Seeded from pcaps/
 * by scripts/fuzz.sh.
 *
 * The input is written to a memfd (a temp file where memfd_create is missing) and read back
 * by path (/proc/self/fd/N), since app_main only takes a file name. Which command runs is
 * taken from the pcap header's thiszone field (bytes 8..11, which libpcap ignores), so a
 * crashing input reproduces with the same command:
 *   thiszone byte 0 & 7:  0 "--json trace" then "--json status" (every real capture: 0)
 *                         1 "trace" (text)   2 "--json status"   3 "--json count"
 *                         4 "--json writes"  5 "--json list"     6 "--json why /registry/a"
 *                         7 "--json trace -p 2379"
 * stdout goes to /dev/null; the C library's stderr FILE is pointed at /dev/null too (file
 * errors on garbage inputs would flood the log), while fd 2 stays open so sanitizer and
 * libFuzzer reports still appear. Set FUZZ_PCAP_VERBOSE=1 to keep the tool's stderr. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "app.h"
#include "cli.h"

static int fz_fd = -1;
static char fz_path[64];

static int fz_setup(void)
{
#ifdef MFD_CLOEXEC
	fz_fd = memfd_create("fuzz_pcap", MFD_CLOEXEC);
#endif
	if (fz_fd >= 0) {
		snprintf(fz_path, sizeof fz_path, "/proc/self/fd/%d", fz_fd);
		return 0;
	}
	snprintf(fz_path, sizeof fz_path, "/tmp/fuzz_pcap.XXXXXX");
	fz_fd = mkstemp(fz_path);
	return fz_fd < 0 ? -1 : 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!freopen("/dev/null", "w", stdout))
		abort();
	if (!getenv("FUZZ_PCAP_VERBOSE")) {
		FILE *null = fopen("/dev/null", "w");
		if (null)
			stderr = null;
	}
	if (fz_setup() < 0)
		abort();
	return 0;
}

/* Replaces the file's contents with the input. */
static int fz_write(const uint8_t *data, size_t size)
{
	if (ftruncate(fz_fd, 0) < 0)
		return -1;
	size_t off = 0;
	while (off < size) {
		ssize_t w = pwrite(fz_fd, data + off, size - off, (off_t)off);
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/* One run of the tool, as main() does it. app_main installs SIGINT/SIGTERM handlers for
 * its capture; put libFuzzer's back so Ctrl-C still stops the fuzzer. */
static void fz_run(char **argv, int argc)
{
	struct sigaction old_int, old_term;
	struct cli_opts o;
	sigaction(SIGINT, NULL, &old_int);
	sigaction(SIGTERM, NULL, &old_term);
	if (cli_parse(argc, argv, &o) == 0)
		(void)app_main(&o);
	cli_free(&o);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	fflush(stdout);
}

#define FZ_ARGV(...)                                                                         \
	do {                                                                                 \
		char *v_[] = {"etcd-explorer", "-q", "-r", fz_path, __VA_ARGS__, NULL};        \
		fz_run(v_, (int)(sizeof v_ / sizeof v_[0]) - 1);                             \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz_write(data, size) < 0)
		abort();
	/* thiszone's first byte (either byte order's low or high byte: both are 0 in practice) */
	unsigned mode = size > 8 ? data[8] & 7 : 0;
	switch (mode) {
	case 0:
		FZ_ARGV("--json", "trace");
		FZ_ARGV("--json", "status");
		break;
	case 1: FZ_ARGV("--color=always", "trace"); break;
	case 2: FZ_ARGV("--json", "status"); break;
	case 3: FZ_ARGV("--json", "count"); break;
	case 4: FZ_ARGV("--json", "writes"); break;
	case 5: FZ_ARGV("--json", "list"); break;
	case 6: FZ_ARGV("--json", "why", "/registry/a"); break;
	default: FZ_ARGV("-p", "2379", "--json", "trace"); break;
	}
	return 0;
}
