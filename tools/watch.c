/*
 * vitalectl watch: live events from vitaled — readers coming and going,
 * cards inserted, being read, their verdict, and removal, and codes that
 * are not Vitale tokens passing through a shared scanner (their size only:
 * such a code may be personal) — as human lines or one JSON object per line.  Built on the ObjectManager signals and
 * PropertiesChanged, with a local copy of every object's properties so a
 * change can be told in words.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <vitaled/dbus.h>
#include "vitalectl.h"

#define SPINNER_INTERVAL_MS	100

enum kind { KIND_READER, KIND_CARD };

struct object {
	enum kind kind;
	char *path;
	struct ctl_value props;
	struct timespec since;	/* cards: when first seen reading */
	bool told_verdict;
	bool had_data;		/* cards: HasData was seen true */
};

struct watch {
	const struct vitalectl_opts *opts;
	DBusConnection *conn;
	struct object *objects;
	size_t n, cap;
	bool progress;		/* a terminal: show a spinner while reading */
	bool spinner_shown;
	unsigned int spin;
	bool daemon_up;
	struct json j;
};

/* ---- object cache --------------------------------------------------- */

static struct object *find(struct watch *w, const char *path)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (!strcmp(w->objects[i].path, path))
			return &w->objects[i];
	return NULL;
}

static void drop(struct watch *w, struct object *o)
{
	size_t i = (size_t)(o - w->objects);

	free(o->path);
	ctl_value_clear(&o->props);
	memmove(&w->objects[i], &w->objects[i + 1], (w->n - i - 1) * sizeof(*o));
	w->n--;
}

static void drop_all(struct watch *w)
{
	while (w->n)
		drop(w, &w->objects[w->n - 1]);
}

/* Takes the items of props (left empty, also on failure). */
static struct object *add(struct watch *w, enum kind kind, const char *path,
		struct ctl_value *props)
{
	struct object *o;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;

		o = realloc(w->objects, cap * sizeof(*o));
		if (!o)
			return NULL;
		w->objects = o;
		w->cap = cap;
	}
	o = &w->objects[w->n];
	memset(o, 0, sizeof(*o));
	o->path = strdup(path);
	if (!o->path) {
		ctl_value_clear(props);
		return NULL;
	}
	o->kind = kind;
	o->props = *props;
	memset(props, 0, sizeof(*props));
	clock_gettime(CLOCK_MONOTONIC, &o->since);
	w->n++;
	return o;
}

/* Move every changed property into the cached dictionary. */
static int merge(struct ctl_value *dict, struct ctl_value *changed)
{
	struct ctl_value *items;
	size_t i, k;

	for (i = 0; i < changed->n; i++) {
		struct ctl_value *c = &changed->items[i];

		for (k = 0; k < dict->n; k++)
			if (dict->items[k].key && !strcmp(dict->items[k].key, c->key))
				break;
		if (k < dict->n) {
			ctl_value_clear(&dict->items[k]);
		} else {
			items = realloc(dict->items, (dict->n + 1) * sizeof(*items));
			if (!items)
				return -ENOMEM;
			dict->items = items;
			dict->n++;
		}
		dict->items[k] = *c;
		memset(c, 0, sizeof(*c));
	}
	dict->type = DBUS_TYPE_DICT_ENTRY;
	return 0;
}

/* ---- output --------------------------------------------------------- */

static void clear_spinner(struct watch *w)
{
	if (w->spinner_shown) {
		fputs("\r\033[K", stdout);
		w->spinner_shown = false;
	}
}

static void line_start(struct watch *w)
{
	char buf[32];
	time_t now = time(NULL);
	struct tm tm;

	clear_spinner(w);
	if (!localtime_r(&now, &tm) || !strftime(buf, sizeof(buf), "%H:%M:%S", &tm))
		strcpy(buf, "--:--:--");
	printf("%s%s%s ", ctl_color(w->opts, CTL_DIM), buf, ctl_color(w->opts, CTL_RESET));
}

