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
 * The export is a cloud disk: its server may restart, hang or go away.
 * A lost connection (closed, or a server shutting down, or, with
 * --hung-ms, silent that long while it owes replies) keeps every request
 * that was on it, and those that come meanwhile; the backend connects
 * again every TICK_MS and sends them again (reads, writes, trims and
 * zeroes are idempotent).  A request that waited for a server for the
 * reconnect grace (--reconnect-ms), counted from the first time it
 * waited, fails with IOERR, as do new ones while the server has been away
 * that long.  Meanwhile the backend still tells the
 * kernel that it lives, so the kernel's own grace does not cut it off.
 * The first connection, at start, is made the same way: a backend taking
 * over a disk must hold the device at once, whatever its server does.
 */
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libnbd.h>
#include <linux/falloc.h>

#include "blk.h"

#define SECTOR		512ULL
#define TICK_MS		200
#define IDLE_TICK_MS	1000	/* reconnecting once the grace ran out */
#define PROBE_S		10
#define HANDSHAKE_MS	10000	/* a connection that does not finish it goes */

/**
 * struct blk_nbd - the export and the one connection to it
 * @uri: where the export is
 * @h: the connection; NULL while there is none
 * @connected: @h finished its handshake and was checked
 * @ever: a connection was made once
 * @flush, @fua, @trim, @zero: what this server does
 * @in_armed, @out_armed: a poll on @h's socket is at io_uring
 * @tick_armed: the tick (reconnect, deadlines) is at io_uring
 * @tick_ts: its time
 * @waiting: requests to send once connected, oldest first
 * @wait_tail: where the next one goes
 * @finished: requests whose commands all completed, for finish()
 * @grace_ns: how long a request may wait for a server, from its first wait
 * @hung_ns: how long a connection may owe replies and send none; 0: ever
 * @lost_ns: when the last connection was lost; 0 while one is up
 * @progress_ns: @h's last sign of life: a reply, or its start
 * @dial: the tick asks blk_nbd_pump() to connect
 * @expired: the server is away for @grace_ns: new requests fail at once
 * @shutting: the server answered ESHUTDOWN: it is going away
 * @acked, @flushed: writes, trims and zeroes the server acknowledged
 *	without FUA on @h, and how many of them a flush covered since
 * @flush_fails: acknowledged writes were lost with a server's cache:
 *	the next flush fails, so that the board hears of it
 * @attempts: connections tried since the last one was lost
 * @error: why libnbd last failed a call on @h, or ""
 * @errnum: its errno: EFAULT, the window revoked under a command
 *
 * Single-threaded, like the rest of the backend: libnbd calls the
 * commands' callbacks from inside the calls made here, and they only
 * count and move the request to @finished.
 */
