/*
 * vitaled daemon internals.  The plugin-visible API is include/vitaled/plugin.h.
 */
#ifndef VITALED_DAEMON_H
#define VITALED_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <vitaled/dbus.h>
#include <vitaled/plugin.h>
#include "vitaled-core.h"

/* sysexits.h EX_CONFIG: a configuration error stops start-up with it. */
#define EXIT_CONFIG 78

/* ---- loop.c ---------------------------------------------------------- */

int loop_init(void);
/* Runs until loop_quit(), then runs what was posted meanwhile and refuses
 * later posts (-ESHUTDOWN); returns the status passed to loop_quit(). */
int loop_run(void);
void loop_quit(int status);
void loop_cleanup(void);
/* Handle a signal on the loop (signalfd); the signal is blocked in all threads. */
int loop_add_signal(int signo, vitaled_callback_func func, void *user_data);
/* Block the handled signals: call before any thread is created. */
int loop_block_signals(void);

/* ---- wipe.c: free() and realloc() wipe what they give back ------------ */

/* Empty libdbus's message cache, whose bodies keep sent replies. */
void wipe_dbus_message_cache(void);

/* ---- log.c ----------------------------------------------------------- */

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
void log_init(enum log_level level);
/* Audit trail (releases of personal data: who, which card, outcome — never
 * the data): logged whatever the level. */
void log_audit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- audit.c: the audit trail of the data methods -------------------- */

struct audit_caller {
	bool have_uid;
	unsigned int uid;
	unsigned int pid;	/* 0: unknown */
};
/* One line per call, with the caller's quoted command name; refusals
 * (refusal true; outcome a string that lives as long as the program) of
 * one caller and outcome are coalesced per window into one count line. */
void audit_call(const char *method, const char *card_id, const struct audit_caller *who,
		const char *outcome, bool refusal);
/* Counts not yet written are written (at shutdown). */
void audit_flush(void);

/* ---- notify.c: systemd readiness and watchdog (sd_notify protocol) ---
 * Each returns 1 when sent, 0 without $NOTIFY_SOCKET (not under systemd),
 * or -errno.  Loop thread only.
 */
/* Start-up done (bus name owned, sources started); also starts watchdog
 * keep-alives from a loop timer when $WATCHDOG_USEC asks for them. */
int notify_ready(void);
/* SIGHUP: before reloading; call notify_ready() when done (either way). */
int notify_reloading(void);
/* Shutdown begun: stops the keep-alives. */
int notify_stopping(void);

/* ---- config.c -------------------------------------------------------- */

struct config;

/* A group of keys; plugin groups come from their descriptors. */
struct config_schema {
	const char *group;
	const struct vitaled_option *options;
};

/*
 * Parse path and then path's drop-in directory (dropin_dir, *.conf in
 * name order, later values win), validating against schemas (NULL
 * terminated).  On error, writes "file:line: what is wrong" into err.
 * A missing main file is not an error when missing_ok.
 */
int config_load(const char *path, const char *dropin_dir, bool missing_ok,
		const struct config_schema *const *schemas,
		char *err, size_t err_len, struct config **out);
void config_free(struct config *config);
/* Make config the one vitaled_config_*() read (takes ownership). */
void config_set_current(struct config *config);
/* Did a configuration file set this key (rather than the default)? */
bool config_is_set(const char *group, const char *key);

/* ---- plugin.c -------------------------------------------------------- */

/* Find built-in plugins and load external ones from dir (their schemas
 * are needed before the configuration can be validated). */
int plugin_load_all(const char *dir);
/* NULL-terminated schemas of every known plugin, for config_load(). */
const struct config_schema *const *plugin_schemas(void);
/* Start the plugins the configuration enables. */
/* ready runs once every source has announced the readers present at
 * start (vitaled_source_enumerated), or after max_ms. */
void plugin_start(vitaled_callback_func ready, unsigned int max_ms);
void plugin_stop(void);
/* One line per plugin: name, built-in or external, version, description. */
void plugin_print_list(FILE *out);

