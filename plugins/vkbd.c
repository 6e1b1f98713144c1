/*
 * A virtual keyboard (/dev/uinput) that types, for the software sharing a
 * keyboard-wedge scanner, the codes that are not Vitale tokens: the key
 * events that came from the grabbed scanner, replayed as they came.  Key
 * codes, not characters: the desktop maps them with its own layout, as it
 * did before the daemon grabbed the scanner.
 *
 * Events go out with plain write() of whole struct input_event arrays (the
 * kernel stamps them); a code's events in as few writes as possible.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/uinput.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "plugins.h"

#define UINPUT_PATH	"/dev/uinput"

struct vkbd {
	int fd;
};

int vkbd_open(const char *name, struct vkbd **out)
{
	struct uinput_setup setup;
	struct vkbd *kb;
	unsigned int key;
	int err = 0;

	kb = calloc(1, sizeof(*kb));
	if (!kb)
		return -ENOMEM;
	kb->fd = open(UINPUT_PATH, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (kb->fd < 0) {
		err = -errno;
		free(kb);
		return err;
	}
	if (ioctl(kb->fd, UI_SET_EVBIT, EV_KEY) < 0 || ioctl(kb->fd, UI_SET_EVBIT, EV_SYN) < 0)
		err = -errno;
	/* no EV_REP: the scanner's own repeats, if any, are replayed as such */
	for (key = 1; !err && key < VKBD_KEYS; key++)
		if (ioctl(kb->fd, UI_SET_KEYBIT, key) < 0)
			err = -errno;
	memset(&setup, 0, sizeof(setup));
	setup.id.bustype = BUS_VIRTUAL;
	snprintf(setup.name, sizeof(setup.name), "%s", name);
	if (!err && (ioctl(kb->fd, UI_DEV_SETUP, &setup) < 0 ||
			ioctl(kb->fd, UI_DEV_CREATE) < 0))
		err = -errno;
	if (err) {
		close(kb->fd);
		free(kb);
		return err;
	}
	*out = kb;
	return 0;
}

static int write_events(int fd, const struct input_event *ev, size_t n)
{
	ssize_t w;

	do
		w = write(fd, ev, n * sizeof(*ev));
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return (size_t)w == n * sizeof(*ev) ? 0 : -EIO;
}

int vkbd_type(struct vkbd *kb, const struct vkbd_key *keys, size_t n)
{
	struct input_event ev[2 * VKBD_BATCH];
	size_t i, used = 0;
	int err = 0;

	memset(ev, 0, sizeof(ev));
	for (i = 0; i < n && !err; i++) {
		ev[used].type = EV_KEY;
		ev[used].code = keys[i].code;
		ev[used].value = keys[i].value;
		ev[used + 1].type = EV_SYN;
		ev[used + 1].code = SYN_REPORT;
		ev[used + 1].value = 0;
		used += 2;
		if (used == sizeof(ev) / sizeof(ev[0]) || i + 1 == n) {
			err = write_events(kb->fd, ev, used);
			used = 0;
		}
	}
	/* the keys of a prescription or a document may be personal */
	explicit_bzero(ev, sizeof(ev));
	return err;
}

void vkbd_close(struct vkbd *kb)
{
	if (!kb)
		return;
	ioctl(kb->fd, UI_DEV_DESTROY);
	close(kb->fd);
	free(kb);
}
