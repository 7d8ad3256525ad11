// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_host: the vhost face of a board.
 *
 * A backend in the host kernel (vhost-net) or in userspace serves a
 * board's queues with three things from /dev/iobond/boardN: an mmap of the
 * window, where the board's rings and buffers are, addressed by window
 * offset; a kick eventfd per queue, signalled here when the board rings
 * the queue's host vector; and a call eventfd per queue, consumed here (as
 * KVM's irqfd does) to ring the queue's vector on the board.  Once wired,
 * no userspace runs per packet.
 *
 * The eventfds of a device belong to the file that set them, until it
 * detaches them all or closes: another file is refused with EBUSY, so a
 * second backend never silently takes a queue from the first.  A backend
 * that dies (its file closes) leaves a NIC without carrier, so the board
 * stops queueing packets nothing will send.
 *
 * A device reset or removal detaches its eventfds and revokes its zone of
 * the window (IOBOND_ZONE_SIZE) in every mapping made before it: the
 * backend's next access there faults, so a backend that missed the reset
 * stops instead of writing into memory the board has reused.  It maps the
 * window again to serve anew.  The other zones stay mapped, so the other
 * devices' backends never notice.  A board stop revokes every zone.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/refcount.h>
#include <linux/slab.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "board.h"

/* A call eventfd, hooked into its wait queue like an irqfd. */
struct ibh_call {
	struct ibh_board *b;
	unsigned int index;
	unsigned int queue;
	struct eventfd_ctx *ctx;
	wait_queue_entry_t wait;
	poll_table pt;
};

/*
 * One mapping of the window, valid in each zone for the generation it was
 * made in.  It holds the file it was made through (which the VMA no longer
 * names), so that the file's release still comes after the last mapping is
 * gone.
 */
struct ibh_map {
	struct ibh_board *b;
	struct file *file;
	u64 gen[IOBOND_MAX_DEVICES];
	refcount_t users;	/* one per VMA: mremap() copies the VMA */
};

/*
 * Add up what the backend wrote into the board's buffers since last time,
 * from the queue's used ring.  A backend or board that scribbled the index
 * costs at most one ring's worth of reads.
 *
 * No lock: a reset and a new enable of the queue may come between the
 * loads of its size and its ring, and pair a new ring with an old size.
 * The pair is checked to fit in the window again, here, on the locals.
 */
static void ibh_count_used(struct ibh_board *b, struct ibh_dev *d,
			   unsigned int q)
{
	/* Pairs with ibh_op_queue_enable(): the ring is the size's or newer. */
	u32 size = smp_load_acquire(&d->vring[q].size);
	u64 off = READ_ONCE(d->vring[q].used);
	struct vring_used *used;
	u16 idx, n;

	if (!size || !ibh_in_window(b, off, 6 + 8ULL * size, 4))
		return;
	used = iobond_link_window(b->link) + off;
	idx = vrd16(used->idx);
	/* The entries are read after the index that covers them. */
	rmb();
	for (n = 0; d->last_used[q] != idx && n < size; n++)
		d->bytes[q] += vrd32(used->ring[d->last_used[q]++ &
						(size - 1)].len);
	d->last_used[q] = idx;
}

/**
 * ibh_dev_interrupt() - raise queue @q's interrupt on the board
 * @b: the board
 * @d: the device
 * @q: an enabled queue
 *
 * Context: the device's one backend notifies; any context.
 */
void ibh_dev_interrupt(struct ibh_board *b, struct ibh_dev *d, unsigned int q)
{
	d->interrupts[q]++;
	ibh_count_used(b, d, q);
	/*
	 * The engine relays an engine slot's completions, on the queue's
	 * vector.  Both are set before the device is published, and stay.
	 */
	if (READ_ONCE(d->engine))
		iobond_link_ring_engine(b->link, READ_ONCE(d->notify[q]));
	else
		iobond_link_ring_peer(b->link, READ_ONCE(d->msix[q]));
}

static void ibh_call_fire(struct ibh_call *c)
{
	u64 cnt;

	eventfd_ctx_do_read(c->ctx, &cnt);
	ibh_dev_interrupt(c->b, &c->b->devs[c->index], c->queue);
}