struct blk_nbd {
	const char *uri;
	struct nbd_handle *h;
	bool connected, ever;
	bool flush, fua, trim, zero;
	bool in_armed, out_armed, tick_armed;
	struct __kernel_timespec tick_ts;
	struct blk_req *waiting, **wait_tail;
	struct blk_req *finished;
	uint64_t grace_ns, hung_ns, lost_ns, progress_ns;
	bool dial, expired, shutting;
	uint64_t acked, flushed;
	bool flush_fails;
	unsigned int attempts;
	char error[128];
	int errnum;
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

/*
 * Learn what the server of a finished handshake does.  Return: NULL, or
 * why this export cannot be the disk (into @why's @len bytes).
 */
static const char *check_export(struct blk *b, struct blk_nbd *n,
				 char *why, size_t len)
{
	int64_t size = nbd_get_size(n->h);
	int64_t min = nbd_get_block_size(n->h, LIBNBD_SIZE_MINIMUM);

	if (size < 0 || (uint64_t)size < b->capacity * SECTOR) {
		snprintf(why, len, "the export holds %" PRId64 " bytes, less than the %" PRIu64 " sectors the board was given",
			 size, b->capacity);
		return why;
	}
	/* A request's segments are whole sectors, not whole larger blocks. */
	if (min > (int64_t)SECTOR) {
		snprintf(why, len, "the export's blocks are %" PRId64 " bytes; only exports of 512-byte blocks or smaller are served",
			 min);
		return why;
	}
	if (nbd_is_read_only(n->h) > 0 && !b->readonly)
		return "the export is read-only: serve it --readonly";
	n->flush = nbd_can_flush(n->h) > 0;
	n->fua = nbd_can_fua(n->h) > 0;
	n->trim = nbd_can_trim(n->h) > 0;
	n->zero = nbd_can_zero(n->h) > 0;
	if (has(b, VIRTIO_BLK_F_WRITE_ZEROES) && !n->zero)
		return "the server does not write zeroes, which the disk offers";
	/* A disk offered no flush (write-through) needs each write durable. */
	if (!(b->st.features & (1ULL << VIRTIO_BLK_F_FLUSH)) && !n->fua)
		return "the server has no FUA, which a write-through disk needs";
	return NULL;
}

static void probe_timeout(int sig)
{
	static const char msg[] = "iobond-blk: no answer from the NBD server in 10 s\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		(void)0;
	_exit(1);
}

/**
 * blk_nbd_probe() - print what the export at @uri is, on one line
 * @uri: the export's NBD URI
 *
 * "key=value" words (iobond-blk(8)), what "iobondctl add-blk --nbd" sizes
 * the disk by.  A server that does not answer in PROBE_S seconds fails it.
 *
 * Return: 0, or 1 after saying why not.
 */
int blk_nbd_probe(const char *uri)
{
	struct nbd_handle *h = new_handle();
	int64_t min;

	signal(SIGALRM, probe_timeout);
	alarm(PROBE_S);
	if (!h || nbd_connect_uri(h, uri)) {
		blk_log("%s: %s", uri, nbd_get_error() ?: "cannot connect");
		return 1;
	}
	alarm(0);
	min = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);
	printf("size=%" PRId64 " block=%" PRId64 " readonly=%d flush=%d fua=%d trim=%d zero=%d\n",
	       nbd_get_size(h), min > 0 ? min : 1, nbd_is_read_only(h) > 0,
	       nbd_can_flush(h) > 0, nbd_can_fua(h) > 0, nbd_can_trim(h) > 0,
	       nbd_can_zero(h) > 0);
	nbd_close(h);
	return 0;
}

/* libnbd's word for why its last call failed, kept for lose(). */
static void note_error(struct blk_nbd *n)
{
	snprintf(n->error, sizeof(n->error), "%s", nbd_get_error() ?: "");
	n->errnum = nbd_get_errno();
}

/* Start a connection, without waiting for it: blk_nbd_pump() does. */
static void reconnect(struct blk_nbd *n)
{
	n->attempts++;
	n->progress_ns = now_ns();
	n->error[0] = 0;
	n->errnum = 0;
	n->h = new_handle();
	if (n->h && !nbd_aio_connect_uri(n->h, n->uri))
		return;
	if (n->attempts == 1)
		blk_log("%s: cannot connect: %s", n->uri,
			nbd_get_error() ?: "no handle");
	if (n->h)
		nbd_close(n->h);
	n->h = NULL;
}

/**
 * blk_nbd_open() - serve the disk from the export at @uri
 * @b: the backend, with its config read
 * @uri: the export's NBD URI (nbd://, nbd+unix://)
 * @grace_ms: how long a request may wait for a server
 * @hung_ms: how long a connection may owe replies and send none (0: ever)
 *
 * The first connection is made as a lost one is made again: requests
 * wait for it as long.
 *
 * Return: 0, or 1 after saying why not.
 */
