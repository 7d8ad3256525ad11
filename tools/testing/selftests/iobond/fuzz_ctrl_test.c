// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded fuzzer of the host's faces of one board, from two threads at
 * once: /dev/iobond/board0 (the control face's ioctls, read and poll; the
 * vhost face's ioctls and mmap of the window) and the VFIO face of a device
 * slot the fuzzer provisions itself (its ioctls, regions and mmaps).  Real
 * ioctl numbers with random argsz, flags, indices and payloads; random
 * numbers of the same type; bad user pointers, which must be EFAULT; mmap,
 * mremap, munmap and mprotect with random lengths, offsets and protections,
 * and the mapped pages touched; files closed and opened again.  Each result
 * is held to what include/uapi/linux/iobond.h and Documentation/iobond/
 * promise; a promise broken is counted as a violation and shown.
 *
 * Runs in the host VM with iobond_host loaded, the board running, and
 * slots provisioned before it (dev0: a NIC the runner keeps pinging) left
 * working.  Those slots are only read: no remove, eventfd, carrier or mdev
 * on them; no board-wide stop or reset (both take every device away); and
 * the window is written only in its first page, which the
 * board's transport never hands out (the rest holds dev0's rings).
 *
 * SIGBUS is caught and counted.  A mapping of the window may fault in a
 * device's zone once that zone was revoked after it was made: the device
 * removed, or reset with queues enabled, or the board stopped, or the file
 * that held its eventfds closed (devices.rst, vfio.rst).  The fuzzer causes
 * only removals of its own devices and closes of its own files, and
 * tracks both; a window mapping that faults in the zone of a device
 * provisioned before (dev0), or with no removal since it was made, or an
 * inflight mapping that faults at all, is a violation, and at the end a
 * removal must revoke the device's own zone and not dev0's.  A mapping
 * mremap() moved is counted apart: the kernel should have refused the
 * move.
 *
 * Environment: IOBOND_SEED, IOBOND_FUZZ_OPS (default 10000, shared by the
 * two threads), IOBOND_FUZZ_SKIP (fuzz.h).  Operation kinds: ioctl, badptr,
 * randcmd, mmap, touch, mremap, munmap, mprotect, read, poll, reopen,
 * vfio-ioctl, vfio-rw, vfio-reopen, eventfd, mdev; and add and remove (the
 * valid device adds and removals within "ioctl").  With "remove" skipped
 * the fuzzer also leaves its devices behind at the end.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "kselftest_harness.h"
#include "iobond_test.h"
#include "fuzz.h"
#include "../../../../tools/iobond/iobond_vfio.h"

#define BOARD		"/dev/iobond/board0"
#define TYPES		"/sys/class/iobond/board0/mdev_supported_types"
#define NTHREADS	2
#define NMAPS		8
#define NEFDS		4
#define PAGE		4096UL
#define BUFSZ		(128 * 1024UL)
#define COLDSZ		(64 * 1024UL)
#define BAD_FD		4242
#define KERNEL_PTR	((void *)0xffff888000000000UL)
#define E(x)		(1ULL << (x))
#define OK		E(0)

#ifndef offsetofend
#define offsetofend(t, m) (offsetof(t, m) + sizeof(((t *)0)->m))
#endif

enum kind {
	K_IOCTL, K_BADPTR, K_RANDCMD, K_MMAP, K_TOUCH, K_MREMAP, K_MUNMAP,
	K_MPROTECT, K_READ, K_POLL, K_REOPEN, K_VFIO_IOCTL, K_VFIO_RW,
	K_VFIO_REOPEN, K_EVENTFD, K_MDEV, NKINDS
};

static const char * const kind_names[NKINDS] = {
	"ioctl", "badptr", "randcmd", "mmap", "touch", "mremap", "munmap",
	"mprotect", "read", "poll", "reopen", "vfio-ioctl", "vfio-rw",
	"vfio-reopen", "eventfd", "mdev",
};

static const unsigned int kind_weights[NKINDS] = {
	[K_IOCTL] = 26, [K_BADPTR] = 5, [K_RANDCMD] = 4, [K_MMAP] = 8,
	[K_TOUCH] = 12, [K_MREMAP] = 3, [K_MUNMAP] = 6, [K_MPROTECT] = 3,
	[K_READ] = 5, [K_POLL] = 4, [K_REOPEN] = 2, [K_VFIO_IOCTL] = 8,
	[K_VFIO_RW] = 8, [K_VFIO_REOPEN] = 2, [K_EVENTFD] = 6, [K_MDEV] = 1,
};

/* The board's ioctls, with the size of the first version of each struct. */
static const struct {
	unsigned long cmd;
	const char *name;
	size_t minsz;
} cmds[] = {
	{ IOBOND_GET_BOARD_INFO, "GET_BOARD_INFO",
	  offsetofend(struct iobond_board_info, reserved) },
	{ IOBOND_BOARD_CTRL, "BOARD_CTRL",
	  offsetofend(struct iobond_board_ctrl, reserved) },
	{ IOBOND_ADD_DEVICE, "ADD_DEVICE",
	  offsetofend(struct iobond_device_add, reserved) },
	{ IOBOND_REMOVE_DEVICE, "REMOVE_DEVICE",
	  offsetofend(struct iobond_device_ref, reserved) },
	{ IOBOND_GET_DEVICE, "GET_DEVICE",
	  offsetofend(struct iobond_device_info, reserved) },
	{ IOBOND_GET_QUEUE_STATS, "GET_QUEUE_STATS",
	  offsetofend(struct iobond_queue_stats, reserved) },
	{ IOBOND_GET_VRING, "GET_VRING",
	  offsetofend(struct iobond_vring_info, reserved) },
	{ IOBOND_SET_VRING_EVENTFD, "SET_VRING_EVENTFD",
	  offsetofend(struct iobond_vring_eventfd, reserved) },
	{ IOBOND_SET_NET_LINK, "SET_NET_LINK",
	  offsetofend(struct iobond_net_link, reserved) },
};

#define NCMDS	ARRAY_SIZE(cmds)

enum {
	C_INFO, C_CTRL, C_ADD, C_REMOVE, C_GETDEV, C_STATS, C_VRING, C_EVENTFD,
	C_LINK,
};

/* What a virtio-net slot may offer (board.c), for valid adds. */
#define NET_FEATURES (1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_MTU | \
		      1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_MRG_RXBUF | \
		      1ULL << VIRTIO_NET_F_STATUS)
/*
 * Offered only with the control queue.  Not MQ or CTRL_RX, though the
 * kernel takes them: virtio_net sends their commands at probe and from
 * ndo_set_rx_mode and spins until answered, and nothing here answers a
 * control queue (serve does, mainboard.rst): the board would hang.
 */
#define NET_CTRL_FEATURES (1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR)

enum map_kind { M_BOARD, M_VFIO_WINDOW, M_VFIO_INFLIGHT };

struct fz_map {
	__u8 *addr;
	size_t len;
	int prot;
	enum map_kind kind;
	bool maywrite;
	__u64 off;		/* offset in its region of @addr */
	bool moved;		/* mremap() moved it into the landing zone */
	bool tainted;		/* a removal was in flight as it was made */
	unsigned long removed;	/* removals done before it was made */
};

struct fuzz {
	__u64 seed;
	__u64 per_thread;
	struct fz_stats st;
	unsigned long skipped[NKINDS];
	unsigned long refused;		/* ops not sent: they would hit dev0 */
	unsigned long sigbus_revoked, sigbus_unexplained, sigbus_moved;
	unsigned long mremap_moved;

	/* Two files of the board's node, reopened under @board_lock. */
	pthread_rwlock_t board_lock;
	int board[2];
	int board_mode[2];

	/*
	 * A move into a landing zone unmaps the zone's reservation first,
	 * and a refused move leaves a hole until it is reserved again: no
	 * mmap() of the other thread may land there meanwhile.  Moves hold
	 * it for writing, mmap()s without an address for reading.
	 */
	pthread_rwlock_t vm_lock;
	/*
	 * Each thread's set-up mmap()s, and the stacks pthread_create()
	 * maps, all come before the first move leaves a hole to land in.
	 */
	pthread_barrier_t started;

	/* The VFIO face of @own_index's mdev, reopened under @vfio_lock. */
	pthread_rwlock_t vfio_lock;
	struct iob_vfio v;
	unsigned int vfio_maps;		/* mappings made through it */
	char uuid[40];
	unsigned int own_index;

	/* What was there before: read, never written. */
	struct iobond_board_info info;
	bool foreign[IOBOND_MAX_DEVICES];
	struct iobond_device_info finfo[IOBOND_MAX_DEVICES];
	__u64 window_size;

	/* Removals, in flight and done: the SIGBUS a mapping may take. */
	unsigned int removing;
	unsigned long removed;
};

struct th {
	struct fuzz *z;
	unsigned int id;
	struct fz_rng rng;
	struct fz_map map[NMAPS];
	unsigned int nmaps;
	int efd[NEFDS];
	__u8 *buf;		/* BUFSZ, then a PROT_NONE page */
	__u8 *none;
	__u8 *ro;		/* a read-only page */
	__u8 *cold;		/* COLDSZ, dropped before each use */
	__u8 *zone;		/* where mremap() may move a mapping */
	size_t zone_len;
	bool zone_used;
	timer_t timer;
	bool have_timer;
	char what[160];
};

/*
 * volatile: set before the access and cleared after it, the compiler
 * would otherwise drop the first store as dead, and no SIGBUS be caught.
 */
static __thread sigjmp_buf *volatile sigbus_jmp;
static __thread struct th *cur_th;	/* for a crash's report */

static void on_sigsegv(int sig, siginfo_t *si, void *uc);

/* A SIGBUS outside touch() is the fuzzer's own crash. */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	if (sigbus_jmp)
		siglongjmp(*sigbus_jmp, 1);
	on_sigsegv(sig, si, uc);
}

/*
 * The fuzzer's own crash: say where and what it was doing, and which
 * mappings it believed it had, then die of it as before.
 */
