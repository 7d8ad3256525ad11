// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_host: what the host knows of a virtio-blk device.
 *
 * Its limits and config space, and the one time the kernel touches its
 * requests: when nothing serves them.  A virtio_blk driver has no timeout
 * of its own, so a request that no backend completes would hang the
 * board's I/O, and any later removal of the disk with it.  When a disk's
 * backend is gone, or none has come, for IOBOND_BLK_GRACE_MS, the kernel
 * completes every request the backend had taken (its inflight record) and
 * every one waiting in the driver ring with VIRTIO_BLK_S_IOERR, and sets
 * VIRTIO_CONFIG_S_NEEDS_RESET.  From then on it fails new requests at once,
 * until the board resets the device.
 *
 * A backend that holds the disk but neither took nor completed a request
 * for as long, while requests waited (stopped, or stuck), is as good as
 * gone: a clock of the same period cuts it off.  Its zone of the window is
 * revoked, so that it faults should it wake, and its requests fail as a
 * dead one's.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk_types.h>
#include <linux/cache.h>
#include <linux/log2.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "board.h"

/* Features a virtio-blk slot may offer beyond those it always has. */
#define IBH_BLK_OPTIONAL (BIT_ULL(VIRTIO_BLK_F_RO) |			\
			  BIT_ULL(VIRTIO_BLK_F_FLUSH) |			\
			  BIT_ULL(VIRTIO_BLK_F_MQ) |			\
			  BIT_ULL(VIRTIO_BLK_F_DISCARD) |		\
			  BIT_ULL(VIRTIO_BLK_F_WRITE_ZEROES))

/*
 * The board bounces each streaming mapping through the disk's zone of the
 * window, at most 64 KiB at once; a request may take half the zone.
 */
#define IBH_BLK_SIZE_MAX	SZ_64K

/* Passes over a ring the board keeps adding to, before coming back later. */
#define IBH_BLK_FAIL_PASSES	4

/**
 * ibh_blk_check() - check a virtio-blk device to be added; set its limits
 * @b: the board, locked
 * @add: the request; config.blk.size_max and seg_max are filled in
 *
 * Return: 0, -EINVAL, or -ENOSPC if the disk's zone cannot hold its rings
 * and a request, with a dev_err saying why.
 */
int ibh_blk_check(struct ibh_board *b, struct iobond_device_add *add)
{
	struct iobond_blk_config *blk = &add->config.blk;
	u64 seg_max, rings, free;

	if (add->features & ~IBH_BLK_OPTIONAL) {
		dev_err(&b->dev, "blk: features %#llx are not offered\n",
			add->features & ~IBH_BLK_OPTIONAL);
		return -EINVAL;
	}
	if (add->num_queues > 1 && !(add->features & BIT_ULL(VIRTIO_BLK_F_MQ))) {
		dev_err(&b->dev, "blk: %u queues need VIRTIO_BLK_F_MQ\n",
			add->num_queues);
		return -EINVAL;
	}
	if (add->queue_size < 4 || add->queue_size > IOBOND_BLK_QUEUE_MAX) {
		dev_err(&b->dev, "blk: queue size %u: 4 to %u\n",
			add->queue_size, IOBOND_BLK_QUEUE_MAX);
		return -EINVAL;
	}
	if (blk->blk_size < SECTOR_SIZE || blk->blk_size > SZ_4K ||
	    !is_power_of_2(blk->blk_size) || blk->physical_block_exp > 3) {
		dev_err(&b->dev, "blk: block size %u (2^%u per physical block): a power of two, 512 to 4096, and 2^0 to 2^3\n",
			blk->blk_size, blk->physical_block_exp);
		return -EINVAL;
	}
	if (!blk->capacity || blk->capacity > (U64_MAX >> SECTOR_SHIFT) ||
	    (blk->capacity << SECTOR_SHIFT) % blk->blk_size) {
		dev_err(&b->dev, "blk: capacity %llu sectors is no whole number of %u-byte blocks\n",
			blk->capacity, blk->blk_size);
		return -EINVAL;
	}
	if (memchr_inv(blk->reserved0, 0, sizeof(blk->reserved0)) ||
	    memchr_inv(blk->reserved, 0, sizeof(blk->reserved)) ||
	    blk->size_max || blk->seg_max) {
		dev_err(&b->dev, "blk: reserved and output fields must be zero\n");
		return -EINVAL;
	}
	/*
	 * The board makes the disk's rings in its zone (and zone 0 also
	 * holds the header page); what is left is @free.  A request and its
	 * header and status fit the ring, unchained, and its bounce buffers
	 * half of @free: a request the board could not bounce would be
	 * requeued for ever.  Small zones take smaller segments.  (No zone
	 * at all is refused with ENOSPC once the input is checked.)
	 */
	rings = PAGE_SIZE + add->num_queues *
		PAGE_ALIGN(vring_size(add->queue_size, SMP_CACHE_BYTES));
	free = b->zone_size > rings ? b->zone_size - rings : 0;
	/* Through the engine, a request fits its queue's pool (engine.c). */
	if (add->flags & IOBOND_ADD_ENGINE)
		free = ibh_shadow_pool_size(b, add->num_queues,
					    add->queue_size);
	if (b->zone_size && free < 4 * PAGE_SIZE) {
		dev_err(&b->dev, "blk: a %llu-byte zone cannot hold %u rings of %u and their requests\n",
			b->zone_size, add->num_queues, add->queue_size);
		return -ENOSPC;
	}
	blk->size_max = min_t(u64, IBH_BLK_SIZE_MAX,
			      rounddown_pow_of_two(max_t(u64, free / 4, PAGE_SIZE)));
	seg_max = free / 2 / blk->size_max;
	blk->seg_max = clamp_t(u64, seg_max, 1, add->queue_size - 2);
	return 0;
}

