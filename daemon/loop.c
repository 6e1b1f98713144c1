/*
 * The main loop: one epoll set for fd watches, one-shot monotonic timers
 * (a timerfd each), signals (signalfd) and a queue that worker threads
 * post callbacks to (eventfd).  Nothing here polls: an idle daemon sleeps
 * in epoll_wait() with no timeout.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "daemon.h"

enum source_type { SOURCE_WATCH, SOURCE_TIMER, SOURCE_POST, SOURCE_SIGNAL };

/* malloc keeps the pages freed after work (a card read, a burst of D-Bus
 * messages: 0.7 MiB after bench-sys's warm-up); once the loop has been
 * quiet this long they go back to the system, and the replies libdbus
 * keeps for reuse are dropped (wipe.c).  One wake-up after each burst of
 * work, none while idle. */
#define TRIM_QUIET_MS	200

/* Every epoll registration points at one of these. */
struct source {
	enum source_type type;
	int fd;
	bool removed;		/* freed after the current dispatch round */
	struct source *next_dead;
};

struct vitaled_watch {
	struct source src;
	uint32_t events;
	vitaled_watch_func func;
	void *user_data;
};

struct vitaled_timer {
	struct source src;
	vitaled_callback_func func;
	void *user_data;
};

struct post {
	vitaled_callback_func func;
	void *user_data;
	struct post *next;
};

#define MAX_SIGNALS 8

static struct {
	int epfd;
	bool running;
	int status;
	struct source post_src;
	pthread_mutex_t post_lock;	/* the queue, posts_closed, post_src.fd */
	struct post *post_head, *post_tail;
	bool posts_closed;		/* the loop ran its last posts */
	struct source signal_src;
	sigset_t sigmask;
	unsigned int n_signals;
	struct {
		int signo;
		vitaled_callback_func func;
		void *user_data;
	} signals[MAX_SIGNALS];
	struct source *dead;
} loop = { .epfd = -1, .post_src.fd = -1, .signal_src.fd = -1,
	   .post_lock = PTHREAD_MUTEX_INITIALIZER };

static int source_register(struct source *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0)
		return -errno;
	return 0;
}

/* Unregister now, free later: the current epoll batch may still name it. */
static void source_retire(struct source *src)
{
	if (src->removed)
		return;
	src->removed = true;
	if (loop.epfd >= 0)
		epoll_ctl(loop.epfd, EPOLL_CTL_DEL, src->fd, NULL);
	src->next_dead = loop.dead;
	loop.dead = src;
}

static void reap_dead(void)
{
	while (loop.dead) {
		struct source *src = loop.dead;

		loop.dead = src->next_dead;
		if (src->type == SOURCE_TIMER)
			close(src->fd);
		free(src);
	}
}

struct vitaled_watch *vitaled_watch_add(int fd, uint32_t events,
		vitaled_watch_func func, void *user_data)
{
	struct vitaled_watch *w;

	if (fd < 0 || !func)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->src.type = SOURCE_WATCH;
	w->src.fd = fd;
	w->events = events;
	w->func = func;
	w->user_data = user_data;
	if (source_register(&w->src, events) < 0) {
		free(w);
		return NULL;
	}
	return w;
}

int vitaled_watch_modify(struct vitaled_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &w->src };

	if (w->src.removed)
		return -EINVAL;
	if (epoll_ctl(loop.epfd, EPOLL_CTL_MOD, w->src.fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

void vitaled_watch_remove(struct vitaled_watch *w)
{
	if (w)
		source_retire(&w->src);
}

struct vitaled_timer *vitaled_timer_add(unsigned int msec,
		vitaled_callback_func func, void *user_data)
{
	struct itimerspec its = { 0 };
	struct vitaled_timer *t;

	if (!func)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->src.type = SOURCE_TIMER;
	t->func = func;
	t->user_data = user_data;
	t->src.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->src.fd < 0)
		goto fail;
	/* A zero it_value would disarm the timer: 0 ms means "next round". */
	its.it_value.tv_sec = msec / 1000;
	its.it_value.tv_nsec = (long)(msec % 1000) * 1000000L;
	if (msec == 0)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(t->src.fd, 0, &its, NULL) < 0 ||
			source_register(&t->src, EPOLLIN) < 0) {
		close(t->src.fd);
		goto fail;
	}
	return t;
fail:
	free(t);
	return NULL;
}

void vitaled_timer_remove(struct vitaled_timer *t)
{
	if (t)
		source_retire(&t->src);
}

/*
 * A post is accepted (0) only while the loop will still run it: every
 * accepted post runs exactly once.  Once the loop has run its last ones
 * (loop_run returning: workers are stopped after that), posting fails
 * with -ESHUTDOWN and user_data stays the caller's to free.
 */
