/*
 * org.vitaled on the bus (libdbus on the daemon's own loop: dbus-loop.c).
 * One fallback handler serves the whole tree:
 *   /org/vitaled             Manager1, ObjectManager
 *   /org/vitaled/readers/N   Reader1
 *   /org/vitaled/cards/ID    Card1 (ID: 128 random bits, card.c)
 * Changes are coalesced: an object that changes is marked dirty and one
 * flush per loop round sends InterfacesAdded for new objects and one
 * PropertiesChanged with only the values that really changed.  Properties
 * never carry personal data; that only leaves through dbus-access.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbus/dbus.h>
#include <vitaled/dbus.h>

#include "daemon.h"
#include "dbus-introspect.h"

/* Unsent data beyond this means the bus is not reading us: drop, don't grow. */
#define MAX_OUTGOING	(16 * 1024 * 1024)
/* Queued and not yet dispatched: beyond it libdbus stops reading (back
 * pressure).  The size of one message is left to the bus's own limit: a
 * lower one here would make libdbus drop the whole connection when a client
 * sends a big one. */
#define MAX_INCOMING	(4 * 1024 * 1024)
#define MAX_PROPS	16

/* ---- objects and their properties ------------------------------------ */

struct value {
	union {
		dbus_bool_t b;
		dbus_uint32_t u;
		dbus_uint64_t t;
	} n;
	const char *s;		/* strings and object paths */
};

struct property {
	const char *name;
	int type;		/* a basic DBUS_TYPE_* */
	void (*get)(void *object, struct value *v);
};

struct bus_object;

struct method {
	const char *name;
	const char *in_sig;
	/* A reply, or NULL when the call is answered later (dbus-access.c). */
	DBusMessage *(*func)(DBusMessage *msg, struct bus_object *obj);
};

struct interface {
	const char *name;
	const char *xml;	/* from dbus/<name>.xml, the source of truth */
	const struct property *props;
	unsigned int n_props;
	const struct method *methods;
};

/* What was last published, to send only real changes. */
struct snap {
	dbus_uint64_t n;
	char *s;
};

struct bus_object {
	const struct interface *iface;
	void *object;		/* reader, card, or NULL for the manager */
	char path[64];
	bool announced;		/* InterfacesAdded sent (the manager: always) */
	bool dirty;
	bool have_snap;
	struct snap snap[MAX_PROPS];
	struct bus_object *next_dirty;
};

static struct {
	DBusConnection *conn;
	bool pcsc_available;
	struct bus_object manager;
	struct bus_object *dirty_head, *dirty_tail;
	bool flush_posted;
	bool outgoing_full;
	bool session_bus;
} bus;

/* ---- Manager1 ---------------------------------------------------------- */

static void trust_info(struct vd_trust_info *info)
{
	struct vd_context *ctx = engine_context();
	struct vd_trust *trust = ctx ? vd_context_trust(ctx) : NULL;

	memset(info, 0, sizeof(*info));
	if (trust)
		vd_trust_get_info(trust, info);
}

static void get_version(void *o, struct value *v)
{
	v->s = PACKAGE_VERSION;
}

static void get_pcsc(void *o, struct value *v)
{
	v->n.b = bus.pcsc_available;
}

static void get_test_cards(void *o, struct value *v)
{
	struct vd_context *ctx = engine_context();

	v->n.b = ctx && vd_context_settings(ctx)->allow_test_cards;
}

#define TRUST_COUNT(fname, field) \
static void fname(void *o, struct value *v) \
{ \
	struct vd_trust_info info; \
	trust_info(&info); \
	v->n.u = info.field; \
}

TRUST_COUNT(get_roots, n_roots)
TRUST_COUNT(get_signers, n_signers)
TRUST_COUNT(get_crls, n_crls)
TRUST_COUNT(get_opposed, n_opposed)

/* Times are seconds since the epoch; 0 when there is none. */
static dbus_uint64_t epoch(time_t t)
{
	return t > 0 ? (dbus_uint64_t)t : 0;
}

static void get_expiry(void *o, struct value *v)
{
	struct vd_trust_info info;

	trust_info(&info);
	v->n.t = epoch(info.earliest_expiry);
}

static void get_crl_next(void *o, struct value *v)
{
	struct vd_trust_info info;

	trust_info(&info);
	v->n.t = epoch(info.earliest_crl_next_update);
}

static void get_bundle_version(void *o, struct value *v)
{
	const struct trust_bundle_info *b = trust_bundle_installed();

	v->n.t = b ? b->version : 0;
}

static void get_bundle_issued(void *o, struct value *v)
{
	const struct trust_bundle_info *b = trust_bundle_installed();

	v->n.t = b ? epoch(b->issued) : 0;
}

static void get_bundle_expires(void *o, struct value *v)
{
	const struct trust_bundle_info *b = trust_bundle_installed();

	v->n.t = b ? epoch(b->expires) : 0;
}

static void get_bundle_source(void *o, struct value *v)
{
	const struct trust_bundle_info *b = trust_bundle_installed();

	v->s = b ? b->source : "";
}

static void get_trust_stale(void *o, struct value *v)
{
	bool refuse;

	v->n.b = engine_trust_stale(time(NULL), &refuse) != NULL;
}

static void get_install_error(void *o, struct value *v)
{
	v->s = trust_install_last_error();
}

static bool collect_reader(struct vitaled_reader *reader, void *data)
{
	DBusMessageIter *array = data;
	struct bus_object *o = reader->bus_data;
	const char *path;

	if (!o)
		return true;
	path = o->path;
	return dbus_message_iter_append_basic(array, DBUS_TYPE_OBJECT_PATH, &path);
}

static bool collect_card(struct vitaled_card *card, void *data)
{
	DBusMessageIter *array = data;
	struct bus_object *o = card->bus_data;
	const char *path;

	if (!o)
		return true;
	path = o->path;
	return dbus_message_iter_append_basic(array, DBUS_TYPE_OBJECT_PATH, &path);
}

static DBusMessage *path_list_reply(DBusMessage *msg, bool readers)
{
	DBusMessage *reply = dbus_message_new_method_return(msg);
	DBusMessageIter iter, array;

	if (!reply)
		return NULL;
	dbus_message_iter_init_append(reply, &iter);
	if (!dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "o", &array)) {
		dbus_message_unref(reply);
		return NULL;
	}
	if (readers)
		reader_foreach(collect_reader, &array);
	else
		card_foreach(collect_card, &array);
	if (!dbus_message_iter_close_container(&iter, &array)) {
		dbus_message_unref(reply);
		return NULL;
	}
	return reply;
}

