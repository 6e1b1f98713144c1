/*
 * QR token intake from scanners and cameras.  A scanner often reports the
 * same code several times while the phone is held up: the same text within
 * [Tokens] DuplicateWindow seconds is one read.  A later rescan is a new
 * read, and the replay cache then gives it the "replayed" verdict.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>

#include "daemon.h"

#define RECENT_SCANS 16
#define MAX_TOKEN_TEXT 8192	/* far above the largest QR code (version 40) */
#define MAX_TOKEN_CARDS 64

struct recent_scan {
	unsigned char digest[32];
	struct timespec when;
	bool used;
};

static struct recent_scan recent[RECENT_SCANS];
static unsigned int recent_next;

static bool seen_recently(const unsigned char digest[32])
{
	long window = vitaled_config_int("Tokens", "DuplicateWindow");
	struct timespec now;
	unsigned int i;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (i = 0; i < RECENT_SCANS; i++) {
		struct recent_scan *r = &recent[i];

		if (r->used && !memcmp(r->digest, digest, 32) &&
				now.tv_sec - r->when.tv_sec < window) {
			r->when = now;
			return true;
		}
	}
	recent[recent_next].used = true;
	recent[recent_next].when = now;
	memcpy(recent[recent_next].digest, digest, 32);
	recent_next = (recent_next + 1) % RECENT_SCANS;
	return false;
}

/*
 * Many phone reads at once (a queue at the counter, or a scanner flooding
 * tokens) must not grow memory: the oldest finished QR phone read makes
 * room.  Only token reads fill the table; other codes never make a card.
 */
struct token_reads {
	unsigned int n;
	struct vitaled_card *oldest;
};

static bool count_token_reads(struct vitaled_card *card, void *data)
{
	struct token_reads *t = data;

	if (!card->result || card->result->form != VD_FORM_PHONE_QR)
		return true;
	t->n++;
	if (card->state == CARD_STATE_DONE && (!t->oldest || card->serial < t->oldest->serial))
		t->oldest = card;
	return true;
}

static void make_room(void)
{
	struct token_reads t = { 0, NULL };
	char why[96];

	card_foreach(count_token_reads, &t);
	if (t.n < MAX_TOKEN_CARDS || !t.oldest)
		return;
	snprintf(why, sizeof(why), "evicted: %u QR phone reads held, the most kept; the oldest goes",
			t.n);
	card_release(t.oldest, why);
}

/* Somebody else's code (a drug box, a prescription, a link): counted,
 * never logged (it may be personal), never a card; a scanner's goes to
 * the authorised clients (a camera's is whatever was in view: ignored). */
static void other_code(struct vitaled_reader *reader, const uint8_t *data, size_t len,
		const char *symbology)
{
	reader->other_codes++;
	vitaled_debug("reader %s: a code of %zu bytes that is not a Vitale token (%u so far)",
			reader->id, len, reader->other_codes);
	observer_notify(OBSERVE_READER_CHANGED, reader);
	if (reader->kind != VITALED_READER_CAMERA)
		dbus_service_other_code(reader, data, len, symbology);
}

void vitaled_token_submit(struct vitaled_reader *reader, const uint8_t *data, size_t len)
{
	vitaled_code_submit(reader, data, len, NULL);
}

void vitaled_code_submit(struct vitaled_reader *reader, const uint8_t *data, size_t len,
		const char *symbology)
{
	unsigned char digest[32];
	struct vd_read_result *result;
	struct vitaled_card *card;
	struct vd_replay *replay;

	if (!reader || !data)
		return;
	if (len == 0 || len > MAX_TOKEN_TEXT) {
		vitaled_warn("reader %s: scanned code of %zu bytes ignored (limit %d)",
				reader->id, len, MAX_TOKEN_TEXT);
		return;
	}
	if (!vd_token_is_vitale(data, len)) {
		other_code(reader, data, len, symbology);
		return;
	}
	if (!EVP_Digest(data, len, digest, NULL, EVP_sha256(), NULL))
		return;
	if (seen_recently(digest)) {
		vitaled_debug("reader %s: same code scanned again, folded into the first read",
				reader->id);
		return;
	}
	result = vd_read_result_new();
	if (!result)
		return;
	make_room();
	card = vitaled_card_new(reader);
	if (!card) {
		vd_read_result_free(result);
		return;
	}
	replay = engine_replay();
	if (!replay) {
		/* Without a working replay cache a replay cannot be told apart. */
		result->form = VD_FORM_PHONE_QR;
		vd_verdict_set(&result->verdict, VD_STATUS_READ_FAILED,
				"replay cache unavailable: tokens cannot be accepted");
	} else {
		vd_token_verify(engine_context(), replay, data, len, time(NULL), result);
		result->form = VD_FORM_PHONE_QR;
	}
	vitaled_card_complete(card, result);
	/* The scanner holds nothing: the read lives on until its lifetime ends. */
	card->reader = NULL;
	card->held = false;
	vitaled_reader_set_state(reader, VITALED_READER_IDLE);
}
