/*
 * Calls to vitaled and what their failures mean to an admin.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vitaled/dbus.h>
#include "vitalectl.h"

int ctl_error_exit(const DBusError *err)
{
	if (!dbus_error_is_set(err))
		return VITALECTL_FAILED;
	if (dbus_error_has_name(err, DBUS_ERROR_ACCESS_DENIED) ||
			dbus_error_has_name(err, VITALED_DBUS_ERROR_ACCESS_DENIED) ||
			dbus_error_has_name(err, DBUS_ERROR_AUTH_FAILED))
		return VITALECTL_DENIED;
	if (dbus_error_has_name(err, DBUS_ERROR_SERVICE_UNKNOWN) ||
			dbus_error_has_name(err, DBUS_ERROR_NAME_HAS_NO_OWNER) ||
			dbus_error_has_name(err, DBUS_ERROR_NO_REPLY) ||
			dbus_error_has_name(err, DBUS_ERROR_TIMEOUT) ||
			dbus_error_has_name(err, DBUS_ERROR_DISCONNECTED) ||
			dbus_error_has_name(err, DBUS_ERROR_NO_SERVER) ||
			dbus_error_has_name(err, DBUS_ERROR_FILE_NOT_FOUND))
		return VITALECTL_NO_DAEMON;
	return VITALECTL_FAILED;
}

int ctl_error_report(const char *what, const DBusError *err)
{
	int code = ctl_error_exit(err);
	bool mine;

	switch (code) {
	case VITALECTL_DENIED:
		/* the bus's own refusal message is a policy dump: say it plainly */
		mine = dbus_error_has_name(err, VITALED_DBUS_ERROR_ACCESS_DENIED) && err->message;
		fprintf(stderr, _("vitalectl: %s: not authorised: %s.\n"
				"  vitaled answers only root and members of its client group\n"
				"  (default vitaled-clients): ask an administrator to run\n"
				"  'usermod -aG vitaled-clients USER', then log in again.\n"), what,
				mine ? err->message : _("the D-Bus policy refuses this user"));
		break;
	case VITALECTL_NO_DAEMON:
		fprintf(stderr, _("vitalectl: %s: vitaled is not running or not reachable (%s).\n"
				"  Start it with 'systemctl start vitaled'; 'vitalectl diag' checks the rest.\n"),
				what, err->message ? err->message : _("no reply"));
		break;
	default:
		fprintf(stderr, "vitalectl: %s: %s\n", what,
				err->message ? err->message : _("failed"));
		break;
	}
	return code;
}

DBusMessage *ctl_call(DBusConnection *conn, DBusMessage *msg, DBusError *err)
{
	DBusMessage *reply;

	if (!msg) {
		dbus_set_error_const(err, DBUS_ERROR_NO_MEMORY, _("out of memory"));
		return NULL;
	}
	reply = dbus_connection_send_with_reply_and_block(conn, msg, CTL_CALL_TIMEOUT_MS, err);
	dbus_message_unref(msg);
	return reply;
}

/* The reply's first argument as a tree. */
static int reply_value(DBusMessage *reply, struct ctl_value *out, DBusError *err)
{
	DBusMessageIter it;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!dbus_message_iter_init(reply, &it)) {
		dbus_set_error_const(err, DBUS_ERROR_INVALID_SIGNATURE,
				_("empty reply from vitaled"));
		dbus_message_unref(reply);
		return -EBADMSG;
	}
	ret = ctl_value_read(&it, out);
	dbus_message_unref(reply);
	if (ret < 0)
		dbus_set_error_const(err, DBUS_ERROR_FAILED, _("cannot decode vitaled's reply"));
	return ret;
}

int ctl_managed_objects(DBusConnection *conn, struct ctl_value *out, DBusError *err)
{
	DBusMessage *reply;

	memset(out, 0, sizeof(*out));
	reply = ctl_call(conn, dbus_message_new_method_call(VITALED_DBUS_NAME,
			VITALED_DBUS_ROOT_PATH, DBUS_INTERFACE_OBJECT_MANAGER, "GetManagedObjects"),
			err);
	if (!reply)
		return -EIO;
	return reply_value(reply, out, err);
}

int ctl_get_all(DBusConnection *conn, const char *path, const char *iface,
		struct ctl_value *out, DBusError *err)
{
	DBusMessage *msg, *reply;

	memset(out, 0, sizeof(*out));
	msg = dbus_message_new_method_call(VITALED_DBUS_NAME, path, DBUS_INTERFACE_PROPERTIES,
			"GetAll");
	if (msg && !dbus_message_append_args(msg, DBUS_TYPE_STRING, &iface, DBUS_TYPE_INVALID)) {
		dbus_message_unref(msg);
		msg = NULL;
	}
	reply = ctl_call(conn, msg, err);
	if (!reply)
		return -EIO;
	return reply_value(reply, out, err);
}

const struct ctl_value *ctl_object_iface(const struct ctl_value *object, const char *iface)
{
	return ctl_value_get(object, iface);
}

size_t ctl_objects_with(const struct ctl_value *objects, const char *iface,
		const struct ctl_value ***out)
{
	const struct ctl_value **list;
	size_t i, n = 0;

	*out = NULL;
	if (!objects->n)
		return 0;
	list = calloc(objects->n, sizeof(*list));
	if (!list)
		return 0;
	for (i = 0; i < objects->n; i++)
		if (ctl_object_iface(&objects->items[i], iface))
			list[n++] = &objects->items[i];
	*out = list;
	return n;
}
