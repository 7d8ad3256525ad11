/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Open an IO-Bond device's VFIO face (a mediated device) from userspace:
 * container, group and device, the standard way.  Shared by the block
 * backend and the selftests.
 */
#ifndef IOBOND_VFIO_H
#define IOBOND_VFIO_H

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iobond.h>
#include <linux/vfio.h>

struct iob_vfio {
	int container;
	int group;
	int device;
	uint64_t off[IOBOND_VFIO_NUM_REGIONS];
	uint64_t size[IOBOND_VFIO_NUM_REGIONS];
};

static inline void iob_vfio_close(struct iob_vfio *v)
{
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	v->device = v->group = v->container = -1;
}

/*
 * Open mdev @uuid.  On failure return -errno and say in @why which step
 * failed; EBUSY from the last step means another face holds the device.
 */
static inline int iob_vfio_open(struct iob_vfio *v, const char *uuid,
				const char **why)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_device_info di = { .argsz = sizeof(di) };
	char path[256], link[256];
	unsigned int i;
	ssize_t n;

	v->container = v->group = v->device = -1;
	*why = "its iommu_group (no such mdev?)";
	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/iommu_group",
		 uuid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		goto fail;
	link[n] = 0;
	snprintf(path, sizeof(path), "/dev/vfio/%s", basename(link));

	*why = "/dev/vfio/vfio";
	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (v->container < 0)
		goto fail;
	errno = EINVAL;
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0)
		goto fail;
	*why = path;
	v->group = open(path, O_RDWR | O_CLOEXEC);
	if (v->group < 0 || ioctl(v->group, VFIO_GROUP_GET_STATUS, &gs))
		goto fail;
	errno = EBUSY;
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		goto fail;
	*why = "the group's container";
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container) ||
	    ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU))
		goto fail;
	*why = "the device";
	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, uuid);
	if (v->device < 0 || ioctl(v->device, VFIO_DEVICE_GET_INFO, &di))
		goto fail;
	errno = ENODEV;
	if (di.num_regions < IOBOND_VFIO_NUM_REGIONS ||
	    di.num_irqs < IOBOND_VFIO_NUM_IRQS)
		goto fail;
	for (i = 0; i < IOBOND_VFIO_NUM_REGIONS; i++) {
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = i };

		if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &ri))
			goto fail;
		v->off[i] = ri.offset;
		v->size[i] = ri.size;
	}
	return 0;
fail:
	i = errno;
	iob_vfio_close(v);
	return -(int)i;
}

/* Point @count triggers of irq @index, from @start, at @fds (-1: none). */
static inline int iob_vfio_set_irqs(int device, unsigned int index,
				    unsigned int start, unsigned int count,
				    const int32_t *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + count * sizeof(int32_t);
	struct vfio_irq_set *set = calloc(1, sz);
	int ret;

	if (!set)
		return -ENOMEM;
	set->argsz = sz;
	set->flags = VFIO_IRQ_SET_ACTION_TRIGGER |
		     (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	set->index = index;
	set->start = start;
	set->count = count;
	memcpy(set->data, fds, count * sizeof(int32_t));
	ret = ioctl(device, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
	free(set);
	return ret;
}

/* Read the device's state region. */
static inline int iob_vfio_state(struct iob_vfio *v,
				 struct iobond_vfio_state *st)
{
	ssize_t n = pread(v->device, st, sizeof(*st),
			  v->off[IOBOND_VFIO_STATE_REGION]);

	return n == sizeof(*st) ? 0 : n < 0 ? -errno : -EIO;
}

#endif /* IOBOND_VFIO_H */
