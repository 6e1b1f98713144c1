/*
 * vitalectl internals: one file per command group, dispatched from vitalectl.c.
 */
#ifndef VITALECTL_H
#define VITALECTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <libintl.h>
#include <dbus/dbus.h>

/* Translations (po/): _() where a string is printed, N_() in tables that
 * are translated when printed.  Machine output (--json, exit codes) never
 * goes through them. */
#define _(s)	gettext(s)
#define N_(s)	(s)

/* Documented exit codes (vitalectl(1)). */
enum vitalectl_exit {
	VITALECTL_OK = 0,
	VITALECTL_FAILED = 1,		/* the check or verification said no */
	VITALECTL_USAGE = 2,
	VITALECTL_NO_DAEMON = 3,	/* vitaled is not running / not reachable */
	VITALECTL_DENIED = 4,		/* the caller is not authorised */
};

struct vitalectl_opts {
	bool json;
	bool color;		/* only on a terminal, and not with NO_COLOR */
	bool session_bus;
	const char *config;	/* --config: vitaled.conf to read (diag, trust) */
};

/* Connect to the bus vitaled is on; NULL with a message on failure. */
DBusConnection *vitalectl_bus(const struct vitalectl_opts *opts);

/* For a command without arguments: -1 when there are none (go on); else
 * its usage on stdout for --help (VITALECTL_OK) or on stderr for anything
 * else (VITALECTL_USAGE), the exit status to return. */
int ctl_no_args(int argc, char **argv, const char *usage);

int cmd_status(int argc, char **argv, const struct vitalectl_opts *opts);
int cmd_readers(int argc, char **argv, const struct vitalectl_opts *opts);
int cmd_watch(int argc, char **argv, const struct vitalectl_opts *opts);
int cmd_show(int argc, char **argv, const struct vitalectl_opts *opts);
int cmd_diag(int argc, char **argv, const struct vitalectl_opts *opts);
int cmd_trust(int argc, char **argv, const struct vitalectl_opts *opts);
int cmd_token(int argc, char **argv, const struct vitalectl_opts *opts);

/* ---- json.c: the one JSON writer (every --json output goes through it) */

#define JSON_MAX_DEPTH	16

struct json_object;

/* The document is built as a json-c tree and written by json_finish(). */
struct json {
	FILE *out;
	struct json_object *root;
	struct json_object *open[JSON_MAX_DEPTH];	/* containers being filled */
	unsigned int depth;
	unsigned int too_deep;		/* levels beyond the table: left out */
	char *key;			/* the key of the next value in an object */
};

void json_init(struct json *j, FILE *out);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_key(struct json *j, const char *key);
/* Escaped by json-c; invalid UTF-8 as U+FFFD.  NULL is written as null. */
void json_string(struct json *j, const char *s);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Writes the document, a newline, flushes (one object per line) and
 * frees it, wiping its strings (they may hold personal data). */
void json_finish(struct json *j);

static inline void json_key_string(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_string(j, s);
}

static inline void json_key_int(struct json *j, const char *key, int64_t v)
{
	json_key(j, key);
	json_int(j, v);
}

static inline void json_key_uint(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_uint(j, v);
}

static inline void json_key_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	json_bool(j, v);
}

/* ---- value.c: D-Bus replies as a tree, for lookups and --json -------- */

/* A decoded D-Bus value: variants are unwrapped; a{..} dictionaries have
 * type DBUS_TYPE_DICT_ENTRY and keyed items (keys as text); arrays and
 * structs have type DBUS_TYPE_ARRAY. */
struct ctl_value {
	int type;
	char *key;
	union {
		char *s;
		uint64_t u;
		int64_t i;
		double d;
		bool b;
	};
	struct ctl_value *items;
	size_t n;
};

int ctl_value_read(DBusMessageIter *it, struct ctl_value *out);
/* Frees, wiping strings first (they may hold personal data). */
void ctl_value_clear(struct ctl_value *v);
const struct ctl_value *ctl_value_get(const struct ctl_value *dict, const char *key);
/* Typed lookups in a dictionary: "" / false / 0 when absent or mistyped. */
const char *ctl_str(const struct ctl_value *dict, const char *key);
bool ctl_bool(const struct ctl_value *dict, const char *key);
uint64_t ctl_uint(const struct ctl_value *dict, const char *key);
void ctl_value_json(struct json *j, const struct ctl_value *v);

/* ---- bus.c: calls to vitaled ----------------------------------------- */

#define CTL_CALL_TIMEOUT_MS	10000

/* vitalectl exit code for a failed call (no daemon, denied, failed). */
int ctl_error_exit(const DBusError *err);
/* Says in plain words why what failed, on stderr; returns ctl_error_exit(). */
int ctl_error_report(const char *what, const DBusError *err);
/* Blocking call; the reply, or NULL with err set. Takes msg. */
DBusMessage *ctl_call(DBusConnection *conn, DBusMessage *msg, DBusError *err);
/* GetManagedObjects at the root: dict path -> dict interface -> properties. */
int ctl_managed_objects(DBusConnection *conn, struct ctl_value *out, DBusError *err);
/* Properties.GetAll of one interface. */
int ctl_get_all(DBusConnection *conn, const char *path, const char *iface,
		struct ctl_value *out, DBusError *err);
/* The properties of iface in one managed object, NULL when it has none. */
const struct ctl_value *ctl_object_iface(const struct ctl_value *object, const char *iface);
/* Managed objects with iface, oldest first (the daemon's order); caller
 * frees the array (not the objects). */
