// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-engine: a queue's buffers in the window.
 *
 * Chains come back in any order (a disk completes out of order), so this
 * is a first-fit bitmap over 64-byte granules.  The search starts where
 * the last allocation ended: a queue that completes in order finds its
 * room at once.  Whole words, used or free, are passed over at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define POOL_WORD	64

static bool pool_used(const struct eng_pool *p, uint32_t g)
{
	return p->used[g / POOL_WORD] & (1ULL << (g % POOL_WORD));
}

static void pool_mark(struct eng_pool *p, uint32_t g, uint32_t n, bool on)
{
	for (; n; g++, n--) {
		if (on)
			p->used[g / POOL_WORD] |= 1ULL << (g % POOL_WORD);
		else
			p->used[g / POOL_WORD] &= ~(1ULL << (g % POOL_WORD));
	}
}

/**
 * eng_pool_init() - manage addresses [@off, @off + @size)
 * @p: the pool
 * @off: its start, a multiple of ENG_POOL_GRANULE
 * @size: its length; the tail past the last whole granule is not used
 *
 * Return: 0, -EINVAL for a start not so aligned or a size of no granule
 * or too many, or -ENOMEM.
 */
int eng_pool_init(struct eng_pool *p, uint64_t off, uint64_t size)
{
	uint64_t ngran = size / ENG_POOL_GRANULE;

	memset(p, 0, sizeof(*p));
	if (off % ENG_POOL_GRANULE || !ngran || ngran > UINT32_MAX - POOL_WORD)
		return -EINVAL;
	p->used = calloc((ngran + POOL_WORD - 1) / POOL_WORD, sizeof(*p->used));
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

/* The first run of @n free granules within [@from, @to): its start, or -1. */
static int64_t pool_fit(const struct eng_pool *p, uint32_t from, uint32_t to,
			uint32_t n)
{
	uint32_t g = from, run = 0;

	while (g < to) {
		uint64_t w = p->used[g / POOL_WORD];

		if (!(g % POOL_WORD) && to - g >= POOL_WORD && (!w || !~w)) {
			/* A whole word, free or used. */
			run = w ? 0 : run + POOL_WORD;
			g += POOL_WORD;
		} else if (pool_used(p, g++)) {
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
 * Return: the address of the room, or -1 if there is none now.
 */
int64_t eng_pool_alloc(struct eng_pool *p, uint64_t len)
{
	uint64_t n = (len + ENG_POOL_GRANULE - 1) / ENG_POOL_GRANULE;
	int64_t g;

	if (!len || n > p->ngran)
		return -1;
	g = pool_fit(p, p->next, p->ngran, n);
	/* Then from the start: runs that end by the time the first began. */
	if (g < 0)
		g = pool_fit(p, 0, p->next + n - 1 < p->ngran ?
				   p->next + n - 1 : p->ngran, n);
	if (g < 0)
		return -1;
	pool_mark(p, g, n, true);
	p->next = g + n < p->ngran ? g + n : 0;
	return p->off + (uint64_t)g * ENG_POOL_GRANULE;
}

/**
 * eng_pool_free() - give back what eng_pool_alloc() returned
 * @p: the pool
 * @off: the address it returned
 * @len: the length it was asked for
 */
void eng_pool_free(struct eng_pool *p, uint64_t off, uint64_t len)
{
	uint64_t n = (len + ENG_POOL_GRANULE - 1) / ENG_POOL_GRANULE;

	pool_mark(p, (off - p->off) / ENG_POOL_GRANULE, n, false);
}

/**
 * eng_pool_empty() - whether every granule is free
 * @p: the pool
 *
 * Return: true if nothing is allocated.
 */
bool eng_pool_empty(const struct eng_pool *p)
{
	uint32_t i;

	for (i = 0; i < (p->ngran + POOL_WORD - 1) / POOL_WORD; i++)
		if (p->used[i])
			return false;
	return true;
}
