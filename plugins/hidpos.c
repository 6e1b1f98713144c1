/*
 * USB HID-POS bar code scanners through libusb.
 *
 * libusb runs on the daemon's loop: its file descriptors are loop watches
 * (libusb_set_pollfd_notifiers) and, when libusb cannot fold its transfer
 * timeouts into them, its next timeout is a loop timer.  Devices come and
 * go with hotplug callbacks; those only queue the device, and the probe
 * (descriptors, claim, first transfer) runs right after libusb returns,
 * as libusb asks.  Each scanner has one interrupt IN transfer in flight;
 * a code split over several reports is put together until the "more
 * follows" bit clears.
 *
 * usbhid is detached to claim a scanner and attached again whenever the
 * daemon lets it go (unplug, plugin stopped, exit): the scanner is then a
 * keyboard again for whatever else shares it, not a dead device.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libusb.h>

#include "plugins.h"

#define HID_DESCRIPTOR		0x21
#define HID_REPORT_DESCRIPTOR	0x22
#define REPORT_DESC_MAX		4096
#define CONTROL_TIMEOUT_MS	1000
#define UNWATCHED_SERVICE_MS	10

struct scanner {
	struct scanner *next;
	libusb_device *dev;
	libusb_device_handle *handle;
	struct libusb_transfer *transfer;
	int iface;
	bool claimed;
	bool detached;		/* we took the interface from its kernel driver */
	char usb_id[10];	/* "vvvv:pppp", for the log */
	bool in_flight;		/* the transfer is with libusb */
	bool closing;		/* stopping: freed once the transfer is back */
	struct hidpos_layout layout;
	struct vitaled_reader *reader;
	struct qr_line line;
	uint8_t buf[HIDPOS_REPORT_MAX + 1];
};

struct pending {
	struct pending *next;
	libusb_device *dev;
	bool arrived;
};

struct usb_fd {
	struct usb_fd *next;
	int fd;
	struct vitaled_watch *watch;
};

static libusb_context *ctx;
static libusb_hotplug_callback_handle hotplug_handle;
static bool hotplug_registered;
static struct scanner *scanners;
static struct pending *pending_head, **pending_tail = &pending_head;
static struct usb_fd *usb_fds;
static struct vitaled_timer *usb_timer;
static bool timeouts_in_fds;
static unsigned int unwatched_fds;

static const struct vitaled_option hidpos_options[] = {
	/* empty: every HID-POS scanner; else "vvvv:pppp" hex pairs */
	{ "Devices", VITALED_OPT_STRLIST, "", 0, 0 },
	QR_CODE_GAP_OPTION,
	{ NULL }
};

static void process_pending(void);
static void reap_stopped(void);
static void update_timeout(void);

/* ---- libusb on the loop --------------------------------------------- */

static void usb_handle(void)
{
	struct timeval zero = { 0, 0 };

	libusb_handle_events_timeout_completed(ctx, &zero, NULL);
	reap_stopped();
	process_pending();
	update_timeout();
}

static void usb_fd_event(int fd, uint32_t events, void *user_data)
{
	usb_handle();
}

static void usb_timer_fired(void *user_data)
{
	usb_timer = NULL;
	usb_handle();
}

static bool any_in_flight(void)
{
	struct scanner *s;

	for (s = scanners; s; s = s->next)
		if (s->in_flight)
			return true;
	return false;
}

static void update_timeout(void)
{
	struct timeval tv;
	unsigned int ms = UINT_MAX;

	if (!ctx)
		return;
	if (usb_timer) {
		vitaled_timer_remove(usb_timer);
		usb_timer = NULL;
	}
	if (!timeouts_in_fds && libusb_get_next_timeout(ctx, &tv) == 1)
		ms = (unsigned int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
	if (unwatched_fds && any_in_flight() && ms > UNWATCHED_SERVICE_MS)
		ms = UNWATCHED_SERVICE_MS;
	if (ms != UINT_MAX)
		usb_timer = vitaled_timer_add(ms, usb_timer_fired, NULL);
}

static uint32_t poll_to_epoll(short events)
{
	return (events & POLLIN ? EPOLLIN : 0) | (events & POLLOUT ? EPOLLOUT : 0);
}

static void fd_added(int fd, short events, void *user_data)
{
	struct usb_fd *u = calloc(1, sizeof(*u));
	struct stat st;

	if (!u) {
		vitaled_error("hidpos: out of memory watching a USB descriptor");
		return;
	}
	u->fd = fd;
	u->watch = vitaled_watch_add(fd, poll_to_epoll(events), usb_fd_event, NULL);
	if (!u->watch) {
		/* A regular file standing in for a device node (umockdev) cannot
		 * be watched; it is always ready, so libusb is serviced by a
		 * short timer while a transfer waits on it.  Real usbfs nodes
		 * are watched like any other descriptor. */
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			vitaled_error("hidpos: cannot watch USB descriptor %d", fd);
			free(u);
			return;
		}
		vitaled_debug("hidpos: descriptor %d is a plain file: serviced by a timer", fd);
		unwatched_fds++;
	}
	u->next = usb_fds;
	usb_fds = u;
}

