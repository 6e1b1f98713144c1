/*
 * One worker thread per reader: card reads block on the card, so a slow
 * card only ever holds up its own reader.
 *
 * A read runs inside a PC/SC transaction with the worker's own context
 * (a context serialises its calls, and the monitor's is parked in
 * SCardGetStatusChange).  It stops at the next APDU when the loop
 * abandons it (card pulled) or when its time is up; an APDU that never
 * returns is the loop's watchdog's business, and the thread picks up the
 * next read as soon as pcscd lets go of it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winscard.h>

#include "plugins.h"

#define MAX_RESETS	2	/* reads restarted after someone reset the card */
/* The loop gives up on another application at wait_ms; the worker's own
 * limit is a little later, in case the loop's timer could not be set. */
#define WAIT_SLACK_MS	2000
/* pcscd may not announce the end of an exclusive connection: see
 * wait_exclusive() */
#define RECHECK_FIRST_MS	500
#define RECHECK_MAX_MS		8000

struct pcsc_worker {
	pthread_t thread;
	atomic_int refs;		/* the loop's and the thread's */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	bool pending;			/* a read waits for the thread */
	uint64_t generation;
	uint8_t atr[PCSC_ATR_MAX];
	size_t atr_len;
	struct vd_context *ctx;
	unsigned int timeout_ms;
	unsigned int wait_ms;
	atomic_uint_fast64_t abandoned;	/* reads up to this generation */
	char reader[PCSC_NAME_MAX];
	/* the read in flight, for a watchdog that gives up on it (lock) */
	uint64_t progress_generation;
	unsigned int progress_apdus;
	enum vd_form_factor progress_form;
	SCARDCONTEXT pcsc;		/* used by the thread only (and SCardCancel) */
	bool has_pcsc;
	bool in_wait;			/* in SCardGetStatusChange: cancel to abandon */
};

/* One read's I/O, handed to vd_chip_read() as struct vd_card_io. */
struct read_io {
	struct pcsc_worker *worker;
	uint64_t generation;
	const struct vd_read_result *res;	/* the profile seen so far */
	SCARDHANDLE card;
	const SCARD_IO_REQUEST *pci;
	struct timespec deadline;
	unsigned int apdus;
	LONG last;			/* last PC/SC error */
	bool reset;			/* someone reset the card under us */
};

