// SPDX-License-Identifier: GPL-2.0
/*
 * serve's control queue: the last queue of a NIC with several queue
 * pairs, which vhost-net does not serve (QEMU answers it in userspace
 * too).  The board's virtio_net sends on it:
 *
 *   MQ VQ_PAIRS_SET   how many pairs it uses: serve attaches that many of
 *                     the tap's queues and detaches the rest, so that the
 *                     tap never steers a flow to a pair the driver does
 *                     not fill;
 *   RX and MAC_TABLE  its receive modes and filters: acknowledged, as the
 *                     switch already delivers the NIC only what is its
 *                     own, broadcasts and floods;
 *   MAC_ADDR_SET      a new address: acknowledged only for the address
 *                     the operator gave the NIC.  The switch learns
 *                     addresses from traffic, so a tenant may not
 *                     silently take another's.
 *
 * The ring is in the window: the engine's shadow ring, or the board's own
 * ring on the window path.  Either way every index, descriptor and byte is
 * read once into a local and checked against the NIC's zone before use; a
 * ring that breaks the rules stops being served until the device resets.
 * A reset revokes the zone under us: serve catches that SIGBUS.
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "iobondctl.h"

/* The command bytes kept: a header and MAC_ADDR_SET's address. */
#define CMD_KEEP	8
/*
 * virtio_net's longest command is MAC_TABLE_SET's four descriptors: a
 * longer chain is a board's attempt to make serve walk, and so is more
 * than a batch of chains at once (the rest wait for the next look).
 */
#define CHAIN_MAX	8
#define BATCH_MAX	64

static __u16 load16(const void *p)
{
	return le16toh(__atomic_load_n((const __u16 *)p, __ATOMIC_ACQUIRE));
}

static void store16(void *p, __u16 v)
{
	__atomic_store_n((__u16 *)p, htole16(v), __ATOMIC_RELEASE);
}

/* [@off, @off + @len) of the window if it lies in the NIC's zone. */
static char *zone_ptr(const struct netctrl *c, __u64 off, __u64 len)
{
	if (off < c->zone_off || off - c->zone_off > c->zone_size ||
	    len > c->zone_size - (off - c->zone_off))
		return NULL;
	return c->win + off;
}

int netctrl_init(struct netctrl *c)
{
	__u64 n = c->size;

	/* Aligned as the split ring must be, for the 16-bit atomics below. */
	if (!n || n > 32768 || n & (n - 1) || c->desc % 16 || c->avail % 2 ||
	    c->used % 4 || !zone_ptr(c, c->desc, 16 * n) ||
	    !zone_ptr(c, c->avail, 6 + 2 * n) || !zone_ptr(c, c->used, 6 + 8 * n))
		return -1;
	c->last_avail = c->used_idx;
	c->broken = false;
	return 0;
}

/* Say once why the ring is no longer served; -1. */
static int broke(struct netctrl *c, const char *why, unsigned int v)
{
	fprintf(stderr, "iobondctl: %s: control queue: %s (%u): not served until the NIC resets\n",
		board_name, why, v);
	c->broken = true;
	return -1;
}

/* The acknowledgement for the command @cmd of @len bytes kept. */
static __u8 answer(struct netctrl *c, const __u8 *cmd, __u32 len)
{
	__u16 pairs;

	if (len < 2)
		return VIRTIO_NET_ERR;
	switch (cmd[0]) {
	case VIRTIO_NET_CTRL_MQ:
		if (cmd[1] != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || len < 4)
			return VIRTIO_NET_ERR;
		pairs = cmd[2] | cmd[3] << 8;
		if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > c->max_pairs ||
		    c->set_pairs(c->arg, pairs))
			return VIRTIO_NET_ERR;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_RX:
		return cmd[1] <= VIRTIO_NET_CTRL_RX_NOBCAST ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MAC:
		if (cmd[1] == VIRTIO_NET_CTRL_MAC_TABLE_SET)
			return VIRTIO_NET_OK;
		if (cmd[1] == VIRTIO_NET_CTRL_MAC_ADDR_SET && len >= 8 &&
		    !memcmp(cmd + 2, c->mac, 6))
			return VIRTIO_NET_OK;
		return VIRTIO_NET_ERR;
	default:
		return VIRTIO_NET_ERR;
	}
}

