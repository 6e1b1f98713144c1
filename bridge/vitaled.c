/*
 * The bridge's side of the system bus: the calls of the protocol and the
 * signals turned into events.  It connects as the desktop user who runs
 * it, so the bus policy and vitaled's caller check decide, as for any
 * client; it only ever calls org.vitaled's advertised methods.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vitaled/dbus.h>
#include "bridge.h"

#define CALL_TIMEOUT_MS		10000
/* vitaled's replies nest four levels (aa{sv} of rights); libdbus allows
 * far more: refuse anything deeper than any reply of ours can be. */
#define VALUE_MAX_DEPTH		8
#define DATE_MAX_LEN		32

struct vitaled {
	DBusConnection *conn;
	int out;
	int out_error;
	char owner[256];	/* vitaled's unique name, "" when not running */
	char message[256];	/* the last error's, for vitaled_call() */
};

/* What the page may see of a reader or a card: the properties listed in
 * doc/web.md, never a field added later without deciding it. */
static const char *const reader_keys[] = { "Id", "Name", "Kind", "State", NULL };
static const char *const card_keys[] = { "State", "Status", "StatusReason", "HasData",
	"FormFactor", "Marker", "BeneficiaryCount", "ReadTime", "ReaderId", NULL };

/* D-Bus errors to the protocol's codes; bus errors get our own words (the
 * bus's AccessDenied text is a policy dump), vitaled's keep its message. */
static const struct {
	const char *name;
	const char *code;
	const char *message;
} error_map[] = {
	{ VITALED_DBUS_ERROR_ACCESS_DENIED, "access-denied", NULL },
	{ DBUS_ERROR_ACCESS_DENIED, "access-denied",
	  "this desktop user is not allowed to use vitaled (client group)" },
	{ DBUS_ERROR_AUTH_FAILED, "access-denied",
	  "this desktop user is not allowed to use vitaled (client group)" },
	{ VITALED_DBUS_ERROR_NOT_VERIFIED, "not-verified", NULL },
	{ VITALED_DBUS_ERROR_IN_PROGRESS, "in-progress", NULL },
	{ VITALED_DBUS_ERROR_GONE, "gone", NULL },
	{ DBUS_ERROR_UNKNOWN_OBJECT, "gone", "no such card: it was removed or released" },
	{ VITALED_DBUS_ERROR_INVALID_ARGUMENTS, "invalid-arguments", NULL },
	{ VITALED_DBUS_ERROR_NOT_SUPPORTED, "not-supported", NULL },
	{ VITALED_DBUS_ERROR_BUSY, "busy", NULL },
	{ DBUS_ERROR_SERVICE_UNKNOWN, "no-daemon", "vitaled is not running" },
	{ DBUS_ERROR_NAME_HAS_NO_OWNER, "no-daemon", "vitaled is not running" },
	{ DBUS_ERROR_NO_REPLY, "no-daemon", "vitaled did not answer" },
	{ DBUS_ERROR_TIMEOUT, "no-daemon", "vitaled did not answer" },
	{ DBUS_ERROR_DISCONNECTED, "no-daemon", "the system bus is gone" },
};

/* *message stays valid until the next call (err is freed after this). */
static void map_error(struct vitaled *v, const DBusError *err, const char **code,
		const char **message)
{
	size_t i;

	for (i = 0; i < sizeof(error_map) / sizeof(error_map[0]); i++)
		if (dbus_error_has_name(err, error_map[i].name)) {
			*code = error_map[i].code;
			/* vitaled's messages carry no personal data (dbus-error.c) */
			snprintf(v->message, sizeof(v->message), "%s", error_map[i].message ?
					error_map[i].message : err->message ? err->message : *code);
			*message = v->message;
			return;
		}
	*code = "failed";
	*message = "vitaled could not do it";
}

/* ---- D-Bus values as JSON ---------------------------------------------- */

static struct json_object *value_json(DBusMessageIter *it, unsigned int depth);

static struct json_object *container_json(DBusMessageIter *it, unsigned int depth)
{
	struct json_object *out, *v;
	DBusMessageIter sub, entry;
	bool dict;
	const char *key;

