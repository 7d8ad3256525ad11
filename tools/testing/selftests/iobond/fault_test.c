// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failures in the host's control plane, one at a time.
 *
 * For each operation that allocates in the caller's context, walk
 * n = 1, 2, ...: make the n-th fault-injection point of this thread fail
 * (/proc/thread-self/fail-nth with failslab), do the operation once, and
 * read the counter back.  It reads 0 once the fault was injected: then the
 * operation must have failed with an allocation errno and changed nothing,
 * or, where the kernel tolerates that failure by design (debugfs, procfs,
 * uevents, devtmpfs, fewer MSI-X vectors), have taken effect; either way
 * the same operation with no fault armed must then succeed.  A counter
 * still above 0 means the operation ran past every injection point: the
 * walk is complete.  A walk that reaches its cap fails.
 *
 * Only the calling thread's allocations fail, so what the host does in its
 * own context (the board's handshakes, queue enable among them) is out of
 * reach; those paths allocate nothing anyway.
 *
 * Runs in the host VM of the debug tier (CONFIG_FAULT_INJECTION, FAILSLAB,
 * FAULT_INJECTION_DEBUG_FS) with iobond_host loaded and board0 stopped and
 * empty, with no mdev and no backend; the board's module may be loaded or
 * not.  It leaves board0 bound, stopped and empty.
 */
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>

#include <linux/virtio_blk.h>

#include "kselftest_harness.h"
#include "iobond_test.h"
#include "../../../../tools/iobond/iobond_vfio.h"

#define BOARD		"/dev/iobond/board0"
#define BOARD_SYS	"/sys/class/iobond/board0"
#define TYPES		BOARD_SYS "/mdev_supported_types"
#define DRIVER		"/sys/bus/pci/drivers/iobond_host"
#define MDEVS		"/sys/bus/mdev/devices"
#define FAIL_NTH	"/proc/thread-self/fail-nth"
#define FAILSLAB	"/sys/kernel/debug/failslab"
/* Present only where copy_*_user() can be made to fail too. */
#define FAIL_USERCOPY	"/sys/kernel/debug/fail_usercopy"
/* board0 through a node of our own: devtmpfs may not have made one. */
#define BOARD_NODE	"/tmp/fault_test-board0"
#define WINDOW_NAME	"iobond-window"

static const __u8 mac1[6] = { 0x52, 0x54, 0x00, 0xfa, 0x17, 0x01 };

/* What a test works with; the fixture is one of these. */
struct fault_ctx {
	struct iob t;
	bool ready;		/* set up: the teardown restores what it found */
	int nth;		/* FAIL_NTH, this thread's */
	int fd;			/* board0 */
	__u32 nvectors;		/* board0's vectors before the test */
	char wait_was[8];	/* failslab's ignore-gfp-wait, to restore */
	char verbose_was[8];	/* and its verbose */
	/* What the operation under test works on. */
	int bind_fd;		/* DRIVER/bind */
	int create_fd;		/* the slot's mdev type's create */
	__u32 index;		/* the device slot */
	int efd;		/* an eventfd for the vhost face */
	void *map;		/* a mapping of the window */
	char uuid[40];		/* the mdev */
	struct iob_vfio v;	/* its container and group */
	int vfio_dev;		/* its device */
};

FIXTURE(fault) {
	struct fault_ctx c;
};

/*
 * One operation: run() makes exactly one system call, which is all that
 * runs while the fault is armed.  prepare() (optional) sets the stage
 * before each run, unarmed.  unchanged() checks the state after run()
 * failed; done() checks it after run() succeeded (@injected: although a
 * fault was injected) and undoes the operation.
 */
struct fault_op {
	const char *name;
	int cap;		/* failure points before the walk is called endless */
	/*
	 * It allocates nothing (the board's state is allocated whole when
	 * the board is): the walk must find no point, and finding one means
	 * the op began to allocate, and to need this walk.
	 */
	bool none;
	const int *errnos;	/* what an injected failure may return, 0-ended */
	void (*prepare)(struct __test_metadata *_metadata,
			struct fault_ctx *self);
	int (*run)(struct fault_ctx *self);
	void (*unchanged)(struct __test_metadata *_metadata,
			  struct fault_ctx *self);
	void (*done)(struct __test_metadata *_metadata,
		     struct fault_ctx *self, bool injected);
};

/* An allocation failure in an ioctl, a sysfs write or mmap is ENOMEM. */
static const int enomem[] = { ENOMEM, 0 };

/*
 * Binding the link function reports some allocation failures as other
 * errnos, by the kernel's design: the first MSI-X interrupt that cannot be
 * allocated is ENOSPC (msi_handle_pci_fail(); a later one only leaves fewer
 * vectors), and a BAR region whose struct resource cannot be allocated is
 * indistinguishable from a taken one, EBUSY (__request_region() returns
 * NULL, pcim_iomap_regions() and ivs_map() say EBUSY).  Registering the
 * function's legacy interrupt with ACPI can also fail with ENOSPC, and
 * devm_memremap() reports any failure to map the shared region, an
 * allocation's included, as ENXIO.
 */
static const int bind_errnos[] = { ENOMEM, ENOSPC, EBUSY, ENXIO, 0 };

static bool errno_allowed(const int *errnos, int err)
{
	for (; *errnos; errnos++)
		if (*errnos == err)
			return true;
	/* Where user copies fail too, any of them may be the n-th point. */
	return err == EFAULT && access(FAIL_USERCOPY, F_OK) == 0;
}

static int ioctl_err(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? errno : 0;
}

/* -- fail-nth ------------------------------------------------------------ */

/* Make this thread's @n-th injection point fail. */
static int fault_arm(int nth, int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	return pwrite(nth, buf, len, 0) == len ? 0 : -errno;
}

static long fault_read(int nth)
{
	char buf[16];
	ssize_t len = pread(nth, buf, sizeof(buf) - 1, 0);

	if (len <= 0)
		return len ? -errno : -EIO;
	buf[len] = '\0';
	return strtol(buf, NULL, 10);
}

/*
 * Points the armed fault still had to pass: 0 if it was injected.  The
 * counter is zeroed either way, so that nothing after the operation trips
 * over a fault it never reached.
 */
static long fault_disarm(int nth)
{
	long left = fault_read(nth);

	/* With user copies faulting, this write may itself be the point. */
	if (pwrite(nth, "0", 1, 0) != 1 && errno != EFAULT)
		return -errno;
	if (fault_read(nth) != 0)
		return -EIO;
	return left;
}

static void walk(struct __test_metadata *_metadata, struct fault_ctx *self,
		 const struct fault_op *op)
{
	int n, err, points = 0, tolerated = 0;
	long left;

	/* Unarmed first: it works, and the paths it takes are warm. */
	if (op->prepare)
		op->prepare(_metadata, self);
	err = op->run(self);
	ASSERT_EQ(0, err) TH_LOG("%s fails with no fault armed: %s",
				 op->name, strerror(err));
	op->done(_metadata, self, false);

	for (n = 1; ; n++) {
		ASSERT_LE(n, op->cap)
			TH_LOG("%s: %d failure points and no end: a loop, or a cap too low",
			       op->name, op->cap);
		if (op->prepare)
			op->prepare(_metadata, self);
		ASSERT_EQ(0, fault_arm(self->nth, n));
		err = op->run(self);
		left = fault_disarm(self->nth);
		ASSERT_LE(0, left) TH_LOG("cannot read %s back", FAIL_NTH);
		if (left) {
			/* Past every point: the operation ran unharmed. */
			ASSERT_EQ(0, err)
				TH_LOG("%s failed with fault %d not injected: %s",
				       op->name, n, strerror(err));
			op->done(_metadata, self, false);
			break;
		}
		points++;
		if (!err) {
			tolerated++;
			op->done(_metadata, self, true);
		} else {
			ASSERT_TRUE(errno_allowed(op->errnos, err))
				TH_LOG("%s: fault %d: %s is no allocation failure",
				       op->name, n, strerror(err));
			op->unchanged(_metadata, self);
			/* The next attempt succeeds. */
			if (op->prepare)
				op->prepare(_metadata, self);
			err = op->run(self);
			ASSERT_EQ(0, err)
				TH_LOG("%s: after fault %d, the next attempt fails: %s",
				       op->name, n, strerror(err));
			op->done(_metadata, self, false);
		}
		if (!(n % 50)) {
			printf("# %s: %d failure points so far\n", op->name, n);
			fflush(stdout);
		}
	}
	printf("# %s: %d failure points walked, %d of them tolerated\n",
	       op->name, points, tolerated);
	fflush(stdout);
	if (op->none) {
		EXPECT_EQ(0, points)
			TH_LOG("%s allocates now: walk its failures", op->name);
	} else {
		/* Otherwise fail-nth never reached us: nothing was tested. */
		EXPECT_LT(0, points)
			TH_LOG("%s: fault 1 was never injected", op->name);
	}
}

/* -- board0 ------------------------------------------------------------ */

static int board_info(int fd, struct iobond_board_info *info)
{
	*info = (struct iobond_board_info){ .argsz = sizeof(*info) };
	return ioctl_err(fd, IOBOND_GET_BOARD_INFO, info);
}

static int num_devices(int fd)
{
	struct iobond_board_info info;

	return board_info(fd, &info) ? -1 : (int)info.num_devices;
}

static bool running(int fd)
{
	struct iobond_board_info info;

	return !board_info(fd, &info) && (info.flags & IOBOND_BOARD_RUNNING);
}

/* The type in slot @index, 0 if empty, -1 on error. */
static int slot_type(int fd, __u32 index)
{
	struct iobond_device_info d = { .argsz = sizeof(d), .index = index };

	return ioctl(fd, IOBOND_GET_DEVICE, &d) ? -1 : (int)d.type;
}

static int board_ctrl(int fd, __u32 flags)
{
	struct iobond_board_ctrl c = { .argsz = sizeof(c), .flags = flags };

	return ioctl_err(fd, IOBOND_BOARD_CTRL, &c);
}

static struct iobond_device_add net_add(void)
{
	struct iobond_device_add add = {
		.argsz = sizeof(add), .type = IOBOND_DEV_NET,
		.num_queues = 2, .queue_size = 256,
	};

	memcpy(add.config.net.mac, mac1, 6);
	return add;
}

static struct iobond_device_add blk_add(void)
{
	struct iobond_device_add add = {
		.argsz = sizeof(add), .type = IOBOND_DEV_BLK,
		.num_queues = 1, .queue_size = 64,
		.features = 1ULL << VIRTIO_BLK_F_FLUSH,
	};

	add.config.blk.capacity = 2048;
	add.config.blk.blk_size = 512;
	return add;
}

static void add_device(struct __test_metadata *_metadata,
		       struct fault_ctx *self, struct iobond_device_add add)
{
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &add));
	self->index = add.index;
}

