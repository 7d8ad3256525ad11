// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_host: provisioning and handshakes for one board.
 *
 * The host keeps each device in struct ibh_dev and publishes it into the
 * region's device table while the board runs.  The board's requests are
 * answered here, in the kernel, whether or not any backend is attached, so
 * that a board never waits on userspace.  Everything the board wrote is
 * checked before it is used or reported.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/etherdevice.h>
#include <linux/log2.h>
#include <linux/timekeeping.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "board.h"

#define IBH_VENDOR_ID	0x494f4244	/* "IOBD" */
#define IBH_QUEUE_MAX	32768		/* virtio's largest split ring */
/*
 * The least buffer room an engine queue gets: the largest chain a NIC's
 * queue makes (a virtio-net big-packets receive chain, about 73 KiB; a
 * TSO packet, 64 KiB and its header) must fit its pool.
 */
#define IBH_ENGINE_POOL_MIN	SZ_128K

/* Features a virtio-net slot may offer on top of the transport's. */
#define IBH_NET_FEATURES (BIT_ULL(VIRTIO_NET_F_CSUM) |			\
			  BIT_ULL(VIRTIO_NET_F_GUEST_CSUM) |		\
			  BIT_ULL(VIRTIO_NET_F_MTU) |			\
			  BIT_ULL(VIRTIO_NET_F_MAC) |			\
			  BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) |		\
			  BIT_ULL(VIRTIO_NET_F_GUEST_TSO6) |		\
			  BIT_ULL(VIRTIO_NET_F_HOST_TSO4) |		\
			  BIT_ULL(VIRTIO_NET_F_HOST_TSO6) |		\
			  BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |		\
			  BIT_ULL(VIRTIO_NET_F_STATUS) |		\
			  BIT_ULL(VIRTIO_NET_F_CTRL_VQ) |		\
			  BIT_ULL(VIRTIO_NET_F_CTRL_RX) |		\
			  BIT_ULL(VIRTIO_NET_F_CTRL_MAC_ADDR) |		\
			  BIT_ULL(VIRTIO_NET_F_MQ))

/* What the control queue carries: virtio_net refuses them without it. */
#define IBH_NET_NEED_CTRL (BIT_ULL(VIRTIO_NET_F_CTRL_RX) |		\
			   BIT_ULL(VIRTIO_NET_F_CTRL_MAC_ADDR) |	\
			   BIT_ULL(VIRTIO_NET_F_MQ))

/* Offered on every slot: the board must use the DMA API and version 1. */
#define IBH_TRANSPORT_FEATURES (BIT_ULL(VIRTIO_F_VERSION_1) |		\
				BIT_ULL(VIRTIO_F_ACCESS_PLATFORM) |	\
				BIT_ULL(VIRTIO_RING_F_EVENT_IDX))

/*
 * A disk's backend and the kernel that fails its orphaned requests follow
 * plain chains only; the limits keep every request within the ring.
 */
#define IBH_BLK_FEATURES (BIT_ULL(VIRTIO_BLK_F_SIZE_MAX) |		\
			  BIT_ULL(VIRTIO_BLK_F_SEG_MAX) |		\
			  BIT_ULL(VIRTIO_BLK_F_BLK_SIZE) |		\
			  BIT_ULL(VIRTIO_BLK_F_TOPOLOGY))

static struct device *ibh_dev_of(struct ibh_board *b)
{
	return &b->dev;
}

static struct iobond_dev_slot *ibh_slot(struct ibh_board *b,
					unsigned int index)
{
	return iobond_link_slot(b->link, index);
}

/**
 * ibh_dev_queue() - the device and queue an ioctl names, if they exist
 * @b: the board, locked
 * @index: the slot, already checked against IOBOND_MAX_DEVICES
 * @q: the queue
 * @d: the device, on success
 *
 * Return: 0, -ENODEV if the board is gone, -ENOENT for an empty slot,
 * -EINVAL for no such queue.
 */
int ibh_dev_queue(struct ibh_board *b, u32 index, u32 q, struct ibh_dev **d)
{
	lockdep_assert_held(&b->lock);
	if (b->gone)
		return -ENODEV;
	*d = &b->devs[index];
	if (!ibh_dev_present(*d))
		return -ENOENT;
	return q < (*d)->num_queues ? 0 : -EINVAL;
}