/* Called with the eventfd's wait queue locked, irqs off. */
static int ibh_call_wakeup(wait_queue_entry_t *wait, unsigned int mode,
			   int sync, void *key)
{
	struct ibh_call *c = container_of(wait, struct ibh_call, wait);

	if (key_to_poll(key) & EPOLLIN)
		ibh_call_fire(c);
	return 0;
}

static void ibh_call_ptable(struct file *file, wait_queue_head_t *wqh,
			    poll_table *pt)
{
	struct ibh_call *c = container_of(pt, struct ibh_call, pt);

	add_wait_queue(wqh, &c->wait);
}

static void ibh_call_free(struct ibh_call *c)
{
	u64 cnt;

	eventfd_ctx_remove_wait_queue(c->ctx, &c->wait, &cnt);
	eventfd_ctx_put(c->ctx);
	kfree(c);
}

static int ibh_call_attach(struct ibh_board *b, unsigned int index,
			   unsigned int q, int fd, struct ibh_call **out)
{
	struct fd f = fdget(fd);
	struct ibh_call *c;
	__poll_t events;
	int ret;

	if (!f.file)
		return -EBADF;
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c) {
		ret = -ENOMEM;
		goto out;
	}
	c->ctx = eventfd_ctx_fileget(f.file);
	if (IS_ERR(c->ctx)) {
		ret = PTR_ERR(c->ctx);
		kfree(c);
		goto out;
	}
	c->b = b;
	c->index = index;
	c->queue = q;
	init_waitqueue_func_entry(&c->wait, ibh_call_wakeup);
	init_poll_funcptr(&c->pt, ibh_call_ptable);
	events = vfs_poll(f.file, &c->pt);
	/*
	 * A signal that came before we listened is not lost.  Its count is
	 * left for the next wakeup to read: only the wakeup holds the
	 * eventfd's lock, which eventfd_ctx_do_read() needs.
	 */
	if ((events & EPOLLIN) && (b->devs[index].queues_enabled & BIT(q)))
		ibh_dev_interrupt(b, &b->devs[index], q);
	*out = c;
	ret = 0;
out:
	fdput(f);
	return ret;
}

/**
 * ibh_vring_detach() - drop a device's eventfds
 * @b: the board, locked
 * @index: the slot
 */
void ibh_vring_detach(struct ibh_board *b, unsigned int index)
{
	struct ibh_dev *d = &b->devs[index];
	struct eventfd_ctx *kick[IOBOND_MAX_QUEUES];
	struct ibh_call *call[IOBOND_MAX_QUEUES];
	unsigned int q;

	lockdep_assert_held(&b->lock);
	d->vhost_owner = NULL;
	d->generation++;
	d->watch_busy = 0;
	spin_lock_irq(&b->vq_lock);
	for (q = 0; q < IOBOND_MAX_QUEUES; q++) {
		kick[q] = d->kick[q];
		call[q] = d->call[q];
		d->kick[q] = NULL;
		d->call[q] = NULL;
	}
	spin_unlock_irq(&b->vq_lock);
	for (q = 0; q < IOBOND_MAX_QUEUES; q++) {
		if (kick[q])
			eventfd_ctx_put(kick[q]);
		if (call[q])
			ibh_call_free(call[q]);
	}
}

/**
 * ibh_vhost_release() - a file of the board's node closes
 * @b: the board
 * @file: the file
 *
 * The devices whose eventfds @file set lose them, and a NIC among them its
 * carrier: its backend is gone.  Their zones are revoked: the backend's
 * vhost-net may have mapped the window through another file, and must not
 * write the rings beside the next one's.  A disk's grace begins.
 */
void ibh_vhost_release(struct ibh_board *b, struct file *file)
{
	unsigned int i;

	mutex_lock(&b->lock);
	for (i = 0; i < IOBOND_MAX_DEVICES && !b->gone; i++) {
		struct ibh_dev *d = &b->devs[i];

		if (d->vhost_owner != file)
			continue;
		ibh_vring_detach(b, i);
		ibh_zone_revoke(b, i);
		dev_info_ratelimited(&b->dev, "dev%u: its backend closed its file\n",
				     i);
		if (d->type == IOBOND_DEV_NET && !d->link_down)
			ibh_dev_set_link(b, i, false);
		ibh_blk_backend_left(b, i);
	}
	mutex_unlock(&b->lock);
}