static int remove_device(int fd, __u32 index)
{
	struct iobond_device_ref ref = { .argsz = sizeof(ref), .index = index };

	return ioctl_err(fd, IOBOND_REMOVE_DEVICE, &ref);
}

/* -- a. board add: bind the link function ------------------------------ */

static bool link_bound(struct fault_ctx *self)
{
	char drv[64];

	iob_bound_driver(&self->t, drv, sizeof(drv));
	return !strcmp(drv, "iobond_host");
}

/* Open board0 through a node made from sysfs, with or without devtmpfs. */
static int board_open_sysfs(void)
{
	unsigned int major, minor;
	char buf[32];
	int fd;

	if (iob_read_file(BOARD_SYS "/dev", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%u:%u", &major, &minor) != 2)
		return -ENODEV;
	unlink(BOARD_NODE);
	if (mknod(BOARD_NODE, S_IFCHR | 0600, makedev(major, minor)))
		return -errno;
	fd = open(BOARD_NODE, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	unlink(BOARD_NODE);
	return fd;
}

/* The IRQ numbers of the link's vectors, from /proc/interrupts. */
static int link_irqs(int *irqs, int max)
{
	FILE *f = fopen("/proc/interrupts", "re");
	char line[1024];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && n < max)
		if (strstr(line, " iobond_host-v"))
			irqs[n++] = atoi(line);
	fclose(f);
	return n;
}

static int proc_irq_files(int irq)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/irq/%d", irq);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_type == DT_REG;
	closedir(d);
	return n;
}

/*
 * Say which of the link's IRQs lack /proc/irq/N entries another of them
 * has.  register_irq_proc() shrugs off a failed proc_create(), but
 * unregister_irq_proc() removes every entry by name, and remove_proc_entry()
 * WARNs for each one missing: unbinding will say so on the console.
 */
static void log_irq_gaps(struct __test_metadata *_metadata, const int *irqs,
			 int n)
{
	int files[IOBOND_MAX_VECTORS], most = 0, i;

	for (i = 0; i < n; i++) {
		files[i] = proc_irq_files(irqs[i]);
		if (files[i] > most)
			most = files[i];
	}
	for (i = 0; i < n; i++)
		if (files[i] >= 0 && files[i] < most)
			TH_LOG("tolerated: /proc/irq/%d has %d of %d entries: a WARN to come",
			       irqs[i], files[i], most);
		else if (files[i] < 0)
			TH_LOG("tolerated: no /proc/irq/%d", irqs[i]);
}

static void board_add_unchanged(struct __test_metadata *_metadata,
				struct fault_ctx *self)
{
	int irqs[IOBOND_MAX_VECTORS];
	char drv[64];

	iob_bound_driver(&self->t, drv, sizeof(drv));
	ASSERT_STREQ("", drv) TH_LOG("the link function is bound to %s", drv);
	ASSERT_NE(0, access(BOARD, F_OK)) TH_LOG(BOARD " is left behind");
	ASSERT_NE(0, access(BOARD_SYS, F_OK)) TH_LOG(BOARD_SYS " is left behind");
	ASSERT_NE(0, access(self->t.dbg, F_OK))
		TH_LOG("%s is left behind", self->t.dbg);
	ASSERT_EQ(0, link_irqs(irqs, IOBOND_MAX_VECTORS))
		TH_LOG("the link's vectors are still requested");
}

/* Unbound before each bind; that unbinding is clean is checked here too. */
static void board_add_prepare(struct __test_metadata *_metadata,
			      struct fault_ctx *self)
{
	int ret = link_bound(self) ?
		  iob_write_file(DRIVER "/unbind", self->t.bdf) : 0;

	ASSERT_EQ(0, ret) TH_LOG("unbind: %s", strerror(-ret));
	board_add_unchanged(_metadata, self);
}

static int board_add_run(struct fault_ctx *self)
{
	size_t len = strlen(self->t.bdf);

	return pwrite(self->bind_fd, self->t.bdf, len, 0) == (ssize_t)len ?
	       0 : errno;
}

static void board_add_done(struct __test_metadata *_metadata,
			   struct fault_ctx *self, bool injected)
{
	struct iobond_board_info info;
	int irqs[IOBOND_MAX_VECTORS], n, fd;
	char status[PATH_MAX];

	ASSERT_TRUE(link_bound(self));
	/* The mdev types are all or nothing: one missing fails the probe. */
	ASSERT_EQ(0, access(TYPES "/iobond-dev0", F_OK));
	ASSERT_EQ(0, access(TYPES "/iobond-dev7", F_OK));
	fd = board_open_sysfs();
	ASSERT_LE(0, fd) TH_LOG("cannot open board0: %s", strerror(-fd));
	n = board_info(fd, &info);
	close(fd);
	ASSERT_EQ(0, n);
	EXPECT_EQ(0, info.index);
	EXPECT_EQ(0, info.num_devices);
	EXPECT_FALSE(info.flags & IOBOND_BOARD_RUNNING);
	ASSERT_LE(1, info.nvectors);
	ASSERT_LE(info.nvectors, self->nvectors);
	n = link_irqs(irqs, IOBOND_MAX_VECTORS);
	EXPECT_EQ(info.nvectors, n) TH_LOG("%u vectors, %d requested",
					   info.nvectors, n);

	snprintf(status, sizeof(status), "%s/status", self->t.dbg);
	if (!injected) {
		ASSERT_EQ(0, access(BOARD, F_OK)) TH_LOG(BOARD " did not appear");
		EXPECT_EQ(self->nvectors, info.nvectors);
		EXPECT_EQ(0, access(status, F_OK)) TH_LOG("no %s", status);
		return;
	}
	/* What the kernel may leave out, and does not fail the bind for. */
	if (access(BOARD, F_OK))
		TH_LOG("tolerated: bound without " BOARD " (devtmpfs)");
	if (info.nvectors < self->nvectors)
		TH_LOG("tolerated: bound with %u of %u vectors",
		       info.nvectors, self->nvectors);
	if (access(status, F_OK))
		TH_LOG("tolerated: bound without %s (debugfs)", status);
	if (n > 0)
		log_irq_gaps(_metadata, irqs, n);
}

/* -- b. device add and remove ------------------------------------------ */

static void dev_add_unchanged(struct __test_metadata *_metadata,
			      struct fault_ctx *self)
{
	ASSERT_EQ(0, num_devices(self->fd));
	ASSERT_EQ(0, slot_type(self->fd, 0));
}

static int dev_add_run(struct fault_ctx *self, struct iobond_device_add add)
{
	if (ioctl(self->fd, IOBOND_ADD_DEVICE, &add))
		return errno;
	self->index = add.index;
	return 0;
}

static void dev_add_done(struct __test_metadata *_metadata,
			 struct fault_ctx *self, __u32 type)
{
	ASSERT_EQ(1, num_devices(self->fd));
	ASSERT_EQ(type, slot_type(self->fd, self->index));
	ASSERT_EQ(0, remove_device(self->fd, self->index));
	ASSERT_EQ(0, num_devices(self->fd));
}

static int net_add_run(struct fault_ctx *self)
{
	return dev_add_run(self, net_add());
}

static void net_add_done(struct __test_metadata *_metadata,
			 struct fault_ctx *self, bool injected)
{
	dev_add_done(_metadata, self, IOBOND_DEV_NET);
}

static int blk_add_run(struct fault_ctx *self)
{
	return dev_add_run(self, blk_add());
}

static void blk_add_done(struct __test_metadata *_metadata,
			 struct fault_ctx *self, bool injected)
{
	dev_add_done(_metadata, self, IOBOND_DEV_BLK);
}

static void dev_remove_prepare(struct __test_metadata *_metadata,
			       struct fault_ctx *self)
{
	if (num_devices(self->fd) == 0)
		add_device(_metadata, self, net_add());
}

static int dev_remove_run(struct fault_ctx *self)
{
	return remove_device(self->fd, self->index);
}

static void dev_remove_unchanged(struct __test_metadata *_metadata,
				 struct fault_ctx *self)
{
	ASSERT_EQ(1, num_devices(self->fd));
	ASSERT_EQ(IOBOND_DEV_NET, slot_type(self->fd, self->index));
}

static void dev_remove_done(struct __test_metadata *_metadata,
			    struct fault_ctx *self, bool injected)
{
	ASSERT_EQ(0, num_devices(self->fd));
	ASSERT_EQ(0, slot_type(self->fd, self->index));
}

/* -- c. board start and stop ------------------------------------------- */

static int start_run(struct fault_ctx *self)
{
	return board_ctrl(self->fd, IOBOND_BOARD_START);
}

static void start_unchanged(struct __test_metadata *_metadata,
			    struct fault_ctx *self)
{
	ASSERT_FALSE(running(self->fd));
}

static void start_done(struct __test_metadata *_metadata,
		       struct fault_ctx *self, bool injected)
{
	ASSERT_TRUE(running(self->fd));
	ASSERT_EQ(0, board_ctrl(self->fd, IOBOND_BOARD_STOP));
	ASSERT_FALSE(running(self->fd));
}

static void stop_prepare(struct __test_metadata *_metadata,
			 struct fault_ctx *self)
{
	ASSERT_EQ(0, running(self->fd) ? 0 :
		     board_ctrl(self->fd, IOBOND_BOARD_START));
}

static int stop_run(struct fault_ctx *self)
{
	return board_ctrl(self->fd, IOBOND_BOARD_STOP);
}

static void stop_unchanged(struct __test_metadata *_metadata,
			   struct fault_ctx *self)
{
	ASSERT_TRUE(running(self->fd));
}

static void stop_done(struct __test_metadata *_metadata,
		      struct fault_ctx *self, bool injected)
{
	ASSERT_FALSE(running(self->fd));
}

/* -- the vhost face: a call eventfd, a mapping of the window ------------ */

static int vring_eventfd(struct fault_ctx *self, __u32 flags, int fd)
{
	struct iobond_vring_eventfd ve = {
		.argsz = sizeof(ve), .flags = flags, .index = self->index,
		.queue = 0, .fd = fd,
	};

	return ioctl_err(self->fd, IOBOND_SET_VRING_EVENTFD, &ve);
}

/* Interrupts raised on queue 0 of the device, -1 on error. */
static long long interrupts(struct fault_ctx *self)
{
	struct iobond_queue_stats st = {
		.argsz = sizeof(st), .index = self->index, .queue = 0,
	};

	return ioctl(self->fd, IOBOND_GET_QUEUE_STATS, &st) ? -1 :
	       (long long)st.interrupts;
}

/* Signal the eventfd; the interrupts it raised (0 if nothing listens). */
static long long call_signal(struct __test_metadata *_metadata,
			     struct fault_ctx *self)
{
	long long before = interrupts(self);

	EXPECT_LE(0, before);
	EXPECT_EQ(0, eventfd_write(self->efd, 1));
	return interrupts(self) - before;
}

/* The eventfd's count, drained; 0 if a listener consumed it. */
static eventfd_t call_pending(struct fault_ctx *self)
{
	eventfd_t val;

	return eventfd_read(self->efd, &val) ? 0 : val;
}

static int call_run(struct fault_ctx *self)
{
	return vring_eventfd(self, IOBOND_VRING_CALL, self->efd);
}

static void call_unchanged(struct __test_metadata *_metadata,
			   struct fault_ctx *self)
{
	ASSERT_EQ(0, call_signal(_metadata, self))
		TH_LOG("a failed attach left a listener on the call eventfd");
	ASSERT_EQ(1, call_pending(self));
}

static void call_done(struct __test_metadata *_metadata,
		      struct fault_ctx *self, bool injected)
{
	ASSERT_EQ(1, call_signal(_metadata, self));
	ASSERT_EQ(0, call_pending(self));
	ASSERT_EQ(0, vring_eventfd(self, IOBOND_VRING_CALL, -1));
	ASSERT_EQ(0, call_signal(_metadata, self));
	ASSERT_EQ(1, call_pending(self));
}

/* Mappings of the window in this process: they hang off the anchor. */
static int window_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !!strstr(line, WINDOW_NAME);
	fclose(f);
	return n;
}

