// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-blk: serve a board's virtio-blk device from a file, a block
 * device or an NBD export, through the device's VFIO face (a mediated
 * device).
 *
 *   iobond-blk --mdev UUID (--file PATH | --nbd URI [--reconnect-ms MS]
 *              [--hung-ms MS]) [--readonly] [--iops N] [--bps N] [--serial ID]
 *              [--ready-fd FD]
 *   iobond-blk --nbd URI --probe
 *
 * "iobondctl BOARD add-blk" provisions the disk, creates its mdev and
 * starts this as a daemon; see Documentation/iobond/blk.rst.  It runs
 * until SIGTERM or SIGINT (it lets in-flight requests finish first), or
 * until the device is removed.  If it dies instead, the host kernel fails
 * what it left after IOBOND_BLK_GRACE_MS, unless a new one takes over
 * first and runs those requests again.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <endian.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>

#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_config.h>

#include "blk.h"

static sigjmp_buf fault_env;

void blk_log(const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "iobond-blk[%ld.%03ld]: ", (long)ts.tv_sec,
		ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A submission entry, making room if the ring is full. */
struct io_uring_sqe *blk_sqe(struct blk *b)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&b->ring))) {
		int ret = io_uring_submit(&b->ring);

		/* Going on would spin: the kernel fails the disk's requests. */
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN) {
			blk_log("io_uring submit: %s", strerror(-ret));
			exit(1);
		}
	}
	return sqe;
}

/*
 * The host revokes the disk's zone of the window in every mapping when the
 * board resets the device: an access that races with it faults.  Drop the
 * queues and start over from the state region, as the state interrupt
 * would have had us do.
 */
static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(fault_env, 1);
}

static void arm_read(struct blk *b, int fd, uint64_t *buf, uint64_t tag)
{
	struct io_uring_sqe *sqe = blk_sqe(b);

	io_uring_prep_read(sqe, fd, buf, sizeof(*buf), 0);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)tag);
}

/* Start or stop the queues as the state region says. */
static void on_state(struct blk *b)
{
	static bool told;
	bool want;
	int ret;

	ret = iob_vfio_state(&b->vfio, &b->st);
	if (ret || !b->st.type) {
		blk_log("the device is gone (%s): stopping",
			ret ? strerror(-ret) : "removed");
		blk_queues_stop(b);
		b->stopping = true;
		return;
	}
	want = (b->st.flags & IOBOND_VFIO_RUNNING) &&
	       (b->st.status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(b->st.flags & IOBOND_VFIO_NEEDS_RESET);
	if (b->nvq && (!want || b->st.resets != b->resets)) {
		blk_log("the board reset or stopped the device: queues dropped");
		blk_queues_stop(b);
	}
	if (b->st.flags & IOBOND_VFIO_NEEDS_RESET) {
		if (!told)
			blk_log("the host failed requests while nothing served them; waiting for the board to reset the device");
		told = true;
		return;
	}
	told = false;
	if (want && !b->nvq && !b->stopping) {
		ret = blk_queues_start(b);
		if (ret) {
			blk_log("cannot serve the queues: %s", strerror(-ret));
			blk_queues_stop(b);
		}
	}
}

/*
 * While requests wait on the file or the throttle, tell the kernel every
 * half second that we live: it cuts off a backend that shows no sign of
 * it for IOBOND_BLK_GRACE_MS while the board waits (a stopped one).
 */
static void arm_alive(struct blk *b)
{
	struct io_uring_sqe *sqe;

	if (b->alive_armed || !b->io_inflight)
		return;
	b->alive_ts = (struct __kernel_timespec){ .tv_nsec = 500000000 };
	sqe = blk_sqe(b);
	io_uring_prep_timeout(sqe, &b->alive_ts, 0, 0);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_ALIVE);
	b->alive_armed = true;
}

static void on_alive(struct blk *b)
{
	unsigned int q;

	b->alive_armed = false;
	for (q = 0; q < b->nvq; q++)
		if (b->vq[q].live)
			__atomic_fetch_add(&b->vq[q].rec->alive, 1,
					   __ATOMIC_RELAXED);
}

static void on_event(struct blk *b, uint64_t tag, int res)
{
	struct signalfd_siginfo si;

	switch (tag) {
	case TAG_STATE:
		/* Armed first: a fault in on_state() must not lose it. */
		arm_read(b, b->state_fd, &b->state_buf, TAG_STATE);
		on_state(b);
		break;
	case TAG_SIGNAL:
		blk_log("stopping: finishing %u request(s) in flight",
			b->io_inflight);
		b->stopping = true;
		if (read(b->sig_fd, &si, sizeof(si)) < 0)
			(void)0;
		break;
	case TAG_TIMER:
		blk_throttle_timer(b);
		break;
	case TAG_ALIVE:
		on_alive(b);
		break;
	case TAG_NBD_IN:
	case TAG_NBD_OUT:
	case TAG_NBD_TICK:
		blk_nbd_event(b, tag, res);
		break;
	case TAG_NBD_CANCEL:
		break;
	default:
		tag -= TAG_KICK;
		if (res < 0 && res != -EAGAIN)
			blk_log("queue %u: kick: %s", (unsigned int)tag,
				strerror(-res));
		b->vq[tag].kick_armed = false;
		if (tag < b->nvq)
			blk_queue_kick(b, tag);
	}
}