static void worker_unref(struct pcsc_worker *w)
{
	if (atomic_fetch_sub(&w->refs, 1) != 1)
		return;
	if (w->ctx)
		vd_context_unref(w->ctx);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

static bool past(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
		(now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static bool is_abandoned(const struct pcsc_worker *w, uint64_t generation)
{
	return atomic_load(&w->abandoned) >= generation;
}

/* The card (or the reader, or pcscd) is gone. */
static bool card_gone(LONG rv)
{
	switch (rv) {
	case SCARD_W_REMOVED_CARD:
	case SCARD_E_NO_SMARTCARD:
	case SCARD_E_NOT_TRANSACTED:	/* pcsc-lite's first answer after a pull */
	case SCARD_E_READER_UNAVAILABLE:
	case SCARD_E_UNKNOWN_READER:
	case SCARD_E_NO_SERVICE:
	case SCARD_E_SERVICE_STOPPED:
	case SCARD_F_COMM_ERROR:
		return true;
	default:
		return false;
	}
}

static int card_transmit(void *data, const uint8_t *cmd, size_t cmd_len,
		uint8_t *resp, size_t *resp_len)
{
	struct read_io *io = data;
	DWORD len = (DWORD)*resp_len;
	LONG rv;

	if (is_abandoned(io->worker, io->generation))
		return -ENODEV;
	if (past(&io->deadline))
		return -ETIMEDOUT;
	io->apdus++;
	pthread_mutex_lock(&io->worker->lock);
	io->worker->progress_generation = io->generation;
	io->worker->progress_apdus = io->apdus;
	io->worker->progress_form = io->res->form;
	pthread_mutex_unlock(&io->worker->lock);
	rv = SCardTransmit(io->card, io->pci, cmd, (DWORD)cmd_len, NULL, resp, &len);
	/* no status word: the card went mute, or away before pcscd noticed */
	if (rv == SCARD_S_SUCCESS && len < 2)
		rv = SCARD_E_COMM_DATA_LOST;
	if (rv == SCARD_S_SUCCESS) {
		*resp_len = len;
		return 0;
	}
	io->last = rv;
	if (rv == SCARD_W_RESET_CARD)
		io->reset = true;
	return card_gone(rv) ? -ENODEV : -EIO;
}

/* pcsc_stringify_error() is not thread-safe: the loop logs the PC/SC
 * error (READ_DONE carries it), the verdict says it in words. */
static void fail(struct vd_read_result *res, enum vd_status status, const char *why)
{
	vd_read_result_drop_record(res);
	vd_verdict_set(&res->verdict, status, "%s", why);
}

static LONG ensure_context(struct pcsc_worker *w)
{
	LONG rv;

	if (w->has_pcsc)
		return SCARD_S_SUCCESS;
	rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &w->pcsc);
	w->has_pcsc = rv == SCARD_S_SUCCESS;
	return rv;
}

static void drop_context(struct pcsc_worker *w)
{
	if (w->has_pcsc)
		SCardReleaseContext(w->pcsc);
	w->has_pcsc = false;
}

static void post_waiting(struct pcsc_worker *w, uint64_t generation,
		enum pcsc_event_type type, bool exclusive)
{
	struct pcsc_event *ev = pcsc_event_new(type, w->reader);

	if (!ev)
		return;
	ev->generation = generation;
	ev->exclusive = exclusive;
	pcsc_event_post(ev);
}

/*
 * The reader's state as pcscd has it (ms 0), or wait up to ms for it to
 * differ from *st; abandon() cancels the wait: SCARD_E_CANCELLED, as for
 * a read already abandoned.
 */
static LONG reader_state(struct pcsc_worker *w, uint64_t generation, DWORD ms,
		SCARD_READERSTATE *st)
{
	bool go;
	LONG rv;

	pthread_mutex_lock(&w->lock);
	go = !is_abandoned(w, generation);
	w->in_wait = go && ms;
	pthread_mutex_unlock(&w->lock);
	if (!go)
		return SCARD_E_CANCELLED;
	rv = SCardGetStatusChange(w->pcsc, ms, st, 1);
	pthread_mutex_lock(&w->lock);
	w->in_wait = false;
	pthread_mutex_unlock(&w->lock);
	if (rv == SCARD_S_SUCCESS)
		st->dwCurrentState = st->dwEventState & ~SCARD_STATE_CHANGED;
	return rv;
}

static long ms_until(const struct timespec *until)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (until->tv_sec - now.tv_sec) * 1000 + (until->tv_nsec - now.tv_nsec) / 1000000;
}

/*
 * Another application holds the card exclusively: wait for pcscd to
 * report it let go (SCardGetStatusChange), the card to leave, the read to
 * be abandoned or the longest wait to pass.  pcscd (1.9.9) only samples
 * the sharing state every 400 ms in its reader thread and tells waiting
 * clients when the sample changes: a hold shorter than that, or a release
 * racing the sample, is never announced (seen with a killed holder).  So
 * the wait also reads the state again after RECHECK_FIRST_MS, doubling up
 * to RECHECK_MAX_MS: a few wake-ups while the card is held, none idle.
 */
static LONG wait_exclusive(struct pcsc_worker *w, uint64_t generation,
		const struct timespec *until)
{
	SCARD_READERSTATE st = { .szReader = w->reader, .dwCurrentState = SCARD_STATE_UNAWARE };
	unsigned int recheck = RECHECK_FIRST_MS;
	LONG rv;

	for (;;) {
		long left = ms_until(until);
		DWORD ms = st.dwCurrentState == SCARD_STATE_UNAWARE ? 0 :
			left < (long)recheck ? (DWORD)(left > 0 ? left : 1) : recheck;

		if (left <= 0)
			return SCARD_E_SHARING_VIOLATION;
		rv = reader_state(w, generation, ms, &st);
		if (rv == SCARD_E_TIMEOUT) {
			st.dwCurrentState = SCARD_STATE_UNAWARE;
			recheck = recheck * 2 > RECHECK_MAX_MS ? RECHECK_MAX_MS : recheck * 2;
			continue;
		}
		if (rv == SCARD_E_CANCELLED)
			return SCARD_E_SHARING_VIOLATION;
		if (rv != SCARD_S_SUCCESS)
			return rv;
		if (!(st.dwEventState & SCARD_STATE_PRESENT))
			return SCARD_E_NO_SMARTCARD;
		if (!(st.dwEventState & SCARD_STATE_EXCLUSIVE))
			return SCARD_S_SUCCESS;
	}
}

static LONG connect_card(struct pcsc_worker *w, SCARDHANDLE *card, DWORD *proto)
{
	LONG rv = SCARD_S_SUCCESS;

	/* a context from before a pcscd restart is dead: one fresh try */
	for (int attempt = 0; attempt < 2; attempt++) {
		rv = ensure_context(w);
		if (rv == SCARD_S_SUCCESS)
			rv = SCardConnect(w->pcsc, w->reader, SCARD_SHARE_SHARED,
					SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, card, proto);
		if (rv != SCARD_E_INVALID_HANDLE && rv != SCARD_E_NO_SERVICE &&
		    rv != SCARD_F_COMM_ERROR && rv != SCARD_E_SERVICE_STOPPED)
			break;
		drop_context(w);
	}
	return rv;
}

/*
 * Connect, sharing the card: never exclusively.  Another application may
 * hold it: exclusively (pcscd refuses us until it lets go) or in a
 * transaction (pcscd and libpcsclite block our connect and our
 * transaction until it ends).  Either way the loop hears READ_WAITING and
 * counts the wait against [pcsc] BusyWaitMax, not against the card.
 * *waited: READ_WAITING was posted.
 */
static LONG connect_shared(struct pcsc_worker *w, uint64_t generation, unsigned int wait_ms,
		SCARDHANDLE *card, DWORD *proto, bool *waited)
{
	SCARD_READERSTATE st = { .szReader = w->reader, .dwCurrentState = SCARD_STATE_UNAWARE };
	struct timespec until;
	bool exclusive = false;
	LONG rv;

	pcsc_timespec_after(&until, CLOCK_MONOTONIC, wait_ms + WAIT_SLACK_MS);
	/* we hold no handle here: INUSE is someone else's connection */
	if (ensure_context(w) == SCARD_S_SUCCESS &&
	    reader_state(w, generation, 0, &st) == SCARD_S_SUCCESS &&
	    (st.dwEventState & (SCARD_STATE_INUSE | SCARD_STATE_EXCLUSIVE))) {
		exclusive = st.dwEventState & SCARD_STATE_EXCLUSIVE;
		post_waiting(w, generation, PCSC_EV_READ_WAITING, exclusive);
		*waited = true;
	}
	for (;;) {
		rv = connect_card(w, card, proto);
		if (rv != SCARD_E_SHARING_VIOLATION)
			return rv;
		if (!exclusive)
			post_waiting(w, generation, PCSC_EV_READ_WAITING, true);
		exclusive = *waited = true;
		rv = wait_exclusive(w, generation, &until);
		if (rv != SCARD_S_SUCCESS)
			return rv;
	}
}

/*
 * The whole read of one card, retried if another application resets it.
 * Fills ev: the result, whether the card went away, the PC/SC error.
 */
static void read_card(struct pcsc_worker *w, const uint8_t *atr, size_t atr_len,
		struct vd_context *ctx, unsigned int timeout_ms, unsigned int wait_ms,
		struct pcsc_event *ev)
{
	uint64_t generation = ev->generation;
	struct vd_read_result *res = vd_read_result_new();
	struct read_io io = { .worker = w, .generation = generation };
	struct vd_card_io card_io = { card_transmit, &io };
	DWORD proto = 0;
	bool waited = false;
	LONG rv;

	if (!res)
		return;
	ev->result = res;
	io.res = res;
	rv = connect_shared(w, generation, wait_ms, &io.card, &proto, &waited);
	if (rv != SCARD_S_SUCCESS) {
		ev->card_gone = card_gone(rv);
		ev->code = rv;
		if (rv == SCARD_E_PROTO_MISMATCH)
			fail(res, VD_STATUS_UNSUPPORTED, "the card speaks neither T=0 nor T=1");
		else if (rv == SCARD_W_UNRESPONSIVE_CARD || rv == SCARD_W_UNPOWERED_CARD)
			fail(res, VD_STATUS_READ_FAILED, "the card does not answer");
		else if (rv == SCARD_E_SHARING_VIOLATION)
			fail(res, VD_STATUS_READ_FAILED, "another application holds the card");
		else
			fail(res, VD_STATUS_READ_FAILED, "cannot connect to the card");
		return;
	}
	io.pci = proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;

	for (int resets = 0;; resets++) {
		io.reset = false;
		io.last = SCARD_S_SUCCESS;
		/* blocks while another application's transaction lasts */
		rv = SCardBeginTransaction(io.card);
		if (rv == SCARD_S_SUCCESS && waited) {
			post_waiting(w, generation, PCSC_EV_READ_STARTED, false);
			waited = false;
		}
		/* the card's time starts now, not in the queue */
		pcsc_timespec_after(&io.deadline, CLOCK_MONOTONIC, timeout_ms);
		if (rv == SCARD_S_SUCCESS && is_abandoned(w, generation)) {
			SCardEndTransaction(io.card, SCARD_LEAVE_CARD);
			break;
		} else if (rv == SCARD_S_SUCCESS) {
			vd_chip_read(ctx, &card_io, atr, atr_len, time(NULL), res);
			/* ends the transaction with the card as it is */
			rv = SCardEndTransaction(io.card, SCARD_LEAVE_CARD);
			if (io.last != SCARD_S_SUCCESS)
				rv = io.last;
			else if (rv == SCARD_W_RESET_CARD)
				io.reset = true;
		} else if (rv == SCARD_W_RESET_CARD) {
			io.reset = true;
		}
		/* a stale handle after a reset needs SCardReconnect; the
		 * card lost its selected application: read it again */
		if (!io.reset || resets >= MAX_RESETS || is_abandoned(w, generation))
			break;
		rv = SCardReconnect(io.card, SCARD_SHARE_SHARED,
				SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, SCARD_LEAVE_CARD, &proto);
		if (rv != SCARD_S_SUCCESS)
			break;
		ev->reconnects++;
		io.pci = proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
		vd_read_result_free(res);
		res = ev->result = vd_read_result_new();
		if (!res)
			break;
		io.res = res;
		io.apdus = 0;
	}
	SCardDisconnect(io.card, SCARD_LEAVE_CARD);
	ev->card_gone = card_gone(rv) || is_abandoned(w, generation);
	ev->code = rv;
	if (!res)
		return;
	if (rv != SCARD_S_SUCCESS && res->verdict.status == VD_STATUS_VERIFIED)
		fail(res, VD_STATUS_READ_FAILED, "the read did not complete");
	res->apdu_count = io.apdus;
}

static void *worker_thread(void *data)
{
	struct pcsc_worker *w = data;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct vd_context *ctx;
		struct pcsc_event *ev;
		uint8_t atr[PCSC_ATR_MAX];
		size_t atr_len;
		uint64_t generation;
		unsigned int timeout_ms, wait_ms;

		while (!w->stop && !w->pending)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		w->pending = false;
		generation = w->generation;
		atr_len = w->atr_len;
		memcpy(atr, w->atr, atr_len);
		ctx = w->ctx;
		w->ctx = NULL;
		timeout_ms = w->timeout_ms;
		wait_ms = w->wait_ms;
		pthread_mutex_unlock(&w->lock);

		ev = pcsc_event_new(PCSC_EV_READ_DONE, w->reader);
		if (ev) {
			ev->generation = generation;
			if (!is_abandoned(w, generation))
				read_card(w, atr, atr_len, ctx, timeout_ms, wait_ms, ev);
			pcsc_event_post(ev);
		}
		vd_context_unref(ctx);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	drop_context(w);
	worker_unref(w);
	return NULL;
}

struct pcsc_worker *pcsc_worker_start(const char *reader)
{
	struct pcsc_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	snprintf(w->reader, sizeof(w->reader), "%s", reader);
	atomic_init(&w->refs, 2);
	atomic_init(&w->abandoned, 0);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, worker_thread, w)) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free(w);
		return NULL;
	}
	return w;
}