/*
 * Empty a slot's record, all but its generation: a backend of the slot's
 * last device must not take the next one for it.
 */
static void ibh_dev_zero(struct ibh_dev *d)
{
	u32 gen = d->generation;

	memset(d, 0, sizeof(*d));
	d->generation = gen;
}

/* What the board's driver negotiated is gone: the device was reset. */
static void ibh_dev_forget(struct ibh_dev *d)
{
	unsigned int q;

	d->status = 0;
	d->driver_features = 0;
	d->queues_enabled = 0;
	/* Its zone was revoked: whoever serves it next starts clean. */
	d->cut_off = false;
	d->watch_busy = 0;
	for (q = 0; q < IOBOND_MAX_QUEUES; q++)
		WRITE_ONCE(d->vring[q].size, 0);
}

/**
 * ibh_event() - queue an event for read()
 * @b: the board
 * @type: IOBOND_EVENT_*
 * @index: the device slot, or 0
 * @arg: the status or queue
 *
 * Context: any but hard irq.  A full queue loses its oldest event; the
 * reader is told how many with an IOBOND_EVENT_OVERFLOW.
 */
void ibh_event(struct ibh_board *b, u32 type, u32 index, u32 arg)
{
	struct iobond_event ev = {
		.type = type, .index = index, .arg = arg,
		.time_ns = ktime_get_ns(),
	};
	unsigned long flags;

	spin_lock_irqsave(&b->ev_lock, flags);
	if (kfifo_is_full(&b->events)) {
		kfifo_skip(&b->events);
		b->ev_lost++;
	}
	kfifo_put(&b->events, ev);
	spin_unlock_irqrestore(&b->ev_lock, flags);
	wake_up_interruptible(&b->ev_wq);
}

/* The host vector the board rings for queue @q of slot @index. */
u16 ibh_notify_vector(struct ibh_board *b, unsigned int index, unsigned int q)
{
	unsigned int nvec = b->link->ivs.nvec;

	if (nvec < 2)
		return IOBOND_CTRL_VECTOR;
	return 1 + (index * IOBOND_MAX_QUEUES + q) % (nvec - 1);
}

/* Config space is little-endian: the slot offers VIRTIO_F_VERSION_1 only. */
static void ibh_write_net_config(struct ibh_dev *d, u8 *config)
{
	struct virtio_net_config cfg = { };

	ether_addr_copy(cfg.mac, d->net.mac);
	cfg.status = vle16(d->link_down ? 0 : VIRTIO_NET_S_LINK_UP);
	cfg.max_virtqueue_pairs = vle16(d->num_queues / 2);
	cfg.mtu = vle16(d->net.mtu);
	memcpy(config, &cfg, sizeof(cfg));
}

/**
 * ibh_dev_config() - write a device's config space, as its type has it
 * @d: the device
 * @config: IOBOND_CONFIG_SIZE bytes
 *
 * Return: the config space's length.
 */
unsigned int ibh_dev_config(struct ibh_dev *d, u8 *config)
{
	if (d->type == IOBOND_DEV_BLK) {
		ibh_blk_write_config(d, config);
		return sizeof(struct virtio_blk_config);
	}
	ibh_write_net_config(d, config);
	return sizeof(struct virtio_net_config);
}

/* Write slot @index for the board to see: fields first, state last. */
static void ibh_publish(struct ibh_board *b, unsigned int index)
{
	struct iobond_dev_slot *slot = ibh_slot(b, index);
	struct ibh_dev *d = &b->devs[index];
	unsigned int q;

	wr32(slot->state, IOBOND_SLOT_EMPTY);
	/* The board must not see the old state on the new fields. */
	wmb();
	memset(slot, 0, sizeof(*slot));
	/* A leaving disk is never published again: it is gone or going. */
	if (WARN_ON_ONCE(d->leaving) || !d->type || !b->running)
		return;

	if (!++b->instance)
		++b->instance;
	wr32(slot->instance, b->instance);
	wr32(slot->device_id, d->type);
	wr32(slot->vendor_id, IBH_VENDOR_ID);
	wr64(slot->tag, d->tag);
	wr32(slot->flags, d->engine ? IOBOND_SLOT_F_ENGINE : 0);
	wr64(slot->device_features, d->features);
	wr16(slot->num_queues, d->num_queues);
	for (q = 0; q < d->num_queues; q++) {
		wr16(slot->vq[q].size_max, d->queue_size);
		d->notify[q] = ibh_notify_vector(b, index, q);
		wr16(slot->vq[q].notify, d->notify[q]);
	}
	wr16(slot->config_len, ibh_dev_config(d, slot->config));
	wr32(slot->device_status, d->device_status);
	d->hs_acked = 0;
	d->config_gen = 0;
	/* The state vouches for every field before it. */
	wmb();
	wr32(slot->state, IOBOND_SLOT_PRESENT);
}