/**
 * ibh_blk_write_config() - a disk's config space, little-endian
 * @d: the device
 * @config: the slot's config bytes
 */
void ibh_blk_write_config(struct ibh_dev *d, u8 *config)
{
	struct virtio_blk_config cfg = { };
	u32 sectors = d->blk.blk_size >> SECTOR_SHIFT;

	cfg.capacity = vle64(d->blk.capacity);
	cfg.size_max = vle32(d->blk.size_max);
	cfg.seg_max = vle32(d->blk.seg_max);
	cfg.blk_size = vle32(d->blk.blk_size);
	cfg.physical_block_exp = d->blk.physical_block_exp;
	cfg.num_queues = vle16(d->num_queues);
	cfg.max_discard_sectors = vle32(d->blk.max_discard_sectors);
	cfg.max_discard_seg = vle32(1);
	cfg.discard_sector_alignment = vle32(sectors);
	cfg.max_write_zeroes_sectors = vle32(d->blk.max_write_zeroes_sectors);
	cfg.max_write_zeroes_seg = vle32(1);
	cfg.write_zeroes_may_unmap = 1;
	memcpy(config, &cfg, sizeof(cfg));
}

/**
 * ibh_inflight() - the inflight record of a device's queue
 * @b: the board
 * @index: the slot
 * @q: the queue
 */
struct iobond_inflight *ibh_inflight(struct ibh_board *b, unsigned int index,
				     unsigned int q)
{
	return b->inflight + (index * IOBOND_MAX_QUEUES + q) *
	       IOBOND_INFLIGHT_STRIDE;
}

/*
 * Write VIRTIO_BLK_S_IOERR into request @head's status byte: the last
 * byte of its chain's last descriptor.  Every index and address is the
 * board's and checked; a chain that cannot be followed completes without
 * a status, which is the board's own doing.  Each descriptor read costs
 * one of @budget: honest chains share none, so a pass over the ring needs
 * at most its size, while chains that loop or overlap would cost a
 * board-chosen multiple of it, with the board's lock held.
 */
static void ibh_blk_fail_one(struct ibh_board *b, unsigned int index,
			     unsigned int q, u16 head, u32 *budget)
{
	struct ibh_dev *d = &b->devs[index];
	void *win = iobond_link_window(b->link);
	struct vring_desc *desc = win + d->vring[q].desc;
	u32 size = d->vring[q].size, len = 0;
	/* No request of ours is longer: a looping chain costs no more. */
	u32 most = min_t(u32, size, d->blk.seg_max + 2);
	u16 i = head, flags = 0;
	u64 addr = 0;
	u32 n;

	for (n = 0; n < most; n++) {
		if (i >= size || !*budget)
			return;
		(*budget)--;
		addr = vrd64(desc[i].addr);
		len = vrd32(desc[i].len);
		flags = vrd16(desc[i].flags);
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		i = vrd16(desc[i].next);
	}
	if (n == most || (flags & (VRING_DESC_F_WRITE | VRING_DESC_F_INDIRECT))
	    != VRING_DESC_F_WRITE || !len || !ibh_in_zone(b, index, addr, len, 1))
		return;
	WRITE_ONCE(*(u8 *)(win + addr + len - 1), VIRTIO_BLK_S_IOERR);
}

