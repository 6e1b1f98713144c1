/*
 * Cards: one object per card, phone or token read.  A physical card's
 * data lives until it is pulled; a phone read (NFC or QR) until the
 * configured lifetime runs out or a client releases it.  Whatever ends a
 * card wipes what it held (vd_read_result_free).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "daemon.h"

struct card_node {
	struct vitaled_card card;
	struct card_node *next;
};

static struct card_node *cards;	/* oldest first, as listed on the bus */
static unsigned int next_serial = 1;

/*
 * A card's object path must never name another read: not after a restart,
 * a crash or a reboot, when a counter would start again and a client still
 * holding the old path would get another patient's data.  128 random bits
 * never repeat in practice, and nobody can guess the path of a read.
 */
static int new_card_id(char id[VITALED_DBUS_CARD_ID_LEN + 1])
{
	unsigned char bytes[VITALED_DBUS_CARD_ID_LEN / 2];
	size_t got = 0, i;

	while (got < sizeof(bytes)) {
		ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(bytes); i++)
		snprintf(id + 2 * i, 3, "%02x", bytes[i]);
	return 0;
}

static bool is_phone_read(const struct vitaled_card *card)
{
	return card->result && (card->result->form == VD_FORM_PHONE_NFC ||
			card->result->form == VD_FORM_PHONE_QR);
}

static unsigned int elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (unsigned int)((now.tv_sec - since->tv_sec) * 1000 +
			(now.tv_nsec - since->tv_nsec) / 1000000);
}

/* Does the reader still hold a card?  Phone reads outlive the tap. */
static void update_reader_state(struct vitaled_reader *reader)
{
	struct card_node *n;

	if (!reader || reader->state == VITALED_READER_UNAVAILABLE)
		return;
	for (n = cards; n; n = n->next)
		if (n->card.reader == reader) {
			vitaled_reader_set_state(reader, VITALED_READER_CARD_PRESENT);
			return;
		}
	vitaled_reader_set_state(reader, VITALED_READER_IDLE);
}

/*
 * The read is over for everyone: off the list, off the bus, data wiped.
 * A source plugin may still hold the card (a phone released by a client
 * while it lies on the reader): the empty shell then waits for the
 * plugin's vitaled_card_remove() before it is freed.
 */
static void card_destroy(struct vitaled_card *card)
{
	struct card_node **pp;

	for (pp = &cards; *pp; pp = &(*pp)->next) {
		struct card_node *n = *pp;
		struct vitaled_reader *reader = card->reader;

		if (&n->card != card)
			continue;
		*pp = n->next;
		vitaled_timer_remove(card->lifetime);
		card->lifetime = NULL;
		observer_notify(OBSERVE_CARD_REMOVED, card);
		vd_read_result_free(card->result);
		card->result = NULL;
		/* replies with its data may sit in libdbus's cache: a busy
		 * loop may not go quiet for long (loop.c empties it then too) */
		wipe_dbus_message_cache();
		card->reader = NULL;
		update_reader_state(reader);
		if (card->held) {
			card->gone = true;
			return;
		}
		memset(n, 0, sizeof(*n));
		free(n);
		return;
	}
}

/* The shell of a card destroyed while its plugin held it. */
static void card_free_gone(struct vitaled_card *card)
{
	struct card_node *n = (struct card_node *)card;

	memset(n, 0, sizeof(*n));
	free(n);
}

struct vitaled_card *vitaled_card_new(struct vitaled_reader *reader)
{
	struct card_node *n, **tail;
	int err;

	if (!reader)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	err = new_card_id(n->card.id);
	if (err < 0) {
		vitaled_error("reader %s: no random id for a card (%s): not read",
				reader->id, strerror(-err));
		free(n);
		return NULL;
	}
	n->card.serial = next_serial++;
	n->card.reader = reader;
	snprintf(n->card.reader_id, sizeof(n->card.reader_id), "%s", reader->id);
	n->card.state = CARD_STATE_READING;
	n->card.held = true;
	clock_gettime(CLOCK_MONOTONIC, &n->card.started);
	for (tail = &cards; *tail; tail = &(*tail)->next)
		;
	*tail = n;
	vitaled_info("reader %s: card %u inserted, reading (object %s)", reader->id,
			n->card.serial, n->card.id);
	observer_notify(OBSERVE_CARD_ADDED, &n->card);
	update_reader_state(reader);
	return &n->card;
}