/**
 * ibh_config_changed() - give the board a device's config and host status
 * @b: the board, locked
 * @index: the slot, holding a device
 */
void ibh_config_changed(struct ibh_board *b, unsigned int index)
{
	struct iobond_dev_slot *slot = ibh_slot(b, index);
	struct ibh_dev *d = &b->devs[index];

	if (!b->running)
		return;
	/*
	 * Odd while the config changes, even once it is whole: a board's read
	 * that overlaps the change sees the generation odd or moved, and reads
	 * again.  Counted here, never read back from a slot the board writes.
	 */
	wr32(slot->config_generation, ++d->config_gen);
	/* Odd before the first byte changes... */
	wmb();
	ibh_dev_config(d, slot->config);
	wr32(slot->device_status, d->device_status);
	/* ...and even only after the last. */
	wmb();
	wr32(slot->config_generation, ++d->config_gen);
	iobond_link_ring_peer(b->link, IOBOND_CTRL_VECTOR);
}

/* Tell the board its device table changed. */
static void ibh_table_changed(struct ibh_board *b)
{
	struct iobond_link_hdr *hdr = b->link->hdr;

	wr32(hdr->dev_generation, rd32(hdr->dev_generation) + 1);
	iobond_link_ring_peer(b->link, IOBOND_CTRL_VECTOR);
}

static int ibh_check_net(struct ibh_board *b, struct iobond_device_add *add)
{
	const struct iobond_net_config *net = &add->config.net;
	bool ctrl = add->features & BIT_ULL(VIRTIO_NET_F_CTRL_VQ);
	unsigned int pairs = (add->num_queues - ctrl) / 2;
	unsigned int i;

	if (add->features & ~IBH_NET_FEATURES) {
		dev_err(ibh_dev_of(b), "net: features %#llx are not offered\n",
			add->features & ~IBH_NET_FEATURES);
		return -EINVAL;
	}
	if (!ctrl && add->features & IBH_NET_NEED_CTRL) {
		dev_err(ibh_dev_of(b), "net: features %#llx need CTRL_VQ\n",
			add->features & IBH_NET_NEED_CTRL);
		return -EINVAL;
	}
	if (!pairs || add->num_queues != 2 * pairs + ctrl ||
	    (pairs > 1 && !(add->features & BIT_ULL(VIRTIO_NET_F_MQ)))) {
		dev_err(ibh_dev_of(b), "net: %u queues: need rx/tx pairs, plus one with CTRL_VQ, and MQ for more than one pair\n",
			add->num_queues);
		return -EINVAL;
	}
	if (!is_valid_ether_addr(net->mac)) {
		dev_err(ibh_dev_of(b), "net: %pM is no unicast MAC\n", net->mac);
		return -EINVAL;
	}
	if (net->mtu && (net->mtu < ETH_MIN_MTU || net->mtu > ETH_MAX_MTU)) {
		dev_err(ibh_dev_of(b), "net: MTU %u out of range\n", net->mtu);
		return -EINVAL;
	}
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		if (b->devs[i].type == IOBOND_DEV_NET &&
		    ether_addr_equal(b->devs[i].net.mac, net->mac)) {
			dev_err(ibh_dev_of(b), "net: %pM is already dev%u\n",
				net->mac, i);
			return -EEXIST;
		}
	}
	return 0;
}

/**
 * ibh_dev_add() - provision a device in the first free slot
 * @b: the board, locked
 * @add: what to provision, its fixed fields already checked by cdev.c;
 *	@add->index returns the slot
 *
 * Return: 0 or a negative errno, with a dev_err saying why.
 */
