/* capture.c: the packet source, first stage of the pipeline (capture.h). Wraps libpcap for
 * live interfaces and saved files (pcap, pcapng, stdin), saves raw frames for -w, and hands
 * each frame to the pure decoder in link.c, counting what is not a TCP segment. A classic
 * pcap in a regular file is read in 1 MiB blocks into our own buffer and walked there by
 * pcapfile.c, instead of libpcap's two freads and a copy per record (libpcap still opens
 * it: link type, errors, filters and -w stay its own); a second thread reads the next block
 * while the caller decodes the current one. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "pcapfile.h"
#include "portfilter.h"

/* Bytes kept per frame live: 256 KiB covers the largest TSO/GRO super-frames Linux hands
 * to packet sockets (64 KiB IP + headers), so no etcd payload is cut (tcpdump's default). */
#define CAP_SNAPLEN 262144

/* Kernel ring size for live capture: an apiserver under load sends bursts of large Range
 * responses; 32 MiB absorbs a few hundred milliseconds of 1 Gb/s before drops. */
#define CAP_BUFFER_BYTES (32 * 1024 * 1024)

/* Read timeout, so capture_next returns 2 often enough for timers and Ctrl-C: live handles
 * are non-blocking and we poll() with this. It is also libpcap's buffer timeout: the
 * kernel hands over a block of packets when it is full or this old, so a packet is printed
 * at most this long after it was seen. */
#define CAP_TIMEOUT_MS 100

/* Live frames skipped (not TCP, malformed) in one capture_next before it returns 2 anyway,
 * so a flood of other traffic cannot starve the caller's timers. */
#define CAP_SKIP_MAX 4096

struct capture {
	pcap_t *p;
	pcap_dumper_t *dump;
	int dlt;
	int fd; /* live: selectable descriptor for poll(), -1 when there is none */
	bool live;
	volatile sig_atomic_t stop; /* set by capture_break, possibly from a signal handler */
	struct capture_stats st;
	char name[64]; /* link type name, for capture_linktype_name */
	char *iobuf;   /* offline: the stdio buffer of the file libpcap reads */
	/* offline fast path (capture_fast): the file read into rbuf, walked by pcapfile.c */
	bool fast;
	bool eof;     /* a read returned 0 (or failed): no more reading, as stdio's sticky EOF */
	int rfd;      /* libpcap's file, open until pcap_close; read with pread at roff */
	off_t roff;   /* the file offset of the byte after the last one read */
	uint8_t *rbuf[2]; /* CAPTURE_RBUF bytes each; pf walks rbuf[cur], the other is spare */
	int cur;
	struct pcapfile pf;
	/* the reader thread (capture_reader), when there is one: it owns the spare buffer from
	 * a request (rgo) until it says done (rdone); the fields below rmu are under it */
	bool threaded;
	bool rpending; /* main thread: a read of the spare buffer's block was asked for */
	/* main thread: blocks whose read-ahead was not done when needed, in a row, and blocks
	 * still to read without the thread after too many such waits (capture_read_block) */
	unsigned rstalls, rsync_left;
	pthread_t rthread;
	pthread_mutex_t rmu;
	pthread_cond_t rcv; /* one for both directions: at most one thread waits at a time */
	bool rgo, rdone, rquit;
	uint8_t *rdst; /* the request: rlen bytes at file offset rat, into rdst */
	size_t rlen;
	off_t rat;
	ssize_t rn; /* the answer: pread's result, errno when it is negative */
	int rerr;
	struct pcap_pkthdr fhdr;  /* the current record, as pcap_next_ex would give it */
	struct bpf_program prog;  /* a copy of the filter installed, run by hand when fast */
	bool has_prog;
	/* the filter installed is app.c's default one for these ports (0 = "tcp"): the fast
	 * path asks capture_port_verdict first and runs prog only when it is not sure */
	bool native;
	int nports;
	uint16_t ports[CAPTURE_NATIVE_PORTS];
};

