/*
 * Freed memory keeps no content (doc/security.md, "In memory").
 *
 * Personal data leaves struct vd_record in D-Bus replies: libdbus copies it
 * into a message body that grows by realloc() while the reply is built, and
 * frees or caches that body once sent.  glibc keeps freed chunks' bytes (its
 * M_PERTURB does not touch the tcache, which holds chunks up to 1 KiB), so a
 * core or a ptrace long after the card left still showed the family.  Every
 * path goes through free() and realloc(): this process's own versions wipe
 * what they give back, whoever allocated it (libdbus, OpenSSL, zlib, us).
 * glibc documents replacing them; we keep its allocator underneath.
 *
 * Under AddressSanitizer, free() is ASan's and freed memory sits in its
 * quarantine: nothing is replaced there (tests/test-memory-wipe.py skips).
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <dbus/dbus.h>

#include "daemon.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);

/* Exported (the build hides symbols by default): libraries bind to them. */
__attribute__((visibility("default"))) void free(void *ptr)
{
	if (ptr)
		explicit_bzero(ptr, malloc_usable_size(ptr));
	__libc_free(ptr);
}

/*
 * Never grown in place: glibc would copy and free the old chunk itself,
 * unwiped.  Shrinking keeps the chunk (its tail is wiped when it is freed).
 */
__attribute__((visibility("default"))) void *realloc(void *ptr, size_t size)
{
	size_t old;
	void *p;

	if (!ptr)
		return __libc_malloc(size);
	if (!size) {
		free(ptr);
		return NULL;
	}
	old = malloc_usable_size(ptr);
	if (size <= old)
		return ptr;
	p = __libc_malloc(size);
	if (!p)
		return NULL;
	memcpy(p, ptr, old);
	free(ptr);
	return p;
}
#endif

/*
 * libdbus 1.14 keeps up to five unreferenced messages of at most 10 KiB
 * (header + body) for reuse, bodies untouched: a data reply stays in use
 * there, and a reused message only sets its length to 0.  Its API has no
 * way to empty the cache, so take each cached message back (a new message
 * comes from the cache first), grow its body past the limit (the old bytes
 * are overwritten, or left behind by realloc and wiped), and drop it: too
 * big to be cached, it is freed.  Called when a read ends (card.c) and
 * when the loop goes quiet (loop.c); main loop only, as all of libdbus.
 */
#define DBUS_CACHE_SLOTS	5
#define DBUS_CACHE_MAX		(10 * 1024)

void wipe_dbus_message_cache(void)
{
	static const unsigned char zeros[DBUS_CACHE_MAX] = { 0 };
	const unsigned char *fill = zeros;
	int i;

	for (i = 0; i < DBUS_CACHE_SLOTS; i++) {
		DBusMessage *m = dbus_message_new(DBUS_MESSAGE_TYPE_SIGNAL);

		if (!m)
			return;
		/* out of memory here leaves the body as it was: nothing to do */
		dbus_message_append_args(m, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &fill,
				(int)sizeof(zeros), DBUS_TYPE_INVALID);
		dbus_message_unref(m);
	}
}
