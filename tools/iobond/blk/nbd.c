// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-blk: a disk served from an NBD export, through libnbd.
 *
 * libnbd's asynchronous calls run on the backend's io_uring loop: a poll
 * on the connection's socket in each direction libnbd asks for, and
 * nbd_aio_notify_*() when it fires.  A request becomes one NBD command
 * per data segment (libnbd reads and writes the board's buffers in the
 * window directly), or one flush, trim or zero; it completes when all of
 * its commands have.
 *
 * The export is a cloud disk: its server may restart.  A lost connection
 * keeps every request that was on it, and those that come meanwhile, and
 * the backend connects again every RETRY_MS.  Once it is back, they are
 * sent again (reads, writes, trims and zeroes are all idempotent); after
 * the reconnect grace (--reconnect-ms) without it, they fail with IOERR,
 * as do new ones until the server is back.  Meanwhile the backend still
 * tells the kernel that it lives, so the kernel's own grace does not cut
 * it off.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libnbd.h>
#include <linux/falloc.h>

#include "blk.h"

#define SECTOR		512ULL
#define RETRY_MS	200

/**
 * struct blk_nbd - the export and the one connection to it
 * @uri: where the export is
 * @h: the connection; NULL while there is none
 * @connected: @h finished its handshake (and was checked)
 * @flush, @fua, @trim, @zero: what this server does
 * @in_armed, @out_armed: a poll on @h's socket is at io_uring
 * @waiting: requests to send once connected, oldest first
 * @wait_tail: where the next one goes
 * @finished: requests whose commands all completed, for blk_nbd_pump()
 * @lost_ns: when the connection was lost; 0 while there is one
 * @grace_ns: how long requests wait for a lost connection
 * @retry_armed: the reconnect timer is at io_uring
 * @retry_ts: its time
 * @expired: the grace ran out: requests fail until the server is back
 * @attempts: connections tried since the last one was lost
 *
 * Single-threaded, like the rest of the backend: libnbd calls the
 * commands' callbacks from inside the calls made here, which only move
 * the request to @finished.
 */
struct blk_nbd {
	const char *uri;
	struct nbd_handle *h;
	bool connected;
	bool flush, fua, trim, zero;
	bool in_armed, out_armed;
	struct blk_req *waiting, **wait_tail;
	struct blk_req *finished;
	uint64_t lost_ns, grace_ns;
	bool retry_armed;
	struct __kernel_timespec retry_ts;
	bool expired;
	unsigned int attempts;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static bool has(struct blk *b, unsigned int feature)
{
	return b->features & (1ULL << feature);
}

/*
 * Learn what the server of a finished handshake does.  Return: NULL, or
 * why this export cannot be the disk (into @why's @len bytes).
 */
static const char *check_export(struct blk *b, struct blk_nbd *n,
				 char *why, size_t len)
{
	int64_t size = nbd_get_size(n->h), min;

	if (size < 0 || (uint64_t)size < b->capacity * SECTOR) {
		snprintf(why, len, "the export holds %" PRId64 " bytes, less than the %" PRIu64 " sectors the board was given",
			 size, b->capacity);
		return why;
	}
	min = nbd_get_block_size(n->h, LIBNBD_SIZE_MINIMUM);
	if (min > (int64_t)b->blk_size) {
		snprintf(why, len, "the export's blocks are %" PRId64 " bytes, larger than the disk's %u",
			 min, b->blk_size);
		return why;
	}
	if (nbd_is_read_only(n->h) > 0 && !b->readonly)
		return "the export is read-only: serve it --readonly";
	n->flush = nbd_can_flush(n->h) > 0;
	n->fua = nbd_can_fua(n->h) > 0;
	n->trim = nbd_can_trim(n->h) > 0;
	n->zero = nbd_can_zero(n->h) > 0;
	return NULL;
}

/*
 * --probe: what "iobondctl add-blk --nbd" sizes the disk by, one line of
 * "key=value" words (iobond-blk(8)).
 */
static int probe(struct nbd_handle *h)
{
	int64_t min = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);

	printf("size=%" PRId64 " block=%" PRId64 " readonly=%d flush=%d fua=%d trim=%d zero=%d\n",
	       nbd_get_size(h), min > 0 ? min : 1, nbd_is_read_only(h) > 0,
	       nbd_can_flush(h) > 0, nbd_can_fua(h) > 0, nbd_can_trim(h) > 0,
	       nbd_can_zero(h) > 0);
	return 0;
}