static DBusMessage *manager_get_readers(DBusMessage *msg, struct bus_object *obj)
{
	return path_list_reply(msg, true);
}

static DBusMessage *manager_get_cards(DBusMessage *msg, struct bus_object *obj)
{
	return path_list_reply(msg, false);
}

static const struct property manager_props[] = {
	{ "Version", DBUS_TYPE_STRING, get_version },
	{ "PcscAvailable", DBUS_TYPE_BOOLEAN, get_pcsc },
	{ "TestCardsAllowed", DBUS_TYPE_BOOLEAN, get_test_cards },
	{ "TrustRoots", DBUS_TYPE_UINT32, get_roots },
	{ "TrustSigners", DBUS_TYPE_UINT32, get_signers },
	{ "TrustCrls", DBUS_TYPE_UINT32, get_crls },
	{ "TrustOpposed", DBUS_TYPE_UINT32, get_opposed },
	{ "TrustEarliestExpiry", DBUS_TYPE_UINT64, get_expiry },
	{ "TrustCrlNextUpdate", DBUS_TYPE_UINT64, get_crl_next },
	{ "TrustBundleVersion", DBUS_TYPE_UINT64, get_bundle_version },
	{ "TrustBundleIssued", DBUS_TYPE_UINT64, get_bundle_issued },
	{ "TrustBundleExpires", DBUS_TYPE_UINT64, get_bundle_expires },
	{ "TrustBundleSource", DBUS_TYPE_STRING, get_bundle_source },
	{ "TrustStale", DBUS_TYPE_BOOLEAN, get_trust_stale },
	{ "TrustLastInstallError", DBUS_TYPE_STRING, get_install_error },
};

/* Root only (dbus-access.c); answered once the bundle is installed or refused. */
static DBusMessage *manager_install_trust_bundle(DBusMessage *msg, struct bus_object *obj)
{
	bus_access_call(msg, "", BUS_TRUST_INSTALL);
	return NULL;
}

static const struct method manager_methods[] = {
	{ "GetReaders", "", manager_get_readers },
	{ "GetCards", "", manager_get_cards },
	{ "InstallTrustBundle", "hs", manager_install_trust_bundle },
	{ NULL }
};

/* ---- Reader1 ------------------------------------------------------------ */

static void get_reader_id(void *o, struct value *v)
{
	v->s = ((struct vitaled_reader *)o)->id;
}

static void get_reader_name(void *o, struct value *v)
{
	v->s = ((struct vitaled_reader *)o)->name;
}

static void get_reader_kind(void *o, struct value *v)
{
	v->s = reader_kind_name(((struct vitaled_reader *)o)->kind);
}

static void get_reader_state(void *o, struct value *v)
{
	v->s = reader_state_name(((struct vitaled_reader *)o)->state);
}

static void get_reader_pass_through(void *o, struct value *v)
{
	const char *where = ((struct vitaled_reader *)o)->pass_through;

	v->s = where ? where : "";
}

static void get_reader_other_codes(void *o, struct value *v)
{
	v->n.u = ((struct vitaled_reader *)o)->other_codes;
}

static const struct property reader_props[] = {
	{ "Id", DBUS_TYPE_STRING, get_reader_id },
	{ "Name", DBUS_TYPE_STRING, get_reader_name },
	{ "Kind", DBUS_TYPE_STRING, get_reader_kind },
	{ "State", DBUS_TYPE_STRING, get_reader_state },
	{ "OtherCodes", DBUS_TYPE_UINT32, get_reader_other_codes },
	{ "PassThrough", DBUS_TYPE_STRING, get_reader_pass_through },
};

static const struct method reader_methods[] = {
	{ NULL }
};

/* ---- Card1 -------------------------------------------------------------- */

static void get_card_form(void *o, struct value *v)
{
	const struct vitaled_card *card = o;

	v->s = card->result ? vd_form_factor_name(card->result->form) : "unknown";
}

static void get_card_state(void *o, struct value *v)
{
	static const char *const names[] = {
		[CARD_STATE_READING] = "reading",
		[CARD_STATE_WAITING] = "waiting",
		[CARD_STATE_DONE] = "done",
	};

	v->s = names[((struct vitaled_card *)o)->state];
}

static void get_card_status(void *o, struct value *v)
{
	const struct vitaled_card *card = o;

	v->s = card->result ? vd_status_name(card->result->verdict.status) : "pending";
}

static void get_card_reason(void *o, struct value *v)
{
	const struct vitaled_card *card = o;

	v->s = card->result ? card->result->verdict.reason :
		card->state == CARD_STATE_WAITING ? card->waiting : "";
}

static void get_card_has_data(void *o, struct value *v)
{
	v->n.b = bus_card_data_status(o) == 0;
}

static void get_card_count(void *o, struct value *v)
{
	const struct vitaled_card *card = o;

	v->n.u = bus_card_data_status(card) == 0 ? card->result->record.n_beneficiaries : 0;
}

static void get_card_time(void *o, struct value *v)
{
	const struct vitaled_card *card = o;

	v->n.t = card->state == CARD_STATE_DONE ? epoch(card->read_time) : 0;
}

static void get_card_marker(void *o, struct value *v)
{
	const struct vitaled_card *card = o;

	v->s = card->result ? vd_marker_name(card->result->marker) : "unknown";
}

static void get_card_reader(void *o, struct value *v)
{
	const struct vitaled_card *card = o;
	const struct bus_object *r = card->reader ? card->reader->bus_data : NULL;

	v->s = r ? r->path : "/";
}

static void get_card_reader_id(void *o, struct value *v)
{
	v->s = ((struct vitaled_card *)o)->reader_id;
}

static DBusMessage *card_data_call(DBusMessage *msg, struct bus_object *obj,
		enum bus_data_method method)
{
	bus_access_call(msg, ((struct vitaled_card *)obj->object)->id, method);
	return NULL;
}

static DBusMessage *card_get_beneficiaries(DBusMessage *msg, struct bus_object *obj)
{
	const char *date = NULL;
	struct vd_date parsed;

	/* A bad date is refused before anything else: it releases nothing. */
	if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &date, DBUS_TYPE_INVALID) ||
			bus_data_parse_date(date, &parsed) < 0)
		return bus_error_reply(msg, -EINVAL, NULL,
				"date must be \"\" (today) or \"YYYY-MM-DD\"");
	return card_data_call(msg, obj, BUS_DATA_BENEFICIARIES);
}