/* Fills name with libpcap's name for dlt, or a numeric one for a type it does not know. */
static void capture_name_dlt(int dlt, char *name, size_t len)
{
	const char *n = pcap_datalink_val_to_name(dlt);
	if (n)
		snprintf(name, len, "%s", n);
	else
		snprintf(name, len, "DLT %d", dlt);
}

/* Wraps an activated pcap handle; fails with a sentence if we cannot decode its link type,
 * so the user hears it once at open time instead of once per packet. */
static int capture_wrap(struct capture **out, pcap_t *p, bool live, char *err, size_t errlen)
{
	struct cap_packet probe;
	char ebuf[PCAP_ERRBUF_SIZE];
	int dlt = pcap_datalink(p);
	char name[64];

	capture_name_dlt(dlt, name, sizeof name);
	if (capture_decode_frame(dlt, NULL, 0, 0, &probe) == EE_UNSUPPORTED) {
		snprintf(err, errlen, "unsupported link type %s (%d)", name, dlt);
		pcap_close(p);
		return EE_UNSUPPORTED;
	}
	struct capture *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		pcap_close(p);
		return EE_NOMEM;
	}
	c->p = p;
	c->dlt = dlt;
	c->live = live;
	c->fd = -1;
	if (live && pcap_get_selectable_fd(p) >= 0 && pcap_setnonblock(p, 1, ebuf) == 0)
		c->fd = pcap_get_selectable_fd(p);
	snprintf(c->name, sizeof c->name, "%s", name);
	*out = c;
	return 0;
}

/* The fast path reads the file in blocks of this size, at the offsets the 1 MiB stdio buffer
 * libpcap reads it through would be filled from (CAPTURE_IOBUF): the first block ends at
 * 1 MiB, each next one starts where the last read ended. So a file changed while being read
 * (grown, truncated) gives the same records and errors on both paths, as test_capture
 * checks, for as long as the reads come out the same size. */
#define CAPTURE_RBLOCK (1u << 20)

/* A buffer: headroom, then a block read at CAPTURE_HEAD. The headroom takes the part of a
 * record cut by the previous block's end, copied just before the new block (at most a
 * record header and libpcap's largest record, PCAPFILE_MAX_SNAPLEN: a longer caplen is an
 * error before any of its bytes are read), so the block itself can be read in advance,
 * before the cut is known. */
#define CAPTURE_HEAD (PCAPFILE_REC_LEN + PCAPFILE_MAX_SNAPLEN)
#define CAPTURE_RBUF (CAPTURE_HEAD + CAPTURE_RBLOCK)

/* The size of the read at roff: stdio read [0, 1 MiB) when libpcap read the header, then
 * 1 MiB from where it ended. */
static size_t capture_want(const struct capture *c)
{
	return CAPTURE_RBLOCK - (c->roff == PCAPFILE_HDR_LEN ? PCAPFILE_HDR_LEN : 0);
}

/* pread, again when a signal interrupts it; errno in *eno when it fails. */
static ssize_t capture_pread(int fd, uint8_t *dst, size_t len, off_t at, int *eno)
{
	ssize_t n;
	do
		n = pread(fd, dst, len, at);
	while (n < 0 && errno == EINTR);
	*eno = n < 0 ? errno : 0;
	return n;
}

/* The reader thread: waits for a request, reads it, says done, until told to quit. */
static void *capture_reader(void *arg)
{
	struct capture *c = arg;

	pthread_mutex_lock(&c->rmu);
	for (;;) {
		while (!c->rgo && !c->rquit)
			pthread_cond_wait(&c->rcv, &c->rmu);
		if (c->rquit)
			break;
		c->rgo = false;
		uint8_t *dst = c->rdst;
		size_t len = c->rlen;
		off_t at = c->rat;
		pthread_mutex_unlock(&c->rmu);
		int eno;
		ssize_t n = capture_pread(c->rfd, dst, len, at, &eno);
		pthread_mutex_lock(&c->rmu);
		c->rn = n;
		c->rerr = eno;
		c->rdone = true;
		pthread_cond_broadcast(&c->rcv);
	}
	pthread_mutex_unlock(&c->rmu);
	return NULL;
}

