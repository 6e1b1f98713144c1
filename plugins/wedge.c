/*
 * Keyboard-wedge QR scanners through evdev.
 *
 * The scanner types the code as key presses, in the keyboard layout it was
 * set up for; the same key codes mean different characters in US and
 * French AZERTY layouts (digits need Shift on AZERTY, A/Q and Z/W swap,
 * ": % * + - . / $" move), so the layout is configured per device:
 * [wedge] Devices = /dev/input/by-id/usb-X-event-kbd=fr, Layout = us.
 * The device is grabbed (EVIOCGRAB) so its keystrokes never reach the
 * desktop (a token must not type a thousand characters into the focused
 * window); a code ends on Enter.
 *
 * The scanner may be shared with the practice or pharmacy software, which
 * used to get every code as keystrokes: with PassThrough = keyboard the
 * key events of one code are kept until it ends, then a Vitale token is
 * consumed and anything else is typed again, the same key events in the
 * same order with its Enter, on a virtual keyboard (vkbd.c).  The events
 * after the Enter (its release) follow the code's fate as they come.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "plugins.h"

#define EVENTS_PER_READ		64
#define READS_PER_WAKEUP	16
/* Shift, key, key up, Shift up per character: a code with more is longer
 * than any QR code, and dropped whole anyway. */
#define CODE_KEYS_MAX		(4 * QR_CODE_MAX)
#define UINPUT_NAME_MAX		80	/* linux/uinput.h UINPUT_MAX_NAME_SIZE */

/* What one key gives: plain, with Shift, with AltGr (UTF-8; "" none). */
struct keymap_entry {
	unsigned short code;
	const char *plain, *shift, *altgr;
};

struct layout {
	const char *name;
	const struct keymap_entry *keys;
};

/* Keys that are the same in both layouts. */
static const struct keymap_entry common_keys[] = {
	{ KEY_E, "e", "E", "" }, { KEY_R, "r", "R", "" }, { KEY_T, "t", "T", "" },
	{ KEY_Y, "y", "Y", "" }, { KEY_U, "u", "U", "" }, { KEY_I, "i", "I", "" },
	{ KEY_O, "o", "O", "" }, { KEY_P, "p", "P", "" }, { KEY_S, "s", "S", "" },
	{ KEY_D, "d", "D", "" }, { KEY_F, "f", "F", "" }, { KEY_G, "g", "G", "" },
	{ KEY_H, "h", "H", "" }, { KEY_J, "j", "J", "" }, { KEY_K, "k", "K", "" },
	{ KEY_L, "l", "L", "" }, { KEY_X, "x", "X", "" }, { KEY_C, "c", "C", "" },
	{ KEY_V, "v", "V", "" }, { KEY_B, "b", "B", "" }, { KEY_N, "n", "N", "" },
	{ KEY_SPACE, " ", " ", " " }, { KEY_TAB, "\t", "\t", "" },
	/* the keypad, NumLock on, as scanners assume */
	{ KEY_KP0, "0", "0", "" }, { KEY_KP1, "1", "1", "" }, { KEY_KP2, "2", "2", "" },
	{ KEY_KP3, "3", "3", "" }, { KEY_KP4, "4", "4", "" }, { KEY_KP5, "5", "5", "" },
	{ KEY_KP6, "6", "6", "" }, { KEY_KP7, "7", "7", "" }, { KEY_KP8, "8", "8", "" },
	{ KEY_KP9, "9", "9", "" }, { KEY_KPMINUS, "-", "-", "" }, { KEY_KPPLUS, "+", "+", "" },
	{ KEY_KPASTERISK, "*", "*", "" }, { KEY_KPSLASH, "/", "/", "" },
	{ KEY_KPDOT, ".", ".", "" },
	{ 0, NULL, NULL, NULL }
};

