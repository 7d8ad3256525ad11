/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * IO-Bond: the bonded region shared by a compute board and its mainboard.
 *
 * The region is BAR2 of the link function on each side.  Its first page is
 * the link header: one block written by the host (mainboard) side and one
 * written by the board side.  Each side writes only its own block and only
 * reads the other's, so every field has exactly one writer.  Neither side
 * trusts a value written by the other before checking it.
 *
 * All fields are little-endian.  The layout is specified in
 * Documentation/iobond/link.rst.
 */
#ifndef _UAPI_LINUX_IOBOND_H
#define _UAPI_LINUX_IOBOND_H

#include <linux/types.h>

#define IOBOND_MAGIC		0x444e4f42	/* "BOND" read as bytes */
/*
 * 2: each slot's rings and buffers lie in its zone of the window.
 * 3: a removed disk leaves (IOBOND_SLOT_LEAVING).
 * 4: the engine: its block in the header, engine slots, their mailboxes
 *    and shadow rings.
 */
#define IOBOND_VERSION		4

/* Doorbell vectors a side may publish; ivshmem numbers them 0..N-1. */
#define IOBOND_MAX_VECTORS	32

/*
 * Vector 0 is the control vector: a ring on it means "re-read the other
 * side's block now".  It is only a hint; state always lives in the region.
 */
#define IOBOND_CTRL_VECTOR	0

/* ivshmem peer ids are 16 bits wide (the doorbell register's high half). */
#define IOBOND_MAX_PEER_ID	0xffff

/*
 * Liveness.  Each side bumps its heartbeat every IOBOND_HEARTBEAT_MS.  A
 * side whose heartbeat has not moved for IOBOND_PEER_TIMEOUT_MS is lost; a
 * side that writes IOBOND_SIDE_OFFLINE is gone at once.
 */
#define IOBOND_HEARTBEAT_MS	250
#define IOBOND_PEER_TIMEOUT_MS	2000

/* enum iobond_side_state: the value of iobond_side.state */
#define IOBOND_SIDE_ABSENT	0	/* never attached, or wiped by a format */
#define IOBOND_SIDE_ONLINE	1	/* attached; heartbeat running */
#define IOBOND_SIDE_OFFLINE	2	/* detached cleanly (driver unbound) */

/**
 * struct iobond_echo - doorbell echo mailboxes, one per vector
 * @seq: echo requests this side made, per vector
 * @ack: the last request of the other side answered, per vector
 *
 * To test vector V in both directions a side bumps seq[V] and rings the
 * other side's vector V.  The other side copies that seq[V] into its own
 * ack[V] and rings back on vector V.
 */
struct iobond_echo {
	__le32 seq[IOBOND_MAX_VECTORS];
	__le32 ack[IOBOND_MAX_VECTORS];
};

/**
 * struct iobond_side - the block one side of the link owns
 * @peer_id: this side's ivshmem peer id (IVPosition)
 * @state: IOBOND_SIDE_*
 * @heartbeat: bumped every IOBOND_HEARTBEAT_MS while ONLINE
 * @nvectors: doorbell vectors this side receives (MSI-X vectors granted)
 * @reserved: zero
 * @echo: doorbell echo mailboxes
 */
struct iobond_side {
	__le32 peer_id;
	__le32 state;
	__le64 heartbeat;
	__le32 nvectors;
	__le32 reserved[11];
	struct iobond_echo echo;
};

/**
 * struct iobond_link_hdr - the first page of the region
 * @magic: IOBOND_MAGIC, written last when the host formats the region
 * @version: IOBOND_VERSION
 * @region_size: size of the region in bytes, as the host's BAR2 reports it
 * @epoch: random, non-zero; changes every time the host formats the region
 * @dev_table_off: offset of the device table (IOBOND_DEV_TABLE_OFF)
 * @max_devices: slots in the device table (IOBOND_MAX_DEVICES)
 * @slot_size: bytes per slot (sizeof(struct iobond_dev_slot))
 * @dev_generation: bumped by the host after each slot it fills or empties
 * @window_off: offset of the DMA window: every ring and buffer the board
 *	shares with the host lies in it, named by its offset in the window
 * @window_size: length of the DMA window
 * @reserved: zero
 * @host: written by the mainboard side only
 * @board: written by the board side only
 * @engine: written by the engine only (Documentation/iobond/engine.rst):
 *	the emulated IO-Bond's DMA engine, a third peer of the link, which
 *	publishes its block again after every format
 */
