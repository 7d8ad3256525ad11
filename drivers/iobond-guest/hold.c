// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_guest: a board's disks held while its host is away.
 *
 * A lost host (its VM died, or its driver unloaded) used to take every
 * device with it, and the tenant's mounted file systems with them.  Now a
 * disk is frozen instead, as for a system suspend (virtio_device_freeze()):
 * its new requests wait in the block layer.  If the host comes back within
 * host_grace_ms and publishes the same disk in the same slot (its type,
 * queues, config and tag: the operator's name for it), the disk is
 * restored (virtio_device_restore()): its driver negotiates afresh with
 * the new host, on new rings, and the tenant's mounts go on.
 *
 * Past the grace, or for another device in the slot, a held disk is
 * restored detached: no host behind it, its queues broken as they come,
 * so that whatever waited fails.  Then it is removed.
 *
 * Only disks: virtio_blk's freeze and restore assume nothing runs beside
 * them but its own queue, which they freeze.  virtio_net's free its queues
 * under a registered netdev that userspace may still touch (its stats, an
 * "ip link set down"), safe only while userspace is frozen for a sleep.
 *
 * Freeze and restore run under the device's lock, as the PM core runs
 * them: no probe or unbind runs beside them, and the driver's module is
 * pinned while the disk is held.  The scan only tries the lock: a root
 * user on the board who unbinds a held disk by hand waits on its queue
 * for ever, and the disk stays held, but the scan goes on for the others.
 * A driver that polls a queue is never held (it would poll a freed one),
 * and a restore must find the queues the driver was probed with.
 *
 * Only a write-through disk is held: a host that went may have taken a
 * write cache's unflushed writes with it.  A disk request
 * already in flight when the host died is lost with the host, and the
 * freeze waits for it, here in the scan (testbed.rst, "Known gaps").
 */
#include <linux/module.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "board.h"

static unsigned int host_grace_ms = 60000;
module_param(host_grace_ms, uint, 0644);
MODULE_PARM_DESC(host_grace_ms,
		 "how long disks wait for a lost host to come back (0: remove them at once)");

/* The device's driver, if it can freeze and restore it; device lock held. */
static struct virtio_driver *ibg_hold_driver(struct ibg_vdev *vd)
{
	struct device_driver *drv = vd->vdev.dev.driver;
	struct virtio_driver *vdrv;

	if (!drv)
		return NULL;
	vdrv = drv_to_virtio(drv);
	return vdrv->freeze && vdrv->restore ? vdrv : NULL;
}

/**
 * ibg_holdable() - whether a device can wait for its lost host
 * @vd: the device; the scan lock held
 *
 * A disk with a write cache (FLUSH) trusts that what the host completed
 * stays readable until it flushes.  A host that died took what it had
 * not flushed with it, and a file system that went on would be corrupt;
 * one that left cleanly may die before it comes back, and no sign here
 * tells a host that kept its page cache from one that lost it.  So only a
 * write-through disk is held: what its host completed is on its drive.
 *
 * Return: true for a tagged write-through disk whose driver runs, while
 * holding is on.  Its driver is checked again under the device's lock as
 * it is frozen.
 */
bool ibg_holdable(struct ibg_vdev *vd)
{
	return vd->device_id == VIRTIO_ID_BLOCK && READ_ONCE(host_grace_ms) &&
	       vd->tag && vd->config_ok && !vd->polled &&
	       vd->status & VIRTIO_CONFIG_S_DRIVER_OK &&
	       !virtio_has_feature(&vd->vdev, VIRTIO_BLK_F_FLUSH);
}

/**
 * ibg_hold() - freeze a disk until its host comes back
 * @vd: a holdable device whose host was lost; the scan lock held
 *
 * Return: true if it is held; false if it could not be, and must go.
 */
bool ibg_hold(struct ibg_vdev *vd)
{
	unsigned long grace = msecs_to_jiffies(READ_ONCE(host_grace_ms));
	struct virtio_driver *drv;
	int ret;

	/*
	 * The lock, not a try: until the disk is frozen its requests go to
	 * a dead host's rings.  Holders are brief (a probe whose I/O the host
	 * left unanswered would hang the freeze as well).
	 */
	device_lock(&vd->vdev.dev);
	ret = -ENODEV;
	drv = ibg_hold_driver(vd);
	if (!drv || !try_module_get(drv->driver.owner))
		goto out;
	WRITE_ONCE(vd->detached, true);
	ret = virtio_device_freeze(&vd->vdev);
	if (ret) {
		WRITE_ONCE(vd->detached, false);
		module_put(drv->driver.owner);
		goto out;
	}
	WRITE_ONCE(vd->held_drv, drv);
	vd->held_until = jiffies + grace;
	dev_info(&vd->vdev.dev, "the host is away: held for %u ms\n",
		 jiffies_to_msecs(grace));
out:
	device_unlock(&vd->vdev.dev);
	if (ret)
		dev_err(&vd->vdev.dev, "cannot wait for the host: %d\n", ret);
	return !ret;
}

/**
 * ibg_unhold() - the hold is over: the driver runs again, or detached
 * @vd: a held device; the scan lock held
 *
 * Also for one removed while held, so that its driver's module goes free.
 */
void ibg_unhold(struct ibg_vdev *vd)
{
	module_put(vd->held_drv->driver.owner);
	WRITE_ONCE(vd->held_drv, NULL);
	vd->held_retry = false;
}

/* The held driver still runs the device: nobody unbound it meanwhile. */
static bool ibg_still_bound(struct ibg_vdev *vd)
{
	return vd->vdev.dev.driver == &vd->held_drv->driver;
}

/*
 * Take the device published in @vd's slot for @vd if it is the same: its
 * type, queues, config and tag, and it offers every feature the driver
 * uses.  The config must be the one the driver was probed with, byte for
 * byte.  Each field is read once, after the state that vouched for them,
 * and the state and instance again after the config: the slot was not
 * published anew meanwhile.
 *
 * Return: 0 if the driver runs again; -ESTALE for another device; -EAGAIN
 * while the host rewrites the slot or the device's lock is taken; else
 * why the restore failed.
 */
static int ibg_adopt(struct ibg_board *b, struct ibg_vdev *vd)
{
	struct iobond_dev_slot *slot = vd->slot;
	u8 config[IOBOND_CONFIG_SIZE];
	u64 tag, features;
	u32 id, instance, gen;
	u16 nq, cl;
	int ret;

	/* The scan saw the state PRESENT, which vouches for the fields. */
	rmb();
	id = rd32(slot->device_id);
	nq = rd16(slot->num_queues);
	cl = rd16(slot->config_len);
	tag = rd64(slot->tag);
	features = rd64(slot->device_features);
	instance = rd32(slot->instance);
	/* Nor across data paths: the rings' addresses mean other things. */
	if (id != vd->device_id || nq != vd->num_queues ||
	    cl != vd->config_len || tag != vd->tag ||
	    (vd->vdev.features & ~features) ||
	    !!(rd32(slot->flags) & IOBOND_SLOT_F_ENGINE) != vd->engine)
		return -ESTALE;
	ret = ibg_config_read(slot, config, cl, &gen);
	if (ret)
		return ret;
	if (memcmp(config, vd->config, cl))
		return -ESTALE;
	/* The config read ends with a barrier. */
	if (rd32(slot->state) != IOBOND_SLOT_PRESENT ||
	    rd32(slot->instance) != instance)
		return -EAGAIN;

	if (!device_trylock(&vd->vdev.dev))
		return -EAGAIN;
	if (!ibg_still_bound(vd)) {
		ibg_unhold(vd);
		device_unlock(&vd->vdev.dev);
		return -ESTALE;
	}
	vd->instance = instance;
	vd->features = features;
	vd->config_gen = gen;
	spin_lock_irq(&b->vec_lock);
	vd->broken = false;
	spin_unlock_irq(&b->vec_lock);
	WRITE_ONCE(vd->detached, false);
	ret = virtio_device_restore(&vd->vdev);
	if (!ret)
		ibg_unhold(vd);
	device_unlock(&vd->vdev.dev);
	if (!ret)
		dev_info(&vd->vdev.dev, "the host is back: the disk goes on\n");
	return ret;
}

/**
 * ibg_release() - give up on a held disk's host
 * @vd: a held device; the scan lock held
 *
 * Its driver is restored with no host behind it: its queues come up
 * broken, so that what waited fails, and its remove then waits for
 * nothing.  Detached, its rings are the smallest, and little but memory
 * can fail it.
 *
 * Return: 0, or why not: the disk stays held, and its remove would wait
 * for ever; -EAGAIN while the device's lock is taken.
 */
int ibg_release(struct ibg_vdev *vd)
{
	int ret = 0;

	if (!device_trylock(&vd->vdev.dev))
		return -EAGAIN;
	WRITE_ONCE(vd->detached, true);
	/* One unbound meanwhile has no driver to restore. */
	if (ibg_still_bound(vd))
		ret = virtio_device_restore(&vd->vdev);
	if (!ret)
		ibg_unhold(vd);
	device_unlock(&vd->vdev.dev);
	if (ret)
		dev_err_ratelimited(&vd->vdev.dev, "cannot fail what waits for the host: %d; trying again\n",
				    ret);
	return ret;
}

/**
 * ibg_held_stays() - a scan's look at a held disk
 * @b: the board; its scan lock held
 * @vd: a held device
 * @up: the host is there
 *
 * A device published in its slot is taken for it if it is the same one;
 * while none is, it waits until its grace ends.
 *
 * Return: true if it stays (held, or running again); false if it was
 * released, and must go.
 */
bool ibg_held_stays(struct ibg_board *b, struct ibg_vdev *vd, bool up)
{
	bool over = !time_before(jiffies, vd->held_until);
	int ret = -ESTALE;

	lockdep_assert_held(&b->scan_lock);
	vd->held_retry = false;
	if (up && rd32(vd->slot->state) == IOBOND_SLOT_PRESENT) {
		ret = ibg_adopt(b, vd);
		if (!ret)
			return true;
		/* Unbound while held: there is no driver to restore. */
		if (!vd->held_drv)
			return false;
		if (ret == -EAGAIN && !over) {
			vd->held_retry = true;
			return true;
		}
		if (ret == -ESTALE)
			dev_info_ratelimited(&vd->vdev.dev, "the host is back with another device in slot %u\n",
					     vd->index);
		else
			dev_err_ratelimited(&vd->vdev.dev, "the host is back, but the disk did not start again: %d\n",
					    ret);
	} else {
		if (!over)
			return true;
		dev_warn_ratelimited(&vd->vdev.dev, "the host did not come back in time: removing the disk\n");
	}
	/* One that cannot be released stays held, and is tried again. */
	if (!ibg_release(vd))
		return false;
	vd->held_retry = true;
	return true;
}

/* When a held disk's grace ends, or a step should be tried again. */
void ibg_hold_work(struct work_struct *work)
{
	struct ibg_board *b = container_of(to_delayed_work(work),
					   struct ibg_board, hold_work);

	queue_work(system_wq, &b->scan_work);
}
