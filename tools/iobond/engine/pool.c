// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-engine: a queue's buffers in the window.
 *
 * Chains come back in any order (a disk completes out of order), so this
 * is a first-fit bitmap over 64-byte granules.  The search starts where
 * the last allocation ended: a queue that completes in order finds its
 * room at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define BITS	64

static bool test(const struct eng_pool *p, uint32_t g)
{
	return p->used[g / BITS] & (1ULL << (g % BITS));
}

static void set(struct eng_pool *p, uint32_t g, uint32_t n, bool on)
{
	for (; n; g++, n--) {
		if (on)
			p->used[g / BITS] |= 1ULL << (g % BITS);
		else
			p->used[g / BITS] &= ~(1ULL << (g % BITS));
	}
}

/**
 * eng_pool_init() - manage [@off, @off + @size) of the window
 * @p: the pool
 * @off: its start, a multiple of ENG_POOL_GRANULE
 * @size: its length; the tail past the last whole granule is not used
 *
 * Return: 0, or -EINVAL or -ENOMEM.
 */
int eng_pool_init(struct eng_pool *p, uint64_t off, uint64_t size)
{
	uint64_t ngran = size / ENG_POOL_GRANULE;

	memset(p, 0, sizeof(*p));
	if (off % ENG_POOL_GRANULE || !ngran || ngran > UINT32_MAX - BITS)
		return -EINVAL;
	p->used = calloc((ngran + BITS - 1) / BITS, sizeof(*p->used));
	if (!p->used)
		return -ENOMEM;
	p->off = off;
	p->ngran = ngran;
	p->size = ngran * ENG_POOL_GRANULE;
	return 0;
}

void eng_pool_exit(struct eng_pool *p)
{
	free(p->used);
	memset(p, 0, sizeof(*p));
}

/* The first run of @n free granules in [@from, @to): its start, or -1. */
static int64_t fit(const struct eng_pool *p, uint32_t from, uint32_t to,
		   uint32_t n)
{
	uint32_t g = from, run = 0;

	while (g < to) {
		if (!(g % BITS) && to - g >= BITS && !p->used[g / BITS]) {
			run += BITS;	/* a whole free word */
			g += BITS;
		} else if (test(p, g++)) {
			run = 0;
			continue;
		} else {
			run++;
		}
		if (run >= n)
			return g - run;
	}
	return -1;
}

/**
 * eng_pool_alloc() - find room for @len bytes
 * @p: the pool
 * @len: bytes, not 0
 *
 * Return: the window offset of the room, or -1 if there is none now.
 */
int64_t eng_pool_alloc(struct eng_pool *p, uint64_t len)
{
	uint64_t n = (len + ENG_POOL_GRANULE - 1) / ENG_POOL_GRANULE;
	int64_t g;

	if (!len || n > p->ngran)
		return -1;
	g = fit(p, p->next, p->ngran, n);
	if (g < 0)
		g = fit(p, 0, p->ngran, n);
	if (g < 0)
		return -1;
	set(p, g, n, true);
	p->next = g + n < p->ngran ? g + n : 0;
	return p->off + (uint64_t)g * ENG_POOL_GRANULE;
}

/**
 * eng_pool_free() - give back what eng_pool_alloc() returned
 * @p: the pool
 * @off: the offset it returned
 * @len: the length it was asked for
 */
void eng_pool_free(struct eng_pool *p, uint64_t off, uint64_t len)
{
	uint64_t n = (len + ENG_POOL_GRANULE - 1) / ENG_POOL_GRANULE;

	set(p, (off - p->off) / ENG_POOL_GRANULE, n, false);
}

/* Everything free again: the queue was stopped. */
void eng_pool_reset(struct eng_pool *p)
{
	memset(p->used, 0, (p->ngran + BITS - 1) / BITS * sizeof(*p->used));
	p->next = 0;
}