/* Arm a read on each kick eventfd of the live queues that has none. */
static void arm_kicks(struct blk *b)
{
	unsigned int q;

	for (q = 0; q < b->nvq; q++) {
		struct blk_vq *vq = &b->vq[q];

		if (vq->live && !vq->kick_armed) {
			arm_read(b, vq->kick_fd, &vq->kick_buf, TAG_KICK + q);
			vq->kick_armed = true;
		}
	}
}

static void run(struct blk *b)
{
	struct io_uring_cqe *cqe;
	uint64_t tag;
	int res;

	if (sigsetjmp(fault_env, 1)) {
		blk_log("the window was revoked under a request: queues dropped");
		blk_queues_stop(b);
		on_state(b);
	}
	for (;;) {
		if (b->nbd)
			blk_nbd_pump(b);
		blk_queues_publish(b);
		if (b->stopping && !b->io_inflight)
			return;
		/* The inflight records keep them for the next backend. */
		if (b->stopping && blk_nbd_stranded(b)) {
			blk_log("the NBD server is away: leaving %u request(s) to the next backend",
				b->io_inflight);
			return;
		}
		arm_kicks(b);
		arm_alive(b);
		res = io_uring_submit_and_wait(&b->ring, 1);
		if (res < 0 && res != -EINTR && res != -EAGAIN) {
			blk_log("io_uring: %s", strerror(-res));
			exit(1);
		}
		while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
			tag = cqe->user_data;
			res = cqe->res;
			/* Seen first: a fault below must not replay it. */
			io_uring_cqe_seen(&b->ring, cqe);
			if (tag < TAG_END)
				on_event(b, tag, res);
			else
				blk_req_done(b, (struct blk_req *)tag, res);
		}
	}
}

/* The file must hold the capacity the board was given. */
static bool file_holds_disk(struct blk *b)
{
	uint64_t size = 0;
	struct stat st;

	if (fstat(b->fd, &st)) {
		blk_log("%s: %m", b->file);
		return false;
	}
	if (!S_ISBLK(st.st_mode))
		size = st.st_size;
	else if (ioctl(b->fd, BLKGETSIZE64, &size))
		size = 0;
	if (b->capacity * 512 <= size)
		return true;
	blk_log("%s holds %" PRIu64 " bytes, less than the %" PRIu64 " sectors the board was given",
		b->file, size, b->capacity);
	return false;
}

/*
 * The default serial: a file's name, or the last part of a URI's path
 * ("nbd://host/disk0" and "nbd+unix:///disk0?socket=/run/s" are "disk0");
 * "nbd" for an export with no name.
 */
static void default_serial(struct blk *b, const char *src)
{
	const char *scheme = strstr(src, "://"), *path = src, *last;
	size_t len;

	if (scheme)
		path = strchr(scheme + 3, '/') ?: "";
	len = strcspn(path, "?#");
	for (last = path + len; last > path && last[-1] != '/'; last--)
		;
	len -= last - path;
	if (!len && scheme) {
		last = "nbd";
		len = 3;
	}
	memset(b->serial, 0, sizeof(b->serial));
	memcpy(b->serial, last, len < sizeof(b->serial) ? len : sizeof(b->serial));
}

/* --help: to stdout, exit 0; bad usage: to stderr, exit 2 (iobond-blk(8)). */
static void usage(bool help)
{
	fprintf(help ? stdout : stderr,
		"usage: iobond-blk --mdev UUID (--file PATH | --nbd URI [--reconnect-ms MS] [--hung-ms MS])\n"
		"                  [--readonly] [--iops N] [--bps N] [--budget PATH] [--serial ID]\n"
		"                  [--ready-fd FD]\n"
		"       iobond-blk --nbd URI --probe\n"
		"Serve a virtio-blk device of IO-Bond (its mdev UUID) from PATH or an NBD export.\n");
	exit(help ? 0 : 2);
}