int ibh_dev_add(struct ibh_board *b, struct iobond_device_add *add)
{
	struct ibh_dev *d;
	unsigned int i;
	int ret;

	lockdep_assert_held(&b->lock);
	if (add->type != IOBOND_DEV_NET && add->type != IOBOND_DEV_BLK) {
		dev_err(ibh_dev_of(b), "unknown device type %u\n", add->type);
		return -EINVAL;
	}
	if (!add->num_queues || add->num_queues > IOBOND_MAX_QUEUES) {
		dev_err(ibh_dev_of(b), "%u queues: 1 to %u\n", add->num_queues,
			IOBOND_MAX_QUEUES);
		return -EINVAL;
	}
	if (add->queue_size < 2 || add->queue_size > IBH_QUEUE_MAX ||
	    !is_power_of_2(add->queue_size)) {
		dev_err(ibh_dev_of(b), "queue size %u: a power of two, 2 to %u\n",
			add->queue_size, IBH_QUEUE_MAX);
		return -EINVAL;
	}
	if (add->flags & IOBOND_ADD_ENGINE) {
		if (iobond_link_engine_id(b->link, IOBOND_CTRL_VECTOR) < 0) {
			dev_err(ibh_dev_of(b), "no engine on the link: is iobond-engine running?\n");
			return -ENXIO;
		}
		/* A TSO packet's chain is up to MAX_SKB_FRAGS + 2 long. */
		if (add->type == IOBOND_DEV_NET && add->queue_size < 32) {
			dev_err(ibh_dev_of(b), "a NIC through the engine needs queues of 32 or more\n");
			return -EINVAL;
		}
		if (ibh_shadow_pool_size(b, add->num_queues, add->queue_size) <
		    IBH_ENGINE_POOL_MIN) {
			dev_err(ibh_dev_of(b), "a %llu-byte zone leaves %u shadow rings of %u less than %u bytes of buffers each\n",
				b->zone_size, add->num_queues, add->queue_size,
				IBH_ENGINE_POOL_MIN);
			return -ENOSPC;
		}
	}
	if (add->type == IOBOND_DEV_NET)
		ret = ibh_check_net(b, add);
	else
		ret = ibh_blk_check(b, add);
	if (ret)
		return ret;

	if (!b->zone_size) {
		dev_err(ibh_dev_of(b), "a %zu-byte window leaves no device a zone: the region needs 1 MiB or more\n",
			b->window_size);
		return -ENOSPC;
	}
	for (i = 0; i < IOBOND_MAX_DEVICES && b->devs[i].type; i++)
		;
	/* A board that never let go of a disk loses its slot when needed. */
	if (i == IOBOND_MAX_DEVICES) {
		for (i = 0; i < IOBOND_MAX_DEVICES && !b->devs[i].leaving; i++)
			;
		if (i < IOBOND_MAX_DEVICES)
			ibh_dev_clear(b, i);
	}
	if (i == IOBOND_MAX_DEVICES) {
		dev_err(ibh_dev_of(b), "all %u device slots are taken\n",
			IOBOND_MAX_DEVICES);
		return -ENOSPC;
	}

	/* An engine that missed a stop for the slot's last device gets another. */
	ibh_engine_stop(b, i);
	d = &b->devs[i];
	ibh_dev_zero(d);
	d->generation++;
	d->type = add->type;
	d->num_queues = add->num_queues;
	d->queue_size = add->queue_size;
	d->tag = add->tag;
	d->engine = add->flags & IOBOND_ADD_ENGINE;
	d->added = ++b->adds;
	add->index = i;
	if (d->type == IOBOND_DEV_BLK) {
		d->features = add->features | IBH_TRANSPORT_FEATURES |
			      IBH_BLK_FEATURES;
		d->blk = add->config.blk;
		memset(ibh_inflight(b, i, 0), 0,
		       IOBOND_MAX_QUEUES * IOBOND_INFLIGHT_STRIDE);
		dev_info(ibh_dev_of(b), "dev%u: virtio-blk %llu sectors of 512, %u-byte blocks, %u queues of %u\n",
			 i, d->blk.capacity, d->blk.blk_size, d->num_queues,
			 d->queue_size);
	} else {
		d->features = add->features | IBH_TRANSPORT_FEATURES |
			      BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) |
			      BIT_ULL(VIRTIO_NET_F_MAC) |
			      BIT_ULL(VIRTIO_NET_F_STATUS);
		if (add->config.net.mtu)
			d->features |= BIT_ULL(VIRTIO_NET_F_MTU);
		d->net = add->config.net;
		dev_info(ibh_dev_of(b), "dev%u: virtio-net %pM, %u queues of %u\n",
			 i, d->net.mac, d->num_queues, d->queue_size);
	}

	if (b->running) {
		ibh_publish(b, i);
		ibh_table_changed(b);
	}
	ibh_vfio_changed(b, i);
	return 0;
}