	dbus_message_iter_recurse(it, &sub);
	dict = dbus_message_iter_get_arg_type(it) == DBUS_TYPE_ARRAY &&
		dbus_message_iter_get_element_type(it) == DBUS_TYPE_DICT_ENTRY;
	out = dict ? json_object_new_object() : json_object_new_array();
	if (!out)
		return NULL;
	for (; dbus_message_iter_get_arg_type(&sub) != DBUS_TYPE_INVALID;
			dbus_message_iter_next(&sub)) {
		if (!dict) {
			v = value_json(&sub, depth + 1);
			if (!v || json_object_array_add(out, v) < 0)
				goto fail_v;
			continue;
		}
		/* our dictionaries are keyed by strings or object paths */
		dbus_message_iter_recurse(&sub, &entry);
		if (dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_STRING &&
				dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_OBJECT_PATH)
			goto fail;
		dbus_message_iter_get_basic(&entry, &key);
		dbus_message_iter_next(&entry);
		v = value_json(&entry, depth + 1);
		if (!v || json_object_object_add(out, key, v) < 0)
			goto fail_v;
	}
	return out;

fail_v:
	json_object_put(v);
fail:
	json_object_put(out);
	return NULL;
}

static struct json_object *value_json(DBusMessageIter *it, unsigned int depth)
{
	DBusBasicValue b;
	DBusMessageIter sub;
	int type = dbus_message_iter_get_arg_type(it);

	if (depth > VALUE_MAX_DEPTH)
		return NULL;
	switch (type) {
	case DBUS_TYPE_VARIANT:
		dbus_message_iter_recurse(it, &sub);
		return value_json(&sub, depth + 1);
	case DBUS_TYPE_ARRAY:
	case DBUS_TYPE_STRUCT:
		return container_json(it, depth);
	}
	if (!dbus_type_is_basic(type))
		return NULL;
	dbus_message_iter_get_basic(it, &b);
	switch (type) {
	case DBUS_TYPE_STRING:
	case DBUS_TYPE_OBJECT_PATH:
	case DBUS_TYPE_SIGNATURE:
		return json_object_new_string(b.str);
	case DBUS_TYPE_BOOLEAN:
		return json_object_new_boolean(b.bool_val);
	case DBUS_TYPE_BYTE:
		return json_object_new_int(b.byt);
	case DBUS_TYPE_INT16:
		return json_object_new_int(b.i16);
	case DBUS_TYPE_UINT16:
		return json_object_new_int(b.u16);
	case DBUS_TYPE_INT32:
		return json_object_new_int(b.i32);
	case DBUS_TYPE_UINT32:
		return json_object_new_int64(b.u32);
	case DBUS_TYPE_INT64:
		return json_object_new_int64(b.i64);
	case DBUS_TYPE_UINT64:
		return json_object_new_uint64(b.u64);
	case DBUS_TYPE_DOUBLE:
		return json_object_new_double(b.dbl);
	}
	return NULL;		/* unix fds: never in vitaled's replies */
}

/* {"path": path, key: props[key] for the keys the page may see} */
static struct json_object *pick(const char *path, struct json_object *props,
		const char *const *keys)
{
	struct json_object *out = json_object_new_object(), *v;

	if (!out)
		return NULL;
	json_object_object_add(out, "path", json_object_new_string(path));
	for (; *keys; keys++)
		if (json_object_object_get_ex(props, *keys, &v))
			json_object_object_add(out, *keys, json_object_get(v));
	return out;
}

/* ---- calls ---------------------------------------------------------------- */

static DBusMessage *call(struct vitaled *v, DBusMessage *msg, DBusError *err)
{
	DBusMessage *reply;

	if (!msg) {
		dbus_set_error_const(err, DBUS_ERROR_NO_MEMORY, "out of memory");
		return NULL;
	}
	reply = dbus_connection_send_with_reply_and_block(v->conn, msg, CALL_TIMEOUT_MS, err);
	dbus_message_unref(msg);
	return reply;
}

/* The reply's first argument as JSON (NULL + err on failure). */
static struct json_object *call_json(struct vitaled *v, DBusMessage *msg, DBusError *err)
{
	struct json_object *out = NULL;
	DBusMessage *reply = call(v, msg, err);
	DBusMessageIter it;

	if (!reply)
		return NULL;
	if (dbus_message_iter_init(reply, &it))
		out = value_json(&it, 0);
	dbus_message_unref(reply);
	if (!out)
		dbus_set_error_const(err, DBUS_ERROR_FAILED, "cannot decode vitaled's reply");
	return out;
}

static struct json_object *get_all(struct vitaled *v, const char *path, const char *iface,
		DBusError *err)
{
	DBusMessage *msg = dbus_message_new_method_call(VITALED_DBUS_NAME, path,
			DBUS_INTERFACE_PROPERTIES, "GetAll");

	if (msg && !dbus_message_append_args(msg, DBUS_TYPE_STRING, &iface, DBUS_TYPE_INVALID)) {
		dbus_message_unref(msg);
		msg = NULL;
	}
	return call_json(v, msg, err);
}