/*
 * A handle whose libnbd never touches the board's buffers itself, only
 * the kernel does, in send() and recv(): the window's pages can be
 * revoked under a request (a reset), and a fault in libnbd's own code
 * would be a SIGBUS in the middle of its state machine.  A fault in a
 * system call is an EFAULT instead, which only ends the connection.  So
 * no TLS (gnutls reads and writes the data in user space), simple replies
 * only (a structured reply's hole is a memset() into the buffer), and no
 * zeroing of a read's buffer before it is sent.
 */
static struct nbd_handle *new_handle(void)
{
	struct nbd_handle *h = nbd_create();

	if (h && (nbd_set_uri_allow_tls(h, LIBNBD_TLS_DISABLE) ||
		  nbd_set_request_structured_replies(h, false) ||
		  nbd_set_pread_initialize(h, false))) {
		nbd_close(h);
		return NULL;
	}
	return h;
}

/**
 * blk_nbd_open() - connect to the export, once, before serving
 * @b: the backend, with its config read
 * @uri: the export's NBD URI (nbd://, nbd+unix://)
 * @grace_ms: how long requests wait for a lost connection
 * @only_probe: print what the export is and do no more
 *
 * Return: 0, or 1 after saying why not.
 */
int blk_nbd_open(struct blk *b, const char *uri, uint64_t grace_ms,
		 bool only_probe)
{
	struct blk_nbd *n = calloc(1, sizeof(*n));
	char why[160];

	if (!n)
		return 1;
	n->uri = uri;
	n->grace_ns = grace_ms * 1000000;
	n->wait_tail = &n->waiting;
	n->h = new_handle();
	if (!n->h || nbd_connect_uri(n->h, uri)) {
		blk_log("%s: %s", uri, nbd_get_error() ?: "cannot connect");
		return 1;
	}
	if (only_probe)
		return probe(n->h);
	b->nbd = n;
	if (check_export(b, n, why, sizeof(why))) {
		blk_log("%s: %s", uri, why);
		return 1;
	}
	n->connected = true;
	return 0;
}

static void arm_poll(struct blk *b, int fd, short mask, uint64_t tag)
{
	struct io_uring_sqe *sqe = blk_sqe(b);

	io_uring_prep_poll_add(sqe, fd, mask);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)tag);
}

/* A command of @r completed: its callback, from inside libnbd. */
static int part_done(void *opaque, int *error)
{
	struct blk_req *r = opaque;
	struct blk_nbd *n = r->b->nbd;

	if (*error && !r->nbd_err)
		r->nbd_err = *error;
	if (!--r->parts) {
		r->next = n->finished;
		n->finished = r;
	}
	return 1;		/* retired: nothing else asks for it */
}

/* Send @r's commands on the live connection. */
static void send_req(struct blk *b, struct blk_nbd *n, struct blk_req *r)
{
	nbd_completion_callback cb = { .callback = part_done, .user_data = r };
	uint64_t off = r->sector * SECTOR;
	bool unmap = r->falloc_mode & FALLOC_FL_PUNCH_HOLE;
	uint32_t fua = !has(b, VIRTIO_BLK_F_FLUSH) && n->fua ?
		       LIBNBD_CMD_FLAG_FUA : 0;
	unsigned int i;
	int64_t ret = 0;

	r->nbd_err = 0;
	r->parts = 1;		/* held until all are sent */
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		for (i = 0; i < r->niov && ret >= 0; i++) {
			r->parts++;
			ret = r->type == VIRTIO_BLK_T_IN ?
			      nbd_aio_pread(n->h, r->iov[i].iov_base,
					    r->iov[i].iov_len, off, cb, 0) :
			      nbd_aio_pwrite(n->h, r->iov[i].iov_base,
					     r->iov[i].iov_len, off, cb, fua);
			off += r->iov[i].iov_len;
		}
		break;
	case VIRTIO_BLK_T_FLUSH:
		/* A server that flushes nothing keeps nothing to flush. */
		if (n->flush) {
			r->parts++;
			ret = nbd_aio_flush(n->h, cb, 0);
		}
		break;
	case VIRTIO_BLK_T_DISCARD:
		/* A hint: a server that cannot trim may ignore it. */
		if (n->trim) {
			r->parts++;
			ret = nbd_aio_trim(n->h, r->expect, off, cb, 0);
		}
		break;
	default:
		/* add-blk offers write zeroes only where the server has it. */
		if (!n->zero) {
			blk_log("%s: the server no longer writes zeroes", n->uri);
			r->nbd_err = EIO;
			break;
		}
		r->parts++;
		ret = nbd_aio_zero(n->h, r->expect, off, cb,
				   unmap ? 0 : LIBNBD_CMD_FLAG_NO_HOLE);
		break;
	}
	/* Not sent: no callback comes for that command. */
	if (ret < 0) {
		r->parts--;
		r->nbd_err = nbd_get_errno() ?: EIO;
		if (b->errors < 20)
			blk_log("%s: type %u at sector %" PRIu64 ": %s", n->uri,
				r->type, r->sector, nbd_get_error() ?: strerror(r->nbd_err));
	}
	part_done(r, &(int){ 0 });
}