static int mmap_run(struct fault_ctx *self)
{
	self->map = mmap(NULL, getpagesize(), PROT_READ | PROT_WRITE,
			 MAP_SHARED, self->fd, 0);
	return self->map == MAP_FAILED ? errno : 0;
}

static void mmap_unchanged(struct __test_metadata *_metadata,
			   struct fault_ctx *self)
{
	ASSERT_EQ(0, window_maps());
}

static void mmap_done(struct __test_metadata *_metadata,
		      struct fault_ctx *self, bool injected)
{
	ASSERT_EQ(1, window_maps());
	/* It maps: the fault handler finds its record. */
	(void)__atomic_load_n((__u32 *)self->map, __ATOMIC_RELAXED);
	ASSERT_EQ(0, munmap(self->map, getpagesize()));
	self->map = MAP_FAILED;
	ASSERT_EQ(0, window_maps());
}

/* -- d. the VFIO face: create the mdev, open it ------------------------- */

static int mdev_available(struct fault_ctx *self)
{
	char path[PATH_MAX], buf[16];

	snprintf(path, sizeof(path), TYPES "/iobond-dev%u/available_instances",
		 self->index);
	return iob_read_file(path, buf, sizeof(buf)) < 0 ? -1 : atoi(buf);
}

static bool mdev_exists(struct fault_ctx *self)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), MDEVS "/%s", self->uuid);
	return access(path, F_OK) == 0;
}

