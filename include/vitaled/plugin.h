/*
 * vitaled — plugin API for credential sources (PC/SC readers, QR scanners, cameras).
 *
 * A source plugin turns hardware events into readers and reads.  Everything
 * here must be called from the main-loop thread, except vitaled_post(),
 * which is how worker threads hand results back to the loop.
 */
#ifndef VITALED_PLUGIN_H
#define VITALED_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a structure or function below changes incompatibly. */
#define VITALED_PLUGIN_ABI_VERSION 1

#define VITALED_EXPORT __attribute__((visibility("default")))

/* ---- configuration schema ------------------------------------------ */

enum vitaled_option_type {
	VITALED_OPT_STRING,
	VITALED_OPT_INT,
	VITALED_OPT_BOOL,
	VITALED_OPT_STRLIST,	/* comma-separated list */
};

/* One key of the plugin's own configuration group ("[name]"). */
struct vitaled_option {
	const char *key;
	enum vitaled_option_type type;
	const char *default_value;	/* NULL: unset */
	long min, max;			/* VITALED_OPT_INT bounds */
};

/* ---- plugin descriptor --------------------------------------------- */

struct vitaled_plugin_desc {
	unsigned int abi_version;
	const char *name;
	const char *description;
	const char *version;
	const struct vitaled_option *options;	/* terminated by { NULL } */
	int (*init)(void);	/* 0, or a negative errno: the plugin stays off */
	void (*exit)(void);
};

#ifdef VITALED_PLUGIN_BUILTIN
#define VITALED_PLUGIN_DEFINE(name, description, version, options, init, exit) \
	const struct vitaled_plugin_desc __vitaled_builtin_ ## name = { \
		VITALED_PLUGIN_ABI_VERSION, #name, description, version, \
		options, init, exit };
#else
#define VITALED_PLUGIN_DEFINE(name, description, version, options, init, exit) \
	extern VITALED_EXPORT const struct vitaled_plugin_desc vitaled_plugin_desc; \
	VITALED_EXPORT const struct vitaled_plugin_desc vitaled_plugin_desc = { \
		VITALED_PLUGIN_ABI_VERSION, #name, description, version, \
		options, init, exit };
#endif

/* ---- main loop ------------------------------------------------------ */

struct vitaled_watch;
struct vitaled_timer;

/* events are EPOLLIN/EPOLLOUT/...; EPOLLERR and EPOLLHUP always reported */
typedef void (*vitaled_watch_func)(int fd, uint32_t events, void *user_data);
typedef void (*vitaled_callback_func)(void *user_data);

VITALED_EXPORT struct vitaled_watch *vitaled_watch_add(int fd, uint32_t events,
		vitaled_watch_func func, void *user_data);
VITALED_EXPORT int vitaled_watch_modify(struct vitaled_watch *watch, uint32_t events);
VITALED_EXPORT void vitaled_watch_remove(struct vitaled_watch *watch);

/* One-shot monotonic timer; it is freed after it fires or is removed. */
VITALED_EXPORT struct vitaled_timer *vitaled_timer_add(unsigned int msec,
		vitaled_callback_func func, void *user_data);
VITALED_EXPORT void vitaled_timer_remove(struct vitaled_timer *timer);

/*
 * Thread-safe: run func(user_data) on the loop thread soon.  0: it will
 * run, exactly once, also when the daemon is stopping.  -errno: it will
 * not, and user_data is still the caller's to free: -ESHUTDOWN once the
 * loop has run its last posts (a worker finishing while the plugin's
 * exit() stops it), -ENOMEM.
 */
VITALED_EXPORT int vitaled_post(vitaled_callback_func func, void *user_data);

/* ---- logging -------------------------------------------------------
 * Log lines name readers by their stable id and reads by verdict only.
 * Never pass personal data (NIR, names, birth dates, rights): the types
 * that carry it (struct vd_record) have no "to string" helper on purpose.
 */
VITALED_EXPORT void vitaled_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
VITALED_EXPORT void vitaled_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
VITALED_EXPORT void vitaled_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
VITALED_EXPORT void vitaled_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- configuration -------------------------------------------------
 * Values of the plugin's group, already validated against its schema.
 */
VITALED_EXPORT const char *vitaled_config_string(const char *group, const char *key);
VITALED_EXPORT long vitaled_config_int(const char *group, const char *key);
VITALED_EXPORT bool vitaled_config_bool(const char *group, const char *key);

/* ---- readers and reads ----------------------------------------------- */

