/*
 * Readiness, reload, shutdown and watchdog messages to the service
 * manager: the sd_notify datagram protocol spoken directly, so the daemon
 * needs no libsystemd.  $NOTIFY_SOCKET names an AF_UNIX datagram socket,
 * a path or an abstract name written with a leading '@'.  Without it
 * every call here does nothing, so running outside systemd costs nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"

static struct vitaled_timer *watchdog_timer;
static unsigned int watchdog_msec;

static int notify_address(struct sockaddr_un *addr, socklen_t *len)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	if (!path || !*path)
		return 0;
	n = strlen(path);
	if (n >= sizeof(addr->sun_path) || (path[0] != '/' && path[0] != '@'))
		return -EAFNOSUPPORT;

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	memcpy(addr->sun_path, path, n);
	if (path[0] == '@') {
		/* Abstract namespace: the name is every byte after the NUL. */
		addr->sun_path[0] = '\0';
		*len = offsetof(struct sockaddr_un, sun_path) + n;
	} else {
		*len = offsetof(struct sockaddr_un, sun_path) + n + 1;
	}
	return 1;
}

/* 1 when sent, 0 when not running under a service manager, or -errno. */
static int notify_send(const char *message)
{
	struct sockaddr_un addr;
	socklen_t len;
	ssize_t sent;
	int fd, r;

	r = notify_address(&addr, &len);
	if (r <= 0)
		return r;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sent = sendto(fd, message, strlen(message), MSG_NOSIGNAL,
		      (struct sockaddr *)&addr, len);
	r = sent < 0 ? -errno : 1;
	close(fd);
	return r;
}

/*
 * The manager asks for keep-alives with $WATCHDOG_USEC, meant for the
 * process named by $WATCHDOG_PID when that is set.  0 when disabled.
 */
static unsigned int watchdog_interval_msec(void)
{
	const char *usec_s = getenv("WATCHDOG_USEC");
	const char *pid_s = getenv("WATCHDOG_PID");
	unsigned long long usec;
	char *end;

	if (pid_s && *pid_s) {
		unsigned long pid;

		errno = 0;
		pid = strtoul(pid_s, &end, 10);
		if (errno || *end || pid != (unsigned long)getpid())
			return 0;
	}
	if (!usec_s || !*usec_s || *usec_s == '-')
		return 0;
	errno = 0;
	usec = strtoull(usec_s, &end, 10);
	if (errno || *end || usec == 0)
		return 0;

	/* Ping at half the interval, so one late wakeup is not fatal. */
	usec /= 2 * 1000;
	if (usec == 0)
		usec = 1;
	return usec > UINT_MAX ? UINT_MAX : (unsigned int)usec;
}

static int notify_watchdog(void)
{
	int r = notify_send("WATCHDOG=1");

	if (r < 0)
		vitaled_warn("watchdog: keep-alive not sent: %s", strerror(-r));
	return r;
}

/*
 * Each ping re-arms the next one from the loop: if the loop hangs, the
 * pings stop and the manager kills and restarts the daemon.
 */
static void watchdog_fire(void *user_data)
{
	watchdog_timer = NULL;
	notify_watchdog();
	watchdog_timer = vitaled_timer_add(watchdog_msec, watchdog_fire, NULL);
	if (!watchdog_timer)
		vitaled_error("watchdog: cannot arm the keep-alive timer");
}

int notify_ready(void)
{
	int r = notify_send("READY=1\nSTATUS=Ready");

	if (r < 0) {
		vitaled_warn("cannot tell the service manager we are ready: %s",
			     strerror(-r));
		return r;
	}
	if (r == 0 || watchdog_timer)
		return r;

	watchdog_msec = watchdog_interval_msec();
	if (watchdog_msec == 0)
		return r;
	watchdog_timer = vitaled_timer_add(watchdog_msec, watchdog_fire, NULL);
	if (!watchdog_timer) {
		vitaled_error("watchdog: cannot arm the keep-alive timer");
		return -ENOMEM;
	}
	vitaled_debug("watchdog: keep-alive every %u ms", watchdog_msec);
	return r;
}

int notify_reloading(void)
{
	int r = notify_send("RELOADING=1\nSTATUS=Reloading configuration");

	if (r < 0)
		vitaled_warn("cannot tell the service manager we reload: %s",
			     strerror(-r));
	return r;
}

int notify_stopping(void)
{
	int r;

	if (watchdog_timer) {
		vitaled_timer_remove(watchdog_timer);
		watchdog_timer = NULL;
	}
	r = notify_send("STOPPING=1\nSTATUS=Shutting down");
	if (r < 0)
		vitaled_warn("cannot tell the service manager we stop: %s",
			     strerror(-r));
	return r;
}