/* Reading ahead only pays while decoding is slower than reading. When the main thread had
 * to wait for CAPTURE_STALLS blocks in a row (a capture where the filter drops nearly
 * everything), each block costs two thread wake-ups and saves nothing: the next
 * CAPTURE_SYNC_BLOCKS blocks are read on the main thread, then reading ahead is tried
 * again. */
#define CAPTURE_STALLS 4
#define CAPTURE_SYNC_BLOCKS 64

/* Asks the reader thread for the block at roff, into the spare buffer (no-op without one,
 * and while reads are synchronous for a while). */
static void capture_prefetch(struct capture *c)
{
	if (!c->threaded)
		return;
	if (c->rsync_left) {
		c->rsync_left--;
		return;
	}
	pthread_mutex_lock(&c->rmu);
	c->rdst = c->rbuf[!c->cur] + CAPTURE_HEAD;
	c->rlen = capture_want(c);
	c->rat = c->roff;
	c->rgo = true;
	pthread_cond_broadcast(&c->rcv);
	pthread_mutex_unlock(&c->rmu);
	c->rpending = true;
}

/* Starts the reader thread with every signal blocked (they stay the main thread's, as
 * before); without one (creation failed) capture_fill reads synchronously. */
static void capture_start_reader(struct capture *c)
{
	sigset_t all, old;

	if (pthread_mutex_init(&c->rmu, NULL) != 0)
		return;
	if (pthread_cond_init(&c->rcv, NULL) != 0) {
		pthread_mutex_destroy(&c->rmu);
		return;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	c->threaded = pthread_create(&c->rthread, NULL, capture_reader, c) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!c->threaded) {
		pthread_cond_destroy(&c->rcv);
		pthread_mutex_destroy(&c->rmu);
	}
}

/* Stops and joins the reader thread (after a read in progress ends). */
static void capture_stop_reader(struct capture *c)
{
	if (!c->threaded)
		return;
	pthread_mutex_lock(&c->rmu);
	c->rquit = true;
	pthread_cond_broadcast(&c->rcv);
	pthread_mutex_unlock(&c->rmu);
	pthread_join(c->rthread, NULL);
	pthread_cond_destroy(&c->rcv);
	pthread_mutex_destroy(&c->rmu);
	c->threaded = false;
}

/* Sets up capture_next's fast path for a classic pcap in a regular file: anything else
 * (pcapng, a pipe, a header pcapfile.c does not take) keeps libpcap's reader, and so does
 * EE_PCAP_LIBPCAP=1 (any value but "" and "0"), to compare the two. libpcap has read the
 * 24-byte header from f already and reads nothing more; the records are read from the
 * same descriptor with pread, at offsets of our own, so f's position does not matter. */
static void capture_fast(struct capture *c, FILE *f)
{
	struct stat sb;
	const char *e = getenv("EE_PCAP_LIBPCAP");
	int fd = fileno(f);

	if (e && *e && strcmp(e, "0") != 0)
		return;
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		return;
	uint8_t *buf = malloc(CAPTURE_RBUF), *spare = malloc(CAPTURE_RBUF);
	if (!buf || !spare ||
	    pread(fd, buf, PCAPFILE_HDR_LEN, 0) != PCAPFILE_HDR_LEN ||
	    !pcapfile_init(&c->pf, buf, PCAPFILE_HDR_LEN, c->dlt) ||
	    c->pf.snapshot != (uint32_t)pcap_snapshot(c->p)) {
		free(buf);
		free(spare);
		return;
	}
	/* the header only in rbuf[0]: the first capture_next_fast fills rbuf[1] */
	c->rbuf[0] = buf;
	c->rbuf[1] = spare;
	c->cur = 0;
	c->rfd = fd;
	c->roff = PCAPFILE_HDR_LEN;
	c->fast = true;
	capture_start_reader(c);
	capture_prefetch(c);
}

/* The next block, want bytes at roff into dst: the reader thread's answer if it still
 * stands, else read now, as the synchronous reader did at this point. A read done in
 * advance is taken when the file's size now agrees with it (a full block wholly inside the
 * file, or a short one or the end exactly at its end); a file truncated or grown since
 * (logrotate's copytruncate, a capture still written), or a failed read, is read again. */
