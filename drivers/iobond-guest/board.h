/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iobond_guest: the board's virtio transport over its IO-Bond link.
 *
 * dma.c keeps every DMA address inside the region's window; transport.c
 * turns the host's device slots into virtio devices.
 */
#ifndef _IOBOND_GUEST_BOARD_H
#define _IOBOND_GUEST_BOARD_H

#include <linux/device.h>
#include <linux/genalloc.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/virtio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <uapi/linux/iobond.h>

#include "../iobond-link/iobond_link.h"

struct ibg_board;

/**
 * struct ibg_zone - one slot's zone of the window (IOBOND_ZONE_SIZE)
 * @dev: parent of the slot's virtio device; carries the window's DMA ops
 * @board: the board
 * @pool: allocator over the zone; the first page of the window is never
 *	in it, so no buffer is at address 0
 * @fence_lock: protects the fields below; taken with interrupts off, as
 *	buffers are freed in hard irq
 * @fenced: the host did not answer the device's reset, and its backend
 *	may still write what it was handed: nothing freed in the zone is
 *	handed out again until the host answers a reset, or says the slot
 *	is gone (dma.c)
 * @fenced_frees: the frees held back meanwhile
 * @fenced_bytes: their size, with those no record could be made for,
 *	which stay lost
 */
struct ibg_zone {
	struct device dev;
	struct ibg_board *board;
	struct gen_pool *pool;
	spinlock_t fence_lock;	/* see above */
	bool fenced;
	struct list_head fenced_frees;
	size_t fenced_bytes;
};

/* One virtqueue of a device, and the board vector its interrupts use. */
struct ibg_vq {
	struct virtqueue *vq;
	unsigned int vector;
};

/**
 * struct ibg_vdev - one device slot presented as a virtio device
 * @vdev: the virtio device
 * @board: its board
 * @index: the slot
 * @slot: the slot in the region; host-written fields are checked on read
 * @device_id: virtio device id, as checked when the slot was taken
 * @instance: the slot's instance when it was taken
 * @config_gen: the config generation last told to the driver
 * @features: the features offered, as read when the slot was taken
 * @num_queues: checked against IOBOND_MAX_QUEUES
 * @config_len: checked against IOBOND_CONFIG_SIZE
 * @tag: the host's name for the device (iobond_dev_slot.tag), 0 for none
 * @engine: its rings and buffers are in board memory, which the link's
 *	engine reaches (IOBOND_SLOT_F_ENGINE), as read when the slot was taken
 * @eng_gen: the reset_seq of its last reset, which its queue requests
 *	carry (req_gen)
 * @config: its config space as the driver was probed with it, whole: a
 *	held device's driver reads it here, as its slot may hold another
 * @config_ok: @config was read whole
 * @probed_vqs: the queues the driver last found; a restore finds as many
 * @polled: one of them is polled, not called back
 * @status: the status this driver last set (the board owns it)
 * @hs_lock: one request at a time
 * @vqs: queues, by index
 * @broken: the host was lost; the device is broken and will be replaced,
 *	unless it is held
 * @held_drv: while the disk is frozen for its host (hold.c), its driver,
 *	whose module is pinned; else NULL.  Under the scan lock
 * @held_until: when its hold ends (jiffies)
 * @held_retry: a step of the hold waits for the host or the device's
 *	lock: the scan tries again soon
 * @detached: no host stands behind the device: the transport asks it
 *	nothing, and queues it makes are broken.  Set while the device is
 *	frozen, and when it is restored without a host; written under the
 *	scan lock and the device's lock, read by the config ops
 */
struct ibg_vdev {
	struct virtio_device vdev;
	struct ibg_board *board;
	unsigned int index;
	struct iobond_dev_slot *slot;
	u32 device_id;
	u32 instance;
	u32 config_gen;
	u64 features;
	u16 num_queues;
	u16 config_len;
	u64 tag;
	bool engine;
	u32 eng_gen;
	u8 config[IOBOND_CONFIG_SIZE];
	bool config_ok;
	unsigned int probed_vqs;
	bool polled;
	u8 status;
	struct mutex hs_lock;	/* one request in flight per slot */
	struct ibg_vq vqs[IOBOND_MAX_QUEUES];
	bool broken;
	struct virtio_driver *held_drv;
	unsigned long held_until;
	bool held_retry;
	bool detached;
};