static void json_start(struct watch *w, const char *event, const char *path, bool initial)
{
	clear_spinner(w);
	json_init(&w->j, stdout);
	json_object_begin(&w->j);
	json_key_string(&w->j, "event", event);
	json_key_int(&w->j, "time", (int64_t)time(NULL));
	if (path)
		json_key_string(&w->j, "path", path);
	if (initial)
		json_key_bool(&w->j, "initial", true);
}

static const char *reader_name_of(struct watch *w, const struct object *card)
{
	const char *id = ctl_str(&card->props, "ReaderId");
	struct object *r = find(w, ctl_str(&card->props, "Reader"));
	size_t i;

	/* phone reads outlive their link to the reader object: go by id */
	for (i = 0; !r && id[0] && i < w->n; i++)
		if (w->objects[i].kind == KIND_READER &&
				!strcmp(ctl_str(&w->objects[i].props, "Id"), id))
			r = &w->objects[i];
	if (r && ctl_str(&r->props, "Name")[0])
		return ctl_str(&r->props, "Name");
	return id[0] ? id : _("a detached source");
}

static void tell_reader(struct watch *w, const struct object *o, const char *event,
		bool initial)
{
	const struct ctl_value *p = &o->props;

	if (w->opts->json) {
		json_start(w, event, o->path, initial);
		json_key_string(&w->j, "id", ctl_str(p, "Id"));
		json_key_string(&w->j, "name", ctl_str(p, "Name"));
		json_key_string(&w->j, "kind", ctl_str(p, "Kind"));
		json_key_string(&w->j, "state", ctl_str(p, "State"));
		json_object_end(&w->j);
		json_finish(&w->j);
		return;
	}
	line_start(w);
	if (!strcmp(event, "reader-added"))
		printf(initial ? _("reader %s (%s, %s)\n") : _("reader added: %s (%s, %s)\n"),
				ctl_str(p, "Name"), ctl_kind_text(ctl_str(p, "Kind")),
				ctl_status_text(ctl_str(p, "State")));
	else if (!strcmp(event, "reader-removed"))
		printf(_("reader removed: %s\n"), ctl_str(p, "Name"));
	else
		printf(_("reader %s: %s\n"), ctl_str(p, "Name"),
				ctl_status_text(ctl_str(p, "State")));
	fflush(stdout);
}

static bool card_done(const struct object *card)
{
	return !strcmp(ctl_str(&card->props, "State"), "done");
}

static void card_json_fields(struct watch *w, const struct object *card)
{
	const struct ctl_value *p = &card->props;

	json_key_string(&w->j, "reader", ctl_str(p, "Reader"));
	json_key_string(&w->j, "reader_id", ctl_str(p, "ReaderId"));
	json_key_string(&w->j, "reader_name", reader_name_of(w, card));
	json_key_string(&w->j, "form", ctl_str(p, "FormFactor"));
	json_key_string(&w->j, "state", ctl_str(p, "State"));
}

static void tell_card_added(struct watch *w, const struct object *card, bool initial)
{
	const char *form = ctl_str(&card->props, "FormFactor");

	if (w->opts->json) {
		json_start(w, "card-added", card->path, initial);
		card_json_fields(w, card);
		json_object_end(&w->j);
		json_finish(&w->j);
		return;
	}
	line_start(w);
	if (!strcmp(form, "phone-qr"))
		printf(_("QR code scanned by %s\n"), reader_name_of(w, card));
	else if (!strcmp(form, "phone-nfc"))
		printf(_("phone tapped on %s\n"), reader_name_of(w, card));
	else if (initial)
		printf(_("card in %s (%s)\n"), reader_name_of(w, card), ctl_form_text(form));
	else
		printf(_("card inserted in %s\n"), reader_name_of(w, card));
	fflush(stdout);
}

static bool card_waiting(const struct object *card)
{
	return !strcmp(ctl_str(&card->props, "State"), "waiting");
}

/* Another application holds the card: the read waits for it.  --json
 * gives the daemon's StatusReason; people read the state in their words. */
