// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-engine: the engine as one more peer of a link's ivshmem server.
 *
 * The fabric (tools/iobond/fabric.c) speaks QEMU's ivshmem protocol: every
 * message is one little-endian int64, some with one fd.  On connect: the
 * version (0), our id, -1 with the region's fd; then each other peer's id
 * once per vector, each with that vector's eventfd, and our own id once
 * per vector with ours.  Afterwards a peer's id with an fd is a vector of
 * a peer that joined, and an id alone a peer that left.
 *
 * Our own eventfds are what the others ring; the others' are what we ring.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "main.h"

static int recv_msg(int sock, int64_t *value, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	uint64_t le;
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg;
	unsigned int k;
	ssize_t n;

	*fd = -1;
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	/* One fd at most is taken; any more are closed. */
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		for (k = 0; k < (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++) {
			int got;

			memcpy(&got, CMSG_DATA(cmsg) + k * sizeof(int), sizeof(int));
			if (*fd < 0)
				*fd = got;
			else
				close(got);
		}
	}
	if (n != sizeof(le)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return n < 0 ? -errno : -EPROTO;
	}
	*value = (int64_t)le64toh(le);
	return 0;
}

static struct eng_peer *peer_find(struct eng_link *l, int64_t id, bool add)
{
	struct eng_peer *free_slot = NULL;
	unsigned int i;

	for (i = 0; i < ENG_MAX_PEERS; i++) {
		if (l->peer[i].nvec && l->peer[i].id == id)
			return &l->peer[i];
		if (!l->peer[i].nvec && !free_slot)
			free_slot = &l->peer[i];
	}
	if (add && free_slot)
		free_slot->id = id;
	return add ? free_slot : NULL;
}

static void peer_forget(struct eng_peer *p)
{
	unsigned int v;

	for (v = 0; v < p->nvec; v++)
		close(p->efd[v]);
	p->nvec = 0;
}

/**
 * eng_peer_connect() - join the link at @path; take the region's fd
 * @l: the link, its peers zeroed
 * @path: the fabric's socket for the link
 *
 * Return: 0, or a negative errno with a message.
 */
int eng_peer_connect(struct eng_link *l, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t v = 0;
	int fd = -1, ret;

	l->shm_fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		eng_say("%s: socket path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	l->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->sock < 0 || connect(l->sock, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		eng_say("%s: cannot connect: %s", path, strerror(errno));
		return ret;
	}
	ret = recv_msg(l->sock, &v, &fd);
	if (ret || v != 0 || fd >= 0)
		goto proto;
	ret = recv_msg(l->sock, &v, &fd);
	if (ret || v < 0 || v > 0xffff || fd >= 0)
		goto proto;
	l->own_id = v;
	ret = recv_msg(l->sock, &v, &l->shm_fd);
	if (ret || v != -1 || l->shm_fd < 0)
		goto proto;
	return 0;

proto:
	if (fd >= 0)
		close(fd);
	if (l->shm_fd >= 0)
		close(l->shm_fd);
	l->shm_fd = -1;
	eng_say("%s: not an ivshmem server (message %lld)", path, (long long)v);
	return -EPROTO;
}

/**
 * eng_peer_message() - take one message of the fabric's
 * @l: the link
 *
 * Return: the id of a peer that left, -1 for any other message, or -2 if
 * the fabric is gone or broke the protocol.
 */
int64_t eng_peer_message(struct eng_link *l)
{
	struct eng_peer *p;
	int64_t id;
	int fd;

	if (recv_msg(l->sock, &id, &fd)) {
		eng_say("the fabric is gone");
		return -2;
	}
	if (id < 0 || id > 0xffff) {
		if (fd >= 0)
			close(fd);
		eng_say("the fabric sent %lld", (long long)id);
		return -2;
	}
	if (fd < 0) {
		p = peer_find(l, id, false);
		if (p)
			peer_forget(p);
		return id;
	}
	if (id == l->own_id) {
		if (l->nvec == ENG_MAX_VECTORS) {
			close(fd);
			return -1;
		}
		l->efd[l->nvec++] = fd;
		return -1;
	}
	p = peer_find(l, id, true);
	if (!p || p->nvec == ENG_MAX_VECTORS) {
		close(fd);
		return -1;
	}
	p->efd[p->nvec++] = fd;
	return -1;
}

/* Ring peer @id's @vector, if it is there and has one. */
void eng_peer_ring(struct eng_link *l, uint32_t id, unsigned int vector)
{
	struct eng_peer *p = peer_find(l, id, false);
	uint64_t one = 1;

	if (p && vector < p->nvec &&
	    write(p->efd[vector], &one, sizeof(one)) != sizeof(one))
		eng_say("peer %u vector %u: %s", id, vector, strerror(errno));
}