static const struct keymap_entry us_keys[] = {
	{ KEY_GRAVE, "`", "~", "" }, { KEY_1, "1", "!", "" }, { KEY_2, "2", "@", "" },
	{ KEY_3, "3", "#", "" }, { KEY_4, "4", "$", "" }, { KEY_5, "5", "%", "" },
	{ KEY_6, "6", "^", "" }, { KEY_7, "7", "&", "" }, { KEY_8, "8", "*", "" },
	{ KEY_9, "9", "(", "" }, { KEY_0, "0", ")", "" }, { KEY_MINUS, "-", "_", "" },
	{ KEY_EQUAL, "=", "+", "" }, { KEY_Q, "q", "Q", "" }, { KEY_W, "w", "W", "" },
	{ KEY_LEFTBRACE, "[", "{", "" }, { KEY_RIGHTBRACE, "]", "}", "" },
	{ KEY_A, "a", "A", "" }, { KEY_SEMICOLON, ";", ":", "" },
	{ KEY_APOSTROPHE, "'", "\"", "" }, { KEY_BACKSLASH, "\\", "|", "" },
	{ KEY_Z, "z", "Z", "" }, { KEY_M, "m", "M", "" }, { KEY_COMMA, ",", "<", "" },
	{ KEY_DOT, ".", ">", "" }, { KEY_SLASH, "/", "?", "" },
	{ KEY_102ND, "\\", "|", "" },
	{ 0, NULL, NULL, NULL }
};

/* French AZERTY (fr, as X11 and the Linux console lay it out). */
static const struct keymap_entry fr_keys[] = {
	{ KEY_GRAVE, "\xc2\xb2", "", "" },
	{ KEY_1, "&", "1", "" }, { KEY_2, "\xc3\xa9", "2", "~" }, { KEY_3, "\"", "3", "#" },
	{ KEY_4, "'", "4", "{" }, { KEY_5, "(", "5", "[" }, { KEY_6, "-", "6", "|" },
	{ KEY_7, "\xc3\xa8", "7", "`" }, { KEY_8, "_", "8", "\\" },
	{ KEY_9, "\xc3\xa7", "9", "^" }, { KEY_0, "\xc3\xa0", "0", "@" },
	{ KEY_MINUS, ")", "\xc2\xb0", "]" }, { KEY_EQUAL, "=", "+", "}" },
	{ KEY_Q, "a", "A", "" }, { KEY_W, "z", "Z", "" },
	{ KEY_RIGHTBRACE, "$", "\xc2\xa3", "" },
	{ KEY_A, "q", "Q", "" }, { KEY_SEMICOLON, "m", "M", "" },
	{ KEY_APOSTROPHE, "\xc3\xb9", "%", "" }, { KEY_BACKSLASH, "*", "\xc2\xb5", "" },
	{ KEY_Z, "w", "W", "" }, { KEY_M, ",", "?", "" }, { KEY_COMMA, ";", ".", "" },
	{ KEY_DOT, ":", "/", "" }, { KEY_SLASH, "!", "\xc2\xa7", "" },
	{ KEY_102ND, "<", ">", "" },
	/* KEY_LEFTBRACE is a dead key (^ and ¨): it types nothing by itself */
	{ 0, NULL, NULL, NULL }
};

static const struct layout layouts[] = {
	{ "us", us_keys },
	{ "fr", fr_keys },
};

struct wedge_dev {
	struct devnode node;	/* first: the device list holds these */
	const struct layout *layout;
	bool shift_left, shift_right, altgr, ctrl;
	unsigned int unmapped;	/* keys of this code the layout has no character for */
	uint8_t partial[sizeof(struct input_event)];
	size_t partial_len;
	/* pass-through */
	struct vkbd *kbd;	/* PassThrough = keyboard and /dev/uinput usable, else NULL */
	struct vkbd_key *keys;	/* the current code's key events (CODE_KEYS_MAX) */
	size_t n_keys;
	unsigned long code_no;	/* node.line.ended when they began */
	bool pass;		/* the code that just ended is to be typed */
	enum { TAIL_NONE, TAIL_PASS, TAIL_EAT } tail;	/* until its Enter is up */
	uint16_t end_key;
	struct vkbd_key out[VKBD_BATCH];	/* to type once this read's events are seen */
	size_t n_out;
};