/* Readers or cards, oldest first, from one GetManagedObjects. */
static struct json_object *objects(struct vitaled *v, const char *iface,
		const char *const *keys, DBusError *err)
{
	struct json_object *all, *out, *props, *o;

	all = call_json(v, dbus_message_new_method_call(VITALED_DBUS_NAME,
			VITALED_DBUS_ROOT_PATH, DBUS_INTERFACE_OBJECT_MANAGER,
			"GetManagedObjects"), err);
	if (!all)
		return NULL;
	out = json_object_new_array();
	if (!out || !json_object_is_type(all, json_type_object)) {
		json_object_put(all);
		json_object_put(out);
		dbus_set_error_const(err, DBUS_ERROR_FAILED, "cannot decode vitaled's reply");
		return NULL;
	}
	json_object_object_foreach(all, path, ifaces) {
		if (!json_object_object_get_ex(ifaces, iface, &props))
			continue;
		o = pick(path, props, keys);
		if (o && json_object_array_add(out, o) < 0)
			json_object_put(o);
	}
	json_object_put(all);
	return out;
}

/* params.name as a string of at most max bytes, or NULL. */
static const char *param(struct json_object *params, const char *name, size_t max)
{
	struct json_object *o;
	const char *s;

	if (!json_object_object_get_ex(params, name, &o) || !json_object_is_type(o, json_type_string))
		return NULL;
	s = json_object_get_string(o);
	return (size_t)json_object_get_string_len(o) <= max && strlen(s) ==
		(size_t)json_object_get_string_len(o) ? s : NULL;
}

/* A card's path as the daemon makes them; anything else never reaches the bus. */
static const char *card_param(struct json_object *params)
{
	static const size_t len = sizeof(VITALED_DBUS_CARD_PATH_PREFIX) - 1 +
		VITALED_DBUS_CARD_ID_LEN;
	const char *s = param(params, "card", len);

	if (!s || strlen(s) != len || strncmp(s, VITALED_DBUS_CARD_PATH_PREFIX,
			sizeof(VITALED_DBUS_CARD_PATH_PREFIX) - 1) ||
			!dbus_validate_path(s, NULL))
		return NULL;
	return s;
}

static DBusMessage *card_call(const char *card, const char *method)
{
	return dbus_message_new_method_call(VITALED_DBUS_NAME, card,
			VITALED_DBUS_CARD_INTERFACE, method);
}

int vitaled_call(struct vitaled *v, const char *method, struct json_object *params,
		struct json_object **result, const char **code, const char **message)
{
	const char *card = NULL, *date = "";
	DBusMessage *msg, *reply;
	DBusError err;

	*result = NULL;
	if (strcmp(method, "getReaders") && strcmp(method, "getCards")) {
		card = card_param(params);
		if (!card) {
			*code = "invalid-arguments";
			*message = "params.card must be a card's path";
			return -EINVAL;
		}
	}
	dbus_error_init(&err);
	if (!strcmp(method, "getReaders")) {
		*result = objects(v, VITALED_DBUS_READER_INTERFACE, reader_keys, &err);
	} else if (!strcmp(method, "getCards")) {
		*result = objects(v, VITALED_DBUS_CARD_INTERFACE, card_keys, &err);
	} else if (!strcmp(method, "getBeneficiaries")) {
		if (json_object_object_get_ex(params, "date", NULL))
			date = param(params, "date", DATE_MAX_LEN);
		if (!date) {
			*code = "invalid-arguments";
			*message = "params.date must be \"YYYY-MM-DD\" or \"\"";
			return -EINVAL;
		}
		msg = card_call(card, "GetBeneficiaries");
		if (msg && !dbus_message_append_args(msg, DBUS_TYPE_STRING, &date,
				DBUS_TYPE_INVALID)) {
			dbus_message_unref(msg);
			msg = NULL;
		}
		*result = call_json(v, msg, &err);
	} else if (!strcmp(method, "getAffiliation")) {
		*result = call_json(v, card_call(card, "GetAffiliation"), &err);
	} else {		/* release; the caller knows the methods */
		reply = call(v, card_call(card, "Release"), &err);
		if (reply)
			dbus_message_unref(reply);
	}
	if (dbus_error_is_set(&err)) {
		map_error(v, &err, code, message);
		dbus_error_free(&err);
		return -EIO;
	}
	return 0;
}

