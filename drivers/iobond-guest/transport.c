// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_guest: the virtio transport over the bonded region.
 *
 * Each slot the host publishes in the device table becomes a virtio
 * device, and unmodified virtio drivers bind to it.  Config space is read
 * from the slot; status changes that need the device's word (FEATURES_OK,
 * reset, queue enable) are requests the host answers within a bound.
 * Rings and buffers live in the window (dma.c), named by their offsets.
 * Every value the host wrote is checked before it is used.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/interrupt.h>
#include <linux/iommu.h>
#include <linux/log2.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "board.h"

#define IBG_QUEUE_MAX	32768
#define IBG_GEN_SPINS	100000	/* cpu_relax()es: about a millisecond */
/* A detached device's rings: broken as they come, so any size does. */
#define IBG_DETACHED_RING	2

#define to_ibg_vdev(v)	container_of(v, struct ibg_vdev, vdev)

/* ---- requests to the host ------------------------------------------ */

/* A held device reads its config from the copy taken at its probe. */
static bool ibg_from_copy(struct ibg_vdev *vd)
{
	return READ_ONCE(vd->detached) || READ_ONCE(vd->held_drv);
}

/* The slot's state, if it still holds this device, else EMPTY. */
static u32 ibg_slot_state(struct ibg_vdev *vd)
{
	u32 state = rd32(vd->slot->state);

	/* The host wrote the instance before the state that vouches for it. */
	rmb();
	return rd32(vd->slot->instance) == vd->instance ? state :
	       IOBOND_SLOT_EMPTY;
}

/*
 * The slot still holds this device: present, or leaving (the host fails
 * its requests until its driver lets go, and answers its reset).
 */
static bool ibg_slot_held(struct ibg_vdev *vd)
{
	u32 state = ibg_slot_state(vd);

	return state == IOBOND_SLOT_PRESENT || state == IOBOND_SLOT_LEAVING;
}

/*
 * Ask the host and wait for its answer, at most IOBOND_HANDSHAKE_MS.
 * Return: 0, the host's refusal as a negative errno, -ETIMEDOUT, or at
 * once -ENOLINK (host lost) or -ENODEV (the slot was taken away).
 */
static int __ibg_request(struct ibg_vdev *vd, u32 op, u32 arg)
{
	struct iobond_handshake *hs = &vd->slot->hs;
	struct ibg_board *b = vd->board;
	u32 seq, result;
	long left;

	/* A lost host answers nothing: fail at once rather than wait. */
	if (READ_ONCE(vd->detached) || vd->broken ||
	    !iobond_link_peer_alive(b->link))
		return -ENOLINK;
	/* Nor does a slot the host took away: the device is already gone. */
	if (!ibg_slot_held(vd))
		return -ENODEV;
	mutex_lock(&vd->hs_lock);
	seq = rd32(hs->req_seq) + 1;
	wr32(hs->req_op, op);
	wr32(hs->req_arg, arg);
	/* The request is whole before its sequence number moves. */
	wmb();
	wr32(hs->req_seq, seq);
	iobond_link_ring_peer(b->link, IOBOND_CTRL_VECTOR);
	/*
	 * A leaving disk's slot may be emptied as its reset is answered, and
	 * the answer with it: an emptied slot ends the wait, as an answer.
	 */
	left = wait_event_timeout(b->hs_wq, rd32(hs->ack_seq) == seq ||
				  !ibg_slot_held(vd),
				  msecs_to_jiffies(IOBOND_HANDSHAKE_MS));
	/* The result was written before the answer's sequence number. */
	rmb();
	result = rd32(hs->ack_result);
	mutex_unlock(&vd->hs_lock);

	if (!ibg_slot_held(vd))
		return -ENODEV;
	if (!left) {
		dev_err(&vd->vdev.dev, "host did not answer request %u within %u ms\n",
			op, IOBOND_HANDSHAKE_MS);
		return -ETIMEDOUT;
	}
	return result ? -(int)min_t(u32, result, MAX_ERRNO) : 0;
}

/*
 * A device whose reset the host did not answer has its zone fenced
 * (dma.c): the host's backend may still use what it was handed.  Its next
 * request asks for the reset again first, and only an answer lifts the
 * fence.
 */