struct iobond_link_hdr {
	__le32 magic;
	__le32 version;
	__le64 region_size;
	__le64 epoch;
	__le32 dev_table_off;
	__le32 max_devices;
	__le32 slot_size;
	__le32 dev_generation;
	__le64 window_off;
	__le64 window_size;
	__le32 reserved[2];
	struct iobond_side host;
	struct iobond_side board;
	struct iobond_side engine;
};

#define IOBOND_LINK_HDR_SIZE	4096

/*
 * The device table: one slot per device the host provisions, after the
 * link header.  The DMA window takes the rest of the region.
 */
#define IOBOND_DEV_TABLE_OFF	IOBOND_LINK_HDR_SIZE
#define IOBOND_MAX_DEVICES	8
#define IOBOND_MAX_QUEUES	16
#define IOBOND_CONFIG_SIZE	256
#define IOBOND_WINDOW_OFF	0x10000
#define IOBOND_NO_VECTOR	0xffff

/*
 * The window is cut into one zone per slot, each a whole number of 64 KiB
 * (the largest page size either side may map with): slot i's rings and
 * buffers lie in zone i, which starts at window offset
 * i * IOBOND_ZONE_SIZE(window_size).  The tail past the last zone is never
 * used.  When a device is reset or removed, the host revokes its zone and
 * no other: a backend that missed the reset faults there, and every other
 * device's backend runs on.  A region of 1 MiB or more gives every zone
 * 64 KiB at least.
 */
#define IOBOND_ZONE_ALIGN	0x10000
#define IOBOND_ZONE_SIZE(window_size)					\
	(((__u64)(window_size) / IOBOND_MAX_DEVICES) &			\
	 ~(__u64)(IOBOND_ZONE_ALIGN - 1))

/*
 * iobond_dev_slot.state, written by the host.  A disk removed while the
 * board's driver holds it is LEAVING: a driver's remove waits for the
 * requests it has out, so the host fails each of them with IOERR, and
 * every new one, until the board resets the device (its driver is gone).
 * Then the slot is EMPTY.  A board removes a LEAVING device as it would
 * an EMPTY one, but leaves its queues whole, so that the failures reach
 * the driver.  Until then the host answers the device's resets and
 * nothing else.
 */
#define IOBOND_SLOT_EMPTY	0
#define IOBOND_SLOT_PRESENT	1
#define IOBOND_SLOT_LEAVING	2

/*
 * iobond_dev_slot.flags, written by the host.  An engine slot's rings and
 * buffers lie in board memory, at the board's DMA addresses; the engine
 * relays its queues to shadow rings in the slot's zone, which the host's
 * backends serve.  The board kicks the engine, and the host's calls go to
 * the engine, which interrupts the board.
 */
#define IOBOND_SLOT_F_ENGINE	(1 << 0)

/**
 * struct iobond_vq - one virtqueue of a device slot
 * @size_max: host: the largest ring the board may use, a power of two
 * @notify: host: the host vector the board rings to kick this queue
 * @size: board: the ring size chosen, a power of two <= @size_max
 * @msix: board: its vector for this queue's interrupts, or IOBOND_NO_VECTOR
 * @reserved0: zero
 * @desc: board: window offset of the descriptor table (an engine slot's:
 *	its DMA address in board memory, as for @avail and @used)
 * @avail: board: window offset of the driver (available) ring
 * @used: board: window offset of the device (used) ring
 * @reserved: zero
 *
 * The board fills @size, @msix and the offsets, then asks the host to
 * enable the queue (IOBOND_OP_QUEUE_ENABLE); the host checks them first.
 */
struct iobond_vq {
	__le16 size_max;
	__le16 notify;
	__le16 size;
	__le16 msix;
	__le32 reserved0[2];
	__le64 desc;
	__le64 avail;
	__le64 used;
	__le64 reserved[3];
};

/*
 * Synchronous operations: the board writes its request, bumps req_seq and
 * rings the host's control vector; the host answers in its kernel, whether
 * or not a backend runs, by writing ack_result and then ack_seq = req_seq,
 * and rings the board's control vector.  The board waits at most
 * IOBOND_HANDSHAKE_MS.
 */