char *vitaled_version(struct vitaled *v)
{
	static const char *iface = VITALED_DBUS_MANAGER_INTERFACE, *name = "Version";
	struct json_object *o;
	DBusMessage *msg;
	DBusError err;
	char *out = NULL;

	msg = dbus_message_new_method_call(VITALED_DBUS_NAME, VITALED_DBUS_ROOT_PATH,
			DBUS_INTERFACE_PROPERTIES, "Get");
	if (msg && !dbus_message_append_args(msg, DBUS_TYPE_STRING, &iface,
			DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID)) {
		dbus_message_unref(msg);
		msg = NULL;
	}
	dbus_error_init(&err);
	o = call_json(v, msg, &err);
	dbus_error_free(&err);
	if (o && json_object_is_type(o, json_type_string))
		out = strdup(json_object_get_string(o));
	json_object_put(o);
	return out;
}

/* ---- signals to events ------------------------------------------------- */

static void emit(struct vitaled *v, const char *event, const char *key,
		struct json_object *value)
{
	struct json_object *msg = json_object_new_object();
	int ret;

	if (!msg || !value) {
		json_object_put(msg);
		json_object_put(value);
		return;
	}
	json_object_object_add(msg, "type", json_object_new_string("event"));
	json_object_object_add(msg, "event", json_object_new_string(event));
	json_object_object_add(msg, key, value);
	ret = frame_write(v->out, msg);
	if (ret < 0 && !v->out_error)
		v->out_error = ret;
	json_object_put(msg);
}

static void object_event(struct vitaled *v, const char *path, const char *iface,
		struct json_object *props, const char *verb)
{
	char event[32];
	bool reader = !strcmp(iface, VITALED_DBUS_READER_INTERFACE);

	if (!reader && strcmp(iface, VITALED_DBUS_CARD_INTERFACE))
		return;
	snprintf(event, sizeof(event), "%s-%s", reader ? "reader" : "card", verb);
	emit(v, event, reader ? "reader" : "card",
			pick(path, props, reader ? reader_keys : card_keys));
}

static void interfaces_added(struct vitaled *v, DBusMessage *msg)
{
	struct json_object *ifaces;
	DBusMessageIter it;
	const char *path;

	if (!dbus_message_iter_init(msg, &it) ||
			dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_OBJECT_PATH)
		return;
	dbus_message_iter_get_basic(&it, &path);
	dbus_message_iter_next(&it);
	ifaces = value_json(&it, 0);
	if (!ifaces || !json_object_is_type(ifaces, json_type_object)) {
		json_object_put(ifaces);
		return;
	}
	json_object_object_foreach(ifaces, iface, props)
		object_event(v, path, iface, props, "added");
	json_object_put(ifaces);
}

static void interfaces_removed(struct vitaled *v, DBusMessage *msg)
{
	DBusMessageIter it, sub;
	const char *path, *iface;

	if (!dbus_message_iter_init(msg, &it) ||
			dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_OBJECT_PATH)
		return;
	dbus_message_iter_get_basic(&it, &path);
	if (!dbus_message_iter_next(&it) || dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_ARRAY)
		return;
	for (dbus_message_iter_recurse(&it, &sub);
			dbus_message_iter_get_arg_type(&sub) == DBUS_TYPE_STRING;
			dbus_message_iter_next(&sub)) {
		dbus_message_iter_get_basic(&sub, &iface);
		if (!strcmp(iface, VITALED_DBUS_READER_INTERFACE))
			emit(v, "reader-removed", "path", json_object_new_string(path));
		else if (!strcmp(iface, VITALED_DBUS_CARD_INTERFACE))
			emit(v, "card-removed", "path", json_object_new_string(path));
	}
}

/* A change sends the object whole, as getReaders/getCards do; if it went
 * meanwhile, what the signal said. */
static void properties_changed(struct vitaled *v, DBusMessage *msg)
{
	const char *path = dbus_message_get_path(msg), *iface;
	struct json_object *props;
	DBusMessageIter it;
	DBusError err;

	if (!path || !dbus_message_iter_init(msg, &it) ||
			dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_STRING)
		return;
	dbus_message_iter_get_basic(&it, &iface);
	if (strcmp(iface, VITALED_DBUS_READER_INTERFACE) &&
			strcmp(iface, VITALED_DBUS_CARD_INTERFACE))
		return;
	dbus_error_init(&err);
	props = get_all(v, path, iface, &err);
	dbus_error_free(&err);
	if (!props && dbus_message_iter_next(&it))
		props = value_json(&it, 0);
	if (props)
		object_event(v, path, iface, props, "changed");
	json_object_put(props);
}

static void owner_changed(struct vitaled *v, DBusMessage *msg)
{
	const char *name, *old, *new;

	if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &old,
			DBUS_TYPE_STRING, &new, DBUS_TYPE_INVALID) ||
			strcmp(name, VITALED_DBUS_NAME))
		return;
	snprintf(v->owner, sizeof(v->owner), "%s", new);
	emit(v, "daemon", "running", json_object_new_boolean(*new != '\0'));
}