static int ibg_request(struct ibg_vdev *vd, u32 op, u32 arg)
{
	struct ibg_zone *z = vd->board->zones[vd->index];
	int ret;

	if (ibg_zone_fenced(z)) {
		ret = __ibg_request(vd, IOBOND_OP_RESET, 0);
		if (ret == -ETIMEDOUT)
			return ret;
		/* Answered, or the slot went: the host let go of it. */
		if (ret != -ENOLINK)
			ibg_zone_unfence(z);
		if (op == IOBOND_OP_RESET)
			return ret;
	}
	return __ibg_request(vd, op, arg);
}

/* ---- configuration interface ------------------------------------------ */

static u64 ibg_get_features(struct virtio_device *vdev)
{
	return to_ibg_vdev(vdev)->features;
}

static int ibg_finalize_features(struct virtio_device *vdev)
{
	vring_transport_features(vdev);
	if (!__virtio_test_bit(vdev, VIRTIO_F_VERSION_1) ||
	    !__virtio_test_bit(vdev, VIRTIO_F_ACCESS_PLATFORM)) {
		dev_err(&vdev->dev, "needs VERSION_1 and ACCESS_PLATFORM: buffers must be in the window\n");
		return -EINVAL;
	}
	return 0;
}

static void ibg_get(struct virtio_device *vdev, unsigned int offset,
		    void *buf, unsigned int len)
{
	struct ibg_vdev *vd = to_ibg_vdev(vdev);

	if (offset > vd->config_len || len > vd->config_len - offset) {
		dev_err_ratelimited(&vdev->dev, "config read %u+%u past its %u bytes\n",
				    offset, len, vd->config_len);
		memset(buf, 0, len);
		return;
	}
	/*
	 * Held, the driver reads the config it was probed with: its slot may
	 * hold another device by now, and what restore sizes itself by (a
	 * disk's queues) must be what it had.
	 */
	memcpy(buf, (ibg_from_copy(vd) ? vd->config : vd->slot->config) +
	       offset, len);
}

static void ibg_set(struct virtio_device *vdev, unsigned int offset,
		    const void *buf, unsigned int len)
{
	/* Config space has one writer, the host; no served type writes it. */
	dev_warn_once(&vdev->dev, "config space is read-only on this transport\n");
}

/*
 * Odd while the host rewrites the config: wait for it to be whole, within
 * a bound (a host that never finishes costs a read that long).
 */
static u32 ibg_generation(struct virtio_device *vdev)
{
	struct ibg_vdev *vd = to_ibg_vdev(vdev);
	struct iobond_dev_slot *slot = vd->slot;
	unsigned int spins = 0;
	u32 gen;

	/* Held, the config is the copy, which never moves. */
	if (ibg_from_copy(vd))
		return 0;
	/* After the config reads this generation closes... */
	rmb();
	while (((gen = rd32(slot->config_generation)) & 1) &&
	       spins++ < IBG_GEN_SPINS)
		cpu_relax();
	/* ...and before those it opens. */
	rmb();
	return gen;
}