#define IOBOND_OP_STATUS	1	/* status was written: check FEATURES_OK */
#define IOBOND_OP_RESET		2	/* the driver reset the device */
#define IOBOND_OP_QUEUE_ENABLE	3	/* queue req_arg is set up: check, use */
#define IOBOND_HANDSHAKE_MS	1000

/**
 * struct iobond_handshake - a device slot's request mailbox
 * @req_seq: board: bumped for each request
 * @req_op: board: IOBOND_OP_*
 * @req_arg: board: the queue index, for IOBOND_OP_QUEUE_ENABLE
 * @ack_seq: host: the req_seq answered
 * @ack_result: host: 0, or a positive errno for a refused request
 * @req_gen: board: an engine slot's last reset_seq (struct
 *	iobond_engine_mbox), for IOBOND_OP_QUEUE_ENABLE: the engine starts
 *	the queue only if the board reset the device no more since
 * @reserved: zero
 */
struct iobond_handshake {
	__le32 req_seq;
	__le32 req_op;
	__le32 req_arg;
	__le32 ack_seq;
	__le32 ack_result;
	__le32 req_gen;
	__le32 reserved[2];
};

/*
 * The engine's mailbox in each slot: the host writes req_op and req_arg,
 * then bumps req_seq and rings the engine's control vector; the engine
 * answers with ack_result (0 or a positive errno), then ack_seq = req_seq.
 * The host waits at most IOBOND_ENGINE_MS, within the board's own
 * IOBOND_HANDSHAKE_MS.
 *
 * A board that resets an engine slot's device stops the engine itself
 * first, as a real bond's reset register stops its DMA whatever the host
 * does: it writes a new reset_seq and rings the engine's control vector; the
 * engine stops every queue of the slot, writes reset_ack = reset_seq and
 * rings the board's control vector.  The board waits at most
 * IOBOND_ENGINE_MS.
 */
#define IOBOND_ENG_START	1	/* relay queue req_arg: see below */
#define IOBOND_ENG_STOP		2	/* stop every queue of the slot */
#define IOBOND_ENGINE_MS	300

/**
 * struct iobond_engine_mbox - a slot's requests to the engine
 * @req_seq: host: bumped for each request
 * @req_op: host: IOBOND_ENG_*
 * @req_arg: host: the queue, for IOBOND_ENG_START
 * @ack_seq: engine: the req_seq answered
 * @ack_result: engine: 0, or a positive errno
 * @reset_seq: board: a new number for each reset of the device
 * @reset_ack: engine: the reset_seq that stopped the slot's queues
 * @req_gen: host: for IOBOND_ENG_START, the board's req_gen of the
 *	QUEUE_ENABLE it answers
 *
 * IOBOND_ENG_START: the board's ring of queue req_arg is where its
 * struct iobond_vq says, and the shadow ring and buffer pool where the
 * slot's struct iobond_shadow says; the features are the slot's
 * driver_features.  The engine refuses it (ESTALE) if req_gen is not the
 * board's last reset_seq it saw: the board reset the device since it asked
 * for the queue, and may have freed the ring.  The engine checks everything
 * else too, zeroes the shadow ring and relays from then on.
 * IOBOND_ENG_STOP: the engine forgets every chain in flight and touches
 * neither memory for the slot again until a START.
 */
struct iobond_engine_mbox {
	__le32 req_seq;
	__le32 req_op;
	__le32 req_arg;
	__le32 ack_seq;
	__le32 ack_result;
	__le32 reset_seq;
	__le32 reset_ack;
	__le32 req_gen;
};

/**
 * struct iobond_shadow - where the host put one queue's shadow ring
 * @desc: offset of the descriptor table in the slot's zone
 * @avail: offset of the driver ring in the zone
 * @used: offset of the device ring in the zone
 * @pool: offset in the zone of the queue's buffer pool: the engine places
 *	the buffers of the chains it relays there, in 64-byte granules
 * @pool_size: its length, a multiple of 64
 * @size: the ring's size: the device's largest, no smaller than the
 *	board's
 * @reserved0: zero
 * @reserved: zero
 *
 * Written by the host before it asks the engine to start the queue.  The
 * engine refuses a board ring larger than @size.
 */