static DBusMessage *card_get_affiliation(DBusMessage *msg, struct bus_object *obj)
{
	return card_data_call(msg, obj, BUS_DATA_AFFILIATION);
}

static DBusMessage *card_release_call(DBusMessage *msg, struct bus_object *obj)
{
	return card_data_call(msg, obj, BUS_DATA_RELEASE);
}

static const struct property card_props[] = {
	{ "FormFactor", DBUS_TYPE_STRING, get_card_form },
	{ "State", DBUS_TYPE_STRING, get_card_state },
	{ "Status", DBUS_TYPE_STRING, get_card_status },
	{ "StatusReason", DBUS_TYPE_STRING, get_card_reason },
	{ "HasData", DBUS_TYPE_BOOLEAN, get_card_has_data },
	{ "BeneficiaryCount", DBUS_TYPE_UINT32, get_card_count },
	{ "ReadTime", DBUS_TYPE_UINT64, get_card_time },
	{ "Marker", DBUS_TYPE_STRING, get_card_marker },
	{ "Reader", DBUS_TYPE_OBJECT_PATH, get_card_reader },
	{ "ReaderId", DBUS_TYPE_STRING, get_card_reader_id },
};

static const struct method card_methods[] = {
	{ "GetBeneficiaries", "s", card_get_beneficiaries },
	{ "GetAffiliation", "", card_get_affiliation },
	{ "Release", "", card_release_call },
	{ NULL }
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct interface manager_iface = {
	VITALED_DBUS_MANAGER_INTERFACE, INTROSPECT_org_vitaled_Manager1,
	manager_props, N(manager_props), manager_methods
};
static const struct interface reader_iface = {
	VITALED_DBUS_READER_INTERFACE, INTROSPECT_org_vitaled_Reader1,
	reader_props, N(reader_props), reader_methods
};
static const struct interface card_iface = {
	VITALED_DBUS_CARD_INTERFACE, INTROSPECT_org_vitaled_Card1,
	card_props, N(card_props), card_methods
};

_Static_assert(N(manager_props) <= MAX_PROPS && N(reader_props) <= MAX_PROPS &&
	       N(card_props) <= MAX_PROPS, "raise MAX_PROPS");

/* ---- sending ----------------------------------------------------------- */

static void bus_send(DBusMessage *msg)
{
	if (!msg)
		return;
	if (!bus.conn) {
		dbus_message_unref(msg);
		return;
	}
	if (dbus_connection_get_outgoing_size(bus.conn) > MAX_OUTGOING) {
		if (!bus.outgoing_full)
			vitaled_warn("D-Bus: the bus is not reading our messages; dropping until it does");
		bus.outgoing_full = true;
		dbus_message_unref(msg);
		return;
	}
	bus.outgoing_full = false;
	if (!dbus_connection_send(bus.conn, msg, NULL))
		vitaled_warn("D-Bus: out of memory sending a message");
	dbus_message_unref(msg);
}

void bus_reply(DBusMessage *call, DBusMessage *reply)
{
	if (!reply) {
		vitaled_warn("D-Bus: out of memory building a reply");
		return;
	}
	if (dbus_message_get_no_reply(call))
		dbus_message_unref(reply);
	else
		bus_send(reply);
}

/* ---- property values and snapshots ----------------------------------- */

static dbus_uint64_t value_number(int type, const struct value *v)
{
	switch (type) {
	case DBUS_TYPE_BOOLEAN:
		return v->n.b;
	case DBUS_TYPE_UINT32:
		return v->n.u;
	default:
		return v->n.t;
	}
}

static bool is_string_type(int type)
{
	return type == DBUS_TYPE_STRING || type == DBUS_TYPE_OBJECT_PATH;
}

static void value_get(const struct property *p, void *object, struct value *v)
{
	memset(v, 0, sizeof(*v));
	p->get(object, v);
	/* libdbus aborts on invalid UTF-8 or paths; no property should hold them. */
	if (p->type == DBUS_TYPE_STRING && (!v->s || !dbus_validate_utf8(v->s, NULL)))
		v->s = "";
	else if (p->type == DBUS_TYPE_OBJECT_PATH && (!v->s || !dbus_validate_path(v->s, NULL)))
		v->s = "/";
}

static bool append_variant(DBusMessageIter *iter, const struct property *p, void *object)
{
	DBusMessageIter variant;
	char sig[2] = { (char)p->type, '\0' };
	struct value v;
	bool ok;

	value_get(p, object, &v);
	if (!dbus_message_iter_open_container(iter, DBUS_TYPE_VARIANT, sig, &variant))
		return false;
	if (is_string_type(p->type))
		ok = dbus_message_iter_append_basic(&variant, p->type, &v.s);
	else if (p->type == DBUS_TYPE_BOOLEAN)
		ok = dbus_message_iter_append_basic(&variant, p->type, &v.n.b);
	else if (p->type == DBUS_TYPE_UINT32)
		ok = dbus_message_iter_append_basic(&variant, p->type, &v.n.u);
	else
		ok = dbus_message_iter_append_basic(&variant, p->type, &v.n.t);
	if (!ok) {
		dbus_message_iter_abandon_container(iter, &variant);
		return false;
	}
	return dbus_message_iter_close_container(iter, &variant);
}

static bool append_property(DBusMessageIter *dict, const struct property *p, void *object)
{
	DBusMessageIter entry;

	if (!dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry))
		return false;
	if (!dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &p->name) ||
			!append_variant(&entry, p, object)) {
		dbus_message_iter_abandon_container(dict, &entry);
		return false;
	}
	return dbus_message_iter_close_container(dict, &entry);
}

/* a{sv} of the properties whose bit is set in mask */
static bool append_properties(DBusMessageIter *iter, const struct bus_object *o,
		uint32_t mask)
{
	DBusMessageIter dict;
	unsigned int i;

	if (!dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "{sv}", &dict))
		return false;
	for (i = 0; i < o->iface->n_props; i++)
		if ((mask & (1u << i)) && !append_property(&dict, &o->iface->props[i], o->object)) {
			dbus_message_iter_abandon_container(iter, &dict);
			return false;
		}
	return dbus_message_iter_close_container(iter, &dict);
}

static uint32_t all_props(const struct bus_object *o)
{
	return (1u << o->iface->n_props) - 1;
}