/* ---- engine.c: verification context, trust store, replay cache ------- */

int engine_init(void);
/* Rebuild the context from the current configuration (SIGHUP). */
int engine_reload(void);
void engine_cleanup(void);
struct vd_replay *engine_replay(void);
struct vd_context *engine_context(void);	/* borrowed */
/* [General] StateDirectory, or the one systemd made for us. */
const char *engine_state_directory(void);
/* A newly installed trust store (trust-install.c, loaded in load_us
 * elsewhere) replaces the one in force. */
void engine_set_trust(struct vd_trust *trust, const char *dir, uint64_t load_us);
uint64_t engine_monotonic_us(void);
/* Stale trust material ([Trust] MaxAge, doc/admin.md): the reason (or
 * NULL when fresh); refuse says whether verdicts are refused. */
const char *engine_trust_stale(time_t now, bool *refuse);
/* Applied to every finished read (card.c): stale material is said, or refused. */
void engine_apply_freshness(struct vd_read_result *result);

/* ---- trust-install.c: signed trust bundles ------------------------------ */

struct trust_bundle_info {
	uint64_t version;
	time_t issued;
	time_t expires;
	char source[65];
};
int trust_install_init(void);		/* before engine_init(): picks the set */
void trust_install_start(void);		/* the drop directory, once the loop runs */
void trust_install_cleanup(void);
const char *trust_install_dir(void);	/* installed set, or NULL: [Trust] Directory */
const struct trust_bundle_info *trust_bundle_installed(void);	/* NULL: none */
const char *trust_install_last_error(void);	/* "" if none */
struct DBusMessage;
/* Manager1.InstallTrustBundle from an authorised caller: answered later;
 * -errno when it cannot start (the caller replies). */
int trust_install_call(struct DBusMessage *call);

/* ---- reader.c / card.c: the objects published on D-Bus --------------- */

enum card_state {
	CARD_STATE_READING,
	CARD_STATE_WAITING,	/* another application holds the card */
	CARD_STATE_DONE,
};

struct vitaled_reader {
	char *id;
	char *name;
	enum vitaled_reader_kind kind;
	enum vitaled_reader_state state;
	unsigned int serial;		/* per-process counter, for object paths */
	unsigned int other_codes;	/* scanned codes that were not Vitale tokens */
	char *pass_through;		/* where they go, or NULL */
	void *bus_data;			/* owned by the D-Bus service */
};

struct vitaled_card {
	unsigned int serial;		/* per-process counter, for log lines */
	char id[VITALED_DBUS_CARD_ID_LEN + 1];	/* its object path's end: 128 random bits */
	struct vitaled_reader *reader;	/* NULL once detached (reader gone, phone read) */
	char reader_id[64];		/* the source reader's stable id, kept for good */
	enum card_state state;
	char waiting[96];		/* WAITING: why, in plain words */
	struct vd_read_result *result;	/* set when state is DONE */
	time_t read_time;		/* wall clock, when the read finished */
	struct timespec started;	/* monotonic, when the read began */
	struct vitaled_timer *lifetime;	/* phone reads: wiped when it fires */
	bool held;			/* the source plugin still holds it */
	bool gone;			/* destroyed while held: a shell until released */
	void *bus_data;
};

const char *reader_kind_name(enum vitaled_reader_kind kind);
const char *reader_state_name(enum vitaled_reader_state state);

/* Visit every reader / card (stop when func returns false). */
void reader_foreach(bool (*func)(struct vitaled_reader *reader, void *data), void *data);
void card_foreach(bool (*func)(struct vitaled_card *card, void *data), void *data);
struct vitaled_card *card_find(const char *id);
/* A phone read ends before its lifetime: a client is done with it, or it
 * makes room for a newer one.  why goes to the log. */
