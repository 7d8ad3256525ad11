// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-blk: the board's disk budget, shared with the board's other
 * disks' backends through a file they all map (iobond_budget.h).  The
 * per-disk throttle (throttle.c) asks here after its own buckets.
 */
#include <errno.h>

#include "blk.h"

/* Map @path, made if it is not there yet; 0 or -errno. */
int blk_budget_open(struct blk *b, const char *path)
{
	b->budget = iobond_budget_map(path);
	return b->budget ? 0 : -errno;
}

/* Move @tat on by @cost if it is within the burst of @now; else how long to wait. */
static bool gcra(__u64 *tat, __u64 cost, __u64 now, double *wait)
{
	__u64 old = __atomic_load_n(tat, __ATOMIC_RELAXED), base;

	do {
		base = old > now ? old : now;
		if (base - now > IOBOND_BUDGET_BURST_NS) {
			*wait = (base - now - IOBOND_BUDGET_BURST_NS) / 1e9;
			return false;
		}
	} while (!__atomic_compare_exchange_n(tat, &old, base + cost, false,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

/**
 * blk_budget_take() - may a request of @bytes go, as the board's budget goes?
 * @b: the backend
 * @bytes: its data bytes
 * @now: CLOCK_MONOTONIC, ns
 * @wait: set to the seconds until it may, if not now
 */
bool blk_budget_take(struct blk *b, uint64_t bytes, uint64_t now, double *wait)
{
	struct iobond_budget *g = b->budget;
	__u64 iops, bps, ops_cost;

	if (!g)
		return true;
	iops = __atomic_load_n(&g->iops, __ATOMIC_RELAXED);
	bps = __atomic_load_n(&g->bps, __ATOMIC_RELAXED);
	ops_cost = iops ? 1000000000ULL / iops : 0;
	if (iops && !gcra(&g->ops_tat, ops_cost, now, wait))
		return false;
	if (bps && !gcra(&g->bytes_tat, bytes * 1000000000ULL / bps, now, wait)) {
		/* Its operation goes back, roughly: the bucket is a clock. */
		if (iops)
			__atomic_fetch_sub(&g->ops_tat, ops_cost, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

/* Whether the board has a budget now: limit-blk may set one at any time. */
bool blk_budget_on(const struct blk *b)
{
	return b->budget && (__atomic_load_n(&b->budget->iops, __ATOMIC_RELAXED) ||
			     __atomic_load_n(&b->budget->bps, __ATOMIC_RELAXED));
}
