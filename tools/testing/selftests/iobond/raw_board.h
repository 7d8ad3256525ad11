/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A board driver played raw, through the link function's BARs, for tests
 * that run with iobond_guest unloaded: map the BARs, ring the host, make
 * the slot requests of the handshake protocol.
 */
#ifndef IOBOND_RAW_BOARD_H
#define IOBOND_RAW_BOARD_H

#include <endian.h>
#include <sys/mman.h>

#include "iobond_test.h"

#define REG_IVPOSITION	0x08
#define REG_DOORBELL	0x0c

/* One load or store of a field the other side may write meanwhile. */
#define RD16(f)		le16toh(*(volatile __le16 *)&(f))
#define RD32(f)		le32toh(*(volatile __le32 *)&(f))
#define RD64(f)		le64toh(*(volatile __le64 *)&(f))
#define WR16(f, v)	(*(volatile __le16 *)&(f) = htole16(v))
#define WR32(f, v)	(*(volatile __le32 *)&(f) = htole32(v))
#define WR64(f, v)	(*(volatile __le64 *)&(f) = htole64(v))

struct raw {
	struct iob t;
	volatile __u8 *regs;
	__u8 *shm;
	size_t shm_size;
	struct iobond_link_hdr *hdr;
	struct iobond_dev_slot *slot;
};

static inline void *map_bar(const char *bdf, int bar, size_t *len)
{
	char path[128];
	struct stat st;
	void *p;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%d",
		 bdf, bar);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0 || fstat(fd, &st))
		return MAP_FAILED;
	*len = st.st_size;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p;
}

/* Ring the host's vector @vec, after everything written before. */
static inline void ring_host_vector(struct raw *r, __u16 vec)
{
	__u32 host = le32toh(r->hdr->host.peer_id);

	__sync_synchronize();
	*(volatile __u32 *)(r->regs + REG_DOORBELL) = host << 16 | vec;
}

static inline void ring_host(struct raw *r)
{
	ring_host_vector(r, IOBOND_CTRL_VECTOR);
}

/* One request; the host's errno (0 if accepted), or -1 on no answer. */
static inline int request(struct raw *r, __u32 op, __u32 arg)
{
	struct iobond_handshake *hs = &r->slot->hs;
	__u32 seq = le32toh(hs->req_seq) + 1;
	long long start = iob_now_ms();

	hs->req_op = htole32(op);
	hs->req_arg = htole32(arg);
	__sync_synchronize();
	hs->req_seq = htole32(seq);
	ring_host(r);
	while (iob_now_ms() - start < 2 * IOBOND_HANDSHAKE_MS) {
		if (le32toh(*(volatile __le32 *)&hs->ack_seq) == seq) {
			__sync_synchronize();
			return le32toh(hs->ack_result);
		}
		usleep(1000);
	}
	return -1;
}

static inline int set_status(struct raw *r, __u32 status, __u64 features)
{
	r->slot->driver_features = htole64(features);
	r->slot->status = htole32(status);
	return request(r, IOBOND_OP_STATUS, 0);
}

static inline int enable_queue(struct raw *r, __u32 q, __u16 size, __u64 desc,
			__u64 avail, __u64 used)
{
	struct iobond_vq *vq = &r->slot->vq[q < IOBOND_MAX_QUEUES ? q : 0];

	vq->size = htole16(size);
	vq->msix = htole16(1);
	vq->desc = htole64(desc);
	vq->avail = htole64(avail);
	vq->used = htole64(used);
	return request(r, IOBOND_OP_QUEUE_ENABLE, q);
}

/* Map the BARs of the board's link function; 0, or -1 if it cannot. */
static inline int raw_open(struct raw *r)
{
	char path[128];
	size_t len;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/enable", r->t.bdf);
	iob_write_file(path, "1");
	r->regs = map_bar(r->t.bdf, 0, &len);
	r->shm = map_bar(r->t.bdf, 2, &r->shm_size);
	if (r->regs == MAP_FAILED || r->shm == MAP_FAILED)
		return -1;
	r->hdr = (void *)r->shm;
	r->slot = (void *)(r->shm + IOBOND_DEV_TABLE_OFF);
	return 0;
}

#endif /* IOBOND_RAW_BOARD_H */
