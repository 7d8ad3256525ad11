// SPDX-License-Identifier: GPL-2.0
/*
 * The link layer is shared by both modules and built into each, so that a
 * board kernel and a host kernel each load a single module.
 */
#include "../iobond-link/ivshmem.c"
#include "../iobond-link/link.c"
#include "../iobond-link/debugfs.c"
