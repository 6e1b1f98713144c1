/*
 * The protocol of doc/web.md: a hello that names the origin the browser
 * reported, then calls.  Everything from the extension is checked here
 * before anything reaches the bus.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"

#define JSON_MAX_DEPTH	8

static const char *const methods[] = {
	"getReaders", "getCards", "getBeneficiaries", "getAffiliation", "release", NULL,
};

static struct json_object *message(const char *type, int64_t id)
{
	struct json_object *m = json_object_new_object();

	if (!m)
		return NULL;
	json_object_object_add(m, "type", json_object_new_string(type));
	json_object_object_add(m, "id", id < 0 ? NULL : json_object_new_int64(id));
	return m;
}

static int send_message(struct session *s, struct json_object *m)
{
	int ret = m ? frame_write(s->out, m) : -ENOMEM;

	json_object_put(m);
	return ret;
}

int session_error(struct session *s, int64_t id, const char *code, const char *text)
{
	struct json_object *m = message("error", id);

	if (m) {
		json_object_object_add(m, "error", json_object_new_string(code));
		json_object_object_add(m, "message", json_object_new_string(text));
	}
	return send_message(s, m);
}

/* The text as one JSON object, strictly: valid UTF-8, no trailing bytes,
 * bounded nesting. */
static struct json_object *parse(const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	struct json_object *o;

	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
			json_tokener_get_parse_end(tok) != len ||
			!json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static const char *string_of(struct json_object *m, const char *key)
{
	struct json_object *o;

	if (!json_object_object_get_ex(m, key, &o) || !json_object_is_type(o, json_type_string))
		return NULL;
	return json_object_get_string(o);
}

/* The request's id: a non-negative integer (JSON numbers as the page's
 * JavaScript makes them), else -1. */
static int64_t id_of(struct json_object *m)
{
	struct json_object *o;
	int64_t id;

	if (!json_object_object_get_ex(m, "id", &o) || !json_object_is_type(o, json_type_int))
		return -1;
	id = json_object_get_int64(o);
	return id >= 0 && id <= (1LL << 53) ? id : -1;
}

static enum handle_result hello(struct session *s, struct json_object *m, int64_t id)
{
	struct json_object *o, *reply;
	const char *origin = string_of(m, "origin");
	char *version;

	if (!json_object_object_get_ex(m, "protocol", &o) || !json_object_is_type(o, json_type_int) ||
			json_object_get_int64(o) != BRIDGE_PROTOCOL) {
		bridge_log(LOG_WARNING, "refused: protocol version not %d", BRIDGE_PROTOCOL);
		session_error(s, id, "protocol", "this host speaks protocol 1");
		return HANDLE_EXIT_FAIL;
	}
	/* The origin comes from the browser (the extension passes what it
	 * reported for the sender), never from the page. */
	if (!origin || !origin_valid(origin)) {
		bridge_log(LOG_WARNING, "refused: malformed origin (%zu bytes; only exact "
				"https://host[:port])", origin ? strnlen(origin, 4096) : (size_t)0);
		session_error(s, id, "origin-refused", "this page's origin may not use vitaled");
		return HANDLE_EXIT_FAIL;
	}
	if (!origin_allowed(origin)) {
		bridge_log(LOG_WARNING, "refused: origin %s is not on the allow-list (uid %u)",
				origin, (unsigned int)getuid());
		session_error(s, id, "origin-refused", "this page's origin may not use vitaled");
		return HANDLE_EXIT_FAIL;
	}
	s->vitaled = vitaled_connect();
	if (!s->vitaled || vitaled_subscribe(s->vitaled, s->out) < 0) {
		session_error(s, id, "no-daemon", "the system bus cannot be reached");
		return HANDLE_EXIT_FAIL;
	}
	bridge_log(LOG_INFO, "origin %s connected (uid %u)", origin, (unsigned int)getuid());
	version = vitaled_version(s->vitaled);
	reply = message("hello", id);
	if (reply) {
		json_object_object_add(reply, "protocol", json_object_new_int(BRIDGE_PROTOCOL));
		json_object_object_add(reply, "version", json_object_new_string(PACKAGE_VERSION));
		json_object_object_add(reply, "daemon", version ?
				json_object_new_string(version) : NULL);
	}
	free(version);
	s->greeted = true;
	return send_message(s, reply) < 0 ? HANDLE_EXIT_FAIL : HANDLE_CONTINUE;
}

static bool known_method(const char *method)
{
	const char *const *m;

	for (m = methods; *m; m++)
		if (!strcmp(*m, method))
			return true;
	return false;
}

static enum handle_result call(struct session *s, struct json_object *m, int64_t id)
{
	const char *method = string_of(m, "method"), *code, *text;
	struct json_object *params = NULL, *result, *reply;

	if (!method || !known_method(method)) {
		bridge_log(LOG_NOTICE, "refused: unknown method");
		session_error(s, id, "unknown-method", "no such method");
		return HANDLE_CONTINUE;
	}
	if (json_object_object_get_ex(m, "params", &params) &&
			!json_object_is_type(params, json_type_object)) {
		session_error(s, id, "invalid-arguments", "params must be an object");
		return HANDLE_CONTINUE;
	}
	if (vitaled_call(s->vitaled, method, params, &result, &code, &text) < 0) {
		bridge_log(LOG_NOTICE, "%s: %s", method, code);
		return session_error(s, id, code, text) < 0 ? HANDLE_EXIT_FAIL : HANDLE_CONTINUE;
	}
	reply = message("result", id);
	if (reply)
		json_object_object_add(reply, "result", result);
	else
		json_object_put(result);
	return send_message(s, reply) < 0 ? HANDLE_EXIT_FAIL : HANDLE_CONTINUE;
}

enum handle_result session_handle(struct session *s, const char *text, size_t len)
{
	struct json_object *m = parse(text, len);
	enum handle_result ret;
	const char *type;
	int64_t id;

	if (!m) {
		bridge_log(LOG_NOTICE, "refused: malformed message (%zu bytes)", len);
		return session_error(s, -1, "malformed", "not a JSON object") < 0 ?
			HANDLE_EXIT_FAIL : HANDLE_CONTINUE;
	}
	type = string_of(m, "type");
	id = id_of(m);
	if (!type || id < 0) {
		bridge_log(LOG_NOTICE, "refused: message without type or id");
		ret = session_error(s, id, "malformed", "a request has a type and an integer id") < 0 ?
			HANDLE_EXIT_FAIL : HANDLE_CONTINUE;
	} else if (!s->greeted) {
		if (!strcmp(type, "hello")) {
			ret = hello(s, m, id);
		} else {
			bridge_log(LOG_WARNING, "refused: first message is not a hello");
			session_error(s, id, "protocol", "the first message must be a hello");
			ret = HANDLE_EXIT_FAIL;
		}
	} else if (!strcmp(type, "call")) {
		ret = call(s, m, id);
	} else {
		bridge_log(LOG_NOTICE, "refused: unexpected message type");
		ret = session_error(s, id, "protocol", "expected a call") < 0 ?
			HANDLE_EXIT_FAIL : HANDLE_CONTINUE;
	}
	json_object_put(m);
	return ret;
}