/**
 * ibh_vhost_claimed() - the vhost face has eventfds on a device
 * @d: the device, its board locked
 */
bool ibh_vhost_claimed(struct ibh_dev *d)
{
	unsigned int q;

	for (q = 0; q < IOBOND_MAX_QUEUES; q++)
		if (d->kick[q] || d->call[q])
			return true;
	return false;
}

/* Zones [@first, @last]: the mappings made so far fault there from now on. */
static void ibh_zones_revoke(struct ibh_board *b, unsigned int first,
			     unsigned int last)
{
	u64 start = first * b->zone_size;
	unsigned int z;

	lockdep_assert_held(&b->lock);
	down_write(&b->zone_lock);
	for (z = first; z <= last; z++)
		WRITE_ONCE(b->zone_gen[z], b->zone_gen[z] + 1);
	/* The last zone also holds the window's tail past the whole zones. */
	unmap_mapping_range(b->window_anchor->f_mapping, start,
			    last == IOBOND_MAX_DEVICES - 1 ?
			    b->window_size - start :
			    (last + 1 - first) * b->zone_size, 1);
	up_write(&b->zone_lock);
}

/**
 * ibh_zone_revoke() - revoke one device's zone of the window
 * @b: the board, locked
 * @index: the device's slot
 */
void ibh_zone_revoke(struct ibh_board *b, unsigned int index)
{
	ibh_zones_revoke(b, index, index);
}

/**
 * ibh_window_revoke() - make every mapping of the window fault from now on
 * @b: the board, locked
 */
void ibh_window_revoke(struct ibh_board *b)
{
	ibh_zones_revoke(b, 0, IOBOND_MAX_DEVICES - 1);
}

/**
 * ibh_zones_current() - no zone that [@off, @off + @len) touches was revoked
 * @b: the board, locked
 * @gen: the zones' generations when the access began
 * @off: window offset, in the window
 * @len: length, not 0, in the window
 */
bool ibh_zones_current(struct ibh_board *b, const u64 *gen, u64 off, u64 len)
{
	unsigned int z, last = ibh_zone_of(b, off + len - 1);

	lockdep_assert_held(&b->lock);
	for (z = ibh_zone_of(b, off); z <= last; z++)
		if (gen[z] != b->zone_gen[z])
			return false;
	return true;
}

int ibh_ioctl_vring_eventfd(struct ibh_board *b, struct file *file,
			    void __user *uarg)
{
	size_t minsz = offsetofend(struct iobond_vring_eventfd, reserved);
	struct iobond_vring_eventfd ve;
	struct eventfd_ctx *kick = NULL, *old_kick = NULL;
	struct ibh_call *call = NULL, *old_call = NULL;
	struct ibh_dev *d;
	int ret;

	ret = ibh_copy_in(&ve, uarg, minsz,
			  IOBOND_VRING_KICK | IOBOND_VRING_CALL);
	if (ret)
		return ret;
	if (hweight32(ve.flags) != 1 ||
	    memchr_inv(ve.reserved, 0, sizeof(ve.reserved)) ||
	    ve.index >= IOBOND_MAX_DEVICES || ve.fd < -1)
		return -EINVAL;

	mutex_lock(&b->lock);
	ret = ibh_dev_queue(b, ve.index, ve.queue, &d);
	if (ret)
		goto out;
	if (ibh_vfio_open(b, ve.index)) {
		dev_err(&b->dev, "dev%u: served through its VFIO face\n",
			ve.index);
		ret = -EBUSY;
		goto out;
	}
	if (d->vhost_owner && d->vhost_owner != file) {
		dev_err_ratelimited(&b->dev,
				    "dev%u: served through another file\n",
				    ve.index);
		ret = -EBUSY;
		goto out;
	}
	if (ve.fd >= 0 && ve.flags & IOBOND_VRING_KICK) {
		kick = eventfd_ctx_fdget(ve.fd);
		if (IS_ERR(kick)) {
			ret = PTR_ERR(kick);
			goto out;
		}
	} else if (ve.fd >= 0) {
		ret = ibh_call_attach(b, ve.index, ve.queue, ve.fd, &call);
		if (ret)
			goto out;
	}

	spin_lock_irq(&b->vq_lock);
	if (ve.flags & IOBOND_VRING_KICK) {
		old_kick = d->kick[ve.queue];
		d->kick[ve.queue] = kick;
	} else {
		old_call = d->call[ve.queue];
		d->call[ve.queue] = call;
	}
	spin_unlock_irq(&b->vq_lock);
	/* Its owner let go of the last: as when a backend leaves. */
	if (d->vhost_owner && !ibh_vhost_claimed(d)) {
		d->watch_busy = 0;
		ibh_blk_backend_left(b, ve.index);
	}
	d->vhost_owner = ibh_vhost_claimed(d) ? file : NULL;
	if (old_kick)
		eventfd_ctx_put(old_kick);
	if (old_call)
		ibh_call_free(old_call);
	ret = 0;
out:
	mutex_unlock(&b->lock);
	return ret;
}

