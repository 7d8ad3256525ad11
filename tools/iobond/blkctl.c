// SPDX-License-Identifier: GPL-2.0
/*
 * iobondctl add-blk: a disk for a board, from a file, a block device or
 * an NBD export.
 *
 * It sizes the disk from the backing store (capacity, logical and
 * physical block size; discard and write-zeroes where the store can do
 * them; an export as "iobond-blk --probe" describes it), provisions it, creates the device's mdev and starts iobond-blk
 * on that mdev as a daemon, logging to /run/iobond/BOARD-devN.log.  It
 * returns once the backend holds the device, or undoes all of it and says
 * why.  "remove" removes the mdev first: the kernel tells the backend,
 * which finishes what it has in flight and exits.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>

#include "iobond_budget.h"
#include "iobondctl.h"

#define READY_MS	30000
/* NBD's lengths are 32 bits: a discard or write-zeroes of at most 2 GiB. */
#define NBD_MAX_RANGE	(1U << 22)
#define OPTS_ONCE	"frqsibSweWncUH"	/* add-blk's options, by getopt value */

static void types_dir(char *buf, size_t len, unsigned int index)
{
	snprintf(buf, len, "/sys/class/iobond/%s/mdev_supported_types/iobond-dev%u",
		 board_base(), index);
}

/* Can files in @path's directory have holes punched?  Asked of a temp file. */
static bool can_punch(const char *path)
{
	char *copy = strdup(path);
	int fd = copy ? open(dirname(copy), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;
	bool ok = fd >= 0 && !ftruncate(fd, 8192) &&
		  !fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096);

	if (fd >= 0)
		close(fd);
	free(copy);
	return ok;
}

static bool blockdev_discards(const struct stat *st)
{
	char path[128];
	unsigned long long max = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/discard_max_bytes",
		 major(st->st_rdev), minor(st->st_rdev));
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu", &max) != 1)
			max = 0;
		fclose(f);
	}
	return max;
}

/* The disk @path makes: size, block sizes, and what it can do. */
/*
 * The disk's tag: the serial the board sees (iobond-blk's default is the
 * file's name) and where the disk is: a file by its real path, so that
 * another file of the same name is another disk; a block device by the
 * name it was given (a /dev/disk/by-id link stays, the sdX behind it may
 * not); an NBD export by its URI.  The same table restored after a
 * reboot gives the same tags.
 */
static int disk_tag(const char *path, bool nbd, const char *serial,
		    struct iobond_device_add *add)
{
	char id[VIRTIO_BLK_ID_BYTES + 2 + PATH_MAX], *real = NULL;
	struct stat st;
	int n;

	/* An export by its URI. */
	if (nbd) {
		n = snprintf(id, sizeof(id), "%.*s %s", VIRTIO_BLK_ID_BYTES,
			     serial ?: "", path);
		add->tag = device_tag('b', id, (size_t)n < sizeof(id) ? (size_t)n : sizeof(id) - 1);
		return 0;
	}
	if (stat(path, &st) || (!S_ISBLK(st.st_mode) &&
				!(real = realpath(path, NULL)))) {
		fprintf(stderr, "iobondctl: add-blk: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (!serial)
		serial = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	n = snprintf(id, sizeof(id), "%.*s %s", VIRTIO_BLK_ID_BYTES, serial,
		     real ?: path);
	free(real);
	add->tag = device_tag('b', id, (size_t)n < sizeof(id) ? (size_t)n : sizeof(id) - 1);
	return 0;
}

static int size_disk(const char *path, bool readonly, bool write_through,
		     struct iobond_device_add *add)
{
	struct iobond_blk_config *blk = &add->config.blk;
	unsigned int lbs = 512, pbs = 0;
	unsigned long long size;
	struct stat st;
	int fd;

	fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "iobondctl: add-blk: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) || ioctl(fd, BLKSSZGET, &lbs) ||
		    ioctl(fd, BLKPBSZGET, &pbs))
			size = 0;
		if (!readonly && !write_through && blockdev_discards(&st))
			add->features |= 1ULL << VIRTIO_BLK_F_DISCARD;
		if (!readonly && !write_through)
			add->features |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	} else if (S_ISREG(st.st_mode)) {
		size = st.st_size;
		pbs = st.st_blksize;
		/* A write-through disk's fallocate would not be durable. */
		if (!readonly && !write_through && can_punch(path))
			add->features |= 1ULL << VIRTIO_BLK_F_DISCARD |
					 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	} else {
		fprintf(stderr, "iobondctl: add-blk: %s: neither a file nor a block device\n",
			path);
		close(fd);
		return 1;
	}
	close(fd);
	blk->blk_size = lbs;
	while (blk->physical_block_exp < 3 &&
	       (lbs << (blk->physical_block_exp + 1)) <= pbs)
		blk->physical_block_exp++;
	blk->capacity = size / lbs * lbs / 512;
	if (!blk->capacity) {
		fprintf(stderr, "iobondctl: add-blk: %s: %llu bytes is less than one %u-byte block\n",
			path, size, lbs);
		return 1;
	}
	return 0;
}

