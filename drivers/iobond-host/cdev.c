// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_host: /dev/iobond/boardN, the control face of each board.
 *
 * The ioctls follow vfio.h: each struct starts with argsz and flags; an
 * argsz below the struct's first version, an unknown flag or a non-zero
 * reserved field is EINVAL, and nothing changes.  Events reach userspace
 * through read() and poll().
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/poll.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "board.h"

#define IBH_MAX_BOARDS	64

/* The uAPI's layout: the tag took reserved words, and moved nothing. */
static_assert(offsetof(struct iobond_device_add, tag) == 96);
static_assert(sizeof(struct iobond_device_add) == 128);

static dev_t ibh_devt;
static struct class *ibh_class;
static DEFINE_IDA(ibh_ida);

/* Copy in the first @minsz bytes of an argsz-led struct and check them. */
int ibh_copy_in(void *karg, const void __user *uarg, size_t minsz,
		u32 known_flags)
{
	const struct { u32 argsz, flags; } *hdr = karg;

	if (copy_from_user(karg, uarg, minsz))
		return -EFAULT;
	if (hdr->argsz < minsz || hdr->flags & ~known_flags)
		return -EINVAL;
	return 0;
}

#define ibh_reserved_clear(field) (!memchr_inv(&(field), 0, sizeof(field)))

static int ibh_ioctl_info(struct ibh_board *b, void __user *uarg)
{
	size_t minsz = offsetofend(struct iobond_board_info, reserved);
	struct iobond_board_info info;
	struct iobond_link *link = b->link;
	unsigned int i;
	int ret;

	/* flags are output here, and go in as 0 (room for future inputs). */
	ret = ibh_copy_in(&info, uarg, minsz, 0);
	if (ret)
		return ret;
	info = (struct iobond_board_info){ .argsz = minsz };
	info.index = b->index;
	info.max_devices = IOBOND_MAX_DEVICES;
	info.max_queues = IOBOND_MAX_QUEUES;

	mutex_lock(&b->lock);
	if (b->gone) {
		mutex_unlock(&b->lock);
		return -ENODEV;
	}
	if (iobond_link_peer_alive(link))
		info.flags |= IOBOND_BOARD_LINK_UP;
	if (b->running)
		info.flags |= IOBOND_BOARD_RUNNING;
	if (iobond_link_engine_id(link, IOBOND_CTRL_VECTOR) >= 0)
		info.flags |= IOBOND_BOARD_ENGINE;
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		info.num_devices += ibh_dev_present(&b->devs[i]);
	info.own_id = link->ivs.own_id;
	info.peer_id = READ_ONCE(link->peer_id);
	info.nvectors = link->ivs.nvec;
	info.peer_nvectors = READ_ONCE(link->peer_nvec);
	info.region_size = link->ivs.shm_size;
	info.window_size = iobond_link_window_size(link);
	mutex_unlock(&b->lock);

	return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
}

static int ibh_ioctl_ctrl(struct ibh_board *b, void __user *uarg)
{
	size_t minsz = offsetofend(struct iobond_board_ctrl, reserved);
	u32 known = IOBOND_BOARD_START | IOBOND_BOARD_STOP | IOBOND_BOARD_RESET;
	struct iobond_board_ctrl ctrl;
	int ret;

	ret = ibh_copy_in(&ctrl, uarg, minsz, known);
	if (ret)
		return ret;
	if (hweight32(ctrl.flags) != 1 || !ibh_reserved_clear(ctrl.reserved))
		return -EINVAL;

	mutex_lock(&b->lock);
	if (b->gone) {
		ret = -ENODEV;
	} else if (ctrl.flags & IOBOND_BOARD_RESET) {
		ibh_board_reset(b);
		dev_info(&b->dev, "reset\n");
	} else if (!!(ctrl.flags & IOBOND_BOARD_START) == b->running) {
		/*
		 * Already so.  Publishing the slots again would give the board
		 * new devices for the ones its drivers hold, behind the backs
		 * of the backends serving them.
		 */
	} else {
		ibh_board_set_running(b, ctrl.flags & IOBOND_BOARD_START);
		dev_info(&b->dev, "%s\n", b->running ? "started" : "stopped");
	}
	mutex_unlock(&b->lock);
	return ret;
}

