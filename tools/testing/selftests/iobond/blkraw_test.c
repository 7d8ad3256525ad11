// SPDX-License-Identifier: GPL-2.0
/*
 * A disk's requests made raw, through the link function's BARs, with
 * iobond_guest unloaded: the test is a board driver that sends the block
 * backend what virtio_blk never would.  Each bad request must get an error
 * status (or, with nowhere to put one, at least its used entry), the
 * backend must keep serving, and the host checks afterwards that the
 * backing file did not change.
 *
 * IOBOND_BLK_SECTORS is the capacity the runner provisioned as dev0,
 * IOBOND_BLK_SERIAL its serial.  IOBOND_BLK_RO=1 says dev0 was added
 * --readonly: its writes must come back VIRTIO_BLK_S_IOERR from iobond-blk
 * itself, which virtio_blk never lets a write reach (the board's block
 * layer refuses it first).  Without it, dev0 must be writable.
 */
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "kselftest_harness.h"
#include "raw_board.h"

#define QSIZE		16
#define DESC_OFF	0x0
#define AVAIL_OFF	0x1000
#define USED_OFF	0x2000
#define HDR_OFF		0x10000
#define DATA_OFF	0x20000		/* 64 KiB of data buffers */
#define STATUS_OFF	0x40000
#define NO_STATUS	0x100		/* "no used entry came" */

FIXTURE(blkraw) {
	struct raw r;
	__u8 *win;
	__u64 win_size;
	__u64 sectors;
	struct vring vr;
	__u16 avail, used;
	bool ro;	/* the runner added dev0 --readonly */
};

static void ring_queue(struct raw *r)
{
	ring_host_vector(r, le16toh(r->slot->vq[0].notify));
}

FIXTURE_SETUP(blkraw)
{
	struct raw *r = &self->r;
	const char *ro = getenv("IOBOND_BLK_RO");
	__u64 feat = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_ACCESS_PLATFORM |
		     1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_FLUSH |
		     1ULL << VIRTIO_BLK_F_RO;
	__u32 st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	if (iob_setup(&r->t) || r->t.host)
		SKIP(return, "needs the board VM");
	if (iob_loaded(&r->t))
		SKIP(return, "needs iobond_guest unloaded: this test is the driver");
	if (!getenv("IOBOND_BLK_SECTORS"))
		SKIP(return, "needs IOBOND_BLK_SECTORS, the disk provisioned as dev0");
	self->sectors = strtoull(getenv("IOBOND_BLK_SECTORS"), NULL, 0);
	self->ro = ro && !strcmp(ro, "1");
	ASSERT_EQ(0, raw_open(r));
	ASSERT_EQ(VIRTIO_ID_BLOCK, le32toh(r->slot->device_id));
	/* The device says read-only exactly when the runner made it so. */
	ASSERT_EQ(self->ro,
		  !!(le64toh(r->slot->device_features) & 1ULL << VIRTIO_BLK_F_RO));
	self->win = r->shm + le64toh(r->hdr->window_off);
	self->win_size = le64toh(r->hdr->window_size);

	ASSERT_EQ(0, request(r, IOBOND_OP_RESET, 0));
	ASSERT_EQ(0, set_status(r, st, 0));
	st |= VIRTIO_CONFIG_S_FEATURES_OK;
	ASSERT_EQ(0, set_status(r, st, feat & le64toh(r->slot->device_features)));
	memset(self->win, 0, USED_OFF + 0x1000);
	ASSERT_EQ(0, enable_queue(r, 0, QSIZE, DESC_OFF, AVAIL_OFF, USED_OFF));
	ASSERT_EQ(0, set_status(r, st | VIRTIO_CONFIG_S_DRIVER_OK,
				feat & le64toh(r->slot->device_features)));
	vring_init(&self->vr, QSIZE, self->win, 4096);
	self->vr.avail = (void *)(self->win + AVAIL_OFF);
	self->vr.used = (void *)(self->win + USED_OFF);
}

FIXTURE_TEARDOWN(blkraw)
{
	if (self->r.slot)
		request(&self->r, IOBOND_OP_RESET, 0);
}

static void set_desc(FIXTURE_DATA(blkraw) *self, __u16 i, __u64 addr,
		     __u32 len, __u16 flags, __u16 next)
{
	self->vr.desc[i].addr = htole64(addr);
	self->vr.desc[i].len = htole32(len);
	self->vr.desc[i].flags = htole16(flags);
	self->vr.desc[i].next = htole16(next);
}

static void set_hdr(FIXTURE_DATA(blkraw) *self, __u32 type, __u64 sector)
{
	struct virtio_blk_outhdr *h = (void *)(self->win + HDR_OFF);

	h->type = htole32(type);
	h->ioprio = 0;
	h->sector = htole64(sector);
}

/*
 * Offer chain @head, kick, and wait for its used entry: return its status
 * byte, NO_STATUS if none came within 3 s; *@len gets the used length.
 */
