/*
 * Internal header of the built-in source plugins (plugins/).
 *
 * Everything here is private to plugins/; the API they use towards the
 * daemon is include/vitaled/plugin.h.
 */
#ifndef VITALED_PLUGINS_H
#define VITALED_PLUGINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <vitaled/plugin.h>
#include "vitaled-core.h"

/* ---- pcsc: PC/SC readers through pcscd ------------------------------- */

#define PCSC_NAME_MAX	128	/* pcsc-lite's MAX_READERNAME */
#define PCSC_ATR_MAX	33	/* ISO 7816-3 */
#define PCSC_ID_MAX	48

/* pcsc-name.c: who a reader is, whatever order pcscd lists it in */

/* "pcsc-<hash of the name without pcscd's index>-<slot>"; disambiguation
 * between identical readers is the caller's business. */
void pcsc_reader_id(const char *name, char *id, size_t size);
bool pcsc_name_is_contactless(const char *name);
/* PC/SC part 3 ATR of a contactless card: 3B 8n 80 01 80 4F ... */
bool pcsc_atr_is_contactless(const uint8_t *atr, size_t len);
/* patterns: comma-separated, case-insensitive substrings of the name */
bool pcsc_name_matches(const char *name, const char *patterns);

/* pcsc-counter.c: was the card in a reader swapped between two reads of
 * pcscd's event counter, the card present at both? */
bool pcsc_counter_swapped(unsigned int before, unsigned int now);

/* pcsc.c: what the threads tell the loop */

enum pcsc_event_type {
	PCSC_EV_SERVICE_UP,
	PCSC_EV_SERVICE_DOWN,
	PCSC_EV_READER_ADDED,
	PCSC_EV_READERS_LISTED,	/* after a (re)connection: the rest is gone */
	PCSC_EV_READER_REMOVED,
	PCSC_EV_CARD_INSERTED,
	PCSC_EV_CARD_REMOVED,
	PCSC_EV_READ_WAITING,	/* another application has the card */
	PCSC_EV_READ_STARTED,	/* after READ_WAITING: the card is ours now */
	PCSC_EV_READ_DONE,
};

struct pcsc_event {
	struct pcsc_event *next;
	enum pcsc_event_type type;
	char reader[PCSC_NAME_MAX];
	uint8_t atr[PCSC_ATR_MAX];	/* CARD_INSERTED */
	size_t atr_len;
	bool mute;			/* CARD_INSERTED: no ATR, card does not answer */
	struct timespec seen;		/* CARD_INSERTED: when pcscd told us (monotonic) */
	uint64_t generation;		/* READ_*: which read */
	bool exclusive;			/* READ_WAITING: held exclusively, not just connected */
	bool card_gone;			/* READ_DONE: the card left mid-read */
	unsigned int reconnects;	/* READ_DONE: stale handle after a reset */
	long code;			/* SERVICE_DOWN, READ_DONE: the PC/SC error, if any */
	struct vd_read_result *result;	/* READ_DONE, owned */
};

struct pcsc_event *pcsc_event_new(enum pcsc_event_type type, const char *reader);
/* Thread-safe; takes ownership.  Handled on the loop thread. */
void pcsc_event_post(struct pcsc_event *ev);
void pcsc_event_free(struct pcsc_event *ev);
/* ts = now on clock + ms */
void pcsc_timespec_after(struct timespec *ts, clockid_t clock, unsigned int ms);

/* pcsc-monitor.c: the one thread that waits for reader and card events */

int pcsc_monitor_start(const char *ignore_readers, unsigned int max_delay_ms);
void pcsc_monitor_stop(void);

/* pcsc-worker.c: one thread per reader doing the card reads */

struct pcsc_worker;

struct pcsc_worker *pcsc_worker_start(const char *reader);
/* Start a read (takes a reference on ctx); it ends with a READ_DONE event.
 * A card another application holds is waited for up to about wait_ms
 * (READ_WAITING, then READ_STARTED); timeout_ms counts from then. */
void pcsc_worker_read(struct pcsc_worker *worker, uint64_t generation,
		const uint8_t *atr, size_t atr_len, struct vd_context *ctx,
		unsigned int timeout_ms, unsigned int wait_ms);