int ibh_ioctl_get_vring(struct ibh_board *b, void __user *uarg)
{
	size_t minsz = offsetofend(struct iobond_vring_info, reserved);
	struct iobond_vring_info vi;
	struct ibh_dev *d;
	int ret;

	/* flags are output here, and go in as 0 (room for future inputs). */
	ret = ibh_copy_in(&vi, uarg, minsz, 0);
	if (ret)
		return ret;
	if (vi.index >= IOBOND_MAX_DEVICES)
		return -EINVAL;
	vi = (struct iobond_vring_info){ .argsz = minsz, .index = vi.index,
					 .queue = vi.queue };

	/*
	 * A stopped board's rings are on their way out: nothing is to serve
	 * them, whatever the board had enabled.
	 */
	mutex_lock(&b->lock);
	ret = ibh_dev_queue(b, vi.index, vi.queue, &d);
	if (!ret && b->running && d->queues_enabled & BIT(vi.queue)) {
		struct vring_used *used = iobond_link_window(b->link) +
					  d->vring[vi.queue].used;

		vi.flags = IOBOND_VRING_ENABLED;
		vi.size = d->vring[vi.queue].size;
		vi.desc = d->vring[vi.queue].desc;
		vi.avail = d->vring[vi.queue].avail;
		vi.used = d->vring[vi.queue].used;
		/* Checked in the window at enable; read once, handed on. */
		vi.used_idx = vrd16(used->idx);
	}
	mutex_unlock(&b->lock);
	if (ret)
		return ret;
	return copy_to_user(uarg, &vi, minsz) ? -EFAULT : 0;
}

/* Hard irq: the board rang a data vector; kick the queues behind it. */
void ibh_data_doorbell(struct iobond_link *link, unsigned int vector)
{
	struct ibh_board *b = link->owner;
	bool orphans = false, disk = false, failing = false;
	unsigned int i, q;

	spin_lock(&b->vq_lock);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		struct ibh_dev *d = &b->devs[i];

		for (q = 0; q < READ_ONCE(d->num_queues); q++) {
			if (d->notify[q] != vector ||
			    !(READ_ONCE(d->queues_enabled) & BIT(q)))
				continue;
			d->kicks[q]++;
			if (d->kick[q])
				eventfd_signal(d->kick[q], 1);
			if (READ_ONCE(d->type) != IOBOND_DEV_BLK)
				continue;
			if (READ_ONCE(d->device_status) &
			    VIRTIO_CONFIG_S_NEEDS_RESET) {
				failing = true;
				continue;
			}
			disk = true;
			if (!d->kick[q]) {
				/* The first such kick starts its grace. */
				cmpxchg(&d->orphan_since, 0, jiffies ?: 1);
				orphans = true;
			}
		}
	}
	spin_unlock(&b->vq_lock);
	/*
	 * Disk requests start the grace clocks: one fails what nothing
	 * serves, the other cuts off a backend that holds the disk and
	 * serves nothing, kick eventfd or none (blk.c).
	 */
	if (failing)
		mod_delayed_work(system_wq, &b->orphan_work, 0);
	else if (orphans)
		queue_delayed_work(system_wq, &b->orphan_work,
				   msecs_to_jiffies(IOBOND_BLK_GRACE_MS));
	if (disk)
		queue_delayed_work(system_wq, &b->watch_work,
				   msecs_to_jiffies(IOBOND_BLK_GRACE_MS));
}