static uint64_t number(const char *opt, const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-') {
		fprintf(stderr, "iobond-blk: %s %s: expected a number\n", opt, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mdev", required_argument, NULL, 'm' },
		{ "file", required_argument, NULL, 'f' },
		{ "readonly", no_argument, NULL, 'r' },
		{ "iops", required_argument, NULL, 'i' },
		{ "bps", required_argument, NULL, 'b' },
		{ "budget", required_argument, NULL, 'B' },
		{ "serial", required_argument, NULL, 's' },
		{ "ready-fd", required_argument, NULL, 'R' },
		{ "nbd", required_argument, NULL, 'n' },
		{ "reconnect-ms", required_argument, NULL, 'c' },
		{ "hung-ms", required_argument, NULL, 'H' },
		{ "probe", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	static struct blk blk = { .zero_mode = FALLOC_FL_ZERO_RANGE, .fd = -1 };
	struct blk *b = &blk;
	const char *uuid = NULL, *serial = NULL, *uri = NULL, *budget = NULL, *why;
	uint64_t iops = 0, bps = 0, grace_ms = IOBOND_BLK_GRACE_MS;
	uint64_t hung_ms = NBD_HUNG_MS;
	bool nbd_opts = false;
	int opt, ready = -1, ret;
	bool only_probe = false;
	struct sigaction sa = { .sa_handler = on_sigbus };
	sigset_t mask;
	struct io_uring_sqe *sqe;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm': uuid = optarg; break;
		case 'f': b->file = optarg; break;
		case 'n': uri = optarg; break;
		case 'c':
			grace_ms = number("--reconnect-ms", optarg);
			nbd_opts = true;
			break;
		case 'H':
			hung_ms = number("--hung-ms", optarg);
			nbd_opts = true;
			break;
		case 'p': only_probe = true; break;
		case 'r': b->readonly = true; break;
		case 'i': iops = number("--iops", optarg); break;
		case 'b': bps = number("--bps", optarg); break;
		case 'B': budget = optarg; break;
		case 's': serial = optarg; break;
		case 'R': ready = number("--ready-fd", optarg); break;
		case 'h': usage(true); break;
		default: usage(false);
		}
	}
	if (optind != argc || !b->file == !uri)
		usage(false);
	if (only_probe) {
		if (!uri || uuid)
			usage(false);
		return blk_nbd_probe(uri);
	}
	/* A silence shorter than a few ticks would cut healthy connections. */
	if (!uuid || (nbd_opts && !uri) || grace_ms > UINT64_MAX / 1000000 ||
	    hung_ms > UINT64_MAX / 1000000 || (hung_ms && hung_ms < 1000))
		usage(false);
	if (serial)
		strncpy(b->serial, serial, sizeof(b->serial));
	else
		default_serial(b, b->file ?: uri);

	if (b->file) {
		b->fd = open(b->file, (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (b->fd < 0) {
			blk_log("%s: %m", b->file);
			return 1;
		}
	}
	ret = iob_vfio_open(&b->vfio, uuid, &why);
	if (ret) {
		blk_log("mdev %s: %s: %s%s", uuid, why, strerror(-ret),
			ret == -EBUSY ? " (another backend or the vhost face has it)" : "");
		return 1;
	}
	ret = iob_vfio_state(&b->vfio, &b->st);
	if (ret || b->st.type != IOBOND_DEV_BLK) {
		blk_log("mdev %s is no disk", uuid);
		return 1;
	}
	b->recs = mmap(NULL, b->vfio.size[IOBOND_VFIO_INFLIGHT_REGION],
		       PROT_READ | PROT_WRITE, MAP_SHARED, b->vfio.device,
		       b->vfio.off[IOBOND_VFIO_INFLIGHT_REGION]);
	if (b->recs == MAP_FAILED) {
		blk_log("inflight records: %m");
		return 1;
	}
	blk_parse_config(b);
	if (uri ? blk_nbd_open(b, uri, grace_ms, hung_ms) : !file_holds_disk(b))
		return 1;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	b->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	sigaction(SIGBUS, &sa, NULL);
	/* A socket whose NBD server went is an error to see, not a death. */
	signal(SIGPIPE, SIG_IGN);
	b->state_fd = eventfd(0, EFD_CLOEXEC);
	ret = io_uring_queue_init(256, &b->ring, 0);
	if (b->sig_fd < 0 || b->state_fd < 0 || ret) {
		blk_log("set-up: %s", strerror(ret ? -ret : errno));
		return 1;
	}
	ret = iob_vfio_set_irqs(b->vfio.device, IOBOND_VFIO_STATE_IRQ, 0, 1,
				&b->state_fd);
	if (ret) {
		blk_log("state interrupt: %s", strerror(-ret));
		return 1;
	}
	blk_throttle_init(&b->th, iops, bps);
	ret = budget ? blk_budget_open(b, budget) : 0;
	if (ret) {
		blk_log("--budget %s: %s", budget, strerror(-ret));
		return 1;
	}
	arm_read(b, b->state_fd, &b->state_buf, TAG_STATE);
	sqe = blk_sqe(b);
	io_uring_prep_poll_add(sqe, b->sig_fd, POLLIN);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_SIGNAL);

	blk_log("mdev %s: %s%s, serial \"%.20s\", limits %" PRIu64 " IOPS %" PRIu64 " B/s (0: none)%s%s",
		uuid, b->file ?: uri, b->readonly ? " (read-only)" : "", b->serial,
		iops, bps, budget ? ", the board's budget in " : "", budget ?: "");
	on_state(b);
	if (ready >= 0) {
		if (write(ready, "ready\n", 6) < 0)
			(void)0;
		close(ready);
	}
	run(b);
	blk_log("stopped: %" PRIu64 " requests served, %" PRIu64 " refused or failed",
		b->done, b->errors);
	iob_vfio_close(&b->vfio);
	return 0;
}