static DBusHandlerResult filter(DBusConnection *conn, DBusMessage *msg, void *data)
{
	struct vitaled *v = data;
	const char *sender = dbus_message_get_sender(msg);

	(void)conn;
	if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_SIGNAL)
		return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
	if (dbus_message_is_signal(msg, DBUS_INTERFACE_LOCAL, "Disconnected")) {
		v->out_error = v->out_error ? v->out_error : -ENOTCONN;
		return DBUS_HANDLER_RESULT_HANDLED;
	}
	if (dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameOwnerChanged") &&
			sender && !strcmp(sender, DBUS_SERVICE_DBUS)) {
		owner_changed(v, msg);
		return DBUS_HANDLER_RESULT_HANDLED;
	}
	/* Only vitaled's own signals: anybody may send a signal to us. */
	if (!sender || !v->owner[0] || strcmp(sender, v->owner))
		return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
	if (dbus_message_is_signal(msg, DBUS_INTERFACE_OBJECT_MANAGER, "InterfacesAdded"))
		interfaces_added(v, msg);
	else if (dbus_message_is_signal(msg, DBUS_INTERFACE_OBJECT_MANAGER, "InterfacesRemoved"))
		interfaces_removed(v, msg);
	else if (dbus_message_is_signal(msg, DBUS_INTERFACE_PROPERTIES, "PropertiesChanged"))
		properties_changed(v, msg);
	return DBUS_HANDLER_RESULT_HANDLED;
}

/* ---- connection --------------------------------------------------------- */

struct vitaled *vitaled_connect(void)
{
	struct vitaled *v = calloc(1, sizeof(*v));
	DBusError err;

	if (!v)
		return NULL;
	dbus_error_init(&err);
	v->conn = dbus_bus_get_private(DBUS_BUS_SYSTEM, &err);
	if (!v->conn) {
		bridge_log(LOG_ERR, "cannot reach the system bus: %s",
				err.message ? err.message : "?");
		dbus_error_free(&err);
		free(v);
		return NULL;
	}
	dbus_connection_set_exit_on_disconnect(v->conn, FALSE);
	v->out = -1;
	return v;
}

void vitaled_free(struct vitaled *v)
{
	if (!v)
		return;
	dbus_connection_close(v->conn);
	dbus_connection_unref(v->conn);
	free(v);
}

int vitaled_fd(struct vitaled *v)
{
	int fd = -1;

	return dbus_connection_get_unix_fd(v->conn, &fd) ? fd : -1;
}

int vitaled_subscribe(struct vitaled *v, int out)
{
	static const char *const rules[] = {
		"type='signal',sender='" VITALED_DBUS_NAME "',path_namespace='"
			VITALED_DBUS_ROOT_PATH "'",
		"type='signal',sender='" DBUS_SERVICE_DBUS "',interface='" DBUS_INTERFACE_DBUS
			"',member='NameOwnerChanged',arg0='" VITALED_DBUS_NAME "'",
	};
	const char *owner, *name = VITALED_DBUS_NAME;
	DBusMessage *msg, *reply;
	DBusError err;
	size_t i;

	v->out = out;
	if (!dbus_connection_add_filter(v->conn, filter, v, NULL))
		return -ENOMEM;
	dbus_error_init(&err);
	/* Subscribe first, then learn the owner: no change falls in between. */
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		dbus_bus_add_match(v->conn, rules[i], &err);
		if (dbus_error_is_set(&err)) {
			bridge_log(LOG_ERR, "cannot subscribe to vitaled's signals: %s", err.name);
			dbus_error_free(&err);
			return -EIO;
		}
	}
	msg = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS,
			DBUS_INTERFACE_DBUS, "GetNameOwner");
	if (msg && !dbus_message_append_args(msg, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID)) {
		dbus_message_unref(msg);
		msg = NULL;
	}
	reply = call(v, msg, &err);
	v->owner[0] = '\0';
	if (reply && dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &owner,
			DBUS_TYPE_INVALID))
		snprintf(v->owner, sizeof(v->owner), "%s", owner);
	if (reply)
		dbus_message_unref(reply);
	dbus_error_free(&err);
	return 0;
}

int vitaled_dispatch(struct vitaled *v)
{
	if (!dbus_connection_read_write(v->conn, 0))
		v->out_error = v->out_error ? v->out_error : -ENOTCONN;
	while (dbus_connection_dispatch(v->conn) == DBUS_DISPATCH_DATA_REMAINS)
		;
	return v->out_error;
}