static int mdev_remove(struct fault_ctx *self)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), MDEVS "/%s/remove", self->uuid);
	return iob_write_file(path, "1");
}

static int mdev_create_run(struct fault_ctx *self)
{
	size_t len = strlen(self->uuid);

	return pwrite(self->create_fd, self->uuid, len, 0) == (ssize_t)len ?
	       0 : errno;
}

static void mdev_create_unchanged(struct __test_metadata *_metadata,
				  struct fault_ctx *self)
{
	ASSERT_FALSE(mdev_exists(self));
	/* The slot has no mdev: the board's record of it was cleared. */
	ASSERT_EQ(1, mdev_available(self));
}

static void mdev_create_done(struct __test_metadata *_metadata,
			     struct fault_ctx *self, bool injected)
{
	ASSERT_TRUE(mdev_exists(self));
	ASSERT_EQ(0, mdev_available(self));
	ASSERT_EQ(0, mdev_remove(self));
	ASSERT_FALSE(mdev_exists(self));
	ASSERT_EQ(1, mdev_available(self));
}

static void open_create(struct __test_metadata *_metadata,
			struct fault_ctx *self)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), TYPES "/iobond-dev%u/create", self->index);
	self->create_fd = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, self->create_fd) TH_LOG("%s: %s", path, strerror(errno));
}

