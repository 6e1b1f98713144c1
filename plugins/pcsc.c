/*
 * The pcsc source plugin: PC/SC readers through pcscd, contact cards and
 * phones over NFC.
 *
 * Threads: the monitor (pcsc-monitor.c) waits for reader and card events,
 * one worker per reader (pcsc-worker.c) reads cards.  They hand what
 * happened to the loop through one queue; everything that touches reader
 * and card objects happens here, on the loop thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <winscard.h>

#include "plugins.h"

/* The loop's watchdog fires this long after a read's own deadline:
 * only an APDU that never returns gets that far. */
#define WATCHDOG_GRACE_MS	1000
/* A card pulled mid-read often shows as an I/O error before pcscd (which
 * polls some readers) reports it gone: such a failure waits this long for
 * the removal before anything else happens. */
#define IO_GRACE_MS		1000
/* Another application is connected when a read starts: if our transaction
 * has not begun after this long, its transaction is what we wait for
 * (an uncontended connect and transaction take a few ms; pcscd retries a
 * held one every 100 ms). */
#define BUSY_NOTICE_MS		500
#define BUSY_TEXT		"another application is using the card"

struct pcsc_reader {
	struct pcsc_reader *next;
	char name[PCSC_NAME_MAX];
	char id[PCSC_ID_MAX];
	struct vitaled_reader *reader;
	struct pcsc_worker *worker;
	struct vitaled_card *card;
	uint64_t reading;		/* generation of the read in flight, 0 none */
	struct vitaled_timer *watchdog;
	struct vitaled_timer *notice;	/* BUSY_NOTICE_MS after READ_WAITING */
	struct vitaled_timer *patience;	/* [pcsc] BusyWaitMax after READ_WAITING */
	bool exclusive;			/* the other application holds it exclusively */
	bool busy_shown;		/* Card1 says "waiting" */
	struct vd_read_result *held;	/* an I/O failure waiting for IO_GRACE_MS */
	struct vitaled_timer *hold;
	unsigned int timeout_ms;
	struct timespec seen;		/* when pcscd reported the card */
	uint8_t atr[PCSC_ATR_MAX];
	size_t atr_len;
	bool retried;			/* the card's read was restarted once */
	bool stale;			/* pcscd went away; gone unless listed again */
};

static struct {
	bool running;
	unsigned int busy_wait_ms;	/* [pcsc] BusyWaitMax */
	bool listed;			/* the readers there at start are known */
	struct pcsc_reader *readers;
	uint64_t generation;
	pthread_mutex_t lock;		/* the queue, shared with the threads */
	struct pcsc_event *head, *tail;
} pcsc = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- the queue from the threads ----------------------------------- */

struct pcsc_event *pcsc_event_new(enum pcsc_event_type type, const char *reader)
{
	struct pcsc_event *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->type = type;
	snprintf(ev->reader, sizeof(ev->reader), "%s", reader);
	return ev;
}

void pcsc_event_free(struct pcsc_event *ev)
{
	if (!ev)
		return;
	vd_read_result_free(ev->result);
	free(ev);
}

static void dispatch(void *data);

void pcsc_event_post(struct pcsc_event *ev)
{
	pthread_mutex_lock(&pcsc.lock);
	if (!pcsc.running) {
		/* a worker left behind by exit() finishing late */
		pthread_mutex_unlock(&pcsc.lock);
		pcsc_event_free(ev);
		return;
	}
	if (pcsc.tail)
		pcsc.tail->next = ev;
	else
		pcsc.head = ev;
	pcsc.tail = ev;
	pthread_mutex_unlock(&pcsc.lock);
	/* the queue, not the post, owns the events: nothing leaks if the
	 * loop refuses the post at exit; a dispatch finding the queue empty
	 * (an earlier one took everything) costs nothing */
	vitaled_post(dispatch, NULL);
}

static struct pcsc_event *queue_take(void)
{
	struct pcsc_event *list;

	pthread_mutex_lock(&pcsc.lock);
	list = pcsc.head;
	pcsc.head = pcsc.tail = NULL;
	pthread_mutex_unlock(&pcsc.lock);
	return list;
}