/* Record the current values; returns the mask of those that changed. */
static uint32_t snapshot(struct bus_object *o)
{
	uint32_t changed = 0;
	unsigned int i;

	for (i = 0; i < o->iface->n_props; i++) {
		const struct property *p = &o->iface->props[i];
		struct snap *s = &o->snap[i];
		struct value v;

		value_get(p, o->object, &v);
		if (is_string_type(p->type)) {
			char *copy;

			if (o->have_snap && s->s && !strcmp(s->s, v.s))
				continue;
			copy = strdup(v.s);
			if (!copy)	/* report it changed; compare again next time */
				vitaled_warn("D-Bus: out of memory tracking %s", p->name);
			free(s->s);
			s->s = copy;
		} else {
			dbus_uint64_t n = value_number(p->type, &v);

			if (o->have_snap && s->n == n)
				continue;
			s->n = n;
		}
		changed |= 1u << i;
	}
	o->have_snap = true;
	return changed;
}

/* ---- objects, signals, coalescing --------------------------------------- */

/* path → a{sa{sv}} with the object's one interface (ObjectManager form) */
static bool append_object(DBusMessageIter *iter, const struct bus_object *o)
{
	DBusMessageIter ifaces, entry;
	const char *path = o->path, *name = o->iface->name;

	if (!dbus_message_iter_append_basic(iter, DBUS_TYPE_OBJECT_PATH, &path) ||
			!dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "{sa{sv}}", &ifaces))
		return false;
	if (!dbus_message_iter_open_container(&ifaces, DBUS_TYPE_DICT_ENTRY, NULL, &entry))
		goto fail;
	if (!dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &name) ||
			!append_properties(&entry, o, all_props(o))) {
		dbus_message_iter_abandon_container(&ifaces, &entry);
		goto fail;
	}
	if (!dbus_message_iter_close_container(&ifaces, &entry))
		goto fail;
	return dbus_message_iter_close_container(iter, &ifaces);
fail:
	dbus_message_iter_abandon_container(iter, &ifaces);
	return false;
}

static void announce(struct bus_object *o)
{
	DBusMessage *sig;
	DBusMessageIter iter;

	snapshot(o);
	o->announced = true;
	sig = dbus_message_new_signal(VITALED_DBUS_ROOT_PATH, DBUS_INTERFACE_OBJECT_MANAGER,
			"InterfacesAdded");
	if (!sig)
		return;
	dbus_message_iter_init_append(sig, &iter);
	if (!append_object(&iter, o)) {
		dbus_message_unref(sig);
		return;
	}
	bus_send(sig);
}

static void emit_changes(struct bus_object *o)
{
	DBusMessage *sig;
	DBusMessageIter iter, invalidated;
	const char *name = o->iface->name;
	uint32_t changed = snapshot(o);

	if (!changed)
		return;
	sig = dbus_message_new_signal(o->path, DBUS_INTERFACE_PROPERTIES, "PropertiesChanged");
	if (!sig)
		return;
	dbus_message_iter_init_append(sig, &iter);
	if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &name) ||
			!append_properties(&iter, o, changed) ||
			!dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "s", &invalidated) ||
			!dbus_message_iter_close_container(&iter, &invalidated)) {
		dbus_message_unref(sig);
		return;
	}
	bus_send(sig);
}

static void flush_all(void)
{
	struct bus_object *o;

	while ((o = bus.dirty_head)) {
		bus.dirty_head = o->next_dirty;
		if (!bus.dirty_head)
			bus.dirty_tail = NULL;
		o->next_dirty = NULL;
		o->dirty = false;
		if (!o->announced)
			announce(o);
		else
			emit_changes(o);
	}
}

static void flush_posted(void *unused)
{
	bus.flush_posted = false;
	if (bus.conn)
		flush_all();
}

static void mark_dirty(struct bus_object *o)
{
	if (!o || o->dirty || !bus.conn)
		return;
	o->dirty = true;
	if (bus.dirty_tail)
		bus.dirty_tail->next_dirty = o;
	else
		bus.dirty_head = o;
	bus.dirty_tail = o;
	/* Once per loop round, after everything that happens in this one. */
	if (!bus.flush_posted && vitaled_post(flush_posted, NULL) == 0)
		bus.flush_posted = true;
}

static void unlink_dirty(struct bus_object *o)
{
	struct bus_object **pp, *prev = NULL;

	if (!o->dirty)
		return;
	for (pp = &bus.dirty_head; *pp; prev = *pp, pp = &(*pp)->next_dirty)
		if (*pp == o) {
			*pp = o->next_dirty;
			if (bus.dirty_tail == o)
				bus.dirty_tail = prev;
			break;
		}
	o->next_dirty = NULL;
	o->dirty = false;
}

static void object_free(struct bus_object *o)
{
	unsigned int i;

	for (i = 0; i < MAX_PROPS; i++)
		free(o->snap[i].s);
	free(o);
}

static struct bus_object *object_new(const struct interface *iface, void *object,
		const char *prefix, const char *leaf)
{
	struct bus_object *o = calloc(1, sizeof(*o));

	if (!o) {
		vitaled_error("D-Bus: out of memory: an object is not published");
		return NULL;
	}
	o->iface = iface;
	o->object = object;
	snprintf(o->path, sizeof(o->path), "%s%s", prefix, leaf);
	mark_dirty(o);
	return o;
}

static void object_gone(struct bus_object *o)
{
	DBusMessage *sig;
	DBusMessageIter iter, array;
	const char *path = o->path, *name = o->iface->name;

	unlink_dirty(o);
	/* Never announced: nobody heard of it, nothing to take back. */
	if (o->announced && bus.conn) {
		/* What happened before this removal is said before it. */
		flush_all();
		sig = dbus_message_new_signal(VITALED_DBUS_ROOT_PATH,
				DBUS_INTERFACE_OBJECT_MANAGER, "InterfacesRemoved");
		if (sig) {
			dbus_message_iter_init_append(sig, &iter);
			if (dbus_message_iter_append_basic(&iter, DBUS_TYPE_OBJECT_PATH, &path) &&
					dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "s",
						&array) &&
					dbus_message_iter_append_basic(&array, DBUS_TYPE_STRING, &name) &&
					dbus_message_iter_close_container(&iter, &array))
				bus_send(sig);
			else
				dbus_message_unref(sig);
		}
	}
	object_free(o);
}

/* "]" + symbology letter + modifier (ISO/IEC 15424) when the scanner is set
 * to send AIM identifiers, e.g. "]d2" GS1 DataMatrix, "]E0" EAN-13. */