/**
 * ibh_dev_clear() - empty a slot now; the board sees the device go
 * @b: the board, locked
 * @index: the slot, holding a device
 */
void ibh_dev_clear(struct ibh_board *b, unsigned int index)
{
	lockdep_assert_held(&b->lock);
	ibh_vring_detach(b, index);
	ibh_zone_revoke(b, index);
	ibh_engine_stop(b, index);
	ibh_dev_zero(&b->devs[index]);
	if (b->running) {
		ibh_publish(b, index);
		ibh_table_changed(b);
	}
	ibh_vfio_changed(b, index);
	dev_info(ibh_dev_of(b), "dev%u: removed\n", index);
}

/**
 * ibh_dev_remove() - take a device away from the board
 * @b: the board, locked
 * @index: the slot
 *
 * A disk whose driver runs on a board that is there leaves first
 * (ibh_blk_leave()), and its slot is empty once the board reset it; any
 * other device goes at once.  A NIC's driver waits for nothing on its way
 * out but a control-queue command, which a broken queue ends.
 *
 * Return: 0, -EINVAL for no such slot, -ENOENT for an empty one.
 */
int ibh_dev_remove(struct ibh_board *b, unsigned int index)
{
	struct ibh_dev *d;

	lockdep_assert_held(&b->lock);
	if (index >= IOBOND_MAX_DEVICES)
		return -EINVAL;
	d = &b->devs[index];
	if (!ibh_dev_present(d))
		return -ENOENT;
	if (d->type != IOBOND_DEV_BLK || !b->running ||
	    (d->status & (VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FAILED))
	    != VIRTIO_CONFIG_S_DRIVER_OK || !iobond_link_peer_alive(b->link)) {
		ibh_dev_clear(b, index);
		return 0;
	}
	ibh_vring_detach(b, index);
	ibh_zone_revoke(b, index);
	ibh_blk_leave(b, index);
	wr32(ibh_slot(b, index)->state, IOBOND_SLOT_LEAVING);
	ibh_table_changed(b);
	ibh_vfio_changed(b, index);
	dev_info(ibh_dev_of(b), "dev%u: leaving: its requests fail until the board lets go\n",
		 index);
	return 0;
}

/**
 * ibh_dev_set_link() - set a NIC's carrier; the board gets a config change
 * @b: the board, locked
 * @index: the slot
 * @up: carrier on
 *
 * Return: 0, -EINVAL for no such slot or no NIC, -ENOENT for an empty one.
 */
int ibh_dev_set_link(struct ibh_board *b, unsigned int index, bool up)
{
	struct ibh_dev *d;

	lockdep_assert_held(&b->lock);
	if (index >= IOBOND_MAX_DEVICES)
		return -EINVAL;
	d = &b->devs[index];
	if (!ibh_dev_present(d))
		return -ENOENT;
	if (d->type != IOBOND_DEV_NET)
		return -EINVAL;
	d->link_down = !up;
	ibh_config_changed(b, index);
	dev_info(ibh_dev_of(b), "dev%u: link %s\n", index, up ? "up" : "down");
	return 0;
}

/**
 * ibh_board_set_running() - show the devices to the board, or hide them
 * @b: the board, locked
 * @running: show
 */
void ibh_board_set_running(struct ibh_board *b, bool running)
{
	unsigned int i;

	lockdep_assert_held(&b->lock);
	b->running = running;
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		/* A stopped board holds nothing: a leaving disk is gone. */
		if (!running && b->devs[i].leaving)
			ibh_dev_clear(b, i);
		if (!running) {
			ibh_vring_detach(b, i);
			ibh_engine_stop(b, i);
			/* The disks' grace clocks start again with the board. */
			WRITE_ONCE(b->devs[i].orphan_since, 0);
		}
		ibh_publish(b, i);
	}
	if (!running)
		ibh_window_revoke(b);
	ibh_table_changed(b);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		ibh_vfio_changed(b, i);
}