static ssize_t capture_read_block(struct capture *c, uint8_t *dst, size_t want, int *eno)
{
	if (c->rpending) {
		pthread_mutex_lock(&c->rmu);
		if (c->rdone) {
			c->rstalls = 0;
		} else if (++c->rstalls >= CAPTURE_STALLS) {
			c->rstalls = 0;
			c->rsync_left = CAPTURE_SYNC_BLOCKS;
		}
		while (!c->rdone)
			pthread_cond_wait(&c->rcv, &c->rmu);
		c->rdone = false;
		ssize_t n = c->rn;
		pthread_mutex_unlock(&c->rmu);
		c->rpending = false;
		struct stat sb;
		if (n >= 0 && fstat(c->rfd, &sb) == 0 &&
		    ((size_t)n == want ? sb.st_size >= c->roff + n : sb.st_size == c->roff + n))
			return n;
	}
	return capture_pread(c->rfd, dst, want, c->roff, eno);
}

/* Takes the next block (the spare buffer, read ahead by the reader thread or now), copies
 * the bytes from at on (a record cut by the end of the current buffer, or nothing) into the
 * headroom just before it, points pf at them and makes that buffer the current one; then
 * asks for the block after it in the other. The blocks are the ones a read at this point
 * would give (capture_read_block), at the same offsets. A read that returns 0 sets eof,
 * and so does a failure (err then gets libpcap's sentence for a failed fread and it
 * returns false); a short read does not, as stdio tries again when more is needed.
 * Appended bytes (a file still being written) are read until the first end of file. */
static bool capture_fill(struct capture *c, size_t at, char *err, size_t errlen)
{
	size_t keep = c->pf.len - at;
	/* the spare buffer, ours again once capture_read_block returns */
	uint8_t *next = c->rbuf[!c->cur] + CAPTURE_HEAD;
	int eno = 0;

	size_t want = capture_want(c);
	ssize_t n = capture_read_block(c, next, want, &eno);
	if (keep > CAPTURE_HEAD) /* cannot be (see CAPTURE_HEAD); not past the buffer anyway */
		keep = CAPTURE_HEAD;
	/* the cut record just before the new block; the current buffer becomes the spare
	 * (the record last handed out, in it, was valid until this call) */
	memcpy(next - keep, c->pf.buf + at, keep);
	c->pf.buf = next - keep;
	c->pf.len = keep;
	c->pf.off = 0;
	c->cur = !c->cur;
	if (n <= 0) {
		c->eof = true;
		if (n < 0) {
			snprintf(err, errlen, "read error: error reading dump file: %s",
				 strerror(eno));
			return false;
		}
		return true;
	}
	c->pf.len = keep + (size_t)n;
	c->roff += n;
	capture_prefetch(c);
	return true;
}

/* Bytes of the stdio buffer a saved capture is read through. libpcap freads every record
 * (header, then data) from its FILE; with stdio's default 4 KiB buffer that is one read(2)
 * per 4 KiB, 16 000 system calls for a 74 MB file. */
#define CAPTURE_IOBUF (1u << 20)

/* Opens a saved capture; libpcap detects pcap vs pcapng and reads stdin for "-".
 * Timestamps are asked for in microseconds, so nanosecond files are converted on read.
 * The file is opened here, as pcap_open_offline would, to give it a large buffer. */