static int mdev_open_run(struct fault_ctx *self)
{
	self->vfio_dev = ioctl(self->v.group, VFIO_GROUP_GET_DEVICE_FD,
			       self->uuid);
	return self->vfio_dev < 0 ? errno : 0;
}

/* Nothing holds the device: the vhost face may take it. */
static void mdev_open_unchanged(struct __test_metadata *_metadata,
				struct fault_ctx *self)
{
	ASSERT_EQ(0, vring_eventfd(self, IOBOND_VRING_KICK, self->efd))
		TH_LOG("a failed open left the device claimed");
	ASSERT_EQ(0, vring_eventfd(self, IOBOND_VRING_KICK, -1));
}

static void mdev_open_done(struct __test_metadata *_metadata,
			   struct fault_ctx *self, bool injected)
{
	ASSERT_EQ(EBUSY, vring_eventfd(self, IOBOND_VRING_KICK, self->efd));
	ASSERT_EQ(0, close(self->vfio_dev));
	self->vfio_dev = -1;
	mdev_open_unchanged(_metadata, self);
}

/* -- the fixture ------------------------------------------------------- */

static int knob_save(const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), FAILSLAB "/%s", name);
	return iob_read_file(path, buf, len);
}

static int knob_set(const char *name, const char *val)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), FAILSLAB "/%s", name);
	return iob_write_file(path, val);
}

