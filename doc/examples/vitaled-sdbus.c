/*
 * Follow vitaled's cards with systemd's sd-bus, race-free (doc/dbus-api.md):
 * one match for the whole /org/vitaled namespace and one for the name's
 * owner, then GetManagedObjects; State is read again whenever a card is
 * heard of; when vitaled restarts, everything is listed again.
 *
 *   cc -o vitaled-sdbus vitaled-sdbus.c $(pkg-config --cflags --libs libsystemd)
 *   vitaled-sdbus [YYYY-MM-DD]
 *
 * One JSON line per event on stdout, as doc/examples/vitaled-gdbus.py
 * prints them (sync, done, data, error, removed, vanished, stale).  sd-bus
 * turns an error name it does not know (org.vitaled.Error.*) into EIO:
 * match on the name (sd_bus_error.name), never on the errno.
 * Personal data (first names) is printed: run it on test cards only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#define NAME	"org.vitaled"
#define ROOT	"/org/vitaled"
#define CARD1	"org.vitaled.Card1"
#define READER1	"org.vitaled.Reader1"
#define MAX_CARDS 256

struct paths {
	char *p[MAX_CARDS];
	size_t n;
};

static sd_bus *bus;
static const char *date = "";
static struct paths handled, known;

static bool paths_has(const struct paths *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->p[i], path))
			return true;
	return false;
}

static void paths_add(struct paths *l, const char *path)
{
	char *copy;

	if (paths_has(l, path) || l->n == MAX_CARDS || !(copy = strdup(path)))
		return;
	l->p[l->n++] = copy;
}

static void paths_clear(struct paths *l)
{
	while (l->n)
		free(l->p[--l->n]);
}

/* A JSON string (paths, names and messages are UTF-8 already). */
static void json(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void error_event(const char *path, const char *method, const sd_bus_error *e, int r)
{
	printf("{\"event\": \"error\", \"path\": ");
	json(path);
	printf(", \"method\": ");
	json(method);
	printf(", \"name\": ");
	json(e->name ? e->name : "");
	printf(", \"errno\": ");
	json(strerrorname_np(-r) ? strerrorname_np(-r) : "?");
	printf("}\n");
	fflush(stdout);
}

/* The string value of key in the a{sv} the message is at ("" if none). */
static int dict_string(sd_bus_message *m, const char *key, char *out, size_t size)
{
	const char *k, *v;
	int r;

	out[0] = '\0';
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		if ((r = sd_bus_message_read(m, "s", &k)) < 0)
			return r;
		if (!strcmp(k, key) && sd_bus_message_read(m, "v", "s", &v) > 0)
			snprintf(out, size, "%s", v);
		else if ((r = sd_bus_message_skip(m, "v")) < 0)
			return r;
		if ((r = sd_bus_message_exit_container(m)) < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static void card_data(const char *path)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *aff = NULL, *bens = NULL;
	char serial[64], first[256];
	bool comma = false;
	int r;

	r = sd_bus_call_method(bus, NAME, path, CARD1, "GetAffiliation", &e, &aff, "");
	if (r < 0) {
		error_event(path, "GetAffiliation", &e, r);
		goto out;
	}
	r = sd_bus_call_method(bus, NAME, path, CARD1, "GetBeneficiaries", &e, &bens, "s", date);
	if (r < 0) {
		error_event(path, "GetBeneficiaries", &e, r);
		goto out;
	}
	if (dict_string(aff, "CardSerial", serial, sizeof(serial)) < 0 ||
			sd_bus_message_enter_container(bens, 'a', "a{sv}") < 0)
		goto out;
	printf("{\"event\": \"data\", \"path\": ");
	json(path);
	printf(", \"serial\": ");
	json(serial);
	printf(", \"first_names\": [");
	while (sd_bus_message_at_end(bens, false) == 0 &&
			dict_string(bens, "FirstName", first, sizeof(first)) >= 0) {
		printf("%s", comma ? ", " : "");
		json(first);
		comma = true;
	}
	printf("]}\n");
	fflush(stdout);
out:
	sd_bus_error_free(&e);
	sd_bus_message_unref(aff);
	sd_bus_message_unref(bens);
}

/* Read State again, whatever we heard: a "done" may have come before. */
static void card_check(const char *path)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *state = NULL, *status = NULL;
	int has_data = 0;
	uint32_t count = 0;
	int r;

	paths_add(&known, path);
	if (paths_has(&handled, path))
		return;
	r = sd_bus_get_property_string(bus, NAME, path, CARD1, "State", &e, &state);
	if (r < 0 || strcmp(state, "done"))
		goto out;
	paths_add(&handled, path);
	if (sd_bus_get_property_string(bus, NAME, path, CARD1, "Status", &e, &status) < 0 ||
			sd_bus_get_property_trivial(bus, NAME, path, CARD1, "HasData", &e, 'b',
				&has_data) < 0 ||
			sd_bus_get_property_trivial(bus, NAME, path, CARD1, "BeneficiaryCount", &e,
				'u', &count) < 0)
		goto out;
	printf("{\"event\": \"done\", \"path\": ");
	json(path);
	printf(", \"status\": ");
	json(status);
	printf(", \"has_data\": %s, \"count\": %u}\n", has_data ? "true" : "false", count);
	fflush(stdout);
	card_data(path);
	r = sd_bus_call_method(bus, NAME, path, CARD1, "GetBeneficiaries", &e, NULL, "s",
			"not-a-date");
	if (r < 0)
		error_event(path, "GetBeneficiaries", &e, r);
out:
	sd_bus_error_free(&e);
	free(state);
	free(status);
}

static void print_list(const char *key, const struct paths *l, bool last)
{
	printf("\"%s\": [", key);
	for (size_t i = 0; i < l->n; i++) {
		printf("%s", i ? ", " : "");
		json(l->p[i]);
	}
	printf("]%s", last ? "}\n" : ", ");
}

static int sync_objects(void)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	struct paths readers = { 0 }, cards = { 0 };
	const char *path, *iface;
	int r;

	r = sd_bus_call_method(bus, NAME, ROOT, "org.freedesktop.DBus.ObjectManager",
			"GetManagedObjects", &e, &m, "");
	if (r < 0) {
		fprintf(stderr, "GetManagedObjects: %s\n", e.message ? e.message : strerror(-r));
		goto out;
	}
	r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
	while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
		sd_bus_message_read(m, "o", &path);
		sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
		while (sd_bus_message_enter_container(m, 'e', "sa{sv}") > 0) {
			sd_bus_message_read(m, "s", &iface);
			if (!strcmp(iface, CARD1))
				paths_add(&cards, path);
			else if (!strcmp(iface, READER1))
				paths_add(&readers, path);
			sd_bus_message_skip(m, "a{sv}");
			sd_bus_message_exit_container(m);
		}
		sd_bus_message_exit_container(m);
		r = sd_bus_message_exit_container(m);
	}
	printf("{\"event\": \"sync\", ");
	print_list("readers", &readers, false);
	print_list("cards", &cards, true);
	fflush(stdout);
	for (size_t i = 0; i < cards.n; i++)
		card_check(cards.p[i]);