/* Fail every request of queue @q nothing completed; return how many. */
static unsigned int ibh_blk_fail_pass(struct ibh_board *b, unsigned int index,
				      unsigned int q)
{
	struct ibh_dev *d = &b->devs[index];
	struct iobond_inflight *r = ibh_inflight(b, index, q);
	void *win = iobond_link_window(b->link);
	struct vring_avail *avail = win + d->vring[q].avail;
	struct vring_used *used = win + d->vring[q].used;
	u32 size = d->vring[q].size, mask = size - 1, n, failed = 0;
	u32 budget = size;
	u16 i, head, uidx, aidx;

	uidx = vrd16(used->idx);
	aidx = vrd16(avail->idx);
	/* The ring entries are read after the indices that cover them. */
	rmb();
	/* Completed by the backend, not yet cleared from its record. */
	for (n = 0, i = READ_ONCE(r->used_idx); i != uidx && n < size; i++, n++) {
		u32 id = vrd32(used->ring[i & mask].id);

		if (id < size)
			WRITE_ONCE(r->head[id], 0);
	}
	/* Waiting in the driver ring, not taken. */
	for (n = 0, i = READ_ONCE(r->last_avail); i != aidx && n < size; i++, n++) {
		head = vrd16(avail->ring[i & mask]);
		if (head < size)
			WRITE_ONCE(r->head[head], 1);
	}
	for (head = 0; head < size; head++) {
		if (!READ_ONCE(r->head[head]))
			continue;
		ibh_blk_fail_one(b, index, q, head, &budget);
		WRITE_ONCE(used->ring[uidx & mask].id, vle32(head));
		WRITE_ONCE(used->ring[uidx & mask].len, vle32(1));
		uidx++;
		WRITE_ONCE(r->head[head], 0);
		failed++;
	}
	/* The entries are in place before the index that publishes them. */
	wmb();
	WRITE_ONCE(used->idx, vle16(uidx));
	WRITE_ONCE(r->last_avail, aidx);
	WRITE_ONCE(r->used_idx, uidx);
	/*
	 * Ask for a kick at the next request: EVENT_IDX's avail_event (just
	 * past the used ring; queue enable checked it is in the zone), and
	 * no NO_NOTIFY flag.  A dead backend's values would let the board
	 * add requests without one, and nothing would fail them: they would
	 * hang for ever.
	 */
	WRITE_ONCE(used->flags, 0);
	WRITE_ONCE(*(__virtio16 *)&used->ring[size], vle16(aidx));
	return failed;
}

/*
 * A request the board added while the event was stale came without a
 * kick: after asking for one, look again, until the ring holds still.  A
 * board that adds as fast as we fail gets the work back a jiffy later,
 * not a loop.
 */
static unsigned int ibh_blk_fail_queue(struct ibh_board *b, unsigned int index,
				       unsigned int q)
{
	struct ibh_dev *d = &b->devs[index];
	struct vring_avail *avail = iobond_link_window(b->link) + d->vring[q].avail;
	struct iobond_inflight *r = ibh_inflight(b, index, q);
	unsigned int failed = 0, pass;

	for (pass = 0; pass < IBH_BLK_FAIL_PASSES; pass++) {
		failed += ibh_blk_fail_pass(b, index, q);
		/* The event is visible before the index is read again. */
		mb();
		if (vrd16(avail->idx) == READ_ONCE(r->last_avail))
			return failed;
	}
	mod_delayed_work(system_wq, &b->orphan_work, 1);
	return failed;
}

/**
 * ibh_blk_served() - a backend serves the disk in slot @index
 * @b: the board, locked
 * @index: the slot
 */
