/* SPDX-License-Identifier: GPL-2.0 */
/*
 * IO-Bond link layer, shared by iobond_host.ko and iobond_guest.ko.
 *
 * Two layers, one file each:
 *  - ivshmem.c: the link backend.  It maps the region, rings a peer's
 *    vector and receives vectors.  It knows nothing of the protocol, so a
 *    real IO-Bond function can become a second backend.
 *  - link.c: the link protocol over the region's first page: format
 *    (host) or attach (board), heartbeat, peer liveness, doorbell echo.
 *
 * The sources are compiled into each module through a one-line wrapper
 * (drivers/iobond-{host,guest}/link.c) so that each module stays
 * self-contained: a board kernel loads one module, a host kernel another.
 */
#ifndef _IOBOND_LINK_H
#define _IOBOND_LINK_H

#include <linux/interrupt.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/iobond.h>

/*
 * The region's fields are little-endian and shared with the other side:
 * each is read and written exactly once per access.
 */
#define rd16(field)	le16_to_cpu(READ_ONCE(field))
#define rd32(field)	le32_to_cpu(READ_ONCE(field))
#define rd64(field)	le64_to_cpu(READ_ONCE(field))
#define wr16(field, v)	WRITE_ONCE(field, cpu_to_le16(v))
#define wr32(field, v)	WRITE_ONCE(field, cpu_to_le32(v))
#define wr64(field, v)	WRITE_ONCE(field, cpu_to_le64(v))

/* QEMU's ivshmem-doorbell, the emulated link function. */
#define IOBOND_IVSHMEM_VENDOR	PCI_VENDOR_ID_REDHAT_QUMRANET
#define IOBOND_IVSHMEM_DEVICE	0x1110

/*
 * The ID table entry of a link driver.  QEMU gives both ends of a link the
 * same IDs, so it matches only where userspace named the driver in
 * driver_override.
 */
#define IOBOND_LINK_PCI_ID \
	PCI_DEVICE_DRIVER_OVERRIDE(IOBOND_IVSHMEM_VENDOR, IOBOND_IVSHMEM_DEVICE, 1)

struct iobond_ivshmem;

/* One MSI-X vector of the link function. */
struct iobond_ivshmem_vec {
	struct iobond_ivshmem *ivs;
	unsigned int index;
	unsigned long count;	/* doorbells received; written by its handler */
	char name[32];		/* shown in /proc/interrupts */
};

/**
 * struct iobond_ivshmem - an ivshmem-doorbell function used as a link end
 * @pdev: the PCI function
 * @regs: BAR0 registers
 * @shm: BAR2, the shared region, mapped write-back
 * @shm_size: length of @shm in bytes
 * @own_id: this end's peer id (IVPosition)
 * @nvec: MSI-X vectors granted, at most IOBOND_MAX_VECTORS
 * @vec: per-vector state
 * @doorbell: called in hard-irq context for each doorbell received
 */
struct iobond_ivshmem {
	struct pci_dev *pdev;
	void __iomem *regs;
	void *shm;
	resource_size_t shm_size;
	u32 own_id;
	unsigned int nvec;
	struct iobond_ivshmem_vec vec[IOBOND_MAX_VECTORS];
	void (*doorbell)(struct iobond_ivshmem *ivs, unsigned int vector);
};

int iobond_ivshmem_init(struct iobond_ivshmem *ivs, struct pci_dev *pdev,
			void (*doorbell)(struct iobond_ivshmem *ivs,
					 unsigned int vector));
void iobond_ivshmem_exit(struct iobond_ivshmem *ivs);
void iobond_ivshmem_ring(struct iobond_ivshmem *ivs, u32 peer,
			 unsigned int vector);

enum iobond_role {
	IOBOND_ROLE_HOST,	/* mainboard: formats the region */
	IOBOND_ROLE_BOARD,	/* compute board: attaches to a formatted one */
};

