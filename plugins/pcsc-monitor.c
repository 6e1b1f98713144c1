/*
 * The PC/SC monitor: one thread, one blocking SCardGetStatusChange over
 * every reader plus "\\?PnP?\Notification", so nothing polls.
 *
 * The upper 16 bits of dwEventState count the insertions and removals
 * pcscd saw: comparing counters rather than the PRESENT bit catches a
 * card pulled and put back between two wake-ups (pcsc-counter.c: two
 * steps, since one can be a read torn by pcscd's own update).  When pcscd goes away
 * the context is released and re-established with back-off; an inotify
 * watch on pcscd's socket directory cuts the wait short when it comes
 * back, so an absent pcscd costs no CPU.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <winscard.h>

#include "plugins.h"

#define PNP_READER	"\\\\?PnP?\\Notification"
#define FIRST_DELAY_MS	100
/*
 * Not INFINITE: libpcsclite (1.9.9 and later) turns INFINITE into a
 * 60-second wait and re-registers with pcscd each minute, waking this
 * thread 60 times an hour.  A finite timeout is passed straight to poll(),
 * so a day-long one wakes an idle daemon once a day (the limit is poll's
 * int milliseconds).
 */
#define WAIT_MS		(24UL * 3600 * 1000)

struct mon_reader {
	char name[PCSC_NAME_MAX];
	bool present;
	unsigned int counter;
};

static struct monitor {
	pthread_t thread;
	bool started;
	int up;				/* pcscd reachable as last told to the loop, -1 not yet */
	atomic_bool stopping;
	int stop_fd;			/* eventfd: wakes the back-off wait */
	pthread_mutex_t ctx_lock;	/* ctx vs SCardCancel from exit() */
	SCARDCONTEXT ctx;
	bool has_ctx;
	char *ignore;
	unsigned int max_delay_ms;
	struct mon_reader *readers;	/* parallel to states[1..] */
	SCARD_READERSTATE *states;	/* [0] is the PnP pseudo-reader */
	unsigned int n_readers;
} mon = { .up = -1, .stop_fd = -1, .ctx_lock = PTHREAD_MUTEX_INITIALIZER };

static void post(enum pcsc_event_type type, const char *reader)
{
	struct pcsc_event *ev = pcsc_event_new(type, reader);

	if (ev)
		pcsc_event_post(ev);
}

static void release_context(void)
{
	pthread_mutex_lock(&mon.ctx_lock);
	if (mon.has_ctx)
		SCardReleaseContext(mon.ctx);
	mon.has_ctx = false;
	pthread_mutex_unlock(&mon.ctx_lock);
}

static void forget_readers(void)
{
	free(mon.readers);
	free(mon.states);
	mon.readers = NULL;
	mon.states = NULL;
	mon.n_readers = 0;
}