static void aim_symbology(const uint8_t *data, size_t len, char out[4])
{
	out[0] = '\0';
	if (len >= 3 && data[0] == ']' &&
			((data[1] >= 'A' && data[1] <= 'Z') || (data[1] >= 'a' && data[1] <= 'z')) &&
			((data[2] >= '0' && data[2] <= '9') || (data[2] >= 'A' && data[2] <= 'Z')))
		snprintf(out, 4, "%c%c%c", data[0], data[1], data[2]);
}

void dbus_service_other_code(struct vitaled_reader *reader, const uint8_t *data, size_t len)
{
	struct bus_object *o = reader->bus_data;
	DBusMessageIter iter, array;
	char aim[4];
	const char *symbology = aim;
	DBusMessage *sig;

	if (!o || !bus.conn)
		return;
	/* the reader's own announcement (and count) come first */
	flush_all();
	aim_symbology(data, len, aim);
	sig = dbus_message_new_signal(o->path, VITALED_DBUS_READER_INTERFACE, "OtherCode");
	if (!sig)
		return;
	dbus_message_iter_init_append(sig, &iter);
	if (!dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "y", &array) ||
			!dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &data, (int)len) ||
			!dbus_message_iter_close_container(&iter, &array) ||
			!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &symbology)) {
		dbus_message_unref(sig);
		return;
	}
	bus_send(sig);
}

/* ---- observer: the daemon's readers and cards ------------------------- */

static void reader_added(struct vitaled_reader *reader)
{
	char leaf[16];

	snprintf(leaf, sizeof(leaf), "%u", reader->serial);
	reader->bus_data = object_new(&reader_iface, reader, VITALED_DBUS_READER_PATH_PREFIX,
			leaf);
}

static void reader_changed(struct vitaled_reader *reader)
{
	mark_dirty(reader->bus_data);
}

static bool mark_card(struct vitaled_card *card, void *data)
{
	mark_dirty(card->bus_data);
	return true;
}

static void reader_removed(struct vitaled_reader *reader)
{
	struct bus_object *o = reader->bus_data;

	reader->bus_data = NULL;
	if (o)
		object_gone(o);
	/* Cards that outlive their reader now point nowhere ("/"). */
	card_foreach(mark_card, NULL);
}

static void card_added(struct vitaled_card *card)
{
	card->bus_data = object_new(&card_iface, card, VITALED_DBUS_CARD_PATH_PREFIX,
			card->id);
}

static void card_changed(struct vitaled_card *card)
{
	mark_dirty(card->bus_data);
}

static void card_removed(struct vitaled_card *card)
{
	struct bus_object *o = card->bus_data;

	card->bus_data = NULL;
	if (o)
		object_gone(o);
}

static const struct vitaled_observer observer = {
	.reader_added = reader_added,
	.reader_changed = reader_changed,
	.reader_removed = reader_removed,
	.card_added = card_added,
	.card_changed = card_changed,
	.card_removed = card_removed,
};

void vitaled_pcsc_set_available(bool available)
{
	if (bus.pcsc_available == available)
		return;
	bus.pcsc_available = available;
	mark_dirty(&bus.manager);
}

void dbus_service_manager_changed(void)
{
	bus_access_reload();
	mark_dirty(&bus.manager);
}

void dbus_service_manager_props_changed(void)
{
	mark_dirty(&bus.manager);
}

/* ---- the object tree ---------------------------------------------------- */

enum node_type { NODE_ROOT, NODE_ORG, NODE_MANAGER, NODE_READERS, NODE_CARDS, NODE_OBJECT };

struct node {
	enum node_type type;
	struct bus_object *obj;		/* NODE_MANAGER, NODE_OBJECT */
};

/* "N" with no sign, no leading zero, at most 9 digits */
static bool parse_serial(const char *s, unsigned int *out)
{
	unsigned int n = 0, i;

	if (s[0] < '1' || s[0] > '9')
		return false;
	for (i = 0; s[i]; i++) {
		if (i == 9 || s[i] < '0' || s[i] > '9')
			return false;
		n = n * 10 + (unsigned int)(s[i] - '0');
	}
	*out = n;
	return true;
}

struct reader_lookup {
	unsigned int serial;
	struct vitaled_reader *found;
};

static bool match_reader(struct vitaled_reader *reader, void *data)
{
	struct reader_lookup *l = data;

	if (reader->serial != l->serial)
		return true;
	l->found = reader;
	return false;
}

static bool resolve(const char *path, struct node *node)
{
	static const struct { const char *path; enum node_type type; } fixed[] = {
		{ "/", NODE_ROOT },
		{ "/org", NODE_ORG },
		{ VITALED_DBUS_ROOT_PATH, NODE_MANAGER },
		{ VITALED_DBUS_READERS_PATH, NODE_READERS },
		{ VITALED_DBUS_CARDS_PATH, NODE_CARDS },
	};
	size_t i, rlen = strlen(VITALED_DBUS_READER_PATH_PREFIX);
	size_t clen = strlen(VITALED_DBUS_CARD_PATH_PREFIX);
	unsigned int serial;

	node->obj = NULL;
	for (i = 0; i < N(fixed); i++)
		if (!strcmp(path, fixed[i].path)) {
			node->type = fixed[i].type;
			if (node->type == NODE_MANAGER)
				node->obj = &bus.manager;
			return true;
		}
	node->type = NODE_OBJECT;
	if (!strncmp(path, VITALED_DBUS_READER_PATH_PREFIX, rlen) &&
			parse_serial(path + rlen, &serial)) {
		struct reader_lookup l = { serial, NULL };

		reader_foreach(match_reader, &l);
		node->obj = l.found ? l.found->bus_data : NULL;
	} else if (!strncmp(path, VITALED_DBUS_CARD_PATH_PREFIX, clen)) {
		/* A path from before a restart names no card: UnknownObject. */
		struct vitaled_card *card = card_find(path + clen);

		node->obj = card ? card->bus_data : NULL;
	}
	return node->obj != NULL;
}

/* ---- Introspectable ---------------------------------------------------- */

static const char introspectable_xml[] =
	"  <interface name=\"org.freedesktop.DBus.Introspectable\">\n"
	"    <method name=\"Introspect\">\n"
	"      <arg name=\"xml_data\" type=\"s\" direction=\"out\"/>\n"
	"    </method>\n"
	"  </interface>\n";

static const char peer_xml[] =
	"  <interface name=\"org.freedesktop.DBus.Peer\">\n"
	"    <method name=\"Ping\"/>\n"
	"    <method name=\"GetMachineId\">\n"
	"      <arg name=\"machine_uuid\" type=\"s\" direction=\"out\"/>\n"
	"    </method>\n"
	"  </interface>\n";