size_t ctl_objects_with(const struct ctl_value *objects, const char *iface,
		const struct ctl_value ***out);

/* ---- output.c: terminal presentation ---------------------------------- */

enum ctl_color { CTL_RESET, CTL_BOLD, CTL_DIM, CTL_GREEN, CTL_YELLOW, CTL_RED, CTL_CYAN };

/* The escape sequence, or "" when colours are off. */
const char *ctl_color(const struct vitalectl_opts *opts, enum ctl_color color);
/* Colour for a verification status name (verified green, unverifiable
 * yellow, reading cyan, others red). */
enum ctl_color ctl_status_color(const char *status);
/* Plain words for machine names: "phone-nfc" -> "phone over NFC", ... */
const char *ctl_form_text(const char *form);
/* A Status value (or reader state) in the user's language; the name
 * itself when unknown.  --json keeps the name. */
const char *ctl_status_text(const char *status);
/* Reader1.Kind in the user's language (English: the name itself). */
const char *ctl_kind_text(const char *kind);
/* The card's marker (production, test, demo) in the user's language. */
const char *ctl_marker_text(const char *marker);
#define CTL_TRUST_COUNTS_SIZE	240
/* "2 roots, 1 signer, 0 CRLs, 3 opposed serials" in the user's language;
 * returns buf. */
const char *ctl_trust_counts(uint64_t roots, uint64_t signers, uint64_t crls, uint64_t opposed,
		char buf[CTL_TRUST_COUNTS_SIZE]);
struct ctl_column {
	const char *title;	/* marked with N_() */
	unsigned int width;	/* characters, the last column's unused */
};

/* A table's header line, in bold: lead, then the titles translated and
 * padded to their widths. */
void ctl_print_header(const struct vitalectl_opts *opts, const char *lead,
		const struct ctl_column *cols, size_t n);
/* s then spaces up to width characters (UTF-8 aware), then one space. */
void ctl_print_padded(const char *s, unsigned int width);
/* "2026-11-26 18:30:05" local time, "-" for 0. */
void ctl_format_time(time_t t, char buf[32]);
/* "2026-11-26" local date, "-" for 0 (in French "26/11/2026"). */
void ctl_format_date(time_t t, char buf[16]);
/* An ISO date from vitaled ("1980-03-15") the way the user's language
 * writes it ("15/03/1980"); anything else as it is, "-" for "".
 * Returns buf. */
const char *ctl_date_text(const char *iso, char buf[16]);

/* ---- config.c: what vitalectl reads from vitaled.conf ------------------ */

struct ctl_config {
	char path[512];			/* the main file read ("" if none) */
	bool found;
	char trust_dir[512];
	char list_root_dir[512];	/* [Trust] ListRootDirectory */
	char state_dir[512];		/* [General] StateDirectory */
	char client_group[64];
	bool allow_test_cards;
	char serial_devices[512];	/* [serial] Devices, as written */
	char wedge_devices[512];	/* [wedge] Devices, as written */
	char wedge_pass_through[16];	/* [wedge] PassThrough ("keyboard" unset) */
	char enable_plugins[256];
	char disable_plugins[256];
	/* [Tokens] ClockSkew, MaxAge, MaxInflatedSize; -1 when not set */
	long clock_skew, token_max_age, token_max_inflated;
	char problem[600];		/* first file that could not be read */
};

/* path NULL: the default file; its drop-ins are read too.  Lenient: the
 * daemon validates, vitalectl only needs a few keys. */
void ctl_config_load(const char *path, struct ctl_config *out);
bool ctl_config_plugin_enabled(const struct ctl_config *cfg, const char *plugin);

/* ---- trust.c: the trust directory, read the way the daemon does ------- */

enum ctl_trust_kind { CTL_TRUST_ROOT, CTL_TRUST_SIGNER, CTL_TRUST_CRL };

struct ctl_trust_item {
	enum ctl_trust_kind kind;
	char file[256];
	char subject[256];		/* CRL: its issuer */
	time_t not_before;		/* CRL: last update */
	time_t not_after;		/* CRL: next update (0 none) */
	/* valid, expired, not-yet-valid, revoked, untrusted; CRL: current, stale */
	char status[24];
	char reason[160];
	unsigned int revoked;		/* CRL: entries */
};

struct ctl_trust {
	char dir[512];
	bool dir_ok;			/* the directory could be read */
	unsigned int n_roots, n_signers, n_crls, n_opposed;
	struct ctl_trust_item *items;
	size_t n_items;
	char **problems;		/* "file: why" for every unusable file */
	size_t n_problems;
};

/* Never fails for bad material: problems and statuses say what is wrong.
 * Returns 0 or -ENOMEM. */
int ctl_trust_inspect(const char *dir, time_t now, struct ctl_trust *out);
void ctl_trust_clear(struct ctl_trust *t);

/* trust-install.c: vitalectl trust install FILE, and what a bundle says */
int ctl_trust_install(int argc, char **argv, const struct vitalectl_opts *opts);
/* The trust directory vitaled uses: its installed bundle's set when
 * manager (Manager1 properties, NULL if unknown) says it has one. */
void ctl_trust_dir_in_use(const struct ctl_config *cfg, const struct ctl_value *manager,
		char *out, size_t len);
/* A sentence about the installed bundle for status and diag ("" when all
 * is well): stale, expiring within warn_days, last install refused. */
bool ctl_trust_bundle_problem(const struct ctl_value *manager, time_t now,
		unsigned int warn_days, char *out, size_t len);

#endif
