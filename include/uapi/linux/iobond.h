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
#define IOBOND_VERSION		1

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
 * @reserved: zero
 * @host: written by the mainboard side only
 * @board: written by the board side only
 */
struct iobond_link_hdr {
	__le32 magic;
	__le32 version;
	__le64 region_size;
	__le64 epoch;
	__le32 reserved[10];
	struct iobond_side host;
	struct iobond_side board;
};

#define IOBOND_LINK_HDR_SIZE	4096

#endif /* _UAPI_LINUX_IOBOND_H */
