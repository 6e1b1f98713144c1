/*
 * The floor of bench/bench-web.py: Card1.GetBeneficiaries("") on the system
 * bus with libdbus, as vitaled-web-bridge makes it, without the pipes and
 * the JSON around it.  Prints one latency per call (seconds), after a
 * warm-up.  Usage: bench-web-floor CARD_PATH CALLS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <dbus/dbus.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int call(DBusConnection *conn, const char *path)
{
	const char *date = "";
	DBusMessage *msg, *reply;
	DBusError err;

	msg = dbus_message_new_method_call("org.vitaled", path, "org.vitaled.Card1",
			"GetBeneficiaries");
	if (!msg || !dbus_message_append_args(msg, DBUS_TYPE_STRING, &date, DBUS_TYPE_INVALID))
		return -1;
	dbus_error_init(&err);
	reply = dbus_connection_send_with_reply_and_block(conn, msg, 30000, &err);
	dbus_message_unref(msg);
	if (!reply) {
		fprintf(stderr, "bench-web-floor: %s\n", err.message);
		dbus_error_free(&err);
		return -1;
	}
	dbus_message_unref(reply);
	return 0;
}

int main(int argc, char **argv)
{
	DBusConnection *conn;
	int i, n;
	double t0;

	if (argc != 3 || (n = atoi(argv[2])) <= 0) {
		fprintf(stderr, "Usage: bench-web-floor CARD_PATH CALLS\n");
		return 2;
	}
	conn = dbus_bus_get_private(DBUS_BUS_SYSTEM, NULL);
	if (!conn)
		return 1;
	for (i = 0; i < n / 10 + 1; i++)
		if (call(conn, argv[1]) < 0)
			return 1;
	for (i = 0; i < n; i++) {
		t0 = now();
		if (call(conn, argv[1]) < 0)
			return 1;
		printf("%.9f\n", now() - t0);
	}
	dbus_connection_close(conn);
	dbus_connection_unref(conn);
	return 0;
}