static void fault_ctx_setup(struct __test_metadata *_metadata,
			    struct fault_ctx *self)
{
	/* IOBOND_FAULT_VERBOSE=2 adds each injection's stack to the log. */
	const char *verbose = getenv("IOBOND_FAULT_VERBOSE") ?: "1";
	struct iobond_board_info info;

	self->nth = -1;
	self->fd = -1;
	self->bind_fd = -1;
	self->create_fd = -1;
	self->efd = -1;
	self->vfio_dev = -1;
	self->v.container = -1;
	self->v.group = -1;
	self->v.device = -1;
	self->map = MAP_FAILED;
	if (iob_setup(&self->t) || !self->t.host)
		SKIP(return, "needs the host VM");
	if (access(FAIL_NTH, F_OK))
		SKIP(return, "needs CONFIG_FAULT_INJECTION (make check-debug)");
	if (access(FAILSLAB "/ignore-gfp-wait", F_OK))
		SKIP(return, "needs CONFIG_FAILSLAB, FAULT_INJECTION_DEBUG_FS (make check-debug)");
	self->fd = open(BOARD, O_RDWR | O_CLOEXEC);
	if (self->fd < 0)
		SKIP(return, "needs %s: %s", BOARD, strerror(errno));
	ASSERT_EQ(0, board_info(self->fd, &info));
	ASSERT_EQ(0, info.num_devices) TH_LOG("board0 is not empty");
	ASSERT_FALSE(info.flags & IOBOND_BOARD_RUNNING)
		TH_LOG("board0 is running");
	self->nvectors = info.nvectors;
	snprintf(self->uuid, sizeof(self->uuid),
		 "fa170000-0000-4000-8000-%012d", getpid());
	ASSERT_FALSE(mdev_exists(self));

