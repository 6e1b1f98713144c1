/*
 * Pass-through port of a serial scanner shared with the pharmacy (or any
 * other) software: a pty whose slave side is linked as
 * <dir>/<reader's stable id>, which that software opens instead of the
 * scanner's own /dev/ttyACM*.  Every line that is not a Vitale token is
 * written to it verbatim, line end included — what a vendor's "virtual
 * COM port" splitter does.
 *
 * Like a real port, nothing is kept for a program that has not opened it:
 * a line written while nobody holds the slave open would be read, stale,
 * by the next program to open it.  The master reports a hang-up while the
 * slave is closed; it cannot stay in the loop's epoll set (a hang-up is
 * reported without end), so it is polled at each write.  What the program
 * writes to the port (scanner commands) is read and dropped then.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "plugins.h"

struct passpty {
	int master;
	char *link;
	char slave[64];
	unsigned long dropped;	/* lines nobody could take since the last one written */
};

/* "serial-/dev/serial/by-id/usb-X" -> "serial-dev-serial-by-id-usb-X" */
static void link_name(const char *id, char *out, size_t size)
{
	size_t n = 0;
	bool dash = false;

	for (; *id && n + 1 < size; id++) {
		char c = *id;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';

		if (!ok || c == '-') {
			if (!dash && n)
				out[n++] = '-';
			dash = true;
			continue;
		}
		out[n++] = c;
		dash = false;
	}
	out[n] = '\0';
}

/* Raw, so that the program reads the scanner's bytes as they came (no
 * CR to LF, no echo), and opened once, so that "closed" shows as a hang-up. */
static int setup_slave(const char *slave, gid_t gid)
{
	struct termios tio;
	int fd, err = 0;

	fd = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &tio) < 0)
		err = -errno;
	if (!err) {
		cfmakeraw(&tio);
		if (tcsetattr(fd, TCSANOW, &tio) < 0)
			err = -errno;
	}
	if (!err && gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) < 0)
		err = -errno;
	if (!err && fchmod(fd, gid != (gid_t)-1 ? 0660 : 0600) < 0)
		err = -errno;
	close(fd);
	return err;
}

int passpty_open(const char *dir, const char *reader_id, const char *group,
		struct passpty **out)
{
	char name[NAME_MAX + 1], tmp[PATH_MAX];
	struct passpty *pt;
	gid_t gid = (gid_t)-1;
	int err;

	if (group && *group) {
		struct group *gr = getgrnam(group);

		if (!gr)
			return -ENOENT;
		gid = gr->gr_gid;
	}
	pt = calloc(1, sizeof(*pt));
	if (!pt)
		return -ENOMEM;
	link_name(reader_id, name, sizeof(name));
	if (asprintf(&pt->link, "%s/%s", dir, name) < 0) {
		free(pt);
		return -ENOMEM;
	}
	pt->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (pt->master < 0) {
		err = -errno;
		goto fail;
	}
	if (grantpt(pt->master) < 0 || unlockpt(pt->master) < 0 ||
			ptsname_r(pt->master, pt->slave, sizeof(pt->slave)) != 0) {
		err = -errno;
		goto fail;
	}
	err = setup_slave(pt->slave, gid);
	if (err < 0)
		goto fail;
	/* a complete link or none: a program watching dir sees one event */
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.new", dir, name) >= (int)sizeof(tmp)) {
		err = -ENAMETOOLONG;
		goto fail;
	}
	unlink(tmp);
	if (symlink(pt->slave, tmp) < 0 || rename(tmp, pt->link) < 0) {
		err = -errno;
		unlink(tmp);
		goto fail;
	}
	*out = pt;
	return 0;
fail:
	if (pt->master >= 0)
		close(pt->master);
	free(pt->link);
	free(pt);
	return err;
}

const char *passpty_link(const struct passpty *pt)
{
	return pt->link;
}

static void drain_input(int fd)
{
	uint8_t buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

void passpty_write(struct passpty *pt, const char *reader_id, const uint8_t *code, size_t len,
		const uint8_t *end, size_t end_len)
{
	struct pollfd p = { .fd = pt->master, .events = POLLOUT };
	uint8_t line[QR_CODE_MAX + QR_END_MAX];
	ssize_t n;

	if (len > QR_CODE_MAX || end_len > QR_END_MAX)
		return;
	if (poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR))) {
		pt->dropped++;
		vitaled_debug("reader %s: nobody has %s open; line dropped", reader_id, pt->link);
		return;
	}
	drain_input(pt->master);
	/* One write: a program that keeps up reads whole lines.  One that
	 * stopped reading fills the pty and loses lines (or the end of one). */
	if (len)	/* a line end alone comes without a code */
		memcpy(line, code, len);
	if (end_len)
		memcpy(line + len, end, end_len);
	do
		n = write(pt->master, line, len + end_len);
	while (n < 0 && errno == EINTR);
	explicit_bzero(line, len + end_len);
	if (n != (ssize_t)(len + end_len)) {
		if (!pt->dropped++)
			vitaled_warn("reader %s: the program on %s does not read; lines dropped",
					reader_id, pt->link);
		return;
	}
	if (pt->dropped > 1)
		vitaled_debug("reader %s: %lu lines were dropped on %s", reader_id, pt->dropped,
				pt->link);
	pt->dropped = 0;
}

void passpty_close(struct passpty *pt)
{
	char target[sizeof(pt->slave)];
	ssize_t n;

	if (!pt)
		return;
	/* another instance may have linked its own pty there since */
	n = readlink(pt->link, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		if (!strcmp(target, pt->slave))
			unlink(pt->link);
	}
	close(pt->master);
	free(pt->link);
	free(pt);
}