static void on_sigsegv(int sig, siginfo_t *si, void *uc)
{
	struct th *t = cur_th;
	unsigned int i;

	(void)uc;
	dprintf(1, "# %s at %p\n", sig == SIGBUS ? "SIGBUS" : "SIGSEGV",
		si->si_addr);
	if (t) {
		dprintf(1, "# thread %u, last operation: %s\n", t->id, t->what);
		for (i = 0; i < t->nmaps; i++)
			dprintf(1, "#   map %u: %p + %#zx prot %#x kind %d moved %d\n",
				i, (void *)t->map[i].addr, t->map[i].len,
				t->map[i].prot, t->map[i].kind, t->map[i].moved);
		dprintf(1, "#   zone %p + %#zx used %d\n", (void *)t->zone,
			t->zone_len, t->zone_used);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_timer(int sig)
{
	(void)sig;
}

static int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? errno : 0;
}

static const char *mask_names(__u64 mask, char *buf, size_t len)
{
	size_t n = 0;
	int e;

	buf[0] = 0;
	for (e = 0; e < 64 && n < len; e++)
		if (mask & E(e))
			n += snprintf(buf + n, len - n, "%s%s", n ? "," : "",
				      fz_errname(e));
	return buf;
}

/* Count @err and hold it to @allowed; EINTR is always allowed. */
static void expect(struct th *t, int err, __u64 allowed)
{
	char names[256];

	fz_count(&t->z->st, err);
	if (err == EINTR || (err < 64 && (allowed & E(err))))
		return;
	fz_violation(&t->z->st, "thread %u: %s: %s, expected %s", t->id,
		     t->what, fz_errname(err),
		     mask_names(allowed, names, sizeof(names)));
}

static void check(struct th *t, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void check(struct th *t, bool ok, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (ok)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fz_violation(&t->z->st, "thread %u: %s: %s", t->id, t->what, line);
}

static bool is_pow2(__u64 x)
{
	return x && !(x & (x - 1));
}

static bool all_zero(const void *p, size_t len)
{
	const __u8 *b = p;

	while (len--)
		if (*b++)
			return false;
	return true;
}

/* A ring of @size entries at window offsets the host said it checked. */
static bool rings_in_window(struct fuzz *z, __u32 size, __u64 desc,
			    __u64 avail, __u64 used)
{
	__u64 w = z->window_size;

	return is_pow2(size) && size <= 32768 &&
	       !(desc & 15) && desc < w && 16ULL * size <= w - desc &&
	       !(avail & 1) && avail < w && 6 + 2ULL * size <= w - avail &&
	       !(used & 3) && used < w && 6 + 8ULL * size <= w - used;
}

/* ---- shared files ----------------------------------------------------- */

static int board_get(struct th *t, struct fz_op *o, int *mode)
{
	unsigned int i = fz_below(o, 2);

	pthread_rwlock_rdlock(&t->z->board_lock);
	*mode = t->z->board_mode[i];
	return t->z->board[i];
}

static void board_put(struct th *t)
{
	pthread_rwlock_unlock(&t->z->board_lock);
}

/* A bad user pointer, and what it is, for the op's name. */
static void *bad_ptr(struct th *t, struct fz_op *o, size_t minsz,
		     const void *good, const char **why)
{
	size_t k;

	switch (fz_below(o, 5)) {
	case 0:
		*why = "NULL";
		return NULL;
	case 1:
		*why = "(void *)1";
		return (void *)1;
	case 2:
		*why = "a PROT_NONE page";
		return t->none;
	case 3:
		/* The struct's start readable, the rest in the PROT_NONE page. */
		k = 1 + fz_below(o, minsz - 1);
		memcpy(t->none - k, good, k);
		*why = "a struct running into a PROT_NONE page";
		return t->none - k;
	default:
		*why = "a kernel address";
		return KERNEL_PTR;
	}
}

/* ---- the board's ioctls ---------------------------------------------- */

static int own_eventfd(struct th *t, struct fz_op *o)
{
	return t->efd[fz_below(o, NEFDS)];
}

static void random_mac(struct fz_op *o, unsigned int id, __u8 *mac)
{
	static const __u8 base[6] = { 0x52, 0x54, 0x00, 0xf1, 0x00, 0x00 };

	memcpy(mac, base, 6);
	mac[4] = id;
	mac[5] = fz_below(o, 4);	/* few, so that EEXIST comes up */
}

/*
 * An ADD_DEVICE: valid, or with one defect, which must be EINVAL; true if
 * it has one.  Valid disks are not made: the board's virtio_blk would block
 * its probe on a disk nothing serves.
 */
static bool gen_add(struct th *t, struct fz_op *o, struct iobond_device_add *a)
{
	static const __u16 bad_qsz[] = { 0, 1, 3, 6, 100, 1000, 0xffff };
	static const __u32 bad_types[] = { 0, 3, 99, 0xffffffff };
	static const __u16 blk_bsz[] = { 512, 1024, 2048, 4096 };
	bool blk = fz_chance(o, 25);
	unsigned int defect;

	memset(a, 0, sizeof(*a));
	a->argsz = sizeof(*a);
	/* Any tag is the operator's to choose. */
	a->tag = fz_u64(o);
	if (!blk) {
		/* One pair; one and a control queue. */
		unsigned int nq = fz_pick(o, ((const __u16[]){ 2, 3 }));

		a->type = IOBOND_DEV_NET;
		a->num_queues = nq;
		a->queue_size = 1 << (1 + fz_below(o, 8));
		random_mac(o, t->id, a->config.net.mac);
		a->config.net.mtu = fz_chance(o, 50) ? 0 : 68 + fz_below(o, 9000);
		/* F_MTU comes with an MTU: the kernel adds it. */
		a->features = fz_u64(o) & NET_FEATURES & ~(1ULL << VIRTIO_NET_F_MTU);
		if (nq > 2)
			a->features |= 1ULL << VIRTIO_NET_F_CTRL_VQ |
				       (fz_u64(o) & NET_CTRL_FEATURES);
		defect = fz_chance(o, 45) ? 1 + fz_below(o, 8) : 0;
	} else {
		__u16 bsz = fz_pick(o, blk_bsz);

		a->type = IOBOND_DEV_BLK;
		a->num_queues = 1;
		a->queue_size = 4 << fz_below(o, 9);
		a->config.blk.blk_size = bsz;
		a->config.blk.capacity = (bsz / 512) * (1 + fz_below(o, 4096));
		a->config.blk.physical_block_exp = fz_below(o, 4);
		a->features = fz_u64(o) & (1ULL << VIRTIO_BLK_F_RO |
					   1ULL << VIRTIO_BLK_F_FLUSH);
		defect = 1 + fz_below(o, 8);
	}

	switch (defect) {
	case 0:
		return false;
	case 1:
		a->argsz = fz_below(o, cmds[C_ADD].minsz);
		break;
	case 2:
		/* Not IOBOND_ADD_ENGINE, which is good whenever the engine is on. */
		a->flags = 2U << fz_below(o, 31);
		break;
	case 3:
		if (fz_chance(o, 50))
			a->reserved0 = 1 + fz_below(o, 0xffff);
		else
			a->reserved[fz_below(o, ARRAY_SIZE(a->reserved))] =
				1 + fz_below(o, 0xffff);
		break;
	case 4:
		a->type = fz_pick(o, bad_types);
		break;
	case 5:
		a->num_queues = fz_chance(o, 50) ? 0 : 17 + fz_below(o, 0xffef);
		break;
	case 6:
		a->queue_size = fz_pick(o, bad_qsz);
		break;
	default:
		if (!blk) {
			switch (fz_below(o, 7)) {
			case 0:
				memset(a->config.net.mac, 0, 6);
				break;
			case 1:
				a->config.net.mac[0] |= 1;	/* multicast */
				break;
			case 2:
				a->config.net.mtu = 1 + fz_below(o, 67);
				break;
			case 3:
				a->features |= 1ULL << fz_pick(o, ((const __u8[]){
					VIRTIO_NET_F_GUEST_ECN, VIRTIO_NET_F_CTRL_VLAN,
					24, 30, 40, 63 }));
				break;
			case 4:
				/* What the control queue carries, without it. */
				a->num_queues = 2;
				a->features &= ~(1ULL << VIRTIO_NET_F_CTRL_VQ);
				a->features |= 1ULL << fz_pick(o, ((const __u8[]){
					VIRTIO_NET_F_MQ, VIRTIO_NET_F_CTRL_RX,
					VIRTIO_NET_F_CTRL_MAC_ADDR }));
				break;
			case 5:
				a->num_queues = 5;
				a->features |= 1ULL << VIRTIO_NET_F_CTRL_VQ;
				a->features &= ~(1ULL << VIRTIO_NET_F_MQ);
				break;
			default:
				a->config.net.reserved[fz_below(o, 14)] = 1;
			}
		} else {
			switch (fz_below(o, 9)) {
			case 0:
				a->config.blk.capacity = 0;
				break;
			case 1:
				a->config.blk.blk_size = 4096;
				a->config.blk.capacity = 7;
				break;
			case 2:
				a->config.blk.blk_size = fz_pick(o, ((const __u32[]){
					0, 256, 1000, 8192, 0xffffffff }));
				break;
			case 3:
				a->config.blk.physical_block_exp = 4 + fz_below(o, 252);
				break;
			case 4:
				a->queue_size = fz_chance(o, 50) ? 2 : 2048;
				break;
			case 5:
				a->features |= 1ULL << VIRTIO_BLK_F_CONFIG_WCE;
				break;
			case 6:
				a->num_queues = 2;
				break;
			case 7:
				if (fz_chance(o, 50))
					a->config.blk.size_max = 1;
				else
					a->config.blk.seg_max = 1;
				break;
			default:
				a->config.blk.reserved[fz_below(o, 8)] = 1;
			}
		}
	}
	return true;
}

static void after_add(struct th *t, const struct iobond_device_add *a)
{
	check(t, a->index < IOBOND_MAX_DEVICES && !t->z->foreign[a->index],
	      "added in slot %u, which was provisioned before", a->index);
}

static void check_dev(struct th *t, const struct iobond_device_info *d,
		      __u32 index, size_t minsz)
{
	struct fuzz *z = t->z;
	const struct iobond_device_info *f = &z->finfo[index];
	__u64 need = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_ACCESS_PLATFORM;

	check(t, d->argsz == minsz && d->index == index,
	      "argsz %u index %u", d->argsz, d->index);
	check(t, d->type <= IOBOND_DEV_BLK, "type %u", d->type);
	/* The runner's devices may go through the engine; the fuzzer's not. */
	check(t, !(d->flags & ~(IOBOND_DEVICE_OWNED | IOBOND_DEVICE_ENGINE)) &&
	      !(z->foreign[index] && d->flags & IOBOND_DEVICE_OWNED) &&
	      (z->foreign[index] || !(d->flags & IOBOND_DEVICE_ENGINE)),
	      "flags %#x", d->flags);
	check(t, all_zero(d->reserved, sizeof(d->reserved)), "reserved fields set");
	if (d->type) {
		check(t, d->num_queues >= 1 && d->num_queues <= IOBOND_MAX_QUEUES &&
		      is_pow2(d->queue_size) && d->queue_size >= 2,
		      "%u queues of %u", d->num_queues, d->queue_size);
		check(t, (d->features & need) == need,
		      "features %#llx lack VERSION_1 or ACCESS_PLATFORM",
		      (unsigned long long)d->features);
		check(t, d->status <= 0xff, "status %#x", d->status);
		check(t, !(d->queues_enabled >> d->num_queues),
		      "queues_enabled %#x of %u queues", d->queues_enabled,
		      d->num_queues);
	}
	if (z->foreign[index])
		check(t, d->type == f->type && d->features == f->features &&
		      d->num_queues == f->num_queues &&
		      d->queue_size == f->queue_size &&
		      !memcmp(&d->config, &f->config, sizeof(d->config)),
		      "slot %u, provisioned before, changed", index);
}

/* One ioctl of the board's, with what all of them draw. */
struct call {
	struct fz_op *o;
	unsigned int c;		/* in cmds[] */
	__u8 *arg;
	bool defect;		/* make something wrong */
	__u32 index, queue, argsz;
	bool short_argsz;	/* argsz below the first version */
	bool foreign;		/* @index was provisioned before us */
};

static void ioctl_info(struct th *t, const struct call *k)
{
	struct iobond_board_info *info = (void *)k->arg;
	struct fuzz *z = t->z;
	int mode, fd, err;
	__u32 in;

	info->argsz = k->argsz;
	/* Output flags go in as 0. */
	info->flags = in = k->defect && fz_chance(k->o, 50) ? 1U << fz_below(k->o, 32) : 0;
	fd = board_get(t, k->o, &mode);
	err = xioctl(fd, cmds[k->c].cmd, info);
	board_put(t);
	expect(t, err, k->short_argsz || in ? E(EINVAL) : OK);
	if (err)
		return;
	check(t, info->argsz == cmds[k->c].minsz && info->index == 0 &&
	      info->max_devices == IOBOND_MAX_DEVICES &&
	      info->max_queues == IOBOND_MAX_QUEUES &&
	      info->region_size == z->info.region_size &&
	      info->window_size == z->info.region_size - IOBOND_WINDOW_OFF &&
	      info->num_devices <= IOBOND_MAX_DEVICES &&
	      !(info->flags & ~(IOBOND_BOARD_LINK_UP | IOBOND_BOARD_RUNNING |
				IOBOND_BOARD_ENGINE)) &&
	      info->nvectors >= 1 && info->nvectors <= IOBOND_MAX_VECTORS,
	      "insane info: argsz %u index %u devices %u flags %#x region %llu window %llu",
	      info->argsz, info->index, info->num_devices, info->flags,
	      (unsigned long long)info->region_size,
	      (unsigned long long)info->window_size);
	check(t, !(z->info.flags & IOBOND_BOARD_RUNNING) ||
	      (info->flags & IOBOND_BOARD_RUNNING),
	      "the board stopped running");
}

/* Never a valid one: START, STOP and RESET reach every slot. */
static void ioctl_ctrl(struct th *t, const struct call *k)
{
	static const __u32 bad_flags[] = {
		0, IOBOND_BOARD_START | IOBOND_BOARD_STOP,
		IOBOND_BOARD_STOP | IOBOND_BOARD_RESET, 1 << 3, 1U << 31, 0xffffffff,
	};
	struct iobond_board_ctrl *ctrl = (void *)k->arg;
	int mode, fd, err;

	ctrl->argsz = k->argsz;
	ctrl->flags = fz_pick(k->o, bad_flags);
	if (!k->short_argsz && fz_chance(k->o, 30)) {
		ctrl->flags = IOBOND_BOARD_START << fz_below(k->o, 3);
		ctrl->reserved[fz_below(k->o, 2)] = 1 + fz_below(k->o, 0xffff);
	}
	fd = board_get(t, k->o, &mode);
	err = xioctl(fd, cmds[k->c].cmd, ctrl);
	board_put(t);
	expect(t, err, E(EINVAL));
}

static void ioctl_add(struct th *t, const struct call *k)
{
	struct iobond_device_add *a = (void *)k->arg;
	struct fuzz *z = t->z;
	int mode, fd, err, want;

	want = gen_add(t, k->o, a) ? EINVAL : 0;
	if (!want && fz_skipped("add")) {
		z->skipped[K_IOCTL]++;
		return;
	}
	snprintf(t->what, sizeof(t->what),
		 "ADD_DEVICE argsz %u flags %#x type %u %u queues of %u features %#llx",
		 a->argsz, a->flags, a->type, a->num_queues, a->queue_size,
		 (unsigned long long)a->features);
	fd = board_get(t, k->o, &mode);
	err = xioctl(fd, cmds[k->c].cmd, a);
	board_put(t);
	expect(t, err, want ? E(want) : OK | E(EEXIST) | E(ENOSPC));
	if (!err)
		after_add(t, a);
}

static void ioctl_remove(struct th *t, const struct call *k)
{
	struct iobond_device_ref *ref = (void *)k->arg;
	struct fuzz *z = t->z;
	int mode, fd, err, want;

	ref->argsz = k->argsz;
	ref->index = k->index;
	if (k->defect && fz_chance(k->o, 50))
		ref->flags = 1U << fz_below(k->o, 32);
	else if (k->defect && fz_chance(k->o, 50))
		ref->reserved = 1 + fz_below(k->o, 0xffff);
	want = k->short_argsz || ref->flags || ref->reserved ||
	       k->index >= IOBOND_MAX_DEVICES ? EINVAL : 0;
	if (!want && (k->foreign || fz_skipped("remove"))) {
		/* dev0 stays; so do ours if asked. */
		__atomic_fetch_add(&z->refused, 1, __ATOMIC_RELAXED);
		return;
	}
	fd = board_get(t, k->o, &mode);
	__atomic_fetch_add(&z->removing, 1, __ATOMIC_SEQ_CST);
	err = xioctl(fd, cmds[k->c].cmd, ref);
	if (!err)
		__atomic_fetch_add(&z->removed, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_sub(&z->removing, 1, __ATOMIC_SEQ_CST);
	board_put(t);
	expect(t, err, want ? E(want) : OK | E(ENOENT));
}

static void ioctl_get_device(struct th *t, const struct call *k)
{
	struct iobond_device_info *d = (void *)k->arg;
	int mode, fd, err;
	__u32 in;

	d->argsz = k->argsz;
	d->index = k->index;
	d->flags = in = k->defect && fz_chance(k->o, 50) ? 1U << fz_below(k->o, 32) : 0;
	fd = board_get(t, k->o, &mode);
	err = xioctl(fd, cmds[k->c].cmd, d);
	board_put(t);
	expect(t, err, k->short_argsz || in ||
		       k->index >= IOBOND_MAX_DEVICES ? E(EINVAL) : OK);
	if (!err)
		check_dev(t, d, k->index, cmds[k->c].minsz);
}

static void ioctl_stats(struct th *t, const struct call *k)
{
	struct iobond_queue_stats *st = (void *)k->arg;
	struct fuzz *z = t->z;
	int mode, fd, err;
	__u64 allowed;

	st->argsz = k->argsz;
	st->index = k->index;
	st->queue = k->queue;
	if (k->defect && fz_chance(k->o, 50))
		st->flags = 1U << fz_below(k->o, 32);
	else if (k->defect && fz_chance(k->o, 50))
		st->reserved[fz_below(k->o, 4)] = 1;
	if (k->short_argsz || st->flags || k->index >= IOBOND_MAX_DEVICES ||
	    st->reserved[0] | st->reserved[1] | st->reserved[2] | st->reserved[3])
		allowed = E(EINVAL);
	else if (k->foreign)
		allowed = k->queue < z->finfo[k->index].num_queues ? OK : E(EINVAL);
	else
		allowed = OK | E(ENOENT) | E(EINVAL);
	fd = board_get(t, k->o, &mode);
	err = xioctl(fd, cmds[k->c].cmd, st);
	board_put(t);
	expect(t, err, allowed);
}

static void ioctl_get_vring(struct th *t, const struct call *k)
{
	struct iobond_vring_info *vi = (void *)k->arg;
	struct fuzz *z = t->z;
	int mode, fd, err;
	__u64 allowed;

	vi->argsz = k->argsz;
	vi->index = k->index;
	vi->queue = k->queue;
	vi->flags = k->defect && fz_chance(k->o, 50) ? 1U << fz_below(k->o, 32) : 0;
	if (k->short_argsz || vi->flags || k->index >= IOBOND_MAX_DEVICES)
		allowed = E(EINVAL);
	else if (k->foreign)
		allowed = k->queue < z->finfo[k->index].num_queues ? OK : E(EINVAL);
	else
		allowed = OK | E(ENOENT) | E(EINVAL);
	fd = board_get(t, k->o, &mode);
	err = xioctl(fd, cmds[k->c].cmd, vi);
	board_put(t);
	expect(t, err, allowed);
	if (err)
		return;
	check(t, !(vi->flags & ~IOBOND_VRING_ENABLED), "flags %#x", vi->flags);
	if (vi->flags & IOBOND_VRING_ENABLED)
		check(t, rings_in_window(z, vi->size, vi->desc, vi->avail,
					 vi->used),
		      "enabled ring outside the window: size %u desc %#llx avail %#llx used %#llx",
		      vi->size, (unsigned long long)vi->desc,
		      (unsigned long long)vi->avail,
		      (unsigned long long)vi->used);
}

static void ioctl_vring_eventfd(struct th *t, const struct call *k)
{
	struct iobond_vring_eventfd *ve = (void *)k->arg;
	static const __u32 flag_pool[] = {
		IOBOND_VRING_KICK, IOBOND_VRING_CALL, IOBOND_VRING_KICK,
		IOBOND_VRING_CALL, 0, IOBOND_VRING_KICK | IOBOND_VRING_CALL,
		1 << 2, 1U << 31,
	};
	int efd = own_eventfd(t, k->o);
	struct fuzz *z = t->z;
	int mode, fd, err, want = 0;

	ve->argsz = k->argsz;
	ve->flags = fz_pick(k->o, flag_pool);
	ve->index = k->index;
	ve->queue = k->queue;
	switch (fz_below(k->o, 8)) {
	case 0:
		ve->fd = -1;
		break;
	case 1:
		ve->fd = -2 - fz_below(k->o, 1000);
		break;
	case 2:
		ve->fd = BAD_FD;
		break;
	case 3:
		ve->fd = z->board[0];	/* no eventfd */
		break;
	default:
		ve->fd = efd;
	}
	if (k->defect && fz_chance(k->o, 40))
		ve->reserved[fz_below(k->o, 3)] = 1;
	want = k->short_argsz || ve->flags == 0 ||
	       (ve->flags & (ve->flags - 1)) ||
	       (ve->flags & ~(IOBOND_VRING_KICK | IOBOND_VRING_CALL)) ||
	       ve->reserved[0] | ve->reserved[1] | ve->reserved[2] ||
	       k->index >= IOBOND_MAX_DEVICES || ve->fd < -1 ? EINVAL : 0;
	if (!want && k->foreign) {
		/* dev0's eventfds are vhost-net's. */
		__atomic_fetch_add(&z->refused, 1, __ATOMIC_RELAXED);
		return;
	}
	/* A call signalled before it is attached fires at once. */
	if (ve->fd == efd && ve->flags == IOBOND_VRING_CALL && fz_chance(k->o, 50)) {
		__u64 one = 1;

		if (write(efd, &one, sizeof(one)) != sizeof(one))
			fz_count(&z->st, errno);
	}
	fd = board_get(t, k->o, &mode);
	err = xioctl(fd, cmds[k->c].cmd, ve);
	board_put(t);
	expect(t, err, want ? E(want) : OK | E(ENOENT) | E(EINVAL) |
				    E(EBUSY) | E(EBADF));
}

static void ioctl_net_link(struct th *t, const struct call *k)
{
	struct iobond_net_link *nl = (void *)k->arg;
	struct fuzz *z = t->z;
	int mode, fd, err, want = 0;

	nl->argsz = k->argsz;
	nl->index = k->index;
	nl->flags = fz_chance(k->o, 80) ? fz_below(k->o, 2) : 1U << fz_below(k->o, 32);
	if (k->defect && fz_chance(k->o, 40))
		nl->reserved = 1;
	want = k->short_argsz || (nl->flags & ~IOBOND_NET_LINK_UP) ||
	       nl->reserved || k->index >= IOBOND_MAX_DEVICES ? EINVAL : 0;
	if (!want && k->foreign) {
		/* dev0's carrier is its service's. */
		__atomic_fetch_add(&z->refused, 1, __ATOMIC_RELAXED);
		return;
	}
	fd = board_get(t, k->o, &mode);
	err = xioctl(fd, cmds[k->c].cmd, nl);
	board_put(t);
	expect(t, err, want ? E(want) : OK | E(ENOENT) | E(EINVAL));
}

static void do_ioctl(struct th *t, struct fz_op *o)
{
	static void (*const calls[NCMDS])(struct th *, const struct call *) = {
		[C_INFO] = ioctl_info, [C_CTRL] = ioctl_ctrl, [C_ADD] = ioctl_add,
		[C_REMOVE] = ioctl_remove, [C_GETDEV] = ioctl_get_device,
		[C_STATS] = ioctl_stats, [C_VRING] = ioctl_get_vring,
		[C_EVENTFD] = ioctl_vring_eventfd, [C_LINK] = ioctl_net_link,
	};
	struct call k = { .o = o, .c = fz_below(o, NCMDS), .arg = t->buf };

	k.defect = fz_chance(o, 35);
	k.index = fz_below(o, IOBOND_MAX_DEVICES + 2);
	k.queue = fz_below(o, IOBOND_MAX_QUEUES + 2);
	k.argsz = k.defect && fz_chance(o, 30) ? fz_below(o, cmds[k.c].minsz) :
		  cmds[k.c].minsz + (fz_chance(o, 20) ? fz_below(o, 64) : 0);
	k.short_argsz = k.argsz < cmds[k.c].minsz;
	k.foreign = k.index < IOBOND_MAX_DEVICES && t->z->foreign[k.index];
	snprintf(t->what, sizeof(t->what), "%s argsz %u index %u queue %u",
		 cmds[k.c].name, k.argsz, k.index, k.queue);
	memset(k.arg, 0, 512);
	calls[k.c](t, &k);
}

/* Fill @arg with a statically valid struct for @c, for the pointer ops. */
static void good_arg(struct th *t, struct fz_op *o, unsigned int c, void *arg)
{
	struct iobond_device_add *a = arg;

	memset(arg, 0, 512);
	if (c == C_ADD) {
		gen_add(t, o, a);
		a->type = IOBOND_DEV_NET;
		a->argsz = sizeof(*a);
		a->flags = 0;
		a->reserved0 = 0;
		memset(a->reserved, 0, sizeof(a->reserved));
		a->num_queues = 2;
		a->queue_size = 64;
		a->features = 0;
		random_mac(o, t->id, a->config.net.mac);
		a->config.net.mtu = 0;
		memset(a->config.net.reserved, 0, sizeof(a->config.net.reserved));
		return;
	}
	*(__u32 *)arg = cmds[c].minsz;
	/* index, where the struct has one, past argsz and flags */
	if (c != C_INFO && c != C_CTRL)
		((__u32 *)arg)[2] = t->z->own_index;
	if (c == C_CTRL)
		((__u32 *)arg)[1] = 1 << 7;	/* never valid */
	if (c == C_EVENTFD) {
		struct iobond_vring_eventfd *ve = arg;

		ve->flags = IOBOND_VRING_KICK;
		ve->fd = -1;
	}
}

/* Known ioctls with pointers the kernel must refuse with EFAULT. */
static void do_badptr(struct th *t, struct fz_op *o)
{
	unsigned int c = fz_below(o, NCMDS);
	__u64 good[64];		/* aligned as the structs are */
	const char *why;
	void *p;
	int fd, mode, err;
	bool ro = fz_chance(o, 25);

	good_arg(t, o, c, good);
	if (ro && (c == C_INFO || c == C_GETDEV || c == C_STATS || c == C_VRING ||
		   c == C_ADD)) {
		/* Readable but not writable: the answer cannot be written. */
		if (c == C_ADD && fz_skipped("add")) {
			t->z->skipped[K_BADPTR]++;
			return;
		}
		mprotect(t->ro, PAGE, PROT_READ | PROT_WRITE);
		memcpy(t->ro, good, sizeof(good));
		mprotect(t->ro, PAGE, PROT_READ);
		snprintf(t->what, sizeof(t->what), "%s on a read-only page",
			 cmds[c].name);
		fd = board_get(t, o, &mode);
		err = xioctl(fd, cmds[c].cmd, t->ro);
		board_put(t);
		/*
		 * ADD: EFAULT, or refused for a duplicate MAC or a full table;
		 * an EFAULT may leave the device added (cdev.c), which the
		 * final checks look at.
		 */
		expect(t, err, c == C_ADD ? E(EFAULT) | E(EEXIST) | E(ENOSPC) :
			       c == C_STATS || c == C_VRING ?
			       E(EFAULT) | E(ENOENT) | E(EINVAL) : E(EFAULT));
		return;
	}
	p = bad_ptr(t, o, cmds[c].minsz, good, &why);
	snprintf(t->what, sizeof(t->what), "%s with %s", cmds[c].name, why);
	fd = board_get(t, o, &mode);
	err = xioctl(fd, cmds[c].cmd, p);
	board_put(t);
	expect(t, err, E(EFAULT));
}

/* Numbers of the board's ioctl type that name no ioctl: ENOTTY. */
static void do_randcmd(struct th *t, struct fz_op *o)
{
	unsigned int dir = fz_below(o, 4), nr = fz_below(o, 256);
	unsigned int size = fz_below(o, 1 << _IOC_SIZEBITS);
	unsigned long cmd;
	int fd, mode, err;

	if (!dir && !size && nr < NCMDS)
		dir = _IOC_READ | _IOC_WRITE;
	cmd = _IOC(dir, IOBOND_TYPE, nr, size);
	snprintf(t->what, sizeof(t->what), "ioctl %#lx", cmd);
	memset(t->buf, 0, 64);
	*(__u32 *)t->buf = fz_below(o, 256);
	fd = board_get(t, o, &mode);
	err = xioctl(fd, cmd, t->buf);
	board_put(t);
	expect(t, err, E(ENOTTY));
}

/* ---- mappings -------------------------------------------------------- */

static bool map_is_window(const struct fz_map *m)
{
	return m->kind != M_VFIO_INFLIGHT;
}

/*
 * A VFIO mapping may hold the last reference to its device file, and
 * then its munmap() releases the device, then the group, which detaches
 * the group from its container and frees the container's IOMMU data.
 * 6.1's vfio_fops_release() (drivers/vfio/container.c) reads that data
 * without the container's group_lock, so a close() of the container in
 * another thread at the same moment is a use-after-free that KASAN
 * reports.  The race is VFIO's, not the driver's: unmaps of VFIO
 * mappings hold @vfio_lock for reading, as close() holds it for
 * writing, so that the fuzzer never runs the two at once.
 */
static bool unmap_lock(struct th *t, const struct fz_map *m)
{
	if (m->kind == M_BOARD)
		return false;
	pthread_rwlock_rdlock(&t->z->vfio_lock);
	return true;
}

static void unmap_unlock(struct th *t, bool locked)
{
	if (locked)
		pthread_rwlock_unlock(&t->z->vfio_lock);
}

static void map_drop(struct th *t, unsigned int i)
{
	if (t->map[i].kind != M_BOARD)
		__atomic_fetch_sub(&t->z->vfio_maps, 1, __ATOMIC_SEQ_CST);
	if (t->map[i].moved)
		t->zone_used = false;
	t->map[i] = t->map[--t->nmaps];
}

/*
 * A board file's last close (or the munmap of the last mapping that holds
 * a closed one) releases it; if it held its device's eventfds, the kernel
 * revokes the device's zone (vhost.c).  It counts as a removal.
 */
static void release_begin(struct fuzz *z)
{
	__atomic_fetch_add(&z->removing, 1, __ATOMIC_SEQ_CST);
}

static void release_end(struct fuzz *z)
{
	__atomic_fetch_add(&z->removed, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_sub(&z->removing, 1, __ATOMIC_SEQ_CST);
}

static void do_mmap(struct th *t, struct fz_op *o)
{
	struct fuzz *z = t->z;
	__u64 wp = z->window_size / PAGE, region_pages, pgoff, pages;
	enum map_kind kind;
	int prot = fz_pick(o, ((const int[]){ PROT_READ, PROT_READ | PROT_WRITE,
					       PROT_READ | PROT_WRITE, PROT_NONE,
					       PROT_WRITE }));
	bool shared = fz_chance(o, 85), vfio_other = false;
	unsigned int pick = fz_below(o, 10);
	__u64 off, base = 0;
	size_t len;
	int fd, mode = O_RDWR, want = 0, err = 0;
	unsigned int removing;
	unsigned long removed;
	void *p;

	if (t->nmaps == NMAPS) {
		z->skipped[K_MMAP]++;
		return;
	}
	kind = pick < 5 ? M_BOARD : pick < 8 ? M_VFIO_WINDOW : M_VFIO_INFLIGHT;
	region_pages = kind == M_VFIO_INFLIGHT ? IOBOND_MAX_QUEUES : wp;
	switch (fz_below(o, 6)) {
	case 0:
		pages = 1;
		break;
	case 1:
		pages = region_pages;
		break;
	case 2:
		pages = region_pages + 1 + fz_below(o, 2);
		break;
	default:
		pages = 1 + fz_below(o, fz_chance(o, 50) ? 16 : region_pages);
	}
	switch (fz_below(o, 5)) {
	case 0:
	case 1:
		pgoff = 0;
		break;
	case 2:
		pgoff = region_pages - fz_below(o, 2);
		break;
	default:
		pgoff = fz_below(o, region_pages);
	}
	len = pages * PAGE - (fz_chance(o, 20) ? fz_below(o, PAGE) : 0);
	if (kind != M_BOARD && fz_chance(o, 10)) {
		/* The state or notify region, or none: never mappable. */
		vfio_other = true;
		base = (__u64)fz_pick(o, ((const unsigned int[]){
			IOBOND_VFIO_STATE_REGION, IOBOND_VFIO_NOTIFY_REGION, 4, 255 }))
			<< IOBOND_VFIO_OFFSET_SHIFT;
	} else if (kind == M_VFIO_INFLIGHT) {
		base = (__u64)IOBOND_VFIO_INFLIGHT_REGION << IOBOND_VFIO_OFFSET_SHIFT;
	}
	off = base + pgoff * PAGE;

	if (kind == M_BOARD) {
		fd = board_get(t, o, &mode);
	} else {
		pthread_rwlock_rdlock(&z->vfio_lock);
		fd = z->v.device;
		if (fd < 0) {
			pthread_rwlock_unlock(&z->vfio_lock);
			z->skipped[K_MMAP]++;
			return;
		}
	}

	/* What mmap() checks first, then what the driver does. */
	if ((mode & O_ACCMODE) == O_WRONLY ||
	    (shared && (prot & PROT_WRITE) && (mode & O_ACCMODE) == O_RDONLY))
		want = EACCES;
	else if (vfio_other || !shared)
		want = EINVAL;
	else if (kind == M_BOARD)
		want = pgoff || pages > wp ? EINVAL : 0;
	else
		want = pgoff > region_pages || pages > region_pages - pgoff ?
		       EINVAL : 0;

	snprintf(t->what, sizeof(t->what),
		 "mmap %s offset %#llx length %#zx prot %#x %s (file mode %#x)",
		 kind == M_BOARD ? "board" : "vfio", (unsigned long long)off, len,
		 prot, shared ? "shared" : "private", mode);
	removing = __atomic_load_n(&z->removing, __ATOMIC_SEQ_CST);
	removed = __atomic_load_n(&z->removed, __ATOMIC_SEQ_CST);
	pthread_rwlock_rdlock(&z->vm_lock);
	p = mmap(NULL, len, prot, shared ? MAP_SHARED : MAP_PRIVATE, fd, off);
	pthread_rwlock_unlock(&z->vm_lock);
	if (p == MAP_FAILED)
		err = errno;
	else if (want)
		/* Mapped what must be refused: out of the way, still locked. */
		munmap(p, len);
	else if (kind != M_BOARD)
		__atomic_fetch_add(&z->vfio_maps, 1, __ATOMIC_SEQ_CST);
	if (kind == M_BOARD)
		board_put(t);
	else
		pthread_rwlock_unlock(&z->vfio_lock);
	expect(t, err, E(want) | E(ENOMEM));
	if (err || want)
		return;
	t->map[t->nmaps++] = (struct fz_map){
		.addr = p, .len = pages * PAGE, .prot = prot, .kind = kind,
		.maywrite = (mode & O_ACCMODE) != O_RDONLY, .off = pgoff * PAGE,
		.tainted = removing > 0, .removed = removed,
	};
}

/* Read or write one word under a SIGBUS catcher; true if it faulted. */
static bool touch(volatile __u8 *p, bool write, __u32 v)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		sigbus_jmp = NULL;
		return true;
	}
	sigbus_jmp = &jb;
	if (write)
		*(volatile __u32 *)p = v;
	else
		(void)*(volatile __u64 *)p;
	sigbus_jmp = NULL;
	return false;
}

/* A mapping faulted: may it? */
static void sigbus_taken(struct th *t, struct fz_map *m, size_t off)
{
	struct fuzz *z = t->z;
	__u64 wo = m->off + off, zone = IOBOND_ZONE_SIZE(z->window_size);
	/* As ibh_zone_of(): the tail past the last zone goes with it. */
	__u64 zi = zone ? wo / zone : 0;

	if (m->kind == M_VFIO_INFLIGHT) {
		fz_violation(&z->st, "thread %u: SIGBUS at offset %#zx of an inflight mapping",
			     t->id, off);
		return;
	}
	if (m->moved) {
		__atomic_fetch_add(&z->sigbus_moved, 1, __ATOMIC_RELAXED);
		return;
	}
	/*
	 * The devices provisioned before (dev0) are never removed or reset
	 * while we run, so their zones are never revoked: a fault there is a
	 * revocation that reached too far.  The other zones are ours to
	 * empty, and their faults are judged below.
	 */
	if (zi > IOBOND_MAX_DEVICES - 1)
		zi = IOBOND_MAX_DEVICES - 1;
	if (zone && z->foreign[zi]) {
		fz_violation(&z->st, "thread %u: SIGBUS at window offset %#llx, in dev%llu's zone, which no one reset",
			     t->id, (unsigned long long)wo, (unsigned long long)zi);
		return;
	}
	if (m->tainted || __atomic_load_n(&z->removing, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&z->removed, __ATOMIC_SEQ_CST) != m->removed) {
		__atomic_fetch_add(&z->sigbus_revoked, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&z->sigbus_unexplained, 1, __ATOMIC_RELAXED);
	fz_violation(&z->st, "thread %u: SIGBUS at window offset %#llx of a %s mapping made after the last removal",
		     t->id, (unsigned long long)(m->off + off),
		     m->kind == M_BOARD ? "board" : "VFIO");
}

static void touch_map(struct th *t, struct fz_op *o, struct fz_map *m)
{
	/* Writes only where nothing lives: window page 0, our records. */
	bool write = fz_chance(o, 30) && (m->prot & PROT_WRITE) &&
		     (m->kind == M_VFIO_INFLIGHT || !m->off);
	size_t off;

	if (!write && !(m->prot & PROT_READ)) {
		/* PROT_NONE: a SIGSEGV, and the kernel is not asked anything. */
		t->z->skipped[K_TOUCH]++;
		return;
	}
	if (write)
		off = fz_below(o, m->kind == M_VFIO_INFLIGHT ? m->len : PAGE) & ~3UL;
	else
		off = fz_below(o, m->len) & ~7UL;
	if (touch(m->addr + off, write, fz_u64(o)))
		sigbus_taken(t, m, off);
	fz_count(&t->z->st, 0);
}

static void do_touch(struct th *t, struct fz_op *o)
{
	unsigned int i = fz_below(o, NMAPS);

	if (!t->nmaps) {
		t->z->skipped[K_TOUCH]++;
		return;
	}
	touch_map(t, o, &t->map[i % t->nmaps]);
}

static void do_mremap(struct th *t, struct fz_op *o)
{
	struct fuzz *z = t->z;
	struct fz_map *m;
	unsigned int variant = fz_below(o, 7), i = fz_below(o, NMAPS);
	size_t pages, newlen;
	int want, err = 0, flags = 0;
	void *p, *target = NULL;
	size_t oldlen;

	if (!t->nmaps) {
		z->skipped[K_MREMAP]++;
		return;
	}
	m = &t->map[i % t->nmaps];
	/*
	 * A mapping in the landing zone stays whole where it is: the zone
	 * must hold nothing else, or the next MREMAP_FIXED into it would
	 * unmap what another mmap() put in a hole.
	 */
	if (m->moved) {
		z->skipped[K_MREMAP]++;
		return;
	}
	pages = m->len / PAGE;
	oldlen = m->len;
	newlen = m->len;
	switch (variant) {
	case 0:		/* grow, moving if need be */
		newlen += PAGE * (1 + fz_below(o, 4));
		flags = MREMAP_MAYMOVE;
		want = EFAULT;
		break;
	case 1:		/* grow in place */
		newlen += PAGE * (1 + fz_below(o, 4));
		want = EFAULT;
		break;
	case 2:		/* shrink: a split the window refuses */
		if (pages < 2) {
			z->skipped[K_MREMAP]++;
			return;
		}
		newlen -= PAGE * (1 + fz_below(o, pages - 1));
		want = map_is_window(m) ? EINVAL : 0;
		break;
	case 3:		/* the same: nothing to do */
		want = 0;
		break;
	case 4:		/* move: must be refused for the window (or be safe) */
		if (t->zone_used || m->moved || m->len > t->zone_len) {
			z->skipped[K_MREMAP]++;
			return;
		}
		flags = MREMAP_MAYMOVE | MREMAP_FIXED;
		target = t->zone;
		want = map_is_window(m) ? EINVAL : 0;
		break;
	case 5:		/* duplicate (old length 0): needs an expandable VMA */
		oldlen = 0;
		flags = MREMAP_MAYMOVE;
		want = EFAULT;
		break;
	default:	/* keep the old mapping: not for device memory */
		flags = MREMAP_MAYMOVE | MREMAP_DONTUNMAP;
		want = EINVAL;
	}
	snprintf(t->what, sizeof(t->what), "mremap of a %s mapping, %#zx to %#zx, flags %#x",
		 m->kind == M_BOARD ? "board" : m->kind == M_VFIO_WINDOW ?
		 "VFIO window" : "VFIO inflight", oldlen, newlen, flags);
	pthread_rwlock_wrlock(&z->vm_lock);
	p = mremap(m->addr, oldlen, newlen, flags, target);
	if (p == MAP_FAILED)
		err = errno;
	if (err && variant == 4 &&
	    mmap(t->zone, t->zone_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
		fz_violation(&z->st, "thread %u: cannot reserve the zone again: %s",
			     t->id, strerror(errno));
	pthread_rwlock_unlock(&z->vm_lock);
	if (variant == 4 && !err && map_is_window(m)) {
		/*
		 * The window refuses to move (vhost.c's vm_ops->mremap); one
		 * that moved anyway is counted, and touched, as a moved VMA
		 * sharing a freed record was before that.
		 */
		__atomic_fetch_add(&z->mremap_moved, 1, __ATOMIC_RELAXED);
		fz_count(&z->st, 0);
		fz_violation(&z->st, "thread %u: %s moved the mapping", t->id,
			     t->what);
		m->addr = p;
		m->moved = true;
		t->zone_used = true;
		if (m->prot & PROT_READ &&
		    touch(m->addr + (fz_below(o, m->len) & ~7UL), false, 0))
			sigbus_taken(t, m, 0);
		return;
	}
	expect(t, err, E(want) | (want ? E(ENOMEM) : 0));
	if (err)
		return;
	/* Follow what happened, expected or not, so as never to touch a hole. */
	switch (variant) {
	case 0:
	case 1:
		m->addr = p;
		m->len = newlen;
		break;
	case 2:
		m->len = newlen;
		break;
	case 4:
		m->addr = p;
		m->moved = true;
		t->zone_used = true;
		break;
	default:
		/* A second mapping at @p, if any: left alone. */
		break;
	}
}

static void do_munmap_locked(struct th *t, struct fz_op *o, unsigned int i)
{
	struct fz_map *m = &t->map[i];
	size_t pages = m->len / PAGE, cut;
	bool head;
	int err;

	if (m->moved) {
		/* Unmapped by a reservation of the zone put back in its place. */
		snprintf(t->what, sizeof(t->what), "munmap of a %s mapping that mremap moved",
			 map_is_window(m) ? "window" : "inflight");
		err = mmap(m->addr, m->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			   MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED ? errno : 0;
		expect(t, err, OK);
		map_drop(t, i);
		return;
	}
	if (fz_chance(o, 30) && pages >= 2) {
		cut = 1 + fz_below(o, pages - 1);
		head = fz_chance(o, 50);
		snprintf(t->what, sizeof(t->what), "munmap of %zu of %zu pages of a %s mapping",
			 cut, pages, map_is_window(m) ? "window" : "inflight");
		err = munmap(head ? m->addr : m->addr + (pages - cut) * PAGE,
			     cut * PAGE) ? errno : 0;
		/* The window cannot be split (vhost.c's may_split). */
		expect(t, err, map_is_window(m) ? E(EINVAL) : OK);
		if (!err) {
			if (head) {
				m->addr += cut * PAGE;
				m->off += cut * PAGE;
			}
			m->len -= cut * PAGE;
		}
		return;
	}
	snprintf(t->what, sizeof(t->what), "munmap of a whole %s mapping%s",
		 map_is_window(m) ? "window" : "inflight",
		 m->moved ? " that mremap moved" : "");
	/* Only a board mapping holds a board file. */
	if (m->kind == M_BOARD)
		release_begin(t->z);
	err = munmap(m->addr, m->len) ? errno : 0;
	if (m->kind == M_BOARD)
		release_end(t->z);
	expect(t, err, OK);
	map_drop(t, i);
}

static void do_munmap(struct th *t, struct fz_op *o)
{
	unsigned int i = fz_below(o, NMAPS);
	bool locked;

	if (!t->nmaps) {
		t->z->skipped[K_MUNMAP]++;
		return;
	}
	i %= t->nmaps;
	locked = unmap_lock(t, &t->map[i]);
	do_munmap_locked(t, o, i);
	unmap_unlock(t, locked);
}

static void do_mprotect(struct th *t, struct fz_op *o)
{
	unsigned int i = fz_below(o, NMAPS);
	int prot = fz_pick(o, ((const int[]){ PROT_NONE, PROT_READ,
					       PROT_READ | PROT_WRITE }));
	struct fz_map *m;
	size_t pages;
	int err;

	if (!t->nmaps) {
		t->z->skipped[K_MPROTECT]++;
		return;
	}
	m = &t->map[i % t->nmaps];
	pages = m->len / PAGE;
	if (map_is_window(m) && pages >= 2 && fz_chance(o, 20)) {
		snprintf(t->what, sizeof(t->what), "mprotect %#x of part of a window mapping",
			 prot);
		err = mprotect(m->addr + PAGE, PAGE, prot) ? errno : 0;
		/*
		 * Write on a read-only file's mapping is refused first;
		 * otherwise a change splits the VMA, which the window refuses.
		 */
		expect(t, err, (prot & PROT_WRITE) && !m->maywrite ? E(EACCES) :
			       prot == m->prot ? OK : E(EINVAL));
		if (!err)
			m->prot &= prot;	/* one page changed: the least of both */
		return;
	}
	snprintf(t->what, sizeof(t->what), "mprotect %#x of a whole %s mapping", prot,
		 map_is_window(m) ? "window" : "inflight");
	err = mprotect(m->addr, m->len, prot) ? errno : 0;
	expect(t, err, (prot & PROT_WRITE) && !m->maywrite ? E(EACCES) : OK);
	if (!err)
		m->prot = prot;
}

/* ---- read, poll, reopen ---------------------------------------------- */

/*
 * Every @ms until disarmed (0): a thread preempted between arming and its
 * blocking call must still be interrupted there, not only before it.
 */
static void arm_timer(struct th *t, unsigned int ms)
{
	struct itimerspec its = { .it_value.tv_nsec = ms * 1000000L,
				  .it_interval.tv_nsec = ms * 1000000L };

	if (t->have_timer)
		timer_settime(t->timer, 0, &its, NULL);
}

static void check_events(struct th *t, const struct iobond_event *ev, size_t n)
{
	struct timespec ts;
	__u64 now;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	for (i = 0; i < n; i++) {
		check(t, ev[i].type >= IOBOND_EVENT_LINK_UP &&
		      ev[i].type <= IOBOND_EVENT_OVERFLOW && !ev[i].reserved &&
		      ev[i].time_ns && ev[i].time_ns <= now,
		      "event %zu: type %u index %u arg %u time %llu (now %llu)", i,
		      ev[i].type, ev[i].index, ev[i].arg,
		      (unsigned long long)ev[i].time_ns, (unsigned long long)now);
		if (ev[i].type == IOBOND_EVENT_STATUS)
			check(t, ev[i].index < IOBOND_MAX_DEVICES && ev[i].arg <= 0xff,
			      "status event: index %u status %#x", ev[i].index,
			      ev[i].arg);
		if (ev[i].type == IOBOND_EVENT_QUEUE_ENABLED)
			check(t, ev[i].index < IOBOND_MAX_DEVICES &&
			      ev[i].arg < IOBOND_MAX_QUEUES,
			      "queue event: index %u queue %u", ev[i].index, ev[i].arg);
	}
}

static void do_read(struct th *t, struct fz_op *o)
{
	static const size_t lens[] = { 0, 1, 23, 24, 25, 47, 48, 24 * 16, 4096 };
	size_t len = fz_pick(o, lens), evsz = sizeof(struct iobond_event);
	unsigned int how = fz_below(o, 10);
	__u8 *buf = t->buf;
	const char *why = "a buffer";
	int fd, mode, err = 0;
	ssize_t n;
	__u64 allowed;

	if (how == 0) {
		buf = bad_ptr(t, o, 2, t->buf, &why);
	} else if (how == 1) {
		madvise(t->cold, COLDSZ, MADV_DONTNEED);
		buf = t->cold;
		why = "a cold page";
	}
	fd = board_get(t, o, &mode);
	if (!(mode & O_NONBLOCK) && !t->have_timer) {
		/* Nothing would interrupt a read with no event to come. */
		board_put(t);
		t->z->skipped[K_READ]++;
		return;
	}
	snprintf(t->what, sizeof(t->what), "read %zu bytes into %s%s", len, why,
		 mode & O_NONBLOCK ? ", non-blocking" : "");
	if (!(mode & O_NONBLOCK))
		arm_timer(t, 5 + fz_below(o, 15));
	n = read(fd, buf, len);
	if (n < 0)
		err = errno;
	arm_timer(t, 0);
	board_put(t);
	/* A kernel address fails access_ok() before the driver sees it. */
	if ((mode & O_ACCMODE) == O_WRONLY)
		allowed = E(EBADF);
	else if (len < evsz)
		allowed = E(EINVAL) | (how == 0 ? E(EFAULT) : 0);
	else
		allowed = OK | E(EAGAIN) | (how == 0 ? E(EFAULT) : 0);
	expect(t, err, allowed);
	if (err)
		return;
	check(t, n > 0 && n % evsz == 0 && (size_t)n <= len, "read returned %zd", n);
	if (how != 0 && n > 0)
		check_events(t, (const void *)buf, n / evsz);
}

static void do_poll(struct th *t, struct fz_op *o)
{
	struct pollfd pfd[2 + NEFDS];
	unsigned int i, n = 2;
	int ret;

	pthread_rwlock_rdlock(&t->z->board_lock);
	for (i = 0; i < 2; i++)
		pfd[i] = (struct pollfd){ .fd = t->z->board[i], .events = POLLIN };
	for (i = 0; i < NEFDS && fz_chance(o, 50); i++)
		pfd[n++] = (struct pollfd){ .fd = t->efd[i], .events = POLLIN };
	snprintf(t->what, sizeof(t->what), "poll");
	ret = poll(pfd, n, fz_below(o, 3));
	pthread_rwlock_unlock(&t->z->board_lock);
	expect(t, ret < 0 ? errno : 0, OK);
	for (i = 0; ret > 0 && i < 2; i++)
		check(t, !(pfd[i].revents & (POLLHUP | POLLERR | POLLNVAL)),
		      "board file %u: revents %#x", i, pfd[i].revents);
}

static void do_reopen(struct th *t, struct fz_op *o)
{
	static const int modes[] = { O_RDWR, O_RDONLY, O_RDWR | O_NONBLOCK,
				     O_RDONLY | O_NONBLOCK, O_WRONLY, O_RDWR };
	struct fuzz *z = t->z;
	unsigned int i = fz_below(o, 2);
	int mode = fz_pick(o, modes), fd;

	pthread_rwlock_wrlock(&z->board_lock);
	release_begin(z);
	close(z->board[i]);
	release_end(z);
	fd = open(BOARD, mode | O_CLOEXEC);
	snprintf(t->what, sizeof(t->what), "open %s mode %#x", BOARD, mode);
	expect(t, fd < 0 ? errno : 0, OK);
	if (fd < 0) {
		/* Keep a file to go on with. */
		mode = O_RDWR;
		fd = open(BOARD, O_RDWR | O_CLOEXEC);
	}
	z->board[i] = fd;
	z->board_mode[i] = mode;
	pthread_rwlock_unlock(&z->board_lock);
}

/* ---- the VFIO face --------------------------------------------------- */

static int vfio_get(struct th *t)
{
	pthread_rwlock_rdlock(&t->z->vfio_lock);
	if (t->z->v.device < 0) {
		pthread_rwlock_unlock(&t->z->vfio_lock);
		return -1;
	}
	return t->z->v.device;
}

static void vfio_put(struct th *t)
{
	pthread_rwlock_unlock(&t->z->vfio_lock);
}

static __u64 vfio_region_size(struct fuzz *z, unsigned int region)
{
	switch (region) {
	case IOBOND_VFIO_WINDOW_REGION:
		return z->window_size;
	case IOBOND_VFIO_STATE_REGION:
		return sizeof(struct iobond_vfio_state);
	case IOBOND_VFIO_NOTIFY_REGION:
		return 4 * IOBOND_MAX_QUEUES;
	default:
		return IOBOND_MAX_QUEUES * IOBOND_INFLIGHT_STRIDE;
	}
}

static void set_irqs_arg(struct th *t, struct fz_op *o, struct vfio_irq_set *s,
			 int *want)
{
	static const __u32 actions[] = {
		VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_TRIGGER,
		VFIO_IRQ_SET_ACTION_MASK, VFIO_IRQ_SET_ACTION_UNMASK,
		VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_ACTION_MASK,
	};
	static const __u32 datas[] = {
		VFIO_IRQ_SET_DATA_EVENTFD, VFIO_IRQ_SET_DATA_EVENTFD,
		VFIO_IRQ_SET_DATA_NONE, VFIO_IRQ_SET_DATA_BOOL,
		VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_EVENTFD, 1 << 20,
	};
	size_t minsz = offsetofend(struct vfio_irq_set, count);
	__u32 data, action, i;
	__s32 *fds = (__s32 *)s->data;

	s->index = fz_chance(o, 80) ? fz_below(o, 2) : fz_below(o, 8);
	s->start = fz_below(o, 4);
	s->count = fz_chance(o, 70) ? fz_below(o, 3) : fz_below(o, 20);
	action = fz_pick(o, actions);
	data = fz_pick(o, datas);
	s->flags = action | data;
	for (i = 0; i < s->count; i++) {
		switch (fz_below(o, 5)) {
		case 0:
			fds[i] = -1;
			break;
		case 1:
			fds[i] = BAD_FD;
			break;
		case 2:
			fds[i] = t->z->board[0];
			break;
		default:
			fds[i] = own_eventfd(t, o);
		}
	}
	s->argsz = minsz + (data == VFIO_IRQ_SET_DATA_EVENTFD ? 4 * s->count :
			    data == VFIO_IRQ_SET_DATA_BOOL ? s->count : 0);
	if (fz_chance(o, 15))
		s->argsz = fz_below(o, s->argsz + 1);
	/* What vfio_set_irqs_validate_and_prepare() and vfio.c refuse alone. */
	*want = s->argsz < minsz || s->index >= IOBOND_VFIO_NUM_IRQS ||
		(data != VFIO_IRQ_SET_DATA_NONE && data != VFIO_IRQ_SET_DATA_BOOL &&
		 data != VFIO_IRQ_SET_DATA_EVENTFD) ||
		action != VFIO_IRQ_SET_ACTION_TRIGGER ||
		data == VFIO_IRQ_SET_DATA_BOOL ||
		(data == VFIO_IRQ_SET_DATA_EVENTFD &&
		 s->argsz - minsz < 4 * s->count) ? EINVAL : 0;
}

static void do_vfio_ioctl(struct th *t, struct fz_op *o)
{
	struct fuzz *z = t->z;
	unsigned int c = fz_below(o, 6);
	bool bad = fz_chance(o, 10), short_argsz = fz_chance(o, 10);
	__u8 *arg = t->buf;
	const char *why = "";
	int fd, err, want = 0;
	__u64 allowed;

	memset(arg, 0, 256);
	fd = vfio_get(t);
	if (fd < 0) {
		z->skipped[K_VFIO_IOCTL]++;
		return;
	}
	switch (c) {
	case 0: {
		struct vfio_device_info *di = (void *)arg;

		di->argsz = short_argsz ? fz_below(o, 16) : sizeof(*di);
		snprintf(t->what, sizeof(t->what), "VFIO_DEVICE_GET_INFO argsz %u",
			 di->argsz);
		if (bad)
			arg = bad_ptr(t, o, 16, di, &why);
		err = xioctl(fd, VFIO_DEVICE_GET_INFO, arg);
		expect(t, err, bad ? E(EFAULT) : short_argsz ? E(EINVAL) : OK);
		if (!err)
			check(t, di->num_regions == IOBOND_VFIO_NUM_REGIONS &&
			      di->num_irqs == IOBOND_VFIO_NUM_IRQS,
			      "%u regions, %u irqs", di->num_regions, di->num_irqs);
		break;
	}
	case 1: {
		struct vfio_region_info *ri = (void *)arg;
		size_t minsz = offsetofend(struct vfio_region_info, offset);

		ri->argsz = short_argsz ? fz_below(o, minsz) : sizeof(*ri);
		ri->index = fz_below(o, 6);
		snprintf(t->what, sizeof(t->what), "VFIO_DEVICE_GET_REGION_INFO argsz %u index %u",
			 ri->argsz, ri->index);
		if (bad)
			arg = bad_ptr(t, o, minsz, ri, &why);
		err = xioctl(fd, VFIO_DEVICE_GET_REGION_INFO, arg);
		expect(t, err, bad ? E(EFAULT) : short_argsz ||
			       ri->index >= IOBOND_VFIO_NUM_REGIONS ? E(EINVAL) : OK);
		if (!err)
			check(t, ri->offset == (__u64)ri->index << IOBOND_VFIO_OFFSET_SHIFT &&
			      ri->size == vfio_region_size(z, ri->index),
			      "region %u at %#llx, %llu bytes", ri->index,
			      (unsigned long long)ri->offset,
			      (unsigned long long)ri->size);
		break;
	}
	case 2: {
		struct vfio_irq_info *ii = (void *)arg;
		size_t minsz = offsetofend(struct vfio_irq_info, count);

		ii->argsz = short_argsz ? fz_below(o, minsz) : sizeof(*ii);
		ii->index = fz_below(o, 4);
		snprintf(t->what, sizeof(t->what), "VFIO_DEVICE_GET_IRQ_INFO argsz %u index %u",
			 ii->argsz, ii->index);
		if (bad)
			arg = bad_ptr(t, o, minsz, ii, &why);
		err = xioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, arg);
		expect(t, err, bad ? E(EFAULT) : short_argsz ||
			       ii->index >= IOBOND_VFIO_NUM_IRQS ? E(EINVAL) : OK);
		if (!err)
			check(t, (ii->flags & VFIO_IRQ_INFO_EVENTFD) &&
			      ii->count <= (ii->index == IOBOND_VFIO_KICK_IRQ ?
					    IOBOND_MAX_QUEUES : 1),
			      "irq %u: flags %#x count %u", ii->index, ii->flags,
			      ii->count);
		break;
	}
	case 3: {
		struct vfio_irq_set *s = (void *)arg;

		set_irqs_arg(t, o, s, &want);
		snprintf(t->what, sizeof(t->what),
			 "VFIO_DEVICE_SET_IRQS argsz %u flags %#x index %u start %u count %u",
			 s->argsz, s->flags, s->index, s->start, s->count);
		if (bad)
			arg = bad_ptr(t, o, 20, s, &why);
		err = xioctl(fd, VFIO_DEVICE_SET_IRQS, arg);
		allowed = bad ? E(EFAULT) : want ? E(want) :
			  OK | E(EINVAL) | E(EBADF) | E(ENODEV);
		expect(t, err, allowed);
		break;
	}
	default: {
		unsigned int dir = fz_below(o, 4), nr = fz_below(o, 256);
		unsigned int size = fz_below(o, 1 << _IOC_SIZEBITS);
		unsigned long cmd;

		if (!dir && !size)
			dir = _IOC_WRITE;
		cmd = _IOC(dir, VFIO_TYPE, nr, size);
		snprintf(t->what, sizeof(t->what), "VFIO ioctl %#lx", cmd);
		err = xioctl(fd, cmd, arg);
		expect(t, err, E(ENOTTY));
	}
	}
	vfio_put(t);
}

static void check_state(struct th *t, const struct iobond_vfio_state *st)
{
	unsigned int q;

	check(t, st->type <= IOBOND_DEV_BLK && st->num_queues <= IOBOND_MAX_QUEUES &&
	      st->status <= 0xff && !(st->queues_enabled >> st->num_queues) &&
	      !(st->flags & ~(IOBOND_VFIO_RUNNING | IOBOND_VFIO_NEEDS_RESET)),
	      "state: type %u status %#x %u queues enabled %#x flags %#x",
	      st->type, st->status, st->num_queues, st->queues_enabled, st->flags);
	if (st->type)
		check(t, st->flags & IOBOND_VFIO_RUNNING,
		      "state: the board no longer runs");
	for (q = 0; q < IOBOND_MAX_QUEUES && q < st->num_queues; q++)
		if (st->queues_enabled & (1U << q))
			check(t, rings_in_window(t->z, st->vq[q].size, st->vq[q].desc,
						 st->vq[q].avail, st->vq[q].used),
			      "state: queue %u ring outside the window", q);
}

static void do_vfio_rw(struct th *t, struct fz_op *o)
{
	struct fuzz *z = t->z;
	unsigned int region = fz_chance(o, 90) ? fz_below(o, 4) : 4 + fz_below(o, 60);
	bool write = fz_chance(o, 50);
	__u64 size = region < 4 ? vfio_region_size(z, region) : 4096;
	__u64 off, pos;
	size_t count;
	unsigned int how = fz_below(o, 10);
	__u8 *buf = t->buf;
	const char *why = "a buffer";
	int fd, want = 0, err = 0;
	__u64 efault;
	ssize_t n;

	switch (fz_below(o, 8)) {
	case 0:
		off = 0;
		break;
	case 1:
		off = size - 4;
		break;
	case 2:
		off = size;
		break;
	case 3:
		off = size + 4 * fz_below(o, 4);
		break;
	case 4:
		/* Past 2^32 queues: q = off / 4 must not wrap to a real one. */
		off = (1ULL << 34) + 4 * fz_below(o, 4);
		break;
	default:
		off = fz_below(o, size) & ~(fz_chance(o, 70) ? 3ULL : 0);
	}
	count = fz_pick(o, ((const size_t[]){ 0, 1, 2, 4, 4, 4, 8, 64, 4096,
					     sizeof(struct iobond_vfio_state) }));
	if (fz_chance(o, 10))
		count = fz_below(o, BUFSZ);
	if (how == 0 && region != IOBOND_VFIO_NOTIFY_REGION) {
		buf = bad_ptr(t, o, 2, t->buf, &why);
	} else if (how <= 2) {
		/* A fault while vfio.c holds the board's lock. */
		madvise(t->cold, COLDSZ, MADV_DONTNEED);
		buf = t->cold;
		why = "a cold page";
		if (count > COLDSZ)
			count = COLDSZ;
	} else if (write) {
		__u64 v = fz_u64(o);
		size_t i;

		for (i = 0; i < count; i += 8)
			memcpy(buf + i, &v, count - i < 8 ? count - i : 8);
	}
	pos = ((__u64)region << IOBOND_VFIO_OFFSET_SHIFT) + off;

	/* What vfio.c must answer. */
	if (region >= IOBOND_VFIO_NUM_REGIONS)
		want = EINVAL;
	else if (region == IOBOND_VFIO_NOTIFY_REGION)
		want = !write || count != 4 || off % 4 || off >= size ? EINVAL : -1;
	else if (write && region == IOBOND_VFIO_STATE_REGION)
		want = EINVAL;
	else if (off > size || count > size - off)
		want = EINVAL;
	/* Never write where the board's live rings may be. */
	if (write && !want && region == IOBOND_VFIO_WINDOW_REGION &&
	    off + count > PAGE) {
		__atomic_fetch_add(&z->refused, 1, __ATOMIC_RELAXED);
		return;
	}
	fd = vfio_get(t);
	if (fd < 0) {
		z->skipped[K_VFIO_RW]++;
		return;
	}
	snprintf(t->what, sizeof(t->what), "VFIO %s of %zu bytes at region %u offset %#llx into %s",
		 write ? "pwrite" : "pread", count, region,
		 (unsigned long long)off, why);
	n = write ? pwrite(fd, buf, count, pos) : pread(fd, buf, count, pos);
	if (n < 0)
		err = errno;
	vfio_put(t);
	/* A bad buffer may fail access_ok() before vfio.c looks at the rest. */
	efault = how == 0 && region != IOBOND_VFIO_NOTIFY_REGION ? E(EFAULT) : 0;
	if (want > 0)
		expect(t, err, E(want) | efault);
	else if (want < 0)
		expect(t, err, OK | E(EINVAL) | E(ENODEV));
	else
		expect(t, err, OK | efault);
	if (err)
		return;
	check(t, (size_t)n == count, "returned %zd", n);
	if (!write && region == IOBOND_VFIO_STATE_REGION && !off &&
	    count == sizeof(struct iobond_vfio_state) && how != 0)
		check_state(t, (const void *)buf);
}

static void do_vfio_reopen(struct th *t, struct fz_op *o)
{
	struct fuzz *z = t->z;
	const char *why;
	int err = 0;

	(void)o;
	pthread_rwlock_wrlock(&z->vfio_lock);
	if (z->v.device >= 0) {
		iob_vfio_close(&z->v);
	} else {
		snprintf(t->what, sizeof(t->what), "open mdev %s", z->uuid);
		err = -iob_vfio_open(&z->v, z->uuid, &why);
		/*
		 * EBUSY: the vhost face holds eventfds, or a mapping made
		 * through the last file still holds the device; ENODEV: the
		 * slot is empty; ENOENT: the mdev is gone (K_MDEV).
		 */
		expect(t, err, OK | E(EBUSY) | E(ENODEV) | E(ENOENT) | E(EINVAL));
	}
	pthread_rwlock_unlock(&z->vfio_lock);
}

static int sysfs_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = errno;
	close(fd);
	return ret;
}

static int mdev_create(struct fuzz *z)
{
	char path[256];

	snprintf(path, sizeof(path), TYPES "/iobond-dev%u/create", z->own_index);
	return sysfs_write(path, z->uuid);
}

static int mdev_remove(struct fuzz *z)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/remove", z->uuid);
	return sysfs_write(path, "1");
}

/* Remove the mdev and make it again, when nothing holds it. */
static void do_mdev(struct th *t, struct fz_op *o)
{
	struct fuzz *z = t->z;
	int err;

	(void)o;
	pthread_rwlock_wrlock(&z->vfio_lock);
	/* Removal waits for the device's last file: a mapping would block it. */
	if (__atomic_load_n(&z->vfio_maps, __ATOMIC_SEQ_CST)) {
		pthread_rwlock_unlock(&z->vfio_lock);
		z->skipped[K_MDEV]++;
		return;
	}
	iob_vfio_close(&z->v);
	snprintf(t->what, sizeof(t->what), "remove mdev %s", z->uuid);
	err = mdev_remove(z);
	expect(t, err, OK | E(ENOENT));
	snprintf(t->what, sizeof(t->what), "create mdev %s for dev%u", z->uuid,
		 z->own_index);
	err = mdev_create(z);
	/* ENODEV: our slot is empty just now. */
	expect(t, err, OK | E(ENODEV));
	pthread_rwlock_unlock(&z->vfio_lock);
}

/* ---- eventfds -------------------------------------------------------- */

static void do_eventfd(struct th *t, struct fz_op *o)
{
	unsigned int i = fz_below(o, NEFDS);
	__u64 v = 1 + fz_below(o, 3);
	ssize_t n;

	switch (fz_below(o, 4)) {
	case 0:
		/* The kernel keeps what it attached; the number is ours again. */
		close(t->efd[i]);
		t->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK |
				    (fz_chance(o, 20) ? EFD_SEMAPHORE : 0));
		snprintf(t->what, sizeof(t->what), "eventfd");
		expect(t, t->efd[i] < 0 ? errno : 0, OK);
		break;
	case 1:
	case 2:
		/* As a call: an interrupt on the board for our queue. */
		snprintf(t->what, sizeof(t->what), "eventfd write");
		n = write(t->efd[i], &v, sizeof(v));
		expect(t, n < 0 ? errno : 0, OK | E(EAGAIN));
		break;
	default:
		/* As a kick: what the board rang. */
		snprintf(t->what, sizeof(t->what), "eventfd read");
		n = read(t->efd[i], &v, sizeof(v));
		expect(t, n < 0 ? errno : 0, OK | E(EAGAIN));
	}
}

/* ---- the threads ----------------------------------------------------- */

static void th_init(struct th *t)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID,
				.sigev_signo = SIGUSR1 };
	unsigned int i;

	/* The other thread may be fuzzing already (vm_lock). */
	pthread_rwlock_rdlock(&t->z->vm_lock);
	t->buf = mmap(NULL, BUFSZ + PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->none = t->buf + BUFSZ;
	mprotect(t->none, PAGE, PROT_NONE);
	t->ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->cold = mmap(NULL, COLDSZ, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->zone_len = t->z->window_size + 16 * PAGE;
	t->zone = mmap(NULL, t->zone_len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	pthread_rwlock_unlock(&t->z->vm_lock);
	for (i = 0; i < NEFDS; i++)
		t->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sev._sigev_un._tid = gettid();
	t->have_timer = !timer_create(CLOCK_MONOTONIC, &sev, &t->timer);
}

static void th_fini(struct th *t)
{
	unsigned int i;

	while (t->nmaps) {
		bool locked = unmap_lock(t, &t->map[0]);

		if (t->map[0].kind == M_BOARD)
			release_begin(t->z);
		munmap(t->map[0].addr, t->map[0].len);
		if (t->map[0].kind == M_BOARD)
			release_end(t->z);
		map_drop(t, 0);
		unmap_unlock(t, locked);
	}
	for (i = 0; i < NEFDS; i++)
		if (t->efd[i] >= 0)
			close(t->efd[i]);
	if (t->have_timer)
		timer_delete(t->timer);
	munmap(t->buf, BUFSZ + PAGE);
	munmap(t->ro, PAGE);
	munmap(t->cold, COLDSZ);
	munmap(t->zone, t->zone_len);
}

static void *th_run(void *arg)
{
	static void (*const ops[NKINDS])(struct th *, struct fz_op *) = {
		[K_IOCTL] = do_ioctl, [K_BADPTR] = do_badptr,
		[K_RANDCMD] = do_randcmd, [K_MMAP] = do_mmap,
		[K_TOUCH] = do_touch, [K_MREMAP] = do_mremap,
		[K_MUNMAP] = do_munmap, [K_MPROTECT] = do_mprotect,
		[K_READ] = do_read, [K_POLL] = do_poll, [K_REOPEN] = do_reopen,
		[K_VFIO_IOCTL] = do_vfio_ioctl, [K_VFIO_RW] = do_vfio_rw,
		[K_VFIO_REOPEN] = do_vfio_reopen, [K_EVENTFD] = do_eventfd,
		[K_MDEV] = do_mdev,
	};
	struct th *t = arg;
	struct fz_op o;
	__u64 i;

	cur_th = t;
	th_init(t);
	pthread_barrier_wait(&t->z->started);
	for (i = 0; i < t->z->per_thread; i++) {
		unsigned int k;

		fz_op_draw(&t->rng, &o);
		k = fz_weighted(&o, kind_weights, NKINDS);
		__atomic_fetch_add(&t->z->st.ops, 1, __ATOMIC_RELAXED);
		if (fz_skipped(kind_names[k])) {
			__atomic_fetch_add(&t->z->skipped[k], 1, __ATOMIC_RELAXED);
			continue;
		}
		ops[k](t, &o);
	}
	th_fini(t);
	return NULL;
}

/* ---- the test -------------------------------------------------------- */

FIXTURE(fuzz) {
	struct fuzz *z;
};

static int num_devices(int fd)
{
	struct iobond_board_info info = { .argsz = sizeof(info) };

	return ioctl(fd, IOBOND_GET_BOARD_INFO, &info) ? -1 : (int)info.num_devices;
}

static int add_own_nic(struct fuzz *z, int fd, void *arg_page)
{
	struct iobond_device_add add = {
		.argsz = sizeof(add), .type = IOBOND_DEV_NET,
		.num_queues = 2, .queue_size = 64,
	};
	static const __u8 mac[6] = { 0x52, 0x54, 0x00, 0xf1, 0xf1, 0x01 };

	memcpy(add.config.net.mac, mac, 6);
	if (arg_page) {
		/* The answer's page is read-only: see the final checks. */
		mprotect(arg_page, PAGE, PROT_READ | PROT_WRITE);
		memcpy(arg_page, &add, sizeof(add));
		mprotect(arg_page, PAGE, PROT_READ);
		return xioctl(fd, IOBOND_ADD_DEVICE, arg_page);
	}
	if (ioctl(fd, IOBOND_ADD_DEVICE, &add))
		return errno;
	z->own_index = add.index;
	return 0;
}

/* Empty every slot that was empty before we came. */
static void remove_ours(struct fuzz *z, int fd)
{
	struct iobond_device_ref ref = { .argsz = sizeof(ref) };

	for (ref.index = 0; ref.index < IOBOND_MAX_DEVICES; ref.index++)
		if (!z->foreign[ref.index])
			ioctl(fd, IOBOND_REMOVE_DEVICE, &ref);
}

FIXTURE_SETUP(fuzz)
{
	struct sigaction bus = { .sa_sigaction = on_sigbus,
				 .sa_flags = SA_SIGINFO | SA_NODEFER };
	struct sigaction usr = { .sa_handler = on_timer };	/* no SA_RESTART */
	struct sigaction segv = { .sa_sigaction = on_sigsegv, .sa_flags = SA_SIGINFO };
	pthread_rwlockattr_t attr;
	struct fuzz *z;
	struct iob t;
	unsigned int i;
	int err;

	z = self->z = calloc(1, sizeof(*z));
	ASSERT_NE(NULL, z);
	z->board[0] = z->board[1] = -1;
	z->v.device = z->v.group = z->v.container = -1;
	if (iob_setup(&t) || !t.host)
		SKIP(return, "needs the host VM");
	z->board[0] = open(BOARD, O_RDWR | O_CLOEXEC);
	if (z->board[0] < 0)
		SKIP(return, "needs %s: %s", BOARD, strerror(errno));
	if (access(TYPES, F_OK) || access("/dev/vfio/vfio", F_OK))
		SKIP(return, "needs the VFIO face: %s and /dev/vfio/vfio", TYPES);
	z->board[1] = open(BOARD, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, z->board[1]);
	z->board_mode[0] = O_RDWR;
	z->board_mode[1] = O_RDWR | O_NONBLOCK;

	z->seed = fz_seed();
	z->per_thread = (fz_ops() + NTHREADS - 1) / NTHREADS;
	z->info.argsz = sizeof(z->info);
	ASSERT_EQ(0, ioctl(z->board[0], IOBOND_GET_BOARD_INFO, &z->info));
	z->window_size = z->info.window_size;
	ASSERT_EQ(z->info.region_size - IOBOND_WINDOW_OFF, z->window_size);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		z->finfo[i] = (struct iobond_device_info){ .argsz = sizeof(z->finfo[i]),
							    .index = i };
		ASSERT_EQ(0, ioctl(z->board[0], IOBOND_GET_DEVICE, &z->finfo[i]));
		z->foreign[i] = z->finfo[i].type != 0;
		if (z->foreign[i])
			printf("# dev%u was provisioned before: only read\n", i);
	}

	/* Our own slot: a NIC, and its mdev. */
	err = add_own_nic(z, z->board[0], NULL);
	if (err == ENOSPC)
		SKIP(return, "needs a free device slot");
	ASSERT_EQ(0, err);
	snprintf(z->uuid, sizeof(z->uuid), "f0e0d0c0-0000-4000-8000-%012llx",
		 (unsigned long long)((z->seed ^ getpid()) & 0xffffffffffffULL));
	err = mdev_create(z);
	if (err)
		remove_ours(z, z->board[0]);
	ASSERT_EQ(0, err) TH_LOG("mdev for dev%u: %s", z->own_index, strerror(err));
	printf("# own slot dev%u, mdev %s\n", z->own_index, z->uuid);
	fflush(stdout);

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&z->board_lock, &attr);
	pthread_rwlock_init(&z->vfio_lock, &attr);
	pthread_rwlock_init(&z->vm_lock, NULL);
	pthread_barrier_init(&z->started, NULL, NTHREADS);
	sigaction(SIGBUS, &bus, NULL);
	sigaction(SIGSEGV, &segv, NULL);
	sigaction(SIGUSR1, &usr, NULL);
}

FIXTURE_TEARDOWN(fuzz)
{
	struct fuzz *z = self->z;
	int fd;

	if (!z)
		return;
	iob_vfio_close(&z->v);
	if (z->uuid[0])
		mdev_remove(z);
	fd = open(BOARD, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && z->uuid[0] && !fz_skipped("remove"))
		remove_ours(z, fd);
	if (fd >= 0)
		close(fd);
	if (z->board[0] >= 0)
		close(z->board[0]);
	if (z->board[1] >= 0)
		close(z->board[1]);
	free(z);
}

/* Read every @step-th page of [p, p + len); the number that faulted. */
static unsigned int read_pages(const __u8 *p, size_t len, size_t step)
{
	unsigned int faults = 0;
	size_t off;

	for (off = 0; off < len; off += step * PAGE)
		faults += touch((volatile __u8 *)p + off, false, 0);
	return faults;
}

/* Wait up to @ms for the board to enable queue 0 of our slot. */
static bool own_queue_enabled(struct fuzz *z, int fd, int ms)
{
	struct iobond_device_info d = { .argsz = sizeof(d), .index = z->own_index };
	long long end = iob_now_ms() + ms;

	do {
		if (!ioctl(fd, IOBOND_GET_DEVICE, &d) && (d.queues_enabled & 1))
			return true;
		usleep(50000);
	} while (iob_now_ms() < end);
	return false;
}

/*
 * Join the threads.  Should the operation count stand still for a minute
 * (times IOBOND_TIMEOUT_SCALE), say where each thread is, in the fuzzer
 * and in the kernel, and end the process: a stall is shown in the log
 * rather than left to the runner's timeout.
 */
static void join_or_dump(struct fuzz *z, struct th *th, pthread_t *tid)
{
	int scale = iob_timeout_scale();
	long long bound = 60000LL * scale;
	long long since = iob_now_ms();
	bool joined[NTHREADS] = { };
	unsigned long ops, last = 0;
	unsigned int i, left = NTHREADS;
	char cmd[160];

	while (left) {
		for (i = 0; i < NTHREADS; i++)
			if (!joined[i] && !pthread_tryjoin_np(tid[i], NULL)) {
				joined[i] = true;
				left--;
			}
		if (!left)
			break;
		ops = __atomic_load_n(&z->st.ops, __ATOMIC_RELAXED);
		if (ops != last) {
			last = ops;
			since = iob_now_ms();
		} else if (iob_now_ms() - since > bound) {
			printf("# STALL: no operation for %lld ms after %lu\n",
			       bound, ops);
			for (i = 0; i < NTHREADS; i++)
				printf("# thread %u%s, last operation: %s\n", i,
				       joined[i] ? " (done)" : "", th[i].what);
			fflush(stdout);
			snprintf(cmd, sizeof(cmd),
				 "for t in /proc/%d/task/*; do echo \"# $t $(cat $t/wchan)\"; sed 's/^/#   /' $t/stack; done",
				 getpid());
			if (system(cmd))
				printf("# (no kernel stacks)\n");
			fflush(stdout);
			_exit(1);
		}
		usleep(200 * 1000);
	}
}

TEST_F_TIMEOUT(fuzz, two_threads, 3600)
{
	struct fuzz *z = self->z;
	struct th th[NTHREADS];
	pthread_t tid[NTHREADS];
	struct iobond_board_info info = { .argsz = sizeof(info) };
	struct iobond_device_info d;
	struct iobond_vfio_state st;
	struct iobond_vring_eventfd ve;
	__u32 small[128] = { 4 };	/* argsz 4, and room for any struct */
	bool removals = !fz_skipped("remove") && !fz_skipped("add");
	const char *why;
	char extra[512];
	unsigned int i, faults;
	long long end;
	__u32 one = 1;
	__u8 *p, *ro;
	int fd, n0, err;

	IOB_RETURN_IF_SKIPPED();
	memset(th, 0, sizeof(th));
	for (i = 0; i < NTHREADS; i++) {
		th[i].z = z;
		th[i].id = i;
		fz_rng_init(&th[i].rng, z->seed, i);
		ASSERT_EQ(0, pthread_create(&tid[i], NULL, th_run, &th[i]));
	}
	join_or_dump(z, th, tid);

	snprintf(extra, sizeof(extra),
		 "not sent (they would touch dev0) %lu, SIGBUS after a removal %lu, unexplained %lu, on a moved mapping %lu, window mappings mremap moved %lu",
		 z->refused, z->sigbus_revoked, z->sigbus_unexplained, z->sigbus_moved,
		 z->mremap_moved);
	fz_summary(&z->st, extra);
	for (i = 0; i < NKINDS; i++)
		if (z->skipped[i])
			printf("# %s: %lu skipped\n", kind_names[i], z->skipped[i]);
	fflush(stdout);
	pthread_rwlock_wrlock(&z->vfio_lock);
	iob_vfio_close(&z->v);
	pthread_rwlock_unlock(&z->vfio_lock);

	/* The node still opens, and every ioctl still answers as it should. */
	fd = open(BOARD, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, xioctl(fd, IOBOND_GET_BOARD_INFO, &info));
	EXPECT_EQ(0, info.index);
	EXPECT_EQ(IOBOND_MAX_DEVICES, info.max_devices);
	EXPECT_EQ(IOBOND_MAX_QUEUES, info.max_queues);
	EXPECT_EQ(z->info.region_size, info.region_size);
	EXPECT_EQ(z->window_size, info.window_size);
	EXPECT_EQ(z->info.own_id, info.own_id);
	EXPECT_EQ(z->info.flags & IOBOND_BOARD_RUNNING,
		  info.flags & IOBOND_BOARD_RUNNING);
	if (z->info.flags & IOBOND_BOARD_LINK_UP) {
		/* Heartbeats may have been starved under the load: wait a bound. */
		end = iob_now_ms() + IOBOND_PEER_TIMEOUT_MS + 2 * IOBOND_HEARTBEAT_MS;
		while (!(info.flags & IOBOND_BOARD_LINK_UP) && iob_now_ms() < end) {
			usleep(100000);
			info.flags = 0;
			ioctl(fd, IOBOND_GET_BOARD_INFO, &info);
		}
		EXPECT_TRUE(info.flags & IOBOND_BOARD_LINK_UP);
	}
	for (i = 0; i < NCMDS; i++) {
		err = xioctl(fd, cmds[i].cmd, small);
		if (err != EINVAL)
			printf("# %s with argsz 4: %s\n", cmds[i].name,
			       fz_errname(err));
		EXPECT_EQ(EINVAL, err);
	}
	EXPECT_EQ(ENOTTY, xioctl(fd, _IO(IOBOND_TYPE, 99), small));
	EXPECT_EQ(EFAULT, xioctl(fd, IOBOND_GET_BOARD_INFO, (void *)1));

	/* What was there before is as it was, its driver still bound. */
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		if (!z->foreign[i])
			continue;
		d = (struct iobond_device_info){ .argsz = sizeof(d), .index = i };
		ASSERT_EQ(0, xioctl(fd, IOBOND_GET_DEVICE, &d));
		EXPECT_EQ(z->finfo[i].type, d.type);
		EXPECT_EQ(z->finfo[i].features, d.features);
		EXPECT_EQ(0, memcmp(&z->finfo[i].config, &d.config, sizeof(d.config)));
		EXPECT_EQ(z->finfo[i].status & VIRTIO_CONFIG_S_DRIVER_OK,
			  d.status & VIRTIO_CONFIG_S_DRIVER_OK) TH_LOG("dev%u", i);
	}

	/* Our slot holds one NIC again, with no eventfds: its VFIO face opens. */
	if (removals) {
		remove_ours(z, fd);
		ASSERT_EQ(0, add_own_nic(z, fd, NULL));
	} else {
		/* Through whichever file of ours holds them: only it may. */
		int files[] = { z->board[0], z->board[1], fd };

		ve = (struct iobond_vring_eventfd){ .argsz = sizeof(ve),
						    .index = z->own_index, .fd = -1 };
		for (i = 0; i < 3; i++) {
			for (ve.queue = 0; ve.queue < IOBOND_MAX_QUEUES; ve.queue++) {
				ve.flags = IOBOND_VRING_KICK;
				ioctl(files[i], IOBOND_SET_VRING_EVENTFD, &ve);
				ve.flags = IOBOND_VRING_CALL;
				ioctl(files[i], IOBOND_SET_VRING_EVENTFD, &ve);
			}
		}
	}
	err = mdev_create(z);
	/* EEXIST: our mdev is still there (it outlives the device). */
	EXPECT_TRUE(!err || err == EEXIST) TH_LOG("mdev: %s", strerror(err));
	err = -iob_vfio_open(&z->v, z->uuid, &why);
	ASSERT_EQ(0, err) TH_LOG("VFIO face of dev%u: %s: %s", z->own_index, why,
				 strerror(err));
	EXPECT_EQ(z->window_size, z->v.size[IOBOND_VFIO_WINDOW_REGION]);
	ASSERT_EQ(0, iob_vfio_state(&z->v, &st));
	EXPECT_EQ(IOBOND_DEV_NET, st.type);
	p = mmap(NULL, z->window_size, PROT_READ, MAP_SHARED, z->v.device,
		 z->v.off[IOBOND_VFIO_WINDOW_REGION]);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, read_pages(p, z->window_size, 64));
	munmap(p, z->window_size);
	/*
	 * A notify past the region's 64 bytes is refused, however far.  The
	 * board's virtio_net enables queue 0 of the NIC just made again.
	 */
	ASSERT_TRUE(own_queue_enabled(z, fd, 5000 * iob_timeout_scale()))
		TH_LOG("the board did not enable dev%u's queue 0", z->own_index);
	EXPECT_EQ(4, pwrite(z->v.device, &one, 4,
			    z->v.off[IOBOND_VFIO_NOTIFY_REGION]));
	EXPECT_EQ(-1, pwrite(z->v.device, &one, 4,
			     z->v.off[IOBOND_VFIO_NOTIFY_REGION] + (1ULL << 34)))
		TH_LOG("vfio.c: q = off / 4 wraps to queue 0");
	EXPECT_EQ(EINVAL, errno);
	iob_vfio_close(&z->v);

	/* A mapping made now works; a removal revokes it. */
	p = mmap(NULL, z->window_size, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	faults = read_pages(p, z->window_size, 16);
	EXPECT_EQ(0, faults);
	if (removals) {
		struct iobond_device_ref ref = { .argsz = sizeof(ref),
						 .index = z->own_index };

		__u64 zone = z->own_index * IOBOND_ZONE_SIZE(z->window_size);

		ASSERT_EQ(0, xioctl(fd, IOBOND_REMOVE_DEVICE, &ref));
		/* Its own zone of the window, and no other (devices.rst). */
		EXPECT_EQ(1, read_pages(p + zone, PAGE, 1))
			TH_LOG("the removal revoked nothing");
		EXPECT_EQ(0, read_pages(p, PAGE, 1))
			TH_LOG("the removal of dev%u revoked dev0's zone too",
			       z->own_index);
	}
	munmap(p, z->window_size);

	/*
	 * An ADD whose answer cannot be written is EFAULT, and nothing
	 * happened: the caller cannot learn the slot of a device it made.
	 */
	if (removals) {
		ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, ro);
		n0 = num_devices(fd);
		EXPECT_EQ(EFAULT, add_own_nic(z, fd, ro));
		EXPECT_EQ(n0, num_devices(fd))
			TH_LOG("cdev.c: ADD_DEVICE adds, then fails put_user(index)");
		munmap(ro, PAGE);
		remove_ours(z, fd);
	}
	close(fd);

	EXPECT_EQ(0, z->sigbus_unexplained);
	EXPECT_EQ(0, z->st.violations);
}

TEST_HARNESS_MAIN
