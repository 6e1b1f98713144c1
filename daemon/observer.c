/*
 * Observers learn about readers and cards as they come, change and go.
 * The D-Bus service is one; the list is tiny and fixed.
 */
#include <stddef.h>

#include "daemon.h"

#define MAX_OBSERVERS 4

static const struct vitaled_observer *observers[MAX_OBSERVERS];

void observer_register(const struct vitaled_observer *observer)
{
	unsigned int i;

	for (i = 0; i < MAX_OBSERVERS; i++)
		if (!observers[i]) {
			observers[i] = observer;
			return;
		}
	vitaled_error("observer: no room for another observer");
}

void observer_unregister(const struct vitaled_observer *observer)
{
	unsigned int i;

	for (i = 0; i < MAX_OBSERVERS; i++)
		if (observers[i] == observer)
			observers[i] = NULL;
}

void observer_notify(enum observer_event event, void *object)
{
	unsigned int i;

	for (i = 0; i < MAX_OBSERVERS; i++) {
		const struct vitaled_observer *o = observers[i];
		void (*reader_cb)(struct vitaled_reader *) = NULL;
		void (*card_cb)(struct vitaled_card *) = NULL;

		if (!o)
			continue;
		switch (event) {
		case OBSERVE_READER_ADDED: reader_cb = o->reader_added; break;
		case OBSERVE_READER_CHANGED: reader_cb = o->reader_changed; break;
		case OBSERVE_READER_REMOVED: reader_cb = o->reader_removed; break;
		case OBSERVE_CARD_ADDED: card_cb = o->card_added; break;
		case OBSERVE_CARD_CHANGED: card_cb = o->card_changed; break;
		case OBSERVE_CARD_REMOVED: card_cb = o->card_removed; break;
		}
		if (reader_cb)
			reader_cb(object);
		if (card_cb)
			card_cb(object);
	}
}