/* Where iobond-blk is: beside this program, else on $PATH. */
static void backend_path(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 16);

	if (n > 0) {
		buf[n] = 0;
		strcpy(strrchr(buf, '/') + 1, "iobond-blk");
		if (!access(buf, X_OK))
			return;
	}
	snprintf(buf, len, "iobond-blk");
}

/* "iobond-blk --nbd URI --probe": its one line, into @line. */
static int probe_nbd(const char *uri, char *line, size_t len)
{
	char exe[PATH_MAX];
	int p[2], status;
	ssize_t n = 0, k;
	pid_t pid;

	backend_path(exe, sizeof(exe));
	if (pipe(p))
		return -errno;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execlp(exe, exe, "--nbd", uri, "--probe", (char *)NULL);
		fprintf(stderr, "iobondctl: %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	while ((size_t)n < len - 1 && (k = read(p[0], line + n, len - 1 - n)) > 0)
		n += k;
	line[n] = 0;
	close(p[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -EIO;
}

/* The disk the NBD export at @uri makes, as its server describes it. */
static int size_nbd(const char *uri, bool readonly, bool write_through,
		    struct iobond_device_add *add)
{
	struct iobond_blk_config *blk = &add->config.blk;
	int ro, flush, fua, trim, zero;
	unsigned long long size, block;
	char line[256];

	if (probe_nbd(uri, line, sizeof(line)) ||
	    sscanf(line, "size=%llu block=%llu readonly=%d flush=%d fua=%d trim=%d zero=%d",
		   &size, &block, &ro, &flush, &fua, &trim, &zero) != 7) {
		fprintf(stderr, "iobondctl: %s: add-blk: %s: no NBD export there (iobond-blk said why above; is the server running?)\n",
			board_name, uri);
		return 1;
	}
	/* A request's segments are whole sectors, not whole larger blocks. */
	if (block > 512) {
		fprintf(stderr, "iobondctl: %s: add-blk: %s: the export's blocks are %llu bytes: iobond-blk serves exports of 512-byte blocks or smaller\n",
			board_name, uri, block);
		return 1;
	}
	if (ro && !readonly) {
		fprintf(stderr, "iobondctl: %s: add-blk: %s: the export is read-only: add --readonly\n",
			board_name, uri);
		return 1;
	}
	/* Without FUA each write would need a flush the board never sends. */
	if (write_through && !fua) {
		fprintf(stderr, "iobondctl: %s: add-blk: %s: the server has no FUA, which --write-through needs: leave --write-through out\n",
			board_name, uri);
		return 1;
	}
	blk->blk_size = 512;
	blk->capacity = size / 512;
	if (!blk->capacity) {
		fprintf(stderr, "iobondctl: %s: add-blk: %s: %llu bytes is less than one 512-byte block\n",
			board_name, uri, size);
		return 1;
	}
	if (!readonly && !write_through && trim)
		add->features |= 1ULL << VIRTIO_BLK_F_DISCARD;
	if (!readonly && !write_through && zero)
		add->features |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	blk->max_discard_sectors = blk->max_write_zeroes_sectors = NBD_MAX_RANGE;
	return 0;
}

/* What every disk is offered, whatever its store. */
static void common_features(bool readonly, bool write_through,
			    struct iobond_device_add *add)
{
	if (!write_through)
		add->features |= 1ULL << VIRTIO_BLK_F_FLUSH;
	if (readonly)
		add->features |= 1ULL << VIRTIO_BLK_F_RO;
	if (add->num_queues > 1)
		add->features |= 1ULL << VIRTIO_BLK_F_MQ;
}

static int write_sysfs(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	return ret;
}

static int make_mdev(unsigned int index, char uuid[37])
{
	char path[256];
	FILE *f;
	int ret;

	errno = 0;
	f = fopen("/proc/sys/kernel/random/uuid", "r");
	if (!f || !fgets(uuid, 37, f)) {
		if (f)
			fclose(f);
		return fail("add-blk: a uuid", errno ? errno : EIO,
			    "reading /proc/sys/kernel/random/uuid failed: is /proc mounted?");
	}
	fclose(f);
	types_dir(path, sizeof(path), index);
	strcat(path, "/create");
	ret = write_sysfs(path, uuid);
	if (ret)
		return fail("add-blk: creating the mdev", -ret,
			    ret == -ENOENT ? "is the mdev module loaded?" : path);
	return 0;
}

/* Start the backend, detached; wait until it says it holds the device. */
static int spawn_backend(unsigned int index, const char *uuid, char **extra,
			 char *log, size_t loglen)
{
	char exe[PATH_MAX], fdarg[16];
	char *argv[24] = { exe, "--mdev", (char *)uuid, "--ready-fd", fdarg };
	int p[2], i, n = 5, status;
	struct pollfd pfd;
	char buf[8];
	pid_t pid;

	backend_path(exe, sizeof(exe));
	for (i = 0; extra[i] && n < 22; i++)
		argv[n++] = extra[i];
	mkdir("/run/iobond", 0755);
	snprintf(log, loglen, "/run/iobond/%s-dev%u.log", board_base(), index);
	if (pipe(p))
		return -errno;
	snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		int fd;

		close(p[0]);
		if (setsid() < 0 || fork())
			_exit(0);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		/* A daemon keeps nothing of ours but the pipe it answers on. */
		for (fd = 3; fd < 1024; fd++)
			if (fd != p[1])
				close(fd);
		execvp(exe, argv);
		fprintf(stderr, "iobondctl: %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	waitpid(pid, &status, 0);
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	n = poll(&pfd, 1, READY_MS) == 1 ? read(p[0], buf, sizeof(buf)) : 0;
	close(p[0]);
	return n > 0 ? 0 : -EIO;
}

/**
 * blk_release() - remove slot @index's mdevs, waiting for their backends
 * @index: the slot
 *
 * Return: 0, or 1 after saying what failed.
 */
int blk_release(unsigned int index)
{
	char dir[256], path[512];
	struct dirent *e;
	DIR *d;
	int ret = 0;

	types_dir(dir, sizeof(dir), index);
	strcat(dir, "/devices");
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/remove",
			 e->d_name);
		ret = write_sysfs(path, "1");
		if (ret) {
			ret = fail("remove: the disk's mdev", -ret, path);
			break;
		}
	}
	closedir(d);
	return ret;
}

/*
 * The conf of add-blk --unit's instance: MDEV, DISK (the last two of
 * @extra's @n words) and OPTS (the others).  Return: 0, or -1 if @len
 * bytes cannot hold it.
 */
static int unit_blk_vars(char *buf, size_t len, const char *uuid,
			 char **extra, int n)
{
	size_t at;
	int k, i;

	k = snprintf(buf, len, "MDEV=%s\nDISK=\"%s %s\"\nOPTS=\"", uuid,
		     extra[n - 2], extra[n - 1]);
	for (i = 0; k >= 0 && (size_t)k < len && i < n - 2; i++) {
		at = k;
		k = snprintf(buf + at, len - at, "%s%s", i ? " " : "", extra[i]);
		k = k < 0 ? k : (int)(at + k);
	}
	if (k < 0 || (size_t)k >= len)
		return -1;
	at = k;
	k = snprintf(buf + at, len - at, "\"\n");
	return k < 0 || at + k >= len ? -1 : 0;
}

int cmd_add_blk(int fd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "readonly", no_argument, NULL, 'r' },
		{ "queues", required_argument, NULL, 'q' },
		{ "queue-size", required_argument, NULL, 's' },
		{ "iops", required_argument, NULL, 'i' },
		{ "bps", required_argument, NULL, 'b' },
		{ "serial", required_argument, NULL, 'S' },
		{ "write-through", no_argument, NULL, 'w' },
		{ "engine", no_argument, NULL, 'e' },
		{ "window", no_argument, NULL, 'W' },
		{ "nbd", required_argument, NULL, 'n' },
		{ "reconnect-ms", required_argument, NULL, 'c' },
		{ "unit", no_argument, NULL, 'U' },
		{ "hung-ms", required_argument, NULL, 'H' },
		{ }
	};
	struct iobond_device_add add = {
		.argsz = sizeof(add), .type = IOBOND_DEV_BLK,
		.num_queues = 1, .queue_size = 128,
	};
	struct iobond_device_ref ref = { .argsz = sizeof(ref) };
	struct iobond_budget *g;
	/* Each option once: 11 words at most, the budget's two, the disk's two. */
	char *extra[16] = { NULL }, uuid[37], log[PATH_MAX], budget[PATH_MAX];
	char unit[UNIT_NAME_MAX], vars[PATH_MAX + 512];
	const char *file = NULL, *uri = NULL, *serial = NULL;
	unsigned int seen = 0;
	bool readonly = false, write_through = false, use_unit = false;
	char path = 0;
	int opt, n = 0, ret;
	unsigned long v;

	/*
	 * "+": the words stay in order, for provision_record().  optind 0
	 * has glibc read each parser's optstring afresh.
	 */
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		const char *o = strchr(OPTS_ONCE, opt);

		/* Each once: extra[] holds one of each, and a second is a typo. */
		if (o && seen & 1u << (o - OPTS_ONCE))
			return usage_error("%s", "add-blk takes each option once");
		if (o)
			seen |= 1u << (o - OPTS_ONCE);
		switch (opt) {
		case 'f':
			file = optarg;
			break;
		case 'n':
			uri = optarg;
			break;
		case 'c':
		case 'H':
			if (parse_uint(optarg, 3600000, &v) || (opt == 'H' && v && v < 1000))
				return usage_error(opt == 'c' ? "--reconnect-ms %s: expected 0 to 3600000" :
						   "--hung-ms %s: expected 0, or 1000 to 3600000", optarg);
			extra[n++] = opt == 'c' ? "--reconnect-ms" : "--hung-ms";
			extra[n++] = optarg;
			break;
		case 'r':
			readonly = true;
			extra[n++] = "--readonly";
			break;
		case 'q':
			if (parse_uint(optarg, IOBOND_MAX_QUEUES, &v) || !v)
				return usage_error("--queues %s: expected 1 to 16", optarg);
			add.num_queues = v;
			break;
		case 's':
			if (parse_uint(optarg, IOBOND_BLK_QUEUE_MAX, &v))
				return usage_error("--queue-size %s: expected a power of two, 4 to 1024", optarg);
			add.queue_size = v;
			break;
		case 'i':
		case 'b':
			if (parse_uint(optarg, ULONG_MAX, &v) || *optarg == '-')
				return usage_error(opt == 'i' ? "--iops %s: expected a number" :
						   "--bps %s: expected a number", optarg);
			extra[n++] = opt == 'i' ? "--iops" : "--bps";
			extra[n++] = optarg;
			break;
		case 'S':
			if (strlen(optarg) > VIRTIO_BLK_ID_BYTES)
				return usage_error("--serial %s: at most 20 bytes", optarg);
			extra[n++] = "--serial";
			extra[n++] = optarg;
			serial = optarg;
			break;
		case 'w':
			write_through = true;
			break;
		case 'U':
			use_unit = true;
			break;
		case 'e':
		case 'W':
			if (path)
				return usage_error("%s", "--engine or --window, not both");
			path = opt == 'e' ? 'e' : 'w';
			break;
		default:
			return 2;
		}
	}
	if (!file == !uri || optind != argc)
		return usage_error("%s", "add-blk needs --file PATH or --nbd URI, and nothing else");
	if (file && seen & (1u << (strchr(OPTS_ONCE, 'c') - OPTS_ONCE) |
			    1u << (strchr(OPTS_ONCE, 'H') - OPTS_ONCE)))
		return usage_error("%s", "--reconnect-ms and --hung-ms are for --nbd disks");
	/* The unit runs in /: a relative path is made whole, links kept. */
	if (use_unit && file && file[0] != '/') {
		char *cwd = getcwd(NULL, 0), *whole = NULL;

		if (!cwd || asprintf(&whole, "%s/%s", cwd, file) < 0)
			return fail("add-blk --unit", ENOMEM, "--file");
		free(cwd);
		file = whole;
	}
	for (opt = 0; use_unit && opt < n; opt++)
		if (!unit_word_ok(extra[opt]))
			return usage_error("--unit: %s: " UNIT_WORD_RULE, extra[opt]);
	if (use_unit && !unit_word_ok(file ?: uri))
		return usage_error("--unit: %s: " UNIT_WORD_RULE, file ?: uri);
	/* What the unit's sandbox keeps from the backend, unless a drop-in. */
	if (use_unit && (file ? strncmp(file, "/var/lib/iobond/", 16) :
			 !strncmp(uri, "nbd://", 6)))
		fprintf(stderr, "iobondctl: %s: add-blk --unit: note: iobond-blk@.service reaches files under /var/lib/iobond and unix sockets only, unless a drop-in lets it (operations.rst)\n",
			board_name);
	/* The board's budget, which limit-blk sets for all its disks. */
	g = budget_map(budget, sizeof(budget));
	if (!g)
		return 1;
	munmap(g, sizeof(*g));
	extra[n++] = "--budget";
	extra[n++] = budget;
	extra[n++] = file ? "--file" : "--nbd";
	extra[n++] = (char *)(file ?: uri);
	if (disk_tag(file ?: uri, uri, serial, &add))
		return 1;
	add.flags = add_path_flags(fd, path);
	if (file ? size_disk(file, readonly, write_through, &add) :
	    size_nbd(uri, readonly, write_through, &add))
		return 1;
	common_features(readonly, write_through, &add);

	if (ioctl(fd, IOBOND_ADD_DEVICE, &add))
		return fail("add-blk", errno,
			    errno == ENOSPC ? NO_ROOM :
			    errno == EINVAL ? "the kernel log (dmesg) names the field" :
			    errno == ENXIO ? NO_ENGINE : NULL);
	ref.index = add.index;
	if (make_mdev(add.index, uuid))
		goto undo_dev;
	if (use_unit) {
		if (unit_blk_vars(vars, sizeof(vars), uuid, extra, n)) {
			fail("add-blk --unit", E2BIG, "the disk's words are too long for a unit's conf");
			goto undo_mdev;
		}
		if (unit_leave("iobond-blk", add.index, vars, unit, log))
			goto undo_mdev;
	} else {
		ret = spawn_backend(add.index, uuid, extra, log, sizeof(log));
		if (ret) {
			fail("add-blk: iobond-blk did not start", -ret, log);
			tail_log(log);
			goto undo_mdev;
		}
	}
	provision_record(fd, add.index, argc, argv);
	if (json) {
		printf("{\"index\":%u,\"mdev\":\"%s\",\"capacity\":%llu,",
		       add.index, uuid,
		       (unsigned long long)add.config.blk.capacity);
		if (use_unit) {
			printf("\"unit\":");
			json_str(unit);
			printf(",\"conf\":");
		} else
			printf("\"log\":");
		json_str(log);
		printf("}\n");
	} else if (use_unit) {
		printf("%s: dev%u added: %s, %llu sectors of 512, mdev %s, to be served by %s (%s; conf %s)\n",
		       board_name, add.index, file ?: uri,
		       (unsigned long long)add.config.blk.capacity, uuid, unit,
		       unit_started(), log);
	} else {
		printf("%s: dev%u added: %s, %llu sectors of 512, served by iobond-blk on mdev %s (log %s)\n",
		       board_name, add.index, file ?: uri,
		       (unsigned long long)add.config.blk.capacity, uuid, log);
	}
	return 0;

undo_mdev:
	blk_release(add.index);
undo_dev:
	ioctl(fd, IOBOND_REMOVE_DEVICE, &ref);
	return 1;
}
