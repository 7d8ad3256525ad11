// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-blk: a token bucket for operations and one for bytes.
 *
 * Each bucket fills at its rate and holds 50 ms of it (at least one
 * operation, and at least the largest request), so a limit holds over
 * any window longer than that.  The board's budget, which its disks
 * share (budget.c), is asked next.  Requests that find a bucket short
 * wait in arrival order; an io_uring timeout wakes the loop when the first
 * of them can go.
 */
#include <math.h>
#include <time.h>

#include "blk.h"

#define BURST_NS	50000000.0
#define BUDGET_RECHECK_S	0.1

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static double cap_ops(const struct blk_throttle *t)
{
	return fmax(1, t->iops * BURST_NS / 1e9);
}

static double cap_bytes(const struct blk *b)
{
	return fmax((double)b->seg_max * b->size_max,
		    b->th.bps * BURST_NS / 1e9);
}

void blk_throttle_init(struct blk_throttle *t, uint64_t iops, uint64_t bps)
{
	t->iops = iops;
	t->bps = bps;
	t->ops = 1;
	t->bytes = 0;
	t->last_ns = now_ns();
	t->head = NULL;
	t->tail = &t->head;
}

static void refill(struct blk *b)
{
	struct blk_throttle *t = &b->th;
	uint64_t now = now_ns();
	double dt = (now - t->last_ns) / 1e9;

	t->last_ns = now;
	t->ops = fmin(cap_ops(t), t->ops + dt * t->iops);
	t->bytes = fmin(cap_bytes(b), t->bytes + dt * t->bps);
}

/*
 * Take @r's tokens if both buckets hold them and the board's budget lets
 * it go; else how long the budget wants it to wait.
 */
static bool take(struct blk *b, struct blk_req *r)
{
	struct blk_throttle *t = &b->th;

	if ((t->iops && t->ops < 1) || (t->bps && t->bytes < r->bytes))
		return false;
	t->budget_wait = 0;
	if (!blk_budget_take(b, r->bytes, t->last_ns, &t->budget_wait))
		return false;
	t->ops -= 1;
	t->bytes -= r->bytes;
	return true;
}

static void arm(struct blk *b)
{
	struct blk_throttle *t = &b->th;
	double wait = 0;
	struct io_uring_sqe *sqe;

	if (t->timer_armed || !t->head)
		return;
	if (t->iops && t->ops < 1)
		wait = (1 - t->ops) / t->iops;
	if (t->bps && t->bytes < t->head->bytes)
		wait = fmax(wait, (t->head->bytes - t->bytes) / t->bps);
	/* Capped: the board's limits may change meanwhile (limit-blk). */
	wait = fmax(wait, fmin(t->budget_wait, BUDGET_RECHECK_S));
	wait = fmax(wait, 1e-4);
	t->ts.tv_sec = (long long)wait;
	t->ts.tv_nsec = (long long)((wait - floor(wait)) * 1e9);
	sqe = blk_sqe(b);
	io_uring_prep_timeout(sqe, &t->ts, 0, 0);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_TIMER);
	t->timer_armed = true;
}

/**
 * blk_throttle_admit() - may @r go to the file now?
 * @b: the backend
 * @r: a checked request
 *
 * Return: true to submit it now; false if it waits here, to be submitted
 * by blk_throttle_timer().
 */
bool blk_throttle_admit(struct blk *b, struct blk_req *r)
{
	struct blk_throttle *t = &b->th;

	if (!t->head && !t->iops && !t->bps && !blk_budget_on(b))
		return true;
	refill(b);
	if (!t->head && take(b, r))
		return true;
	r->next = NULL;
	*t->tail = r;
	t->tail = &r->next;
	arm(b);
	return false;
}

/**
 * blk_throttle_timer() - the timeout fired: let go what the buckets allow
 * @b: the backend
 */
void blk_throttle_timer(struct blk *b)
{
	struct blk_throttle *t = &b->th;
	struct blk_req *r;

	t->timer_armed = false;
	refill(b);
	while ((r = t->head) && (r->gen != b->gen || take(b, r))) {
		t->head = r->next;
		if (!t->head)
			t->tail = &t->head;
		/*
		 * Taken before the queues last stopped (a reset): its buffers
		 * are no longer the board's, and its write must not land.
		 */
		if (r->gen != b->gen) {
			b->io_inflight--;
			blk_queue_complete(b, r, VIRTIO_BLK_S_IOERR);
			continue;
		}
		blk_req_submit(b, r);
	}
	arm(b);
}
