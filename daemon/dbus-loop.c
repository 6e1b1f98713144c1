/*
 * libdbus driven by the daemon's own epoll loop (no GLib): libdbus asks
 * for fd watches and timeouts, they become loop watches and timers.
 * Incoming messages are dispatched from a posted callback, a batch per
 * loop round, so that a flood from one client cannot starve the card
 * readers.  Loop thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <dbus/dbus.h>

#include "daemon.h"

#define DISPATCH_BATCH	64
#define MAX_FD_WATCHES	4

/* libdbus may watch one fd twice (read, write); epoll takes an fd once. */
struct bus_fd {
	int fd;
	struct vitaled_watch *watch;
	uint32_t events;
	unsigned int n;
	DBusWatch *watches[MAX_FD_WATCHES];
	struct bus_fd *next;
};

struct bus_timeout {
	DBusTimeout *timeout;
	struct vitaled_timer *timer;
	struct bus_timeout *next;
};

static struct {
	DBusConnection *conn;
	bool dispatch_posted;
	struct bus_fd *fds;
	struct bus_timeout *timeouts;
} loop_state;

static bool data_remains(void)
{
	return loop_state.conn &&
		dbus_connection_get_dispatch_status(loop_state.conn) == DBUS_DISPATCH_DATA_REMAINS;
}

static void dispatch_posted(void *unused);

static void schedule_dispatch(void)
{
	int err;

	if (loop_state.dispatch_posted)
		return;
	err = vitaled_post(dispatch_posted, NULL);
	if (err == 0)
		loop_state.dispatch_posted = true;
	else if (err != -ESHUTDOWN)	/* the daemon is stopping: nothing to do */
		vitaled_error("D-Bus: cannot schedule message dispatch");
}

static void dispatch_posted(void *unused)
{
	unsigned int n = 0;

	loop_state.dispatch_posted = false;
	while (n++ < DISPATCH_BATCH && loop_state.conn &&
			dbus_connection_dispatch(loop_state.conn) == DBUS_DISPATCH_DATA_REMAINS)
		;
	/* More queued: come back next round, after the other sources. */
	if (data_remains())
		schedule_dispatch();
}

static void dispatch_status(DBusConnection *conn, DBusDispatchStatus status, void *data)
{
	if (status == DBUS_DISPATCH_DATA_REMAINS)
		schedule_dispatch();
}

static struct bus_fd *fd_find(int fd)
{
	struct bus_fd *f;

	for (f = loop_state.fds; f; f = f->next)
		if (f->fd == fd)
			return f;
	return NULL;
}

static bool fd_has_watch(const struct bus_fd *f, const DBusWatch *w)
{
	unsigned int i;

	for (i = 0; i < f->n; i++)
		if (f->watches[i] == w)
			return true;
	return false;
}

static void fd_event(int fd, uint32_t events, void *user_data)
{
	DBusWatch *copy[MAX_FD_WATCHES];
	struct bus_fd *f = user_data;
	unsigned int i, n = f->n;

	memcpy(copy, f->watches, sizeof(copy));
	for (i = 0; i < n; i++) {
		unsigned int want, flags = 0;

		/* A handled watch may remove the others (or the whole fd). */
		f = fd_find(fd);
		if (!f || !fd_has_watch(f, copy[i]) || !dbus_watch_get_enabled(copy[i]))
			continue;
		want = dbus_watch_get_flags(copy[i]);
		if ((events & EPOLLIN) && (want & DBUS_WATCH_READABLE))
			flags |= DBUS_WATCH_READABLE;
		if ((events & EPOLLOUT) && (want & DBUS_WATCH_WRITABLE))
			flags |= DBUS_WATCH_WRITABLE;
		if (events & EPOLLERR)
			flags |= DBUS_WATCH_ERROR;
		if (events & EPOLLHUP)
			flags |= DBUS_WATCH_HANGUP;
		if (flags)
			dbus_watch_handle(copy[i], flags);
	}
	if (data_remains())
		schedule_dispatch();
}

static bool fd_update(struct bus_fd *f)
{
	uint32_t events = 0;
	unsigned int i;

	for (i = 0; i < f->n; i++) {
		unsigned int flags;

		if (!dbus_watch_get_enabled(f->watches[i]))
			continue;
		flags = dbus_watch_get_flags(f->watches[i]);
		if (flags & DBUS_WATCH_READABLE)
			events |= EPOLLIN;
		if (flags & DBUS_WATCH_WRITABLE)
			events |= EPOLLOUT;
	}
	if (!f->watch) {
		f->watch = vitaled_watch_add(f->fd, events, fd_event, f);
		if (!f->watch)
			return false;
	} else if (events != f->events && vitaled_watch_modify(f->watch, events) < 0) {
		return false;
	}
	f->events = events;
	return true;
}