static const char properties_xml[] =
	"  <interface name=\"org.freedesktop.DBus.Properties\">\n"
	"    <method name=\"Get\">\n"
	"      <arg name=\"interface_name\" type=\"s\" direction=\"in\"/>\n"
	"      <arg name=\"property_name\" type=\"s\" direction=\"in\"/>\n"
	"      <arg name=\"value\" type=\"v\" direction=\"out\"/>\n"
	"    </method>\n"
	"    <method name=\"GetAll\">\n"
	"      <arg name=\"interface_name\" type=\"s\" direction=\"in\"/>\n"
	"      <arg name=\"props\" type=\"a{sv}\" direction=\"out\"/>\n"
	"    </method>\n"
	"    <method name=\"Set\">\n"
	"      <arg name=\"interface_name\" type=\"s\" direction=\"in\"/>\n"
	"      <arg name=\"property_name\" type=\"s\" direction=\"in\"/>\n"
	"      <arg name=\"value\" type=\"v\" direction=\"in\"/>\n"
	"    </method>\n"
	"    <signal name=\"PropertiesChanged\">\n"
	"      <arg name=\"interface_name\" type=\"s\"/>\n"
	"      <arg name=\"changed_properties\" type=\"a{sv}\"/>\n"
	"      <arg name=\"invalidated_properties\" type=\"as\"/>\n"
	"    </signal>\n"
	"  </interface>\n";

static const char object_manager_xml[] =
	"  <interface name=\"org.freedesktop.DBus.ObjectManager\">\n"
	"    <method name=\"GetManagedObjects\">\n"
	"      <arg name=\"objects\" type=\"a{oa{sa{sv}}}\" direction=\"out\"/>\n"
	"    </method>\n"
	"    <signal name=\"InterfacesAdded\">\n"
	"      <arg name=\"object\" type=\"o\"/>\n"
	"      <arg name=\"interfaces\" type=\"a{sa{sv}}\"/>\n"
	"    </signal>\n"
	"    <signal name=\"InterfacesRemoved\">\n"
	"      <arg name=\"object\" type=\"o\"/>\n"
	"      <arg name=\"interfaces\" type=\"as\"/>\n"
	"    </signal>\n"
	"  </interface>\n";

struct strbuf {
	char *data;
	size_t len, size;
	bool failed;
};

static void __attribute__((format(printf, 2, 3))) sb_printf(struct strbuf *sb,
		const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->failed)
		return;
	for (;;) {
		size_t room = sb->size - sb->len;

		va_start(ap, fmt);
		n = vsnprintf(sb->data ? sb->data + sb->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->failed = true;
			return;
		}
		if ((size_t)n < room) {
			sb->len += (size_t)n;
			return;
		}
		{
			size_t size = sb->size ? sb->size * 2 : 4096;
			char *p;

			while (size - sb->len <= (size_t)n)
				size *= 2;
			p = realloc(sb->data, size);
			if (!p) {
				sb->failed = true;
				return;
			}
			sb->data = p;
			sb->size = size;
		}
	}
}

static bool child_reader(struct vitaled_reader *reader, void *data)
{
	if (reader->bus_data)
		sb_printf(data, "  <node name=\"%u\"/>\n", reader->serial);
	return true;
}

static bool child_card(struct vitaled_card *card, void *data)
{
	if (card->bus_data)
		sb_printf(data, "  <node name=\"%s\"/>\n", card->id);
	return true;
}

static DBusMessage *introspect(DBusMessage *msg, const struct node *node)
{
	struct strbuf sb = { 0 };
	DBusMessage *reply = NULL;

	sb_printf(&sb, "%s", DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE "<node>\n");
	sb_printf(&sb, "%s%s", introspectable_xml, peer_xml);
	if (node->obj) {
		sb_printf(&sb, "%s", properties_xml);
		if (node->type == NODE_MANAGER)
			sb_printf(&sb, "%s", object_manager_xml);
		sb_printf(&sb, "%s", node->obj->iface->xml);
	}
	switch (node->type) {
	case NODE_ROOT:
		sb_printf(&sb, "  <node name=\"org\"/>\n");
		break;
	case NODE_ORG:
		sb_printf(&sb, "  <node name=\"vitaled\"/>\n");
		break;
	case NODE_MANAGER:
		sb_printf(&sb, "  <node name=\"readers\"/>\n  <node name=\"cards\"/>\n");
		break;
	case NODE_READERS:
		reader_foreach(child_reader, &sb);
		break;
	case NODE_CARDS:
		card_foreach(child_card, &sb);
		break;
	case NODE_OBJECT:
		break;
	}
	sb_printf(&sb, "</node>\n");
	if (!sb.failed) {
		reply = dbus_message_new_method_return(msg);
		if (reply && !dbus_message_append_args(reply, DBUS_TYPE_STRING, &sb.data,
				DBUS_TYPE_INVALID)) {
			dbus_message_unref(reply);
			reply = NULL;
		}
	}
	free(sb.data);
	return reply;
}

/* ---- Properties and ObjectManager ------------------------------------- */

static const struct property *find_property(const struct bus_object *o, const char *name,
		unsigned int *index)
{
	unsigned int i;

	for (i = 0; i < o->iface->n_props; i++)
		if (!strcmp(o->iface->props[i].name, name)) {
			*index = i;
			return &o->iface->props[i];
		}
	return NULL;
}

static bool is_standard_interface(const char *name)
{
	return !strcmp(name, DBUS_INTERFACE_INTROSPECTABLE) ||
		!strcmp(name, DBUS_INTERFACE_PEER) ||
		!strcmp(name, DBUS_INTERFACE_PROPERTIES);
}

