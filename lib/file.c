/*
 * Opening a file whose path comes from a user (an image, a token file, the
 * configuration, the trust directory).  The open itself must not block:
 * a FIFO without a writer, or a tty, would hang the caller forever, so the
 * open is non-blocking and anything but a regular file is refused before a
 * byte is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vitaled-core.h"

int vd_open_regular(int dfd, const char *path, off_t *size)
{
	struct stat st;
	int fd, err;

	fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -ESPIPE;
	}
	if (size)
		*size = st.st_size;
	return fd;
}

FILE *vd_fopen_regular(const char *path, int *err)
{
	FILE *f;
	int fd = vd_open_regular(AT_FDCWD, path, NULL);

	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		*err = -errno;
		close(fd);
	}
	return f;
}

int vd_read_fd(int fd, size_t max, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;

	*out = NULL;
	*len = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* A pipe or a device could keep the reader waiting for ever. */
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -ESPIPE;
	if (st.st_size < 0 || (uint64_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EIO;	/* shrunk under us */
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

int vd_read_regular(int dfd, const char *path, size_t max, uint8_t **out, size_t *len)
{
	int fd = vd_open_regular(dfd, path, NULL), err;

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return fd;
	err = vd_read_fd(fd, max, out, len);
	close(fd);
	return err;
}

const char *vd_open_strerror(int err)
{
	if (err == -ESPIPE)
		return "not a regular file (a FIFO, device or socket)";
	if (err == -EFBIG)
		return "too large";
	return strerror(-err);
}