static dbus_bool_t add_watch(DBusWatch *w, void *data)
{
	int fd = dbus_watch_get_unix_fd(w);
	struct bus_fd *f = fd_find(fd);
	bool created = false;

	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f)
			return FALSE;
		f->fd = fd;
		f->next = loop_state.fds;
		loop_state.fds = f;
		created = true;
	}
	if (f->n == MAX_FD_WATCHES)
		return FALSE;
	f->watches[f->n++] = w;
	if (fd_update(f))
		return TRUE;
	f->n--;
	if (created) {
		loop_state.fds = f->next;
		free(f);
	}
	return FALSE;
}

static void remove_watch(DBusWatch *w, void *data)
{
	struct bus_fd **pp, *f;
	unsigned int i;

	for (pp = &loop_state.fds; (f = *pp); pp = &f->next) {
		if (!fd_has_watch(f, w))
			continue;
		for (i = 0; i < f->n; i++)
			if (f->watches[i] == w)
				f->watches[i] = f->watches[--f->n];
		if (f->n) {
			fd_update(f);
			return;
		}
		*pp = f->next;
		vitaled_watch_remove(f->watch);
		free(f);
		return;
	}
}

static void toggle_watch(DBusWatch *w, void *data)
{
	struct bus_fd *f;

	for (f = loop_state.fds; f; f = f->next)
		if (fd_has_watch(f, w)) {
			if (!fd_update(f))
				vitaled_error("D-Bus: cannot update the watch on fd %d", f->fd);
			return;
		}
}

static void timeout_fired(void *user_data);

static bool timeout_arm(struct bus_timeout *t)
{
	int ms = dbus_timeout_get_interval(t->timeout);

	t->timer = vitaled_timer_add(ms > 0 ? (unsigned int)ms : 0, timeout_fired, t);
	return t->timer != NULL;
}

static void timeout_fired(void *user_data)
{
	struct bus_timeout *t = user_data;

	/* The loop freed the one-shot timer; libdbus timeouts repeat until
	 * removed, and handling may remove this one (and free t). */
	t->timer = NULL;
	if (!timeout_arm(t))
		vitaled_error("D-Bus: cannot re-arm a timeout");
	dbus_timeout_handle(t->timeout);
	if (data_remains())
		schedule_dispatch();
}

static dbus_bool_t add_timeout(DBusTimeout *timeout, void *data)
{
	struct bus_timeout *t = calloc(1, sizeof(*t));

	if (!t)
		return FALSE;
	t->timeout = timeout;
	if (dbus_timeout_get_enabled(timeout) && !timeout_arm(t)) {
		free(t);
		return FALSE;
	}
	dbus_timeout_set_data(timeout, t, NULL);
	t->next = loop_state.timeouts;
	loop_state.timeouts = t;
	return TRUE;
}

static void remove_timeout(DBusTimeout *timeout, void *data)
{
	struct bus_timeout **pp, *t;

	for (pp = &loop_state.timeouts; (t = *pp); pp = &t->next)
		if (t->timeout == timeout) {
			*pp = t->next;
			vitaled_timer_remove(t->timer);
			free(t);
			return;
		}
}

static void toggle_timeout(DBusTimeout *timeout, void *data)
{
	struct bus_timeout *t = dbus_timeout_get_data(timeout);

	if (!t)
		return;
	vitaled_timer_remove(t->timer);
	t->timer = NULL;
	if (dbus_timeout_get_enabled(timeout) && !timeout_arm(t))
		vitaled_error("D-Bus: cannot arm a timeout");
}

/* Queued messages (e.g. after a blocking call) get dispatched soon. */
void bus_loop_dispatch_soon(void)
{
	schedule_dispatch();
}

int bus_loop_attach(DBusConnection *conn)
{
	loop_state.conn = conn;
	if (!dbus_connection_set_watch_functions(conn, add_watch, remove_watch,
				toggle_watch, NULL, NULL) ||
			!dbus_connection_set_timeout_functions(conn, add_timeout,
				remove_timeout, toggle_timeout, NULL, NULL))
		return -ENOMEM;
	dbus_connection_set_dispatch_status_function(conn, dispatch_status, NULL, NULL);
	return 0;
}

/* After the connection is closed and unreferenced: whatever libdbus did
 * not hand back is ours to drop. */
void bus_loop_detach(void)
{
	loop_state.conn = NULL;
	while (loop_state.fds) {
		struct bus_fd *f = loop_state.fds;

		loop_state.fds = f->next;
		vitaled_watch_remove(f->watch);
		free(f);
	}
	while (loop_state.timeouts) {
		struct bus_timeout *t = loop_state.timeouts;

		loop_state.timeouts = t->next;
		vitaled_timer_remove(t->timer);
		free(t);
	}
}