static DBusMessage *properties_call(DBusMessage *msg, const struct node *node,
		const char *member)
{
	struct bus_object *o = node->obj;
	const char *iface = NULL, *name = NULL;
	const struct property *p;
	DBusMessage *reply;
	DBusMessageIter iter;
	unsigned int index;
	bool ok;

	if (!strcmp(member, "GetAll")) {
		dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &iface, DBUS_TYPE_INVALID);
		if (o && (!iface[0] || !strcmp(iface, o->iface->name) ||
					is_standard_interface(iface))) {
			reply = dbus_message_new_method_return(msg);
			if (!reply)
				return NULL;
			dbus_message_iter_init_append(reply, &iter);
			/* The standard interfaces have no properties: empty dict. */
			ok = append_properties(&iter, o, strcmp(iface, o->iface->name) && iface[0] ?
					0 : all_props(o));
			if (!ok) {
				dbus_message_unref(reply);
				return NULL;
			}
			return reply;
		}
		return dbus_message_new_error_printf(msg, DBUS_ERROR_UNKNOWN_INTERFACE,
				"no interface \"%s\" at %s", iface, dbus_message_get_path(msg));
	}
	if (strcmp(member, "Get") && strcmp(member, "Set"))
		return dbus_message_new_error_printf(msg, DBUS_ERROR_UNKNOWN_METHOD,
				"no method %s in %s", member, DBUS_INTERFACE_PROPERTIES);
	dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &name,
			DBUS_TYPE_INVALID);
	if (!o || (iface[0] && strcmp(iface, o->iface->name)))
		return dbus_message_new_error_printf(msg, DBUS_ERROR_UNKNOWN_INTERFACE,
				"no interface \"%s\" at %s", iface, dbus_message_get_path(msg));
	p = find_property(o, name, &index);
	if (!p)
		return dbus_message_new_error_printf(msg, DBUS_ERROR_UNKNOWN_PROPERTY,
				"no property \"%s\" in %s", name, o->iface->name);
	if (!strcmp(member, "Set"))
		return dbus_message_new_error_printf(msg, DBUS_ERROR_PROPERTY_READ_ONLY,
				"%s.%s is read-only", o->iface->name, name);
	reply = dbus_message_new_method_return(msg);
	if (!reply)
		return NULL;
	dbus_message_iter_init_append(reply, &iter);
	if (!append_variant(&iter, p, o->object)) {
		dbus_message_unref(reply);
		return NULL;
	}
	return reply;
}

struct managed {
	DBusMessageIter *dict;
	bool ok;
};

static bool append_managed(struct bus_object *o, struct managed *m)
{
	DBusMessageIter entry;

	if (!o || !m->ok)
		return m->ok;
	if (!dbus_message_iter_open_container(m->dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry)) {
		m->ok = false;
		return false;
	}
	if (!append_object(&entry, o)) {
		dbus_message_iter_abandon_container(m->dict, &entry);
		m->ok = false;
		return false;
	}
	m->ok = dbus_message_iter_close_container(m->dict, &entry);
	return m->ok;
}

static bool managed_reader(struct vitaled_reader *reader, void *data)
{
	return append_managed(reader->bus_data, data);
}

static bool managed_card(struct vitaled_card *card, void *data)
{
	return append_managed(card->bus_data, data);
}

static DBusMessage *get_managed_objects(DBusMessage *msg)
{
	DBusMessage *reply = dbus_message_new_method_return(msg);
	DBusMessageIter iter, dict;
	struct managed m = { &dict, true };

	if (!reply)
		return NULL;
	dbus_message_iter_init_append(reply, &iter);
	if (!dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "{oa{sa{sv}}}", &dict)) {
		dbus_message_unref(reply);
		return NULL;
	}
	reader_foreach(managed_reader, &m);
	card_foreach(managed_card, &m);
	if (!m.ok) {
		dbus_message_iter_abandon_container(&iter, &dict);
		dbus_message_unref(reply);
		return NULL;
	}
	if (!dbus_message_iter_close_container(&iter, &dict)) {
		dbus_message_unref(reply);
		return NULL;
	}
	return reply;
}

/* ---- method dispatch ---------------------------------------------------- */

/* The standard methods answered here (Peer is libdbus's own), with their
 * input signatures; our interfaces' methods carry theirs in struct method. */
static const struct {
	const char *iface;
	const char *member;
	const char *in_sig;
} standard_methods[] = {
	{ DBUS_INTERFACE_INTROSPECTABLE, "Introspect", "" },
	{ DBUS_INTERFACE_PROPERTIES, "Get", "ss" },
	{ DBUS_INTERFACE_PROPERTIES, "GetAll", "s" },
	{ DBUS_INTERFACE_PROPERTIES, "Set", "ssv" },
	{ DBUS_INTERFACE_OBJECT_MANAGER, "GetManagedObjects", "" },
};

static const struct method *find_method(const struct node *node, const char *iface,
		const char *member)
{
	const struct method *m;

	if (!node->obj || (iface && strcmp(iface, node->obj->iface->name)))
		return NULL;
	for (m = node->obj->iface->methods; m->name; m++)
		if (!strcmp(m->name, member))
			return m;
	return NULL;
}

/*
 * The one place where every call's arguments are checked against its
 * method's input signature (doc/dbus-api.md).  false with *error set to
 * InvalidArgs (NULL when out of memory); true when they match or the
 * method is unknown (the dispatch then says so).
 */
static bool arguments_ok(DBusMessage *msg, const struct node *node, const char *iface,
		const char *member, DBusMessage **error)
{
	const struct method *m;
	const char *sig = NULL;
	size_t i;

	for (i = 0; i < sizeof(standard_methods) / sizeof(standard_methods[0]); i++)
		if (iface && !strcmp(iface, standard_methods[i].iface) &&
				!strcmp(member, standard_methods[i].member))
			sig = standard_methods[i].in_sig;
	if (!sig) {
		m = find_method(node, iface, member);
		if (!m)
			return true;
		sig = m->in_sig;
		iface = node->obj->iface->name;
	}
	if (dbus_message_has_signature(msg, sig))
		return true;
	*error = dbus_message_new_error_printf(msg, DBUS_ERROR_INVALID_ARGS,
			"%s.%s takes (%s), not (%s)", iface, member, sig,
			dbus_message_get_signature(msg));
	return false;
}

static DBusMessage *interface_call(DBusMessage *msg, const struct node *node,
		const char *iface, const char *member)
{
	const struct method *m;

	if (!node->obj || (iface && strcmp(iface, node->obj->iface->name)))
		return dbus_message_new_error_printf(msg, DBUS_ERROR_UNKNOWN_INTERFACE,
				"no interface \"%s\" at %s", iface ? iface : "",
				dbus_message_get_path(msg));
	m = find_method(node, iface, member);
	if (!m)
		return dbus_message_new_error_printf(msg, DBUS_ERROR_UNKNOWN_METHOD,
				"no method %s in %s", member, node->obj->iface->name);
	return m->func(msg, node->obj);
}