/**
 * ibh_board_reset() - hide the devices and forget what the board negotiated
 * @b: the board, locked
 */
void ibh_board_reset(struct ibh_board *b)
{
	unsigned int i;

	ibh_board_set_running(b, false);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		ibh_dev_forget(&b->devs[i]);
}

/*
 * The status moves as virtio says it may: never to 0 (a reset is its own
 * op), DRIVER_OK only with FEATURES_OK, and FEATURES_OK, once set, only
 * cleared by a reset.  The features are taken each time FEATURES_OK is
 * written before DRIVER_OK (virtio probes again without a reset after a
 * failed probe), and hold only for a subset of what was offered, with v1
 * and ACCESS_PLATFORM: a board that bypassed the DMA window would hand
 * the host addresses it cannot use.  So d->driver_features is always a
 * checked value, and from DRIVER_OK on, what the backend was started with.
 */
static int ibh_op_status(struct ibh_board *b, unsigned int index,
			 struct iobond_dev_slot *slot)
{
	struct ibh_dev *d = &b->devs[index];
	u32 status = rd32(slot->status);
	u64 feat = rd64(slot->driver_features);
	u64 need = BIT_ULL(VIRTIO_F_VERSION_1) |
		   BIT_ULL(VIRTIO_F_ACCESS_PLATFORM);
	bool had_ok = d->status & VIRTIO_CONFIG_S_FEATURES_OK;
	bool ok = status & VIRTIO_CONFIG_S_FEATURES_OK;

	if (!status || status & ~0xffu ||
	    (status & VIRTIO_CONFIG_S_DRIVER_OK && !ok) || (had_ok && !ok)) {
		dev_err_ratelimited(ibh_dev_of(b), "dev%u: refusing status %#x after %#x\n",
				    index, status, d->status);
		return -EINVAL;
	}
	if (ok && !(d->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
		if ((feat & ~d->features) || (feat & need) != need) {
			dev_err_ratelimited(ibh_dev_of(b), "dev%u: refusing features %#llx (offered %#llx)\n",
					    index, feat, d->features);
			return -EINVAL;
		}
		d->driver_features = feat;
	}
	if (status != d->status)
		ibh_event(b, IOBOND_EVENT_STATUS, index, status);
	d->status = status;
	return 0;
}

/* [@off, @off + @len) lies in the window, @off aligned to @align. */
bool ibh_in_window(struct ibh_board *b, u64 off, u64 len, u64 align)
{
	u64 window = iobond_link_window_size(b->link);

	return !(off & (align - 1)) && off < window && len <= window - off;
}

/*
 * The zone of window offset @off, which lies in the window.  The tail past
 * the last whole zone counts as the last zone's: it is revoked with it,
 * though no ring or buffer may lie there (ibh_in_zone()).
 */
unsigned int ibh_zone_of(struct ibh_board *b, u64 off)
{
	if (!b->zone_size)
		return IOBOND_MAX_DEVICES - 1;
	return min_t(u64, div64_u64(off, b->zone_size), IOBOND_MAX_DEVICES - 1);
}

/* [@off, @off + @len) lies in slot @index's zone, @off aligned to @align. */
bool ibh_in_zone(struct ibh_board *b, unsigned int index, u64 off, u64 len,
		 u64 align)
{
	u64 start = index * b->zone_size, size = b->zone_size;

	return ibh_in_window(b, off, len, align) && off >= start &&
	       off - start < size && len <= size - (off - start);
}

static int ibh_op_queue_enable(struct ibh_board *b, unsigned int index,
			       struct iobond_dev_slot *slot, u32 q)
{
	struct ibh_dev *d = &b->devs[index];
	struct iobond_vq *vq;
	u64 desc, avail, used;
	u16 size, msix;