int capture_open_offline(struct capture **out, const char *path, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	bool is_stdin = strcmp(path, "-") == 0;
	const char *shown = is_stdin ? "standard input" : path;

	*out = NULL;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s", shown, strerror(errno));
		return EE_IO;
	}
	/* not for stdin: it outlives the capture, and its buffer with it */
	char *iobuf = is_stdin ? NULL : malloc(CAPTURE_IOBUF);
	if (iobuf && setvbuf(f, iobuf, _IOFBF, CAPTURE_IOBUF) != 0) {
		free(iobuf);
		iobuf = NULL;
	}
	pcap_t *p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
	if (!p) {
		if (!is_stdin)
			fclose(f);
		free(iobuf);
		/* libpcap prefixes errno messages with "path: "; the sentence already names it. */
		const char *why = ebuf;
		size_t plen = strlen(path);
		if (strncmp(ebuf, path, plen) == 0 && strncmp(ebuf + plen, ": ", 2) == 0)
			why = ebuf + plen + 2;
		snprintf(err, errlen, "cannot read %s: %s", shown, why);
		return EE_IO;
	}
	int rc = capture_wrap(out, p, false, err, errlen);
	if (rc != 0) {
		free(iobuf); /* capture_wrap closed p, and the file with it */
		return rc;
	}
	(*out)->iobuf = iobuf; /* freed after pcap_close has closed the file */
	if (!is_stdin)
		capture_fast(*out, f);
	return 0;
}

/* Gives up setuid privileges once the capture socket is open: nothing after this point
 * needs them, and the decoders parse untrusted bytes. */
static int capture_drop_privileges(char *err, size_t errlen)
{
	if (getuid() == geteuid() && getgid() == getegid())
		return 0;
	if (setgid(getgid()) != 0 || setuid(getuid()) != 0) {
		snprintf(err, errlen, "cannot drop privileges: %s", strerror(errno));
		return EE_IO;
	}
	return 0;
}

/* Opens iface live. The steps follow pcap_create(3PCAP): options before activation;
 * pcap_activate's negative codes become one sentence each. */
int capture_open_live(struct capture **out, const char *iface, size_t buffer_bytes, char *err,
		      size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";

	*out = NULL;
	pcap_t *p = pcap_create(iface, ebuf);
	if (!p) {
		snprintf(err, errlen, "cannot capture on %s: %s", iface, ebuf);
		return EE_IO;
	}
	pcap_set_snaplen(p, CAP_SNAPLEN);
	/* Not immediate mode: libpcap then uses TPACKET_V2, a ring of fixed frames of the
	 * snapshot length (~64 KiB each on loopback), so the 32 MiB ring held ~500 packets,
	 * 35 ms of a busy API server, and drops began whenever the decoder waited that long
	 * for a CPU. TPACKET_V3 packs packets into blocks by their real size: the same ring
	 * holds seconds of traffic, at the price of CAP_TIMEOUT_MS of delivery delay. */
	pcap_set_immediate_mode(p, 0);
	/* A bigger buffer absorbs bursts while the decoder is descheduled (-B) */
	pcap_set_buffer_size(p, buffer_bytes && buffer_bytes <= INT_MAX ? (int)buffer_bytes
								      : CAP_BUFFER_BYTES);
	pcap_set_timeout(p, CAP_TIMEOUT_MS);
	int rc = pcap_activate(p);
	if (rc < 0) {
		if (rc == PCAP_ERROR_PERM_DENIED)
			snprintf(err, errlen,
				 "no permission to capture on %s (run as root or give the binary "
				 "CAP_NET_RAW)", iface);
		else if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
			snprintf(err, errlen, "no such interface %s", iface);
		else if (rc == PCAP_ERROR_IFACE_NOT_UP)
			snprintf(err, errlen, "interface %s is not up", iface);
		else
			snprintf(err, errlen, "cannot capture on %s: %s", iface, pcap_geterr(p));
		pcap_close(p);
		return rc == PCAP_ERROR_NO_SUCH_DEVICE ? EE_USAGE : EE_IO;
	}
	rc = capture_wrap(out, p, true, err, errlen);
	if (rc < 0)
		return rc;
	rc = capture_drop_privileges(err, errlen);
	if (rc < 0) {
		capture_close(*out);
		*out = NULL;
	}
	return rc;
}

/* Compiles expr for this capture's link type and installs it in the kernel (live) or in
 * libpcap's reader (offline). The netmask only matters for "ip broadcast", unused here. */
