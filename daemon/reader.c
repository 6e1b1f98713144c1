/*
 * Readers: every PC/SC reader, QR scanner and camera a source plugin
 * announces.  Identity is the plugin's stable id, never an index.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

struct reader_node {
	struct vitaled_reader reader;
	struct reader_node *next;
};

static struct reader_node *readers;	/* oldest first, as listed on the bus */
static unsigned int next_serial = 1;

const char *reader_kind_name(enum vitaled_reader_kind kind)
{
	static const char *const names[] = {
		[VITALED_READER_CONTACT] = "contact",
		[VITALED_READER_CONTACTLESS] = "contactless",
		[VITALED_READER_QR_SERIAL] = "qr-serial",
		[VITALED_READER_QR_HID] = "qr-hid",
		[VITALED_READER_QR_KEYBOARD] = "qr-keyboard",
		[VITALED_READER_CAMERA] = "camera",
	};

	return (unsigned int)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

const char *reader_state_name(enum vitaled_reader_state state)
{
	static const char *const names[] = {
		[VITALED_READER_IDLE] = "idle",
		[VITALED_READER_CARD_PRESENT] = "card-present",
		[VITALED_READER_UNAVAILABLE] = "unavailable",
	};

	return (unsigned int)state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}

struct vitaled_reader *vitaled_reader_add(const char *stable_id, const char *name,
		enum vitaled_reader_kind kind)
{
	struct reader_node *n, **tail;

	if (!stable_id || !name)
		return NULL;
	for (n = readers; n; n = n->next)
		if (!strcmp(n->reader.id, stable_id)) {
			vitaled_warn("reader %s: announced twice", stable_id);
			return NULL;
		}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->reader.id = strdup(stable_id);
	n->reader.name = strdup(name);
	if (!n->reader.id || !n->reader.name) {
		free(n->reader.id);
		free(n->reader.name);
		free(n);
		return NULL;
	}
	n->reader.kind = kind;
	n->reader.state = VITALED_READER_IDLE;
	n->reader.serial = next_serial++;
	for (tail = &readers; *tail; tail = &(*tail)->next)
		;
	*tail = n;
	vitaled_info("reader %s: added (%s, \"%s\")", stable_id, reader_kind_name(kind), name);
	observer_notify(OBSERVE_READER_ADDED, &n->reader);
	return &n->reader;
}

void vitaled_reader_set_state(struct vitaled_reader *reader, enum vitaled_reader_state state)
{
	if (!reader || reader->state == state)
		return;
	reader->state = state;
	vitaled_debug("reader %s: %s", reader->id, reader_state_name(state));
	observer_notify(OBSERVE_READER_CHANGED, reader);
}

void vitaled_reader_set_kind(struct vitaled_reader *reader, enum vitaled_reader_kind kind)
{
	if (!reader || reader->kind == kind)
		return;
	reader->kind = kind;
	vitaled_info("reader %s: %s", reader->id, reader_kind_name(kind));
	observer_notify(OBSERVE_READER_CHANGED, reader);
}

void vitaled_reader_set_pass_through(struct vitaled_reader *reader, const char *where)
{
	char *copy = NULL;

	if (!reader)
		return;
	if (where && *where && !(copy = strdup(where)))
		return;
	free(reader->pass_through);
	reader->pass_through = copy;
	observer_notify(OBSERVE_READER_CHANGED, reader);
}

const char *vitaled_reader_id(const struct vitaled_reader *reader)
{
	return reader ? reader->id : NULL;
}

static void reader_free(struct reader_node *n)
{
	free(n->reader.pass_through);
	free(n->reader.id);
	free(n->reader.name);
	free(n);
}

void vitaled_reader_remove(struct vitaled_reader *reader)
{
	struct reader_node **pp;

	for (pp = &readers; *pp; pp = &(*pp)->next) {
		struct reader_node *n = *pp;

		if (&n->reader != reader)
			continue;
		card_reader_gone(reader);
		*pp = n->next;
		vitaled_info("reader %s: removed", reader->id);
		observer_notify(OBSERVE_READER_REMOVED, reader);
		reader_free(n);
		return;
	}
}

void reader_foreach(bool (*func)(struct vitaled_reader *reader, void *data), void *data)
{
	struct reader_node *n, *next;

	for (n = readers; n; n = next) {
		next = n->next;
		if (!func(&n->reader, data))
			return;
	}
}

void reader_cleanup(void)
{
	while (readers)
		vitaled_reader_remove(&readers->reader);
}