/* pcscd's socket directory: its files appear when pcscd (re)starts. */
static int watch_socket_dir(void)
{
	const char *sock = getenv("PCSCLITE_CSOCK_NAME");
	char dir[PATH_MAX];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", sock && *sock ? sock : "/run/pcscd/pcscd.comm");
	slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -1;
	if (inotify_add_watch(fd, *dir ? dir : "/", IN_CREATE | IN_MOVED_TO) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sleep up to ms; false when asked to stop. */
static bool wait_for_pcscd(int inotify_fd, unsigned int ms)
{
	struct pollfd fds[2] = {
		{ .fd = mon.stop_fd, .events = POLLIN },
		{ .fd = inotify_fd, .events = POLLIN },
	};

	if (poll(fds, inotify_fd >= 0 ? 2 : 1, (int)ms) > 0 && (fds[1].revents & POLLIN)) {
		char buf[4096];

		while (read(inotify_fd, buf, sizeof(buf)) > 0)
			;
		/* pcscd creates its pid file before it listens: give it a moment */
		poll(fds, 1, FIRST_DELAY_MS);
	}
	return !atomic_load(&mon.stopping);
}

/* Tell the loop once per transition whether pcscd is there. */
static void set_up(bool up, LONG why)
{
	struct pcsc_event *ev;

	if (mon.up == (int)up)
		return;
	mon.up = up;
	ev = pcsc_event_new(up ? PCSC_EV_SERVICE_UP : PCSC_EV_SERVICE_DOWN, "");
	if (ev) {
		ev->code = why;
		pcsc_event_post(ev);
	}
}

/* Establish the context, with back-off while pcscd is away. */
static bool connect_pcscd(void)
{
	unsigned int delay = FIRST_DELAY_MS;
	int inotify_fd = -1;
	bool ok = false;
	LONG rv;

	while (!atomic_load(&mon.stopping)) {
		SCARDCONTEXT ctx;

		rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
		if (rv == SCARD_S_SUCCESS) {
			pthread_mutex_lock(&mon.ctx_lock);
			mon.ctx = ctx;
			mon.has_ctx = true;
			pthread_mutex_unlock(&mon.ctx_lock);
			set_up(true, rv);
			ok = true;
			break;
		}
		set_up(false, rv);
		if (inotify_fd < 0)
			inotify_fd = watch_socket_dir();
		if (!wait_for_pcscd(inotify_fd, delay))
			break;
		delay = delay * 2 > mon.max_delay_ms ? mon.max_delay_ms : delay * 2;
	}
	if (inotify_fd >= 0)
		close(inotify_fd);
	return ok;
}

static struct mon_reader *find_old(struct mon_reader *old, unsigned int n, const char *name)
{
	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(old[i].name, name))
			return &old[i];
	return NULL;
}

/*
 * Re-read the reader list.  Readers still there keep their state (and
 * their event counter), new ones start UNAWARE so the next wait reports
 * their card at once.  Returns the SCard error, if any.
 */
static LONG list_readers(void)
{
	struct mon_reader *old = mon.readers, *readers = NULL;
	SCARD_READERSTATE *old_states = mon.states, *states = NULL;
	unsigned int n_old = mon.n_readers, n = 0, total = 0, i;
	DWORD len = 0;
	char *names = NULL;
	LONG rv;

	rv = SCardListReaders(mon.ctx, NULL, NULL, &len);
	if (rv == SCARD_S_SUCCESS) {
		names = calloc(1, len + 1);
		if (!names)
			return SCARD_E_NO_MEMORY;
		rv = SCardListReaders(mon.ctx, NULL, names, &len);
	}
	if (rv == SCARD_E_NO_READERS_AVAILABLE) {
		rv = SCARD_S_SUCCESS;
		len = 0;
	}
	if (rv != SCARD_S_SUCCESS) {
		free(names);
		return rv;
	}
	for (const char *p = names; p && p < names + len && *p; p += strlen(p) + 1)
		total++;
	readers = calloc(total + 1, sizeof(*readers));
	states = calloc(total + 1, sizeof(*states));
	if (!readers || !states) {
		free(names);
		free(readers);
		free(states);
		return SCARD_E_NO_MEMORY;
	}
	for (const char *p = names; p && p < names + len && *p; p += strlen(p) + 1) {
		struct mon_reader *r = &readers[n], *prev;

		/* pcsc-lite waits on at most 16 states, PnP included */
		if (strlen(p) >= PCSC_NAME_MAX || pcsc_name_matches(p, mon.ignore) ||
		    n + 1 >= PCSCLITE_MAX_READERS_CONTEXTS)
			continue;
		strcpy(r->name, p);
		prev = find_old(old, n_old, p);
		if (prev) {
			*r = *prev;
			states[n + 1].dwCurrentState = old_states[prev - old + 1].dwCurrentState;
			prev->name[0] = '\0';	/* kept */
		} else {
			states[n + 1].dwCurrentState = SCARD_STATE_UNAWARE;
			post(PCSC_EV_READER_ADDED, p);
		}
		n++;
	}
	/* an unplugged reader takes its card with it: the loop says so */
	for (i = 0; i < n_old; i++)
		if (old[i].name[0])
			post(PCSC_EV_READER_REMOVED, old[i].name);
	free(names);
	free(old);
	free(old_states);
	mon.readers = readers;
	mon.states = states;
	mon.n_readers = n;
	states[0].szReader = PNP_READER;
	/* pcscd compares the high word with its reader count */
	states[0].dwCurrentState = (DWORD)total << 16;
	for (i = 0; i < n; i++)
		states[i + 1].szReader = readers[i].name;
	return SCARD_S_SUCCESS;
}

/* One reader's state changed: tell the loop what happened to its card. */
static void reader_changed(struct mon_reader *r, SCARD_READERSTATE *st,
		const struct timespec *seen)
{
	DWORD ev = st->dwEventState;
	unsigned int counter = (unsigned int)(ev >> 16);
	bool present = (ev & SCARD_STATE_PRESENT) && !(ev & SCARD_STATE_UNAVAILABLE);
	bool swapped = st->dwCurrentState != SCARD_STATE_UNAWARE &&
		r->present && present && pcsc_counter_swapped(r->counter, counter);

	/* INUSE/EXCLUSIVE flip when someone connects: not an event. */
	if (r->present && (!present || swapped))
		post(PCSC_EV_CARD_REMOVED, r->name);
	if (present && (!r->present || swapped)) {
		struct pcsc_event *e = pcsc_event_new(PCSC_EV_CARD_INSERTED, r->name);

		if (e) {
			e->atr_len = st->cbAtr <= PCSC_ATR_MAX ? st->cbAtr : 0;
			memcpy(e->atr, st->rgbAtr, e->atr_len);
			e->mute = (ev & SCARD_STATE_MUTE) || !e->atr_len;
			e->seen = *seen;
			pcsc_event_post(e);
		}
	}
	r->present = present;
	r->counter = counter;
	st->dwCurrentState = ev & ~SCARD_STATE_CHANGED;
}

/* Wait for events until we are stopped or pcscd goes away (its error). */
static LONG watch(void)
{
	bool relist = true;
	struct timespec seen;
	LONG rv;

	while (!atomic_load(&mon.stopping)) {
		if (relist) {
			rv = list_readers();
			if (rv != SCARD_S_SUCCESS)
				return rv;
			post(PCSC_EV_READERS_LISTED, "");
			relist = false;
		}
		rv = SCardGetStatusChange(mon.ctx, WAIT_MS, mon.states, mon.n_readers + 1);
		clock_gettime(CLOCK_MONOTONIC, &seen);
		switch (rv) {
		case SCARD_S_SUCCESS:
			break;
		case SCARD_E_CANCELLED:
		case SCARD_E_TIMEOUT:
			continue;
		case SCARD_E_UNKNOWN_READER:
		case SCARD_E_READER_UNAVAILABLE:
			relist = true;
			continue;
		default:
			return rv;
		}
		if (mon.states[0].dwEventState & SCARD_STATE_CHANGED)
			relist = true;
		for (unsigned int i = 0; i < mon.n_readers; i++) {
			SCARD_READERSTATE *st = &mon.states[i + 1];

			if (!(st->dwEventState & SCARD_STATE_CHANGED))
				continue;
			if (st->dwEventState & (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE))
				relist = true;
			else
				reader_changed(&mon.readers[i], st, &seen);
		}
	}
	return SCARD_S_SUCCESS;
}

/*
 * Any error but a cancellation ends the context: most mean pcscd went
 * away, and a fresh context is the cure for the rest too.  The loop
 * marks every reader unavailable and drops their cards; the next
 * listing re-announces the readers that came back.
 */
static void *monitor_thread(void *data)
{
	(void)data;
	while (connect_pcscd()) {
		LONG rv = watch();

		forget_readers();
		release_context();
		if (atomic_load(&mon.stopping))
			break;
		set_up(false, rv);
	}
	return NULL;
}

int pcsc_monitor_start(const char *ignore_readers, unsigned int max_delay_ms)
{
	int err;

	mon.ignore = strdup(ignore_readers ? ignore_readers : "");
	mon.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!mon.ignore || mon.stop_fd < 0) {
		err = -errno;
		goto fail;
	}
	mon.up = -1;
	mon.max_delay_ms = max_delay_ms > FIRST_DELAY_MS ? max_delay_ms : FIRST_DELAY_MS;
	atomic_store(&mon.stopping, false);
	err = -pthread_create(&mon.thread, NULL, monitor_thread, NULL);
	if (err)
		goto fail;
	mon.started = true;
	return 0;
fail:
	free(mon.ignore);
	mon.ignore = NULL;
	if (mon.stop_fd >= 0)
		close(mon.stop_fd);
	mon.stop_fd = -1;
	return err;
}

void pcsc_monitor_stop(void)
{
	uint64_t one = 1;

	if (!mon.started)
		return;
	atomic_store(&mon.stopping, true);
	if (write(mon.stop_fd, &one, sizeof(one)) < 0)
		vitaled_debug("pcsc: cannot wake the monitor: %s", strerror(errno));
	/*
	 * SCardCancel only interrupts a wait in progress: if the thread is
	 * between two calls, cancel again until it has seen the flag.
	 */
	for (;;) {
		struct timespec deadline;

		pthread_mutex_lock(&mon.ctx_lock);
		if (mon.has_ctx)
			SCardCancel(mon.ctx);
		pthread_mutex_unlock(&mon.ctx_lock);
		pcsc_timespec_after(&deadline, CLOCK_REALTIME, 20);
		if (pthread_timedjoin_np(mon.thread, NULL, &deadline) == 0)
			break;
	}
	release_context();
	mon.started = false;
	close(mon.stop_fd);
	mon.stop_fd = -1;
	free(mon.ignore);
	mon.ignore = NULL;
}
