// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_host: the VFIO face of a board's devices.
 *
 * A provisioned device is handed to a userspace data plane (the block
 * backend, or any poll-mode server) as a mediated device: each board's
 * node is an mdev parent with one type per device slot, and an mdev of
 * type iobond-devN is slot N's device.  The kernel keeps the link function
 * and the control plane; the mdev gives userspace only its device's data
 * plane, through the standard VFIO uAPI (see include/uapi/linux/iobond.h):
 * the window as an mmap-able region, the device's state and its inflight
 * records as regions, a doorbell region to interrupt the board, and kicks
 * as irq eventfds.  A vfio-pci-core variant driver would hand the whole
 * function, and with it every device and the handshakes, to one process;
 * Documentation/iobond/vfio.rst says more.
 *
 * Opening the mdev claims the device against the vhost face (EBUSY either
 * way round).  Closing it, or the backend dying, drops the eventfds and
 * starts the clock of blk.c: requests left unserved are failed, and the
 * board is never left waiting.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/eventfd.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vfio.h>
#include <linux/virtio_config.h>
#include <linux/vmalloc.h>

#include "board.h"

static_assert(sizeof(struct iobond_vfio_state) == 32 + 8 + 16 * 32 + 256);
static_assert(offsetof(struct iobond_inflight, head) == 8);
static_assert(sizeof(struct iobond_inflight) <= IOBOND_INFLIGHT_STRIDE);

#define IBH_VFIO_REGION(off)	((off) >> IOBOND_VFIO_OFFSET_SHIFT)
#define IBH_VFIO_OFFSET(off)	((off) & (BIT_ULL(IOBOND_VFIO_OFFSET_SHIFT) - 1))

/**
 * struct ibh_vfio - the mediated device of one slot
 * @vdev: its VFIO device
 * @b: the board
 * @index: the slot
 * @open: a backend holds it; under the board's lock
 * @going: the mdev is being removed; its state reads as no device
 * @state_trigger: signalled when the state region changes; under the
 *	board's lock
 */
struct ibh_vfio {
	struct vfio_device vdev;
	struct ibh_board *b;
	unsigned int index;
	bool open;
	bool going;
	struct eventfd_ctx *state_trigger;
};

static const char * const ibh_type_names[IOBOND_MAX_DEVICES] = {
	"dev0", "dev1", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7",
};

static struct ibh_board *ibh_type_board(struct mdev_type *mtype,
					unsigned int *index)
{
	struct ibh_board *b = container_of(mtype->parent, struct ibh_board,
					   parent);

	*index = mtype - b->types;
	return b;
}

/**
 * ibh_vfio_open() - slot @index is served through its VFIO face
 * @b: the board, locked
 * @index: the slot
 */
bool ibh_vfio_open(struct ibh_board *b, unsigned int index)
{
	lockdep_assert_held(&b->lock);
	return b->vfio[index] && b->vfio[index]->open;
}

/**
 * ibh_vfio_changed() - tell slot @index's backend to read its state again
 * @b: the board, locked
 * @index: the slot
 */
void ibh_vfio_changed(struct ibh_board *b, unsigned int index)
{
	lockdep_assert_held(&b->lock);
	if (b->vfio[index] && b->vfio[index]->state_trigger)
		eventfd_signal(b->vfio[index]->state_trigger, 1);
}