static DBusHandlerResult handle_message(DBusConnection *conn, DBusMessage *msg, void *data)
{
	const char *iface = dbus_message_get_interface(msg);
	const char *member = dbus_message_get_member(msg);
	const char *path = dbus_message_get_path(msg);
	DBusMessage *reply;
	struct node node;

	if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_METHOD_CALL || !member || !path)
		return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
	if (!resolve(path, &node))
		reply = dbus_message_new_error_printf(msg, DBUS_ERROR_UNKNOWN_OBJECT,
				"no object at %s (the card or reader may be gone)", path);
	else if (!arguments_ok(msg, &node, iface, member, &reply))
		;	/* reply: InvalidArgs (NULL when out of memory) */
	else if (iface && !strcmp(iface, DBUS_INTERFACE_INTROSPECTABLE) &&
			!strcmp(member, "Introspect"))
		reply = introspect(msg, &node);
	else if (iface && !strcmp(iface, DBUS_INTERFACE_PROPERTIES))
		reply = properties_call(msg, &node, member);
	else if (iface && !strcmp(iface, DBUS_INTERFACE_OBJECT_MANAGER) &&
			node.type == NODE_MANAGER && !strcmp(member, "GetManagedObjects"))
		reply = get_managed_objects(msg);
	else
		reply = interface_call(msg, &node, iface, member);
	if (reply)
		bus_reply(msg, reply);
	return DBUS_HANDLER_RESULT_HANDLED;
}

static const DBusObjectPathVTable tree_vtable = {
	.message_function = handle_message,
};

/* Losing the bus or the name ends the daemon: systemd restarts it
 * (Restart=on-failure) with a clean slate; see doc/dbus-api.md. */
static DBusHandlerResult filter(DBusConnection *conn, DBusMessage *msg, void *data)
{
	const char *name = NULL;

	if (dbus_message_is_signal(msg, DBUS_INTERFACE_LOCAL, "Disconnected")) {
		vitaled_error("D-Bus: lost the connection to the bus; exiting so that "
			      "the service manager restarts vitaled");
		loop_quit(EXIT_FAILURE);
		return DBUS_HANDLER_RESULT_HANDLED;
	}
	if (dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameLost") &&
			dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name,
				DBUS_TYPE_INVALID) &&
			!strcmp(name, VITALED_DBUS_NAME)) {
		vitaled_error("D-Bus: lost the name %s; exiting", VITALED_DBUS_NAME);
		loop_quit(EXIT_FAILURE);
		return DBUS_HANDLER_RESULT_HANDLED;
	}
	return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

/* ---- start and stop ----------------------------------------------------- */

static bool announce_reader(struct vitaled_reader *reader, void *data)
{
	if (!reader->bus_data)
		reader_added(reader);
	return true;
}

static bool announce_card(struct vitaled_card *card, void *data)
{
	if (!card->bus_data)
		card_added(card);
	return true;
}

static bool forget_reader(struct vitaled_reader *reader, void *data)
{
	if (reader->bus_data)
		object_free(reader->bus_data);
	reader->bus_data = NULL;
	return true;
}

static bool forget_card(struct vitaled_card *card, void *data)
{
	if (card->bus_data)
		object_free(card->bus_data);
	card->bus_data = NULL;
	return true;
}

static void close_connection(void)
{
	DBusConnection *conn = bus.conn;
	unsigned int i;

	observer_unregister(&observer);
	bus_access_cleanup();
	reader_foreach(forget_reader, NULL);
	card_foreach(forget_card, NULL);
	bus.dirty_head = bus.dirty_tail = NULL;
	for (i = 0; i < MAX_PROPS; i++) {
		free(bus.manager.snap[i].s);
		bus.manager.snap[i].s = NULL;
	}
	bus.conn = NULL;
	dbus_connection_unregister_object_path(conn, "/");
	dbus_connection_remove_filter(conn, filter, NULL);
	dbus_connection_close(conn);
	dbus_connection_unref(conn);
	bus_loop_detach();
}

int dbus_service_init(bool session_bus)
{
	const char *which = session_bus ? "session" : "system";
	DBusError error;

	dbus_error_init(&error);
	bus.conn = dbus_bus_get_private(session_bus ? DBUS_BUS_SESSION : DBUS_BUS_SYSTEM, &error);
	if (!bus.conn) {
		vitaled_error("D-Bus: cannot connect to the %s bus: %s", which, error.message);
		dbus_error_free(&error);
		return -ENOTCONN;
	}
	dbus_connection_set_exit_on_disconnect(bus.conn, FALSE);
	dbus_connection_set_max_received_size(bus.conn, MAX_INCOMING);

	bus.manager.iface = &manager_iface;
	snprintf(bus.manager.path, sizeof(bus.manager.path), "%s", VITALED_DBUS_MANAGER_PATH);
	bus.manager.announced = true;
	snapshot(&bus.manager);

	if (bus_loop_attach(bus.conn) < 0 ||
			!dbus_connection_add_filter(bus.conn, filter, NULL, NULL) ||
			!dbus_connection_register_fallback(bus.conn, "/", &tree_vtable, NULL)) {
		vitaled_error("D-Bus: out of memory setting up the connection");
		close_connection();
		return -ENOMEM;
	}
	bus_access_init(bus.conn, session_bus);

	observer_register(&observer);
	reader_foreach(announce_reader, NULL);
	card_foreach(announce_card, NULL);
	bus.session_bus = session_bus;
	return 0;
}

/* Objects are served before the name is owned, and the sources' first
 * readers with them (main.c): a client woken by the name finds them all. */
int dbus_service_own_name(void)
{
	const char *which = bus.session_bus ? "session" : "system";
	DBusError error;
	int ret;

	dbus_error_init(&error);
	ret = dbus_bus_request_name(bus.conn, VITALED_DBUS_NAME, DBUS_NAME_FLAG_DO_NOT_QUEUE,
			&error);
	if (ret != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER) {
		if (dbus_error_is_set(&error)) {
			vitaled_error("D-Bus: cannot own %s on the %s bus: %s (the bus policy "
				      "dbus/org.vitaled.conf lets only the vitaled user and root own it)",
				      VITALED_DBUS_NAME, which, error.message);
			dbus_error_free(&error);
		} else {
			vitaled_error("D-Bus: %s is already owned on the %s bus: is another vitaled running?",
				      VITALED_DBUS_NAME, which);
		}
		close_connection();
		return -EADDRINUSE;
	}
	vitaled_info("D-Bus: %s owned on the %s bus", VITALED_DBUS_NAME, which);
	/* Calls that came in during the blocking request are queued. */
	bus_loop_dispatch_soon();
	return 0;
}

void dbus_service_cleanup(void)
{
	if (!bus.conn)
		return;
	close_connection();
	/* libdbus keeps process-wide caches; the daemon is done with it. */
	dbus_shutdown();
}