static u8 ibg_get_status(struct virtio_device *vdev)
{
	struct ibg_vdev *vd = to_ibg_vdev(vdev);

	/* Of the host's bits only NEEDS_RESET has a meaning to the driver. */
	if (READ_ONCE(vd->detached))
		return vd->status;
	return vd->status | (rd32(vd->slot->device_status) &
			     VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void ibg_set_status(struct virtio_device *vdev, u8 status)
{
	struct ibg_vdev *vd = to_ibg_vdev(vdev);
	int ret;

	if (READ_ONCE(vd->detached)) {
		/*
		 * Nothing serves its queues: they stay broken, whatever
		 * virtio_device_ready() did to them.
		 */
		if (status & VIRTIO_CONFIG_S_DRIVER_OK)
			virtio_break_device(vdev);
		vd->status = status;
		return;
	}
	wr64(vd->slot->driver_features, vdev->features);
	wr32(vd->slot->status, status);
	ret = ibg_request(vd, IOBOND_OP_STATUS, 0);
	if (ret && (status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		dev_err(&vdev->dev, "host refused features %#llx: %d\n",
			vdev->features, ret);
		status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	} else if (ret) {
		status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	}
	vd->status = status;
}

/*
 * An engine slot's reset stops the engine first, as a real bond's reset
 * stops its DMA: whatever the host does or fails to do, no copy into the
 * device's rings and buffers is pending once its driver frees them.  With
 * no engine on the link there is nothing to stop.
 */
static void ibg_engine_reset(struct ibg_vdev *vd)
{
	struct iobond_engine_mbox *m = &vd->slot->eng;
	struct ibg_board *b = vd->board;
	u32 seq;

	if (!vd->engine)
		return;
	/*
	 * The board's count, not the device's, from a random start: a
	 * device published anew in the slot, or a board loaded again, does
	 * not repeat the number the engine saw last there.  Written even
	 * with no engine on the link: a start asked before it is stale.
	 */
	seq = atomic_inc_return(&b->eng_resets);
	vd->eng_gen = seq;
	wr32(m->reset_seq, seq);
	if (iobond_link_engine_id(b->link, IOBOND_CTRL_VECTOR) < 0)
		return;
	iobond_link_ring_engine(b->link, IOBOND_CTRL_VECTOR);
	if (!wait_event_timeout(b->hs_wq, rd32(m->reset_ack) == seq,
				msecs_to_jiffies(IOBOND_ENGINE_MS)))
		dev_err(&vd->vdev.dev, "the engine did not stop within %u ms\n",
			IOBOND_ENGINE_MS);
}

static void ibg_reset(struct virtio_device *vdev)
{
	struct ibg_vdev *vd = to_ibg_vdev(vdev);
	int ret;

	ibg_engine_reset(vd);
	if (READ_ONCE(vd->detached)) {
		/* As a reset must: no callback runs once it returns. */
		virtio_break_device(vdev);
		virtio_synchronize_cbs(vdev);
		vd->status = 0;
		return;
	}
	wr32(vd->slot->status, 0);
	ret = ibg_request(vd, IOBOND_OP_RESET, 0);
	if (ret == -ETIMEDOUT) {
		/* Its rings and buffers may be in use yet: none is reused. */
		ibg_zone_fence(vd->board->zones[vd->index]);
		dev_err(&vdev->dev, "reset not acknowledged by the host: its memory stays fenced until the host answers one\n");
	} else if (ret && ret != -ENOLINK && ret != -ENODEV) {
		dev_err(&vdev->dev, "reset not acknowledged by the host: %d\n",
			ret);
	}
	vd->status = 0;
}

/* ---- virtqueues -------------------------------------------------------- */

static bool ibg_notify(struct virtqueue *vq)
{
	struct ibg_vdev *vd = to_ibg_vdev(vq->vdev);
	u16 vector = rd16(vd->slot->vq[vq->index].notify);

	/* An engine slot's chains are the engine's to carry to the host. */
	if (vd->engine)
		iobond_link_ring_engine(vd->board->link, vector);
	else
		iobond_link_ring_peer(vd->board->link, vector);
	return true;
}

/* Hard irq: a doorbell on a data vector; run the callbacks of its queues. */
static void ibg_data_doorbell(struct iobond_link *link, unsigned int vector)
{
	struct ibg_board *b = link->owner;
	unsigned int i, q;

	spin_lock(&b->vec_lock);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		struct ibg_vdev *vd = b->vdevs[i];

		if (!vd)
			continue;
		for (q = 0; q < vd->num_queues; q++)
			if (vd->vqs[q].vq && vd->vqs[q].vector == vector)
				vring_interrupt(0, vd->vqs[q].vq);
	}
	spin_unlock(&b->vec_lock);
}

/* One MSI-X vector per queue while they last, shared beyond. */
static unsigned int ibg_vector(struct ibg_vdev *vd, unsigned int q)
{
	unsigned int nvec = vd->board->link->ivs.nvec;

	if (nvec < 2)
		return IOBOND_NO_VECTOR;
	return 1 + (vd->index * IOBOND_MAX_QUEUES + q) % (nvec - 1);
}

static void ibg_del_vq(struct ibg_vdev *vd, unsigned int q)
{
	struct ibg_board *b = vd->board;
	struct virtqueue *vq = vd->vqs[q].vq;

	spin_lock_irq(&b->vec_lock);
	vd->vqs[q].vq = NULL;
	spin_unlock_irq(&b->vec_lock);
	vring_del_virtqueue(vq);
}

static void ibg_del_vqs(struct virtio_device *vdev)
{
	struct ibg_vdev *vd = to_ibg_vdev(vdev);
	unsigned int q;

	for (q = 0; q < vd->num_queues; q++)
		if (vd->vqs[q].vq)
			ibg_del_vq(vd, q);
}

static int ibg_setup_vq(struct ibg_vdev *vd, unsigned int q,
			vq_callback_t *callback, const char *name, bool ctx)
{
	struct iobond_vq *svq = &vd->slot->vq[q];
	bool detached = READ_ONCE(vd->detached);
	unsigned int size = detached ? IBG_DETACHED_RING : rd16(svq->size_max);
	unsigned int vector = ibg_vector(vd, q);
	struct virtqueue *vq;
	int ret;

	if (!is_power_of_2(size) || size > IBG_QUEUE_MAX) {
		dev_err(&vd->vdev.dev, "queue %u: host offers size %u\n", q, size);
		return -EINVAL;
	}
	vq = vring_create_virtqueue(q, size, SMP_CACHE_BYTES, &vd->vdev, true,
				    true, ctx, ibg_notify, callback, name);
	if (!vq) {
		dev_err(&vd->vdev.dev, "queue %u: no room for its ring\n", q);
		return -ENOMEM;
	}
	if (detached) {
		/* No host to enable it: ibg_find_vqs() breaks it. */
		spin_lock_irq(&vd->board->vec_lock);
		vd->vqs[q].vq = vq;
		vd->vqs[q].vector = vector;
		spin_unlock_irq(&vd->board->vec_lock);
		return 0;
	}
	wr16(svq->size, virtqueue_get_vring_size(vq));
	wr16(svq->msix, vector);
	wr64(svq->desc, virtqueue_get_desc_addr(vq));
	wr64(svq->avail, virtqueue_get_avail_addr(vq));
	wr64(svq->used, virtqueue_get_used_addr(vq));

	spin_lock_irq(&vd->board->vec_lock);
	vd->vqs[q].vq = vq;
	vd->vqs[q].vector = vector;
	spin_unlock_irq(&vd->board->vec_lock);

	/* The engine relays it only if no reset of ours came in between. */
	wr32(vd->slot->hs.req_gen, vd->eng_gen);
	ret = ibg_request(vd, IOBOND_OP_QUEUE_ENABLE, q);
	if (ret) {
		dev_err(&vd->vdev.dev, "queue %u: host refused it: %d\n", q, ret);
		/*
		 * A late answer may yet start the queue in the engine: stop
		 * it, and make that start stale, before the ring is freed.
		 */
		ibg_engine_reset(vd);
		ibg_del_vq(vd, q);
	}
	return ret;
}

static int ibg_find_vqs(struct virtio_device *vdev, unsigned int nvqs,
			struct virtqueue *vqs[], vq_callback_t *callbacks[],
			const char * const names[], const bool *ctx,
			struct irq_affinity *desc)
{
	struct ibg_vdev *vd = to_ibg_vdev(vdev);
	unsigned int i, q = 0, named = 0;
	bool polled = false;
	int ret;

	for (i = 0; i < nvqs; i++) {
		named += !!names[i];
		polled |= names[i] && !callbacks[i];
	}
	/*
	 * A held disk's driver sized itself by the queues it had: restored
	 * with others, it would index past them.  A driver that polls a
	 * queue reaches it while the disk is frozen: it is never held.
	 */
	if (vd->held_drv && named != vd->probed_vqs) {
		dev_err(&vdev->dev, "restored with %u queues, probed with %u\n",
			named, vd->probed_vqs);
		return -EINVAL;
	}
	vd->probed_vqs = named;
	vd->polled = polled;
	for (i = 0; i < nvqs; i++) {
		if (!names[i]) {
			vqs[i] = NULL;
			continue;
		}
		if (q >= vd->num_queues) {
			dev_err(&vdev->dev, "driver wants %u queues, host offers %u\n",
				q + 1, vd->num_queues);
			ret = -ENOENT;
			goto err;
		}
		ret = ibg_setup_vq(vd, q, callbacks[i], names[i],
				   ctx ? ctx[i] : false);
		if (ret)
			goto err;
		vqs[i] = vd->vqs[q++].vq;
	}
	/* Made for a device no host serves: what is queued fails at once. */
	if (READ_ONCE(vd->detached))
		virtio_break_device(vdev);
	return 0;

err:
	/* The engine may relay the queues that were enabled: stop it first. */
	ibg_engine_reset(vd);
	ibg_del_vqs(vdev);
	return ret;
}

static void ibg_synchronize_cbs(struct virtio_device *vdev)
{
	struct ibg_vdev *vd = to_ibg_vdev(vdev);
	struct pci_dev *pdev = vd->board->link->ivs.pdev;
	unsigned int q;

	for (q = 0; q < vd->num_queues; q++)
		if (vd->vqs[q].vq && vd->vqs[q].vector != IOBOND_NO_VECTOR)
			synchronize_irq(pci_irq_vector(pdev, vd->vqs[q].vector));
}

static int ibg_set_vq_affinity(struct virtqueue *vq,
			       const struct cpumask *mask)
{
	struct ibg_vdev *vd = to_ibg_vdev(vq->vdev);
	unsigned int vector = vd->vqs[vq->index].vector;

	if (vector == IOBOND_NO_VECTOR)
		return -EINVAL;
	return irq_set_affinity_hint(pci_irq_vector(vd->board->link->ivs.pdev,
						    vector), mask);
}

static const char *ibg_bus_name(struct virtio_device *vdev)
{
	return pci_name(to_ibg_vdev(vdev)->board->link->ivs.pdev);
}

static const struct virtio_config_ops ibg_config_ops = {
	.get			= ibg_get,
	.set			= ibg_set,
	.generation		= ibg_generation,
	.get_status		= ibg_get_status,
	.set_status		= ibg_set_status,
	.reset			= ibg_reset,
	.find_vqs		= ibg_find_vqs,
	.del_vqs		= ibg_del_vqs,
	.synchronize_cbs	= ibg_synchronize_cbs,
	.get_features		= ibg_get_features,
	.finalize_features	= ibg_finalize_features,
	.bus_name		= ibg_bus_name,
	.set_vq_affinity	= ibg_set_vq_affinity,
};

/* ---- the device table -------------------------------------------------- */

static void ibg_vdev_release(struct device *dev)
{
	kfree(to_ibg_vdev(dev_to_virtio(dev)));
}

static struct iobond_dev_slot *ibg_slot(struct ibg_board *b, unsigned int i)
{
	return iobond_link_slot(b->link, i);
}

/**
 * ibg_config_read() - copy a slot's config space, whole
 * @slot: the slot
 * @buf: where to
 * @len: bytes, checked against IOBOND_CONFIG_SIZE
 * @gen: the config generation the copy is of
 *
 * Return: 0, or -EAGAIN if the host was rewriting it all along.
 */
int ibg_config_read(struct iobond_dev_slot *slot, u8 *buf, unsigned int len,
		    u32 *gen)
{
	unsigned int spins;
	u32 before;

	for (spins = 0; spins < IBG_GEN_SPINS; spins++) {
		before = rd32(slot->config_generation);
		if (before & 1) {
			cpu_relax();
			continue;
		}
		/* The generation is read before the bytes it covers... */
		rmb();
		memcpy(buf, slot->config, len);
		/* ...and again after them. */
		rmb();
		if (rd32(slot->config_generation) == before) {
			*gen = before;
			return 0;
		}
	}
	return -EAGAIN;
}

/* Whether @dev's DMA addresses are I/O virtual ones, not physical. */
static bool ibg_behind_iommu(struct device *dev)
{
	struct iommu_domain *dom = iommu_get_domain_for_dev(dev);

	return dom && dom->type != IOMMU_DOMAIN_IDENTITY;
}

/* Take slot @i as a virtio device, if what the host wrote there holds. */
static void ibg_vdev_add(struct ibg_board *b, unsigned int i)
{
	struct iobond_dev_slot *slot = ibg_slot(b, i);
	struct device *dev = &b->link->ivs.pdev->dev;
	struct ibg_vdev *vd;
	u32 id;
	u16 nq, cl;
	int ret;

	/* The scan saw the state PRESENT, which vouches for the fields. */
	rmb();
	id = rd32(slot->device_id);
	nq = rd16(slot->num_queues);
	cl = rd16(slot->config_len);
	if (!id || id > 63 || !nq || nq > IOBOND_MAX_QUEUES ||
	    cl > IOBOND_CONFIG_SIZE) {
		dev_err(dev, "slot %u: refusing device %u with %u queues and %u config bytes\n",
			i, id, nq, cl);
		return;
	}
	vd = kzalloc(sizeof(*vd), GFP_KERNEL);
	if (!vd)
		return;
	vd->board = b;
	vd->index = i;
	vd->slot = slot;
	vd->device_id = id;
	vd->instance = rd32(slot->instance);
	vd->features = rd64(slot->device_features);
	vd->num_queues = nq;
	vd->config_len = cl;
	vd->tag = rd64(slot->tag);
	vd->engine = rd32(slot->flags) & IOBOND_SLOT_F_ENGINE;
	/*
	 * The engine reads board memory at the addresses the device is
	 * given: behind an IOMMU they would be I/O virtual addresses.
	 */
	if (vd->engine && ibg_behind_iommu(dev)) {
		dev_err_ratelimited(dev, "slot %u: refusing an engine device behind an IOMMU\n",
				    i);
		kfree(vd);
		return;
	}
	vd->config_gen = rd32(slot->config_generation);
	/*
	 * The config the driver is probed with, kept for a hold (hold.c).
	 * One the host kept rewriting leaves the disk unholdable.
	 */
	vd->config_ok = !ibg_config_read(slot, vd->config, cl, &vd->config_gen);
	mutex_init(&vd->hs_lock);
	vd->vdev.id.device = id;
	vd->vdev.id.vendor = rd32(slot->vendor_id);
	vd->vdev.config = &ibg_config_ops;
	/*
	 * Its DMA stays in its zone, which the host revokes on its reset; or,
	 * through the engine, in board memory, as any PCI device's does.
	 */
	vd->vdev.dev.parent = vd->engine ? &b->link->ivs.pdev->dev :
					   &b->zones[i]->dev;
	vd->vdev.dev.release = ibg_vdev_release;

	/* Interrupts may reach its queues from the moment it probes. */
	spin_lock_irq(&b->vec_lock);
	b->vdevs[i] = vd;
	spin_unlock_irq(&b->vec_lock);
	ret = register_virtio_device(&vd->vdev);
	if (ret) {
		dev_err(dev, "slot %u: cannot register device %u: %d\n", i, id,
			ret);
		spin_lock_irq(&b->vec_lock);
		b->vdevs[i] = NULL;
		spin_unlock_irq(&b->vec_lock);
		put_device(&vd->vdev.dev);
		return;
	}
	dev_info(dev, "slot %u: virtio device %u, %u queues\n", i, id, nq);
}

static void ibg_vdev_remove(struct ibg_board *b, unsigned int i)
{
	struct ibg_vdev *vd = b->vdevs[i];

	/*
	 * Its interrupts are delivered until its driver is gone (a driver's
	 * remove may wait for I/O), and its memory stays until the table no
	 * longer names it: the interrupt handler and a lost peer look there.
	 */
	get_device(&vd->vdev.dev);
	/* Held still (it could not be released): its driver's module goes free. */
	if (vd->held_drv)
		ibg_unhold(vd);
	unregister_virtio_device(&vd->vdev);
	spin_lock_irq(&b->vec_lock);
	b->vdevs[i] = NULL;
	spin_unlock_irq(&b->vec_lock);
	put_device(&vd->vdev.dev);
	dev_info(&b->link->ivs.pdev->dev, "slot %u: device removed\n", i);
}

/*
 * Break @vd's queues, so that what waits on them fails at once.  Not a
 * NIC's data queues: 6.1's virtio_net loops (virtnet_poll_cleantx() in
 * softirq, start_xmit()) while virtqueue_enable_cb_delayed() sees more
 * used entries than it expects, and on a broken queue virtqueue_get_buf()
 * takes none of them, so a tx queue broken with completions unreaped
 * spins for ever (seen under iperf3 as the host removed the NIC).  A NIC's
 * waiting packets harm no one until its removal resets it; only its
 * control queue, on which virtnet_send_command() would wait for ever, is
 * broken: its one queue without a callback.  (A host that makes the ring
 * break itself, with a bad used entry, can still bring the loop about.)
 */
static void ibg_break(struct ibg_vdev *vd)
{
	struct virtqueue *vq;

	if (vd->device_id != VIRTIO_ID_NET) {
		virtio_break_device(&vd->vdev);
		return;
	}
	spin_lock(&vd->vdev.vqs_list_lock);
	virtio_device_for_each_vq(&vd->vdev, vq)
		if (!vq->callback)
			__virtqueue_break(vq);
	spin_unlock(&vd->vdev.vqs_list_lock);
}

/*
 * Whether @vd goes, and how: a device whose host was lost (it is broken,
 * or the link is down) is held if its driver can wait (hold.c); any other
 * that goes is broken first (ibg_break(): a NIC's control queue only),
 * all of them before any is removed, so that its I/O fails rather than
 * waits, even while an earlier removal blocks.
 * A leaving device is not: the host fails its requests itself until its
 * driver reset it, and its driver's remove waits for those.
 */
static bool ibg_going(struct ibg_vdev *vd, bool up, bool *hold)
{
	bool lost = !up || vd->broken;

	*hold = false;
	if (!lost && ibg_slot_state(vd) == IOBOND_SLOT_PRESENT)
		return false;
	if (lost && ibg_holdable(vd)) {
		*hold = true;
		return false;
	}
	if (lost || ibg_slot_state(vd) != IOBOND_SLOT_LEAVING)
		ibg_break(vd);
	return true;
}

/*
 * Scan again when the first held disk's grace ends (or in a second for
 * one whose grace is over but which could not be released), or at once
 * after a hold with the host already back: its table may be waiting.
 */
static void ibg_hold_rescan(struct ibg_board *b, bool at_once)
{
	unsigned long next = 0;
	bool held = false;
	unsigned int i;

	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		struct ibg_vdev *vd = b->vdevs[i];
		unsigned long due;

		if (!vd || !vd->held_drv)
			continue;
		due = vd->held_retry ? jiffies + HZ / 10 : vd->held_until;
		if (!held || time_before(due, next))
			next = due;
		held = true;
	}
	if (!held)
		return;
	/* A grace over, but a disk not released: try again in a second. */
	mod_delayed_work(system_wq, &b->hold_work,
			 at_once ? 0 : time_after(next, jiffies) ?
			 next - jiffies : HZ);
}

/* Bring the virtio devices in line with the table; scan_lock held. */
static void ibg_scan_locked(struct ibg_board *b)
{
	bool up = iobond_link_peer_alive(b->link) && READ_ONCE(b->link->attached);
	bool going[IOBOND_MAX_DEVICES] = { }, hold[IOBOND_MAX_DEVICES] = { };
	bool new_hold = false;
	unsigned int i;

	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		if (b->vdevs[i] && !b->vdevs[i]->held_drv)
			going[i] = ibg_going(b->vdevs[i], up, &hold[i]);
	/* Holds and restores may wait for the host: after every break. */
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		struct ibg_vdev *vd = b->vdevs[i];

		if (!vd)
			continue;
		if (vd->held_drv) {
			going[i] = !ibg_held_stays(b, vd, up);
		} else if (hold[i] && ibg_hold(vd)) {
			new_hold = true;
		} else if (hold[i]) {
			virtio_break_device(&vd->vdev);
			going[i] = true;
		}
	}
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		struct iobond_dev_slot *slot = ibg_slot(b, i);
		bool present = up && rd32(slot->state) == IOBOND_SLOT_PRESENT;
		u32 gen = rd32(slot->config_generation);
		struct ibg_vdev *vd;

		if (going[i])
			ibg_vdev_remove(b, i);
		vd = b->vdevs[i];
		if (!vd && present) {
			ibg_vdev_add(b, i);
		} else if (vd && !vd->held_drv && up && vd->config_gen != gen) {
			/* The host changed the config: the driver hears it. */
			vd->config_gen = gen;
			if (rd32(slot->device_status) &
			    VIRTIO_CONFIG_S_NEEDS_RESET)
				dev_warn(&vd->vdev.dev,
					 "the host failed requests no backend served; the device needs a reset\n");
			virtio_config_changed(&vd->vdev);
		}
	}
	ibg_hold_rescan(b, new_hold && up);
}

