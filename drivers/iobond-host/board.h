/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iobond_host: one compute board's control plane.
 *
 * board.c keeps the devices provisioned for the board, publishes them in
 * the region's device table and answers the board's handshakes.  cdev.c
 * puts that behind /dev/iobond/boardN.
 */
#ifndef _IOBOND_HOST_BOARD_H
#define _IOBOND_HOST_BOARD_H

#include <linux/cdev.h>
#include <linux/kfifo.h>
#include <linux/mdev.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/iobond.h>

#include "../iobond-link/iobond_link.h"

#define IBH_EVENTS	64

/*
 * A VERSION_1 device's rings and config space are little-endian whatever
 * the CPU: vrd*() read such a field once, vle*() make one.
 */
#define vrd16(f)	le16_to_cpu((__force __le16)READ_ONCE(f))
#define vrd32(f)	le32_to_cpu((__force __le32)READ_ONCE(f))
#define vrd64(f)	le64_to_cpu((__force __le64)READ_ONCE(f))
#define vle16(v)	((__force __virtio16)cpu_to_le16(v))
#define vle32(v)	((__force __virtio32)cpu_to_le32(v))
#define vle64(v)	((__force __virtio64)cpu_to_le64(v))

struct ibh_call;
struct ibh_vfio;

/* A provisioned device, as the host keeps it; type 0 is an empty slot. */
struct ibh_dev {
	u32 type;
	u16 num_queues;
	u16 queue_size;
	u64 features;		/* offered, transport bits included */
	struct iobond_net_config net;
	struct iobond_blk_config blk;
	u32 hs_acked;		/* the last board request answered */
	u32 config_gen;		/* as published: odd while the config changes */
	u32 status;		/* the status the board's driver last reported */
	u64 driver_features;
	u32 queues_enabled;
	bool link_down;		/* the NIC's carrier, as the operator set it */
	u32 device_status;	/* the host's status bits: NEEDS_RESET */
	u32 resets;		/* resets the board's driver asked for */
	u32 added;		/* the board's add count when this one came */
	u64 tag;		/* the operator's name for it, published */
	u64 kicks[IOBOND_MAX_QUEUES];
	u64 interrupts[IOBOND_MAX_QUEUES];
	u64 bytes[IOBOND_MAX_QUEUES];
	u16 last_used[IOBOND_MAX_QUEUES];	/* used index counted to */
	/*
	 * A disk's grace clocks (blk.c).  @orphan_since: when it was first
	 * kicked with nothing serving it, or its backend left; 0 once the
	 * clock saw it served, idle or without a driver (a reset of the
	 * board's driver brings no backend, and leaves it).  Set from the
	 * doorbell (cmpxchg), else WRITE_ONCE.  The rest under the board's
	 * lock: its backend was cut off (it serves the disk no more until
	 * it lets go or the board resets the disk), and the last look at its
	 * queues while served: when, which had requests waiting, and the
	 * used, taken and alive counts then.
	 */
	unsigned long orphan_since;
	bool cut_off;
	unsigned long watch_at;
	u32 watch_busy;
	u16 watch_used[IOBOND_MAX_QUEUES];
	u16 watch_taken[IOBOND_MAX_QUEUES];
	u32 watch_alive[IOBOND_MAX_QUEUES];
	/* The host vector the board rings for each queue, as published. */
	u16 notify[IOBOND_MAX_QUEUES];
	/*
	 * What the board enabled each queue with, as checked; written under
	 * the board's lock.  ibh_count_used() reads a queue's size (acquire)
	 * and used ring without it, and checks the pair again.
	 */
	u16 msix[IOBOND_MAX_QUEUES];
	struct {
		u32 size;
		u64 desc, avail, used;
	} vring[IOBOND_MAX_QUEUES];
	/* The vhost face (vhost.c); the pointers change under vq_lock. */
	struct eventfd_ctx *kick[IOBOND_MAX_QUEUES];
	struct ibh_call *call[IOBOND_MAX_QUEUES];
	/*
	 * The file that set them, or NULL while there are none; under the
	 * board's lock.  No reference: the file's release clears it first.
	 */
	struct file *vhost_owner;
	u32 generation;		/* eventfd detaches, under the board's lock */
	/*
	 * A removed disk the board's driver still holds (IOBOND_SLOT_LEAVING),
	 * under the board's lock.  To every ioctl the slot is empty.
	 */
	bool leaving;
	/* Its data goes through the link's engine (engine.c); set at add. */
	bool engine;
};

