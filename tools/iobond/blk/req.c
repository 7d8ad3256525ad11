// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-blk: virtio-blk requests as file I/O on io_uring.
 *
 * Every request is checked against the disk the host published (its
 * capacity and limits, read-only, the features the board negotiated)
 * before anything touches the file: a request past the end, of a partial
 * sector, with too many segments or of a kind not offered gets IOERR or
 * UNSUPP, and the file is not touched outside the disk.
 */
#include <endian.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>

#include "blk.h"

#define SECTOR	512ULL

static bool has(struct blk *b, unsigned int feature)
{
	return b->features & (1ULL << feature);
}

/* [@sector, @sector + @n) lies on the disk. */
static bool on_disk(struct blk *b, uint64_t sector, uint64_t n)
{
	return sector <= b->capacity && n <= b->capacity - sector;
}

/* The one segment of a discard or write-zeroes request, checked. */
static uint8_t parse_range(struct blk *b, struct blk_req *r, uint32_t allowed)
{
	struct virtio_blk_discard_write_zeroes seg;
	uint64_t sector;
	uint32_t n, flags, max;

	if (r->bytes != sizeof(seg) || r->niov != 1)
		return r->bytes && r->bytes % sizeof(seg) == 0 ?
		       VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
	memcpy(&seg, r->iov[0].iov_base, sizeof(seg));
	sector = le64toh(seg.sector);
	n = le32toh(seg.num_sectors);
	flags = le32toh(seg.flags);
	max = r->type == VIRTIO_BLK_T_DISCARD ? b->max_discard : b->max_zeroes;
	if (flags & ~allowed)
		return VIRTIO_BLK_S_UNSUPP;
	if (!n || !on_disk(b, sector, n) || (max && n > max))
		return VIRTIO_BLK_S_IOERR;
	r->sector = sector;
	r->expect = n * SECTOR;
	r->falloc_mode = FALLOC_FL_KEEP_SIZE |
		(r->type == VIRTIO_BLK_T_DISCARD ||
		 (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ?
		 FALLOC_FL_PUNCH_HOLE : b->zero_mode);
	return VIRTIO_BLK_S_OK;
}

/* Check @r; VIRTIO_BLK_S_OK means it goes to the file. */
static uint8_t check(struct blk *b, struct blk_req *r)
{
	size_t i;

	if (r->misshapen)
		return VIRTIO_BLK_S_IOERR;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (r->type == VIRTIO_BLK_T_OUT && b->readonly)
			return VIRTIO_BLK_S_IOERR;
		if (r->bytes % SECTOR || !on_disk(b, r->sector, r->bytes / SECTOR) ||
		    r->niov > b->seg_max ||
		    r->bytes > (uint64_t)b->seg_max * b->size_max)
			return VIRTIO_BLK_S_IOERR;
		for (i = 0; i < r->niov; i++)
			if (r->iov[i].iov_len > b->size_max)
				return VIRTIO_BLK_S_IOERR;
		r->expect = r->bytes;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		return has(b, VIRTIO_BLK_F_FLUSH) ? VIRTIO_BLK_S_OK :
		       VIRTIO_BLK_S_UNSUPP;
	case VIRTIO_BLK_T_DISCARD:
		if (!has(b, VIRTIO_BLK_F_DISCARD))
			return VIRTIO_BLK_S_UNSUPP;
		return b->readonly ? VIRTIO_BLK_S_IOERR : parse_range(b, r, 0);
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (!has(b, VIRTIO_BLK_F_WRITE_ZEROES))
			return VIRTIO_BLK_S_UNSUPP;
		return b->readonly ? VIRTIO_BLK_S_IOERR :
		       parse_range(b, r, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* Copy the serial into the request's buffers, NUL-padded, at most 20. */
static void get_id(struct blk *b, struct blk_req *r)
{
	size_t left = sizeof(b->serial), i;
	const char *src = b->serial;

	for (i = 0; i < r->niov && left; i++) {
		size_t n = r->iov[i].iov_len < left ? r->iov[i].iov_len : left;

		memcpy(r->iov[i].iov_base, src, n);
		src += n;
		left -= n;
	}
	r->in_len = 1 + sizeof(b->serial) - left;
}

/**
 * blk_req_start() - check a request; send it to the file or answer it
 * @b: the backend
 * @r: the request, parsed from its chain
 */
void blk_req_start(struct blk *b, struct blk_req *r)
{
	uint8_t status = check(b, r);

	if (status != VIRTIO_BLK_S_OK) {
		if (b->errors++ < 20)
			blk_log("refusing request type %u, sector %llu, %llu bytes: %s",
				r->type, (unsigned long long)r->sector,
				(unsigned long long)r->bytes,
				status == VIRTIO_BLK_S_UNSUPP ? "unsupported" :
				"out of range, malformed or read-only");
		blk_queue_complete(b, r, status);
		return;
	}
	if (r->type == VIRTIO_BLK_T_GET_ID) {
		get_id(b, r);
		blk_queue_complete(b, r, VIRTIO_BLK_S_OK);
		return;
	}
	b->io_inflight++;
	if (blk_throttle_admit(b, r))
		blk_req_submit(b, r);
}

/**
 * blk_req_submit() - queue a checked request's file operation
 * @b: the backend
 * @r: the request
 */
void blk_req_submit(struct blk *b, struct blk_req *r)
{
	struct io_uring_sqe *sqe;
	off_t off = r->sector * SECTOR + r->done;

	if (b->nbd) {
		blk_nbd_submit(b, r);
		return;
	}
	sqe = blk_sqe(b);
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		io_uring_prep_readv(sqe, b->fd, r->iov, r->niov, off);
		break;
	case VIRTIO_BLK_T_OUT:
		io_uring_prep_writev(sqe, b->fd, r->iov, r->niov, off);
		/*
		 * A disk offered no FLUSH has no cache to its driver: a write
		 * it completes is on stable storage, as the driver assumes.
		 */
		if (!has(b, VIRTIO_BLK_F_FLUSH))
			sqe->rw_flags = RWF_DSYNC;
		break;
	case VIRTIO_BLK_T_FLUSH:
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		break;
	default:
		io_uring_prep_fallocate(sqe, b->fd, r->falloc_mode, off,
					r->expect);
		break;
	}
	io_uring_sqe_set_data(sqe, r);
}

/* Drop @n bytes from the front of @r's buffers: a short transfer's part. */
static void iov_advance(struct blk_req *r, size_t n)
{
	unsigned int i = 0;

	while (n && i < r->niov) {
		size_t k = n < r->iov[i].iov_len ? n : r->iov[i].iov_len;

		r->iov[i].iov_base = (uint8_t *)r->iov[i].iov_base + k;
		r->iov[i].iov_len -= k;
		n -= k;
		if (!r->iov[i].iov_len)
			i++;
	}
	memmove(r->iov, r->iov + i, (r->niov - i) * sizeof(r->iov[0]));
	r->niov -= i;
}

/**
 * blk_req_done() - a request's file operation completed
 * @b: the backend
 * @r: the request
 * @res: its result
 */
void blk_req_done(struct blk *b, struct blk_req *r, int res)
{
	bool io = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT;

	/* tmpfs has no ZERO_RANGE; a punched hole reads back as zeros. */
	if (res == -EOPNOTSUPP && r->type == VIRTIO_BLK_T_WRITE_ZEROES &&
	    r->falloc_mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
		b->zero_mode = FALLOC_FL_PUNCH_HOLE;
		r->falloc_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		blk_req_submit(b, r);
		return;
	}
	/*
	 * A short read or write did part of it (a signal, a full pipe of a
	 * block device): the rest goes again, unless the queues stopped.
	 */
	if (io && res > 0 && r->done + res < r->expect && r->gen == b->gen) {
		r->done += res;
		iov_advance(r, res);
		blk_req_submit(b, r);
		return;
	}
	b->io_inflight--;
	if (res < 0 || (io && r->done + (uint64_t)res != r->expect)) {
		/* Of a ring gone since: dropped, and nothing to say. */
		if (r->gen == b->gen && b->errors++ < 20)
			blk_log("type %u at sector %llu: %s", r->type,
				(unsigned long long)r->sector,
				res < 0 ? strerror(-res) : "short transfer");
		blk_queue_complete(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	blk_queue_complete(b, r, VIRTIO_BLK_S_OK);
}
