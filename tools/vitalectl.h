/*
 * vitalectl internals: one file per command group, dispatched from vitalectl.c.
 */
#ifndef VITALECTL_H
#define VITALECTL_H

#include <stdbool.h>
#include <dbus/dbus.h>

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
};

/* Connect to the bus vitaled is on; NULL with a message on failure. */
DBusConnection *vitalectl_bus(const struct vitalectl_opts *opts);

int cmd_status(int argc, char **argv, const struct vitalectl_opts *opts);
int cmd_token(int argc, char **argv, const struct vitalectl_opts *opts);

#endif