static int ibh_ioctl_add(struct ibh_board *b, void __user *uarg)
{
	size_t minsz = offsetofend(struct iobond_device_add, reserved);
	struct iobond_device_add add;
	u32 __user *uindex;
	u32 added = 0;
	int ret;

	ret = ibh_copy_in(&add, uarg, minsz, IOBOND_ADD_ENGINE);
	if (ret)
		return ret;
	if (add.reserved0 || !ibh_reserved_clear(add.reserved) ||
	    (add.type == IOBOND_DEV_NET &&
	     !ibh_reserved_clear(add.config.net.reserved)))
		return -EINVAL;

	/*
	 * The answer is written outside the board lock (a fault under it
	 * would nest mmap_lock inside it).  A destination that cannot take
	 * it is refused before the device is added, and a device whose
	 * answer could still not be written is taken away again.
	 */
	uindex = uarg + offsetof(struct iobond_device_add, index);
	if (put_user(IOBOND_MAX_DEVICES, uindex))
		return -EFAULT;
	mutex_lock(&b->lock);
	ret = b->gone ? -ENODEV : ibh_dev_add(b, &add);
	if (!ret)
		added = b->devs[add.index].added;
	mutex_unlock(&b->lock);
	if (ret)
		return ret;
	if (!put_user(add.index, uindex))
		return 0;
	/* Only this device: the slot may hold another one by now. */
	mutex_lock(&b->lock);
	if (!b->gone && ibh_dev_present(&b->devs[add.index]) &&
	    b->devs[add.index].added == added)
		ibh_dev_remove(b, add.index);
	mutex_unlock(&b->lock);
	return -EFAULT;
}

static int ibh_ioctl_remove(struct ibh_board *b, void __user *uarg)
{
	size_t minsz = offsetofend(struct iobond_device_ref, reserved);
	struct iobond_device_ref ref;
	int ret;

	ret = ibh_copy_in(&ref, uarg, minsz, 0);
	if (ret)
		return ret;
	if (ref.reserved)
		return -EINVAL;

	mutex_lock(&b->lock);
	ret = b->gone ? -ENODEV : ibh_dev_remove(b, ref.index);
	mutex_unlock(&b->lock);
	return ret;
}

static int ibh_ioctl_get_dev(struct ibh_board *b, struct file *file,
			     void __user *uarg)
{
	size_t minsz = offsetofend(struct iobond_device_info, reserved);
	struct iobond_device_info info;
	struct ibh_dev *d;
	u32 index;
	int ret;

	/* flags are output here, and go in as 0 (room for future inputs). */
	ret = ibh_copy_in(&info, uarg, minsz, 0);
	if (ret)
		return ret;
	index = info.index;
	if (index >= IOBOND_MAX_DEVICES)
		return -EINVAL;
	info = (struct iobond_device_info){ .argsz = minsz, .index = index };

	mutex_lock(&b->lock);
	if (b->gone) {
		mutex_unlock(&b->lock);
		return -ENODEV;
	}
	d = &b->devs[index];
	if (d->leaving) {
		/* Empty to the operator; the slot is not free yet. */
		info.flags = IOBOND_DEVICE_LEAVING;
		info.generation = d->generation;
		mutex_unlock(&b->lock);
		return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
	}
	info.type = d->type;
	info.features = d->features;
	info.driver_features = d->driver_features;
	info.status = d->status;
	info.num_queues = d->num_queues;
	info.queue_size = d->queue_size;
	info.queues_enabled = d->queues_enabled;
	info.generation = d->generation;
	info.instance = d->added;
	if (d->type && d->vhost_owner == file)
		info.flags |= IOBOND_DEVICE_OWNED;
	if (d->engine)
		info.flags |= IOBOND_DEVICE_ENGINE;
	if (d->type == IOBOND_DEV_BLK)
		info.config.blk = d->blk;
	else
		info.config.net = d->net;
	mutex_unlock(&b->lock);

	return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
}

static int ibh_ioctl_stats(struct ibh_board *b, void __user *uarg)
{
	size_t minsz = offsetofend(struct iobond_queue_stats, reserved);
	struct iobond_queue_stats st;
	struct ibh_dev *d;
	int ret;

	ret = ibh_copy_in(&st, uarg, minsz, 0);
	if (ret)
		return ret;
	if (st.index >= IOBOND_MAX_DEVICES || !ibh_reserved_clear(st.reserved))
		return -EINVAL;

	mutex_lock(&b->lock);
	ret = ibh_dev_queue(b, st.index, st.queue, &d);
	if (!ret) {
		st.kicks = d->kicks[st.queue];
		st.interrupts = d->interrupts[st.queue];
		st.bytes = d->bytes[st.queue];
	}
	mutex_unlock(&b->lock);
	if (ret)
		return ret;
	return copy_to_user(uarg, &st, minsz) ? -EFAULT : 0;
}