out:
	paths_clear(&readers);
	paths_clear(&cards);
	sd_bus_error_free(&e);
	sd_bus_message_unref(m);
	return r < 0 ? r : 0;
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const char *path = NULL, *iface;

	if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.ObjectManager", "InterfacesAdded")) {
		if (sd_bus_message_read(m, "o", &path) > 0)
			card_check(path);
	} else if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.ObjectManager",
				"InterfacesRemoved")) {
		if (sd_bus_message_read(m, "o", &path) > 0 &&
				sd_bus_message_enter_container(m, 'a', "s") > 0)
			while (sd_bus_message_read(m, "s", &iface) > 0)
				if (!strcmp(iface, CARD1)) {
					printf("{\"event\": \"removed\", \"path\": ");
					json(path);
					printf("}\n");
					fflush(stdout);
				}
	} else if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.Properties",
				"PropertiesChanged")) {
		if (sd_bus_message_read(m, "s", &iface) > 0 && !strcmp(iface, CARD1))
			card_check(sd_bus_message_get_path(m));
	}
	return 0;
}

/* vitaled restarted: its card paths are dead for good; list everything again. */
static int on_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	struct paths before = known;
	const char *name, *old, *new;

	if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || strcmp(name, NAME))
		return 0;
	if (!*new) {
		printf("{\"event\": \"vanished\"}\n");
		fflush(stdout);
		return 0;
	}
	memset(&known, 0, sizeof(known));
	paths_clear(&handled);
	sync_objects();
	for (size_t i = 0; i < before.n; i++) {
		int r = sd_bus_call_method(bus, NAME, before.p[i], CARD1, "GetAffiliation", &e,
				NULL, "");

		printf("{\"event\": \"stale\", \"path\": ");
		json(before.p[i]);
		printf(", \"name\": ");
		if (r < 0) {
			json(e.name ? e.name : strerror(-r));
			printf(", \"errno\": ");
			json(strerrorname_np(-r) ? strerrorname_np(-r) : "?");
		} else {
			printf("null");
		}
		printf("}\n");
		sd_bus_error_free(&e);
	}
	fflush(stdout);
	paths_clear(&before);
	return 0;
}

int main(int argc, char **argv)
{
	int r;

	if (argc > 1)
		date = argv[1];
	r = sd_bus_open_system(&bus);
	if (r < 0) {
		fprintf(stderr, "system bus: %s\n", strerror(-r));
		return 1;
	}
	/* Subscribe first, then list: nothing slips between. */
	r = sd_bus_add_match(bus, NULL, "type='signal',sender='" NAME "',path_namespace='" ROOT "'",
			on_signal, NULL);
	if (r >= 0)
		r = sd_bus_add_match(bus, NULL, "type='signal',sender='org.freedesktop.DBus',"
				"member='NameOwnerChanged',arg0='" NAME "'", on_owner, NULL);
	if (r < 0 || sync_objects() < 0) {
		fprintf(stderr, "cannot follow %s: %s\n", NAME, strerror(-r));
		return 1;
	}
	for (;;) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			break;
		if (r == 0 && (r = sd_bus_wait(bus, UINT64_MAX)) < 0)
			break;
	}
	fprintf(stderr, "bus: %s\n", strerror(-r));
	sd_bus_unref(bus);
	return 1;
}