static void lifetime_expired(void *user_data)
{
	struct vitaled_card *card = user_data;

	card->lifetime = NULL;	/* a fired timer is freed by the loop */
	vitaled_info("card %u: phone read lifetime over, data wiped", card->serial);
	card_destroy(card);
}

void vitaled_card_complete(struct vitaled_card *card, struct vd_read_result *result)
{
	if (!card || !result || card->gone) {
		vd_read_result_free(result);
		return;
	}
	engine_apply_freshness(result);
	vd_read_result_free(card->result);
	card->result = result;
	card->state = CARD_STATE_DONE;
	card->read_time = time(NULL);
	vitaled_info("reader %s: card %u: %s, %s (%s), %u APDUs, %u ms",
			card->reader_id, card->serial, vd_form_factor_name(result->form),
			vd_status_name(result->verdict.status), result->verdict.reason,
			result->apdu_count, elapsed_ms(&card->started));
	if (is_phone_read(card) && !card->lifetime) {
		long secs = vitaled_config_int("DBus", "PhoneReadLifetime");

		card->lifetime = vitaled_timer_add((unsigned int)secs * 1000,
				lifetime_expired, card);
	}
	observer_notify(OBSERVE_CARD_CHANGED, card);
}

void vitaled_card_set_waiting(struct vitaled_card *card, const char *why)
{
	if (!card || card->gone || card->state == CARD_STATE_DONE)
		return;
	if (why) {
		snprintf(card->waiting, sizeof(card->waiting), "%s", why);
		card->state = CARD_STATE_WAITING;
		vitaled_info("reader %s: card %u waiting: %s", card->reader_id, card->serial, why);
	} else if (card->state == CARD_STATE_WAITING) {
		card->waiting[0] = '\0';
		card->state = CARD_STATE_READING;
		vitaled_info("reader %s: card %u is free; reading", card->reader_id, card->serial);
	} else {
		return;
	}
	observer_notify(OBSERVE_CARD_CHANGED, card);
}

void vitaled_card_remove(struct vitaled_card *card)
{
	struct vitaled_reader *reader;

	if (!card)
		return;
	card->held = false;
	if (card->gone) {
		card_free_gone(card);
		return;
	}
	/* A phone leaves the field right after the tap: its read stays
	 * available to the practice software until its lifetime ends. */
	if (card->state == CARD_STATE_DONE && is_phone_read(card) && card->lifetime) {
		reader = card->reader;
		card->reader = NULL;
		update_reader_state(reader);
		observer_notify(OBSERVE_CARD_CHANGED, card);
		return;
	}
	if (card->state != CARD_STATE_DONE)
		vitaled_info("reader %s: card %u removed before the read finished; nothing published",
				card->reader_id, card->serial);
	else
		vitaled_info("reader %s: card %u removed, data wiped", card->reader_id, card->serial);
	card_destroy(card);
}

void card_release(struct vitaled_card *card, const char *why)
{
	vitaled_info("card %u: %s, data wiped", card->serial, why);
	card_destroy(card);
}

/* The reader went away: its cards go too (phone reads stay, detached). */
void card_reader_gone(struct vitaled_reader *reader)
{
	struct card_node *n, *next;

	for (n = cards; n; n = next) {
		struct vitaled_card *card = &n->card;

		next = n->next;
		if (card->reader != reader)
			continue;
		if (card->state == CARD_STATE_DONE && is_phone_read(card) && card->lifetime) {
			card->reader = NULL;
			observer_notify(OBSERVE_CARD_CHANGED, card);
		} else {
			card_destroy(card);
		}
	}
}

struct vitaled_card *card_find(const char *id)
{
	struct card_node *n;

	for (n = cards; n; n = n->next)
		if (!strcmp(n->card.id, id))
			return &n->card;
	return NULL;
}

void card_foreach(bool (*func)(struct vitaled_card *card, void *data), void *data)
{
	struct card_node *n, *next;

	for (n = cards; n; n = next) {
		next = n->next;
		if (!func(&n->card, data))
			return;
	}
}

void card_cleanup(void)
{
	while (cards)
		card_destroy(&cards->card);
}