/*
 * One chain from @head: its readable bytes (the first CMD_KEEP kept),
 * then one writable byte or more for the acknowledgement.  0, or -1 once
 * the ring is broken.
 */
static int serve_chain(struct netctrl *c, __u16 head)
{
	__u8 cmd[CMD_KEEP], *ack = NULL;
	__u32 kept = 0, walked = 0;
	__u16 i = head, flags;
	struct vring_desc d;
	char *p;

	for (;;) {
		if (++walked > CHAIN_MAX)
			return broke(c, "a chain longer than any command, from head", head);
		p = c->win + c->desc + 16ULL * i;
		memcpy(&d, p, sizeof(d));
		flags = le16toh(d.flags);
		if (flags & VRING_DESC_F_INDIRECT)
			return broke(c, "an indirect descriptor, never offered", i);
		p = zone_ptr(c, le64toh(d.addr), le32toh(d.len));
		if (!p)
			return broke(c, "a buffer outside the NIC's zone, descriptor", i);
		if (!(flags & VRING_DESC_F_WRITE)) {
			if (ack)
				return broke(c, "a readable buffer after a writable one, descriptor", i);
			if (kept < CMD_KEEP) {
				__u32 take = le32toh(d.len);

				if (take > CMD_KEEP - kept)
					take = CMD_KEEP - kept;
				memcpy(cmd + kept, p, take);
				kept += take;
			}
		} else if (!ack && le32toh(d.len)) {
			ack = (__u8 *)p;
		}
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		i = le16toh(d.next);
		if (i >= c->size)
			return broke(c, "a next past the ring", i);
	}
	if (!ack)
		return broke(c, "a command with no room for its answer, head", head);
	*ack = answer(c, cmd, kept);
	p = c->win + c->used + 4 + 8ULL * (c->used_idx % c->size);
	((struct vring_used_elem *)p)->id = htole32(head);
	((struct vring_used_elem *)p)->len = htole32(1);
	store16(c->win + c->used + 2, ++c->used_idx);
	return 0;
}

/**
 * netctrl_serve() - answer the chains the board made available
 * @c: the control queue
 *
 * Return: how many were answered (the board is to be told), or -1 if
 * more may wait (a batch's worth were answered, or more came): tell the
 * board, and look again soon.
 */
int netctrl_serve(struct netctrl *c)
{
	__u16 avail, head;
	int n = 0;

	if (c->broken)
		return 0;
	avail = load16(c->win + c->avail + 2);
	if ((__u16)(avail - c->last_avail) > c->size)
		return broke(c, "an available index past the ring's size", avail), 0;
	while (c->last_avail != avail) {
		if (n == BATCH_MAX)
			return -1;
		head = load16(c->win + c->avail + 4 + 2 * (c->last_avail % c->size));
		if (head >= c->size ? broke(c, "a head past the ring", head) :
		    serve_chain(c, head))
			return n;
		c->last_avail++;
		n++;
	}
	/*
	 * With EVENT_IDX the board kicks once its index passes avail_event:
	 * ask for the next chain, then look once more.  The board may have
	 * made one after we read its index and before it saw the new
	 * avail_event, and then it rang no one (virtio_net sends its
	 * commands back to back).  Once only: if more came, serve looks
	 * again through its poll, which also hears SIGTERM, however a board
	 * plays with its index.
	 */
	if (c->event_idx)
		store16(c->win + c->used + 4 + 8ULL * c->size, c->last_avail);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(c->win + c->avail + 2) == c->last_avail ? n : -1;
}