void pcsc_timespec_after(struct timespec *ts, clockid_t clock, unsigned int ms)
{
	clock_gettime(clock, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* ---- readers ------------------------------------------------------ */

static struct pcsc_reader *find_reader(const char *name)
{
	for (struct pcsc_reader *r = pcsc.readers; r; r = r->next)
		if (!strcmp(r->name, name))
			return r;
	return NULL;
}

static bool id_taken(const char *id)
{
	for (struct pcsc_reader *r = pcsc.readers; r; r = r->next)
		if (!strcmp(r->id, id))
			return true;
	return false;
}

/* The read's timers: the card's and the wait for another application. */
static void stop_timers(struct pcsc_reader *r)
{
	vitaled_timer_remove(r->watchdog);
	r->watchdog = NULL;
	vitaled_timer_remove(r->notice);
	r->notice = NULL;
	vitaled_timer_remove(r->patience);
	r->patience = NULL;
}

/* Stop whatever the reader's card was doing; its data is wiped. */
static void drop_card(struct pcsc_reader *r)
{
	if (r->reading) {
		pcsc_worker_abandon(r->worker);
		r->reading = 0;
	}
	stop_timers(r);
	vitaled_timer_remove(r->hold);
	r->hold = NULL;
	vd_read_result_free(r->held);
	r->held = NULL;
	if (r->card) {
		vitaled_card_remove(r->card);
		r->card = NULL;
	}
}

static void reader_added(const char *name)
{
	struct pcsc_reader *r = find_reader(name);
	enum vitaled_reader_kind kind;
	char base[PCSC_ID_MAX - 12];	/* room for "-<n>" */

	if (r) {
		/* back after a pcscd restart: same object */
		if (r->stale)
			vitaled_reader_set_state(r->reader, VITALED_READER_IDLE);
		r->stale = false;
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return;
	snprintf(r->name, sizeof(r->name), "%s", name);
	pcsc_reader_id(name, base, sizeof(base));
	snprintf(r->id, sizeof(r->id), "%s", base);
	/* two identical readers without a serial number in their name */
	for (unsigned int n = 2; id_taken(r->id); n++)
		snprintf(r->id, sizeof(r->id), "%s-%u", base, n);
	kind = pcsc_name_is_contactless(name) ? VITALED_READER_CONTACTLESS : VITALED_READER_CONTACT;
	r->worker = pcsc_worker_start(name);
	r->reader = r->worker ? vitaled_reader_add(r->id, name, kind) : NULL;
	if (!r->reader) {
		vitaled_error("reader %s: cannot be set up", r->id);
		pcsc_worker_stop(r->worker);
		free(r);
		return;
	}
	r->next = pcsc.readers;
	pcsc.readers = r;
}

static void reader_free(struct pcsc_reader *r)
{
	drop_card(r);
	pcsc_worker_stop(r->worker);
	if (r->reader)
		vitaled_reader_remove(r->reader);
	free(r);
}

static void reader_removed(struct pcsc_reader *r)
{
	for (struct pcsc_reader **pp = &pcsc.readers; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			reader_free(r);
			return;
		}
}

/* ---- cards -------------------------------------------------------- */

static void complete(struct pcsc_reader *r, struct vd_read_result *res)
{
	struct timespec now;

	/* the span bench/bench-card measures against its floor */
	clock_gettime(CLOCK_MONOTONIC, &now);
	vitaled_debug("reader %s: result ready %ld us after pcscd reported the card", r->id,
			(long)((now.tv_sec - r->seen.tv_sec) * 1000000 +
			       (now.tv_nsec - r->seen.tv_nsec) / 1000));
	stop_timers(r);
	r->reading = 0;
	vitaled_card_complete(r->card, res);
}

static void read_failed(struct pcsc_reader *r, const char *why)
{
	struct vd_read_result *res = vd_read_result_new();

	if (!res) {
		drop_card(r);
		return;
	}
	/* a read given up in flight: the profile it saw, the APDUs it sent */
	if (r->reading)
		pcsc_worker_progress(r->worker, r->reading, &res->apdu_count, &res->form);
	vd_verdict_set(&res->verdict, VD_STATUS_READ_FAILED, "%s", why);
	complete(r, res);
}

static void watchdog_fired(void *data)
{
	struct pcsc_reader *r = data;
	char why[64];

	r->watchdog = NULL;	/* freed by the loop */
	if (!r->reading)
		return;
	/* the worker is stuck in an APDU: its late answer will be dropped */
	pcsc_worker_abandon(r->worker);
	vitaled_warn("reader %s: the card stopped answering; read abandoned", r->id);
	snprintf(why, sizeof(why), "the card did not answer within %u ms", r->timeout_ms);
	read_failed(r, why);
}

static void start_read(struct pcsc_reader *r)
{
	struct vd_context *ctx = vitaled_verify_context();

	if (!ctx) {
		read_failed(r, "no verification context");
		return;
	}
	r->timeout_ms = vd_context_settings(ctx)->read_timeout_ms;
	r->reading = ++pcsc.generation;
	r->exclusive = r->busy_shown = false;
	pcsc_worker_read(r->worker, r->reading, r->atr, r->atr_len, ctx, r->timeout_ms,
			pcsc.busy_wait_ms);
	vd_context_unref(ctx);
	r->watchdog = vitaled_timer_add(r->timeout_ms + WATCHDOG_GRACE_MS, watchdog_fired, r);
}

/* ---- sharing the card with other applications ----------------------- */

static void show_busy(struct pcsc_reader *r)
{
	r->busy_shown = true;
	vitaled_card_set_waiting(r->card, BUSY_TEXT);
}

static void busy_notice(void *data)
{
	struct pcsc_reader *r = data;

	r->notice = NULL;	/* freed by the loop */
	vitaled_info("reader %s: another application's transaction is under way; "
			"waiting for it to end", r->id);
	show_busy(r);
}

/* [pcsc] BusyWaitMax is over: the verdict names the real cause. */
static void patience_over(void *data)
{
	struct pcsc_reader *r = data;
	char why[128];

	r->patience = NULL;	/* freed by the loop */
	if (!r->reading)
		return;
	pcsc_worker_abandon(r->worker);
	snprintf(why, sizeof(why), "another application %s for more than %u s",
			r->exclusive ? "held the card exclusively" :
			"kept a transaction open on the card", pcsc.busy_wait_ms / 1000);
	vitaled_warn("reader %s: %s; read abandoned", r->id, why);
	read_failed(r, why);
}

/*
 * The worker found another application on the card.  Its wait is not
 * the card's time: the watchdog stops until READ_STARTED, and the
 * longest wait is [pcsc] BusyWaitMax.
 */
static void read_waiting(struct pcsc_reader *r, const struct pcsc_event *ev)
{
	vitaled_timer_remove(r->watchdog);
	r->watchdog = NULL;
	if (!r->patience)
		r->patience = vitaled_timer_add(pcsc.busy_wait_ms, patience_over, r);
	if (!ev->exclusive) {
		if (!r->notice && !r->busy_shown)
			r->notice = vitaled_timer_add(BUSY_NOTICE_MS, busy_notice, r);
		return;
	}
	vitaled_timer_remove(r->notice);
	r->notice = NULL;
	if (r->exclusive)
		return;
	r->exclusive = true;
	vitaled_info("reader %s: another application holds the card exclusively; "
			"waiting for pcscd to report it free", r->id);
	show_busy(r);
}

static void read_started(struct pcsc_reader *r)
{
	vitaled_timer_remove(r->notice);
	r->notice = NULL;
	vitaled_timer_remove(r->patience);
	r->patience = NULL;
	if (r->busy_shown)
		vitaled_card_set_waiting(r->card, NULL);
	r->busy_shown = false;
	/* the card's time starts now */
	vitaled_timer_remove(r->watchdog);
	r->watchdog = vitaled_timer_add(r->timeout_ms + WATCHDOG_GRACE_MS, watchdog_fired, r);
}

static void card_inserted(struct pcsc_reader *r, const struct pcsc_event *ev)
{
	drop_card(r);	/* a removal we were not told about */
	r->seen = ev->seen;
	r->retried = false;
	r->atr_len = ev->atr_len;
	memcpy(r->atr, ev->atr, ev->atr_len);
	/* a slot whose name did not say it: the card's ATR does */
	if (pcsc_atr_is_contactless(ev->atr, ev->atr_len))
		vitaled_reader_set_kind(r->reader, VITALED_READER_CONTACTLESS);
	r->card = vitaled_card_new(r->reader);
	if (!r->card)
		return;
	if (ev->mute) {
		vitaled_info("reader %s: the card does not answer (no ATR)", r->id);
		read_failed(r, "the card does not answer (no ATR)");
		return;
	}
	start_read(r);
}

/*
 * pcscd still shows the same card a while after its read failed on I/O:
 * a glitch, or a card swapped faster than pcscd polls the reader.  Read
 * it once more; a second failure is published.
 */
static void hold_expired(void *data)
{
	struct pcsc_reader *r = data;
	struct vd_read_result *res = r->held;

	r->hold = NULL;		/* freed by the loop */
	r->held = NULL;
	if (!r->retried) {
		r->retried = true;
		vd_read_result_free(res);
		vitaled_info("reader %s: the card is still there; reading it again", r->id);
		start_read(r);
		return;
	}
	if (res)
		complete(r, res);
	else
		read_failed(r, "the card could not be read");
}

static void read_done(struct pcsc_reader *r, struct pcsc_event *ev)
{
	struct vd_read_result *res = ev->result;

	ev->result = NULL;
	if (ev->reconnects)
		vitaled_info("reader %s: the card was reset by another application; reconnected",
				r->id);
	if (!r->reading || ev->generation != r->reading) {
		/* abandoned: the card left or the watchdog gave up on it */
		vd_read_result_free(res);
		return;
	}
	/*
	 * Only the monitor (pcscd's event counter) says a card is gone: a
	 * failed APDU often comes first.  Nothing is published meanwhile;
	 * the removal, if it comes, drops the card and the held result.
	 */
	if (ev->card_gone || !res ||
	    (ev->code != SCARD_S_SUCCESS && res->verdict.status == VD_STATUS_READ_FAILED)) {
		vitaled_debug("reader %s: card I/O failed (%s)", r->id,
				pcsc_stringify_error(ev->code));
		stop_timers(r);
		r->reading = 0;
		r->held = res;
		r->hold = vitaled_timer_add(IO_GRACE_MS, hold_expired, r);
		if (!r->hold)
			hold_expired(r);
		return;
	}
	complete(r, res);
}

/* ---- the loop side of the queue ------------------------------------ */

static void service_changed(bool up, long code)
{
	vitaled_pcsc_set_available(up);
	if (up) {
		vitaled_info("pcsc: pcscd is reachable");
		return;
	}
	if (code)
		vitaled_warn("pcsc: pcscd is not reachable (%s); waiting for it",
				pcsc_stringify_error(code));
	else
		vitaled_warn("pcsc: pcscd is not reachable; waiting for it");
	/* every handle is dead: cards go, readers wait for pcscd's return */
	for (struct pcsc_reader *r = pcsc.readers; r; r = r->next) {
		drop_card(r);
		r->stale = true;
		vitaled_reader_set_state(r->reader, VITALED_READER_UNAVAILABLE);
	}
}

static void readers_listed(void)
{
	struct pcsc_reader *r, *next;

	for (r = pcsc.readers; r; r = next) {
		next = r->next;
		if (r->stale)
			reader_removed(r);
	}
}

/* The readers there at start are announced: the daemon may take its name. */
static void first_list_over(void)
{
	if (pcsc.listed)
		return;
	pcsc.listed = true;
	vitaled_source_enumerated();
}

static void handle(struct pcsc_event *ev)
{
	struct pcsc_reader *r = find_reader(ev->reader);

	switch (ev->type) {
	case PCSC_EV_SERVICE_UP:
	case PCSC_EV_SERVICE_DOWN:
		service_changed(ev->type == PCSC_EV_SERVICE_UP, ev->code);
		if (ev->type == PCSC_EV_SERVICE_DOWN)
			first_list_over();	/* no readers for now */
		return;
	case PCSC_EV_READERS_LISTED:
		readers_listed();
		first_list_over();
		return;
	case PCSC_EV_READER_ADDED:
		reader_added(ev->reader);
		return;
	default:
		break;
	}
	if (!r)
		return;
	switch (ev->type) {
	case PCSC_EV_READER_REMOVED:
		/* pcscd dropped it while running: the reader was unplugged */
		if (r->reading || r->hold)
			vitaled_warn("reader %s: unplugged in the middle of a read; read abandoned",
					r->id);
		else
			vitaled_info("reader %s: unplugged", r->id);
		reader_removed(r);
		break;
	case PCSC_EV_CARD_INSERTED:
		card_inserted(r, ev);
		break;
	case PCSC_EV_CARD_REMOVED:
		drop_card(r);
		break;
	case PCSC_EV_READ_WAITING:
	case PCSC_EV_READ_STARTED:
		if (!r->reading || ev->generation != r->reading)
			break;	/* a read abandoned meanwhile */
		if (ev->type == PCSC_EV_READ_WAITING)
			read_waiting(r, ev);
		else
			read_started(r);
		break;
	case PCSC_EV_READ_DONE:
		read_done(r, ev);
		break;
	default:
		break;
	}
}

static void dispatch(void *data)
{
	struct pcsc_event *ev = queue_take(), *next;

	(void)data;
	for (; ev; ev = next) {
		next = ev->next;
		if (pcsc.running)
			handle(ev);
		pcsc_event_free(ev);
	}
}

/* ---- plugin ------------------------------------------------------- */

static const struct vitaled_option pcsc_options[] = {
	/* comma-separated parts of reader names to leave alone */
	{ "IgnoreReaders", VITALED_OPT_STRLIST, "", 0, 0 },
	/* longest wait, in seconds, between two attempts to reach pcscd */
	{ "ReconnectDelayMax", VITALED_OPT_INT, "10", 1, 600 },
	/* longest wait, in seconds, for another application to let go of a card */
	{ "BusyWaitMax", VITALED_OPT_INT, "120", 1, 3600 },
	{ NULL, 0, NULL, 0, 0 },
};

static int pcsc_init(void)
{
	int err;

	pthread_mutex_lock(&pcsc.lock);
	pcsc.running = true;
	pthread_mutex_unlock(&pcsc.lock);
	pcsc.busy_wait_ms = (unsigned int)vitaled_config_int("pcsc", "BusyWaitMax") * 1000;
	err = pcsc_monitor_start(vitaled_config_string("pcsc", "IgnoreReaders"),
			(unsigned int)vitaled_config_int("pcsc", "ReconnectDelayMax") * 1000);
	if (err < 0) {
		pthread_mutex_lock(&pcsc.lock);
		pcsc.running = false;
		pthread_mutex_unlock(&pcsc.lock);
		return err;
	}
	/* Its events reach the loop after this returns. */
	vitaled_source_enumerating();
	return 0;
}

static void pcsc_exit(void)
{
	struct pcsc_event *ev, *next;

	pcsc_monitor_stop();
	while (pcsc.readers) {
		struct pcsc_reader *r = pcsc.readers;

		pcsc.readers = r->next;
		reader_free(r);
	}
	pthread_mutex_lock(&pcsc.lock);
	pcsc.running = false;
	pthread_mutex_unlock(&pcsc.lock);
	for (ev = queue_take(); ev; ev = next) {
		next = ev->next;
		pcsc_event_free(ev);
	}
}

VITALED_PLUGIN_DEFINE(pcsc, "PC/SC readers: contact cards and phones over NFC",
		"1.0", pcsc_options, pcsc_init, pcsc_exit)