int blk_nbd_open(struct blk *b, const char *uri, uint64_t grace_ms,
		 uint64_t hung_ms)
{
	struct blk_nbd *n = calloc(1, sizeof(*n));

	if (!n) {
		blk_log("out of memory");
		return 1;
	}
	n->uri = uri;
	n->grace_ns = grace_ms * 1000000;
	n->hung_ns = hung_ms * 1000000;
	n->wait_tail = &n->waiting;
	n->lost_ns = now_ns();
	b->nbd = n;
	reconnect(n);
	return 0;
}

static void arm_poll(struct blk *b, int fd, short mask, uint64_t tag)
{
	struct io_uring_sqe *sqe = blk_sqe(b);

	io_uring_prep_poll_add(sqe, fd, mask);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)tag);
}

/* One of @r's holds went: its last moves it to finish()'s list. */
static void release(struct blk_nbd *n, struct blk_req *r)
{
	if (!--r->parts) {
		r->next = n->finished;
		n->finished = r;
	}
}

/* A command of @r completed: its callback, from inside libnbd. */
static int part_done(void *opaque, int *error)
{
	struct blk_req *r = opaque;
	struct blk_nbd *n = r->b->nbd;

	n->progress_ns = now_ns();
	if (*error) {
		if (!r->nbd_err)
			r->nbd_err = *error;
		/* nbdkit's answer while it stops: the connection is going. */
		if (*error == ESHUTDOWN)
			n->shutting = true;
	} else if (r->type != VIRTIO_BLK_T_IN && r->type != VIRTIO_BLK_T_FLUSH &&
		   !r->nbd_fua) {
		n->acked++;
	} else if (r->type == VIRTIO_BLK_T_FLUSH && r->nbd_mark > n->flushed) {
		n->flushed = r->nbd_mark;
	}
	release(n, r);
	return 1;		/* retired: nothing else asks for it */
}

/* Send @r's commands on the live connection. */
static void send_req(struct blk *b, struct blk_nbd *n, struct blk_req *r)
{
	nbd_completion_callback cb = { .callback = part_done, .user_data = r };
	uint64_t off = r->sector * SECTOR;
	bool unmap = r->falloc_mode & FALLOC_FL_PUNCH_HOLE;
	unsigned int i;
	int64_t ret = 0;

	/* The silence clock runs from the first command owed a reply. */
	if (!nbd_aio_in_flight(n->h))
		n->progress_ns = now_ns();
	r->nbd_err = 0;
	r->nbd_final = false;
	r->nbd_fua = !has(b, VIRTIO_BLK_F_FLUSH) && n->fua;
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
					     r->iov[i].iov_len, off, cb,
					     r->nbd_fua ? LIBNBD_CMD_FLAG_FUA : 0);
			off += r->iov[i].iov_len;
		}
		break;
	case VIRTIO_BLK_T_FLUSH:
		/* Cleared once the board has it (finish()). */
		if (n->flush_fails) {
			r->nbd_err = EIO;
			r->nbd_final = true;
			break;
		}
		/* A server that flushes nothing keeps nothing to flush. */
		r->nbd_mark = n->acked;
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
			if (b->errors++ < 20)
				blk_log("%s: the server does not write zeroes", n->uri);
			r->nbd_err = EIO;
			r->nbd_final = true;
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
		/* Refused by a live handle (a length, an alignment): for good. */
		r->nbd_final = !nbd_aio_is_dead(n->h) && !nbd_aio_is_closed(n->h);
		if (r->nbd_final && b->errors++ < 20)
			blk_log("%s: type %u at sector %" PRIu64 ": %s", n->uri,
				r->type, r->sector, nbd_get_error() ?: strerror(r->nbd_err));
	}
	release(n, r);
}

/* @r waits for a server; its clock starts the first time it does. */
static void wait_for_server(struct blk_nbd *n, struct blk_req *r)
{
	if (!r->nbd_since)
		r->nbd_since = now_ns();
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
	if (n->connected && !n->shutting)
		send_req(b, n, r);
	else if (n->expired)
		blk_req_done(b, r, -ENOTCONN);
	else
		wait_for_server(n, r);
}