static struct devnode *devices;
static struct devwatch *devwatch;

static bool pass_through;

static const struct vitaled_option wedge_options[] = {
	{ "Devices", VITALED_OPT_STRLIST, "", 0, 0 },
	{ "Layout", VITALED_OPT_STRING, "us", 0, 0 },
	QR_CODE_GAP_OPTION,
	{ "PassThrough", VITALED_OPT_STRING, "keyboard", 0, 0 },
	{ NULL }
};

static const struct layout *layout_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (!strcmp(layouts[i].name, name))
			return &layouts[i];
	return NULL;
}

static const struct keymap_entry *key_find(const struct keymap_entry *keys, unsigned int code)
{
	for (; keys->plain; keys++)
		if (keys->code == code)
			return keys;
	return NULL;
}

static void flush_typed(struct wedge_dev *dev)
{
	int err;

	if (!dev->n_out)
		return;
	err = vkbd_type(dev->kbd, dev->out, dev->n_out);
	explicit_bzero(dev->out, dev->n_out * sizeof(dev->out[0]));
	dev->n_out = 0;
	if (err < 0)
		vitaled_warn("reader %s: cannot type on the pass-through keyboard: %s",
				vitaled_reader_id(dev->node.reader), strerror(-err));
}

/* Typed once the events of the read at hand are seen: a code and the
 * release of its Enter read together go out in one write (under umockdev,
 * bench-share, a write is a round trip: two took 1.7 times the floor). */
static void type_keys(struct wedge_dev *dev, const struct vkbd_key *keys, size_t n)
{
	while (n--) {
		if (dev->n_out == VKBD_BATCH)
			flush_typed(dev);
		dev->out[dev->n_out++] = *keys++;
	}
}

/* qrline: the code is not a Vitale token (decided with the line's text) */
static void pass_code(struct qr_line *line, const uint8_t *code, size_t len,
		const uint8_t *end, size_t end_len)
{
	struct wedge_dev *dev = line->pass_data;

	dev->pass = true;
}

static void drop_keys(struct wedge_dev *dev)
{
	if (dev->keys)
		explicit_bzero(dev->keys, dev->n_keys * sizeof(dev->keys[0]));
	dev->n_keys = 0;
}

/* Every key event of a code, modifiers and keys with no character too;
 * the text is decoded from the same events by key_event(). */
static void record_key(struct wedge_dev *dev, uint16_t code, int32_t value)
{
	struct vkbd_key k = { code, (int8_t)value };

	if (!dev->kbd || code >= VKBD_KEYS)
		return;
	if (dev->tail != TAIL_NONE) {
		/* a new key before the Enter is up: the next code has begun */
		if (value == 1 && code != dev->end_key) {
			dev->tail = TAIL_NONE;
		} else {
			if (dev->tail == TAIL_PASS)
				type_keys(dev, &k, 1);
			if (code == dev->end_key && value == 0)
				dev->tail = TAIL_NONE;
			return;
		}
	}
	/* the line dropped the code these belong to (CodeGap): asked before
	 * this key is kept, in case the loop is late with the gap's timer */
	qr_line_check_gap(&dev->node.line);
	if (dev->n_keys && dev->code_no != dev->node.line.ended)
		drop_keys(dev);
	if (!dev->n_keys)
		dev->code_no = dev->node.line.ended;
	if (dev->n_keys == CODE_KEYS_MAX)
		return;		/* the line drops this code as too long */
	if (!dev->keys && !(dev->keys = malloc(CODE_KEYS_MAX * sizeof(dev->keys[0]))))
		return;
	dev->keys[dev->n_keys++] = k;
}