void card_release(struct vitaled_card *card, const char *why);
void card_cleanup(void);
/* The reader went away: its cards go too (phone reads stay, detached). */
void card_reader_gone(struct vitaled_reader *reader);
void reader_cleanup(void);

/*
 * Observers (the D-Bus service) learn about objects as they change.
 * Called on the loop thread; a callback may be NULL.
 */
struct vitaled_observer {
	void (*reader_added)(struct vitaled_reader *reader);
	void (*reader_changed)(struct vitaled_reader *reader);
	void (*reader_removed)(struct vitaled_reader *reader);
	void (*card_added)(struct vitaled_card *card);
	void (*card_changed)(struct vitaled_card *card);
	void (*card_removed)(struct vitaled_card *card);
};

void observer_register(const struct vitaled_observer *observer);
void observer_unregister(const struct vitaled_observer *observer);
/* Used by reader.c and card.c to notify. */
enum observer_event {
	OBSERVE_READER_ADDED, OBSERVE_READER_CHANGED, OBSERVE_READER_REMOVED,
	OBSERVE_CARD_ADDED, OBSERVE_CARD_CHANGED, OBSERVE_CARD_REMOVED,
};
void observer_notify(enum observer_event event, void *object);

/* ---- dbus-service.c ---------------------------------------------------- */

/* Connect to the system bus (or the session bus) and publish the objects;
 * then own org.vitaled.  Losing the bus or the name makes the daemon exit. */
int dbus_service_init(bool session_bus);
int dbus_service_own_name(void);
void dbus_service_cleanup(void);
/* Trust store or settings changed (after engine_reload()): re-publish the
 * Manager1 properties that depend on them. */
void dbus_service_manager_changed(void);
/* Only Manager1 properties changed (a bundle installed, TrustStale turned). */
void dbus_service_manager_props_changed(void);
/* A scanner read a code that is not a Vitale token: Reader1.OtherCode to
 * the clients the bus policy lets receive our signals. */
void dbus_service_other_code(struct vitaled_reader *reader, const uint8_t *data, size_t len);

/* ---- dbus-*.c: the D-Bus service's own parts ------------------------- */

struct DBusConnection;
struct DBusMessage;
struct DBusMessageIter;

/* dbus-service.c: answer a call (takes the reply) unless it asked for
 * no reply.  Loop thread only, like all of libdbus here. */
void bus_reply(struct DBusMessage *call, struct DBusMessage *reply);

/* dbus-loop.c: libdbus on the main loop.  attach: 0 or -ENOMEM; detach
 * after the connection is closed and unreferenced. */
int bus_loop_attach(struct DBusConnection *conn);
void bus_loop_dispatch_soon(void);
void bus_loop_detach(void);

/* dbus-access.c: the data methods, for authorised callers only, audited. */
enum bus_data_method {
	BUS_DATA_BENEFICIARIES,
	BUS_DATA_AFFILIATION,
	BUS_DATA_RELEASE,
	BUS_TRUST_INSTALL,	/* Manager1.InstallTrustBundle: root only */
};
void bus_access_init(struct DBusConnection *conn, bool session_bus);
void bus_access_reload(void);
void bus_access_cleanup(void);
/* Answers call now or once the caller's credentials are known. */
void bus_access_call(struct DBusMessage *call, const char *card_id,
		enum bus_data_method method);

/* dbus-error.c: internal errno and verdicts → org.vitaled.Error.* */
int bus_card_data_status(const struct vitaled_card *card);
const char *bus_error_name(int err);
struct DBusMessage *bus_error_reply(struct DBusMessage *call, int err,
		const struct vitaled_card *card, const char *detail);

/* dbus-data.c: personal data as method replies */
int bus_data_parse_date(const char *text, struct vd_date *out);
bool bus_data_beneficiaries(struct DBusMessageIter *iter,
		const struct vd_read_result *result, const struct vd_date *date);
bool bus_data_affiliation(struct DBusMessageIter *iter,
		const struct vd_read_result *result);

#endif