/*
 * A page is mapped only while its zone is the generation the mapping was
 * made in; zone_lock keeps a revocation from running between the check
 * and the insertion, which would leave the page mapped after it.
 */
static vm_fault_t ibh_vm_fault(struct vm_fault *vmf)
{
	struct ibh_map *m = vmf->vma->vm_private_data;
	struct ibh_board *b = m->b;
	unsigned int z = ibh_zone_of(b, (u64)vmf->pgoff << PAGE_SHIFT);
	vm_fault_t ret = VM_FAULT_SIGBUS;

	down_read(&b->zone_lock);
	if (m->gen[z] == READ_ONCE(b->zone_gen[z]) && !READ_ONCE(b->gone))
		ret = vmf_insert_pfn(vmf->vma, vmf->address,
				     b->window_pfn + vmf->pgoff);
	up_read(&b->zone_lock);
	return ret;
}

/*
 * mremap() moves a mapping by copying its VMA (open) and closing the old
 * one: the record lives while either does.
 */
static void ibh_vm_open(struct vm_area_struct *vma)
{
	struct ibh_map *m = vma->vm_private_data;

	refcount_inc(&m->users);
}

static void ibh_vm_close(struct vm_area_struct *vma)
{
	struct ibh_map *m = vma->vm_private_data;

	if (!refcount_dec_and_test(&m->users))
		return;
	fput(m->file);
	put_device(&m->b->dev);
	kfree(m);
}

static int ibh_vm_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

/*
 * A window mapping stays where it was made, as a VFIO BAR mapping does:
 * mremap() puts the pages back and fails.
 */
static int ibh_vm_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static const struct vm_operations_struct ibh_vm_ops = {
	.open		= ibh_vm_open,
	.fault		= ibh_vm_fault,
	.close		= ibh_vm_close,
	.may_split	= ibh_vm_may_split,
	.mremap		= ibh_vm_mremap,
};

/**
 * ibh_window_mmap() - map the window, from page @vma->vm_pgoff of it
 * @b: the board, locked
 * @vma: the mapping
 *
 * The mapping moves to the board's window anchor, where
 * ibh_zone_revoke() and ibh_window_revoke() find it.
 *
 * Return: 0, -EINVAL for a mapping past the window or not shared,
 * -ENODEV once the board is gone.
 */
int ibh_window_mmap(struct ibh_board *b, struct vm_area_struct *vma)
{
	unsigned long pages = vma_pages(vma);
	struct ibh_map *m;

	lockdep_assert_held(&b->lock);
	/*
	 * MAP_SHARED of a file opened read-only keeps only VM_MAYSHARE: a
	 * read-only view of the window is a shared mapping too.
	 */
	if (vma->vm_pgoff > b->window_size >> PAGE_SHIFT ||
	    pages > (b->window_size >> PAGE_SHIFT) - vma->vm_pgoff ||
	    !(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (b->gone)
		return -ENODEV;
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->b = b;
	memcpy(m->gen, b->zone_gen, sizeof(m->gen));
	refcount_set(&m->users, 1);
	m->file = get_file(vma->vm_file);
	vma_set_file(vma, b->window_anchor);
	get_device(&b->dev);
	vma->vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP |
			 VM_DONTCOPY;
	vma->vm_private_data = m;
	vma->vm_ops = &ibh_vm_ops;
	return 0;
}

int ibh_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct ibh_board *b = file->private_data;
	int ret;

	mutex_lock(&b->lock);
	ret = vma->vm_pgoff ? -EINVAL : ibh_window_mmap(b, vma);
	mutex_unlock(&b->lock);
	return ret;
}