/* The card left or the read is no longer wanted: stop at the next APDU
 * (or stop waiting for another application). */
void pcsc_worker_abandon(struct pcsc_worker *worker);
/* How far the read of that generation got (APDUs sent, the profile seen);
 * false when the thread has sent none for it. */
bool pcsc_worker_progress(struct pcsc_worker *worker, uint64_t generation,
		unsigned int *apdus, enum vd_form_factor *form);
/* Joins the thread; one stuck in a hung card is left to finish alone. */
void pcsc_worker_stop(struct pcsc_worker *worker);

/* ---- QR scanners: serial, hidpos, wedge (qrline.c) ---------------------
 * Collects one scanned code in a fixed buffer and hands it to
 * vitaled_code_submit().  An over-long code is dropped whole (the source
 * resynchronises at the next end of code); a scanner sending codes faster
 * than anyone scans is throttled, so a flood cannot grow memory or objects.
 */
#define QR_CODE_MAX	4400	/* > 4296, the most a QR code (version 40-L) holds */
#define QR_END_MAX	4	/* line-end bytes kept with a code ("\r\n" and some) */

struct qr_line;
/* A code that is not a Vitale token, for the plugin to pass on to the
 * software that shares the scanner: its bytes and the line end it came
 * with (serial; none for other kinds).  A line end alone (len 0) follows
 * a code passed on whose CR and LF came in two reads. */
typedef void (*qr_pass_func)(struct qr_line *line, const uint8_t *code, size_t len,
		const uint8_t *end, size_t end_len);

struct qr_line {
	struct vitaled_reader *reader;
	unsigned int gap_ms;	/* silence that ends a partial code; 0 never */
	uint64_t last_ms;	/* monotonic time of the last byte put */
	struct vitaled_timer *gap_timer;	/* armed while a code is partial */
	size_t len;
	bool overflow;		/* dropping until the end of this code */
	unsigned int budget;	/* codes that may be submitted right now */
	uint64_t refilled_ms;	/* monotonic time of the last refill */
	unsigned long dropped;	/* codes throttled since the last submitted one */
	uint8_t *buf;		/* QR_CODE_MAX bytes from the first code on, else NULL */
	char aim[4];		/* the AIM identifier the source gave beside it, or "" */
	qr_pass_func pass;	/* set by the owner, or NULL: nothing passed on */
	void *pass_data;
	bool passed;		/* the last code was passed on */
	uint8_t *held;		/* a code passed on, not yet handed to the daemon */
	size_t held_len;
	char held_aim[4];
	struct vitaled_timer *held_timer;
	unsigned long ended;	/* codes ended or dropped so far */
};

/* Real scanners send a code in one burst: a partial code followed by
 * gap_ms of silence is dropped (logged), never glued to the next scan.
 * Scanner plugins take it from their CodeGap key (QR_CODE_GAP_OPTION). */
#define QR_CODE_GAP_OPTION	{ "CodeGap", VITALED_OPT_INT, "500", 20, 10000 }
void qr_line_init(struct qr_line *line, struct vitaled_reader *reader, unsigned int gap_ms);
void qr_line_put(struct qr_line *line, const uint8_t *data, size_t len);
/* The AIM identifier of the code being put, when the scanner sends it
 * beside the code's bytes (HID-POS); kept until the end of the code. */
void qr_line_set_symbology(struct qr_line *line, const char aim[4]);
/* Drop a partial code now if CodeGap has passed since its last byte (the
 * gap's timer may not have run yet): for owners keeping more than bytes. */
void qr_line_check_gap(struct qr_line *line);
/* End of code: submit what was collected (nothing if empty). */
void qr_line_end(struct qr_line *line);
/* Bytes with CR/LF ending each code (serial scanners); the line end goes
 * with a code passed on. */
void qr_line_feed_text(struct qr_line *line, const uint8_t *data, size_t len);
/* The scanner went away: a partial code is dropped (and logged), wiped,
 * the buffer and gap timer freed.  Owners call it before freeing a line. */
void qr_line_abort(struct qr_line *line, const char *why);

