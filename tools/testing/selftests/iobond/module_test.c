// SPDX-License-Identifier: GPL-2.0
/*
 * Load and unload this side's IO-Bond module, with the peer's module
 * loaded (IOBOND_PEER=up) or not (IOBOND_PEER=down), and look for leaks.
 * Each load must take every doorbell vector the link function has: its
 * MSI-X table size, up to IOBOND_MAX_VECTORS.  IOBOND_VECTORS, if set, is
 * the count the runner gave QEMU, and the function must agree with it.
 *
 * The module is left loaded at the end, as it was found or not.
 */
#include <linux/pci_regs.h>

#include "kselftest_harness.h"
#include "iobond_test.h"

#define CYCLES		10
#define BIND_MS		5000
/* The peer attaches within a heartbeat; allow for a slow TCG guest. */
#define PEER_UP_MS	(4 * IOBOND_PEER_TIMEOUT_MS)

/* What a leak would leave behind, counted outside the module. */
struct footprint {
	long long slab_objs;	/* active objects in kmalloc caches */
	int irqs;		/* /proc/interrupts lines of the module */
	int ioremaps;		/* ioremap entries in /proc/vmallocinfo */
};

static long long kmalloc_objects(void)
{
	FILE *f = fopen("/proc/slabinfo", "re");
	char line[512], name[64];
	long long total = 0, active;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lld", name, &active) == 2 &&
		    !strncmp(name, "kmalloc-", 8))
			total += active;
	fclose(f);
	return total;
}

static int count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !!strstr(line, needle);
	fclose(f);
	return n;
}

static void footprint(const struct iob *t, struct footprint *fp)
{
	char needle[64];

	snprintf(needle, sizeof(needle), " %s-v", t->module);
	fp->slab_objs = kmalloc_objects();
	fp->irqs = count_lines("/proc/interrupts", needle);
	fp->ioremaps = count_lines("/proc/vmallocinfo", "ioremap");
}

/*
 * The MSI-X table size of @bdf, read from its config space rather than
 * from anything the driver reports; -1 if it has no MSI-X capability.
 */