int capture_set_filter(struct capture *c, const char *expr, char *err, size_t errlen)
{
	struct bpf_program prog;

	if (pcap_compile(c->p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(err, errlen, "bad filter \"%s\": %s", expr, pcap_geterr(c->p));
		return EE_USAGE;
	}
	int rc = pcap_setfilter(c->p, &prog);
	if (rc != 0) {
		pcap_freecode(&prog);
		snprintf(err, errlen, "cannot set filter \"%s\": %s", expr, pcap_geterr(c->p));
		return EE_IO;
	}
	/* libpcap copied it for its own reader; the fast path keeps this one */
	if (c->has_prog)
		pcap_freecode(&c->prog);
	c->prog = prog;
	c->has_prog = true;
	c->native = false; /* until capture_set_default_ports says what this one is */
	return 0;
}

/* The caller vouches that the filter just installed is "tcp and (port P1 or ...)" for these
 * ports, or "tcp" for none. A DLT_NULL file from a host of the other byte order gets its
 * address family compiled swapped, which capture_port_verdict does not know: BPF then. */
void capture_set_default_ports(struct capture *c, const uint16_t *ports, int nports)
{
	c->native = false;
	if (!c->has_prog || nports < 0 || nports > CAPTURE_NATIVE_PORTS ||
	    !capture_port_verdict_dlt(c->dlt) || (c->dlt == DLT_NULL && pcap_is_swapped(c->p)))
		return;
	for (int i = 0; i < nports; i++)
		c->ports[i] = ports[i];
	c->nports = nports;
	c->native = true;
}

/* Opens the -w file ("-" for stdout) with this capture's link type and snaplen. */
int capture_dump_open(struct capture *c, const char *path, char *err, size_t errlen)
{
	if (c->dump) {
		pcap_dump_close(c->dump);
		c->dump = NULL;
	}
	c->dump = pcap_dump_open(c->p, path);
	if (!c->dump) {
		snprintf(err, errlen, "cannot write %s: %s", path, pcap_geterr(c->p));
		return EE_IO;
	}
	return 0;
}

/* Counts a frame the decoder refused, by why. */
static void capture_count_skip(struct capture *c, int rc)
{
	if (rc == EE_NOTTCP)
		c->st.not_tcp++;
	else
		c->st.malformed++;
}

/* Waits up to CAP_TIMEOUT_MS for the live descriptor to become readable. Returns 1 when
 * it did (or a signal interrupted the wait: the caller rechecks the break flag), 0 on
 * timeout, EE_IO on error. */
static int capture_wait(struct capture *c, char *err, size_t errlen)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	int n = poll(&pfd, 1, CAP_TIMEOUT_MS);
	if (n < 0 && errno != EINTR) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		return EE_IO;
	}
	return n != 0;
}

/* The fast path's pcap_next_ex: the next record of the file that passes the filter, with
 * the same return values (1, PCAP_ERROR_BREAK at the end, PCAP_ERROR with the sentence in
 * err). A record wholly in the buffer is handed out where it lies (valid until the next
 * call, as libpcap's); one the buffer's end cuts is read on by capture_fill, and only at the
 * true end of the file does pcapfile_next's answer stand (libpcap's truncation sentences).
 * Like libpcap's offline loop it rechecks the break flag between records the filter drops. */
static int capture_next_fast(struct capture *c, struct pcap_pkthdr **hdr, const u_char **data,
			       char *err, size_t errlen)
{
	struct pcapfile_rec rec;
	char why[PCAP_ERRBUF_SIZE];

	for (;;) {
		if (c->stop)
			return PCAP_ERROR_BREAK;
		size_t at = c->pf.off;
		int rc = pcapfile_next(&c->pf, &rec, why, sizeof why);
		if (rc <= 0 && c->pf.off == c->pf.len && !c->eof) {
			/* the end of the buffer, or a record it cuts: again with more bytes */
			if (!capture_fill(c, at, err, errlen))
				return PCAP_ERROR;
			continue;
		}
		if (rc == 0)
			return PCAP_ERROR_BREAK;
		if (rc < 0) {
			snprintf(err, errlen, "read error: %s", why);
			return PCAP_ERROR;
		}
		c->fhdr.ts.tv_sec = (time_t)rec.sec;
		c->fhdr.ts.tv_usec = (suseconds_t)rec.usec;
		c->fhdr.caplen = rec.caplen;
		c->fhdr.len = rec.len;
		if (c->has_prog) {
			int v = c->native ? capture_port_verdict(c->dlt, rec.data, rec.caplen,
								 c->ports, c->nports) : -1;
			if (v < 0)
				v = pcap_offline_filter(&c->prog, &c->fhdr, rec.data) != 0;
			if (!v)
				continue;
		}
		*hdr = &c->fhdr;
		*data = rec.data;
		return 1;
	}
}