static void end_code(struct wedge_dev *dev, uint16_t end_key)
{
	if (dev->unmapped)
		vitaled_warn("reader %s: %u keys have no character in the '%s' layout; "
				"is the scanner set to another one?",
				vitaled_reader_id(dev->node.reader), dev->unmapped,
				dev->layout->name);
	dev->unmapped = 0;
	dev->pass = false;
	qr_line_end(&dev->node.line);
	if (!dev->kbd)
		return;
	if (dev->pass && dev->n_keys)
		type_keys(dev, dev->keys, dev->n_keys);
	dev->tail = dev->pass ? TAIL_PASS : TAIL_EAT;
	dev->end_key = end_key;
	drop_keys(dev);
}

static void key_event(struct wedge_dev *dev, unsigned int code, int value)
{
	const struct keymap_entry *k;
	bool shift;
	const char *s;

	switch (code) {
	case KEY_LEFTSHIFT:
		dev->shift_left = value != 0;
		return;
	case KEY_RIGHTSHIFT:
		dev->shift_right = value != 0;
		return;
	case KEY_RIGHTALT:
		dev->altgr = value != 0;
		return;
	case KEY_LEFTCTRL:
	case KEY_RIGHTCTRL:
		dev->ctrl = value != 0;
		return;
	}
	if (value != 1)		/* releases and auto-repeat type nothing */
		return;
	if (code == KEY_ENTER || code == KEY_KPENTER) {
		end_code(dev, (uint16_t)code);
		return;
	}
	if (dev->ctrl)		/* scanner control sequences, not text */
		return;
	shift = dev->shift_left || dev->shift_right;
	k = key_find(dev->layout->keys, code);
	if (!k)
		k = key_find(common_keys, code);
	s = !k ? NULL : dev->altgr ? k->altgr : shift ? k->shift : k->plain;
	if (!s || !*s) {
		if (code != KEY_LEFTBRACE || dev->layout->keys != fr_keys)
			dev->unmapped++;
		return;
	}
	qr_line_put(&dev->node.line, (const uint8_t *)s, strlen(s));
}

static void dev_event(int fd, uint32_t events, void *user_data)
{
	struct wedge_dev *dev = user_data;
	struct input_event ev[EVENTS_PER_READ];
	int i;

	for (i = 0; i < READS_PER_WAKEUP; i++) {
		/* the kernel hands out whole events; a relay may not: keep a tail */
		uint8_t *buf = (uint8_t *)ev;
		ssize_t n;
		size_t have, j;

		memcpy(buf, dev->partial, dev->partial_len);
		n = read(fd, buf + dev->partial_len, sizeof(ev) - dev->partial_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && !(events & (EPOLLHUP | EPOLLERR)))
			return;
		if (n <= 0)
			break;	/* ENODEV: unplugged */
		have = dev->partial_len + (size_t)n;
		for (j = 0; j < have / sizeof(ev[0]); j++) {
			if (ev[j].type != EV_KEY)
				continue;
			record_key(dev, ev[j].code, ev[j].value);
			key_event(dev, ev[j].code, ev[j].value);
		}
		flush_typed(dev);
		dev->partial_len = have % sizeof(ev[0]);
		memcpy(dev->partial, buf + have - dev->partial_len, dev->partial_len);
		explicit_bzero(ev, sizeof(ev));
	}
	if (i == READS_PER_WAKEUP)
		return;
	vitaled_info("reader %s: device closed", vitaled_reader_id(dev->node.reader));
	devnode_free(&dev->node);	/* closing the node ends the grab */
}

static void dev_release(struct devnode *node)
{
	struct wedge_dev *dev = (struct wedge_dev *)node;

	drop_keys(dev);
	free(dev->keys);
	dev->keys = NULL;
	if (dev->kbd)
		vitaled_info("reader %s: pass-through keyboard removed",
				vitaled_reader_id(node->reader));
	vkbd_close(dev->kbd);
	dev->kbd = NULL;
}

