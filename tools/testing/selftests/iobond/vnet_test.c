// SPDX-License-Identifier: GPL-2.0
/*
 * The board's NICs, as the unmodified virtio_net driver presents them over
 * the IO-Bond transport.
 *
 * IOBOND_NETS      the MACs the host provisioned, space-separated: the
 *                  board must show exactly these virtio_net interfaces
 * IOBOND_MTU       if set, the MTU the host offered for the first
 * IOBOND_FEATURES  if set, the features the host saw the first accept (hex)
 * IOBOND_REBIND    if set, unbind and bind virtio_net that many times
 * IOBOND_CARRIER   if set, the carrier (0 or 1) the host set for the first
 */
#include <dirent.h>

#include "kselftest_harness.h"
#include "iobond_test.h"

#define WAIT_MS	20000

struct nic {
	char ifname[32];
	char mac[32];
	char vdev[32];		/* virtioN */
};

/* The virtio_net interfaces there are now, in /sys/class/net order. */
static int list_nics(struct nic *nics, int max)
{
	DIR *d = opendir("/sys/class/net");
	char path[PATH_MAX], link[PATH_MAX];
	struct dirent *e;
	int n = 0;
	ssize_t len;

	if (!d)
		return -1;
	while ((e = readdir(d)) && n < max) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/device/driver",
			 e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (strcmp(strrchr(link, '/') + 1, "virtio_net"))
			continue;
		snprintf(nics[n].ifname, sizeof(nics[n].ifname), "%.31s",
			 e->d_name);
		snprintf(path, sizeof(path), "/sys/class/net/%s/address",
			 e->d_name);
		if (iob_read_file(path, nics[n].mac, sizeof(nics[n].mac)) < 0)
			continue;
		nics[n].mac[strcspn(nics[n].mac, "\n")] = '\0';
		snprintf(path, sizeof(path), "/sys/class/net/%s/device",
			 e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		link[len > 0 ? len : 0] = '\0';
		snprintf(nics[n].vdev, sizeof(nics[n].vdev), "%s",
			 strrchr(link, '/') ? strrchr(link, '/') + 1 : "");
		n++;
	}
	closedir(d);
	return n;
}

static struct nic *find_mac(struct nic *nics, int n, const char *mac)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcasecmp(nics[i].mac, mac))
			return &nics[i];
	return NULL;
}

/* Do the NICs match IOBOND_NETS exactly? */
static bool nics_match(const char *want, struct nic *nics, int *n)
{
	char buf[512], *mac, *save;
	int count = 0;

	*n = list_nics(nics, 16);
	snprintf(buf, sizeof(buf), "%s", want);
	for (mac = strtok_r(buf, " ", &save); mac;
	     mac = strtok_r(NULL, " ", &save), count++)
		if (!find_mac(nics, *n, mac))
			return false;
	return count == *n;
}

static int wait_nics(const char *want, struct nic *nics, int *n)
{
	long long start = iob_now_ms();

	while (!nics_match(want, nics, n)) {
		if (iob_now_ms() - start > WAIT_MS)
			return -1;
		usleep(50000);
	}
	return 0;
}

/* /sys/bus/virtio/devices/virtioN/features: one '0' or '1' per bit. */
static unsigned long long vdev_features(const char *vdev)
{
	char path[PATH_MAX], bits[128];
	unsigned long long f = 0;
	int i;

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/features",
		 vdev);
	if (iob_read_file(path, bits, sizeof(bits)) < 0)
		return 0;
	for (i = 0; i < 64 && (bits[i] == '0' || bits[i] == '1'); i++)
		if (bits[i] == '1')
			f |= 1ULL << i;
	return f;
}

FIXTURE(vnet) {
	const char *want;
	struct nic nics[16];
	int n;
};

FIXTURE_SETUP(vnet)
{
	struct iob t;

	if (iob_setup(&t) || t.host)
		SKIP(return, "needs the board VM");
	self->want = getenv("IOBOND_NETS");
	if (!self->want)
		SKIP(return, "needs IOBOND_NETS, the MACs provisioned");
	ASSERT_EQ(0, wait_nics(self->want, self->nics, &self->n))
		TH_LOG("want '%s', have %d virtio_net interfaces", self->want,
		       self->n);
}

FIXTURE_TEARDOWN(vnet)
{
}

TEST_F(vnet, provisioned_as_set)
{
	const char *mtu = getenv("IOBOND_MTU");
	const char *feat = getenv("IOBOND_FEATURES");
	char first[32], path[PATH_MAX], buf[32];
	struct nic *nic;

	IOB_RETURN_IF_SKIPPED();
	sscanf(self->want, "%31s", first);
	nic = find_mac(self->nics, self->n, first);
	ASSERT_NE(NULL, nic);
	if (mtu) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/mtu",
			 nic->ifname);
		ASSERT_LT(0, iob_read_file(path, buf, sizeof(buf)));
		EXPECT_EQ(strtol(mtu, NULL, 0), strtol(buf, NULL, 0));
	}
	if (feat)
		EXPECT_EQ(strtoull(feat, NULL, 16), vdev_features(nic->vdev))
			TH_LOG("%s: host saw %s", nic->vdev, feat);
	/* What the transport insists on is in every negotiation... */
	EXPECT_TRUE(vdev_features(nic->vdev) & (1ULL << 32));	/* VERSION_1 */
	EXPECT_TRUE(vdev_features(nic->vdev) & (1ULL << 33));	/* ACCESS_PLATFORM */
	/* ...and what vhost-net serves well is taken. */
	EXPECT_TRUE(vdev_features(nic->vdev) & (1ULL << 29));	/* EVENT_IDX */
	EXPECT_TRUE(vdev_features(nic->vdev) & (1ULL << 15));	/* MRG_RXBUF */
}

/* The host set the carrier: a config change told the driver. */
TEST_F(vnet, carrier_follows_host)
{
	const char *want = getenv("IOBOND_CARRIER");
	char path[PATH_MAX], buf[8] = "";
	long long start = iob_now_ms();

	IOB_RETURN_IF_SKIPPED();
	if (!want)
		SKIP(return, "IOBOND_CARRIER not set");
	snprintf(path, sizeof(path), "/sys/class/net/%s/carrier",
		 self->nics[0].ifname);
	do {
		iob_read_file(path, buf, sizeof(buf));
		if (buf[0] == want[0])
			break;
		usleep(20000);
	} while (iob_now_ms() - start < WAIT_MS);
	EXPECT_EQ(want[0], buf[0]);
}

TEST_F_TIMEOUT(vnet, rebind_virtio_net, 300)
{
	const char *times = getenv("IOBOND_REBIND");
	int i, n = times ? atoi(times) : 0;
	struct nic *nic = &self->nics[0];
	char vdev[32];

	IOB_RETURN_IF_SKIPPED();
	if (!n)
		SKIP(return, "IOBOND_REBIND not set");
	snprintf(vdev, sizeof(vdev), "%s", nic->vdev);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, iob_write_file("/sys/bus/virtio/drivers/virtio_net/unbind",
					    vdev));
		ASSERT_EQ(0, iob_write_file("/sys/bus/virtio/drivers/virtio_net/bind",
					    vdev));
		ASSERT_EQ(0, wait_nics(self->want, self->nics, &self->n))
			TH_LOG("cycle %d: the NICs did not come back", i);
	}
}

TEST_HARNESS_MAIN