static void tell_waiting(struct watch *w, const struct object *card, bool initial)
{
	const char *why = ctl_str(&card->props, "StatusReason");

	if (w->opts->json) {
		json_start(w, "card-waiting", card->path, initial);
		card_json_fields(w, card);
		json_key_string(&w->j, "reason", why);
		json_object_end(&w->j);
		json_finish(&w->j);
		return;
	}
	line_start(w);
	printf(_("%swaiting: another application is using the card%s (%s)\n"),
			ctl_color(w->opts, CTL_YELLOW), ctl_color(w->opts, CTL_RESET),
			reader_name_of(w, card));
	fflush(stdout);
}

static void tell_verdict(struct watch *w, struct object *card, bool initial)
{
	const struct ctl_value *p = &card->props;
	const char *status = ctl_str(p, "Status");
	const char *marker = ctl_str(p, "Marker");
	unsigned int n = (unsigned int)ctl_uint(p, "BeneficiaryCount");
	bool good = !strcmp(status, "verified");

	card->told_verdict = true;
	card->had_data |= ctl_bool(p, "HasData");
	if (w->opts->json) {
		json_start(w, "card-verdict", card->path, initial);
		card_json_fields(w, card);
		json_key_string(&w->j, "status", status);
		json_key_string(&w->j, "reason", ctl_str(p, "StatusReason"));
		json_key_bool(&w->j, "has_data", ctl_bool(p, "HasData"));
		json_key_uint(&w->j, "beneficiaries", n);
		json_key_string(&w->j, "marker", marker);
		json_key_uint(&w->j, "read_time", ctl_uint(p, "ReadTime"));
		json_object_end(&w->j);
		json_finish(&w->j);
		return;
	}
	line_start(w);
	/* TRANSLATORS: a verdict (colours around it), then the form of the read */
	printf(_("%s%s%s%s: %s"), ctl_color(w->opts, CTL_BOLD),
			ctl_color(w->opts, ctl_status_color(status)),
			status[0] ? ctl_status_text(status) : "?",
			ctl_color(w->opts, CTL_RESET), ctl_form_text(ctl_str(p, "FormFactor")));
	if (ctl_bool(p, "HasData"))
		printf(ngettext(", %u beneficiary", ", %u beneficiaries", n), n);
	if (marker[0] && strcmp(marker, "production"))
		printf(_(", %s card"), ctl_marker_text(marker));
	if (!good && ctl_str(p, "StatusReason")[0])
		printf(" — %s", ctl_str(p, "StatusReason"));
	printf(" %s[%s]%s\n", ctl_color(w->opts, CTL_DIM), card->path,
			ctl_color(w->opts, CTL_RESET));
	fflush(stdout);
}

static void tell_card_removed(struct watch *w, const struct object *card)
{
	const char *form = ctl_str(&card->props, "FormFactor");

	if (w->opts->json) {
		json_start(w, "card-removed", card->path, false);
		card_json_fields(w, card);
		json_key_string(&w->j, "status", ctl_str(&card->props, "Status"));
		json_object_end(&w->j);
		json_finish(&w->j);
		return;
	}
	line_start(w);
	if (!strcmp(form, "phone-qr") || !strcmp(form, "phone-nfc"))
		printf(card->had_data ? _("%s read released: its data is gone [%s]\n") :
				_("%s read released [%s]\n"), ctl_form_text(form), card->path);
	else
		printf(card->had_data ? _("card removed from %s: its data is gone [%s]\n") :
				_("card removed from %s [%s]\n"), reader_name_of(w, card),
				card->path);
	fflush(stdout);
}

static void tell_daemon(struct watch *w, bool up, const char *version)
{
	if (w->opts->json) {
		json_start(w, up ? "daemon-up" : "daemon-down", NULL, false);
		if (version)
			json_key_string(&w->j, "version", version);
		json_object_end(&w->j);
		json_finish(&w->j);
		return;
	}
	line_start(w);
	if (up)
		printf(_("vitaled %s is running\n"), version ? version : "");
	else
		printf(_("vitaled stopped; waiting for it to come back\n"));
	fflush(stdout);
}