static void wait_for_server(struct blk_nbd *n, struct blk_req *r)
{
	r->next = NULL;
	*n->wait_tail = r;
	n->wait_tail = &r->next;
}

/**
 * blk_nbd_submit() - send a checked request to the export
 * @b: the backend
 * @r: the request
 */
void blk_nbd_submit(struct blk *b, struct blk_req *r)
{
	struct blk_nbd *n = b->nbd;

	r->b = b;
	if (n->connected)
		send_req(b, n, r);
	else if (n->expired)
		blk_req_done(b, r, -ENOTCONN);
	else
		wait_for_server(n, r);
}

/*
 * The connection is gone, for @why (NULL: libnbd's last error): keep its
 * requests, and start connecting again.
 */
static void lose(struct blk *b, struct blk_nbd *n, const char *why)
{
	struct io_uring_sqe *sqe;

	/* Said once per outage, not at every attempt. */
	if (n->connected || !n->attempts++)
		blk_log("%s: %s: %s", n->uri, n->connected ? "connection lost" :
			"cannot connect", why ?: nbd_get_error() ?: "closed by the server");
	/* The polls' completions are ignored from here (blk_nbd_event()). */
	if (n->in_armed || n->out_armed) {
		sqe = blk_sqe(b);
		io_uring_prep_cancel64(sqe, TAG_NBD_IN, 0);
		io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_NBD_CANCEL);
		sqe = blk_sqe(b);
		io_uring_prep_cancel64(sqe, TAG_NBD_OUT, 0);
		io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_NBD_CANCEL);
	}
	n->in_armed = n->out_armed = false;
	nbd_close(n->h);
	n->h = NULL;
	if (!n->lost_ns)
		n->lost_ns = now_ns();
	if (n->connected)
		n->attempts = 0;
	n->connected = false;
}

/* Start a connection, without waiting for it: blk_nbd_pump() does. */
static void reconnect(struct blk_nbd *n)
{
	n->h = new_handle();
	if (n->h && !nbd_aio_connect_uri(n->h, n->uri))
		return;
	if (n->h)
		nbd_close(n->h);
	n->h = NULL;
}

/* Fail what waited for a server that did not come back in time. */
static void expire(struct blk *b, struct blk_nbd *n)
{
	struct blk_req *r;
	unsigned int k = 0;

	n->expired = true;
	while ((r = n->waiting)) {
		n->waiting = r->next;
		blk_req_done(b, r, -ENOTCONN);
		k++;
	}
	n->wait_tail = &n->waiting;
	blk_log("%s: no server for %" PRIu64 " ms: %u request(s) failed, and new ones fail until it is back",
		n->uri, n->grace_ns / 1000000, k);
}

/* Back: send again what waited, in order; drop what a reset left. */
static void resend(struct blk *b, struct blk_nbd *n)
{
	struct blk_req *r, *list = n->waiting;
	unsigned int k = 0;

	blk_log("%s: connected again after %" PRIu64 " ms; sending %s",
		n->uri, (now_ns() - n->lost_ns) / 1000000,
		list ? "again the requests that waited" : "nothing: none waited");
	n->lost_ns = 0;
	n->expired = false;
	n->waiting = NULL;
	n->wait_tail = &n->waiting;
	while ((r = list)) {
		list = r->next;
		/* Its ring is gone (a reset): its write must not land. */
		if (r->gen != b->gen) {
			blk_req_done(b, r, -ECANCELED);
			continue;
		}
		send_req(b, n, r);
		k++;
	}
	if (k)
		blk_log("%s: %u request(s) sent again", n->uri, k);
}