static void ibh_vfio_state(struct ibh_vfio *v, struct iobond_vfio_state *st)
{
	struct ibh_board *b = v->b;
	struct ibh_dev *d = &b->devs[v->index];
	unsigned int q;

	memset(st, 0, sizeof(*st));
	if (b->gone || !ibh_dev_present(d) || v->going)
		return;
	st->type = d->type;
	st->status = d->status;
	st->features = d->features;
	st->driver_features = d->driver_features;
	st->resets = d->resets;
	st->flags = (b->running ? IOBOND_VFIO_RUNNING : 0) |
		    (d->device_status & VIRTIO_CONFIG_S_NEEDS_RESET ?
		     IOBOND_VFIO_NEEDS_RESET : 0);
	st->num_queues = d->num_queues;
	st->index = v->index;
	st->queues_enabled = d->queues_enabled;
	for (q = 0; q < d->num_queues; q++) {
		if (!(d->queues_enabled & BIT(q)))
			continue;
		st->vq[q].size = d->vring[q].size;
		st->vq[q].desc = d->vring[q].desc;
		st->vq[q].avail = d->vring[q].avail;
		st->vq[q].used = d->vring[q].used;
	}
	ibh_dev_config(d, st->config);
}

static int ibh_vfio_open_device(struct vfio_device *vdev)
{
	struct ibh_vfio *v = container_of(vdev, struct ibh_vfio, vdev);
	struct ibh_board *b = v->b;
	struct ibh_dev *d = &b->devs[v->index];
	int ret = 0;

	mutex_lock(&b->lock);
	if (b->gone || !ibh_dev_present(d)) {
		dev_err(&b->dev, "dev%u: no device to serve\n", v->index);
		ret = -ENODEV;
	} else if (ibh_vhost_claimed(d)) {
		dev_err(&b->dev, "dev%u: served through its vhost face\n",
			v->index);
		ret = -EBUSY;
	} else {
		v->open = true;
	}
	mutex_unlock(&b->lock);
	return ret;
}

static void ibh_vfio_close_device(struct vfio_device *vdev)
{
	struct ibh_vfio *v = container_of(vdev, struct ibh_vfio, vdev);
	struct ibh_board *b = v->b;

	mutex_lock(&b->lock);
	ibh_vring_detach(b, v->index);
	if (v->state_trigger)
		eventfd_ctx_put(v->state_trigger);
	v->state_trigger = NULL;
	v->open = false;
	ibh_blk_backend_left(b, v->index);
	mutex_unlock(&b->lock);
}

static u64 ibh_vfio_region_size(struct ibh_board *b, unsigned int region)
{
	switch (region) {
	case IOBOND_VFIO_WINDOW_REGION:
		return b->window_size;
	case IOBOND_VFIO_STATE_REGION:
		return sizeof(struct iobond_vfio_state);
	case IOBOND_VFIO_NOTIFY_REGION:
		return 4 * IOBOND_MAX_QUEUES;
	default:
		return IOBOND_MAX_QUEUES * IOBOND_INFLIGHT_STRIDE;
	}
}

static int ibh_vfio_region_info(struct ibh_vfio *v, unsigned long arg)
{
	size_t minsz = offsetofend(struct vfio_region_info, offset);
	static const u32 flags[IOBOND_VFIO_NUM_REGIONS] = {
		[IOBOND_VFIO_WINDOW_REGION] = VFIO_REGION_INFO_FLAG_READ |
			VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP,
		[IOBOND_VFIO_STATE_REGION] = VFIO_REGION_INFO_FLAG_READ,
		[IOBOND_VFIO_NOTIFY_REGION] = VFIO_REGION_INFO_FLAG_WRITE,
		[IOBOND_VFIO_INFLIGHT_REGION] = VFIO_REGION_INFO_FLAG_READ |
			VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP,
	};
	struct vfio_region_info info;

	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= IOBOND_VFIO_NUM_REGIONS)
		return -EINVAL;
	info.flags = flags[info.index];
	info.offset = (u64)info.index << IOBOND_VFIO_OFFSET_SHIFT;
	info.size = ibh_vfio_region_size(v->b, info.index);
	info.cap_offset = 0;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

static int ibh_vfio_irq_info(struct ibh_vfio *v, unsigned long arg)
{
	size_t minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;

	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= IOBOND_VFIO_NUM_IRQS)
		return -EINVAL;
	info.flags = VFIO_IRQ_INFO_EVENTFD;
	mutex_lock(&v->b->lock);
	info.count = info.index == IOBOND_VFIO_KICK_IRQ ?
		     v->b->devs[v->index].num_queues : 1;
	mutex_unlock(&v->b->lock);
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