bool ibh_blk_served(struct ibh_board *b, unsigned int index)
{
	struct ibh_dev *d = &b->devs[index];

	return !(d->device_status & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	       !d->cut_off &&
	       (ibh_vfio_open(b, index) || ibh_vhost_claimed(d));
}

/**
 * ibh_blk_backend_left() - disk @index's backend went away; its grace begins
 * @b: the board, locked
 * @index: the slot
 *
 * A backend that comes back within IOBOND_BLK_GRACE_MS takes over what
 * this one took; until then the kernel leaves the disk's requests alone.
 * One that was cut off lets go here.
 */
void ibh_blk_backend_left(struct ibh_board *b, unsigned int index)
{
	struct ibh_dev *d = &b->devs[index];
	unsigned long grace = msecs_to_jiffies(IOBOND_BLK_GRACE_MS);

	lockdep_assert_held(&b->lock);
	if (d->type != IOBOND_DEV_BLK)
		return;
	d->cut_off = false;
	WRITE_ONCE(d->orphan_since, jiffies ?: 1);
	/* Queued earlier, the work finds the grace running and comes back. */
	queue_delayed_work(system_wq, &b->orphan_work, grace);
}

/**
 * ibh_blk_leave() - fail every request of a disk that is leaving
 * @b: the board, locked, running
 * @index: the slot, a disk with DRIVER_OK, its backend detached
 *
 * The driver's remove waits for every request it has out, and 6.1's
 * virtio_blk has no timeout: a disk taken away at once, its queues
 * broken, would hang the board's removal for ever.  So a removed disk
 * leaves (IOBOND_SLOT_LEAVING), and from now on every request fails with
 * IOERR, those in flight first.  NEEDS_RESET, the host's own status here,
 * makes the orphan work fail them at once; the board's driver hears
 * nothing of it.  No clock ends it: a slow board that is still removing
 * the disk must see every request end, or its removal hangs.
 */
void ibh_blk_leave(struct ibh_board *b, unsigned int index)
{
	struct ibh_dev *d = &b->devs[index];

	lockdep_assert_held(&b->lock);
	/* The doorbell reads it without the lock. */
	WRITE_ONCE(d->device_status,
		   d->device_status | VIRTIO_CONFIG_S_NEEDS_RESET);
	d->leaving = true;
	mod_delayed_work(system_wq, &b->orphan_work, 0);
}

/*
 * Queued IOBOND_BLK_GRACE_MS after a kick nothing took or a backend left,
 * at once while a device needs a reset.  A disk is failed a grace period
 * after the first of those, not before, whenever the work runs.
 */
void ibh_blk_orphan_work(struct work_struct *work)
{
	struct ibh_board *b = container_of(to_delayed_work(work),
					   struct ibh_board, orphan_work);
	unsigned long grace = msecs_to_jiffies(IOBOND_BLK_GRACE_MS);
	unsigned long again = 0, end;
	unsigned int i, q, n, failed;

	mutex_lock(&b->lock);
	for (i = 0; i < IOBOND_MAX_DEVICES && b->running && !b->gone; i++) {
		struct ibh_dev *d = &b->devs[i];

		if (d->type != IOBOND_DEV_BLK)
			continue;
		/* No driver, or a backend: no request waits in vain. */
		if (!(d->status & VIRTIO_CONFIG_S_DRIVER_OK) ||
		    ibh_blk_served(b, i)) {
			WRITE_ONCE(d->orphan_since, 0);
			continue;
		}
		/* Nothing serves it, since not long ago: one may yet come. */
		cmpxchg(&d->orphan_since, 0, jiffies ?: 1);
		end = READ_ONCE(d->orphan_since) + grace;
		if (!(d->device_status & VIRTIO_CONFIG_S_NEEDS_RESET) &&
		    time_before(jiffies, end)) {
			if (!again || time_before(end, again))
				again = end;
			continue;
		}
		failed = 0;
		for (q = 0; q < d->num_queues; q++) {
			if (!(d->queues_enabled & BIT(q)))
				continue;
			n = ibh_blk_fail_queue(b, i, q);
			if (n)
				ibh_dev_interrupt(b, d, q);
			failed += n;
			/* A hostile board's rings cost work: share the CPU. */
			cond_resched();
		}
		/* Nothing waited: the next request's grace starts anew. */
		if (!failed && !(d->device_status & VIRTIO_CONFIG_S_NEEDS_RESET))
			WRITE_ONCE(d->orphan_since, 0);
		if (!failed || d->device_status & VIRTIO_CONFIG_S_NEEDS_RESET)
			continue;
		dev_warn_ratelimited(&b->dev, "dev%u: nothing served its requests for %u ms: failed %u, and fail the rest until the board resets it\n",
				     i, IOBOND_BLK_GRACE_MS, failed);
		d->device_status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		ibh_config_changed(b, i);
		ibh_vfio_changed(b, i);
	}
	if (again)
		queue_delayed_work(system_wq, &b->orphan_work,
				   max_t(long, (long)(again - jiffies), 0));
	mutex_unlock(&b->lock);
}

/*
 * Whether the backend serving disk @index is hung: a queue had requests
 * waiting at the last look, a grace period ago or more, and has them
 * still, with none of the used index, the backend's taken index and its
 * alive count moved since.  A hung backend is cut off: it cannot touch the
 * zone again, serves the disk no more until it lets go, and the disk
 * needs a reset.  The counts are the board's and the backend's to write;
 * each is read once, and only compared.  A board that fakes a stall cuts
 * off its own disk, and nothing else.
 */
static bool ibh_blk_hung(struct ibh_board *b, unsigned int index)
{
	struct ibh_dev *d = &b->devs[index];
	void *win = iobond_link_window(b->link);
	u32 busy = 0, stuck = 0;
	unsigned int q;

	/* Too soon to judge: the last look stands. */
	if (d->watch_busy && time_before(jiffies, d->watch_at +
					 msecs_to_jiffies(IOBOND_BLK_GRACE_MS)))
		return false;
	for (q = 0; q < d->num_queues; q++) {
		struct iobond_inflight *r = ibh_inflight(b, index, q);
		struct vring_avail *avail = win + d->vring[q].avail;
		struct vring_used *used = win + d->vring[q].used;
		u16 uidx, taken;
		u32 alive;

		if (!(d->queues_enabled & BIT(q)))
			continue;
		uidx = vrd16(used->idx);
		taken = READ_ONCE(r->last_avail);
		alive = READ_ONCE(r->alive);
		if (vrd16(avail->idx) == uidx)
			continue;
		busy |= BIT(q);
		if (d->watch_busy & BIT(q) && d->watch_used[q] == uidx &&
		    d->watch_taken[q] == taken && d->watch_alive[q] == alive)
			stuck |= BIT(q);
		d->watch_used[q] = uidx;
		d->watch_taken[q] = taken;
		d->watch_alive[q] = alive;
	}
	d->watch_busy = busy;
	d->watch_at = jiffies;
	if (!stuck)
		return false;
	dev_warn_ratelimited(&b->dev, "dev%u: its backend served nothing on queues %#x for %u ms: cut off until the board resets the disk\n",
			     index, stuck, IOBOND_BLK_GRACE_MS);
	ibh_zone_revoke(b, index);
	d->device_status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	d->cut_off = true;
	d->watch_busy = 0;
	ibh_config_changed(b, index);
	ibh_vfio_changed(b, index);
	return true;
}

/*
 * Queued IOBOND_BLK_GRACE_MS after a disk's kick, and again each grace
 * period while a served disk has requests waiting.
 */
void ibh_blk_watch_work(struct work_struct *work)
{
	struct ibh_board *b = container_of(to_delayed_work(work),
					   struct ibh_board, watch_work);
	bool busy = false, cut = false;
	unsigned int i;

	mutex_lock(&b->lock);
	for (i = 0; i < IOBOND_MAX_DEVICES && b->running && !b->gone; i++) {
		struct ibh_dev *d = &b->devs[i];

		if (d->type != IOBOND_DEV_BLK ||
		    !(d->status & VIRTIO_CONFIG_S_DRIVER_OK) ||
		    !ibh_blk_served(b, i))
			continue;
		if (ibh_blk_hung(b, i))
			cut = true;
		busy |= !!d->watch_busy;
	}
	/* What the cut-off backend took fails now, as a dead one's would. */
	if (cut)
		mod_delayed_work(system_wq, &b->orphan_work, 0);
	if (busy)
		queue_delayed_work(system_wq, &b->watch_work,
				   msecs_to_jiffies(IOBOND_BLK_GRACE_MS));
	mutex_unlock(&b->lock);
}