	if (q >= d->num_queues) {
		dev_err_ratelimited(ibh_dev_of(b), "dev%u: no queue %u\n", index, q);
		return -EINVAL;
	}
	/*
	 * The board may rewrite the slot at any time: each field is read
	 * once, and only what was checked is kept.
	 */
	vq = &slot->vq[q];
	size = rd16(vq->size);
	msix = rd16(vq->msix);
	desc = rd64(vq->desc);
	avail = rd64(vq->avail);
	used = rd64(vq->used);
	/* An engine slot's rings are in board memory: the engine checks. */
	if (!is_power_of_2(size) || size > d->queue_size ||
	    (msix != IOBOND_NO_VECTOR && msix >= IOBOND_MAX_VECTORS) ||
	    (d->engine ? desc % 16 || avail % 2 || used % 4 :
	     !ibh_in_zone(b, index, desc, 16ULL * size, 16) ||
	     !ibh_in_zone(b, index, avail, 6 + 2ULL * size, 2) ||
	     !ibh_in_zone(b, index, used, 6 + 8ULL * size, 4))) {
		dev_err_ratelimited(ibh_dev_of(b), "dev%u: refusing queue %u: size %u vector %u rings %#llx %#llx %#llx (zone %#llx+%#llx)\n",
				    index, q, size, msix, desc, avail, used,
				    index * b->zone_size, b->zone_size);
		return -EINVAL;
	}
	/*
	 * Virtio enables a queue once per reset.  Moving a live one would
	 * let the lockless readers of d->vring[] (the call wakeup) see a
	 * new size with an old ring.
	 */
	if (d->queues_enabled & BIT(q)) {
		dev_err_ratelimited(ibh_dev_of(b), "dev%u: queue %u is enabled already\n",
				    index, q);
		return -EBUSY;
	}
	if (d->engine) {
		/* The backend serves the shadow, which the engine just zeroed. */
		int ret = ibh_engine_queue(b, index, q,
					   rd32(slot->hs.req_gen));

		if (ret)
			return ret;
		size = d->queue_size;
	} else {
		d->vring[q].desc = desc;
		d->vring[q].avail = avail;
		WRITE_ONCE(d->vring[q].used, used);
	}
	WRITE_ONCE(d->msix[q], msix);
	d->last_used[q] = 0;
	memset(ibh_inflight(b, index, q), 0, IOBOND_INFLIGHT_STRIDE);
	/* After the rings: ibh_count_used() reads the size first. */
	smp_store_release(&d->vring[q].size, size);
	WRITE_ONCE(d->queues_enabled, d->queues_enabled | BIT(q));
	ibh_event(b, IOBOND_EVENT_QUEUE_ENABLED, index, q);
	return 0;
}

/* Answer slot @index's request, if it has a new one.  True if it had. */
static bool ibh_answer(struct ibh_board *b, unsigned int index)
{
	struct iobond_dev_slot *slot = ibh_slot(b, index);
	struct ibh_dev *d = &b->devs[index];
	u32 seq = rd32(slot->hs.req_seq);
	u32 op;
	int result;

	if (seq == d->hs_acked)
		return false;
	/* The request is whole once its sequence number moved. */
	rmb();
	op = rd32(slot->hs.req_op);
	/* A leaving disk is gone but for its driver's reset. */
	if (d->leaving && op != IOBOND_OP_RESET)
		op = 0;
	switch (op) {
	case IOBOND_OP_STATUS:
		result = ibh_op_status(b, index, slot);
		break;
	case IOBOND_OP_RESET:
		/* The backend lets go before the board may reuse the memory. */
		ibh_vring_detach(b, index);
		if (d->queues_enabled)
			ibh_zone_revoke(b, index);
		/* Nor may the engine copy into it. */
		ibh_engine_stop(b, index);
		ibh_dev_forget(d);
		d->resets++;
		if (d->device_status) {
			/* A new start: the device no longer needs a reset. */
			d->device_status = 0;
			wr32(slot->device_status, 0);
		}
		ibh_event(b, IOBOND_EVENT_DEVICE_RESET, index, 0);
		result = 0;
		break;
	case IOBOND_OP_QUEUE_ENABLE:
		result = ibh_op_queue_enable(b, index, slot,
					     rd32(slot->hs.req_arg));
		break;
	case 0:
		result = -ENODEV;
		break;
	default:
		dev_err_ratelimited(ibh_dev_of(b), "dev%u: unknown request %u\n",
				    index, op);
		result = -EOPNOTSUPP;
	}
	/* The wire carries a positive errno. */
	wr32(slot->hs.ack_result, -result);
	/* The result is in place before the board sees its answer. */
	wmb();
	wr32(slot->hs.ack_seq, seq);
	d->hs_acked = seq;
	/*
	 * The board's driver lets go of a leaving disk: the slot is free.  A
	 * board that sees it empty before the answer takes that for one.
	 */
	if (op == IOBOND_OP_RESET && d->leaving)
		ibh_dev_clear(b, index);
	else
		ibh_vfio_changed(b, index);
	return true;
}

static void ibh_ctrl_work(struct work_struct *work)
{
	struct ibh_board *b = container_of(work, struct ibh_board, ctrl_work);
	u32 delay = READ_ONCE(b->answer_delay_ms);
	bool answered = false;
	unsigned int i;

	/* A host too slow to answer, as the tests make one (debugfs). */
	if (delay)
		msleep(min_t(u32, delay, IOBOND_HANDSHAKE_MS * 10));

	mutex_lock(&b->lock);
	for (i = 0; i < IOBOND_MAX_DEVICES && b->running && !b->gone; i++) {
		/* A lost board lets go of nothing: its leaving disks are gone. */
		if (b->devs[i].leaving && !iobond_link_peer_alive(b->link))
			ibh_dev_clear(b, i);
		else if (b->devs[i].type)
			answered |= ibh_answer(b, i);
	}
	mutex_unlock(&b->lock);
	if (answered)
		iobond_link_ring_peer(b->link, IOBOND_CTRL_VECTOR);
}

/* Hard irq: the board rang our control vector. */
static void ibh_ctrl_doorbell(struct iobond_link *link)
{
	struct ibh_board *b = link->owner;

	queue_work(system_wq, &b->ctrl_work);
}

/* From the link's tick, with the link locked. */
static void ibh_peer_changed(struct iobond_link *link, bool up)
{
	struct ibh_board *b = link->owner;

	ibh_event(b, up ? IOBOND_EVENT_LINK_UP : IOBOND_EVENT_LINK_DOWN, 0, 0);
	/*
	 * A board that comes back may have requests waiting; one that is
	 * lost leaves its leaving disks behind.
	 */
	queue_work(system_wq, &b->ctrl_work);
	if (!up)
		return;
	/*
	 * And may have missed the table: a change published before we saw
	 * the board rang no one.  Its control vector makes it read again.
	 */
	iobond_link_ring_peer(link, IOBOND_CTRL_VECTOR);
}

/**
 * ibh_board_init() - set up a board's control plane on its link
 * @b: zeroed board state
 * @link: the host end of the board's link, not yet started
 */
void ibh_board_init(struct ibh_board *b, struct iobond_link *link)
{
	b->link = link;
	b->window_pfn = (pci_resource_start(link->ivs.pdev, 2) +
			 IOBOND_WINDOW_OFF) >> PAGE_SHIFT;
	b->window_size = iobond_link_window_size(link);
	b->zone_size = IOBOND_ZONE_SIZE(b->window_size);
	mutex_init(&b->lock);
	init_rwsem(&b->zone_lock);
	spin_lock_init(&b->ev_lock);
	spin_lock_init(&b->vq_lock);
	INIT_KFIFO(b->events);
	init_waitqueue_head(&b->ev_wq);
	INIT_WORK(&b->ctrl_work, ibh_ctrl_work);
	INIT_DELAYED_WORK(&b->orphan_work, ibh_blk_orphan_work);
	INIT_DELAYED_WORK(&b->watch_work, ibh_blk_watch_work);
}

/**
 * ibh_board_attach() - let the link's interrupts reach a board made whole
 * @b: the board, its node and VFIO face added
 *
 * Until this, the board's doorbells reach only the link, so a failed
 * ibh_board_create() frees @b with no handler able to use it.  A request
 * the board rang for meanwhile is looked at now.  The debugfs knob goes
 * with the link's directory, before the board can be freed.
 */
void ibh_board_attach(struct ibh_board *b)
{
	debugfs_create_u32("answer_delay_ms", 0600, b->link->dbg,
			   &b->answer_delay_ms);
	iobond_link_set_owner(b->link, b, ibh_ctrl_doorbell, ibh_peer_changed,
			      ibh_data_doorbell);
	queue_work(system_wq, &b->ctrl_work);
}

/**
 * ibh_board_stop_work() - no handshake runs after this returns
 * @b: the board; its link's vectors are already freed, or it was never
 *	attached to them
 */
void ibh_board_stop_work(struct ibh_board *b)
{
	cancel_work_sync(&b->ctrl_work);
	cancel_delayed_work_sync(&b->watch_work);
	cancel_delayed_work_sync(&b->orphan_work);
}