	/*
	 * failslab leaves allocations that may sleep alone unless told
	 * otherwise, and fail-nth obeys that; probability stays 0, so no
	 * other task is touched.  One line per injection, not a stack.
	 */
	ASSERT_LT(0, knob_save("ignore-gfp-wait", self->wait_was,
			       sizeof(self->wait_was)));
	ASSERT_LT(0, knob_save("verbose", self->verbose_was,
			       sizeof(self->verbose_was)));
	ASSERT_EQ(0, knob_set("ignore-gfp-wait", "N"));
	ASSERT_EQ(0, knob_set("verbose", verbose));
	self->ready = true;
	self->nth = open(FAIL_NTH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->nth);
	ASSERT_EQ(0, fault_read(self->nth));
}

static void fault_ctx_teardown(struct fault_ctx *self)
{
	__u32 i;

	if (self->nth >= 0) {
		fault_disarm(self->nth);
		close(self->nth);
	}
	if (self->map != MAP_FAILED)
		munmap(self->map, getpagesize());
	if (self->vfio_dev >= 0)
		close(self->vfio_dev);
	iob_vfio_close(&self->v);
	if (self->ready && mdev_exists(self))
		mdev_remove(self);
	if (self->efd >= 0)
		close(self->efd);
	if (self->create_fd >= 0)
		close(self->create_fd);
	if (self->bind_fd >= 0)
		close(self->bind_fd);
	if (self->ready && !link_bound(self))
		iob_write_file(DRIVER "/bind", self->t.bdf);
	if (self->fd >= 0)
		close(self->fd);
	/* A skipped test found board0 as it was: leave it so. */
	self->fd = self->ready ? open(BOARD, O_RDWR | O_CLOEXEC) : -1;
	if (self->fd >= 0) {
		for (i = 0; i < IOBOND_MAX_DEVICES; i++)
			remove_device(self->fd, i);
		board_ctrl(self->fd, IOBOND_BOARD_STOP);
		close(self->fd);
	}
	if (self->wait_was[0])
		knob_set("ignore-gfp-wait", self->wait_was);
	if (self->verbose_was[0])
		knob_set("verbose", self->verbose_was);
}

FIXTURE_SETUP(fault)
{
	fault_ctx_setup(_metadata, &self->c);
}

FIXTURE_TEARDOWN(fault)
{
	fault_ctx_teardown(&self->c);
}

/* -- the tests ---------------------------------------------------------- */

/*
 * Unbind the link function and bind it again through sysfs: the probe
 * runs in the writer's context.  It maps the function, sets up MSI-X and a
 * handler per vector, formats the region, and makes board0: its node,
 * inflight records, window anchor and mdev types.
 */
TEST_F_TIMEOUT(fault, board_add, 600)
{
	static const struct fault_op op = {
		.name = "board_add", .cap = 2000, .errnos = bind_errnos,
		.prepare = board_add_prepare, .run = board_add_run,
		.unchanged = board_add_unchanged, .done = board_add_done,
	};
	char path[PATH_MAX], node[16];

	IOB_RETURN_IF_SKIPPED();
	/*
	 * pci_call_probe() runs the probe on a kworker of the device's NUMA
	 * node if it has one: out of this thread's fail-nth.  The test VMs
	 * have no NUMA topology (numa_node -1), and the probe runs here.
	 */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/numa_node",
		 self->c.t.bdf);
	if (iob_read_file(path, node, sizeof(node)) > 0 && atoi(node) >= 0)
		SKIP(return, "the probe runs on a kworker of NUMA node %d, out of fail-nth's reach",
		     atoi(node));
	close(self->c.fd);
	self->c.fd = -1;
	self->c.bind_fd = open(DRIVER "/bind", O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, self->c.bind_fd);
	walk(_metadata, &self->c, &op);
}

