// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-fabric: the emulated IO-Bond fabric.
 *
 * Each compute board's link is a pair of QEMU ivshmem-doorbell functions,
 * one in the host VM and one in the board VM, that share one memory
 * region and signal each other through eventfds.  This daemon hands out
 * both, speaking the ivshmem server protocol (QEMU's
 * docs/specs/ivshmem-spec.rst).  One process serves every board of a
 * mainboard: link N listens on DIR/boardN.sock and has its own region.
 *
 * Protocol, every message one little-endian int64, some with one fd:
 *   on connect: version 0; the client's id; -1 with the region fd; for
 *   each other peer, its id once per vector with that vector's eventfd;
 *   the client's own id once per vector with its eventfds.
 *   afterwards: to every other peer, the new id once per vector with an
 *   eventfd (joined), or the id alone (left).
 *
 * Clients never send anything, so a client that does is dropped as broken.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FABRIC_MAX_LINKS	64
#define FABRIC_MAX_VECTORS	64
#define FABRIC_MAX_PEERS	16
#define FABRIC_MAX_ID		0xffff
#define FABRIC_ACCEPT_PAUSE_MS	100

struct peer {
	int fd;			/* connection; -1 when the slot is free */
	unsigned int id;
	int efd[FABRIC_MAX_VECTORS];
};

struct link {
	unsigned int index;
	int listen_fd;
	uint64_t paused_until;	/* ms: no accept() before, out of resources;
				 * 0 once one works again */
	int shm_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned int next_id;
	struct peer peer[FABRIC_MAX_PEERS];
};

static struct {
	const char *dir;
	unsigned int nlinks;
	unsigned int nvec;
	unsigned int max_peers;
	uint64_t size;
	bool quiet;
	struct link link[FABRIC_MAX_LINKS];
} fab = {
	.dir = "/run/iobond",
	.nlinks = 1,
	.nvec = 8,
	.max_peers = 2,
	.size = 64 << 20,
};