static void spinner(struct watch *w)
{
	static const char frames[] = "|/-\\";
	struct timespec now;
	struct object *o = NULL;
	const char *form;
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->objects[i].kind == KIND_CARD && !card_done(&w->objects[i]))
			o = &w->objects[i];
	if (!o) {
		clear_spinner(w);
		fflush(stdout);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	form = ctl_str(&o->props, "FormFactor");
	/* the form is only known once the application answered */
	fputs("\r\033[K", stdout);
	printf(card_waiting(o) ? _("%s%c waiting to read %s in %s… %.1f s%s") :
			_("%s%c reading %s in %s… %.1f s%s"), ctl_color(w->opts, CTL_CYAN),
			frames[w->spin++ % 4],
			strcmp(form, "unknown") && form[0] ? ctl_form_text(form) : _("the card"),
			reader_name_of(w, o),
			(double)(now.tv_sec - o->since.tv_sec) +
			(double)(now.tv_nsec - o->since.tv_nsec) / 1e9,
			ctl_color(w->opts, CTL_RESET));
	w->spinner_shown = true;
	fflush(stdout);
}

static bool reading_any(const struct watch *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->objects[i].kind == KIND_CARD && !card_done(&w->objects[i]))
			return true;
	return false;
}

/* ---- events ---------------------------------------------------------- */

/* One object with its interfaces (a{sa{sv}}): taken into the cache. */
static void object_added(struct watch *w, const char *path, struct ctl_value *ifaces,
		bool initial)
{
	struct ctl_value *props = NULL;
	enum kind kind = KIND_READER;
	struct object *o;
	size_t i;

	for (i = 0; i < ifaces->n; i++) {
		if (!ifaces->items[i].key)
			continue;	/* taken already */
		if (!strcmp(ifaces->items[i].key, VITALED_DBUS_READER_INTERFACE)) {
			kind = KIND_READER;
			props = &ifaces->items[i];
		} else if (!strcmp(ifaces->items[i].key, VITALED_DBUS_CARD_INTERFACE)) {
			kind = KIND_CARD;
			props = &ifaces->items[i];
		}
	}
	if (!props || find(w, path))
		return;
	free(props->key);
	props->key = NULL;
	o = add(w, kind, path, props);
	if (!o)
		return;
	if (kind == KIND_READER) {
		tell_reader(w, o, "reader-added", initial);
		return;
	}
	tell_card_added(w, o, initial);
	if (card_done(o))
		tell_verdict(w, o, initial);
	else if (card_waiting(o))
		tell_waiting(w, o, initial);
}

static void snapshot(struct watch *w, bool initial)
{
	struct ctl_value objects, manager;
	const struct ctl_value **list;
	DBusError err;
	size_t i, n;

	dbus_error_init(&err);
	if (ctl_get_all(w->conn, VITALED_DBUS_MANAGER_PATH, VITALED_DBUS_MANAGER_INTERFACE,
			&manager, &err) < 0) {
		dbus_error_free(&err);
		return;
	}
	w->daemon_up = true;
	tell_daemon(w, true, ctl_str(&manager, "Version"));
	ctl_value_clear(&manager);
	if (ctl_managed_objects(w->conn, &objects, &err) < 0) {
		dbus_error_free(&err);
		return;
	}
	/* readers first, so cards can name theirs; each in path order */
	n = ctl_objects_with(&objects, VITALED_DBUS_READER_INTERFACE, &list);
	for (i = 0; i < n; i++)
		object_added(w, list[i]->key, (struct ctl_value *)list[i], initial);
	free(list);
	n = ctl_objects_with(&objects, VITALED_DBUS_CARD_INTERFACE, &list);
	for (i = 0; i < n; i++)
		object_added(w, list[i]->key, (struct ctl_value *)list[i], initial);
	free(list);
	ctl_value_clear(&objects);
}

static void on_interfaces_added(struct watch *w, DBusMessage *msg)
{
	DBusMessageIter it;
	struct ctl_value ifaces;
	const char *path;

	if (!dbus_message_iter_init(msg, &it) ||
			dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_OBJECT_PATH)
		return;
	dbus_message_iter_get_basic(&it, &path);
	if (!dbus_message_iter_next(&it) || ctl_value_read(&it, &ifaces) < 0)
		return;
	object_added(w, path, &ifaces, false);
	ctl_value_clear(&ifaces);
}