/*
 * Complete the requests whose commands all completed.  Those that failed
 * because the connection died wait for the next one.
 */
static void finish(struct blk *b, struct blk_nbd *n, bool lost)
{
	struct blk_req *r, *list = n->finished;

	n->finished = NULL;
	while ((r = list)) {
		list = r->next;
		if (r->nbd_err && lost && !n->expired)
			wait_for_server(n, r);
		else if (r->nbd_err)
			/* EOPNOTSUPP would make req.c try another fallocate. */
			blk_req_done(b, r, r->nbd_err == EOPNOTSUPP ? -EIO :
				     -r->nbd_err);
		else
			blk_req_done(b, r, r->type == VIRTIO_BLK_T_IN ||
				     r->type == VIRTIO_BLK_T_OUT ?
				     (int)(r->expect - r->done) : 0);
	}
}

/**
 * blk_nbd_pump() - settle the connection before the loop waits
 * @b: the backend
 *
 * Completes what finished, notices a lost connection or a new one, and
 * arms the polls libnbd needs and the reconnect timer.
 */
void blk_nbd_pump(struct blk *b)
{
	struct blk_nbd *n = b->nbd;
	bool dead = n->h && (nbd_aio_is_dead(n->h) || nbd_aio_is_closed(n->h));
	unsigned int dir;
	int fd;

	/* nbd_close() may be where the dead connection's commands end. */
	if (dead)
		lose(b, n, NULL);
	finish(b, n, !n->connected);
	if (n->h && !n->connected && nbd_aio_is_ready(n->h)) {
		char why[160];

		/* Another disk now: nothing goes to it, and the grace runs. */
		if (check_export(b, n, why, sizeof(why))) {
			lose(b, n, why);
		} else {
			n->connected = true;
			resend(b, n);
		}
	}
	if (n->lost_ns && !n->expired && now_ns() - n->lost_ns >= n->grace_ns)
		expire(b, n);
	if (!n->h) {
		if (!n->retry_armed) {
			struct io_uring_sqe *sqe = blk_sqe(b);

			n->retry_ts = (struct __kernel_timespec){
				.tv_nsec = RETRY_MS * 1000000 };
			io_uring_prep_timeout(sqe, &n->retry_ts, 0, 0);
			io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_NBD_RETRY);
			n->retry_armed = true;
		}
		return;
	}
	dir = nbd_aio_get_direction(n->h);
	fd = nbd_aio_get_fd(n->h);
	if (fd < 0)
		return;
	if ((dir & LIBNBD_AIO_DIRECTION_READ) && !n->in_armed) {
		arm_poll(b, fd, POLLIN, TAG_NBD_IN);
		n->in_armed = true;
	}
	if ((dir & LIBNBD_AIO_DIRECTION_WRITE) && !n->out_armed) {
		arm_poll(b, fd, POLLOUT, TAG_NBD_OUT);
		n->out_armed = true;
	}
}

/**
 * blk_nbd_event() - a poll or the reconnect timer fired
 * @b: the backend
 * @tag: TAG_NBD_*
 * @res: its result
 */
void blk_nbd_event(struct blk *b, uint64_t tag, int res)
{
	struct blk_nbd *n = b->nbd;

	switch (tag) {
	case TAG_NBD_RETRY:
		n->retry_armed = false;
		if (!n->h)
			reconnect(n);
		return;
	case TAG_NBD_IN:
	case TAG_NBD_OUT:
		/* Of a connection closed since: lose() already forgot it. */
		if (res == -ECANCELED)
			return;
		if (tag == TAG_NBD_IN)
			n->in_armed = false;
		else
			n->out_armed = false;
		if (!n->h)
			return;
		if (tag == TAG_NBD_IN || (res > 0 && (res & (POLLERR | POLLHUP))))
			nbd_aio_notify_read(n->h);
		else
			nbd_aio_notify_write(n->h);
		return;
	}
}

/**
 * blk_nbd_stranded() - requests wait for a server that is not there
 * @b: the backend
 *
 * A backend told to stop leaves them: the inflight records keep them for
 * the next backend, or the kernel fails them after its grace.
 */
bool blk_nbd_stranded(struct blk *b)
{
	return b->nbd && !b->nbd->connected && b->nbd->waiting;
}
