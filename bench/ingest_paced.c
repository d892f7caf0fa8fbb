/*
 * ingest_paced.c - benchmark client: POST signed webhook deliveries at a fixed rate (what
 * wrk 4 cannot do) and report the latency percentiles. Open loop: delivery i is due at
 * start + i / RATE whether or not earlier ones were answered, and its latency counts from
 * that due time (a server that stalls is charged for the queue it causes, no coordinated
 * omission). Each delivery gets a fresh X-GitHub-Delivery, so the server spools each one.
 *   BODY_FILE=f BODY_SIG=sha256=... ingest_paced HOST PORT RATE SECONDS [CONNECTIONS]
 * prints `RESULT rate=... sent=... ok=... p50_ms=... p99_ms=... max_ms=... late=...`
 * (late: deliveries that waited for a free connection). Exit 0 when every delivery got a
 * 2xx, 1 otherwise, 2 on usage errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define PACED_CONNS_MAX 256
#define PACED_IN_MAX 8192

struct paced_conn {
	int fd;
	int busy;
	char *out;          /* the request being written (malloc'd) */
	size_t out_len, out_off;
	char in[PACED_IN_MAX];
	size_t in_len;
	int64_t due_ns;     /* when the request on this connection was due */
};

/* Read a whole file into a malloc'd buffer; *len its size. NULL on failure. */
static char *
paced_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n)) != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	} else if (buf != NULL)
		*len = (size_t)n;
	fclose(f);
	return buf;
}