struct iobond_shadow {
	__le32 desc;
	__le32 avail;
	__le32 used;
	__le32 pool;
	__le32 pool_size;
	__le16 size;
	__le16 reserved0;
	__le32 reserved[2];
};

/**
 * struct iobond_dev_slot - one provisioned virtio device
 * @state: host: IOBOND_SLOT_*
 * @device_id: host: the virtio device id (VIRTIO_ID_NET, ...)
 * @vendor_id: host: the virtio vendor id
 * @config_generation: host: odd while @config changes, even once it is
 *	whole; it moves with every change
 * @device_features: host: the features offered
 * @num_queues: host: queues in @vq, at most IOBOND_MAX_QUEUES
 * @config_len: host: bytes of @config that are the device's config space
 * @instance: host: new, non-zero, each time the slot is published; a board
 *	that sees it change treats the slot as a new device
 * @device_status: host: status bits the device sets, announced with a bump
 *	of @config_generation: VIRTIO_CONFIG_S_NEEDS_RESET when requests were
 *	failed because no backend served them; cleared by a reset
 * @flags: host: IOBOND_SLOT_F_*
 * @tag: host: the device's identity, as the operator provisioned it (0:
 *	none); a board that held a device while the host was away takes the
 *	device published in its slot for it only if the tags match
 * @reserved_host: zero
 * @driver_features: board: the features the driver accepted
 * @status: board: the virtio device status byte
 * @reserved_board: zero
 * @hs: the request mailbox
 * @eng: an engine slot's mailbox to the engine
 * @reserved: zero
 * @vq: the queues
 * @config: host: the device-specific config space
 * @shadow: host: an engine slot's shadow rings, by queue
 */
struct iobond_dev_slot {
	__le32 state;
	__le32 device_id;
	__le32 vendor_id;
	__le32 config_generation;
	__le64 device_features;
	__le16 num_queues;
	__le16 config_len;
	__le32 instance;
	__le32 device_status;
	__le32 flags;
	__le64 tag;
	__le32 reserved_host[4];
	__le64 driver_features;
	__le32 status;
	__le32 reserved_board[13];
	struct iobond_handshake hs;
	struct iobond_engine_mbox eng;
	__le32 reserved[16];
	struct iobond_vq vq[IOBOND_MAX_QUEUES];
	__u8 config[IOBOND_CONFIG_SIZE];
	struct iobond_shadow shadow[IOBOND_MAX_QUEUES];
};

/*
 * The control plane: one character device per board, /dev/iobond/boardN.
 *
 * Every ioctl takes a struct that starts with argsz (the size userspace
 * knows) and flags, as in vfio.h.  argsz below the first version of the
 * struct is EINVAL; unknown input flags are EINVAL; reserved fields must be
 * zero.  The kernel writes back at most argsz bytes.  Where @flags is
 * output (the GET ioctls), it goes in as 0: no input flag is defined yet.
 */
#define IOBOND_TYPE		0xB8

/* Device types: the virtio device ids. */
#define IOBOND_DEV_NET		1
#define IOBOND_DEV_BLK		2

/*
 * IOBOND_GET_BOARD_INFO - _IO(IOBOND_TYPE, 0), struct iobond_board_info
 *
 * The board's link and its provisioning state.  @flags is output.
 */
struct iobond_board_info {
	__u32 argsz;
	__u32 flags;
#define IOBOND_BOARD_LINK_UP	(1 << 0)	/* the board's link end is up */
#define IOBOND_BOARD_RUNNING	(1 << 1)	/* devices are visible to it */
#define IOBOND_BOARD_ENGINE	(1 << 2)	/* an engine is on the link */
	__u32 index;
	__u32 num_devices;
	__u32 max_devices;
	__u32 max_queues;
	__u32 own_id;
	__u32 peer_id;
	__u32 nvectors;
	__u32 peer_nvectors;
	__aligned_u64 region_size;
	__aligned_u64 window_size;
	__u32 reserved[4];
};
#define IOBOND_GET_BOARD_INFO	_IO(IOBOND_TYPE, 0)