/**
 * struct ibg_board - the board end of a link, as a virtio transport
 * @link: the link
 * @dev: the transport; parent of the zones
 * @zones: each slot's zone, the parent of its virtio device
 * @window: the window's mapping
 * @window_size: its length
 * @maps: streaming mappings, by window offset: where each bounce buffer
 *	copies from and to; kept here, never in the region.  Its lock is
 *	taken with interrupts off: virtio_blk unmaps in its hard-irq
 *	completion, virtio_net in softirq, and both map in process context
 * @nmaps: streaming mappings live
 * @hog_mutex: serialises the writers of debugfs "hog"
 * @hog_lock: protects @hogs; @hogged and @hog_keeping are written under
 *	it and read without it.  Taken with interrupts off: the hog keeps
 *	what is unmapped in any context
 * @hogs: window runs the tests took through debugfs "hog", or kept
 * @hogged: their total, in bytes as asked (the pool rounds each run up
 *	to 64 bytes)
 * @hog_keeping: the hog keeps every streaming mapping's run when undone
 * @hs_wq: requesters wait here for the host's answers
 * @scan_work: re-reads the device table
 * @scan_lock: serialises scans; protects @vdevs and @stopping
 * @vdevs: the devices presented, by slot; the interrupt handler reads
 *	them under @vec_lock
 * @stopping: the driver is unbinding; no scan may add a device
 * @hold_work: scans again when a held disk's grace ends
 * @vec_lock: protects the queue lists the interrupt handler walks
 * @eng_resets: engine slots' resets the engine was asked to stop for
 */
struct ibg_board {
	struct iobond_link *link;
	struct device dev;
	struct ibg_zone *zones[IOBOND_MAX_DEVICES];
	void *window;
	size_t window_size;
	struct xarray maps;
	atomic_t nmaps;
	struct mutex hog_mutex;	/* see above */
	spinlock_t hog_lock;	/* see above */
	struct list_head hogs;
	size_t hogged;
	bool hog_keeping;
	wait_queue_head_t hs_wq;
	struct work_struct scan_work;
	struct mutex scan_lock;	/* see above */
	struct ibg_vdev *vdevs[IOBOND_MAX_DEVICES];
	bool stopping;
	struct delayed_work hold_work;
	spinlock_t vec_lock;	/* see above */
	atomic_t eng_resets;
};

/* dma.c */
int ibg_dma_init(struct ibg_board *b);
void ibg_zone_fence(struct ibg_zone *z);
void ibg_zone_unfence(struct ibg_zone *z);
bool ibg_zone_fenced(struct ibg_zone *z);
void ibg_dma_debugfs(struct ibg_board *b);
void ibg_dma_exit(struct ibg_board *b);

/* hold.c: freezing needs the PM core's sleep support. */
#ifdef CONFIG_PM_SLEEP
bool ibg_holdable(struct ibg_vdev *vd);
bool ibg_hold(struct ibg_vdev *vd);
bool ibg_held_stays(struct ibg_board *b, struct ibg_vdev *vd, bool up);
int ibg_release(struct ibg_vdev *vd);
void ibg_unhold(struct ibg_vdev *vd);
void ibg_hold_work(struct work_struct *work);
#else
static inline bool ibg_holdable(struct ibg_vdev *vd) { return false; }
static inline bool ibg_hold(struct ibg_vdev *vd) { return false; }
static inline bool ibg_held_stays(struct ibg_board *b, struct ibg_vdev *vd,
				  bool up) { return false; }
static inline int ibg_release(struct ibg_vdev *vd) { return 0; }
static inline void ibg_unhold(struct ibg_vdev *vd) { }
static inline void ibg_hold_work(struct work_struct *work) { }
#endif

/* transport.c */
int ibg_config_read(struct iobond_dev_slot *slot, u8 *buf, unsigned int len,
		    u32 *gen);
struct ibg_board *ibg_board_create(struct iobond_link *link);
void ibg_board_stop(struct ibg_board *b);
void ibg_board_destroy(struct ibg_board *b);

#endif /* _IOBOND_GUEST_BOARD_H */