static void fd_removed(int fd, void *user_data)
{
	struct usb_fd **p;

	for (p = &usb_fds; *p; p = &(*p)->next) {
		if ((*p)->fd == fd) {
			struct usb_fd *u = *p;

			*p = u->next;
			if (u->watch)
				vitaled_watch_remove(u->watch);
			else
				unwatched_fds--;
			free(u);
			return;
		}
	}
}

/* ---- scanners --------------------------------------------------------- */

static void give_back(struct scanner *s)
{
	int err = libusb_attach_kernel_driver(s->handle, s->iface);

	if (!err)
		vitaled_info("hidpos: %s: kernel driver attached again",
				s->usb_id);
	else if (err == LIBUSB_ERROR_NO_DEVICE)
		vitaled_debug("hidpos: %s: gone; nothing to attach again", s->usb_id);
	else
		vitaled_warn("hidpos: %s: cannot attach the kernel driver again: %s",
				s->usb_id, libusb_error_name(err));
}

static void scanner_destroy(struct scanner *s)
{
	struct scanner **p;

	for (p = &scanners; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	if (s->reader) {
		qr_line_abort(&s->line, "scanner released");
		vitaled_reader_remove(s->reader);
	}
	if (s->transfer)
		libusb_free_transfer(s->transfer);
	if (s->claimed)
		libusb_release_interface(s->handle, s->iface);
	if (s->detached)
		give_back(s);
	if (s->handle)
		libusb_close(s->handle);
	libusb_unref_device(s->dev);
	explicit_bzero(s->buf, sizeof(s->buf));
	free(s);
}

/* The reader goes at once; the rest once the transfer is back, and never
 * from inside a libusb callback (libusb_close there deadlocks). */
static void scanner_stop(struct scanner *s)
{
	if (!s->closing && s->reader) {
		qr_line_abort(&s->line, "scanner unplugged");
		vitaled_reader_remove(s->reader);
		s->reader = NULL;
	}
	s->closing = true;
	if (s->in_flight)
		libusb_cancel_transfer(s->transfer);
}

/* After libusb returns: free the scanners whose transfer has come back. */
static void reap_stopped(void)
{
	struct scanner *s, *next;

	for (s = scanners; s; s = next) {
		next = s->next;
		if (s->closing && !s->in_flight)
			scanner_destroy(s);
	}
}

static void report_received(struct scanner *s, const uint8_t *report, size_t len)
{
	const uint8_t *data;
	char aim[4];
	size_t n;
	bool more;
	int err;

	err = hidpos_report_data(&s->layout, report, len, &data, &n, &more);
	if (err == -ENOMSG)
		return;
	if (err) {
		vitaled_warn("reader %s: malformed scanner report (%zu bytes) ignored",
				vitaled_reader_id(s->reader), len);
		qr_line_abort(&s->line, "malformed report");
		return;
	}
	qr_line_put(&s->line, data, n);
	hidpos_report_symbology(&s->layout, report, aim);
	if (aim[0])
		qr_line_set_symbology(&s->line, aim);
	if (!more)
		qr_line_end(&s->line);
}

static void transfer_done(struct libusb_transfer *t)
{
	struct scanner *s = t->user_data;

	s->in_flight = false;
	if (s->closing)
		return;
	switch (t->status) {
	case LIBUSB_TRANSFER_COMPLETED:
		report_received(s, t->buffer, (size_t)t->actual_length);
		break;
	case LIBUSB_TRANSFER_TIMED_OUT:
		break;
	case LIBUSB_TRANSFER_NO_DEVICE:
		vitaled_info("reader %s: scanner gone", vitaled_reader_id(s->reader));
		scanner_stop(s);
		return;
	default:
		vitaled_warn("reader %s: transfer failed (status %d); scanner released",
				vitaled_reader_id(s->reader), t->status);
		scanner_stop(s);
		return;
	}
	explicit_bzero(t->buffer, (size_t)t->length);
	if (libusb_submit_transfer(t) < 0) {
		vitaled_warn("reader %s: cannot read the scanner any more; released",
				vitaled_reader_id(s->reader));
		scanner_stop(s);
		return;
	}
	s->in_flight = true;
}

/* Report descriptor length from the HID class descriptor of an interface. */
static int report_desc_len(const struct libusb_interface_descriptor *alt)
{
	const uint8_t *x = alt->extra;
	int left = alt->extra_length;

	while (left >= 2 && x[0] >= 2 && x[0] <= left) {
		if (x[1] == HID_DESCRIPTOR && x[0] >= 9) {
			unsigned int i, n = x[5];

			for (i = 0; i < n && 6 + 3 * i + 2 < x[0]; i++)
				if (x[6 + 3 * i] == HID_REPORT_DESCRIPTOR)
					return x[7 + 3 * i] | x[8 + 3 * i] << 8;
		}
		left -= x[0];
		x += x[0];
	}
	return -ENOENT;
}

/*
 * While the kernel's usbhid driver holds the interface, sysfs has the
 * report descriptor, readable without opening the device (the daemon's
 * user may open scanners only, not every keyboard and mouse).
 */
static int read_report_desc_sysfs(struct scanner *s, uint8_t *buf, int want)
{
	char path[PATH_MAX];
	uint8_t ports[8];
	int n, i, len, fd;
	size_t used;
	DIR *dir;
	struct dirent *de;

	n = libusb_get_port_numbers(s->dev, ports, sizeof(ports));
	if (n > 0) {
		used = (size_t)snprintf(path, sizeof(path), "/sys/bus/usb/devices/%u-",
				libusb_get_bus_number(s->dev));
		for (i = 0; i < n && used < sizeof(path); i++)
			used += (size_t)snprintf(path + used, sizeof(path) - used, "%s%u",
					i ? "." : "", ports[i]);
		if (used < sizeof(path))
			snprintf(path + used, sizeof(path) - used, ":1.%d", s->iface);
		dir = opendir(path);
		while (dir && (de = readdir(dir))) {
			char file[PATH_MAX];

			if (strncmp(de->d_name, "0003:", 5))
				continue;
			if (snprintf(file, sizeof(file), "%s/%s/report_descriptor", path,
					de->d_name) >= (int)sizeof(file))
				continue;
			fd = open(file, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			len = (int)read(fd, buf, (size_t)want);
			close(fd);
			if (len > 0) {
				closedir(dir);
				return len;
			}
		}
		if (dir)
			closedir(dir);
	}
	return -ENOENT;
}

/* Otherwise ask the device (no driver bound): a short control transfer. */
static int read_report_desc_usb(struct scanner *s, uint8_t *buf, int want)
{
	int len = libusb_control_transfer(s->handle,
			LIBUSB_ENDPOINT_IN | LIBUSB_RECIPIENT_INTERFACE,
			LIBUSB_REQUEST_GET_DESCRIPTOR, HID_REPORT_DESCRIPTOR << 8,
			(uint16_t)s->iface, buf, (uint16_t)want, CONTROL_TIMEOUT_MS);

	return len < 0 ? -EIO : len;
}

static bool device_allowed(const struct libusb_device_descriptor *dd)
{
	const char *list = vitaled_config_string("hidpos", "Devices");
	char want[16];
	const char *p;

	if (!list || !list[strspn(list, " \t,")])
		return true;
	snprintf(want, sizeof(want), "%04x:%04x", dd->idVendor, dd->idProduct);
	for (p = list; *p; ) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == 9 && !strncasecmp(p, want, 9))
			return true;
		p += n;
	}
	return false;
}