static void ibg_scan(struct work_struct *work)
{
	struct ibg_board *b = container_of(work, struct ibg_board, scan_work);

	mutex_lock(&b->scan_lock);
	if (!b->stopping)
		ibg_scan_locked(b);
	mutex_unlock(&b->scan_lock);
}

/* Hard irq: the host answered a request, or changed the table. */
static void ibg_ctrl_doorbell(struct iobond_link *link)
{
	struct ibg_board *b = link->owner;

	wake_up(&b->hs_wq);
	queue_work(system_wq, &b->scan_work);
}

/*
 * From the link's tick.  A lost host breaks every device at once, so that
 * I/O fails rather than waits; the devices go, and come back when the host
 * publishes them again.
 */
static void ibg_peer_changed(struct iobond_link *link, bool up)
{
	struct ibg_board *b = link->owner;
	unsigned int i;

	/*
	 * Marked broken here, so that requests fail at once; the virtqueues
	 * are broken by the scan, under scan_lock, where every device in the
	 * table is registered.  virtio_break_device() takes vqs_list_lock,
	 * which virtio takes with interrupts on: never under vec_lock.
	 */
	if (!up) {
		spin_lock_irq(&b->vec_lock);
		for (i = 0; i < IOBOND_MAX_DEVICES; i++)
			if (b->vdevs[i])
				b->vdevs[i]->broken = true;
		spin_unlock_irq(&b->vec_lock);
		wake_up(&b->hs_wq);
	}
	queue_work(system_wq, &b->scan_work);
}

