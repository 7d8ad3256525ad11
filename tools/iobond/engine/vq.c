// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-engine: one queue's relay between the board's ring and its shadow.
 *
 * The engine is the device of the board's ring and the driver of the
 * shadow ring.  A chain the board makes available becomes a chain of the
 * shadow ring with as many descriptors, whose buffers lie one after the
 * other in one run of the queue's pool; what the driver wrote is copied
 * there first.  When the host uses the shadow chain, what it wrote is
 * copied back to the board's device-writable buffers, and the board's
 * chain is used with the host's length, cut to those buffers.  A device
 * that reports exactly what it wrote (exact_len: vhost-net) gets that
 * many bytes copied back.  Virtio lets any other write more than it
 * reports (a disk backend reports 1 for a failed request, whose status
 * byte is the chain's last), so its writable buffers are zeroed in the
 * pool first and come back whole: what the device did not write reads as
 * zeroes, never as another request's data.  (swiotlb, which had that leak
 * in CVE-2022-0854, copies the original buffer in instead; zeroes cost the
 * engine no read of board memory.)
 *
 * Shadow descriptors are handed out from a free list kept in the engine's
 * memory, as virtio_ring.c does: a chain's descriptors are the first ones
 * of the list, linked in list order, and go back to its head together.
 * Of the shadow ring the engine reads back only what a device writes (the
 * used ring, its flags and avail_event): the host can change the rest at
 * will, and nothing the engine needs is kept there.  (eng_vq_show() reads
 * the rest too, for the log only.)
 *
 * A board whose ring or chain breaks the rules stops its queue with
 * ENG_BOARD_FAULT: the engine touches nothing more for it until the queue
 * is started again.  A host that completes a chain it does not hold puts
 * it in ENG_HOST_FAULT: the engine never reads the shadow ring again, and
 * fails the board's chains, those the host held and those the board makes
 * available from then on (fail()), so that the board's driver sees errors
 * and never waits for ever on a mainboard that broke.  (A NIC's receive
 * buffers the board adds then stay the board's: fail_chains().)
 *
 * Reading once: ring indices and entries are atomic loads; a descriptor
 * or a used entry is copied whole, then a compiler barrier keeps the
 * compiler from reading the other side's memory again for a field of the
 * copy (fetch()).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define ENG_MAX_RING	32768
/*
 * Passes of a relay while the other side keeps adding; then it returns
 * ENG_AGAIN, for its caller to run it again after other queues' turns.
 */
#define ENG_MAX_PASSES	4

#ifdef ENG_TEST_HOOKS
void (*eng_test_before_rearm)(void);
#endif

static uint16_t load16(const void *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE));
}

static void store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELEASE);
}

