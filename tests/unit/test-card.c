/*
 * daemon/card.c: whatever ends a card — pulled, released by a client, its
 * reader gone, the daemon stopping — frees its read, wiped.
 *
 * Linked with -Wl,--wrap=free with the daemon's real card, reader,
 * observer, loop, configuration and log code: every free() passes here
 * first, so the test sees the read result itself freed, and whether it
 * still held the canary (a name planted in its record) then.  The test
 * is a daemon without source plugins: plugin.c, which links them all in,
 * is left out, and the configuration has no plugin options.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "tap.h"

#define CANARY "NIR-1800375056123-CANARY"

void __real_free(void *p);
void __wrap_free(void *p);

static const void *watched;
static bool replacing;		/* watch the read being replaced */
static unsigned int freed, unwiped;

void __wrap_free(void *p)
{
	if (p && p == watched) {
		freed++;
		if (memmem(p, sizeof(struct vd_read_result), CANARY, strlen(CANARY)))
			unwiped++;
	}
	__real_free(p);
}

const struct config_schema *const *plugin_schemas(void)
{
	static const struct config_schema *const none[] = { NULL };

	return none;
}

/* engine.c is not linked: fresh trust material (no [Trust] MaxAge). */
void engine_apply_freshness(struct vd_read_result *result)
{
}

/* A verified card read holding the canary, handed to the card. */
static void complete(struct vitaled_card *card)
{
	struct vd_read_result *res = vd_read_result_new();

	if (!res)
		abort();
	res->form = VD_FORM_CARD;
	vd_verdict_set(&res->verdict, VD_STATUS_VERIFIED, "read for the test");
	res->has_record = true;
	strcpy(res->record.beneficiaries[0].usual_name, CANARY);
	if (!replacing)
		watched = res;
	freed = unwiped = 0;
	vitaled_card_complete(card, res);
}

int main(void)
{
	struct vitaled_reader *reader;
	struct vitaled_card *card;

	log_init(LOG_LEVEL_INFO);
	reader = vitaled_reader_add("test-reader", "Test Reader", VITALED_READER_CONTACT);
	if (!reader)
		abort();

	card = vitaled_card_new(reader);
	complete(card);
	tap_ok(freed == 0 && card_find(card->id) == card, "a completed read is kept");
	vitaled_card_remove(card);
	tap_ok(freed == 1 && unwiped == 0, "a pulled card's read is freed, wiped (%u, %u)",
			freed, unwiped);

	card = vitaled_card_new(reader);
	complete(card);
	replacing = true;
	complete(card);
	replacing = false;
	tap_ok(freed == 1 && unwiped == 0, "a second read replaces the first, freed, wiped");
	watched = card->result;
	freed = 0;
	card_release(card, "released by a client");
	tap_ok(freed == 1 && unwiped == 0, "a released card's read is freed, wiped");
	vitaled_card_remove(card);

	card = vitaled_card_new(reader);
	complete(card);
	card_reader_gone(reader);
	tap_ok(freed == 1 && unwiped == 0, "a gone reader's card read is freed, wiped");
	vitaled_card_remove(card);

	card = vitaled_card_new(reader);
	complete(card);
	card_cleanup();
	tap_ok(freed == 1 && unwiped == 0, "at exit every read is freed, wiped");
	tap_ok(card_find(card->id) == NULL, "no card left");
	vitaled_card_remove(card);
	reader_cleanup();
	return tap_done();
}