/* The virtual keyboard comes and goes with the scanner. */
static void open_pass_through(struct wedge_dev *dev, const char *scanner)
{
	const char *id = vitaled_reader_id(dev->node.reader);
	char name[UINPUT_NAME_MAX];
	int err;

	snprintf(name, sizeof(name), "vitaled pass-through: %s", scanner);
	err = vkbd_open(name, &dev->kbd);
	if (err < 0) {
		vitaled_warn("reader %s: no pass-through keyboard (%s): codes that are not "
				"Vitale tokens are not typed", id, strerror(-err));
		return;
	}
	dev->node.line.pass = pass_code;
	dev->node.line.pass_data = dev;
	dev->node.release = dev_release;
	vitaled_info("reader %s: pass-through keyboard \"%s\"", id, name);
	vitaled_reader_set_pass_through(dev->node.reader, name);
}

/* "PATH=LAYOUT", "PATH=PASSTHROUGH" or "PATH=LAYOUT:PASSTHROUGH": this
 * scanner's own settings; the group's keys otherwise. */
static bool device_options(const char *option, const struct layout **layout, bool *pass)
{
	char buf[32], *word, *save = NULL;

	*layout = layout_find(vitaled_config_string("wedge", "Layout"));
	*pass = pass_through;
	if (!option)
		return true;
	if (snprintf(buf, sizeof(buf), "%s", option) >= (int)sizeof(buf))
		return false;
	for (word = strtok_r(buf, ":", &save); word; word = strtok_r(NULL, ":", &save)) {
		if (layout_find(word))
			*layout = layout_find(word);
		else if (!strcmp(word, "keyboard") || !strcmp(word, "none"))
			*pass = !strcmp(word, "keyboard");
		else
			return false;
	}
	return true;
}

static void dev_open(const char *path, const char *option, void *user_data)
{
	char name[257] = "";
	const struct layout *layout;
	struct wedge_dev *dev;
	bool pass;
	int fd;

	if (devnode_find(devices, path))
		return;
	if (!device_options(option, &layout, &pass)) {
		vitaled_warn("wedge: %s: unknown setting '%s' (us, fr, keyboard, none, as "
				"LAYOUT:PASSTHROUGH); device ignored", path, option);
		return;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		vitaled_debug("wedge: cannot open %s: %s", path, strerror(errno));
		return;
	}
	/* without the grab every code would also be typed into the desktop */
	if (ioctl(fd, EVIOCGRAB, (void *)1) < 0) {
		vitaled_warn("wedge: cannot grab %s (%s): another program holds it; ignored",
				path, strerror(errno));
		close(fd);
		return;
	}
	if (ioctl(fd, EVIOCGNAME(sizeof(name) - 1), name) < 0 || !name[0])
		snprintf(name, sizeof(name), "%s", strrchr(path, '/') + 1);

	dev = (struct wedge_dev *)devnode_add(&devices, sizeof(*dev), "wedge", path, fd, name,
			VITALED_READER_QR_KEYBOARD, dev_event);
	if (!dev)
		return;
	dev->layout = layout;
	vitaled_debug("reader %s: grabbed, layout %s", vitaled_reader_id(dev->node.reader),
			layout->name);
	if (pass)
		open_pass_through(dev, name);
}

static void wedge_exit(void)
{
	devnode_free_all(&devices);
	devwatch_free(devwatch);
	devwatch = NULL;
}

static int wedge_init(void)
{
	const char *layout = vitaled_config_string("wedge", "Layout");
	const char *pass = vitaled_config_string("wedge", "PassThrough");
	int err;

	if (strcmp(pass, "keyboard") && strcmp(pass, "none")) {
		vitaled_error("wedge: PassThrough: '%s' is not keyboard or none", pass);
		return -EINVAL;
	}
	pass_through = !strcmp(pass, "keyboard");
	if (!layout_find(layout)) {
		vitaled_error("wedge: Layout: unknown keyboard layout '%s' (us or fr)", layout);
		return -EINVAL;
	}
	err = devwatch_new("wedge", vitaled_config_string("wedge", "Devices"), dev_open,
			NULL, &devwatch);
	if (err < 0)
		return err;
	devwatch_rescan(devwatch);
	return 0;
}

VITALED_PLUGIN_DEFINE(wedge, "Keyboard-wedge QR code scanners (evdev)", VERSION,
		wedge_options, wedge_init, wedge_exit)