/*
 * End the live connection now: libnbd fails its commands (ENOTCONN) from
 * inside these calls, while their buffers are still the board's.
 */
static void cut(struct blk_nbd *n)
{
	int fd = nbd_aio_get_fd(n->h);

	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	/* Whichever the state waits for; the other is refused harmlessly. */
	nbd_aio_notify_read(n->h);
	if (!nbd_aio_is_dead(n->h) && !nbd_aio_is_closed(n->h))
		nbd_aio_notify_write(n->h);
}

/*
 * The connection is gone, for @why (NULL: what libnbd said): keep its
 * requests, and start connecting again.  Only a dead handle, or one
 * still in its handshake, comes here: nbd_close() completes no command.
 */
static void lose(struct blk *b, struct blk_nbd *n, const char *why)
{
	struct io_uring_sqe *sqe;

	/* Said once per outage, not at every attempt. */
	if (n->connected || n->attempts == 1)
		blk_log("%s: %s: %s", n->uri, n->connected ? "connection lost" :
			"cannot connect", why ?: n->error[0] ? n->error :
			"closed by the server");
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
	if (n->connected) {
		n->lost_ns = now_ns();
		n->attempts = 0;
		/*
		 * What the server acknowledged and did not flush may be gone;
		 * not for an EFAULT, the board's reset revoking the window
		 * under a command, as blk_nbd_stop() says.
		 */
		if (n->acked > n->flushed && n->flush && n->errnum != EFAULT)
			n->flush_fails = true;
	}
	n->acked = n->flushed = 0;
	n->connected = n->shutting = false;
}

/*
 * Complete the requests whose commands all completed.  Those that failed
 * because the connection ended wait for the next one.  One at a time off
 * the list: completing touches the window, which can fault (SIGBUS).
 */
static void finish(struct blk *b, struct blk_nbd *n)
{
	bool lost = !n->connected || !n->h || nbd_aio_is_dead(n->h) ||
		    nbd_aio_is_closed(n->h);
	struct blk_req *r;

	while ((r = n->finished)) {
		n->finished = r->next;
		if (r->gen != b->gen)
			/* Its ring is gone (a reset): nothing to say. */
			blk_req_done(b, r, -ECANCELED);
		else if (r->nbd_err && !r->nbd_final &&
			 (lost || r->nbd_err == ESHUTDOWN))
			wait_for_server(n, r);
		else if (r->nbd_err && r->type == VIRTIO_BLK_T_FLUSH &&
			 r->nbd_final && n->flush_fails) {
			blk_log("%s: writes the server acknowledged were lost with it: failing this flush",
				n->uri);
			n->flush_fails = false;
			blk_req_done(b, r, -EIO);
		} else if (r->nbd_err)
			/* EOPNOTSUPP would make req.c try another fallocate. */
			blk_req_done(b, r, r->nbd_err == EOPNOTSUPP ? -EIO :
				     -r->nbd_err);
		else
			blk_req_done(b, r, r->type == VIRTIO_BLK_T_IN ||
				     r->type == VIRTIO_BLK_T_OUT ?
				     (int)(r->expect - r->done) : 0);
	}
}

/* Connected: send again what waited, in order. */
static void resend(struct blk *b, struct blk_nbd *n)
{
	struct blk_req *r;
	unsigned int k = 0;

	blk_log("%s: connected%s: the server %s, %s, %s, %s", n->uri,
		n->ever ? " again" : "", n->flush ? "flushes" : "has no cache",
		n->fua ? "does FUA" : "has no FUA", n->trim ? "trims" : "does not trim",
		n->zero ? "zeroes" : "does not zero");
	n->ever = true;
	n->connected = true;
	n->lost_ns = 0;
	n->expired = false;
	while ((r = n->waiting)) {
		n->waiting = r->next;
		if (!n->waiting)
			n->wait_tail = &n->waiting;
		send_req(b, n, r);
		k++;
	}
	if (k)
		blk_log("%s: %u waiting request(s) sent", n->uri, k);
	/* Refused at once (a dead handle, a length): their turn now. */
	finish(b, n);
}