static void ibg_board_release(struct device *dev)
{
	kfree(container_of(dev, struct ibg_board, dev));
}

/**
 * ibg_board_create() - the virtio transport on a board's link
 * @link: the board end, not yet started
 *
 * Return: the board, or an ERR_PTR.
 */
struct ibg_board *ibg_board_create(struct iobond_link *link)
{
	struct device *parent = &link->ivs.pdev->dev;
	struct ibg_board *b;
	int ret;

	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return ERR_PTR(-ENOMEM);
	b->link = link;
	b->window = iobond_link_window(link);
	b->window_size = iobond_link_window_size(link);
	init_waitqueue_head(&b->hs_wq);
	atomic_set(&b->eng_resets, get_random_u32());
	INIT_WORK(&b->scan_work, ibg_scan);
	INIT_DELAYED_WORK(&b->hold_work, ibg_hold_work);
	mutex_init(&b->scan_lock);
	spin_lock_init(&b->vec_lock);

	device_initialize(&b->dev);
	b->dev.parent = parent;
	b->dev.release = ibg_board_release;
	ret = dev_set_name(&b->dev, "%s-transport", pci_name(link->ivs.pdev));
	if (ret)
		goto err_put;
	ret = device_add(&b->dev);
	if (ret)
		goto err_put;
	ret = ibg_dma_init(b);
	if (ret)
		goto err_del;