/*
 * IOBOND_BOARD_CTRL - _IO(IOBOND_TYPE, 1), struct iobond_board_ctrl
 *
 * Exactly one flag: START shows the provisioned devices to the board,
 * STOP hides them, RESET hides them and clears what the board negotiated.
 * START on a running board and STOP on a stopped one change nothing.
 */
struct iobond_board_ctrl {
	__u32 argsz;
	__u32 flags;
#define IOBOND_BOARD_START	(1 << 0)
#define IOBOND_BOARD_STOP	(1 << 1)
#define IOBOND_BOARD_RESET	(1 << 2)
	__u32 reserved[2];
};
#define IOBOND_BOARD_CTRL	_IO(IOBOND_TYPE, 1)

/**
 * struct iobond_net_config - what a virtio-net device is provisioned with
 * @mac: the MAC address; all zeros and multicast addresses are refused
 * @mtu: the MTU offered with VIRTIO_NET_F_MTU, or 0 for none
 * @reserved: zero
 */
struct iobond_net_config {
	__u8 mac[6];
	__u16 mtu;
	__u32 reserved[14];
};

/**
 * struct iobond_blk_config - what a virtio-blk device is provisioned with
 * @capacity: the disk's size in 512-byte sectors, not 0
 * @blk_size: the logical block size: a power of two, 512 to 4096
 * @physical_block_exp: log2 of logical blocks per physical block, 0 to 3
 * @reserved0: zero
 * @size_max: output: the largest data segment, what the board's window
 *	maps at once
 * @seg_max: output: the most data segments in one request
 * @max_discard_sectors: the largest discard, with VIRTIO_BLK_F_DISCARD;
 *	0 there means the whole disk
 * @max_write_zeroes_sectors: likewise, with VIRTIO_BLK_F_WRITE_ZEROES
 * @reserved: zero
 *
 * The backend serving the disk takes the same limits from the device's
 * config space (VFIO region IOBOND_VFIO_STATE_REGION) and refuses requests
 * beyond them.
 */
struct iobond_blk_config {
	__aligned_u64 capacity;
	__u32 blk_size;
	__u8 physical_block_exp;
	__u8 reserved0[3];
	__u32 size_max;
	__u32 seg_max;
	__u32 max_discard_sectors;
	__u32 max_write_zeroes_sectors;
	__u32 reserved[8];
};

/* A device's provisioned configuration, by type. */
union iobond_dev_config {
	struct iobond_net_config net;
	struct iobond_blk_config blk;
	__u8 raw[64];
};

/*
 * IOBOND_ADD_DEVICE - _IO(IOBOND_TYPE, 2), struct iobond_device_add
 *
 * Provision a device in the first free slot; @index returns it.  @features
 * are the device-specific features to offer (bits 0-23); the transport's
 * own (VERSION_1, ACCESS_PLATFORM, ...) are added by the kernel.
 * @num_queues counts virtqueues, @queue_size is a power of two.
 *
 * A virtio-blk device offers SIZE_MAX, SEG_MAX, BLK_SIZE and TOPOLOGY
 * always; @features may add RO, FLUSH, MQ (required for more than one
 * queue), DISCARD and WRITE_ZEROES.  Its queues hold at most
 * IOBOND_BLK_QUEUE_MAX entries.
 *
 * @tag names the device across host restarts: the same device provisioned
 * again gets the same tag (iobondctl derives it from the MAC or the disk's
 * serial), and a board that held its device while the host was away
 * takes it back only if the tags match.  0 is none.
 *
 * IOBOND_ADD_ENGINE: the device's data goes through the link's engine
 * (the emulated IO-Bond's DMA engine): the board's rings and buffers stay
 * in board memory, and the backend serves shadow rings in the device's
 * zone.  Without it, the board bounces its buffers through the window.
 * ENXIO when no engine is on the link.
 *
 * EINVAL for a bad field, EEXIST for a MAC already on the board, ENOSPC
 * when every slot is taken.
 */
struct iobond_device_add {
	__u32 argsz;
	__u32 flags;
#define IOBOND_ADD_ENGINE	(1 << 0)
	__u32 type;
	__u32 index;
	__aligned_u64 features;
	__u16 num_queues;
	__u16 queue_size;
	__u32 reserved0;
	union iobond_dev_config config;
	__aligned_u64 tag;
	__u32 reserved[6];
};
#define IOBOND_ADD_DEVICE	_IO(IOBOND_TYPE, 2)
#define IOBOND_BLK_QUEUE_MAX	1024