/* A connected non-blocking TCP socket to host:port, or -1. */
static int
paced_connect(const char *host, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* The request for delivery i (malloc'd; *len its size), or NULL. */
static char *
paced_request(const char *body, size_t blen, const char *sig, long i, size_t *len)
{
	size_t cap = blen + 1024;
	char *r = malloc(cap);
	int n;

	if (r == NULL)
		return NULL;
	n = snprintf(r, cap, "POST /api/github/webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Content-Type: application/json\r\nUser-Agent: GitHub-Hookshot/044aadd\r\n"
	    "X-GitHub-Event: issues\r\nX-GitHub-Delivery: paced-%ld-%ld\r\n"
	    "X-GitHub-Hook-ID: 292430182\r\nX-Hub-Signature-256: %s\r\n"
	    "Content-Length: %zu\r\n\r\n", (long)getpid(), i, sig, blen);
	if (n < 0 || (size_t)n + blen > cap) {
		free(r);
		return NULL;
	}
	memcpy(r + n, body, blen);
	*len = (size_t)n + blen;
	return r;
}

/* Is the response in c->in complete? 1 yes (*status set), 0 not yet, -1 malformed. */
static int
paced_response_done(struct paced_conn *c, int *status)
{
	char *end, *p;
	size_t hlen, clen = 0;

	c->in[c->in_len < PACED_IN_MAX ? c->in_len : PACED_IN_MAX - 1] = '\0';
	if ((end = strstr(c->in, "\r\n\r\n")) == NULL)
		return c->in_len >= PACED_IN_MAX - 1 ? -1 : 0;
	hlen = (size_t)(end - c->in) + 4;
	if (sscanf(c->in, "HTTP/1.%*d %d", status) != 1)
		return -1;
	for (p = c->in; p < end && (p = strstr(p, "\r\n")) != NULL && p < end; p += 2)
		if (strncasecmp(p + 2, "Content-Length:", 15) == 0)
			clen = strtoul(p + 17, NULL, 10);
	return c->in_len >= hlen + clen ? 1 : 0;
}

int
main(int argc, char **argv)
{
	const char *bf = getenv("BODY_FILE"), *sig = getenv("BODY_SIG");
	struct paced_conn *cs;
	struct pollfd pf[PACED_CONNS_MAX];
	int64_t *lat, start, end_ns, ival;
	long total, next = 0, done = 0, ok = 0, late = 0;
	double rate, secs;
	size_t blen = 0;
	char *body;
	int nc, port;

	if (argc < 5 || bf == NULL || sig == NULL) {
		fprintf(stderr, "usage: BODY_FILE=F BODY_SIG=S ingest_paced HOST PORT RATE SECONDS"
		    " [CONNECTIONS]\n");
		return 2;
	}
	port = atoi(argv[2]);
	rate = atof(argv[3]);
	secs = atof(argv[4]);
	nc = argc > 5 ? atoi(argv[5]) : 32;
	if (rate <= 0 || secs <= 0 || nc < 1 || nc > PACED_CONNS_MAX ||
	    (body = paced_slurp(bf, &blen)) == NULL) {
		fprintf(stderr, "ingest_paced: bad arguments or unreadable BODY_FILE\n");
		return 2;
	}
	total = (long)(rate * secs);
	ival = (int64_t)(1e9 / rate);
	if ((cs = calloc((size_t)nc, sizeof(*cs))) == NULL ||
	    (lat = calloc((size_t)total, sizeof(*lat))) == NULL)
		return 2;
	for (int i = 0; i < nc; i++)
		if ((cs[i].fd = paced_connect(argv[1], port)) < 0) {
			fprintf(stderr, "ingest_paced: cannot connect: %s\n", strerror(errno));
			return 1;
		}
	start = bench_now_ns();
	end_ns = start + (int64_t)(secs * 1e9) + 5000000000LL; /* 5 s to drain */
	while (done < total && bench_now_ns() < end_ns) {
		int64_t now = bench_now_ns(), wait_ns;
		/* start every delivery that is due, on an idle connection */
		while (next < total && start + next * ival <= now) {
			int i;
			for (i = 0; i < nc && cs[i].busy; i++)
				;
			if (i == nc)
				break;
			if ((cs[i].out = paced_request(body, blen, sig, next, &cs[i].out_len)) == NULL)
				return 1;
			cs[i].busy = 1;
			cs[i].out_off = cs[i].in_len = 0;
			cs[i].due_ns = start + next * ival;
			if (now - cs[i].due_ns > 1000000)
				late++;
			next++;
		}
		for (int i = 0; i < nc; i++) {
			pf[i].fd = cs[i].fd;
			pf[i].events = !cs[i].busy ? 0 : cs[i].out_off < cs[i].out_len ? POLLOUT : POLLIN;
			pf[i].revents = 0;
		}
		/* sleep until the next delivery is due; when it is due already, every connection
		 * is busy: wait for one of them (no spinning: the server shares the CPUs) */
		wait_ns = next < total ? start + next * ival - bench_now_ns() : 100000000;
		if (wait_ns <= 0)
			wait_ns = 100000000;
		struct timespec ts = { wait_ns / 1000000000, wait_ns % 1000000000 };
		if (ppoll(pf, (nfds_t)nc, &ts, NULL) < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < nc; i++) {
			struct paced_conn *c = &cs[i];
			ssize_t n;
			int status = 0, r;
			if (!c->busy || pf[i].revents == 0)
				continue;
			if (c->out_off < c->out_len) {
				n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
				if (n > 0)
					c->out_off += (size_t)n;
				else if (n < 0 && errno != EAGAIN)
					return 1;
				continue;
			}
			n = read(c->fd, c->in + c->in_len, PACED_IN_MAX - 1 - c->in_len);
			if (n <= 0) {
				if (n < 0 && errno == EAGAIN)
					continue;
				fprintf(stderr, "ingest_paced: connection closed by the server\n");
				return 1;
			}
			c->in_len += (size_t)n;
			if ((r = paced_response_done(c, &status)) == 0)
				continue;
			if (r < 0) {
				fprintf(stderr, "ingest_paced: malformed response\n");
				return 1;
			}
			lat[done++] = bench_now_ns() - c->due_ns;
			ok += status >= 200 && status < 300;
			free(c->out);
			c->out = NULL;
			c->busy = 0;
		}
	}
	int64_t took = bench_now_ns() - start;
	qsort(lat, (size_t)done, sizeof(lat[0]), bench_cmp_i64);
	printf("RESULT rate=%.0f sent=%ld ok=%ld p50_ms=%.2f p99_ms=%.2f max_ms=%.2f late=%ld\n",
	    (double)done / ((double)took / 1e9), next, ok,
	    done > 0 ? (double)lat[done / 2] / 1e6 : 0.0,
	    done > 0 ? (double)lat[(size_t)((double)done * 0.99)] / 1e6 : 0.0,
	    done > 0 ? (double)lat[done - 1] / 1e6 : 0.0, late);
	for (int i = 0; i < nc; i++) {
		free(cs[i].out);
		close(cs[i].fd);
	}
	free(cs);
	free(lat);
	free(body);
	return ok == total ? 0 : 1;
}