static int ibh_ioctl_net_link(struct ibh_board *b, void __user *uarg)
{
	size_t minsz = offsetofend(struct iobond_net_link, reserved);
	struct iobond_net_link nl;
	int ret;

	ret = ibh_copy_in(&nl, uarg, minsz, IOBOND_NET_LINK_UP);
	if (ret)
		return ret;
	if (nl.reserved)
		return -EINVAL;
	mutex_lock(&b->lock);
	ret = b->gone ? -ENODEV :
	      ibh_dev_set_link(b, nl.index, nl.flags & IOBOND_NET_LINK_UP);
	mutex_unlock(&b->lock);
	return ret;
}

static long ibh_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ibh_board *b = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case IOBOND_GET_BOARD_INFO:
		return ibh_ioctl_info(b, uarg);
	case IOBOND_BOARD_CTRL:
		return ibh_ioctl_ctrl(b, uarg);
	case IOBOND_ADD_DEVICE:
		return ibh_ioctl_add(b, uarg);
	case IOBOND_REMOVE_DEVICE:
		return ibh_ioctl_remove(b, uarg);
	case IOBOND_GET_DEVICE:
		return ibh_ioctl_get_dev(b, file, uarg);
	case IOBOND_GET_QUEUE_STATS:
		return ibh_ioctl_stats(b, uarg);
	case IOBOND_GET_VRING:
		return ibh_ioctl_get_vring(b, uarg);
	case IOBOND_SET_VRING_EVENTFD:
		return ibh_ioctl_vring_eventfd(b, file, uarg);
	case IOBOND_SET_NET_LINK:
		return ibh_ioctl_net_link(b, uarg);
	default:
		return -ENOTTY;
	}
}

/* Take one event, or the overflow notice that stands for the lost ones. */
static bool ibh_take_event(struct ibh_board *b, struct iobond_event *ev)
{
	bool got;

	spin_lock_irq(&b->ev_lock);
	if (b->ev_lost) {
		*ev = (struct iobond_event){ .type = IOBOND_EVENT_OVERFLOW,
					     .arg = b->ev_lost,
					     .time_ns = ktime_get_ns() };
		b->ev_lost = 0;
		got = true;
	} else {
		got = kfifo_get(&b->events, ev);
	}
	spin_unlock_irq(&b->ev_lock);
	return got;
}

static bool ibh_events_ready(struct ibh_board *b)
{
	return !kfifo_is_empty(&b->events) || READ_ONCE(b->ev_lost) ||
	       READ_ONCE(b->gone);
}

static ssize_t ibh_read(struct file *file, char __user *buf, size_t len,
			loff_t *ppos)
{
	struct ibh_board *b = file->private_data;
	struct iobond_event ev;
	size_t done = 0;
	int ret;

	if (len < sizeof(ev))
		return -EINVAL;
	while (!done) {
		if (!(file->f_flags & O_NONBLOCK)) {
			ret = wait_event_interruptible(b->ev_wq,
						       ibh_events_ready(b));
			if (ret)
				return ret;
		}
		while (done + sizeof(ev) <= len && ibh_take_event(b, &ev)) {
			if (copy_to_user(buf + done, &ev, sizeof(ev)))
				return done ?: -EFAULT;
			done += sizeof(ev);
		}
		if (!done && (READ_ONCE(b->gone) || file->f_flags & O_NONBLOCK))
			return READ_ONCE(b->gone) ? -ENODEV : -EAGAIN;
	}
	return done;
}

static __poll_t ibh_poll(struct file *file, poll_table *wait)
{
	struct ibh_board *b = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &b->ev_wq, wait);
	if (!kfifo_is_empty(&b->events) || READ_ONCE(b->ev_lost))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (READ_ONCE(b->gone))
		mask |= EPOLLHUP | EPOLLERR;
	return mask;
}

static int ibh_open(struct inode *inode, struct file *file)
{
	struct ibh_board *b = container_of(inode->i_cdev, struct ibh_board,
					   cdev);

	get_device(&b->dev);
	file->private_data = b;
	return nonseekable_open(inode, file);
}

static int ibh_release(struct inode *inode, struct file *file)
{
	struct ibh_board *b = file->private_data;

	ibh_vhost_release(b, file);
	put_device(&b->dev);
	return 0;
}

static const struct file_operations ibh_fops = {
	.owner		= THIS_MODULE,
	.open		= ibh_open,
	.release	= ibh_release,
	.read		= ibh_read,
	.poll		= ibh_poll,
	.mmap		= ibh_mmap,
	.unlocked_ioctl	= ibh_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= no_llseek,
};

