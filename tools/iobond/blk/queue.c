// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-blk: the board's split virtqueues, seen from the backend.
 *
 * Everything in the window is the board's and is checked before use:
 * descriptor indices, chain lengths (a loop ends at the ring's size),
 * directions (device-readable before device-writable) and that each
 * buffer lies in the window.  Each queue's inflight record (struct
 * iobond_inflight) is kept as the uAPI describes, so that the kernel can
 * fail, or a restarted backend run again, what this one took.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <linux/virtio_config.h>

#include "blk.h"

#define LE16(x) le16toh(__atomic_load_n(&(x), __ATOMIC_RELAXED))
#define LE32(x) le32toh(x)
#define LE64(x) le64toh(x)

/*
 * [@off, @off + @len) of the window, if it lies in the disk's zone: a
 * board that points a request elsewhere gets IOERR, and another device's
 * reset, which revokes that device's zone only, never reaches this one.
 */
static void *win_ptr(struct blk *b, uint64_t off, uint64_t len)
{
	if (off < b->zone_off || off - b->zone_off > b->zone_size ||
	    len > b->zone_size - (off - b->zone_off))
		return NULL;
	return b->win + off;
}

static void rec_store(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Copy @len bytes from offset @off of the iovecs, if they hold that many. */
static bool iov_read(const struct iovec *iov, unsigned int n, size_t off,
		     void *buf, size_t len)
{
	unsigned int i;

	for (i = 0; i < n && len; i++) {
		size_t take;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		take = iov[i].iov_len - off;
		if (take > len)
			take = len;
		memcpy(buf, (uint8_t *)iov[i].iov_base + off, take);
		buf = (uint8_t *)buf + take;
		len -= take;
		off = 0;
	}
	return !len;
}

/* The iovecs for bytes [@off, @off + @len) of @src, into @dst. */
static unsigned int iov_slice(const struct iovec *src, unsigned int n,
			      size_t off, size_t len, struct iovec *dst)
{
	unsigned int i, out = 0;

	for (i = 0; i < n && len; i++) {
		size_t take;

		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		take = src[i].iov_len - off;
		if (take > len)
			take = len;
		dst[out].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[out++].iov_len = take;
		len -= take;
		off = 0;
	}
	return out;
}

/*
 * Follow the chain at @head into a request.  A chain that cannot be
 * followed gets VIRTIO_BLK_S_IOERR if it has a status byte, and only its
 * used entry if not.
 */
static void take(struct blk *b, struct blk_vq *vq, uint16_t head)
{
	struct iovec iov[IOBOND_BLK_QUEUE_MAX];
	struct virtio_blk_outhdr hdr;
	unsigned int n = 0, nout = 0;
	size_t out_len = 0, in_len = 0;
	const char *why = NULL;
	bool broken = true;
	struct blk_req *r;
	uint16_t i = head;

	for (;;) {
		struct vring_desc d;

		if (n == vq->size) {
			why = "a loop";
			break;
		}
		if (i >= vq->size) {
			why = "an index past the ring";
			break;
		}
		memcpy(&d, &vq->desc[i], sizeof(d));
		if (LE16(d.flags) & VRING_DESC_F_INDIRECT) {
			why = "an indirect descriptor (not offered)";
			break;
		}
		iov[n].iov_base = win_ptr(b, LE64(d.addr), LE32(d.len));
		iov[n].iov_len = LE32(d.len);
		if (!iov[n].iov_base) {
			why = "a buffer outside the window";
			break;
		}
		if (LE16(d.flags) & VRING_DESC_F_WRITE) {
			in_len += iov[n].iov_len;
		} else if (in_len) {
			why = "a readable buffer after a writable one";
			break;
		} else {
			out_len += iov[n].iov_len;
			nout++;
		}
		n++;
		if (!(LE16(d.flags) & VRING_DESC_F_NEXT)) {
			broken = false;
			break;
		}
		i = LE16(d.next);
	}

	r = calloc(1, sizeof(*r) + n * sizeof(struct iovec));
	if (!r) {
		blk_log("out of memory: dropping a request");
		exit(1);
	}
	r->vq = vq;
	r->gen = b->gen;
	r->head = head;
	/* The status is the last byte of a whole chain, device-writable. */
	if (!broken && n > nout && iov[n - 1].iov_len) {
		r->status = (uint8_t *)iov[n - 1].iov_base +
			    iov[n - 1].iov_len - 1;
		r->in_len = in_len;
	} else if (!why) {
		why = "no writable status byte";
	}
	if (!why && !iov_read(iov, nout, 0, &hdr, sizeof(hdr)))
		why = "a header shorter than 16 bytes";
	if (why) {
		if (b->errors++ < 20)
			blk_log("queue %ld: request %u has %s: refused",
				(long)(vq - b->vq), head, why);
		blk_queue_complete(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	r->type = LE32(hdr.type);
	r->sector = LE64(hdr.sector);
	/*
	 * The data: what precedes the status of a read, what follows the
	 * header of anything else.  Nothing else may be in either direction.
	 */
	if (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_GET_ID) {
		r->bytes = in_len - 1;
		r->niov = iov_slice(iov + nout, n - nout, 0, r->bytes, r->iov);
		r->misshapen = out_len != sizeof(hdr);
	} else {
		r->bytes = out_len - sizeof(hdr);
		r->niov = iov_slice(iov, nout, sizeof(hdr), r->bytes, r->iov);
		r->misshapen = in_len != 1;
	}
	blk_req_start(b, r);
}

/**
 * blk_queue_kick() - take every request the board made available
 * @b: the backend
 * @q: the queue
 */
void blk_queue_kick(struct blk *b, unsigned int q)
{
	struct blk_vq *vq = &b->vq[q];
	uint16_t mask = vq->size - 1, aidx, head;

	while (vq->live && !b->stopping) {
		aidx = le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
		if ((uint16_t)(aidx - vq->last_avail) > vq->size) {
			blk_log("queue %u: driver index %u is past %u by more than the ring: queue stopped",
				q, aidx, vq->last_avail);
			vq->live = false;
			return;
		}
		while (vq->last_avail != aidx) {
			head = LE16(vq->avail->ring[vq->last_avail & mask]);
			if (head >= vq->size || vq->rec->head[head]) {
				/*
				 * Past the ring, or recorded already: a
				 * backend died between the two steps below
				 * and resume() took it.
				 */
				if (head >= vq->size && b->errors++ < 20)
					blk_log("queue %u: head %u is past the ring: ignored",
						q, head);
				rec_store(&vq->rec->last_avail, ++vq->last_avail);
				continue;
			}
			/* Recorded before it is taken (see the uAPI). */
			vq->rec->head[head] = 1;
			rec_store(&vq->rec->last_avail, ++vq->last_avail);
			take(b, vq, head);
		}
		if (!(b->features & (1ULL << VIRTIO_RING_F_EVENT_IDX)))
			break;
		/* Ask for the next kick, then look once more. */
		__atomic_store_n((uint16_t *)(void *)&vq->used->ring[vq->size],
				 htole16(vq->last_avail), __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (LE16(vq->avail->idx) == vq->last_avail)
			break;
	}
}

/**
 * blk_queue_complete() - put a request's status and used entry in place
 * @b: the backend
 * @r: the request, freed here
 * @status: VIRTIO_BLK_S_*
 *
 * A request taken before the queues last stopped is dropped: its ring is
 * no longer the board's current one.
 */
void blk_queue_complete(struct blk *b, struct blk_req *r, uint8_t status)
{
	struct blk_vq *vq = r->vq;
	struct vring_used_elem *e;

	if (r->gen == b->gen && vq->live) {
		if (r->status)
			*r->status = status;
		e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
		e->id = htole32(r->head);
		e->len = htole32(status == VIRTIO_BLK_S_OK ? r->in_len :
				 r->status ? 1 : 0);
		vq->used_idx++;
		b->done++;
	}
	free(r);
}

/*
 * Clear from @vq's record the requests its used ring completed, up to
 * index @upto; a ring's worth at most, whatever the index says.
 */
static void record_completed(struct blk_vq *vq, uint16_t upto)
{
	uint16_t i, mask = vq->size - 1;
	unsigned int n = 0;

	for (i = vq->rec->used_idx; i != upto && n++ < vq->size; i++) {
		uint32_t id = le32toh(vq->used->ring[i & mask].id);

		if (id < vq->size)
			vq->rec->head[id] = 0;
	}
	rec_store(&vq->rec->used_idx, upto);
}

/**
 * blk_queues_publish() - publish the used entries; interrupt the board
 * @b: the backend
 *
 * Once per batch of completions: one index store and at most one
 * interrupt per queue, fewer where the board's used event says so.
 */
void blk_queues_publish(struct blk *b)
{
	static const uint32_t one = 1;
	unsigned int q;

	for (q = 0; q < b->nvq; q++) {
		struct blk_vq *vq = &b->vq[q];
		uint16_t old = vq->signalled;
		bool notify;

		if (!vq->live || LE16(vq->used->idx) == vq->used_idx)
			continue;
		__atomic_store_n(&vq->used->idx, htole16(vq->used_idx),
				 __ATOMIC_RELEASE);
		/* Cleared from the record after publishing (see the uAPI). */
		record_completed(vq, vq->used_idx);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (b->features & (1ULL << VIRTIO_RING_F_EVENT_IDX))
			notify = vring_need_event(LE16(vq->avail->ring[vq->size]),
						  vq->used_idx, old);
		else
			notify = !(LE16(vq->avail->flags) &
				   VRING_AVAIL_F_NO_INTERRUPT);
		if (!notify)
			continue;
		vq->signalled = vq->used_idx;
		if (pwrite(b->vfio.device, &one, sizeof(one),
			   b->vfio.off[IOBOND_VFIO_NOTIFY_REGION] + 4 * q) < 0)
			blk_log("queue %u: notify: %m", q);
	}
}

/**
 * blk_queues_stop() - forget the board's rings
 * @b: the backend
 *
 * Requests still at io_uring complete into nothing (their generation is
 * past); the inflight records keep them for whoever serves next.
 */
void blk_queues_stop(struct blk *b)
{
	unsigned int q;

	b->gen++;
	for (q = 0; q < b->nvq; q++)
		b->vq[q].live = false;
	b->nvq = 0;
	if (b->nbd)
		blk_nbd_stop(b);
}

/**
 * blk_parse_config() - the disk's limits, from the config space published
 * @b: the backend, with a fresh state
 */
void blk_parse_config(struct blk *b)
{
	struct virtio_blk_config cfg;

	memcpy(&cfg, b->st.config, sizeof(cfg));
	b->capacity = le64toh(cfg.capacity);
	b->blk_size = le32toh(cfg.blk_size);
	b->seg_max = le32toh(cfg.seg_max);
	b->size_max = le32toh(cfg.size_max);
	b->max_discard = le32toh(cfg.max_discard_sectors);
	b->max_zeroes = le32toh(cfg.max_write_zeroes_sectors);
	b->features = b->st.driver_features;
}

/* Run again what the last backend took and did not complete. */
static void resume(struct blk *b, struct blk_vq *vq)
{
	uint16_t uidx = LE16(vq->used->idx);
	unsigned int h, n;

	record_completed(vq, uidx);
	vq->used_idx = vq->signalled = uidx;
	vq->last_avail = vq->rec->last_avail;
	for (h = 0, n = 0; h < vq->size; h++) {
		if (!vq->rec->head[h])
			continue;
		n++;
		take(b, vq, h);
	}
	if (n)
		blk_log("queue %ld: running again %u requests the last backend took",
			(long)(vq - b->vq), n);
}

/**
 * blk_queues_start() - serve the rings the board enabled
 * @b: the backend, with a fresh state
 *
 * Return: 0 or -errno.
 */
int blk_queues_start(struct blk *b)
{
	int32_t fds[IOBOND_MAX_QUEUES];
	uint32_t resets = b->st.resets;
	unsigned int q;
	int ret;

	if (b->win)
		munmap(b->win, b->win_size);
	b->win_size = b->vfio.size[IOBOND_VFIO_WINDOW_REGION];
	b->win = mmap(NULL, b->win_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      b->vfio.device, b->vfio.off[IOBOND_VFIO_WINDOW_REGION]);
	if (b->win == MAP_FAILED) {
		b->win = NULL;
		return -errno;
	}
	/*
	 * The rings are taken from a state read after the mapping was made:
	 * a reset between an earlier read and the mmap() would have left
	 * old rings in a mapping that never faults.  A reset since is the
	 * state interrupt's to tell.
	 */
	ret = iob_vfio_state(&b->vfio, &b->st);
	if (ret)
		return ret;
	if (b->st.resets != resets)
		return -EAGAIN;
	b->zone_size = IOBOND_ZONE_SIZE(b->win_size);
	b->zone_off = (uint64_t)b->st.index * b->zone_size;
	if (b->st.index >= IOBOND_MAX_DEVICES || !b->zone_size)
		return -EINVAL;
	blk_parse_config(b);
	b->nvq = b->st.num_queues;
	for (q = 0; q < b->nvq; q++) {
		struct blk_vq *vq = &b->vq[q];
		uint32_t size = b->st.vq[q].size;

		vq->live = false;
		if (vq->kick_fd <= 0)
			vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		fds[q] = vq->kick_fd;
		if (!(b->st.queues_enabled & (1u << q)))
			continue;
		vq->size = size;
		vq->desc = win_ptr(b, b->st.vq[q].desc, 16ULL * size);
		vq->avail = win_ptr(b, b->st.vq[q].avail, 6 + 2ULL * size);
		vq->used = win_ptr(b, b->st.vq[q].used, 6 + 8ULL * size);
		vq->rec = (void *)((uint8_t *)b->recs + q * IOBOND_INFLIGHT_STRIDE);
		if (!vq->desc || !vq->avail || !vq->used || !size ||
		    size > IOBOND_BLK_QUEUE_MAX || (size & (size - 1))) {
			blk_log("queue %u: the host gave a ring the window cannot hold", q);
			continue;
		}
		vq->live = true;
	}
	ret = iob_vfio_set_irqs(b->vfio.device, IOBOND_VFIO_KICK_IRQ, 0,
				b->nvq, fds);
	if (ret)
		return ret;
	b->resets = b->st.resets;
	for (q = 0; q < b->nvq; q++) {
		if (!b->vq[q].live)
			continue;
		resume(b, &b->vq[q]);
		blk_queue_kick(b, q);
	}
	blk_log("serving %u queue(s): %llu sectors, %u-byte blocks, features %#llx",
		b->nvq, (unsigned long long)b->capacity, b->blk_size,
		(unsigned long long)b->features);
	return 0;
}