/* devwatch.c: Devices= nodes, found at start and when they appear
 * (inotify).  found() is called for every match, known or not. */
struct devwatch;
typedef void (*devwatch_found_func)(const char *path, const char *option, void *user_data);

int devwatch_new(const char *plugin, const char *list, devwatch_found_func found,
		void *user_data, struct devwatch **out);
void devwatch_rescan(struct devwatch *watch);
void devwatch_free(struct devwatch *watch);

/* devwatch.c: a node a scanner plugin opened (serial, wedge), in the
 * plugin's list of them; a plugin's own device struct begins with one. */
struct devnode {
	struct devnode *next;
	struct devnode **list;
	char *path;
	int fd;
	struct vitaled_watch *watch;
	struct vitaled_reader *reader;
	struct qr_line line;
	void (*release)(struct devnode *dev);	/* the plugin's own part */
};

struct devnode *devnode_find(struct devnode *list, const char *path);
/* Allocates size bytes (zeroed, at least a struct devnode) for path, owns
 * fd from here on (closed on failure), adds the reader "<plugin>-<path>"
 * and watches fd with event(fd, events, dev).  NULL on failure (logged). */
struct devnode *devnode_add(struct devnode **list, size_t size, const char *plugin,
		const char *path, int fd, const char *name, enum vitaled_reader_kind kind,
		vitaled_watch_func event);
/* Drops a partial code, calls release (if set), closes the node, removes
 * the reader. */
void devnode_free(struct devnode *dev);
void devnode_free_all(struct devnode **list);

/* passpty.c: a serial scanner's pass-through port, a pty linked as
 * dir/<stable id made a file name>, group-owned (group NULL or "": the
 * daemon's own, mode 0600).  Lines nobody has open are dropped. */
struct passpty;

int passpty_open(const char *dir, const char *reader_id, const char *group,
		struct passpty **out);
const char *passpty_link(const struct passpty *pt);
void passpty_write(struct passpty *pt, const char *reader_id, const uint8_t *code, size_t len,
		const uint8_t *end, size_t end_len);
/* Removes the link (if still ours) and the pty. */
void passpty_close(struct passpty *pt);

/* vkbd.c: a virtual keyboard on /dev/uinput, named name, with the key
 * codes below VKBD_KEYS (the keyboard range, all a scanner types). */
#define VKBD_KEYS	256
#define VKBD_BATCH	64	/* key events per write, each with its SYN_REPORT */

struct vkbd;
struct vkbd_key {
	uint16_t code;
	int8_t value;		/* 1 down, 0 up, 2 repeat */
};

int vkbd_open(const char *name, struct vkbd **out);
/* Each key event followed by a SYN_REPORT, as they came from a keyboard. */
int vkbd_type(struct vkbd *kb, const struct vkbd_key *keys, size_t n);
void vkbd_close(struct vkbd *kb);

/* hidpos-desc.c: the scanned-data report, as the report descriptor says */
#define HIDPOS_REPORT_MAX	512	/* bytes, report id excluded */

struct hidpos_layout {
	uint8_t report_id;	/* 0: the device uses no report ids */
	size_t report_len;	/* bytes after the report id */
	unsigned int data_off, data_len;	/* Decoded Data bytes */
	int len_off;		/* byte holding the data length, or -1 */
	int more_bit;		/* "Decode Data Continued" bit, or -1 */
	int sym_off;		/* Symbology Identifier 1-3 bytes, or -1 */
	unsigned int sym_len;
};

/* 0, -ENOENT not a bar code scanner, -EINVAL malformed, -E2BIG limits */
int hidpos_parse_descriptor(const uint8_t *desc, size_t len, struct hidpos_layout *out);
/* The data in one input report: 0, -ENOMSG another report, -EINVAL bad */
int hidpos_report_data(const struct hidpos_layout *layout, const uint8_t *report,
		size_t len, const uint8_t **data, size_t *data_len, bool *more);
/* The AIM identifier in a report hidpos_report_data() accepted: its
 * Symbology Identifier bytes as "]Xm" (some scanners leave out the "]"),
 * else "". */
void hidpos_report_symbology(const struct hidpos_layout *layout, const uint8_t *report,
		char out[4]);

#endif