/* A device the operator sees: provisioned, and not on its way out. */
static inline bool ibh_dev_present(const struct ibh_dev *d)
{
	return d->type && !d->leaving;
}

/**
 * struct ibh_board - one board: its link, devices and character device
 * @link: the host end of the board's link; not to be touched once @gone
 * @index: N in /dev/iobond/boardN
 * @cdev: the character device; an open file holds @dev through it
 * @dev: the board's device: its node, its messages, its lifetime (the
 *	last put frees the board)
 * @ctrl_work: answers the board's handshakes; queued by control doorbells
 * @lock: serialises ioctls against @ctrl_work; protects the fields below
 *	down to @devs, and the device table in the region
 * @gone: the link function was unbound; ioctls fail with ENODEV
 * @running: devices are published to the board
 * @devs: the slots
 * @instance: the last slot instance published
 * @adds: devices added so far, under @lock; tells one device in a slot
 *	from a later one
 * @zone_lock: taken for writing to revoke a zone, for reading by a fault
 *	that maps a page of the window: no fault maps a page its zone's
 *	revocation has taken away.  Nests inside @lock and mmap_lock
 * @zone_gen: per zone of the window (IOBOND_ZONE_SIZE): mappings made in
 *	an older generation of a zone fault there.  Changes under @lock and
 *	@zone_lock; read under either
 * @zone_size: the size of each zone
 * @window_anchor: every mapping of the window hangs off this file's address
 *	space, whichever file it was made through (the board's node or an
 *	mdev, whose files share anonymous inodes), so one call revokes them
 * @window_pfn: first page frame of the window (BAR2 + IOBOND_WINDOW_OFF)
 * @window_size: its length
 * @vq_lock: protects the devices' kick and call pointers against the
 *	doorbell handler; taken in hard irq
 * @vfio: the mediated device of each slot, if one was created (vfio.c);
 *	set and cleared under @lock
 * @parent: the mdev parent: @dev, with one mdev type per slot
 * @types: those types
 * @type_ptrs: the same, as mdev_register_parent() takes them
 * @inflight: each device's struct iobond_inflight records, one page per
 *	queue, shared with its VFIO backend (vmalloc_user)
 * @orphan_work: fails virtio-blk requests nothing serves (blk.c)
 * @watch_work: cuts off a disk's backend that serves nothing (blk.c)
 * @ev_lock: protects @events and @ev_lost
 * @events: queued for read()
 * @ev_lost: events dropped since the last read
 * @ev_wq: readers and pollers wait here
 * @answer_delay_ms: debugfs "answer_delay_ms": the control work sleeps this
 *	long before it answers, so that the tests can make a host too slow
 *	for the board's IOBOND_HANDSHAKE_MS; 0 but in tests
 * @eng_seq: the last request made of the engine, any slot's; under @lock
 * @eng_live: slots the engine may relay a queue of (a start was asked,
 *	and no stop answered since), whatever device they hold; under @lock
 */
struct ibh_board {
	struct iobond_link *link;
	unsigned int index;
	struct cdev cdev;
	struct device dev;
	struct work_struct ctrl_work;

	struct mutex lock;	/* see above */
	bool gone;
	bool running;
	struct ibh_dev devs[IOBOND_MAX_DEVICES];
	u32 instance;
	u32 adds;
	struct rw_semaphore zone_lock;	/* see above */
	u64 zone_gen[IOBOND_MAX_DEVICES];
	u64 zone_size;
	struct file *window_anchor;
	unsigned long window_pfn;
	size_t window_size;
	spinlock_t vq_lock;	/* see above */
	struct ibh_vfio *vfio[IOBOND_MAX_DEVICES];
	struct mdev_parent parent;
	struct mdev_type types[IOBOND_MAX_DEVICES];
	struct mdev_type *type_ptrs[IOBOND_MAX_DEVICES];
	void *inflight;
	struct delayed_work orphan_work;
	struct delayed_work watch_work;