static void on_interfaces_removed(struct watch *w, DBusMessage *msg)
{
	struct object *o;
	const char *path;

	if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID))
		return;
	o = find(w, path);
	if (!o)
		return;
	if (o->kind == KIND_READER)
		tell_reader(w, o, "reader-removed", false);
	else
		tell_card_removed(w, o);
	drop(w, o);
}

static void on_properties_changed(struct watch *w, DBusMessage *msg)
{
	struct object *o = find(w, dbus_message_get_path(msg));
	DBusMessageIter it;
	struct ctl_value changed;
	char old_state[32];
	bool new_status;

	if (!o || !dbus_message_iter_init(msg, &it) || !dbus_message_iter_next(&it) ||
			ctl_value_read(&it, &changed) < 0)
		return;
	snprintf(old_state, sizeof(old_state), "%s", ctl_str(&o->props, "State"));
	new_status = ctl_value_get(&changed, "Status") != NULL;
	if (merge(&o->props, &changed) < 0) {
		ctl_value_clear(&changed);
		return;
	}
	ctl_value_clear(&changed);
	if (o->kind == KIND_READER) {
		const char *state = ctl_str(&o->props, "State");

		/* card-present/idle are told by the card events; the rest is news */
		if (strcmp(old_state, state) && (w->opts->json ||
				!strcmp(state, "unavailable") || !strcmp(old_state, "unavailable")))
			tell_reader(w, o, "reader-changed", false);
		return;
	}
	if (card_done(o) && (!o->told_verdict || new_status))
		tell_verdict(w, o, false);
	else if (card_waiting(o) && strcmp(old_state, "waiting"))
		tell_waiting(w, o, false);
	else if (!card_done(o))
		clock_gettime(CLOCK_MONOTONIC, &o->since);
}

static void on_other_code(struct watch *w, DBusMessage *msg)
{
	struct object *o = find(w, dbus_message_get_path(msg));
	const char *symbology, *where;
	const uint8_t *code;
	int len;

	if (!o || !dbus_message_get_args(msg, NULL, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &code, &len,
			DBUS_TYPE_STRING, &symbology, DBUS_TYPE_INVALID))
		return;
	where = ctl_str(&o->props, "PassThrough");
	if (w->opts->json) {
		json_start(w, "other-code", o->path, false);
		json_key_string(&w->j, "reader_name", ctl_str(&o->props, "Name"));
		json_key_int(&w->j, "bytes", len);
		json_key_string(&w->j, "symbology", symbology);
		json_key_string(&w->j, "pass_through", where);
		json_object_end(&w->j);
		json_finish(&w->j);
		return;
	}
	line_start(w);
	if (where[0])
		printf(ngettext("other code passed through (%d byte) by %s to %s\n",
				"other code passed through (%d bytes) by %s to %s\n",
				(unsigned long)len), len, ctl_str(&o->props, "Name"), where);
	else
		printf(ngettext("other code (%d byte) by %s, not a Vitale token\n",
				"other code (%d bytes) by %s, not a Vitale token\n",
				(unsigned long)len), len, ctl_str(&o->props, "Name"));
	fflush(stdout);
}

static void on_name_owner_changed(struct watch *w, DBusMessage *msg)
{
	const char *name, *old_owner, *new_owner;

	if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING,
			&old_owner, DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID) ||
			strcmp(name, VITALED_DBUS_NAME))
		return;
	if (!new_owner[0]) {
		drop_all(w);
		w->daemon_up = false;
		tell_daemon(w, false, NULL);
	} else {
		snapshot(w, false);
	}
}