enum vitaled_reader_kind {
	VITALED_READER_CONTACT,
	VITALED_READER_CONTACTLESS,
	VITALED_READER_QR_SERIAL,
	VITALED_READER_QR_HID,
	VITALED_READER_QR_KEYBOARD,
	VITALED_READER_CAMERA,
};

enum vitaled_reader_state {
	VITALED_READER_IDLE,		/* present, nothing on it */
	VITALED_READER_CARD_PRESENT,	/* card on it, being read or read */
	VITALED_READER_UNAVAILABLE,	/* known but not usable right now */
};

struct vitaled_reader;
struct vitaled_card;
struct vd_read_result;	/* lib/vitaled-core.h: verdict + record */

/*
 * stable_id survives replug and reordering (e.g. "pcsc-<hash of name
 * without index>", "serial-<by-id path>"); name is for humans.
 */
VITALED_EXPORT struct vitaled_reader *vitaled_reader_add(const char *stable_id,
		const char *name, enum vitaled_reader_kind kind);
VITALED_EXPORT void vitaled_reader_set_state(struct vitaled_reader *reader,
		enum vitaled_reader_state state);
/* What the reader turned out to be (e.g. a contactless card in a slot
 * whose name did not say so). */
VITALED_EXPORT void vitaled_reader_set_kind(struct vitaled_reader *reader,
		enum vitaled_reader_kind kind);
/* Where the codes that are not Vitale tokens go for the software sharing a
 * scanner (a pass-through port's path, a virtual keyboard's name); NULL
 * or "": nowhere.  Published as Reader1.PassThrough. */
VITALED_EXPORT void vitaled_reader_set_pass_through(struct vitaled_reader *reader,
		const char *where);
VITALED_EXPORT void vitaled_reader_remove(struct vitaled_reader *reader);
VITALED_EXPORT const char *vitaled_reader_id(const struct vitaled_reader *reader);

/*
 * A chip (card or phone over NFC) appeared: the card object exists in
 * state "reading" until vitaled_card_complete().  vitaled_card_remove()
 * wipes what it holds; a card removed before completion publishes nothing.
 * The plugin holds the card until it calls vitaled_card_remove() — even if
 * the daemon ended the read meanwhile (a client released a phone read, its
 * lifetime ran out): the pointer stays valid until then.  Remove a
 * reader's card before removing the reader.
 */
VITALED_EXPORT struct vitaled_card *vitaled_card_new(struct vitaled_reader *reader);
/* Takes ownership of result (wiped and freed by the daemon). */
VITALED_EXPORT void vitaled_card_complete(struct vitaled_card *card,
		struct vd_read_result *result);
VITALED_EXPORT void vitaled_card_remove(struct vitaled_card *card);
/*
 * The read cannot start yet: someone else holds the card (another PC/SC
 * application).  why, in plain words, is the card's StatusReason until
 * vitaled_card_set_waiting(card, NULL) says the read goes on.
 */
VITALED_EXPORT void vitaled_card_set_waiting(struct vitaled_card *card, const char *why);

/*
 * A QR source read a code: bytes as scanned (prefix + base45 text).
 * The daemon verifies it, folds a rescan of the same code within a short
 * window into the first read, and publishes a card object for it.
 */
VITALED_EXPORT void vitaled_token_submit(struct vitaled_reader *reader,
		const uint8_t *data, size_t len);
/*
 * The same, with the code's AIM symbology identifier ("]E0" EAN-13) when
 * the source has one beside the code rather than in it (a HID-POS
 * report's symbology bytes); NULL or "" when it has none.  Only a code
 * that is not a Vitale token uses it (Reader1.OtherCode).
 */
VITALED_EXPORT void vitaled_code_submit(struct vitaled_reader *reader,
		const uint8_t *data, size_t len, const char *symbology);

/*
 * A source that finds its readers in the background says so from its
 * init() (once it will succeed) with vitaled_source_enumerating(), then
 * calls vitaled_source_enumerated() once, when the readers present at
 * start are announced (or it knows there are none for now).  The daemon
 * takes its bus name only then, so that a client woken by the name finds
 * every reader at once.
 */
VITALED_EXPORT void vitaled_source_enumerating(void);
VITALED_EXPORT void vitaled_source_enumerated(void);

/*
 * PC/SC source: whether pcscd is reachable right now (published as
 * org.vitaled.Manager1.PcscAvailable; false until a source says so).
 */
VITALED_EXPORT void vitaled_pcsc_set_available(bool available);

/* The engine settings and trust store in force (reference counted). */
struct vd_context;
VITALED_EXPORT struct vd_context *vitaled_verify_context(void);

#ifdef __cplusplus
}
#endif
#endif
