/*
 * LD_PRELOAD shim for tests/test-trust-bundle.py: SIGKILL the process at
 * the Nth step (VTEST_CRASH_AT=N) of a trust bundle install, to check
 * that a crash at any instant leaves the old set or the new one.
 *
 * Counting starts when a file whose name ends in ".bundle" is opened
 * (the daemon taking a bundle from its drop directory).  A step is one
 * call that changes the disk: mkdirat, renameat, symlinkat, unlinkat,
 * unlink, fsync, or a write() to a file created since; at a write step
 * half the buffer is written first, so files are also torn.
 *
 * With VTEST_STALL_UNTIL=PATH the process is not killed: the thread that
 * reached step N waits there until PATH exists, then goes on (to test
 * what happens while an install is in progress).
 */

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FD	4096
#define EXPORT	__attribute__((visibility("default")))

static atomic_bool armed;
static atomic_int steps;
static atomic_bool created[MAX_FD];

/* Count one step; at the chosen one, say which and die (or stall). */
static bool crash_now(const char *what)
{
	const char *at = getenv("VTEST_CRASH_AT"), *until = getenv("VTEST_STALL_UNTIL");
	char line[96];
	int n;

	if (!atomic_load(&armed) || !at)
		return false;
	n = atomic_fetch_add(&steps, 1) + 1;
	if (n != atoi(at))
		return false;
	snprintf(line, sizeof(line), "crash-at: step %d (%s): %s\n", n, what,
		 until ? "stalled" : "SIGKILL");
	if (write(2, line, strlen(line)) < 0)
		_exit(99);
	if (!until)
		return true;
	while (access(until, F_OK) < 0)
		usleep(10000);
	return false;
}

static void die(void)
{
	kill(getpid(), SIGKILL);
	pause();
}

static void note_open(const char *path, int flags, int fd)
{
	size_t n = path ? strlen(path) : 0;

	if (n > 7 && !strcmp(path + n - 7, ".bundle"))
		atomic_store(&armed, true);
	if (fd >= 0 && fd < MAX_FD)
		atomic_store(&created[fd], atomic_load(&armed) && (flags & O_CREAT));
}

#define REAL(name) \
	static __typeof__(name) *real; \
	if (!real) \
		real = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;
	int fd;
	REAL(open);

	va_start(ap, flags);
	if (flags & O_CREAT)
		mode = va_arg(ap, mode_t);
	va_end(ap);
	fd = real(path, flags, mode);
	note_open(path, flags, fd);
	return fd;
}

EXPORT int openat(int dfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;
	int fd;
	REAL(openat);

	va_start(ap, flags);
	if (flags & O_CREAT)
		mode = va_arg(ap, mode_t);
	va_end(ap);
	fd = real(dfd, path, flags, mode);
	note_open(path, flags, fd);
	return fd;
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(write);

	if (fd >= 0 && fd < MAX_FD && atomic_load(&created[fd]) && crash_now("write")) {
		if (real(fd, buf, len / 2) < 0)
			_exit(99);
		die();
	}
	return real(fd, buf, len);
}

EXPORT int close(int fd)
{
	REAL(close);

	if (fd >= 0 && fd < MAX_FD)
		atomic_store(&created[fd], false);
	return real(fd);
}

#define STEP(ret, name, params, args) \
EXPORT ret name params \
{ \
	REAL(name); \
	if (crash_now(#name)) \
		die(); \
	return real args; \
}

STEP(int, fsync, (int fd), (fd))
STEP(int, mkdirat, (int dfd, const char *path, mode_t mode), (dfd, path, mode))
STEP(int, renameat, (int a, const char *p, int b, const char *q), (a, p, b, q))
STEP(int, symlinkat, (const char *t, int dfd, const char *p), (t, dfd, p))
STEP(int, unlinkat, (int dfd, const char *p, int flags), (dfd, p, flags))
STEP(int, unlink, (const char *p), (p))
