// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_host: the devices whose data goes through the link's engine.
 *
 * An engine slot's rings and buffers lie in board memory, which the host
 * never maps.  The engine (tools/iobond/engine/, the emulated IO-Bond's
 * DMA engine) relays each of its queues to a shadow ring that the host
 * lays out in the slot's zone of the window, and the backends serve the
 * shadow rings as they serve a bounced device's rings: d->vring[] holds
 * the shadow's window offsets.  The board kicks the engine, which kicks
 * the host; the host's calls go to the engine, which interrupts the board.
 *
 * The host starts and stops the engine's queues through the slot's
 * mailbox (struct iobond_engine_mbox), and waits for the engine's answer
 * before it answers the board: a queue is enabled once the engine relays
 * it, and a reset is answered only once the engine has let go of the
 * board's memory.  The engine checks everything itself; what it answers
 * is only ever taken as 0 or an error.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/errno.h>
#include <linux/jiffies.h>

#include "board.h"

/* The shadow's parts, aligned well beyond what virtio asks. */
#define IBH_SHADOW_ALIGN	4096
/* The slot names shadow parts in 32 bits: a bigger zone is used that far. */
#define IBH_SHADOW_SPAN		(SZ_4G - IBH_SHADOW_ALIGN)
/*
 * Each zone's first page is left out: zone 0's is the window's first page,
 * which nothing hands out, so that a stray write at window offset 0 (the
 * ioctl fuzzer makes them on purpose) reaches no ring.
 */
#define IBH_SHADOW_BASE		IBH_SHADOW_ALIGN

/* Bytes of one shadow ring of @size, its used ring cache-line aligned. */
static u64 ibh_shadow_ring_bytes(u32 size)
{
	return ALIGN(ALIGN(16ULL * size + 6 + 2ULL * size, 64) + 6 +
		     8ULL * size, IBH_SHADOW_ALIGN);
}

/**
 * ibh_shadow_pool_size() - each queue's share of an engine slot's zone
 * @b: the board
 * @num_queues: the device's queues
 * @queue_size: their largest size
 *
 * The zone holds, past its first page, one shadow ring of @queue_size per
 * queue, then one pool per queue, all of a size.
 *
 * Return: the bytes of each pool, or 0 if the zone holds no rings.
 */
u64 ibh_shadow_pool_size(struct ibh_board *b, u32 num_queues, u32 queue_size)
{
	u64 rings = IBH_SHADOW_BASE +
		    num_queues * ibh_shadow_ring_bytes(queue_size);
	u64 span = min_t(u64, b->zone_size, IBH_SHADOW_SPAN);

	if (span <= rings)
		return 0;
	return ALIGN_DOWN(div_u64(span - rings, num_queues), IBH_SHADOW_ALIGN);
}

/*
 * Ask the engine, and wait for its answer.  Under the board's lock, as
 * every change of the slot is: one request at a time.  The sequence
 * number is the board's, so a slot published anew never repeats one the
 * engine answered for it before.
 */
static int ibh_engine_ask(struct ibh_board *b, unsigned int index, u32 op,
			  u32 arg, u32 gen)
{
	struct iobond_engine_mbox *m = &iobond_link_slot(b->link, index)->eng;
	unsigned long until;
	u32 seq, result;

	lockdep_assert_held(&b->lock);
	if (iobond_link_engine_id(b->link, IOBOND_CTRL_VECTOR) < 0)
		return -ENXIO;
	if (!++b->eng_seq)
		++b->eng_seq;
	seq = b->eng_seq;
	wr32(m->req_op, op);
	wr32(m->req_arg, arg);
	wr32(m->req_gen, gen);
	/* The request is whole before its number says it is new. */
	wmb();
	wr32(m->req_seq, seq);
	iobond_link_ring_engine(b->link, IOBOND_CTRL_VECTOR);
	until = jiffies + msecs_to_jiffies(IOBOND_ENGINE_MS);
	for (;;) {
		if (rd32(m->ack_seq) == seq)
			break;
		if (time_after(jiffies, until))
			return -ETIMEDOUT;
		usleep_range(50, 200);
	}
	/* The result was written before the answer's number. */
	rmb();
	result = rd32(m->ack_result);
	/* Only 0 or an error: the engine says nothing the host acts on. */
	return result ? -EIO : 0;
}

/**
 * ibh_engine_queue() - lay out queue @q's shadow and have the engine relay it
 * @b: the board, locked
 * @index: an engine slot
 * @q: the queue, which the board set up, checked
 * @gen: the board's req_gen of its request for it
 *
 * The shadow ring has the largest size the device allows, whatever the
 * board chose: the engine flattens an indirect chain into it, and a chain
 * may have as many descriptors as the device's largest ring.
 *
 * Return: 0 with d->vring[q] pointing at the shadow (its size is
 * d->queue_size), or a negative errno with a dev_err.
 */
int ibh_engine_queue(struct ibh_board *b, unsigned int index, unsigned int q,
		     u32 gen)
{
	struct iobond_shadow *sh = &iobond_link_slot(b->link, index)->shadow[q];
	struct ibh_dev *d = &b->devs[index];
	u32 size = d->queue_size;
	u64 ring = IBH_SHADOW_BASE + q * ibh_shadow_ring_bytes(size);
	u64 pool = ibh_shadow_pool_size(b, d->num_queues, size);
	u64 zone = index * b->zone_size;
	u64 used = ring + ALIGN(16ULL * size + 6 + 2ULL * size, 64);
	u64 pool_off = IBH_SHADOW_BASE +
		       d->num_queues * ibh_shadow_ring_bytes(size) + q * pool;
	int ret;

	wr32(sh->desc, ring);
	wr32(sh->avail, ring + 16ULL * size);
	wr32(sh->used, used);
	wr32(sh->pool, pool_off);
	wr32(sh->pool_size, pool);
	wr16(sh->size, size);
	/* Even unanswered, the start may have reached the engine. */
	__set_bit(index, &b->eng_live);
	ret = ibh_engine_ask(b, index, IOBOND_ENG_START, q, gen);
	if (ret) {
		dev_err_ratelimited(&b->dev, "dev%u: the engine did not start queue %u: %d\n",
				    index, q, ret);
		return ret;
	}
	d->vring[q].desc = zone + ring;
	d->vring[q].avail = zone + ring + 16ULL * size;
	WRITE_ONCE(d->vring[q].used, zone + used);
	return 0;
}

/**
 * ibh_engine_stop() - have the engine let go of a slot's queues
 * @b: the board, locked
 * @index: the slot
 *
 * Before the board hears that its device was reset or is gone.  The
 * board's transport stops the engine itself before it resets a device
 * (reset_seq), so this is for what the host takes away on its own: a
 * removed device, a stopped board.  An engine that does not answer is
 * named, and asked again next time, whatever device the slot holds by
 * then.
 */
void ibh_engine_stop(struct ibh_board *b, unsigned int index)
{
	int ret;

	if (!test_bit(index, &b->eng_live))
		return;
	ret = ibh_engine_ask(b, index, IOBOND_ENG_STOP, 0, 0);
	/* No engine on the link runs no queue. */
	if (!ret || ret == -ENXIO)
		__clear_bit(index, &b->eng_live);
	else
		dev_err_ratelimited(&b->dev, "dev%u: the engine did not stop its queues: %d\n",
				    index, ret);
}