static void say(const char *fmt, ...)
{
	va_list ap;

	if (fab.quiet)
		return;
	va_start(ap, fmt);
	fputs("iobond-fabric: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("iobond-fabric: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* Send one protocol message; the socket is non-blocking. */
static int send_msg(int sock, int64_t value, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	int64_t le = (int64_t)htole64((uint64_t)value);
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;
	ssize_t n;

	if (fd >= 0) {
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	return n == sizeof(le) ? 0 : -1;
}

/* Tell @to about @p: joined (with its eventfds) or left (id alone). */
static int announce(struct peer *to, struct peer *p, bool joined)
{
	unsigned int v;

	if (!joined)
		return send_msg(to->fd, p->id, -1);
	for (v = 0; v < fab.nvec; v++)
		if (send_msg(to->fd, p->id, p->efd[v]))
			return -1;
	return 0;
}

static void peer_free(struct peer *p)
{
	unsigned int v;

	for (v = 0; v < fab.nvec; v++)
		if (p->efd[v] >= 0)
			close(p->efd[v]);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

static void peer_drop(struct link *l, struct peer *p, const char *why)
{
	unsigned int i;

	say("board%u: peer %u left (%s)", l->index, p->id, why);
	peer_free(p);
	for (i = 0; i < fab.max_peers; i++) {
		struct peer *o = &l->peer[i];

		/* A peer that cannot take the news is dropped in turn. */
		if (o->fd >= 0 && announce(o, p, false))
			peer_drop(l, o, "cannot be told");
	}
}

/*
 * Ids are handed out in increasing order and not reused until they wrap
 * at 0xffff, as QEMU's own ivshmem-server does.  QEMU 7.2's ivshmem frees
 * a departed peer's eventfd array without forgetting it, so a new peer
 * under an old id corrupts that QEMU's heap.
 */
static struct peer *peer_alloc(struct link *l, unsigned int *id)
{
	struct peer *slot = NULL;
	unsigned int i, tries;

	for (i = 0; i < fab.max_peers && !slot; i++)
		if (l->peer[i].fd < 0)
			slot = &l->peer[i];
	if (!slot)
		return NULL;
	for (tries = 0; tries <= FABRIC_MAX_ID; tries++) {
		bool used = false;

		*id = l->next_id;
		l->next_id = (l->next_id + 1) & FABRIC_MAX_ID;
		for (i = 0; i < fab.max_peers; i++)
			used |= l->peer[i].fd >= 0 && l->peer[i].id == *id;
		if (!used)
			return slot;
	}
	return NULL;
}

/* A peer's socket that shows its close (or data) is dealt with now. */
static void peer_readable(struct link *l, struct peer *p);

static void reap_closed(struct link *l)
{
	unsigned int i;

	for (i = 0; i < fab.max_peers; i++) {
		struct peer *p = &l->peer[i];
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };

		if (p->fd >= 0 && poll(&pfd, 1, 0) == 1)
			peer_readable(l, p);
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static void peer_join(struct link *l)
{
	struct peer *p;
	unsigned int i, v, id;
	int fd;

	fd = accept4(l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return;
		/*
		 * Out of file descriptors or memory: the connection waits in
		 * the backlog, and the listening socket stays readable.  Look
		 * again in a while rather than spin on it.
		 */
		if (!l->paused_until)
			say("board%u: accept: %s; trying again every %u ms",
			    l->index, strerror(errno), FABRIC_ACCEPT_PAUSE_MS);
		l->paused_until = now_ms() + FABRIC_ACCEPT_PAUSE_MS;
		return;
	}
	l->paused_until = 0;
	p = peer_alloc(l, &id);
	if (!p) {
		/*
		 * A VM that restarted at once: its old connection's close
		 * may wait in the same poll round as its new one.
		 */
		reap_closed(l);
		p = peer_alloc(l, &id);
	}
	if (!p) {
		say("board%u: link full (%u peers), refusing a peer",
		    l->index, fab.max_peers);
		close(fd);
		return;
	}
	p->id = id;
	for (v = 0; v < FABRIC_MAX_VECTORS; v++)
		p->efd[v] = -1;
	for (v = 0; v < fab.nvec; v++) {
		p->efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (p->efd[v] < 0) {
			say("board%u: eventfd: %s", l->index, strerror(errno));
			p->fd = fd;
			peer_free(p);
			return;
		}
	}
	p->fd = fd;

	if (send_msg(fd, 0, -1) || send_msg(fd, id, -1) ||
	    send_msg(fd, -1, l->shm_fd))
		goto broken;
	for (i = 0; i < fab.max_peers; i++) {
		struct peer *o = &l->peer[i];

		if (o == p || o->fd < 0)
			continue;
		if (announce(o, p, true)) {
			peer_drop(l, o, "cannot be told");
			continue;
		}
		if (announce(p, o, true))
			goto broken;
	}
	if (announce(p, p, true))
		goto broken;
	say("board%u: peer %u joined", l->index, id);
	return;

broken:
	peer_drop(l, p, "broke during its handshake");
}

/* A client spoke: it closed, or sent something it never should. */
static void peer_readable(struct link *l, struct peer *p)
{
	char buf[64];
	ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	peer_drop(l, p, n == 0 ? "closed" : n < 0 ? strerror(errno) :
		  "sent data; clients must not");
}

/*
 * Listen on l->path.  The socket is bound under a temporary name and
 * renamed into place once it listens, so a client that sees the path can
 * connect to it.
 */
static int socket_listen(struct link *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char tmp[sizeof(sa.sun_path)];
	int fd, n;

	n = snprintf(tmp, sizeof(tmp), "%s.new", l->path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		die("%s: directory name too long for a socket", fab.dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	/* A socket file nobody answers on is left over from a crash. */
	memcpy(sa.sun_path, l->path, sizeof(sa.sun_path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		die("%s: another fabric is serving it", l->path);
	close(fd);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	memcpy(sa.sun_path, tmp, sizeof(sa.sun_path));
	unlink(tmp);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8) ||
	    rename(tmp, l->path))
		die("%s: %s", l->path, strerror(errno));
	return fd;
}

static void link_open(struct link *l, unsigned int index)
{
	char name[32];
	unsigned int i;
	int n;

	l->index = index;
	for (i = 0; i < FABRIC_MAX_PEERS; i++)
		l->peer[i].fd = -1;
	n = snprintf(l->path, sizeof(l->path), "%s/board%u.sock", fab.dir,
		     index);
	if (n < 0 || (size_t)n + 4 >= sizeof(l->path))
		die("%s: directory name too long for a socket", fab.dir);

	snprintf(name, sizeof(name), "iobond-board%u", index);
	l->shm_fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (l->shm_fd < 0 || ftruncate(l->shm_fd, (off_t)fab.size))
		die("board%u region: %s", index, strerror(errno));
	/* A peer may not resize the region under the others. */
	if (fcntl(l->shm_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_SEAL))
		die("board%u region seals: %s", index, strerror(errno));
	l->listen_fd = socket_listen(l);
}

static void link_close(struct link *l)
{
	unsigned int i;

	for (i = 0; i < fab.max_peers; i++)
		if (l->peer[i].fd >= 0)
			peer_free(&l->peer[i]);
	close(l->listen_fd);
	unlink(l->path);
	close(l->shm_fd);
}

#define FABRIC_MAX_POLL	(1 + FABRIC_MAX_LINKS * (1 + FABRIC_MAX_PEERS))

/* Poll every socket until SIGTERM or SIGINT arrives on @sigfd. */
static void serve(int sigfd)
{
	struct pollfd pfd[FABRIC_MAX_POLL];
	struct link *pl[FABRIC_MAX_POLL];
	struct peer *pp[FABRIC_MAX_POLL];
	unsigned int i, j, n;
	uint64_t now;
	int timeout;

	for (;;) {
		n = 0;
		now = now_ms();
		timeout = -1;
		pfd[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		for (i = 0; i < fab.nlinks; i++) {
			struct link *l = &fab.link[i];
			bool paused = l->paused_until > now;

			if (paused && (timeout < 0 ||
				       l->paused_until - now < (uint64_t)timeout))
				timeout = l->paused_until - now;
			pl[n] = l;
			pp[n] = NULL;
			/* A negative fd is left out of the poll. */
			pfd[n++] = (struct pollfd){ .fd = paused ? -1 : l->listen_fd,
						    .events = POLLIN };
			for (j = 0; j < fab.max_peers; j++) {
				if (l->peer[j].fd < 0)
					continue;
				pl[n] = l;
				pp[n] = &l->peer[j];
				pfd[n++] = (struct pollfd){ .fd = l->peer[j].fd,
							    .events = POLLIN };
			}
		}
		if (poll(pfd, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (pfd[0].revents)
			return;
		for (i = 1; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (!pp[i])
				peer_join(pl[i]);
			else if (pp[i]->fd == pfd[i].fd)
				peer_readable(pl[i], pp[i]);
		}
	}
}

static uint64_t parse_size(const char *arg)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || end == arg)
		return 0;
	if (*end && strchr("kKmMgG", *end)) {
		v <<= 10 * (1 + (strchr("kmg", tolower(*end)) - "kmg"));
		end++;
	}
	return *end ? 0 : v;
}

static unsigned int parse_uint(const char *arg, const char *what,
			       unsigned int lo, unsigned int hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 0);
	if (errno || end == arg || *end || v < lo || v > hi) {
		fprintf(stderr, "iobond-fabric: %s must be %u..%u, not '%s'\n",
			what, lo, hi, arg);
		exit(2);
	}
	return v;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: iobond-fabric [-d DIR] [-b BOARDS] [-m SIZE] [-v VECTORS] [-P PEERS] [-q]\n"
"Serve the emulated IO-Bond links of one mainboard, one link per board.\n"
"  -d DIR      socket directory; link N listens on DIR/boardN.sock (%s)\n"
"  -b BOARDS   number of links, 1..%d (%u)\n"
"  -m SIZE     region size per link, a power of two >= 1M, suffix K/M/G (64M)\n"
"  -v VECTORS  doorbell vectors per peer, 2..%d (%u); QEMU's ivshmem-doorbell\n"
"              must be given the same vectors=\n"
"  -P PEERS    peers per link, 2..%d (%u): a host end and a board end\n"
"  -q          log nothing\n"
"  -h, --help  this help\n"
"Runs in the foreground until SIGTERM or SIGINT, then removes its sockets.\n",
		fab.dir, FABRIC_MAX_LINKS, fab.nlinks, FABRIC_MAX_VECTORS,
		fab.nvec, FABRIC_MAX_PEERS, fab.max_peers);
}

int main(int argc, char **argv)
{
	sigset_t mask;
	unsigned int i;
	int opt, sigfd;

	/* As every other tool of ours says it (iobond-fabric(8)). */
	for (i = 1; i < (unsigned int)argc; i++)
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
	while ((opt = getopt(argc, argv, "d:b:m:v:P:qh")) != -1) {
		switch (opt) {
		case 'd':
			fab.dir = optarg;
			break;
		case 'b':
			fab.nlinks = parse_uint(optarg, "BOARDS", 1,
						FABRIC_MAX_LINKS);
			break;
		case 'm':
			fab.size = parse_size(optarg);
			/* 1M: every device's zone of the window gets 64K. */
			if (fab.size < (1 << 20) || fab.size > (1ULL << 40) ||
			    (fab.size & (fab.size - 1))) {
				fprintf(stderr, "iobond-fabric: SIZE must be a power of two, 1M to 1T, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			/* A control vector and at least one for data. */
			fab.nvec = parse_uint(optarg, "VECTORS", 2,
					      FABRIC_MAX_VECTORS);
			break;
		case 'P':
			fab.max_peers = parse_uint(optarg, "PEERS", 2,
						   FABRIC_MAX_PEERS);
			break;
		case 'q':
			fab.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (mkdir(fab.dir, 0700) && errno != EEXIST)
		die("%s: %s", fab.dir, strerror(errno));

	/* Signals arrive in the poll loop, never in the middle of a send. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sigfd < 0)
		die("signalfd: %s", strerror(errno));

	for (i = 0; i < fab.nlinks; i++)
		link_open(&fab.link[i], i);
	say("serving %u link(s) in %s: %llu byte regions, %u vectors",
	    fab.nlinks, fab.dir, (unsigned long long)fab.size, fab.nvec);

	serve(sigfd);

	for (i = 0; i < fab.nlinks; i++)
		link_close(&fab.link[i]);
	say("stopped");
	return 0;
}