/**
 * struct iobond_link - one end of a bonded link
 * @ivs: the backend
 * @role: which end this is
 * @hdr: the link header at the start of the region
 * @own: this end's block in @hdr
 * @peer: the other end's block in @hdr; never trusted unchecked
 * @tick: heartbeat and liveness check, every IOBOND_HEARTBEAT_MS
 * @lock: serialises @tick against status readers; protects the fields
 *	below it down to @lost_after_ms
 * @attached: board only: own block published for @epoch
 * @epoch: the format epoch this end works in
 * @heartbeat: own heartbeat counter
 * @complaint: last reason logged for not attaching (logs once per reason)
 * @peer_alive: the peer's heartbeat is moving; read locklessly by the irq
 * @peer_id: the peer's validated id, valid while @peer_alive
 * @peer_nvec: the peer's validated vector count, valid while @peer_alive
 * @peer_hb_seen: @peer_hb holds a heartbeat read from an ONLINE block
 * @peer_hb: the peer heartbeat last seen
 * @peer_hb_at: jiffies when @peer_hb last changed
 * @peer_ups: times the peer came up
 * @peer_losses: times the peer was lost
 * @lost_after_ms: how long the peer's heartbeat had stood at the last loss
 * @echo_lock: one echo run at a time; protects @echo_seq and @echo_result
 * @echo_seq: the last echo request made, per vector
 * @echo_wq: echo requesters wait here for the reply
 * @echo_acked: the last peer request answered, per vector; written by that
 *	vector's handler while the peer is alive, reset when it comes up
 * @echo_heard: the peer's answer as that vector's handler last saw it
 * @echo_result: text of the last echo run, for debugfs
 * @dbg: debugfs directory
 * @stopped: iobond_link_exit() ran; unbind and shutdown both call it
 * @owner: the module's state for this link
 *
 * The hooks below are set once, by iobond_link_set_owner(), and read with
 * acquire: the vectors are live from probe, so a peer can ring before the
 * owner is whole, and until then its doorbells reach only the link.
 *
 * @ctrl_doorbell: if set, called in hard-irq context for each doorbell on
 *	the control vector, after the link has queued its own check
 * @peer_changed: if set, called from the tick, with @lock held, when the
 *	peer comes up or is lost
 * @data_doorbell: if set, called in hard-irq context for each doorbell on
 *	any other vector
 */
struct iobond_link {
	struct iobond_ivshmem ivs;
	enum iobond_role role;
	struct iobond_link_hdr *hdr;
	struct iobond_side *own;
	struct iobond_side *peer;
	struct delayed_work tick;

	struct mutex lock;	/* tick vs. status readers; see above */
	bool attached;
	u64 epoch;
	u64 heartbeat;
	const char *complaint;
	bool peer_alive;
	u32 peer_id;
	u32 peer_nvec;
	bool peer_hb_seen;
	u64 peer_hb;
	unsigned long peer_hb_at;
	unsigned int peer_ups;
	unsigned int peer_losses;
	unsigned int lost_after_ms;

	struct mutex echo_lock;	/* one echo run at a time */
	u32 echo_seq[IOBOND_MAX_VECTORS];
	wait_queue_head_t echo_wq;
	u32 echo_acked[IOBOND_MAX_VECTORS];
	u32 echo_heard[IOBOND_MAX_VECTORS];
	char echo_result[192];

	struct dentry *dbg;
	bool stopped;

	void *owner;
	void (*ctrl_doorbell)(struct iobond_link *link);
	void (*peer_changed)(struct iobond_link *link, bool up);
	void (*data_doorbell)(struct iobond_link *link, unsigned int vector);
};

struct iobond_link *iobond_link_probe(struct pci_dev *pdev,
				      enum iobond_role role,
				      struct dentry *dbg_root);
void iobond_link_set_owner(struct iobond_link *link, void *owner,
			   void (*ctrl_doorbell)(struct iobond_link *link),
			   void (*peer_changed)(struct iobond_link *link, bool up),
			   void (*data_doorbell)(struct iobond_link *link,
						 unsigned int vector));
void iobond_link_start(struct iobond_link *link);

/* Slot @i of the region's device table. */
static inline struct iobond_dev_slot *iobond_link_slot(struct iobond_link *link,
						       unsigned int i)
{
	return link->ivs.shm + IOBOND_DEV_TABLE_OFF +
	       i * sizeof(struct iobond_dev_slot);
}

/* The DMA window: window offset X is at iobond_link_window() + X. */
static inline void *iobond_link_window(struct iobond_link *link)
{
	return link->ivs.shm + IOBOND_WINDOW_OFF;
}

static inline size_t iobond_link_window_size(struct iobond_link *link)
{
	return link->ivs.shm_size - IOBOND_WINDOW_OFF;
}

static inline bool iobond_link_peer_alive(struct iobond_link *link)
{
	/* Pairs with the release in the tick that declares the peer up. */
	return smp_load_acquire(&link->peer_alive);
}

void iobond_link_ring_peer(struct iobond_link *link, unsigned int vector);
int iobond_link_engine_id(struct iobond_link *link, unsigned int vector);
void iobond_link_ring_engine(struct iobond_link *link, unsigned int vector);
void iobond_link_exit(struct iobond_link *link);
int iobond_link_echo(struct iobond_link *link, unsigned int vector,
		     unsigned int timeout_ms, u64 *rtt_ns);
const char *iobond_state_name(u32 state);

void iobond_link_debugfs_init(struct iobond_link *link, struct dentry *root);
void iobond_link_debugfs_exit(struct iobond_link *link);

#endif /* _IOBOND_LINK_H */
