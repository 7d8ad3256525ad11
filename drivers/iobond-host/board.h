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
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/iobond.h>

#include "../iobond-link/iobond_link.h"

#define IBH_EVENTS	64

struct ibh_call;

/* A provisioned device, as the host keeps it; type 0 is an empty slot. */
struct ibh_dev {
	u32 type;
	u16 num_queues;
	u16 queue_size;
	u64 features;		/* offered, transport bits included */
	struct iobond_net_config net;
	u32 hs_acked;		/* the last board request answered */
	u32 status;		/* the status the board's driver last reported */
	u64 driver_features;
	u32 queues_enabled;
	bool link_down;		/* the NIC's carrier, as the operator set it */
	u64 kicks[IOBOND_MAX_QUEUES];
	u64 interrupts[IOBOND_MAX_QUEUES];
	u64 bytes[IOBOND_MAX_QUEUES];
	u16 last_used[IOBOND_MAX_QUEUES];	/* used index counted to */
	/* The host vector the board rings for each queue, as published. */
	u16 notify[IOBOND_MAX_QUEUES];
	/* What the board enabled each queue with, as checked. */
	u16 msix[IOBOND_MAX_QUEUES];
	struct {
		u32 size;
		u64 desc, avail, used;
	} vring[IOBOND_MAX_QUEUES];
	/* The vhost face (vhost.c); the pointers change under vq_lock. */
	struct eventfd_ctx *kick[IOBOND_MAX_QUEUES];
	struct ibh_call *call[IOBOND_MAX_QUEUES];
};

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
 * @window_gen: mappings of the window made in an older generation fault
 * @mapping: the address space the window is mapped through, to revoke it
 * @window_pfn: first page frame of the window (BAR2 + IOBOND_WINDOW_OFF)
 * @window_size: its length
 * @vq_lock: protects the devices' kick and call pointers against the
 *	doorbell handler; taken in hard irq
 * @ev_lock: protects @events and @ev_lost
 * @events: queued for read()
 * @ev_lost: events dropped since the last read
 * @ev_wq: readers and pollers wait here
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
	u32 window_gen;
	struct address_space *mapping;
	unsigned long window_pfn;
	size_t window_size;
	spinlock_t vq_lock;	/* see above */

	spinlock_t ev_lock;	/* see above */
	DECLARE_KFIFO(events, struct iobond_event, IBH_EVENTS);
	u32 ev_lost;
	wait_queue_head_t ev_wq;
};

/* board.c */
void ibh_board_init(struct ibh_board *b, struct iobond_link *link);
void ibh_board_stop_work(struct ibh_board *b);
void ibh_event(struct ibh_board *b, u32 type, u32 index, u32 arg);
int ibh_dev_add(struct ibh_board *b, struct iobond_device_add *add);
int ibh_dev_remove(struct ibh_board *b, unsigned int index);
void ibh_board_set_running(struct ibh_board *b, bool running);
void ibh_board_reset(struct ibh_board *b);
int ibh_dev_set_link(struct ibh_board *b, unsigned int index, bool up);
int ibh_dev_queue(struct ibh_board *b, u32 index, u32 q, struct ibh_dev **d);
u16 ibh_notify_vector(struct ibh_board *b, unsigned int index, unsigned int q);

/* vhost.c */
void ibh_vring_detach(struct ibh_board *b, unsigned int index);
void ibh_window_revoke(struct ibh_board *b);
int ibh_ioctl_vring_eventfd(struct ibh_board *b, void __user *uarg);
int ibh_ioctl_get_vring(struct ibh_board *b, void __user *uarg);
void ibh_data_doorbell(struct iobond_link *link, unsigned int vector);
int ibh_mmap(struct file *file, struct vm_area_struct *vma);

/* cdev.c */
int ibh_copy_in(void *karg, const void __user *uarg, size_t minsz,
		u32 known_flags);
int ibh_cdev_init(void);
void ibh_cdev_exit(void);
struct ibh_board *ibh_board_create(struct iobond_link *link);
void ibh_board_destroy(struct ibh_board *b);

#endif /* _IOBOND_HOST_BOARD_H */
