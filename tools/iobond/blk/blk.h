/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iobond-blk: a virtio-blk backend for an IO-Bond board, over VFIO.
 *
 * main.c sets up and runs one io_uring loop; queue.c takes requests off
 * the board's split rings and gives completions back; req.c turns each
 * request into file I/O, or nbd.c into commands to an NBD export;
 * throttle.c holds requests to the limits.  Single-threaded: io_uring does
 * the waiting, for the file I/O, the NBD socket, the kicks, the timers
 * and the signals alike.
 */
#ifndef IOBOND_BLK_H
#define IOBOND_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <liburing.h>
#include <linux/iobond.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>

#include "../iobond_budget.h"
#include "../iobond_vfio.h"

#define BLK_MAX_SEGS	(IOBOND_BLK_QUEUE_MAX)
#define BLK_ID_BYTES	VIRTIO_BLK_ID_BYTES

/* io_uring user_data below this is an event, not a request. */
enum blk_tag {
	TAG_STATE = 1,
	TAG_SIGNAL,
	TAG_TIMER,
	TAG_ALIVE,
	TAG_NBD_IN,		/* nbd.c: its socket's polls and tick */
	TAG_NBD_OUT,
	TAG_NBD_TICK,
	TAG_NBD_CANCEL,
	TAG_KICK,		/* + queue number */
	TAG_END = TAG_KICK + IOBOND_MAX_QUEUES,
};

struct blk_vq {
	bool live;
	uint16_t size;
	uint16_t last_avail;	/* taken up to */
	uint16_t used_idx;	/* filled up to; published at the batch's end */
	uint16_t signalled;	/* used index the board last heard of */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct iobond_inflight *rec;
	int kick_fd;
	uint64_t kick_buf;
	bool kick_armed;
};

struct blk_req {
	struct blk_vq *vq;
	uint32_t gen;		/* the backend's generation it was taken in */
	uint16_t head;
	uint32_t type;
	uint64_t sector;
	uint8_t *status;	/* NULL: the chain has nowhere for a status */
	uint32_t in_len;	/* bytes the board gets back, status included */
	uint64_t bytes;		/* data bytes, for the throttle */
	uint64_t expect;	/* what the file operation must return */
	uint64_t done;		/* of it, by earlier short transfers */
	int falloc_mode;
	bool misshapen;		/* buffers where the type has none */
	struct blk_req *next;	/* the throttle's or nbd.c's lists */
	/* nbd.c's: */
	struct blk *b;		/* for its commands' callbacks */
	unsigned int parts;	/* its commands not completed, + 1 while sending */
	int nbd_err;		/* the first one's error */
	bool nbd_final;		/* ...is no lost connection's: never retried */
	bool nbd_fua;		/* its writes went with FUA */
	uint64_t nbd_mark;	/* a flush: the writes acknowledged before it */
	uint64_t nbd_since;	/* when it first waited for a server, or 0 */
	unsigned int niov;
	struct iovec iov[];
};

struct blk_throttle {
	uint64_t iops, bps;	/* 0: no limit */
	double ops, bytes;	/* tokens */
	double budget_wait;	/* s, as the board's budget last said */
	uint64_t last_ns;
	struct blk_req *head, **tail;
	bool timer_armed;
	struct __kernel_timespec ts;
};

struct blk {
	const char *file;
	int fd;
	struct blk_nbd *nbd;	/* nbd.c: an NBD export instead of @fd */
	bool readonly;
	char serial[BLK_ID_BYTES];
	struct iob_vfio vfio;
	struct io_uring ring;
	int state_fd;
	uint64_t state_buf;
	int sig_fd;
	struct iobond_vfio_state st;
	uint32_t resets;	/* of the state the queues were started in */
	uint32_t gen;		/* bumped whenever the queues stop */
	uint8_t *win;
	size_t win_size;
	/* The disk's zone of the window: every ring and buffer lies in it. */
	uint64_t zone_off, zone_size;
	struct iobond_inflight *recs;
	/* From the config space the host published. */
	uint64_t capacity;
	uint32_t blk_size, seg_max, size_max;
	uint32_t max_discard, max_zeroes;	/* sectors; 0: the whole disk */
	uint64_t features;	/* negotiated */
	int zero_mode;		/* fallocate mode for write zeroes */
	struct blk_vq vq[IOBOND_MAX_QUEUES];
	unsigned int nvq;
	unsigned int io_inflight;	/* requests at io_uring or throttled */
	/* While any is, the inflight records' alive counts move (main.c). */
	bool alive_armed;
	struct __kernel_timespec alive_ts;
	bool stopping;
	struct blk_throttle th;
	struct iobond_budget *budget;	/* the board's, shared; or NULL */
	uint64_t done, errors;
};

/* main.c */
void blk_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct io_uring_sqe *blk_sqe(struct blk *b);

/* queue.c */
void blk_parse_config(struct blk *b);
int blk_queues_start(struct blk *b);
void blk_queues_stop(struct blk *b);
void blk_queue_kick(struct blk *b, unsigned int q);
void blk_queue_complete(struct blk *b, struct blk_req *r, uint8_t status);
void blk_queues_publish(struct blk *b);

/* req.c */
void blk_req_start(struct blk *b, struct blk_req *r);
void blk_req_submit(struct blk *b, struct blk_req *r);
void blk_req_done(struct blk *b, struct blk_req *r, int res);

/* nbd.c; a connection owing replies and silent this long is given up */
#define NBD_HUNG_MS	30000
int blk_nbd_probe(const char *uri);
int blk_nbd_open(struct blk *b, const char *uri, uint64_t grace_ms,
		 uint64_t hung_ms);
void blk_nbd_submit(struct blk *b, struct blk_req *r);
void blk_nbd_stop(struct blk *b);
void blk_nbd_pump(struct blk *b);
void blk_nbd_event(struct blk *b, uint64_t tag, int res);
bool blk_nbd_stranded(struct blk *b);

/* budget.c */
int blk_budget_open(struct blk *b, const char *path);
bool blk_budget_take(struct blk *b, uint64_t bytes, uint64_t now, double *wait);
bool blk_budget_on(const struct blk *b);

/* throttle.c */
void blk_throttle_init(struct blk_throttle *t, uint64_t iops, uint64_t bps);
bool blk_throttle_admit(struct blk *b, struct blk_req *r);
void blk_throttle_timer(struct blk *b);

#endif /* IOBOND_BLK_H */