TEST_F(fault, device_add_net)
{
	static const struct fault_op op = {
		.name = "device_add_net", .cap = 200, .errnos = enomem, .none = true,
		.run = net_add_run, .unchanged = dev_add_unchanged,
		.done = net_add_done,
	};

	IOB_RETURN_IF_SKIPPED();
	walk(_metadata, &self->c, &op);
}

TEST_F(fault, device_add_blk)
{
	static const struct fault_op op = {
		.name = "device_add_blk", .cap = 200, .errnos = enomem, .none = true,
		.run = blk_add_run, .unchanged = dev_add_unchanged,
		.done = blk_add_done,
	};

	IOB_RETURN_IF_SKIPPED();
	walk(_metadata, &self->c, &op);
}

TEST_F(fault, device_remove)
{
	static const struct fault_op op = {
		.name = "device_remove", .cap = 200, .errnos = enomem, .none = true,
		.prepare = dev_remove_prepare, .run = dev_remove_run,
		.unchanged = dev_remove_unchanged, .done = dev_remove_done,
	};

	IOB_RETURN_IF_SKIPPED();
	walk(_metadata, &self->c, &op);
}

/* With no device, so that the board (if its module is up) has none to probe. */
TEST_F(fault, board_start)
{
	static const struct fault_op op = {
		.name = "board_start", .cap = 200, .errnos = enomem, .none = true,
		.run = start_run, .unchanged = start_unchanged,
		.done = start_done,
	};

	IOB_RETURN_IF_SKIPPED();
	walk(_metadata, &self->c, &op);
}

TEST_F(fault, board_stop)
{
	static const struct fault_op op = {
		.name = "board_stop", .cap = 200, .errnos = enomem, .none = true,
		.prepare = stop_prepare, .run = stop_run,
		.unchanged = stop_unchanged, .done = stop_done,
	};

	IOB_RETURN_IF_SKIPPED();
	walk(_metadata, &self->c, &op);
}

/*
 * IOBOND_SET_VRING_EVENTFD with CALL: the host allocates the wait-queue
 * entry that turns each signal into an interrupt on the board.
 */
TEST_F(fault, vring_call_eventfd)
{
	static const struct fault_op op = {
		.name = "vring_call_eventfd", .cap = 200, .errnos = enomem,
		.run = call_run, .unchanged = call_unchanged,
		.done = call_done,
	};

	IOB_RETURN_IF_SKIPPED();
	add_device(_metadata, &self->c, net_add());
	self->c.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, self->c.efd);
	walk(_metadata, &self->c, &op);
}

/* mmap() of board0: the host allocates the mapping's revocation record. */
TEST_F(fault, window_mmap)
{
	static const struct fault_op op = {
		.name = "window_mmap", .cap = 200, .errnos = enomem,
		.run = mmap_run, .unchanged = mmap_unchanged,
		.done = mmap_done,
	};

	IOB_RETURN_IF_SKIPPED();
	walk(_metadata, &self->c, &op);
}

/*
 * Creating slot N's mdev: the mdev core adds the device and probes it in
 * the writer's context, and the host allocates and registers its VFIO
 * device (an emulated-IOMMU group with it).
 */
TEST_F_TIMEOUT(fault, mdev_create, 300)
{
	static const struct fault_op op = {
		.name = "mdev_create", .cap = 1000, .errnos = enomem,
		.run = mdev_create_run, .unchanged = mdev_create_unchanged,
		.done = mdev_create_done,
	};

	IOB_RETURN_IF_SKIPPED();
	add_device(_metadata, &self->c, blk_add());
	open_create(_metadata, &self->c);
	walk(_metadata, &self->c, &op);
}

/*
 * VFIO_GROUP_GET_DEVICE_FD on a disk's mdev, its container set up once:
 * the first open claims the device against the vhost face; a failure after
 * it must let go.
 */
TEST_F_TIMEOUT(fault, mdev_open, 120)
{
	static const struct fault_op op = {
		.name = "mdev_open", .cap = 200, .errnos = enomem,
		.run = mdev_open_run, .unchanged = mdev_open_unchanged,
		.done = mdev_open_done,
	};
	const char *why;
	int ret;

	IOB_RETURN_IF_SKIPPED();
	add_device(_metadata, &self->c, blk_add());
	open_create(_metadata, &self->c);
	ASSERT_EQ(0, mdev_create_run(&self->c));
	self->c.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, self->c.efd);
	ret = iob_vfio_open(&self->c.v, self->c.uuid, &why);
	ASSERT_EQ(0, ret) TH_LOG("VFIO: %s: %s", why, strerror(-ret));
	/* Keep the container and group; the device is what is walked. */
	close(self->c.v.device);
	self->c.v.device = -1;
	walk(_metadata, &self->c, &op);
}

TEST_HARNESS_MAIN