/* Copy @n bytes of the other side's memory into @dst, once. */
static void fetch(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* avail->ring[size] and used->ring[size]: EVENT_IDX's two fields. */
static void *used_event(const struct eng_ring *r)
{
	return &r->avail->ring[r->size];
}

static void *avail_event(const struct eng_ring *r)
{
	return &r->used->ring[r->size];
}

/* Whether moving an index from @old to @new crossed @event. */
static bool need_event(uint16_t event, uint16_t new, uint16_t old)
{
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

/*
 * Ask to hear when the other side's index passes @at, by writing our event
 * index @event; then say whether its index @idx moved past @seen already.
 */
static bool rearm(void *event, uint16_t at, const void *idx, uint16_t seen)
{
#ifdef ENG_TEST_HOOKS
	/* engine_test: the other side moves just before the event index. */
	if (eng_test_before_rearm)
		eng_test_before_rearm();
#endif
	store16(event, at);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(idx) != seen;
}

/*
 * Publish index @new, moved from @old, at @idx; then say whether the other
 * side asked to hear of it: with EVENT_IDX (@event_idx), by its event
 * index @event; without, by its @flags lacking @quiet.
 */
static bool publish(bool event_idx, void *idx, uint16_t new, uint16_t old,
		    const void *event, const void *flags, uint16_t quiet)
{
	store16(idx, new);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (event_idx)
		return need_event(load16(event), new, old);
	return !(load16(flags) & quiet);
}

/* Stop on a fault of @who's; false, for the relays to return. */
static bool fault(struct eng_vq *vq, enum eng_state who, const char *why)
{
	vq->state = who;
	vq->why = why;
	/* A board fault may follow while its chains fail: keep both. */
	if (who == ENG_HOST_FAULT)
		vq->host_why = why;
	return false;
}

/* A board fault while following a chain: -1, for walk() to return. */
static int chain_fault(struct eng_vq *vq, const char *why)
{
	fault(vq, ENG_BOARD_FAULT, why);
	return -1;
}

/* Find @a's three parts in @s, each whole and aligned as virtio says. */
static int ring_map(struct eng_ring *r, const struct eng_space *s,
		    const struct eng_ring_addr *a)
{
	uint64_t n = a->size;

	if (!n || n > ENG_MAX_RING || (n & (n - 1)))
		return -EINVAL;
	if (a->desc % 16 || a->avail % 2 || a->used % 4)
		return -EINVAL;
	r->size = n;
	r->desc = eng_ptr(s, a->desc, 16 * n);
	r->avail = eng_ptr(s, a->avail, 6 + 2 * n);
	r->used = eng_ptr(s, a->used, 6 + 8 * n);
	if (!r->desc || !r->avail || !r->used)
		return -EFAULT;
	/* The atomic loads need the mapping aligned as the addresses are. */
	if ((uintptr_t)r->desc % 16 || (uintptr_t)r->avail % 2 ||
	    (uintptr_t)r->used % 4)
		return -EINVAL;
	return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/**
 * eng_vq_start() - start relaying a queue
 * @vq: the queue: stopped, or zeroed before its first start
 * @board: the board's memory
 * @window: the link's window
 * @cfg: where the rings and the pool are, and what was negotiated
 *
 * The shadow ring is zeroed: the engine is the shadow's driver, and
 * starts it.  The pool is not: every byte of it a chain hands the host is
 * first written by the engine (a copy, or zeroes).  The shadow ring is no smaller than the board's,
 * so that every chain a driver may make fits; the pool must hold the
 * largest chain the board's device allows (a larger one is a fault).
 *
 * The host's backend must have forgotten the queue (vhost: its ring base
 * set to 0 again), or a completion it kept would name a new chain.
 *
 * Return: 0; -EBUSY unless @vq is stopped, and then it is left as it was;
 * -EINVAL for a ring size or alignment virtio does not allow (of the
 * address, or of its mapping), a shadow smaller than the board's ring, or
 * a pool not 64-byte aligned or of no granule; -EFAULT for a ring or a
 * pool outside its memory, or a pool over a shadow ring; or -ENOMEM.
 * After any error but -EBUSY the queue is stopped.
 */
int eng_vq_start(struct eng_vq *vq, const struct eng_space *board,
		 const struct eng_space *window,
		 const struct eng_vq_config *cfg)
{
	const struct eng_ring_addr *s = &cfg->shadow;
	uint64_t n = s->size;
	unsigned int i;
	int ret;

	/* A queue that faulted still holds its records: stop it first. */
	if (vq->state != ENG_STOPPED || vq->s_next)
		return -EBUSY;
	memset(vq, 0, sizeof(*vq));
	vq->board = board;
	vq->window = window;
	ret = ring_map(&vq->b, board, &cfg->board);
	if (!ret)
		ret = ring_map(&vq->s, window, s);
	if (ret)
		return ret;
	if (cfg->board.size > n)
		return -EINVAL;
	if (!eng_ptr(window, cfg->pool_off, cfg->pool_size) ||
	    overlaps(cfg->pool_off, cfg->pool_size, s->desc, 16 * n) ||
	    overlaps(cfg->pool_off, cfg->pool_size, s->avail, 6 + 2 * n) ||
	    overlaps(cfg->pool_off, cfg->pool_size, s->used, 6 + 8 * n))
		return -EFAULT;
	ret = eng_pool_init(&vq->pool, cfg->pool_off, cfg->pool_size);
	if (ret)
		return ret;
	vq->s_next = calloc(n, sizeof(*vq->s_next));
	vq->seg = calloc(n, sizeof(*vq->seg));
	vq->chain = calloc(n, sizeof(*vq->chain));
	if (!vq->s_next || !vq->seg || !vq->chain) {
		eng_vq_stop(vq);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		vq->s_next[i] = i + 1;
	vq->s_nfree = n;
	vq->max_chain = vq->pool.size;
	vq->board_event_idx = cfg->board_event_idx;
	vq->shadow_event_idx = cfg->shadow_event_idx;
	vq->indirect = cfg->indirect;
	vq->exact_len = cfg->exact_len;
	vq->fail_status = cfg->fail_status;
	vq->quiet = cfg->quiet;
	memset(vq->s.desc, 0, 16 * n);
	memset(vq->s.avail, 0, 6 + 2 * n);
	memset(vq->s.used, 0, 6 + 8 * n);
	vq->state = ENG_RUNNING;
	return 0;
}

/**
 * eng_vq_stop() - stop relaying, and forget every chain in flight
 * @vq: the queue
 *
 * Nothing is copied back: the board reset the device, or is gone, and
 * its buffers may be another's by now.
 */
void eng_vq_stop(struct eng_vq *vq)
{
	free(vq->s_next);
	free(vq->seg);
	free(vq->chain);
	eng_pool_exit(&vq->pool);
	memset(vq, 0, sizeof(*vq));
}

/**
 * eng_vq_unquiet() - ask the board for kicks again, until a completion
 * @vq: a quiet queue whose host went silent (eng_vq_relay_avail() said
 *	ENG_QUIET, and nothing came back since)
 *
 * The next eng_vq_relay_avail() rearms the board's avail_event, so that a
 * chain the board adds behind a slow one goes at once, with no polling;
 * the queue goes quiet again at the host's next completion.
 */
void eng_vq_unquiet(struct eng_vq *vq)
{
	vq->loud = true;
	vq->st.unquiet++;
}

/**
 * eng_vq_inflight() - chains the host holds
 * @vq: the queue
 *
 * Return: how many.
 */
unsigned int eng_vq_inflight(const struct eng_vq *vq)
{
	return (uint16_t)(vq->s_avail - vq->s_last_used);
}

/*
 * Follow the board's chain at @head into shadow descriptors taken from
 * the free list, without taking them yet.  Return the number of buffers
 * and their total in @total; 0 if the shadow ring has no room for them;
 * -1 on a fault.
 */
static int walk(struct eng_vq *vq, uint16_t head, uint64_t *total)
{
	const uint8_t *table = (const uint8_t *)vq->b.desc;
	uint32_t tsize = vq->b.size, steps = 0;
	uint16_t i = head, pos = vq->s_free;
	bool indirect = false, writing = false;
	unsigned int n = 0;

	*total = 0;
	for (;;) {
		struct vring_desc d;
		uint16_t flags;
		uint32_t len;
		uint64_t addr;

		if (i >= tsize)
			return chain_fault(vq, "a descriptor index past its table");
		fetch(&d, table + i * sizeof(d), sizeof(d));
		flags = le16toh(d.flags);
		len = le32toh(d.len);
		addr = le64toh(d.addr);
		if (flags & VRING_DESC_F_INDIRECT) {
			/* A chain's last, as virtio allows; never in a table. */
			if (!vq->indirect || indirect ||
			    (flags & VRING_DESC_F_NEXT))
				return chain_fault(vq, "an indirect descriptor where none may be");
			if (!len || len % sizeof(d) ||
			    len / sizeof(d) > ENG_MAX_RING)
				return chain_fault(vq, "an indirect table of a bad length");
			table = eng_ptr(vq->board, addr, len);
			if (!table)
				return chain_fault(vq,
						   "an indirect table outside the board's memory");
			tsize = len / sizeof(d);
			indirect = true;
			steps = 0;
			i = 0;
			continue;
		}
		/* A chain is no longer than its table: anything longer loops. */
		if (++steps > tsize)
			return chain_fault(vq, "a chain that loops");
		if (!eng_ptr(vq->board, addr, len))
			return chain_fault(vq, "a buffer outside the board's memory");
		if (flags & VRING_DESC_F_WRITE)
			writing = true;
		else if (writing)
			return chain_fault(vq, "a readable buffer after a writable one");
		*total += len;
		if (*total > vq->max_chain)
			return chain_fault(vq, "a chain larger than its queue's buffers");
		/* Never room for more than the shadow ring holds. */
		if (n == vq->s.size)
			return chain_fault(vq, "a chain longer than the host's ring");
		if (n == vq->s_nfree)
			return 0;
		vq->seg[pos] = (struct eng_seg){
			.addr = addr, .len = len, .write = writing,
		};
		pos = vq->s_next[pos];
		n++;
		if (!(flags & VRING_DESC_F_NEXT))
			return n;
		i = le16toh(d.next);
	}
}

/* Give shadow chain @id, ending at descriptor @last, back to the free list. */
static void give_back(struct eng_vq *vq, uint16_t id, uint16_t last)
{
	struct eng_chain *c = &vq->chain[id];

	vq->s_next[last] = vq->s_free;
	vq->s_free = id;
	vq->s_nfree += c->nseg;
	eng_pool_free(&vq->pool, c->off, c->len ? c->len : 1);
	c->busy = false;
	vq->stalled = false;
}

/*
 * Use the board's chain @head, whose @n buffers are recorded from shadow
 * descriptor @pos on, as failed: with fail_status its last writable byte
 * becomes 1 (VIRTIO_BLK_S_IOERR) and the length 1, otherwise the length
 * is 0.  Nothing of the host's comes back.  Return @head's last shadow
 * descriptor.
 */
static uint16_t fail(struct eng_vq *vq, uint16_t head, uint16_t pos,
		     unsigned int n)
{
	const struct eng_seg *status = NULL;
	struct vring_used_elem *e;
	uint16_t last = pos;
	unsigned int k;

	for (k = 0; k < n; k++) {
		if (vq->seg[pos].write && vq->seg[pos].len)
			status = &vq->seg[pos];
		last = pos;
		pos = vq->s_next[pos];
	}
	if (!vq->fail_status)
		status = NULL;
	if (status)
		*(uint8_t *)eng_ptr(vq->board, status->addr + status->len - 1, 1) = 1;
	e = &vq->b.used->ring[vq->b_used & (vq->b.size - 1)];
	e->id = htole32(head);
	e->len = htole32(status ? 1 : 0);
	vq->b_used++;
	vq->st.failed++;
	return last;
}

/*
 * The board's available index, read once; false, a board fault, if it is
 * more than a ring ahead of (or behind) what the engine took.
 */
static bool board_avail(struct eng_vq *vq, uint16_t *idx)
{
	*idx = load16(&vq->b.avail->idx);
	if ((uint16_t)(*idx - vq->b_last_avail) <= vq->b.size)
		return true;
	return fault(vq, ENG_BOARD_FAULT, "an avail index beyond its ring");
}

/* The head of the board's next available chain, read once. */
static uint16_t board_head(const struct eng_vq *vq)
{
	return load16(&vq->b.avail->ring[vq->b_last_avail & (vq->b.size - 1)]);
}

/*
 * Relay the board's next available chain.  Return 1 if it went, 0 if
 * there is no room for it now, -1 on a fault.
 */
static int take(struct eng_vq *vq)
{
	uint16_t head, pos, last = 0;
	uint64_t total, cur = 0;
	int64_t off;
	int n, k;

	head = board_head(vq);
	n = walk(vq, head, &total);
	if (n <= 0)
		return n;
	off = eng_pool_alloc(&vq->pool, total ? total : 1);
	if (off < 0)
		return 0;
	pos = vq->s_free;
	for (k = 0; k < n; k++) {
		const struct eng_seg *sg = &vq->seg[pos];
		struct vring_desc *d = &vq->s.desc[pos];
		uint16_t flags = sg->write ? VRING_DESC_F_WRITE : 0;

		if (!sg->write) {
			memcpy(eng_ptr(vq->window, off + cur, sg->len),
			       eng_ptr(vq->board, sg->addr, sg->len), sg->len);
			vq->st.bytes_out += sg->len;
		} else if (!vq->exact_len) {
			memset(eng_ptr(vq->window, off + cur, sg->len), 0,
			       sg->len);
		}
		if (k < n - 1)
			flags |= VRING_DESC_F_NEXT;
		d->addr = htole64(off + cur);
		d->len = htole32(sg->len);
		d->flags = htole16(flags);
		d->next = htole16(vq->s_next[pos]);
		cur += sg->len;
		last = pos;
		pos = vq->s_next[pos];
	}
	vq->chain[vq->s_free] = (struct eng_chain){
		.busy = true, .head = head, .nseg = n, .off = off, .len = total,
	};
	vq->s.avail->ring[vq->s_avail & (vq->s.size - 1)] = htole16(vq->s_free);
	vq->s_avail++;
	vq->s_free = vq->s_next[last];
	vq->s_nfree -= n;
	vq->b_last_avail++;
	vq->st.chains++;
	return 1;
}

/**
 * eng_vq_relay_avail() - relay every chain the board made available
 * @vq: the queue
 *
 * A chain that finds no room waits for a completion: the caller runs this
 * after every eng_vq_relay_used().  Until a completion comes it returns at
 * once, so that a board's kicks cannot make the engine walk the waiting
 * chain again and again.
 *
 * Return: ENG_RING if the host wants a kick; ENG_AGAIN if the board went
 * on adding while this relayed, and this must run again: no kick is owed
 * for what it added; ENG_QUIET if the board was not asked to kick (quiet,
 * while the host holds more than one chain).
 */
unsigned int eng_vq_relay_avail(struct eng_vq *vq)
{
	uint16_t old = vq->s_avail, idx;
	unsigned int pass, ret = 0;

	if (vq->state != ENG_RUNNING || vq->stalled)
		return 0;
	for (pass = 1; ; pass++) {
		if (!board_avail(vq, &idx))
			break;
		while (vq->b_last_avail != idx) {
			int n = take(vq);

			if (n < 0)
				break;
			if (!n) {
				vq->stalled = true;
				vq->st.stalls++;
				break;
			}
		}
		/* On a fault, what went before is still the host's to serve. */
		if (vq->state != ENG_RUNNING || vq->stalled || !vq->board_event_idx)
			break;
		/*
		 * Quiet: the host's next completion runs this again, so the
		 * board need not kick meanwhile.  Its avail_event stays behind
		 * its index, which then crosses it no more.  Not for one chain
		 * alone: a driver that waits for each completion before the
		 * next (queue depth 1) gains nothing and pays the kick's
		 * rearm after its interrupt, not before.
		 */
		if (vq->quiet && !vq->loud && eng_vq_inflight(vq) > 1) {
			ret |= ENG_QUIET;
			break;
		}
		/* Ask for a kick at the next chain; one may have come since. */
		if (!rearm(avail_event(&vq->b), vq->b_last_avail,
			   &vq->b.avail->idx, idx))
			break;
		if (pass == ENG_MAX_PASSES) {
			ret |= ENG_AGAIN;
			break;
		}
	}
	if (vq->s_avail != old &&
	    publish(vq->shadow_event_idx, &vq->s.avail->idx, vq->s_avail, old,
		    avail_event(&vq->s), &vq->s.used->flags,
		    VRING_USED_F_NO_NOTIFY)) {
		vq->st.host_kicks++;
		ret |= ENG_RING;
	}
	return ret;
}

/*
 * Copy back what the host wrote into shadow chain @id (see the top of
 * this file), and use the board's chain with @len, cut to its writable
 * buffers.
 */
static void complete(struct eng_vq *vq, uint16_t id, uint32_t len)
{
	const struct eng_chain *c = &vq->chain[id];
	uint64_t cur = 0, writable = 0, copy;
	struct vring_used_elem *e;
	uint16_t pos = id, last = id;
	unsigned int k;

	for (k = 0; k < c->nseg; k++) {
		const struct eng_seg *sg = &vq->seg[pos];

		if (sg->write) {
			copy = sg->len;
			if (vq->exact_len)
				copy = len > writable ? len - writable : 0;
			if (copy > sg->len)
				copy = sg->len;
			memcpy(eng_ptr(vq->board, sg->addr, copy),
			       eng_ptr(vq->window, c->off + cur, copy), copy);
			vq->st.bytes_in += copy;
			writable += sg->len;
		}
		cur += sg->len;
		last = pos;
		pos = vq->s_next[pos];
	}
	if (len > writable)
		len = writable;
	e = &vq->b.used->ring[vq->b_used & (vq->b.size - 1)];
	e->id = htole32(c->head);
	e->len = htole32(len);
	vq->b_used++;
	give_back(vq, id, last);
	vq->loud = false;
	vq->st.completions++;
}

/* Take every chain the host used; ENG_AGAIN if it kept completing. */
static unsigned int take_used(struct eng_vq *vq)
{
	unsigned int pass;
	uint16_t idx;

	for (pass = 1; ; pass++) {
		idx = load16(&vq->s.used->idx);
		if ((uint16_t)(idx - vq->s_last_used) > eng_vq_inflight(vq)) {
			fault(vq, ENG_HOST_FAULT, "a used index past what it holds");
			return 0;
		}
		while (vq->s_last_used != idx) {
			uint16_t at = vq->s_last_used & (vq->s.size - 1);
			struct vring_used_elem e;
			uint32_t id;

			fetch(&e, &vq->s.used->ring[at], sizeof(e));
			id = le32toh(e.id);
			if (id >= vq->s.size || !vq->chain[id].busy) {
				fault(vq, ENG_HOST_FAULT,
				      "a completion of a chain it does not hold");
				break;
			}
			complete(vq, id, le32toh(e.len));
			vq->s_last_used++;
		}
		/* On a fault, what was used before still goes to the board. */
		if (vq->state != ENG_RUNNING || !vq->shadow_event_idx)
			return 0;
		/* Ask for an interrupt at the next one; it may have come. */
		if (!rearm(used_event(&vq->s), vq->s_last_used,
			   &vq->s.used->idx, idx))
			return 0;
		if (pass == ENG_MAX_PASSES)
			return ENG_AGAIN;
	}
}

/*
 * After a host fault: fail every chain the host held, then every chain
 * the board made available, and ask for a kick at the next (the board's
 * kicks run eng_vq_relay_used() too).  Without fail_status (a NIC) a
 * chain that only takes bytes, a receive buffer, is left where it is, and
 * so is every chain after it.  ENG_AGAIN if the board kept adding.
 */
static unsigned int fail_chains(struct eng_vq *vq)
{
	unsigned int pass;
	uint16_t id, idx;

	if (vq->parked)
		return 0;
	if (eng_vq_inflight(vq)) {
		for (id = 0; id < vq->s.size; id++)
			if (vq->chain[id].busy)
				give_back(vq, id, fail(vq, vq->chain[id].head, id,
						       vq->chain[id].nseg));
		vq->s_last_used = vq->s_avail;
	}
	for (pass = 1; ; pass++) {
		if (!board_avail(vq, &idx))
			return 0;
		while (vq->b_last_avail != idx) {
			uint16_t head = board_head(vq);
			uint64_t total;
			int n = walk(vq, head, &total);

			if (n < 0)
				return 0;
			/* Every shadow descriptor is free: 0 cannot be. */
			if (!n) {
				fault(vq, ENG_BOARD_FAULT,
				      "none (an engine bug): no room to fail a chain");
				return 0;
			}
			/*
			 * A NIC's receive buffer stays the board's: failed, it
			 * would come back at once, and the board's refill with
			 * it, for ever.  A dead link does not take them either;
			 * and the board's kicks walk it no more (parked).
			 */
			if (!vq->fail_status && vq->seg[vq->s_free].write) {
				vq->parked = true;
				return 0;
			}
			fail(vq, head, vq->s_free, n);
			vq->b_last_avail++;
		}
		if (!vq->board_event_idx ||
		    !rearm(avail_event(&vq->b), vq->b_last_avail,
			   &vq->b.avail->idx, idx))
			return 0;
		if (pass == ENG_MAX_PASSES)
			return ENG_AGAIN;
	}
}

/**
 * eng_vq_relay_used() - relay every chain the host used back to the board
 * @vq: the queue
 *
 * After a host fault this fails the board's chains instead (see the top
 * of this file): the board's kicks must run it too.
 *
 * Return: ENG_RING if the board wants an interrupt; ENG_AGAIN if the host
 * went on completing (or, after a host fault, the board on adding) while
 * this relayed, and this must run again.  Either way eng_vq_relay_avail()
 * runs next: a waiting chain may fit now.
 */
unsigned int eng_vq_relay_used(struct eng_vq *vq)
{
	uint16_t old = vq->b_used;
	unsigned int ret = 0;

	if (vq->state == ENG_RUNNING)
		ret = take_used(vq);
	if (vq->state == ENG_HOST_FAULT)
		ret = fail_chains(vq);
	if (vq->b_used != old &&
	    publish(vq->board_event_idx, &vq->b.used->idx, vq->b_used, old,
		    used_event(&vq->b), &vq->b.avail->flags,
		    VRING_AVAIL_F_NO_INTERRUPT)) {
		vq->st.board_irqs++;
		ret |= ENG_RING;
	}
	return ret;
}

/*
 * What @r's two readers asked to hear: its event indices with EVENT_IDX
 * (@event_idx), its flags without.
 */
static void show_asked(const struct eng_ring *r, bool event_idx, char *buf,
		       size_t len)
{
	snprintf(buf, len, "%s %u %s %u",
		 event_idx ? "used_event" : "avail flags",
		 load16(event_idx ? used_event(r) : &r->avail->flags),
		 event_idx ? "avail_event" : "used flags",
		 load16(event_idx ? avail_event(r) : &r->used->flags));
}

/**
 * eng_vq_show() - where a queue's two rings stand, for the log
 * @vq: the queue
 * @buf: where to write it
 * @len: @buf's size
 *
 * For a running queue: the indices as the engine keeps them and as the
 * rings say now (read once here, for the log only), and what each reader
 * asked to hear (its event index with EVENT_IDX, its flags without).  A
 * lost doorbell shows as an index one side moved past the event index the
 * other asked for, and, in two dumps a while apart, nothing moving.  A
 * stopped queue's rings are not touched: they may be gone.
 */
void eng_vq_show(const struct eng_vq *vq, char *buf, size_t len)
{
	char b[48], s[48];

	if (vq->state == ENG_STOPPED) {
		snprintf(buf, len, "stopped");
		return;
	}
	if (vq->state == ENG_BOARD_FAULT) {
		snprintf(buf, len, "stopped by a board fault: %s%s%s", vq->why,
			 vq->host_why ? ", after a host fault: " : "",
			 vq->host_why ?: "");
		return;
	}
	if (vq->state == ENG_HOST_FAULT) {
		snprintf(buf, len, "failing the board's chains since a host fault (%s): %u taken, %u used%s",
			 vq->why, vq->b_last_avail, vq->b_used,
			 vq->parked ? ", its receive buffers left" : "");
		return;
	}
	show_asked(&vq->b, vq->board_event_idx, b, sizeof(b));
	show_asked(&vq->s, vq->shadow_event_idx, s, sizeof(s));
	snprintf(buf, len,
		 "board avail %u taken %u used %u %s; shadow avail %u/%u used %u taken %u %s; %u in flight%s",
		 load16(&vq->b.avail->idx), vq->b_last_avail, vq->b_used, b,
		 vq->s_avail, load16(&vq->s.avail->idx),
		 load16(&vq->s.used->idx), vq->s_last_used, s,
		 eng_vq_inflight(vq), vq->stalled ? ", stalled" : "");
}