static int run(FIXTURE_DATA(blkraw) *self, __u16 head, __u32 *len)
{
	long long start = iob_now_ms();
	__u16 idx;

	self->win[STATUS_OFF] = 0xee;
	self->vr.avail->ring[self->avail % QSIZE] = htole16(head);
	__sync_synchronize();
	self->vr.avail->idx = htole16(++self->avail);
	ring_queue(&self->r);
	while (iob_now_ms() - start < 3000) {
		idx = le16toh(*(volatile __u16 *)&self->vr.used->idx);
		if (idx != self->used) {
			__sync_synchronize();
			*len = le32toh(self->vr.used->ring[self->used % QSIZE].len);
			if (le32toh(self->vr.used->ring[self->used % QSIZE].id) != head)
				return -1;
			self->used++;
			return self->win[STATUS_OFF];
		}
		usleep(1000);
	}
	return NO_STATUS;
}

/* A plain request: header, one data buffer, status. */
static int rw(FIXTURE_DATA(blkraw) *self, __u32 type, __u64 sector,
	      __u32 bytes, __u32 *len)
{
	bool in = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;

	set_hdr(self, type, sector);
	set_desc(self, 0, HDR_OFF, 16, VRING_DESC_F_NEXT, 1);
	set_desc(self, 1, DATA_OFF, bytes,
		 VRING_DESC_F_NEXT | (in ? VRING_DESC_F_WRITE : 0), 2);
	set_desc(self, 2, STATUS_OFF, 1, VRING_DESC_F_WRITE, 0);
	return run(self, 0, len);
}

TEST_F(blkraw, good_requests_are_served)
{
	__u32 len;
	const char *serial = getenv("IOBOND_BLK_SERIAL");

	IOB_RETURN_IF_SKIPPED();
	EXPECT_EQ(VIRTIO_BLK_S_OK, rw(self, VIRTIO_BLK_T_IN, 0, 4096, &len));
	EXPECT_EQ(4097, len);
	EXPECT_EQ(VIRTIO_BLK_S_OK,
		  rw(self, VIRTIO_BLK_T_IN, self->sectors - 8, 4096, &len));
	memset(self->win + DATA_OFF, 0, 20);
	EXPECT_EQ(VIRTIO_BLK_S_OK, rw(self, VIRTIO_BLK_T_GET_ID, 0, 20, &len));
	if (serial)
		EXPECT_EQ(0, strncmp(serial, (char *)self->win + DATA_OFF, 20));
	set_hdr(self, VIRTIO_BLK_T_FLUSH, 0);
	set_desc(self, 0, HDR_OFF, 16, VRING_DESC_F_NEXT, 1);
	set_desc(self, 1, STATUS_OFF, 1, VRING_DESC_F_WRITE, 0);
	EXPECT_EQ(VIRTIO_BLK_S_OK, run(self, 0, &len));
}

TEST_F(blkraw, ranges_past_the_end_fail)
{
	__u32 len;

	IOB_RETURN_IF_SKIPPED();
	/* A read-only disk refuses these writes as writes, and has no discard. */
	if (self->ro)
		SKIP(return, "needs a writable dev0");
	EXPECT_EQ(VIRTIO_BLK_S_IOERR,
		  rw(self, VIRTIO_BLK_T_IN, self->sectors, 512, &len));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR,
		  rw(self, VIRTIO_BLK_T_IN, self->sectors - 1, 1024, &len));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR,
		  rw(self, VIRTIO_BLK_T_OUT, self->sectors, 512, &len));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR,
		  rw(self, VIRTIO_BLK_T_OUT, self->sectors - 1, 4096, &len));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR,
		  rw(self, VIRTIO_BLK_T_OUT, ~0ULL - 3, 4096, &len));
	/* A discard past the end, and one with a flag it does not take. */
	*(struct virtio_blk_discard_write_zeroes *)(self->win + DATA_OFF) =
		(struct virtio_blk_discard_write_zeroes){
			.sector = htole64(self->sectors - 1),
			.num_sectors = htole32(8) };
	EXPECT_EQ(VIRTIO_BLK_S_IOERR,
		  rw(self, VIRTIO_BLK_T_DISCARD, 0, 16, &len));
	*(struct virtio_blk_discard_write_zeroes *)(self->win + DATA_OFF) =
		(struct virtio_blk_discard_write_zeroes){
			.sector = 0, .num_sectors = htole32(8),
			.flags = htole32(VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) };
	EXPECT_EQ(VIRTIO_BLK_S_UNSUPP,
		  rw(self, VIRTIO_BLK_T_DISCARD, 0, 16, &len));
}