void pcsc_worker_read(struct pcsc_worker *w, uint64_t generation,
		const uint8_t *atr, size_t atr_len, struct vd_context *ctx,
		unsigned int timeout_ms, unsigned int wait_ms)
{
	pthread_mutex_lock(&w->lock);
	/* a read still waiting for the thread is superseded */
	if (w->ctx)
		vd_context_unref(w->ctx);
	w->ctx = ctx ? vd_context_ref(ctx) : NULL;
	w->generation = generation;
	w->atr_len = atr_len <= PCSC_ATR_MAX ? atr_len : PCSC_ATR_MAX;
	memcpy(w->atr, atr, w->atr_len);
	w->timeout_ms = timeout_ms;
	w->wait_ms = wait_ms;
	w->pending = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

bool pcsc_worker_progress(struct pcsc_worker *w, uint64_t generation, unsigned int *apdus,
		enum vd_form_factor *form)
{
	bool ours;

	pthread_mutex_lock(&w->lock);
	ours = w->progress_generation == generation;
	if (ours) {
		*apdus = w->progress_apdus;
		*form = w->progress_form;
	}
	pthread_mutex_unlock(&w->lock);
	return ours;
}

/* A wait for another application is cut short; a cancel that comes
 * before the wait starts is lost, and the wait ends at its own limit. */
static void cancel_wait(struct pcsc_worker *w)
{
	if (w->in_wait)
		SCardCancel(w->pcsc);
}

void pcsc_worker_abandon(struct pcsc_worker *w)
{
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->abandoned, w->generation);
	cancel_wait(w);
	pthread_mutex_unlock(&w->lock);
}

void pcsc_worker_stop(struct pcsc_worker *w)
{
	struct timespec deadline;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	atomic_store(&w->abandoned, UINT64_MAX);
	cancel_wait(w);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	/* a card that never answers must not hold up the daemon's exit */
	pcsc_timespec_after(&deadline, CLOCK_REALTIME, 500);
	if (pthread_timedjoin_np(w->thread, NULL, &deadline))
		pthread_detach(w->thread);
	worker_unref(w);
}