/* Find a HID interface with an interrupt IN endpoint; fills s->iface. */
static int find_interface(struct scanner *s, uint8_t *ep, uint16_t *ep_size, int *desc_len)
{
	struct libusb_config_descriptor *cfg;
	int i, j, ret = -ENOENT;

	if (libusb_get_active_config_descriptor(s->dev, &cfg) < 0)
		return -EIO;
	for (i = 0; i < cfg->bNumInterfaces && ret; i++) {
		const struct libusb_interface_descriptor *alt;

		if (cfg->interface[i].num_altsetting < 1)
			continue;
		alt = &cfg->interface[i].altsetting[0];
		if (alt->bInterfaceClass != LIBUSB_CLASS_HID)
			continue;
		for (j = 0; j < alt->bNumEndpoints; j++) {
			const struct libusb_endpoint_descriptor *e = &alt->endpoint[j];

			if ((e->bEndpointAddress & LIBUSB_ENDPOINT_IN) &&
			    (e->bmAttributes & 3) == LIBUSB_TRANSFER_TYPE_INTERRUPT) {
				*desc_len = report_desc_len(alt);
				if (*desc_len <= 0)
					break;
				s->iface = alt->bInterfaceNumber;
				*ep = e->bEndpointAddress;
				*ep_size = e->wMaxPacketSize;
				ret = 0;
				break;
			}
		}
	}
	libusb_free_config_descriptor(cfg);
	return ret;
}