int vitaled_post(vitaled_callback_func func, void *user_data)
{
	struct post *p;
	uint64_t one = 1;
	int err = 0;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->func = func;
	p->user_data = user_data;
	pthread_mutex_lock(&loop.post_lock);
	if (loop.posts_closed) {
		err = -ESHUTDOWN;
	} else {
		if (loop.post_tail)
			loop.post_tail->next = p;
		else
			loop.post_head = p;
		loop.post_tail = p;
		p = NULL;
		/* Under the lock: loop_cleanup() closes the fd under it. The
		 * eventfd only counts wake-ups; queued is queued even if the
		 * counter is full (EAGAIN) or the write fails. */
		if (write(loop.post_src.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			vitaled_warn("loop: cannot wake the loop for a post: %s",
					strerror(errno));
	}
	pthread_mutex_unlock(&loop.post_lock);
	free(p);
	return err;
}

/* close: refuse posts from now on; what is queued is run all the same. */
static void run_posts(bool close)
{
	struct post *p;

	pthread_mutex_lock(&loop.post_lock);
	p = loop.post_head;
	loop.post_head = loop.post_tail = NULL;
	if (close)
		loop.posts_closed = true;
	pthread_mutex_unlock(&loop.post_lock);
	while (p) {
		struct post *next = p->next;

		p->func(p->user_data);
		free(p);
		p = next;
	}
}

static void dispatch_posts(void)
{
	uint64_t n;

	if (read(loop.post_src.fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		vitaled_warn("loop: cannot read the post queue counter: %s", strerror(errno));
	run_posts(false);
}

static void dispatch_signal(void)
{
	struct signalfd_siginfo si;
	unsigned int i;

	while (read(loop.signal_src.fd, &si, sizeof(si)) == sizeof(si)) {
		for (i = 0; i < loop.n_signals; i++)
			if (loop.signals[i].signo == (int)si.ssi_signo)
				loop.signals[i].func(loop.signals[i].user_data);
	}
}

static void dispatch(struct source *src, uint32_t events)
{
	if (src->removed)
		return;
	switch (src->type) {
	case SOURCE_WATCH: {
		struct vitaled_watch *w = (struct vitaled_watch *)src;

		w->func(src->fd, events, w->user_data);
		break;
	}
	case SOURCE_TIMER: {
		struct vitaled_timer *t = (struct vitaled_timer *)src;

		/* One-shot: retire before the callback so it may re-arm freely. */
		source_retire(src);
		t->func(t->user_data);
		break;
	}
	case SOURCE_POST:
		dispatch_posts();
		break;
	case SOURCE_SIGNAL:
		dispatch_signal();
		break;
	}
}

int loop_block_signals(void)
{
	sigemptyset(&loop.sigmask);
	sigaddset(&loop.sigmask, SIGTERM);
	sigaddset(&loop.sigmask, SIGINT);
	sigaddset(&loop.sigmask, SIGHUP);
	/* A client that goes away mid-write must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	return -pthread_sigmask(SIG_BLOCK, &loop.sigmask, NULL);
}

int loop_init(void)
{
	int err, fd;

	/*
	 * One malloc arena for every thread.  Workers allocate a few KiB per
	 * read, rarely at once; with an arena each, glibc opened new ones
	 * whenever two collided, and the heap grew in ~130 KiB steps (seen:
	 * +0.75 MiB over 5,000 card cycles on eight readers while the bytes
	 * in use grew 27 KiB; with one arena the heap stayed the same size).
	 */
	mallopt(M_ARENA_MAX, 1);
	loop.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop.epfd < 0)
		return -errno;
	loop.post_src.type = SOURCE_POST;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&loop.post_lock);
	loop.post_src.fd = fd;
	loop.posts_closed = false;
	pthread_mutex_unlock(&loop.post_lock);
	err = source_register(&loop.post_src, EPOLLIN);
	if (err < 0)
		return err;
	loop.signal_src.type = SOURCE_SIGNAL;
	loop.signal_src.fd = signalfd(-1, &loop.sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (loop.signal_src.fd < 0)
		return -errno;
	return source_register(&loop.signal_src, EPOLLIN);
}

int loop_add_signal(int signo, vitaled_callback_func func, void *user_data)
{
	if (loop.n_signals == MAX_SIGNALS || !sigismember(&loop.sigmask, signo))
		return -EINVAL;
	loop.signals[loop.n_signals].signo = signo;
	loop.signals[loop.n_signals].func = func;
	loop.signals[loop.n_signals].user_data = user_data;
	loop.n_signals++;
	return 0;
}

int loop_run(void)
{
	struct epoll_event events[32];
	bool worked = false;

	loop.running = true;
	while (loop.running) {
		int i, n = epoll_wait(loop.epfd, events, 32, worked ? TRIM_QUIET_MS : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			vitaled_error("loop: epoll_wait failed: %s", strerror(errno));
			return EXIT_FAILURE;
		}
		if (n == 0) {
			wipe_dbus_message_cache();
			malloc_trim(0);
			worked = false;
			continue;
		}
		for (i = 0; i < n; i++)
			dispatch(events[i].data.ptr, events[i].events);
		reap_dead();
		worked = true;
	}
	/* Workers still run until the plugins stop them: what they posted
	 * before this point runs now, while everything it touches exists;
	 * what they post after is refused, and theirs to free. */
	run_posts(true);
	reap_dead();
	return loop.status;
}

void loop_quit(int status)
{
	loop.status = status;
	loop.running = false;
}

void loop_cleanup(void)
{
	struct post *p;

	reap_dead();
	pthread_mutex_lock(&loop.post_lock);
	loop.posts_closed = true;
	p = loop.post_head;
	loop.post_head = loop.post_tail = NULL;
	if (loop.post_src.fd >= 0)
		close(loop.post_src.fd);
	loop.post_src.fd = -1;
	pthread_mutex_unlock(&loop.post_lock);
	/* Only when loop_run() never ran (start-up failed before any plugin
	 * started a worker): nothing can run these any more. */
	while (p) {
		struct post *next = p->next;

		free(p);
		p = next;
	}
	if (loop.signal_src.fd >= 0)
		close(loop.signal_src.fd);
	if (loop.epfd >= 0)
		close(loop.epfd);
	loop.epfd = loop.signal_src.fd = -1;
}
