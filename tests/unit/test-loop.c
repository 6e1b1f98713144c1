/*
 * daemon/loop.c: what happens to posts when the loop stops.  Every
 * accepted post runs exactly once (also one made during the last round,
 * while loop_run() is returning); a post after that is refused with
 * -ESHUTDOWN and stays the poster's.  Events are malloc'd as the plugins'
 * are, so LeakSanitizer also sees one that is lost.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "daemon.h"
#include "tap.h"

#define POSTERS		4
#define QUIT_AFTER	2000	/* runs before the stress loop quits */

static atomic_uint ran;

struct event {
	unsigned int seq;
};

static void run_event(void *data)
{
	free(data);
	atomic_fetch_add(&ran, 1);
}

/* Posts one event the way a worker does: 0, or -errno and freed here. */
static int post_event(void)
{
	struct event *ev = malloc(sizeof(*ev));
	int err;

	if (!ev)
		return -ENOMEM;
	err = vitaled_post(run_event, ev);
	if (err < 0)
		free(ev);
	return err;
}

static void *post_once(void *out)
{
	*(int *)out = post_event();
	return NULL;
}

static int post_from_thread(void)
{
	pthread_t th;
	int err = -EINVAL;

	if (pthread_create(&th, NULL, post_once, &err) == 0)
		pthread_join(th, NULL);
	return err;
}

static int late_err = 1;

/* On the loop thread: quit, and meanwhile a worker posts (before the loop
 * has returned, after the round that would have run it). */
static void quit_then_post(void *unused)
{
	loop_quit(7);
	late_err = post_from_thread();
}

static void test_last_round(void)
{
	int early, status;

	atomic_store(&ran, 0);
	tap_is(loop_init(), 0, "loop_init");
	early = post_from_thread();
	tap_is(early, 0, "a post from a thread before the loop runs is accepted");
	tap_is(vitaled_post(quit_then_post, NULL), 0, "the quitting callback is posted");
	status = loop_run();
	tap_is(status, 7, "loop_run returns the status given to loop_quit");
	tap_is(late_err, 0, "a post made while the loop is quitting is accepted");
	tap_is(atomic_load(&ran), 2,
	       "both accepted events ran before loop_run returned (none left queued)");
	tap_is(post_from_thread(), -ESHUTDOWN,
	       "a post after loop_run returned is refused with -ESHUTDOWN (the poster frees)");
	tap_is(atomic_load(&ran), 2, "the refused event never runs");
	loop_cleanup();
	tap_is(post_event(), -ESHUTDOWN, "a post after loop_cleanup is refused too");
}

/* Workers posting flat out while the loop stops under them. */
static atomic_uint accepted;
static atomic_bool give_up;

/* Until refused; give_up (set once loop_run has returned) only bounds the
 * test if posts were never refused: the post after it must be. */
static void *poster(void *out)
{
	int err;

	for (;;) {
		bool last = atomic_load(&give_up);

		err = post_event();
		if (err < 0)
			break;
		atomic_fetch_add(&accepted, 1);
		if (last)
			break;
	}
	*(int *)out = err;
	return NULL;
}

static void count_then_quit(void *data)
{
	run_event(data);
	if (atomic_load(&ran) >= QUIT_AFTER)
		loop_quit(0);
}

static void *quitter_poster(void *unused)
{
	/* the loop quits after QUIT_AFTER of these */
	unsigned int i;

	for (i = 0; i < QUIT_AFTER; i++) {
		struct event *ev = malloc(sizeof(*ev));

		if (!ev || vitaled_post(count_then_quit, ev) < 0) {
			free(ev);
			break;
		}
		atomic_fetch_add(&accepted, 1);
	}
	return NULL;
}

static void test_stress(void)
{
	pthread_t th[POSTERS], q;
	int err[POSTERS];
	unsigned int i, refused = 0;

	atomic_store(&ran, 0);
	atomic_store(&accepted, 0);
	tap_is(loop_init(), 0, "loop_init again");
	for (i = 0; i < POSTERS; i++)
		pthread_create(&th[i], NULL, poster, &err[i]);
	pthread_create(&q, NULL, quitter_poster, NULL);
	tap_is(loop_run(), 0, "the loop ran %u posts and quit", QUIT_AFTER);
	/* as plugin_stop() would: after the loop, stop and join the workers */
	atomic_store(&give_up, true);
	for (i = 0; i < POSTERS; i++) {
		pthread_join(th[i], NULL);
		refused += err[i] == -ESHUTDOWN;
	}
	pthread_join(q, NULL);
	tap_is(refused, POSTERS, "every poster was refused with -ESHUTDOWN once the loop stopped");
	tap_ok(atomic_load(&accepted) == atomic_load(&ran),
	       "every accepted post ran exactly once (%u accepted, %u ran)",
	       atomic_load(&accepted), atomic_load(&ran));
	loop_cleanup();
}

int main(void)
{
	log_init(LOG_LEVEL_WARN);
	tap_is(loop_block_signals(), 0, "signals blocked");
	test_last_round();
	test_stress();
	return tap_done();
}