/*
 * IOBOND_REMOVE_DEVICE - _IO(IOBOND_TYPE, 3), struct iobond_device_ref
 *
 * Empty a slot.  The board sees the device go.  ENOENT for an empty slot.
 * A disk whose driver runs on the board leaves first (IOBOND_SLOT_LEAVING):
 * its slot is free once IOBOND_GET_DEVICE no longer says
 * IOBOND_DEVICE_LEAVING, as soon as the board lets go.  A board that does
 * not keeps the slot until an add finds no other, the board stops, or
 * the link to it is lost.
 */
struct iobond_device_ref {
	__u32 argsz;
	__u32 flags;
	__u32 index;
	__u32 reserved;
};
#define IOBOND_REMOVE_DEVICE	_IO(IOBOND_TYPE, 3)

/*
 * IOBOND_GET_DEVICE - _IO(IOBOND_TYPE, 4), struct iobond_device_info
 *
 * One slot, with what the board's driver made of it.  @flags is output:
 * OWNED says that the file asking holds the device's vring eventfds (it
 * set them, and no reset, stop or removal has detached them since).
 * LEAVING says that the slot, empty to every ioctl, still waits for the
 * board to let go of a removed disk (IOBOND_SLOT_LEAVING).  ENGINE says
 * that the device's data goes through the engine.
 * @generation moves each time the host detaches the device's eventfds (a
 * reset, stop or removal, or their owner's close): a backend wired in one
 * generation serves the device no more in the next, and wires it anew.
 */
struct iobond_device_info {
	__u32 argsz;
	__u32 flags;
#define IOBOND_DEVICE_OWNED	(1 << 0)
#define IOBOND_DEVICE_LEAVING	(1 << 1)
#define IOBOND_DEVICE_ENGINE	(1 << 2)	/* added with IOBOND_ADD_ENGINE */
	__u32 index;
	__u32 type;		/* 0 for an empty slot */
	__aligned_u64 features;		/* offered */
	__aligned_u64 driver_features;	/* accepted by the board's driver */
	__u32 status;			/* the board's virtio status byte */
	__u16 num_queues;
	__u16 queue_size;
	__u32 queues_enabled;		/* bit per queue */
	__u32 generation;
	union iobond_dev_config config;
	__u32 instance;		/* this device: one added later differs */
	__u32 reserved[7];
};
#define IOBOND_GET_DEVICE	_IO(IOBOND_TYPE, 4)

/*
 * IOBOND_GET_QUEUE_STATS - _IO(IOBOND_TYPE, 5), struct iobond_queue_stats
 *
 * Counters of one queue since the device was added.  @bytes sums the
 * lengths the backend reported in the queue's used ring as the host raised
 * its interrupts: what was written into the board's buffers (received
 * data, for a NIC).  Transmit queues complete with length 0.
 */
struct iobond_queue_stats {
	__u32 argsz;
	__u32 flags;
	__u32 index;
	__u32 queue;
	__aligned_u64 kicks;		/* doorbells from the board */
	__aligned_u64 interrupts;	/* doorbells to the board */
	__aligned_u64 bytes;		/* written to the board's buffers */
	__u32 reserved[4];
};
#define IOBOND_GET_QUEUE_STATS	_IO(IOBOND_TYPE, 5)

/*
 * IOBOND_GET_VRING - _IO(IOBOND_TYPE, 6), struct iobond_vring_info
 *
 * Where the board put a queue's ring, for a backend to wire it: offsets in
 * the window, which mmap() of the board's device maps from offset 0.
 * EINVAL for no such queue; @flags (output) says whether the host
 * enabled it and the board is running.  @used_idx is the device ring's
 * index as the window held it then (the board and the backend write it):
 * where a backend that takes over a ring served before starts.
 */
struct iobond_vring_info {
	__u32 argsz;
	__u32 flags;
#define IOBOND_VRING_ENABLED	(1 << 0)
	__u32 index;
	__u32 queue;
	__u32 size;
	__u32 used_idx;
	__aligned_u64 desc;
	__aligned_u64 avail;
	__aligned_u64 used;
	__u32 reserved[4];
};
#define IOBOND_GET_VRING	_IO(IOBOND_TYPE, 6)