static void ibh_board_release(struct device *dev)
{
	struct ibh_board *b = container_of(dev, struct ibh_board, dev);

	if (b->window_anchor)
		fput(b->window_anchor);
	vfree(b->inflight);
	kfree(b);
}

/*
 * Every file open on @b sees ENODEV from now on, no vring stays attached
 * and nothing of the window stays mapped: @b's link may go.
 */
static void ibh_board_shut(struct ibh_board *b)
{
	unsigned int i;

	mutex_lock(&b->lock);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		ibh_vring_detach(b, i);
	ibh_window_revoke(b);
	b->gone = true;
	mutex_unlock(&b->lock);
	wake_up_interruptible(&b->ev_wq);
}

/**
 * ibh_board_create() - the control plane and /dev/iobond/boardN of a link
 * @link: the host end of the board's link, not yet started
 *
 * Return: the board, or an ERR_PTR.
 */
struct ibh_board *ibh_board_create(struct iobond_link *link)
{
	struct device *parent = &link->ivs.pdev->dev;
	struct ibh_board *b;
	int index, ret;

	index = ida_alloc_max(&ibh_ida, IBH_MAX_BOARDS - 1, GFP_KERNEL);
	if (index < 0) {
		dev_err(parent, "no board number left: %d\n", index);
		return ERR_PTR(index);
	}
	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b) {
		ida_free(&ibh_ida, index);
		return ERR_PTR(-ENOMEM);
	}
	/* From here the device's release frees @b; the number is ours. */
	b->index = index;
	ibh_board_init(b, link);
	b->inflight = vmalloc_user(IOBOND_MAX_DEVICES * IOBOND_MAX_QUEUES *
				   IOBOND_INFLIGHT_STRIDE);
	b->window_anchor = shmem_file_setup("iobond-window", 0, VM_NORESERVE);
	if (IS_ERR(b->window_anchor))
		b->window_anchor = NULL;

	device_initialize(&b->dev);
	b->dev.class = ibh_class;
	b->dev.parent = parent;
	b->dev.devt = MKDEV(MAJOR(ibh_devt), index);
	b->dev.release = ibh_board_release;
	cdev_init(&b->cdev, &ibh_fops);
	b->cdev.owner = THIS_MODULE;
	ret = dev_set_name(&b->dev, "board%d", index);
	if (ret || !b->inflight || !b->window_anchor) {
		ret = ret ?: -ENOMEM;
		goto err_put;
	}
	ret = cdev_device_add(&b->cdev, &b->dev);
	if (ret) {
		dev_err(parent, "cannot add /dev/iobond/board%d: %d\n", index,
			ret);
		goto err_put;
	}
	ret = ibh_vfio_add_board(b);
	if (ret) {
		dev_err(parent, "board%d: no VFIO face: %d\n", index, ret);
		goto err_del;
	}
	ibh_board_attach(b);
	return b;

err_del:
	/* A file opened meanwhile outlives @b's link: it must see ENODEV. */
	ibh_board_shut(b);
	cdev_device_del(&b->cdev, &b->dev);
err_put:
	ibh_board_stop_work(b);
	put_device(&b->dev);
	ida_free(&ibh_ida, index);
	return ERR_PTR(ret);
}

/**
 * ibh_board_destroy() - take the board's node away; open files see ENODEV
 * @b: the board
 *
 * Call before the link goes down; the board is freed with its last file.
 */
void ibh_board_destroy(struct ibh_board *b)
{
	/* Waits for each mdev's backend to close it; they are told first. */
	ibh_vfio_remove_board(b);
	ibh_board_shut(b);
	cdev_device_del(&b->cdev, &b->dev);
	/* A board bound again may take the number while old files linger. */
	ida_free(&ibh_ida, b->index);
}

static char *ibh_devnode(struct device *dev, umode_t *mode)
{
	return kasprintf(GFP_KERNEL, "iobond/%s", dev_name(dev));
}

int ibh_cdev_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&ibh_devt, 0, IBH_MAX_BOARDS, KBUILD_MODNAME);
	if (ret)
		return ret;
	ibh_class = class_create(THIS_MODULE, "iobond");
	if (IS_ERR(ibh_class)) {
		unregister_chrdev_region(ibh_devt, IBH_MAX_BOARDS);
		return PTR_ERR(ibh_class);
	}
	ibh_class->devnode = ibh_devnode;
	return 0;
}

void ibh_cdev_exit(void)
{
	class_destroy(ibh_class);
	unregister_chrdev_region(ibh_devt, IBH_MAX_BOARDS);
}