	spinlock_t ev_lock;	/* see above */
	DECLARE_KFIFO(events, struct iobond_event, IBH_EVENTS);
	u32 ev_lost;
	wait_queue_head_t ev_wq;
	u32 answer_delay_ms;
	u32 eng_seq;
	unsigned long eng_live;
};

/* board.c */
void ibh_board_init(struct ibh_board *b, struct iobond_link *link);
void ibh_board_attach(struct ibh_board *b);
void ibh_board_stop_work(struct ibh_board *b);
void ibh_event(struct ibh_board *b, u32 type, u32 index, u32 arg);
int ibh_dev_add(struct ibh_board *b, struct iobond_device_add *add);
int ibh_dev_remove(struct ibh_board *b, unsigned int index);
void ibh_dev_clear(struct ibh_board *b, unsigned int index);
void ibh_board_set_running(struct ibh_board *b, bool running);
void ibh_board_reset(struct ibh_board *b);
int ibh_dev_set_link(struct ibh_board *b, unsigned int index, bool up);
int ibh_dev_queue(struct ibh_board *b, u32 index, u32 q, struct ibh_dev **d);
u16 ibh_notify_vector(struct ibh_board *b, unsigned int index, unsigned int q);
bool ibh_in_window(struct ibh_board *b, u64 off, u64 len, u64 align);
bool ibh_in_zone(struct ibh_board *b, unsigned int index, u64 off, u64 len,
		 u64 align);
unsigned int ibh_zone_of(struct ibh_board *b, u64 off);
void ibh_config_changed(struct ibh_board *b, unsigned int index);
unsigned int ibh_dev_config(struct ibh_dev *d, u8 *config);

/* blk.c */
int ibh_blk_check(struct ibh_board *b, struct iobond_device_add *add);
void ibh_blk_write_config(struct ibh_dev *d, u8 *config);
struct iobond_inflight *ibh_inflight(struct ibh_board *b, unsigned int index,
				     unsigned int q);
bool ibh_blk_served(struct ibh_board *b, unsigned int index);
void ibh_blk_orphan_work(struct work_struct *work);
void ibh_blk_watch_work(struct work_struct *work);
void ibh_blk_backend_left(struct ibh_board *b, unsigned int index);
void ibh_blk_leave(struct ibh_board *b, unsigned int index);

/* engine.c */
u64 ibh_shadow_pool_size(struct ibh_board *b, u32 num_queues, u32 queue_size);
int ibh_engine_queue(struct ibh_board *b, unsigned int index, unsigned int q,
		     u32 gen);
void ibh_engine_stop(struct ibh_board *b, unsigned int index);

/* vhost.c */
void ibh_vring_detach(struct ibh_board *b, unsigned int index);
void ibh_zone_revoke(struct ibh_board *b, unsigned int index);
void ibh_window_revoke(struct ibh_board *b);
bool ibh_zones_current(struct ibh_board *b, const u64 *gen, u64 off, u64 len);
int ibh_ioctl_vring_eventfd(struct ibh_board *b, struct file *file,
			    void __user *uarg);
void ibh_vhost_release(struct ibh_board *b, struct file *file);
int ibh_ioctl_get_vring(struct ibh_board *b, void __user *uarg);
void ibh_data_doorbell(struct iobond_link *link, unsigned int vector);
void ibh_dev_interrupt(struct ibh_board *b, struct ibh_dev *d, unsigned int q);
bool ibh_vhost_claimed(struct ibh_dev *d);
int ibh_window_mmap(struct ibh_board *b, struct vm_area_struct *vma);
int ibh_mmap(struct file *file, struct vm_area_struct *vma);

/* vfio.c */
int ibh_vfio_init(void);
void ibh_vfio_exit(void);
int ibh_vfio_add_board(struct ibh_board *b);
void ibh_vfio_remove_board(struct ibh_board *b);
bool ibh_vfio_open(struct ibh_board *b, unsigned int index);
void ibh_vfio_changed(struct ibh_board *b, unsigned int index);

/* cdev.c */
int ibh_copy_in(void *karg, const void __user *uarg, size_t minsz,
		u32 known_flags);
int ibh_cdev_init(void);
void ibh_cdev_exit(void);
struct ibh_board *ibh_board_create(struct iobond_link *link);
void ibh_board_destroy(struct ibh_board *b);

#endif /* _IOBOND_HOST_BOARD_H */