TEST_F(blkraw, malformed_requests_fail)
{
	__u32 len;

	IOB_RETURN_IF_SKIPPED();
	/* A read-only disk refuses the bad writes for being writes. */
	if (self->ro)
		SKIP(return, "needs a writable dev0");
	/* Partial sectors, and more than one segment may carry. */
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, rw(self, VIRTIO_BLK_T_OUT, 0, 100, &len));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR,
		  rw(self, VIRTIO_BLK_T_IN, 0, 128 * 1024, &len));
	/* Kinds not offered, or unknown. */
	EXPECT_EQ(VIRTIO_BLK_S_UNSUPP, rw(self, 99, 0, 512, &len));
	EXPECT_EQ(VIRTIO_BLK_S_UNSUPP,
		  rw(self, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, &len));

	/* A short header. */
	set_desc(self, 0, HDR_OFF, 8, VRING_DESC_F_NEXT, 1);
	set_desc(self, 1, STATUS_OFF, 1, VRING_DESC_F_WRITE, 0);
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, run(self, 0, &len));
	/* The data of a write marked device-writable: the wrong direction. */
	set_hdr(self, VIRTIO_BLK_T_OUT, 0);
	set_desc(self, 0, HDR_OFF, 16, VRING_DESC_F_NEXT, 1);
	set_desc(self, 1, DATA_OFF, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(self, 2, STATUS_OFF, 1, VRING_DESC_F_WRITE, 0);
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, run(self, 0, &len));
	/* A read whose header is device-writable. */
	set_hdr(self, VIRTIO_BLK_T_IN, 0);
	set_desc(self, 0, HDR_OFF, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(self, 1, DATA_OFF, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, run(self, 0, &len));
}

/*
 * A chain that cannot be followed to its end has no status byte the
 * backend could trust: it gets its used entry, length 0, and nothing is
 * written.  The board's request completes; nothing hangs.
 */
TEST_F(blkraw, broken_chains_complete_without_status)
{
	__u32 len;

	IOB_RETURN_IF_SKIPPED();
	set_hdr(self, VIRTIO_BLK_T_IN, 0);
	set_desc(self, 0, HDR_OFF, 16, VRING_DESC_F_NEXT, 1);
	set_desc(self, 2, STATUS_OFF, 1, VRING_DESC_F_WRITE, 0);
	/* A buffer outside the window. */
	set_desc(self, 1, self->win_size - 256, 512,
		 VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	EXPECT_EQ(0xee, run(self, 0, &len));
	EXPECT_EQ(0, len);
	/* An index past the ring. */
	set_desc(self, 1, DATA_OFF, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
		 QSIZE + 3);
	EXPECT_EQ(0xee, run(self, 0, &len));
	/* An indirect descriptor, which was not offered. */
	set_desc(self, 1, DATA_OFF, 512, VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT, 2);
	EXPECT_EQ(0xee, run(self, 0, &len));
	/* A readable buffer after a writable one. */
	set_desc(self, 1, DATA_OFF, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(self, 2, STATUS_OFF, 1, VRING_DESC_F_NEXT, 3);
	set_desc(self, 3, STATUS_OFF, 1, VRING_DESC_F_WRITE, 0);
	EXPECT_EQ(0xee, run(self, 0, &len));
	/* A loop. */
	set_desc(self, 1, DATA_OFF, 512, VRING_DESC_F_NEXT, 0);
	EXPECT_EQ(0xee, run(self, 0, &len));
	EXPECT_EQ(0, len);
	/* No writable byte at all. */
	set_desc(self, 0, HDR_OFF, 16, 0, 0);
	EXPECT_EQ(0xee, run(self, 0, &len));
	EXPECT_EQ(0, len);
}

/*
 * A well-formed write to a read-only disk: iobond-blk refuses it with
 * IOERR, its status byte the only byte written back, and the sectors read
 * back as they were.
 */
TEST_F(blkraw, readonly_writes_fail)
{
	__u8 *data = self->win + DATA_OFF, before[4096];
	__u32 len, i;

	IOB_RETURN_IF_SKIPPED();
	if (!self->ro)
		SKIP(return, "needs IOBOND_BLK_RO=1, dev0 added --readonly");
	ASSERT_EQ(VIRTIO_BLK_S_OK, rw(self, VIRTIO_BLK_T_IN, 8, 4096, &len));
	memcpy(before, data, sizeof(before));
	/* Every byte differs from the disk's: a write that landed shows. */
	for (i = 0; i < sizeof(before); i++)
		data[i] = ~before[i];
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, rw(self, VIRTIO_BLK_T_OUT, 8, 4096, &len));
	EXPECT_EQ(1, len);

	memset(data, 0, sizeof(before));
	ASSERT_EQ(VIRTIO_BLK_S_OK, rw(self, VIRTIO_BLK_T_IN, 8, 4096, &len));
	EXPECT_EQ(4097, len);
	EXPECT_EQ(0, memcmp(before, data, sizeof(before)));
}

/* After all that, the backend still serves; and a head past the ring. */
TEST_F(blkraw, backend_survives)
{
	__u32 len;

	IOB_RETURN_IF_SKIPPED();
	self->vr.avail->ring[self->avail % QSIZE] = htole16(QSIZE + 5);
	__sync_synchronize();
	self->vr.avail->idx = htole16(++self->avail);
	ring_queue(&self->r);
	usleep(200 * 1000);
	EXPECT_EQ(self->used, le16toh(self->vr.used->idx));
	EXPECT_EQ(VIRTIO_BLK_S_OK, rw(self, VIRTIO_BLK_T_IN, 8, 4096, &len));
}

TEST_HARNESS_MAIN