	ibg_dma_debugfs(b);
	iobond_link_set_owner(link, b, ibg_ctrl_doorbell, ibg_peer_changed,
			      ibg_data_doorbell);
	return b;

err_del:
	device_del(&b->dev);
err_put:
	put_device(&b->dev);
	return ERR_PTR(ret);
}

/**
 * ibg_board_stop() - remove every device while the link still answers
 * @b: the board
 *
 * Drivers reset their devices as they go; a live host acknowledges that.
 */
void ibg_board_stop(struct ibg_board *b)
{
	unsigned int i;

	mutex_lock(&b->scan_lock);
	b->stopping = true;
	/* With the host gone, nothing serves their rings: I/O must fail. */
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		if (b->vdevs[i] && !b->vdevs[i]->held_drv &&
		    (READ_ONCE(b->vdevs[i]->broken) ||
		     !iobond_link_peer_alive(b->link)))
			ibg_break(b->vdevs[i]);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		if (!b->vdevs[i])
			continue;
		/*
		 * A held disk waits for its host no longer.  One that cannot
		 * be released (no memory for its rings) may hang its removal.
		 */
		if (b->vdevs[i]->held_drv)
			ibg_release(b->vdevs[i]);
		ibg_vdev_remove(b, i);
	}
	mutex_unlock(&b->scan_lock);
}

/**
 * ibg_board_destroy() - free the transport
 * @b: the board, stopped; its link is down (no doorbell, no tick runs)
 */
void ibg_board_destroy(struct ibg_board *b)
{
	/* The hold work queues a scan: it goes first. */
	cancel_delayed_work_sync(&b->hold_work);
	cancel_work_sync(&b->scan_work);
	ibg_dma_exit(b);
	device_del(&b->dev);
	put_device(&b->dev);
}