/*
 * IOBOND_SET_VRING_EVENTFD - _IO(IOBOND_TYPE, 7), struct iobond_vring_eventfd
 *
 * Attach an eventfd to a queue, or detach it with @fd = -1.  Exactly one
 * flag: KICK is signalled, in the kernel, each time the board kicks the
 * queue; CALL is consumed in the kernel, and each signal raises the
 * queue's interrupt on the board (as KVM's irqfd does).  A backend such as
 * vhost-net is given the same eventfds.  They are detached when the device
 * is removed, reset or the board stopped.  EBUSY while the device is open
 * through its VFIO face.
 */
struct iobond_vring_eventfd {
	__u32 argsz;
	__u32 flags;
#define IOBOND_VRING_KICK	(1 << 0)
#define IOBOND_VRING_CALL	(1 << 1)
	__u32 index;
	__u32 queue;
	__s32 fd;
	__u32 reserved[3];
};
#define IOBOND_SET_VRING_EVENTFD	_IO(IOBOND_TYPE, 7)

/*
 * IOBOND_SET_NET_LINK - _IO(IOBOND_TYPE, 8), struct iobond_net_link
 *
 * Set a NIC's carrier as its driver sees it (VIRTIO_NET_S_LINK_UP in its
 * config space): flag UP, or no flag for down.  The board is told with a
 * config-change interrupt.  ENOENT for an empty slot, EINVAL for no NIC.
 */
struct iobond_net_link {
	__u32 argsz;
	__u32 flags;
#define IOBOND_NET_LINK_UP	(1 << 0)
	__u32 index;
	__u32 reserved;
};
#define IOBOND_SET_NET_LINK	_IO(IOBOND_TYPE, 8)

/**
 * struct iobond_event - what read() returns, one or more whole events
 * @type: IOBOND_EVENT_*
 * @index: the device slot, where the event has one
 * @arg: the new status, or the queue
 * @reserved: zero
 * @time_ns: CLOCK_MONOTONIC of the host when it happened
 *
 * poll() reports POLLIN while events are queued.  If userspace does not
 * read them, the oldest are dropped and an IOBOND_EVENT_OVERFLOW is queued.
 */
struct iobond_event {
	__u32 type;
#define IOBOND_EVENT_LINK_UP		1
#define IOBOND_EVENT_LINK_DOWN		2
#define IOBOND_EVENT_STATUS		3	/* the driver wrote status @arg */
#define IOBOND_EVENT_QUEUE_ENABLED	4	/* queue @arg is live */
#define IOBOND_EVENT_DEVICE_RESET	5	/* the driver reset the device */
#define IOBOND_EVENT_OVERFLOW		6	/* events were dropped */
	__u32 index;
	__u32 arg;
	__u32 reserved;
	__aligned_u64 time_ns;
};

/*
 * The VFIO face: a provisioned device handed to a userspace data plane as
 * a mediated device.  Each board's node has one mdev type per slot,
 * /sys/class/iobond/boardN/mdev_supported_types/iobond-devM; an mdev
 * created from it (device_api "iobond-virtio") is that slot's device.
 * Opening it claims the device: the vhost face's eventfds and a second
 * open are refused with EBUSY until it is closed.
 *
 * Regions, at offset (index << IOBOND_VFIO_OFFSET_SHIFT) of the device fd:
 *  - IOBOND_VFIO_WINDOW_REGION: the board's DMA window, read/write/mmap;
 *    ring and buffer addresses are offsets into it.  The device's reset
 *    or removal revokes its zone of earlier mappings (they fault there),
 *    a board stop every zone; map it again after IOBOND_VFIO_STATE_IRQ
 *    says so.
 *  - IOBOND_VFIO_STATE_REGION: struct iobond_vfio_state, read-only.
 *  - IOBOND_VFIO_NOTIFY_REGION: write-only; a 4-byte write at offset 4*q
 *    raises queue q's interrupt on the board.
 *  - IOBOND_VFIO_INFLIGHT_REGION: read/write/mmap, one
 *    struct iobond_inflight per queue every IOBOND_INFLIGHT_STRIDE bytes,
 *    kept by the kernel while the device lives (see below).
 *
 * Interrupts (VFIO_DEVICE_SET_IRQS, eventfd triggers only):
 *  - IOBOND_VFIO_KICK_IRQ: one per queue, signalled when the board kicks.
 *  - IOBOND_VFIO_STATE_IRQ: one, signalled when the state region changed
 *    (status, reset, queue enabled, removal, board stop).
 */