/*
 * Fail the waiting requests that @due says to, one at a time off the
 * list (completing one can fault).
 */
static unsigned int fail_waiting(struct blk *b, struct blk_nbd *n,
				 bool (*due)(struct blk *, struct blk_req *,
					     uint64_t), int err)
{
	struct blk_req *r, **pp = &n->waiting;
	uint64_t now = now_ns();
	unsigned int k = 0;

	while ((r = *pp)) {
		if (!due(b, r, now)) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		if (!*pp)
			n->wait_tail = pp;
		blk_req_done(b, r, err);
		k++;
	}
	return k;
}

/* The grace; before the first connection, time enough for a handshake. */
static uint64_t grace(struct blk_nbd *n)
{
	uint64_t first = HANDSHAKE_MS * 1000000ULL;

	return n->ever || n->grace_ns >= first ? n->grace_ns : first;
}

static bool waited_enough(struct blk *b, struct blk_req *r, uint64_t now)
{
	return now - r->nbd_since >= grace(b->nbd);
}

static bool of_an_old_ring(struct blk *b, struct blk_req *r, uint64_t now)
{
	(void)now;
	return r->gen != b->gen;
}

/*
 * The reconnect grace: requests that waited for a server that long fail,
 * and while the server is away that long, new ones fail at once.
 */
static void expire(struct blk *b, struct blk_nbd *n)
{
	unsigned int k = fail_waiting(b, n, waited_enough, -ENOTCONN);

	if (n->lost_ns && !n->expired && now_ns() - n->lost_ns >= grace(n)) {
		n->expired = true;
		blk_log("%s: no server for %" PRIu64 " ms: requests fail until it is back",
			n->uri, grace(n) / 1000000);
	}
	if (k)
		blk_log("%s: %u request(s) failed: no server answered them in %" PRIu64 " ms",
			n->uri, k, grace(n) / 1000000);
}

/**
 * blk_nbd_stop() - the queues stopped (a reset): let go of their requests
 * @b: the backend, its generation moved on
 *
 * Commands still at libnbd point into the window that is about to be
 * unmapped and mapped again, maybe at the same address: the connection is
 * cut, which fails them at once, and the next one starts clean.
 */
void blk_nbd_stop(struct blk *b)
{
	struct blk_nbd *n = b->nbd;
	unsigned int k;

	if (n->h && n->connected && nbd_aio_in_flight(n->h) > 0) {
		blk_log("%s: the board reset the disk: dropping the connection and its %d command(s)",
			n->uri, nbd_aio_in_flight(n->h));
		/*
		 * Ours, not the server's loss: its cache is as it was, and a
		 * flush on the next connection covers it where the server
		 * says flushes cover every connection (multi-conn).
		 */
		if (nbd_can_multi_conn(n->h) > 0)
			n->acked = n->flushed = 0;
		cut(n);
		if (nbd_aio_is_dead(n->h) || nbd_aio_is_closed(n->h))
			lose(b, n, "cut for the reset");
	}
	k = fail_waiting(b, n, of_an_old_ring, -ECANCELED);
	if (k)
		blk_log("%s: dropped %u waiting request(s) of the old rings", n->uri, k);
}

static void arm_tick(struct blk *b, struct blk_nbd *n)
{
	struct io_uring_sqe *sqe;
	uint64_t ms = n->expired ? IDLE_TICK_MS : TICK_MS;

	if (n->tick_armed)
		return;
	sqe = blk_sqe(b);
	n->tick_ts = (struct __kernel_timespec){ .tv_sec = ms / 1000,
						 .tv_nsec = ms % 1000 * 1000000 };
	io_uring_prep_timeout(sqe, &n->tick_ts, 0, 0);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_NBD_TICK);
	n->tick_armed = true;
}