static void scanner_probe(libusb_device *dev)
{
	struct libusb_device_descriptor dd;
	uint8_t desc[REPORT_DESC_MAX], ep = 0, ports[8];
	uint16_t ep_size = 0;
	char id[96], name[64];
	struct scanner *s;
	int len, want = 0, err, n, i;
	size_t used;

	for (s = scanners; s; s = s->next)
		if (s->dev == dev)
			return;
	if (libusb_get_device_descriptor(dev, &dd) < 0 || !device_allowed(&dd))
		return;
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->dev = libusb_ref_device(dev);
	snprintf(s->usb_id, sizeof(s->usb_id), "%04x:%04x", dd.idVendor, dd.idProduct);
	if (find_interface(s, &ep, &ep_size, &want) < 0)
		goto ignore;
	if (want > REPORT_DESC_MAX)
		want = REPORT_DESC_MAX;
	len = read_report_desc_sysfs(s, desc, want);
	if (len <= 0) {
		err = libusb_open(dev, &s->handle);
		if (err < 0) {
			/* not ours to open (a keyboard, a mouse): no noise about it */
			vitaled_debug("hidpos: %04x:%04x: cannot open it to read its report "
					"descriptor: %s", dd.idVendor, dd.idProduct,
					libusb_error_name(err));
			goto ignore;
		}
		len = read_report_desc_usb(s, desc, want);
	}
	if (len <= 0) {
		vitaled_warn("hidpos: %04x:%04x: cannot read its report descriptor",
				dd.idVendor, dd.idProduct);
		goto ignore;
	}
	err = hidpos_parse_descriptor(desc, (size_t)len, &s->layout);
	if (err == -ENOENT) {
		vitaled_debug("hidpos: %04x:%04x is not a HID-POS scanner", dd.idVendor, dd.idProduct);
		goto ignore;
	}
	if (err) {
		vitaled_warn("hidpos: %04x:%04x: unusable report descriptor (%s)",
				dd.idVendor, dd.idProduct, strerror(-err));
		goto ignore;
	}
	if (!s->handle && (err = libusb_open(dev, &s->handle)) < 0) {
		vitaled_warn("hidpos: %04x:%04x: a HID-POS scanner, but it cannot be opened: %s "
				"(see the udev rules)", dd.idVendor, dd.idProduct, libusb_error_name(err));
		goto ignore;
	}
	/* usbhid holds HID-POS scanners until told to let go */
	if (libusb_kernel_driver_active(s->handle, s->iface) == 1) {
		if (libusb_detach_kernel_driver(s->handle, s->iface) < 0)
			vitaled_warn("hidpos: %04x:%04x: cannot detach the kernel driver",
					dd.idVendor, dd.idProduct);
		else
			s->detached = true;
	}
	err = libusb_claim_interface(s->handle, s->iface);
	if (err < 0) {
		vitaled_warn("hidpos: %04x:%04x: cannot claim interface %d: %s",
				dd.idVendor, dd.idProduct, s->iface, libusb_error_name(err));
		goto ignore;
	}
	s->claimed = true;
	s->transfer = libusb_alloc_transfer(0);
	if (!s->transfer)
		goto ignore;
	libusb_fill_interrupt_transfer(s->transfer, s->handle, ep, s->buf,
			ep_size && ep_size <= sizeof(s->buf) ? ep_size : (int)sizeof(s->buf),
			transfer_done, s, 0);

	/* the port path: stable across replug into the same socket */
	used = (size_t)snprintf(id, sizeof(id), "hidpos-%04x:%04x-%u", dd.idVendor,
			dd.idProduct, libusb_get_bus_number(dev));
	n = libusb_get_port_numbers(dev, ports, sizeof(ports));
	for (i = 0; i < n && used < sizeof(id); i++)
		used += (size_t)snprintf(id + used, sizeof(id) - used, "%c%u", i ? '.' : '-',
				ports[i]);
	snprintf(name, sizeof(name), "HID-POS scanner %04x:%04x", dd.idVendor, dd.idProduct);
	s->reader = vitaled_reader_add(id, name, VITALED_READER_QR_HID);
	if (!s->reader)
		goto ignore;
	qr_line_init(&s->line, s->reader, (unsigned int)vitaled_config_int("hidpos", "CodeGap"));
	s->next = scanners;
	scanners = s;
	if (libusb_submit_transfer(s->transfer) < 0) {
		vitaled_warn("reader %s: cannot start reading", id);
		scanner_destroy(s);
		return;
	}
	s->in_flight = true;
	return;
ignore:
	scanner_destroy(s);
}

