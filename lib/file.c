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

const char *vd_open_strerror(int err)
{
	if (err == -ESPIPE)
		return "not a regular file (a FIFO, device or socket)";
	return strerror(-err);
}