/* Point one trigger at @fd, or at nothing for -1; the board is locked. */
static int ibh_vfio_set_trigger(struct ibh_vfio *v, unsigned int index,
				unsigned int i, s32 fd)
{
	struct ibh_board *b = v->b;
	struct ibh_dev *d = &b->devs[v->index];
	struct eventfd_ctx *ctx = NULL, *old;

	if (fd >= 0) {
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
	} else if (fd != -1) {
		return -EINVAL;
	}
	if (index == IOBOND_VFIO_STATE_IRQ) {
		old = v->state_trigger;
		v->state_trigger = ctx;
	} else {
		spin_lock_irq(&b->vq_lock);
		old = d->kick[i];
		d->kick[i] = ctx;
		spin_unlock_irq(&b->vq_lock);
	}
	if (old)
		eventfd_ctx_put(old);
	return 0;
}

static int ibh_vfio_set_irqs(struct ibh_vfio *v, unsigned long arg)
{
	size_t minsz = offsetofend(struct vfio_irq_set, count);
	struct ibh_board *b = v->b;
	struct vfio_irq_set hdr;
	s32 *fds = NULL;
	size_t data_size = 0;
	unsigned int i, nirqs;
	int ret;

	if (copy_from_user(&hdr, (void __user *)arg, minsz))
		return -EFAULT;
	mutex_lock(&b->lock);
	nirqs = hdr.index == IOBOND_VFIO_KICK_IRQ ?
		b->devs[v->index].num_queues : 1;
	mutex_unlock(&b->lock);
	ret = vfio_set_irqs_validate_and_prepare(&hdr, nirqs,
						 IOBOND_VFIO_NUM_IRQS,
						 &data_size);
	if (ret)
		return ret;
	if ((hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) !=
	    VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;
	if (hdr.flags & VFIO_IRQ_SET_DATA_BOOL)
		return -EINVAL;
	if (data_size) {
		fds = memdup_user((void __user *)(arg + minsz), data_size);
		if (IS_ERR(fds))
			return PTR_ERR(fds);
	}

	mutex_lock(&b->lock);
	if (b->gone || !ibh_dev_present(&b->devs[v->index])) {
		ret = -ENODEV;
		goto out;
	}
	/* DATA_NONE with count 0 drops them all; with a count it is refused. */
	if (hdr.flags & VFIO_IRQ_SET_DATA_NONE) {
		if (hdr.count) {
			ret = -EINVAL;
			goto out;
		}
		for (i = 0; i < nirqs; i++)
			ibh_vfio_set_trigger(v, hdr.index, i, -1);
		goto out;
	}
	for (i = 0; i < hdr.count && !ret; i++)
		ret = ibh_vfio_set_trigger(v, hdr.index, hdr.start + i, fds[i]);
out:
	mutex_unlock(&b->lock);
	kfree(fds);
	return ret;
}

static long ibh_vfio_ioctl(struct vfio_device *vdev, unsigned int cmd,
			   unsigned long arg)
{
	struct ibh_vfio *v = container_of(vdev, struct ibh_vfio, vdev);
	size_t minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		if (copy_from_user(&info, (void __user *)arg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		info.flags = 0;
		info.num_regions = IOBOND_VFIO_NUM_REGIONS;
		info.num_irqs = IOBOND_VFIO_NUM_IRQS;
		return copy_to_user((void __user *)arg, &info, minsz) ?
		       -EFAULT : 0;
	case VFIO_DEVICE_GET_REGION_INFO:
		return ibh_vfio_region_info(v, arg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return ibh_vfio_irq_info(v, arg);
	case VFIO_DEVICE_SET_IRQS:
		return ibh_vfio_set_irqs(v, arg);
	}
	return -ENOTTY;
}

/* Raise queue @q's interrupt, for a 4-byte write at 4 * @q. */
static ssize_t ibh_vfio_notify(struct ibh_vfio *v, u64 off, size_t count)
{
	struct ibh_board *b = v->b;
	struct ibh_dev *d = &b->devs[v->index];
	ssize_t ret = count;
	unsigned int q;

	/* The offset is 64 bits: bound it before it becomes a queue. */
	if (count != 4 || off % 4 || off / 4 >= IOBOND_MAX_QUEUES)
		return -EINVAL;
	q = off / 4;
	mutex_lock(&b->lock);
	if (b->gone || !ibh_dev_present(d))
		ret = -ENODEV;
	else if (q >= d->num_queues || !(d->queues_enabled & BIT(q)))
		ret = -EINVAL;
	else
		ibh_dev_interrupt(b, d, q);
	mutex_unlock(&b->lock);
	return ret;
}

/*
 * Copy @n bytes at @off of a region to or from @buf; board locked.  A
 * window access that began before a zone it touches was revoked (@gen,
 * the zones' generations when it began) ends there, as a mapping's would.
 */
static int ibh_vfio_copy(struct ibh_vfio *v, unsigned int region, u64 off,
			 void *buf, size_t n, bool write, const u64 *gen)
{
	struct ibh_board *b = v->b;
	struct iobond_vfio_state st;
	void *src;

	lockdep_assert_held(&b->lock);
	if (b->gone)
		return -ENODEV;
	/* STATE is how a backend learns of a revocation: only the window ends. */
	if (region == IOBOND_VFIO_WINDOW_REGION &&
	    !ibh_zones_current(b, gen, off, n))
		return -ENODEV;
	if (region == IOBOND_VFIO_STATE_REGION) {
		ibh_vfio_state(v, &st);
		src = &st;
	} else if (region == IOBOND_VFIO_WINDOW_REGION) {
		src = iobond_link_window(b->link);
	} else {
		src = ibh_inflight(b, v->index, 0);
	}
	if (write)
		memcpy(src + off, buf, n);
	else
		memcpy(buf, src + off, n);
	return 0;
}

/*
 * Reads and writes go through a bounce page, a page at a time: the board
 * lock is never held across a user access, whose fault would take
 * mmap_lock inside it while mmap() takes the board lock inside mmap_lock.
 */
static ssize_t ibh_vfio_rw(struct vfio_device *vdev, char __user *ubuf,
			   size_t count, loff_t *ppos, bool write)
{
	struct ibh_vfio *v = container_of(vdev, struct ibh_vfio, vdev);
	struct ibh_board *b = v->b;
	unsigned int region = IBH_VFIO_REGION(*ppos);
	u64 off = IBH_VFIO_OFFSET(*ppos), size;
	size_t done = 0, n;
	int ret = 0;
	u64 gen[IOBOND_MAX_DEVICES];
	void *buf;

	if (region >= IOBOND_VFIO_NUM_REGIONS)
		return -EINVAL;
	if (region == IOBOND_VFIO_NOTIFY_REGION)
		return write ? ibh_vfio_notify(v, off, count) : -EINVAL;
	if (write && region == IOBOND_VFIO_STATE_REGION)
		return -EINVAL;
	size = ibh_vfio_region_size(b, region);
	if (off > size || count > size - off)
		return -EINVAL;
	buf = (void *)__get_free_page(GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	mutex_lock(&b->lock);
	memcpy(gen, b->zone_gen, sizeof(gen));
	mutex_unlock(&b->lock);
	while (done < count) {
		n = min_t(size_t, count - done, PAGE_SIZE);
		if (write && copy_from_user(buf, ubuf + done, n)) {
			ret = -EFAULT;
			break;
		}
		mutex_lock(&b->lock);
		ret = ibh_vfio_copy(v, region, off + done, buf, n, write, gen);
		mutex_unlock(&b->lock);
		if (ret)
			break;
		if (!write && copy_to_user(ubuf + done, buf, n)) {
			ret = -EFAULT;
			break;
		}
		done += n;
	}
	free_page((unsigned long)buf);
	*ppos += done;
	return done ? done : ret;
}

static ssize_t ibh_vfio_read(struct vfio_device *vdev, char __user *buf,
			     size_t count, loff_t *ppos)
{
	return ibh_vfio_rw(vdev, buf, count, ppos, false);
}

static ssize_t ibh_vfio_write(struct vfio_device *vdev, const char __user *buf,
			      size_t count, loff_t *ppos)
{
	return ibh_vfio_rw(vdev, (char __user *)buf, count, ppos, true);
}

static int ibh_vfio_mmap(struct vfio_device *vdev, struct vm_area_struct *vma)
{
	struct ibh_vfio *v = container_of(vdev, struct ibh_vfio, vdev);
	struct ibh_board *b = v->b;
	unsigned int shift = IOBOND_VFIO_OFFSET_SHIFT - PAGE_SHIFT;
	unsigned int region = vma->vm_pgoff >> shift;
	unsigned long pgoff = vma->vm_pgoff & (BIT(shift) - 1);
	unsigned long pages = vma_pages(vma);
	int ret;

	mutex_lock(&b->lock);
	if (region == IOBOND_VFIO_WINDOW_REGION) {
		vma->vm_pgoff = pgoff;
		ret = ibh_window_mmap(b, vma);
	} else if (region == IOBOND_VFIO_INFLIGHT_REGION &&
		   (vma->vm_flags & VM_SHARED) &&
		   pgoff < IOBOND_MAX_QUEUES &&
		   pages <= IOBOND_MAX_QUEUES - pgoff) {
		/* Each queue's record is a page of its own. */
		BUILD_BUG_ON(IOBOND_INFLIGHT_STRIDE != PAGE_SIZE);
		ret = remap_vmalloc_range(vma, b->inflight,
					  v->index * IOBOND_MAX_QUEUES + pgoff);
	} else {
		ret = -EINVAL;
	}
	mutex_unlock(&b->lock);
	return ret;
}

/* Unregistration waits for the backend: tell it the device is going. */
static void ibh_vfio_request(struct vfio_device *vdev, unsigned int count)
{
	struct ibh_vfio *v = container_of(vdev, struct ibh_vfio, vdev);

	mutex_lock(&v->b->lock);
	v->going = true;
	if (v->state_trigger)
		eventfd_signal(v->state_trigger, 1);
	if (!count)
		dev_info(&v->b->dev, "dev%u: asking its VFIO backend to close\n",
			 v->index);
	mutex_unlock(&v->b->lock);
}

static void ibh_vfio_release(struct vfio_device *vdev)
{
	vfio_free_device(vdev);
}

static const struct vfio_device_ops ibh_vfio_ops = {
	.name		= "iobond-mdev",
	.release	= ibh_vfio_release,
	.open_device	= ibh_vfio_open_device,
	.close_device	= ibh_vfio_close_device,
	.read		= ibh_vfio_read,
	.write		= ibh_vfio_write,
	.ioctl		= ibh_vfio_ioctl,
	.mmap		= ibh_vfio_mmap,
	.request	= ibh_vfio_request,
};

static int ibh_mdev_probe(struct mdev_device *mdev)
{
	unsigned int index;
	struct ibh_board *b = ibh_type_board(mdev->type, &index);
	struct ibh_vfio *v;
	int ret;

	v = vfio_alloc_device(ibh_vfio, vdev, &mdev->dev, &ibh_vfio_ops);
	if (IS_ERR(v))
		return PTR_ERR(v);
	v->b = b;
	v->index = index;

	mutex_lock(&b->lock);
	if (b->gone || !ibh_dev_present(&b->devs[index])) {
		dev_err(&b->dev, "dev%u: no device to mediate\n", index);
		ret = -ENODEV;
	} else if (b->vfio[index]) {
		dev_err(&b->dev, "dev%u: already has an mdev\n", index);
		ret = -EBUSY;
	} else {
		b->vfio[index] = v;
		ret = 0;
	}
	mutex_unlock(&b->lock);
	if (ret)
		goto err_put;

	ret = vfio_register_emulated_iommu_dev(&v->vdev);
	if (ret)
		goto err_clear;
	dev_set_drvdata(&mdev->dev, v);
	dev_info(&b->dev, "dev%u: VFIO face %s\n", index, dev_name(&mdev->dev));
	return 0;

err_clear:
	mutex_lock(&b->lock);
	b->vfio[index] = NULL;
	mutex_unlock(&b->lock);
err_put:
	vfio_put_device(&v->vdev);
	return ret;
}

static void ibh_mdev_remove(struct mdev_device *mdev)
{
	struct ibh_vfio *v = dev_get_drvdata(&mdev->dev);
	struct ibh_board *b = v->b;

	/* Returns once the backend closed the device. */
	vfio_unregister_group_dev(&v->vdev);
	mutex_lock(&b->lock);
	b->vfio[v->index] = NULL;
	mutex_unlock(&b->lock);
	vfio_put_device(&v->vdev);
}

static unsigned int ibh_mdev_available(struct mdev_type *mtype)
{
	unsigned int index;
	struct ibh_board *b = ibh_type_board(mtype, &index);
	unsigned int n;

	mutex_lock(&b->lock);
	n = !b->gone && ibh_dev_present(&b->devs[index]) && !b->vfio[index];
	mutex_unlock(&b->lock);
	return n;
}

static ssize_t ibh_mdev_description(struct mdev_type *mtype, char *buf)
{
	unsigned int index;
	struct ibh_board *b = ibh_type_board(mtype, &index);
	static const char * const types[] = {
		[IOBOND_DEV_NET] = "virtio-net", [IOBOND_DEV_BLK] = "virtio-blk",
	};
	u32 type;

	mutex_lock(&b->lock);
	type = b->gone || !ibh_dev_present(&b->devs[index]) ? 0 :
	       b->devs[index].type;
	mutex_unlock(&b->lock);
	return sysfs_emit(buf, "board%u dev%u: %s\n", b->index, index,
			  type < ARRAY_SIZE(types) && types[type] ?
			  types[type] : "empty");
}

static struct mdev_driver ibh_mdev_driver = {
	.device_api	= IOBOND_VFIO_DEVICE_API,
	.driver = {
		.name	= "iobond-mdev",
		.owner	= THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
	},
	.probe		= ibh_mdev_probe,
	.remove		= ibh_mdev_remove,
	.get_available	= ibh_mdev_available,
	.show_description = ibh_mdev_description,
};

/**
 * ibh_vfio_add_board() - give a board's node its mdev types
 * @b: the board, its node added
 *
 * Return: 0 or a negative errno.
 */
int ibh_vfio_add_board(struct ibh_board *b)
{
	unsigned int i;

	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		b->types[i].sysfs_name = ibh_type_names[i];
		b->types[i].pretty_name = ibh_type_names[i];
		b->type_ptrs[i] = &b->types[i];
	}
	return mdev_register_parent(&b->parent, &b->dev, &ibh_mdev_driver,
				    b->type_ptrs, IOBOND_MAX_DEVICES);
}

/**
 * ibh_vfio_remove_board() - remove a board's mdevs and types
 * @b: the board, unlocked
 */
void ibh_vfio_remove_board(struct ibh_board *b)
{
	mdev_unregister_parent(&b->parent);
}

int ibh_vfio_init(void)
{
	return mdev_register_driver(&ibh_mdev_driver);
}

void ibh_vfio_exit(void)
{
	mdev_unregister_driver(&ibh_mdev_driver);
}