static void process_pending(void)
{
	while (pending_head) {
		struct pending *p = pending_head;
		struct scanner *s;

		pending_head = p->next;
		if (!pending_head)
			pending_tail = &pending_head;
		if (p->arrived) {
			scanner_probe(p->dev);
		} else {
			for (s = scanners; s; s = s->next) {
				if (s->dev == p->dev) {
					vitaled_info("reader %s: unplugged", vitaled_reader_id(s->reader));
					scanner_stop(s);
					reap_stopped();
					break;
				}
			}
		}
		libusb_unref_device(p->dev);
		free(p);
	}
}

/* libusb forbids most calls from here: remember the device for later. */
static int hotplug_event(libusb_context *c, libusb_device *dev,
		libusb_hotplug_event event, void *user_data)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p) {
		vitaled_error("hidpos: out of memory on a hotplug event");
		return 0;
	}
	p->dev = libusb_ref_device(dev);
	p->arrived = event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED;
	*pending_tail = p;
	pending_tail = &p->next;
	return 0;
}

static void hidpos_exit(void)
{
	struct timeval tv = { 0, 100 * 1000 };
	struct scanner *s, *next;
	int tries;

	if (!ctx)
		return;
	if (hotplug_registered)
		libusb_hotplug_deregister_callback(ctx, hotplug_handle);
	hotplug_registered = false;
	for (s = scanners; s; s = next) {
		next = s->next;
		scanner_stop(s);
	}
	reap_stopped();
	/* bounded wait for the cancelled transfers to come back */
	for (tries = 0; scanners && tries < 10; tries++) {
		libusb_handle_events_timeout_completed(ctx, &tv, NULL);
		reap_stopped();
	}
	if (scanners)
		vitaled_warn("hidpos: a USB transfer did not return; its scanner is left to libusb");
	while (pending_head) {
		struct pending *p = pending_head;

		pending_head = p->next;
		libusb_unref_device(p->dev);
		free(p);
	}
	pending_tail = &pending_head;
	if (usb_timer)
		vitaled_timer_remove(usb_timer);
	usb_timer = NULL;
	libusb_set_pollfd_notifiers(ctx, NULL, NULL, NULL);
	while (usb_fds)
		fd_removed(usb_fds->fd, NULL);
	if (!scanners)
		libusb_exit(ctx);
	ctx = NULL;
}

static int hidpos_init(void)
{
	const struct libusb_pollfd **fds;
	int err, i;

	err = libusb_init(&ctx);
	if (err < 0) {
		vitaled_info("hidpos: USB not available here (%s)", libusb_error_name(err));
		ctx = NULL;
		return -ENODEV;
	}
	timeouts_in_fds = libusb_pollfds_handle_timeouts(ctx);
	libusb_set_pollfd_notifiers(ctx, fd_added, fd_removed, NULL);
	fds = libusb_get_pollfds(ctx);
	for (i = 0; fds && fds[i]; i++)
		fd_added(fds[i]->fd, fds[i]->events, NULL);
	libusb_free_pollfds(fds);

	if (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
		err = libusb_hotplug_register_callback(ctx,
				LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
				LIBUSB_HOTPLUG_ENUMERATE, LIBUSB_HOTPLUG_MATCH_ANY,
				LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
				hotplug_event, NULL, &hotplug_handle);
		if (err < 0) {
			vitaled_error("hidpos: cannot register for USB hotplug: %s",
					libusb_error_name(err));
			hidpos_exit();
			return -EIO;
		}
		hotplug_registered = true;
	} else {
		libusb_device **list;
		ssize_t n = libusb_get_device_list(ctx, &list);

		vitaled_info("hidpos: no USB hotplug here; scanners are found at start only");
		for (i = 0; i < n; i++)
			hotplug_event(ctx, list[i], LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED, NULL);
		if (n >= 0)
			libusb_free_device_list(list, 1);
	}
	process_pending();
	update_timeout();
	return 0;
}

VITALED_PLUGIN_DEFINE(hidpos, "USB HID-POS QR code scanners", VERSION,
		hidpos_options, hidpos_init, hidpos_exit)