static int msix_table_size(const char *bdf)
{
	char path[PATH_MAX];
	__u8 cfg[256];
	int fd, n, pos, hops;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = pread(fd, cfg, sizeof(cfg), 0);
	close(fd);
	if (n != sizeof(cfg) || !(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		return -1;
	/* A bound on the hops, in case the list loops. */
	pos = cfg[PCI_CAPABILITY_LIST] & ~3;
	for (hops = 0; pos >= 0x40 && hops < 48; hops++) {
		if (cfg[pos + PCI_CAP_LIST_ID] == PCI_CAP_ID_MSIX)
			return ((cfg[pos + PCI_MSIX_FLAGS] |
				 cfg[pos + PCI_MSIX_FLAGS + 1] << 8) &
				PCI_MSIX_FLAGS_QSIZE) + 1;
		pos = cfg[pos + PCI_CAP_LIST_NEXT] & ~3;
	}
	return -1;
}

/* Load, wait for the bind and, if asked, for the peer; then unload. */
static void cycle(struct __test_metadata *_metadata, const struct iob *t,
		  int nvec, bool peer_up)
{
	char drv[64];
	long long ms;

	ASSERT_EQ(0, iob_load(t));
	ms = iob_wait_status(t, "nvectors", nvec, BIND_MS);
	iob_bound_driver(t, drv, sizeof(drv));
	EXPECT_STREQ(t->module, drv);
	EXPECT_LE(0, ms) TH_LOG("nvectors in %s/status is %lld, not %d",
				t->dbg, iob_status(t, "nvectors"), nvec);
	if (peer_up) {
		EXPECT_LE(0, iob_wait_status(t, "peer", 1, PEER_UP_MS))
			TH_LOG("the peer did not come up");
	} else {
		EXPECT_EQ(0, iob_status(t, "peer"));
	}
	/* A board attaches to a formatted region even with the host away. */
	if (t->host || peer_up)
		EXPECT_EQ(1, iob_status(t, "attached"));
	ASSERT_EQ(0, iob_unload(t));
}

FIXTURE(module) {
	struct iob t;
	bool was_loaded;
	bool peer_up;
	int nvec;	/* the vectors a load must take */
};

FIXTURE_SETUP(module)
{
	const char *peer = getenv("IOBOND_PEER");
	int ret = iob_setup(&self->t);

	if (ret)
		SKIP(return, "needs an IO-Bond VM (IOBOND_SIDE, an ivshmem function): %s",
		     strerror(-ret));
	if (!peer)
		SKIP(return, "needs IOBOND_PEER=up|down");
	self->peer_up = !strcmp(peer, "up");
	self->nvec = msix_table_size(self->t.bdf);
	ASSERT_LT(0, self->nvec) TH_LOG("no MSI-X table size for %s",
					self->t.bdf);
	if (getenv("IOBOND_VECTORS"))
		ASSERT_EQ(atoi(getenv("IOBOND_VECTORS")), self->nvec);
	if (self->nvec > IOBOND_MAX_VECTORS)
		self->nvec = IOBOND_MAX_VECTORS;
	self->was_loaded = iob_loaded(&self->t);
	if (self->was_loaded)
		ASSERT_EQ(0, iob_unload(&self->t));
}

FIXTURE_TEARDOWN(module)
{
	if (self->was_loaded && !iob_loaded(&self->t))
		EXPECT_EQ(0, iob_load(&self->t));
}

TEST_F_TIMEOUT(module, load_unload_cycles, 300)
{
	struct footprint before, mid, after;
	long long grew;
	int i;

	IOB_RETURN_IF_SKIPPED();
	/* One cycle first: a first load allocates things a leak is not. */
	cycle(_metadata, &self->t, self->nvec, self->peer_up);
	footprint(&self->t, &before);
	for (i = 0; i < CYCLES; i++)
		cycle(_metadata, &self->t, self->nvec, self->peer_up);
	footprint(&self->t, &mid);
	for (i = 0; i < CYCLES; i++)
		cycle(_metadata, &self->t, self->nvec, self->peer_up);
	footprint(&self->t, &after);

	EXPECT_FALSE(iob_loaded(&self->t));
	EXPECT_EQ(0, after.irqs);
	EXPECT_EQ(before.ioremaps, after.ioremaps);
	/*
	 * A link costs dozens of kmalloc objects (its state, irq actions,
	 * MSI descriptors, devres, debugfs); leaking any one of them grows
	 * each run of CYCLES cycles by CYCLES or more.  The rest of the VM
	 * moves the count too (objects freed after an RCU grace period are
	 * still counted, the runner's shells come and go): a make check run
	 * once saw +10 over ten cycles with no leak.  Such noise does not
	 * repeat in step, so the smaller growth of two runs is judged.
	 * Not under KASAN (IOBOND_KASAN, the debug tier): its quarantine
	 * keeps thousands of freed objects counted as active.
	 */
	grew = mid.slab_objs - before.slab_objs;
	if (after.slab_objs - mid.slab_objs < grew)
		grew = after.slab_objs - mid.slab_objs;
	if (getenv("IOBOND_KASAN")) {
		TH_LOG("kmalloc objects %lld -> %lld -> %lld over 2 x %d cycles: not judged under KASAN",
		       before.slab_objs, mid.slab_objs, after.slab_objs, CYCLES);
		return;
	}
	EXPECT_GT(CYCLES, grew)
		TH_LOG("kmalloc objects %lld -> %lld -> %lld over 2 x %d cycles",
		       before.slab_objs, mid.slab_objs, after.slab_objs, CYCLES);
}

/* driver_override matches any device: the driver must refuse non-links. */
TEST_F(module, refuses_other_functions)
{
	char path[PATH_MAX], drv[64];
	const char *victim = "0000:00:00.0";	/* the q35 host bridge */
	int before;

	IOB_RETURN_IF_SKIPPED();
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", victim);
	if (!access(path, F_OK))
		SKIP(return, "%s already has a driver", victim);
	before = iob_dmesg_count("is no IO-Bond link function");

	ASSERT_EQ(0, iob_load(&self->t));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 victim);
	ASSERT_EQ(0, iob_write_file(path, self->t.module));
	/* A failed probe is no error to drivers_probe: check the outcome. */
	iob_write_file("/sys/bus/pci/drivers_probe", victim);
	EXPECT_EQ(0, iob_write_file(path, "\n"));

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", victim);
	EXPECT_NE(0, access(path, F_OK)) TH_LOG("%s was bound", victim);
	EXPECT_EQ(before + 1, iob_dmesg_count("is no IO-Bond link function"));
	/* The link function itself is still ours. */
	iob_bound_driver(&self->t, drv, sizeof(drv));
	EXPECT_STREQ(self->t.module, drv);
	EXPECT_EQ(0, iob_unload(&self->t));
}

TEST_HARNESS_MAIN
