/*
 * vitalectl readers: every reader, scanner and camera the daemon has,
 * with its kind, state, stable id, the card it holds, and for a scanner
 * shared with other software, where its other codes go.
 */
#include <stdlib.h>
#include <string.h>

#include <vitaled/dbus.h>
#include "vitalectl.h"

/* The newest card read by this reader (cards come oldest first). */
static const struct ctl_value *card_of(const struct ctl_value **cards, size_t n,
		const char *reader_path)
{
	const struct ctl_value *found = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct ctl_value *c = ctl_object_iface(cards[i], VITALED_DBUS_CARD_INTERFACE);

		if (!strcmp(ctl_str(c, "Reader"), reader_path))
			found = cards[i];
	}
	return found;
}

static void card_json(struct json *j, const struct ctl_value *card)
{
	const struct ctl_value *c = ctl_object_iface(card, VITALED_DBUS_CARD_INTERFACE);

	json_object_begin(j);
	json_key_string(j, "path", card->key);
	json_key_string(j, "form", ctl_str(c, "FormFactor"));
	json_key_string(j, "state", ctl_str(c, "State"));
	json_key_string(j, "status", ctl_str(c, "Status"));
	json_key_string(j, "reason", ctl_str(c, "StatusReason"));
	json_object_end(j);
}

int cmd_readers(int argc, char **argv, const struct vitalectl_opts *opts)
{
	static const struct ctl_column columns[] = { { N_("KIND"), 13 }, { N_("STATE"), 12 },
		{ N_("CARD"), 13 }, { N_("NAME"), 26 }, { N_("ID"), 0 } };
	const struct ctl_value **readers = NULL, **cards = NULL;
	struct ctl_value objects;
	DBusConnection *conn;
	DBusError err;
	size_t nr, nc, i;
	struct json j;
	int ret;

	ret = ctl_no_args(argc, argv, _("Usage: vitalectl [--json] readers\n\n"
			"Card readers, QR scanners and cameras: kind, state, the verdict of\n"
			"the card each holds, name and stable id; for a scanner shared with\n"
			"other software, where the codes that are not Vitale tokens go.\n"
			"Exit status 3 when vitaled is not reachable.\n"));
	if (ret >= 0)
		return ret;
	conn = vitalectl_bus(opts);
	if (!conn)
		return VITALECTL_NO_DAEMON;
	dbus_error_init(&err);
	ret = ctl_managed_objects(conn, &objects, &err);
	dbus_connection_close(conn);
	dbus_connection_unref(conn);
	if (ret < 0) {
		ret = ctl_error_report("readers", &err);
		dbus_error_free(&err);
		return ret;
	}
	nr = ctl_objects_with(&objects, VITALED_DBUS_READER_INTERFACE, &readers);
	nc = ctl_objects_with(&objects, VITALED_DBUS_CARD_INTERFACE, &cards);
	if (opts->json) {
		json_init(&j, stdout);
		json_array_begin(&j);
	} else if (nr) {
		ctl_print_header(opts, "", columns, sizeof(columns) / sizeof(columns[0]));
	} else {
		printf(_("No readers, scanners or cameras.\n"));
	}
	for (i = 0; i < nr; i++) {
		const struct ctl_value *r = ctl_object_iface(readers[i],
				VITALED_DBUS_READER_INTERFACE);
		const struct ctl_value *card = card_of(cards, nc, readers[i]->key);
		const struct ctl_value *c = card ?
			ctl_object_iface(card, VITALED_DBUS_CARD_INTERFACE) : NULL;
		const char *state = c ? ctl_str(c, "State") : "";
		const char *status = !c ? "-" : !strcmp(state, "done") ? ctl_str(c, "Status") :
			!strcmp(state, "waiting") ? "waiting" : "reading";

		if (opts->json) {
			json_object_begin(&j);
			json_key_string(&j, "path", readers[i]->key);
			json_key_string(&j, "id", ctl_str(r, "Id"));
			json_key_string(&j, "name", ctl_str(r, "Name"));
			json_key_string(&j, "kind", ctl_str(r, "Kind"));
			json_key_string(&j, "state", ctl_str(r, "State"));
			json_key_string(&j, "pass_through", ctl_str(r, "PassThrough"));
			json_key(&j, "card");
			if (card)
				card_json(&j, card);
			else
				json_null(&j);
			json_object_end(&j);
			continue;
		}
		ctl_print_padded(ctl_kind_text(ctl_str(r, "Kind")), 13);
		ctl_print_padded(ctl_status_text(ctl_str(r, "State")), 12);
		fputs(ctl_color(opts, c ? ctl_status_color(status) : CTL_RESET), stdout);
		ctl_print_padded(ctl_status_text(status), 13);
		fputs(ctl_color(opts, CTL_RESET), stdout);
		ctl_print_padded(ctl_str(r, "Name"), 26);
		printf("%s\n", ctl_str(r, "Id"));
		/* StatusReason is the daemon's English: the state says it here */
		if (c && !strcmp(state, "waiting"))
			printf(_("%-13s waiting: another application is using the card\n"), "");
		if (ctl_str(r, "PassThrough")[0])
			printf(_("  other codes pass through to %s\n"), ctl_str(r, "PassThrough"));
	}
	if (opts->json) {
		json_array_end(&j);
		json_finish(&j);
	}
	free(readers);
	free(cards);
	ctl_value_clear(&objects);
	return VITALECTL_OK;
}
