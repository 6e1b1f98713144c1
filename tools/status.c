/*
 * vitalectl status: is the daemon up, and which version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vitaled/dbus.h>
#include "vitalectl.h"

#define CALL_TIMEOUT_MS 5000

/* Properties.Get of a string property of the manager; NULL if unreachable. */
static char *manager_string(DBusConnection *conn, const char *property, DBusError *err)
{
	const char *iface = VITALED_DBUS_MANAGER_INTERFACE;
	DBusMessage *msg, *reply;
	DBusMessageIter it, var;
	const char *value;
	char *copy = NULL;

	msg = dbus_message_new_method_call(VITALED_DBUS_NAME, VITALED_DBUS_MANAGER_PATH,
			DBUS_INTERFACE_PROPERTIES, "Get");
	if (!msg)
		return NULL;
	dbus_message_append_args(msg, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &property,
			DBUS_TYPE_INVALID);
	reply = dbus_connection_send_with_reply_and_block(conn, msg, CALL_TIMEOUT_MS, err);
	dbus_message_unref(msg);
	if (!reply)
		return NULL;
	if (dbus_message_iter_init(reply, &it) &&
			dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_VARIANT) {
		dbus_message_iter_recurse(&it, &var);
		if (dbus_message_iter_get_arg_type(&var) == DBUS_TYPE_STRING) {
			dbus_message_iter_get_basic(&var, &value);
			copy = strdup(value);
		}
	}
	dbus_message_unref(reply);
	return copy;
}

int cmd_status(int argc, char **argv, const struct vitalectl_opts *opts)
{
	DBusConnection *conn;
	DBusError err;
	char *version;

	if (argc > 1) {
		fprintf(stderr, "vitalectl status: takes no arguments\n");
		return VITALECTL_USAGE;
	}
	conn = vitalectl_bus(opts);
	if (!conn)
		return VITALECTL_NO_DAEMON;
	dbus_error_init(&err);
	version = manager_string(conn, "Version", &err);
	dbus_connection_close(conn);
	dbus_connection_unref(conn);
	if (!version) {
		if (opts->json)
			printf("{\"running\": false, \"error\": \"%s\"}\n",
					err.name ? err.name : "unknown");
		else
			printf("vitaled is not running or not reachable (%s)\n",
					err.message ? err.message : "no reply");
		dbus_error_free(&err);
		return VITALECTL_NO_DAEMON;
	}
	if (opts->json)
		printf("{\"running\": true, \"version\": \"%s\"}\n", version);
	else
		printf("vitaled %s is running\n", version);
	free(version);
	return VITALECTL_OK;
}
