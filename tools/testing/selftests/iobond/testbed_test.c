// SPDX-License-Identifier: GPL-2.0
/*
 * The test bed itself, checked from inside each VM: the host VM has the
 * IOMMU and VFIO its data planes need; the board VM has no virtio or network
 * function but its end of the link, so every device it gets will come
 * through IO-Bond.
 */
#include <dirent.h>

#include "kselftest_harness.h"
#include "iobond_test.h"

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

TEST(host_has_iommu_and_vfio)
{
	struct iob t;

	if (iob_setup(&t))
		SKIP(return, "needs an IO-Bond VM (IOBOND_SIDE, an ivshmem function)");
	if (!t.host)
		SKIP(return, "the host VM's test");
	EXPECT_LT(0, count_entries("/sys/kernel/iommu_groups"))
		TH_LOG("no IOMMU groups: is intel_iommu=on?");
	EXPECT_EQ(0, access("/dev/vfio/vfio", F_OK));
	EXPECT_EQ(0, access("/sys/bus/pci/drivers/vfio-pci", F_OK));
}

/* The q35 chipset stays (bridges, AHCI, SMBus); no virtio, no NIC. */
TEST(board_sees_only_the_link)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	char path[PATH_MAX], cls[16], vendor[16];
	struct dirent *e;
	struct iob t;
	int links = 0;

	if (iob_setup(&t))
		SKIP(return, "needs an IO-Bond VM (IOBOND_SIDE, an ivshmem function)");
	if (t.host)
		SKIP(return, "the board VM's test");
	ASSERT_NE(NULL, d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/class",
			 e->d_name);
		ASSERT_LT(0, iob_read_file(path, cls, sizeof(cls)));
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor",
			 e->d_name);
		ASSERT_LT(0, iob_read_file(path, vendor, sizeof(vendor)));
		if (!strcmp(e->d_name, t.bdf)) {
			links++;
			continue;
		}
		EXPECT_NE(0, strncmp(vendor, "0x1af4", 6))
			TH_LOG("%s is a virtio or ivshmem function", e->d_name);
		EXPECT_NE(0, strncmp(cls, "0x02", 4))
			TH_LOG("%s is a network controller", e->d_name);
	}
	closedir(d);
	EXPECT_EQ(1, links);
}

TEST_HARNESS_MAIN