#define IOBOND_VFIO_DEVICE_API		"iobond-virtio"
#define IOBOND_VFIO_OFFSET_SHIFT	40
#define IOBOND_VFIO_WINDOW_REGION	0
#define IOBOND_VFIO_STATE_REGION	1
#define IOBOND_VFIO_NOTIFY_REGION	2
#define IOBOND_VFIO_INFLIGHT_REGION	3
#define IOBOND_VFIO_NUM_REGIONS		4
#define IOBOND_VFIO_KICK_IRQ		0
#define IOBOND_VFIO_STATE_IRQ		1
#define IOBOND_VFIO_NUM_IRQS		2

/**
 * struct iobond_vfio_state - a device as its VFIO data plane sees it
 * @type: the virtio device id; 0 once the device was removed
 * @status: the virtio status byte the board's driver last wrote
 * @features: offered
 * @driver_features: accepted by the board's driver
 * @resets: bumped by every reset of the device; a backend that sees it
 *	move drops its queues and starts over
 * @flags: IOBOND_VFIO_*
 * @num_queues: queues in @vq
 * @index: the device's slot: its rings and buffers lie in zone @index of
 *	the window (IOBOND_ZONE_SIZE)
 * @queues_enabled: bit per queue the host checked and enabled
 * @vq: each queue as enabled: its size and window offsets
 * @config: the device's config space (struct virtio_blk_config, ...)
 *
 * Native-endian: it is made by the host's kernel for its userspace.
 */
struct iobond_vfio_state {
	__u32 type;
	__u32 status;
	__aligned_u64 features;
	__aligned_u64 driver_features;
	__u32 resets;
	__u32 flags;
#define IOBOND_VFIO_RUNNING	(1 << 0)	/* the board sees the device */
#define IOBOND_VFIO_NEEDS_RESET	(1 << 1)	/* requests were failed */
	__u16 num_queues;
	__u16 index;
	__u32 queues_enabled;
	struct {
		__u32 size;
		__u32 reserved;
		__aligned_u64 desc;
		__aligned_u64 avail;
		__aligned_u64 used;
	} vq[IOBOND_MAX_QUEUES];
	__u8 config[IOBOND_CONFIG_SIZE];
};

/**
 * struct iobond_inflight - a queue's requests, as its backend tracks them
 * @last_avail: the driver-ring index the backend has taken requests up to
 * @used_idx: the used-ring index whose entries the backend has cleared
 *	from @head
 * @alive: bumped by the backend at least once a second while it holds
 *	requests it has not completed (a long flush, a throttle)
 * @head: non-zero for each descriptor head taken and not yet completed
 *
 * The backend sets head[h] before it moves @last_avail past h, and clears
 * it after it published h's used entry and before it moves @used_idx.
 * When no backend serves a virtio-blk device for IOBOND_BLK_GRACE_MS, or
 * its backend closed, the kernel completes every request recorded here or
 * waiting in the driver ring with VIRTIO_BLK_S_IOERR, sets
 * VIRTIO_CONFIG_S_NEEDS_RESET for the board, and zeroes the record at the
 * board's reset.  A backend that opens within the grace period takes the
 * record over and runs again what it names (vhost-user's inflight I/O
 * tracking, for the same reason).  Each queue's record is zeroed when the
 * board enables the queue.
 *
 * A backend that holds the device but, while the board has requests
 * waiting, neither takes nor completes one nor moves @alive for
 * IOBOND_BLK_GRACE_MS (it was stopped, or is stuck) is cut off: its zone
 * of the window is revoked and its requests fail as a dead one's, and it
 * serves the device no more until it closes it or the board resets it.
 */
struct iobond_inflight {
	__u16 last_avail;
	__u16 used_idx;
	__u32 alive;
	__u8 head[IOBOND_BLK_QUEUE_MAX];
};
#define IOBOND_INFLIGHT_STRIDE	4096
#define IOBOND_BLK_GRACE_MS	5000

#endif /* _UAPI_LINUX_IOBOND_H */