static void handle(struct watch *w, DBusMessage *msg)
{
	if (dbus_message_is_signal(msg, DBUS_INTERFACE_OBJECT_MANAGER, "InterfacesAdded"))
		on_interfaces_added(w, msg);
	else if (dbus_message_is_signal(msg, DBUS_INTERFACE_OBJECT_MANAGER, "InterfacesRemoved"))
		on_interfaces_removed(w, msg);
	else if (dbus_message_is_signal(msg, DBUS_INTERFACE_PROPERTIES, "PropertiesChanged"))
		on_properties_changed(w, msg);
	else if (dbus_message_is_signal(msg, VITALED_DBUS_READER_INTERFACE, "OtherCode"))
		on_other_code(w, msg);
	else if (dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameOwnerChanged"))
		on_name_owner_changed(w, msg);
}

static int subscribe(DBusConnection *conn)
{
	static const char *const rules[] = {
		"type='signal',sender='" VITALED_DBUS_NAME "',interface='"
			DBUS_INTERFACE_OBJECT_MANAGER "',path='" VITALED_DBUS_ROOT_PATH "'",
		"type='signal',sender='" VITALED_DBUS_NAME "',interface='"
			DBUS_INTERFACE_PROPERTIES "',member='PropertiesChanged',path_namespace='"
			VITALED_DBUS_ROOT_PATH "'",
		"type='signal',sender='" VITALED_DBUS_NAME "',interface='"
			VITALED_DBUS_READER_INTERFACE "',member='OtherCode',path_namespace='"
			VITALED_DBUS_ROOT_PATH "'",
		"type='signal',sender='" DBUS_SERVICE_DBUS "',interface='" DBUS_INTERFACE_DBUS
			"',member='NameOwnerChanged',arg0='" VITALED_DBUS_NAME "'",
	};
	DBusError err;
	size_t i;

	dbus_error_init(&err);
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		dbus_bus_add_match(conn, rules[i], &err);
		if (dbus_error_is_set(&err)) {
			int ret = ctl_error_report("watch", &err);

			dbus_error_free(&err);
			return ret;
		}
	}
	return 0;
}

int cmd_watch(int argc, char **argv, const struct vitalectl_opts *opts)
{
	struct watch w = { .opts = opts };
	struct pollfd pfd[2];
	DBusMessage *msg;
	sigset_t mask;
	int fd, sfd, ret = VITALECTL_OK;

	ret = ctl_no_args(argc, argv, _("Usage: vitalectl [--json] watch\n\n"
			"Prints readers, cards and verdicts as they happen, until interrupted\n"
			"(Ctrl-C, SIGTERM).  With --json: one object per line with an \"event\" of\n"
			"daemon-up, daemon-down, reader-added, reader-changed, reader-removed,\n"
			"card-added, card-verdict, card-removed.  Objects present at the start come\n"
			"with \"initial\": true.\n"));
	if (ret >= 0)
		return ret;
	ret = VITALECTL_OK;
	w.progress = !opts->json && isatty(STDOUT_FILENO);
	w.conn = vitalectl_bus(opts);
	if (!w.conn)
		return VITALECTL_NO_DAEMON;
	ret = subscribe(w.conn);
	if (ret)
		goto out;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0 || !dbus_connection_get_unix_fd(w.conn, &fd)) {
		fprintf(stderr, "vitalectl watch: %s\n", strerror(errno));
		ret = VITALECTL_FAILED;
		goto out;
	}
	snapshot(&w, true);
	if (!w.daemon_up && opts->json) {
		json_start(&w, "daemon-down", NULL, true);
		json_object_end(&w.j);
		json_finish(&w.j);
	} else if (!w.daemon_up) {
		line_start(&w);
		printf(_("vitaled is not running; waiting for it to start\n"));
		fflush(stdout);
	}
	for (;;) {
		while ((msg = dbus_connection_pop_message(w.conn))) {
			handle(&w, msg);
			dbus_message_unref(msg);
		}
		if (!dbus_connection_get_is_connected(w.conn)) {
			clear_spinner(&w);
			fprintf(stderr, _("vitalectl watch: disconnected from the bus\n"));
			ret = VITALECTL_NO_DAEMON;
			break;
		}
		dbus_connection_flush(w.conn);
		pfd[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (w.progress)
			spinner(&w);
		if (poll(pfd, 2, w.progress && reading_any(&w) ? SPINNER_INTERVAL_MS : -1) < 0 &&
				errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN)
			break;
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			dbus_connection_read_write(w.conn, 0);
	}
	clear_spinner(&w);
	fflush(stdout);
	if (sfd >= 0)
		close(sfd);
out:
	drop_all(&w);
	free(w.objects);
	dbus_connection_close(w.conn);
	dbus_connection_unref(w.conn);
	return ret;
}
