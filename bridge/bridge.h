/*
 * vitaled-web-bridge: the native-messaging host between a browser
 * extension and org.vitaled (doc/web.md).  One process per page
 * connection, started by the browser as the desktop user; single-threaded.
 */
#ifndef BRIDGE_H
#define BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>
#include <dbus/dbus.h>
#include <json-c/json.h>

#define BRIDGE_PROTOCOL		1
/* Incoming messages: the browser's limit is far larger; ours is what a
 * request can need (an id, a method, a card path and a date). */
#define BRIDGE_MAX_IN		(64 * 1024)
/* Outgoing: Chromium refuses messages from a host over 1 MiB. */
#define BRIDGE_MAX_OUT		(1024 * 1024 - 1)
/* "https://" + a DNS name (253) + ":65535" */
#define BRIDGE_ORIGIN_MAX	(8 + 253 + 6)
#define BRIDGE_ALLOW_DIR_ENV	"VITALED_WEB_ALLOW_DIR"
/* The catalogues of an uninstalled host (the tests): --help's language */
#define BRIDGE_LOCALEDIR_ENV	"VITALED_WEB_LOCALEDIR"

/* ---- log.c: stderr (the browser's log) and syslog; never personal data */
void bridge_log_init(void);
void bridge_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- frame.c: the browser's framing on stdin/stdout ------------------- */
struct frame_in {
	uint8_t buf[4 + BRIDGE_MAX_IN];
	size_t len;
};

enum frame_status {
	FRAME_MORE,		/* need more bytes */
	FRAME_READY,		/* one message: frame_body() */
	FRAME_EOF,		/* stdin closed between messages */
	FRAME_TRUNCATED,	/* stdin closed inside a message */
	FRAME_TOO_LARGE,	/* announced length over BRIDGE_MAX_IN */
	FRAME_ERROR,		/* read error */
};

/* Reads what stdin has (non-blocking) and says whether a message is whole. */
enum frame_status frame_read(struct frame_in *in, int fd);
/* The whole message's body and its length, valid until frame_consume(). */
const char *frame_body(const struct frame_in *in, size_t *len);
void frame_consume(struct frame_in *in);
/* Writes one message; one too large is replaced by a "too-large" error
 * for the same id.  Returns 0 or -errno (stdout gone). */
int frame_write(int fd, struct json_object *msg);

/* ---- origin.c: the admin's allow-list ---------------------------------- */
/* An exact https://host[:port] origin as browsers serialise it. */
bool origin_valid(const char *origin);
/* Whether the allow-list (dir NULL: CONFIGDIR/web.d, or $VITALED_WEB_ALLOW_DIR)
 * holds origin; unusable files are logged and ignored. */
bool origin_allowed(const char *origin);

/* ---- vitaled.c: the D-Bus side ----------------------------------------- */
struct vitaled;

/* Connects to the system bus ($DBUS_SYSTEM_BUS_ADDRESS); NULL if it cannot. */
struct vitaled *vitaled_connect(void);
void vitaled_free(struct vitaled *v);
int vitaled_fd(struct vitaled *v);
/* Subscribes to vitaled's signals; events then go to out through
 * vitaled_dispatch().  Returns 0 or -errno. */
int vitaled_subscribe(struct vitaled *v, int out);
/* Reads and handles what the bus sent; -ENOTCONN once the bus is gone,
 * -EPIPE when stdout is. */
int vitaled_dispatch(struct vitaled *v);
/* The daemon's Version, or NULL (not running, not allowed). Caller frees. */
char *vitaled_version(struct vitaled *v);
/* One method of the protocol (getReaders, getCards, getBeneficiaries,
 * getAffiliation, release): 0 and *result (NULL is JSON null), or -errno
 * with *code and *message set (an error code of doc/web.md). */
int vitaled_call(struct vitaled *v, const char *method, struct json_object *params,
		struct json_object **result, const char **code, const char **message);

/* ---- protocol.c ------------------------------------------------------- */
struct session {
	bool greeted;
	int out;
	struct vitaled *vitaled;
};

enum handle_result { HANDLE_CONTINUE, HANDLE_EXIT_OK, HANDLE_EXIT_FAIL };

/* One incoming message (its JSON text, not NUL-terminated). */
enum handle_result session_handle(struct session *s, const char *text, size_t len);
/* Sends {"type":"error","id":id,...}; id < 0: null. */
int session_error(struct session *s, int64_t id, const char *code, const char *message);

#endif
