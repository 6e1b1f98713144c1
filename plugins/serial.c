/*
 * Serial (CDC-ACM "USB COM") QR scanners: one code per CR/LF-ended line.
 *
 * [serial] Devices= lists device paths; the last part of a path may be a
 * glob pattern (/dev/serial/by-id/usb-*Scanner*).  devwatch.c finds them
 * at start and when they appear, so an unplugged scanner comes back as
 * soon as its node does.  "PATH=RATE" sets the rate of one device
 * (CDC-ACM ignores it; real UARTs need it).
 *
 * The port is held open with TIOCEXCL, so software that used to read the
 * scanner itself (a pharmacy's drug-box codes) gets a pass-through port
 * instead: PassThrough = pty (passpty.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "plugins.h"

#define READ_CHUNK	4096
#define READS_PER_WAKEUP 16	/* a flood must not starve the other sources */

struct serial_dev {
	struct devnode node;
	struct passpty *pty;
};

static struct devnode *devices;
static struct devwatch *devwatch;
static speed_t speed;
static bool pass_through;

static const struct vitaled_option serial_options[] = {
	{ "Devices", VITALED_OPT_STRLIST, "", 0, 0 },
	{ "Baud", VITALED_OPT_INT, "9600", 1200, 230400 },
	QR_CODE_GAP_OPTION,
	{ "PassThrough", VITALED_OPT_STRING, "none", 0, 0 },
	{ "PassThroughDirectory", VITALED_OPT_STRING, "/run/vitaled", 0, 0 },
	{ "PassThroughGroup", VITALED_OPT_STRING, "vitaled-passthrough", 0, 0 },
	{ NULL }
};

static speed_t baud_to_speed(long baud)
{
	static const struct { long baud; speed_t speed; } table[] = {
		{ 1200, B1200 }, { 2400, B2400 }, { 4800, B4800 }, { 9600, B9600 },
		{ 19200, B19200 }, { 38400, B38400 }, { 57600, B57600 },
		{ 115200, B115200 }, { 230400, B230400 },
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].baud == baud)
			return table[i].speed;
	return B0;
}

static void pass_line(struct qr_line *line, const uint8_t *code, size_t len,
		const uint8_t *end, size_t end_len)
{
	struct serial_dev *dev = line->pass_data;

	passpty_write(dev->pty, vitaled_reader_id(dev->node.reader), code, len, end, end_len);
}

static void dev_release(struct devnode *node)
{
	struct serial_dev *dev = (struct serial_dev *)node;

	if (dev->pty)
		vitaled_info("reader %s: pass-through %s removed", vitaled_reader_id(node->reader),
				passpty_link(dev->pty));
	passpty_close(dev->pty);
	dev->pty = NULL;
}

/* The scanner's pass-through port comes with it and goes with it. */
static void open_pass_through(struct serial_dev *dev)
{
	const char *id = vitaled_reader_id(dev->node.reader);
	int err;

	err = passpty_open(vitaled_config_string("serial", "PassThroughDirectory"), id,
			vitaled_config_string("serial", "PassThroughGroup"), &dev->pty);
	if (err < 0) {
		vitaled_warn("reader %s: no pass-through port in %s: %s", id,
				vitaled_config_string("serial", "PassThroughDirectory"), strerror(-err));
		return;
	}
	dev->node.line.pass = pass_line;
	dev->node.line.pass_data = dev;
	dev->node.release = dev_release;
	vitaled_info("reader %s: pass-through %s", id, passpty_link(dev->pty));
	vitaled_reader_set_pass_through(dev->node.reader, passpty_link(dev->pty));
}

static void dev_event(int fd, uint32_t events, void *user_data)
{
	struct devnode *dev = user_data;
	uint8_t buf[READ_CHUNK];
	int i;

	for (i = 0; i < READS_PER_WAKEUP; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			qr_line_feed_text(&dev->line, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* all read; a hang-up with nothing left is the end */
			if (events & (EPOLLHUP | EPOLLERR))
				break;
			explicit_bzero(buf, sizeof(buf));
			return;
		}
		/* 0 or EIO: the device is gone (unplugged, or the pty closed) */
		break;
	}
	explicit_bzero(buf, sizeof(buf));
	if (i == READS_PER_WAKEUP)
		return;		/* more to read: the level-triggered watch calls again */
	vitaled_info("reader %s: device closed", vitaled_reader_id(dev->reader));
	devnode_free(dev);
}

static int set_raw(int fd, speed_t rate)
{
	struct termios tio;

	if (tcgetattr(fd, &tio) < 0)
		return -errno;
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	cfsetispeed(&tio, rate);
	cfsetospeed(&tio, rate);
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		return -errno;
	tcflush(fd, TCIFLUSH);
	return 0;
}

static void dev_open(const char *path, const char *option, void *user_data)
{
	struct serial_dev *dev;
	const char *base;
	speed_t rate = speed;
	int fd, err;

	if (devnode_find(devices, path))
		return;
	if (option) {
		rate = baud_to_speed(strtol(option, NULL, 10));
		if (rate == B0) {
			vitaled_warn("serial: %s: '%s' is not a standard rate; device ignored",
					path, option);
			return;
		}
	}
	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		/* udev may not have set the permissions yet: IN_ATTRIB retries */
		vitaled_debug("serial: cannot open %s: %s", path, strerror(errno));
		return;
	}
	if (!isatty(fd)) {
		vitaled_warn("serial: %s is not a serial device; ignored", path);
		close(fd);
		return;
	}
	err = set_raw(fd, rate);
	if (err < 0) {
		vitaled_warn("serial: %s: cannot set raw mode: %s", path, strerror(-err));
		close(fd);
		return;
	}
	/* keep other programs (ModemManager probes) from opening it too */
	ioctl(fd, TIOCEXCL);

	base = strrchr(path, '/');
	dev = (struct serial_dev *)devnode_add(&devices, sizeof(*dev), "serial", path, fd,
			base ? base + 1 : path, VITALED_READER_QR_SERIAL, dev_event);
	if (dev && pass_through)
		open_pass_through(dev);
}

static void serial_exit(void)
{
	devnode_free_all(&devices);
	devwatch_free(devwatch);
	devwatch = NULL;
}

static int serial_init(void)
{
	int err;

	const char *pass = vitaled_config_string("serial", "PassThrough");
	const char *group = vitaled_config_string("serial", "PassThroughGroup");

	if (strcmp(pass, "pty") && strcmp(pass, "none")) {
		vitaled_error("serial: PassThrough: '%s' is not pty or none", pass);
		return -EINVAL;
	}
	pass_through = !strcmp(pass, "pty");
	if (pass_through && *group && !getgrnam(group)) {
		vitaled_error("serial: PassThroughGroup: no group '%s'", group);
		return -EINVAL;
	}
	if (pass_through && vitaled_config_string("serial", "PassThroughDirectory")[0] != '/') {
		vitaled_error("serial: PassThroughDirectory: not an absolute path");
		return -EINVAL;
	}
	speed = baud_to_speed(vitaled_config_int("serial", "Baud"));
	if (speed == B0) {
		vitaled_error("serial: Baud: %ld is not a standard rate",
				vitaled_config_int("serial", "Baud"));
		return -EINVAL;
	}
	err = devwatch_new("serial", vitaled_config_string("serial", "Devices"), dev_open,
			NULL, &devwatch);
	if (err < 0)
		return err;
	devwatch_rescan(devwatch);
	return 0;
}

VITALED_PLUGIN_DEFINE(serial, "Serial (CDC-ACM) QR code scanners", VERSION,
		serial_options, serial_init, serial_exit)