/* Reads frames until one holds a TCP segment (see capture.h for the return values). Every
 * frame read is saved to the -w file first, whatever the decoder makes of it. */
int capture_next(struct capture *c, struct cap_packet *pkt, char *err, size_t errlen)
{
	struct pcap_pkthdr *hdr;
	const u_char *data;
	int skipped = 0;

	for (;;) {
		if (c->stop)
			return 0;
		int rc;
		if (c->fast) {
			rc = capture_next_fast(c, &hdr, &data, err, errlen);
			if (rc == PCAP_ERROR)
				return EE_IO;
		} else {
			rc = pcap_next_ex(c->p, &hdr, &data);
		}
		if (rc == 0) {
			/* live only: nothing ready (non-blocking) or libpcap's timeout expired */
			if (c->fd < 0)
				return 2;
			rc = capture_wait(c, err, errlen);
			if (rc <= 0)
				return rc == 0 ? 2 : rc;
			continue;
		}
		if (rc == PCAP_ERROR_BREAK)
			return 0; /* end of file, or pcap_breakloop */
		if (rc < 0) {
			snprintf(err, errlen, "read error: %s", pcap_geterr(c->p));
			return EE_IO;
		}
		c->st.packets++;
		c->st.bytes += hdr->caplen;
		if (c->dump) {
			pcap_dump((u_char *)c->dump, hdr, data);
			if (c->live)
				pcap_dump_flush(c->dump);
		}
		rc = capture_decode_frame(c->dlt, data, hdr->caplen, hdr->len, pkt);
		if (rc < 0) {
			capture_count_skip(c, rc);
			if (c->live && ++skipped >= CAP_SKIP_MAX)
				return 2;
			continue;
		}
		c->st.tcp++;
		if (pkt->len < pkt->wire_len)
			c->st.truncated++;
		pkt->ts = (ee_ts)hdr->ts.tv_sec * 1000000 + (ee_ts)hdr->ts.tv_usec;
		return 1;
	}
}

/* Sets the flag first (seen by the next capture_next), then wakes a blocked read. */
void capture_break(struct capture *c)
{
	c->stop = 1;
	pcap_breakloop(c->p);
}

/* Copies the counters; live captures add the kernel's drop counts. */
void capture_get_stats(struct capture *c, struct capture_stats *st)
{
	*st = c->st;
	st->drops = 0;
	st->drops_known = false;
	if (c->live) {
		struct pcap_stat ps;
		if (pcap_stats(c->p, &ps) == 0) {
			st->drops = (uint64_t)ps.ps_drop + ps.ps_ifdrop;
			st->drops_known = true;
		}
	}
}

int capture_linktype(const struct capture *c) { return c->dlt; }

const char *capture_linktype_name(const struct capture *c) { return c->name; }

/* Closes the -w file (flushing it) and the source. Accepts NULL. */
void capture_close(struct capture *c)
{
	if (!c)
		return;
	if (c->dump)
		pcap_dump_close(c->dump);
	capture_stop_reader(c); /* before pcap_close closes its file */
	free(c->rbuf[0]);
	free(c->rbuf[1]);
	if (c->has_prog)
		pcap_freecode(&c->prog);
	pcap_close(c->p);
	free(c->iobuf);
	free(c);
}

/* Formats an address for display; "?" for an unknown family. */
void capture_addr_str(int af, const uint8_t addr[16], char *buf, size_t len)
{
	int family = af == 4 ? AF_INET : af == 6 ? AF_INET6 : -1;
	if (len == 0)
		return;
	if (family < 0 || !inet_ntop(family, addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}