/**
 * blk_nbd_pump() - settle the connection before the loop waits
 * @b: the backend
 *
 * Ends a connection that is silent or shutting down, notices a lost one
 * or a new one, completes what finished, fails what waited too long, and
 * arms the polls libnbd needs and the tick.
 */
void blk_nbd_pump(struct blk *b)
{
	struct blk_nbd *n = b->nbd;
	char why[160] = "";
	int fd;

	if (n->dial && !n->h)
		reconnect(n);
	n->dial = false;
	if (n->h && !n->connected &&
	    now_ns() - n->progress_ns >= HANDSHAKE_MS * 1000000ULL) {
		lose(b, n, "no handshake in 10 s");
	} else if (n->h && n->hung_ns && nbd_aio_in_flight(n->h) > 0 &&
		   now_ns() - n->progress_ns >= n->hung_ns) {
		snprintf(why, sizeof(why), "no answer for %" PRIu64 " ms",
			 n->hung_ns / 1000000);
		cut(n);
	} else if (n->h && n->shutting) {
		snprintf(why, sizeof(why), "the server is shutting down");
		cut(n);
	}
	if (n->h && (nbd_aio_is_dead(n->h) || nbd_aio_is_closed(n->h)))
		lose(b, n, why[0] ? why : NULL);
	finish(b, n);
	if (n->h && !n->connected && nbd_aio_is_ready(n->h)) {
		const char *bad = check_export(b, n, why, sizeof(why));

		/* Another disk now: nothing goes to it, and the grace runs. */
		if (bad)
			lose(b, n, bad);
		else
			resend(b, n);
	}
	expire(b, n);
	if (!n->h || !n->connected || n->waiting || nbd_aio_in_flight(n->h) > 0)
		arm_tick(b, n);
	fd = n->h ? nbd_aio_get_fd(n->h) : -1;
	if (fd < 0)
		return;
	if ((nbd_aio_get_direction(n->h) & LIBNBD_AIO_DIRECTION_READ) &&
	    !n->in_armed) {
		arm_poll(b, fd, POLLIN, TAG_NBD_IN);
		n->in_armed = true;
	}
	if ((nbd_aio_get_direction(n->h) & LIBNBD_AIO_DIRECTION_WRITE) &&
	    !n->out_armed) {
		arm_poll(b, fd, POLLOUT, TAG_NBD_OUT);
		n->out_armed = true;
	}
}

/**
 * blk_nbd_event() - a poll or the tick fired
 * @b: the backend
 * @tag: TAG_NBD_*
 * @res: its result
 */
void blk_nbd_event(struct blk *b, uint64_t tag, int res)
{
	struct blk_nbd *n = b->nbd;
	unsigned int dir;
	int ret = 0;

	/*
	 * The connection is made in blk_nbd_pump(), after the batch: a poll
	 * of the lost one that fired in this batch finds no handle.
	 */
	if (tag == TAG_NBD_TICK) {
		n->tick_armed = false;
		n->dial = true;
		return;
	}
	/* Of a connection closed since: lose() already forgot it. */
	if (res == -ECANCELED)
		return;
	if (tag == TAG_NBD_IN)
		n->in_armed = false;
	else
		n->out_armed = false;
	if (!n->h)
		return;
	/* An error or hang-up fires either poll: tell libnbd what it awaits. */
	dir = nbd_aio_get_direction(n->h);
	if (tag == TAG_NBD_OUT && (dir & LIBNBD_AIO_DIRECTION_WRITE))
		ret = nbd_aio_notify_write(n->h);
	else if (dir & LIBNBD_AIO_DIRECTION_READ)
		ret = nbd_aio_notify_read(n->h);
	else if (dir & LIBNBD_AIO_DIRECTION_WRITE)
		ret = nbd_aio_notify_write(n->h);
	if (ret < 0)
		note_error(n);
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
