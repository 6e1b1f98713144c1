/*
 * The data methods (Card1.GetBeneficiaries, GetAffiliation, Release) and
 * Manager1.InstallTrustBundle (root only, or the daemon's own user on a
 * session bus):
 * the daemon checks the caller itself, on top of the bus policy.  It asks
 * the bus for the caller's credentials (GetConnectionCredentials, without
 * blocking the loop), lets through root and members of the client group
 * ([DBus] ClientGroup) — and, on a session bus, the daemon's own user —
 * and writes one audit line per call (audit.c): caller uid, pid, command
 * name, card object, outcome.  Never the data.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dbus/dbus.h>
#include <vitaled/dbus.h>

#include "daemon.h"

/* Bounded: a flood of calls costs a Busy error, not memory. */
#define MAX_IN_FLIGHT		256
#define CREDENTIALS_TIMEOUT_MS	10000

struct access_call {
	DBusPendingCall *pending;	/* borrowed: the connection holds it */
	DBusMessage *call;
	char card_id[VITALED_DBUS_CARD_ID_LEN + 1];
	enum bus_data_method method;
	struct access_call *prev, *next;
};

struct caller {
	bool have_uid;
	dbus_uint32_t uid;
	dbus_uint32_t pid;		/* 0: unknown */
	bool in_client_group;
};

/*
 * The credentials of a unique name never change (the bus reads them when
 * the client connects, and never hands a unique name out twice), so a
 * small cache saves a round trip to the bus on each later call.  It is
 * emptied on reload: the client group may have changed.
 */
#define CACHE_SIZE	256

struct cached_caller {
	char name[32];		/* unique name; "" free */
	struct caller caller;
	unsigned long used;
};

static struct {
	struct cached_caller cache[CACHE_SIZE];
	unsigned long clock;
	DBusConnection *conn;
	bool session_bus;
	bool have_gid;
	gid_t client_gid;
	struct access_call *calls;
	unsigned int n_calls;
} access_state;

/* The group is looked up at start and on reload, never per call: NSS may block. */
void bus_access_reload(void)
{
	const char *name = vitaled_config_string("DBus", "ClientGroup");
	struct group grp, *found = NULL;
	size_t size = 4096;
	char *buf = NULL;
	int err;

	memset(access_state.cache, 0, sizeof(access_state.cache));
	access_state.have_gid = false;
	if (!name || !name[0]) {
		vitaled_warn("D-Bus: no client group configured: only root may read personal data");
		return;
	}
	/* A group with many members needs a bigger buffer (ERANGE). */
	do {
		char *p = realloc(buf, size);

		if (!p) {
			err = ENOMEM;
			break;
		}
		buf = p;
		err = getgrnam_r(name, &grp, buf, size, &found);
		size *= 2;
	} while (err == ERANGE && size <= 1024 * 1024);
	if (!err && found) {
		access_state.client_gid = found->gr_gid;
		access_state.have_gid = true;
	} else if (err) {
		vitaled_warn("D-Bus: cannot look up client group \"%s\" (%s): only root may read "
			     "personal data", name, strerror(err));
	} else {
		vitaled_warn("D-Bus: client group \"%s\" does not exist: only root may read "
			     "personal data", name);
	}
	free(buf);
}

static const struct caller *cache_lookup(const char *name)
{
	unsigned int i;

	for (i = 0; i < CACHE_SIZE; i++) {
		struct cached_caller *c = &access_state.cache[i];

		if (c->name[0] && !strcmp(c->name, name)) {
			c->used = ++access_state.clock;
			return &c->caller;
		}
	}
	return NULL;
}

static void cache_store(const char *name, const struct caller *caller)
{
	struct cached_caller *victim = &access_state.cache[0];
	unsigned int i;

	if (strlen(name) >= sizeof(victim->name))
		return;
	/* A free slot, else the least recently used one. */
	for (i = 0; i < CACHE_SIZE && victim->name[0]; i++)
		if (!access_state.cache[i].name[0] ||
				access_state.cache[i].used < victim->used)
			victim = &access_state.cache[i];
	snprintf(victim->name, sizeof(victim->name), "%s", name);
	victim->caller = *caller;
	victim->used = ++access_state.clock;
}

static const char *method_name(enum bus_data_method method)
{
	switch (method) {
	case BUS_DATA_BENEFICIARIES:
		return "GetBeneficiaries";
	case BUS_DATA_AFFILIATION:
		return "GetAffiliation";
	case BUS_TRUST_INSTALL:
		return "InstallTrustBundle";
	case BUS_DATA_RELEASE:
		break;
	}
	return "Release";
}

/* Releases one line each; refusals coalesced per caller (audit.c). */
static void audit(const struct access_call *ac, const struct caller *caller,
		const char *outcome, bool refusal)
{
	const struct audit_caller who = { caller->have_uid, caller->uid, caller->pid };

	audit_call(method_name(ac->method), ac->card_id, &who, outcome, refusal);
}

static bool authorised(const struct caller *caller, enum bus_data_method method)
{
	if (!caller->have_uid)
		return false;
	if (caller->uid == 0)
		return true;
	/* A session bus is one user's own: that user is the client. */
	if (access_state.session_bus && caller->uid == getuid())
		return true;
	/* What the daemon trusts is the administrator's alone. */
	return method != BUS_TRUST_INSTALL && caller->in_client_group;
}

/* The a{sv} reply of org.freedesktop.DBus.GetConnectionCredentials. */
static int parse_credentials(DBusMessage *reply, struct caller *caller)
{
	DBusMessageIter iter, dict;

	/* the whole signature: the keys are read as strings below */
	if (!dbus_message_has_signature(reply, "a{sv}") ||
			!dbus_message_iter_init(reply, &iter))
		return -EBADMSG;
	dbus_message_iter_recurse(&iter, &dict);
	while (dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY) {
		DBusMessageIter entry, variant;
		const char *key;
		int type;

		dbus_message_iter_recurse(&dict, &entry);
		dbus_message_iter_get_basic(&entry, &key);
		dbus_message_iter_next(&entry);
		dbus_message_iter_recurse(&entry, &variant);
		type = dbus_message_iter_get_arg_type(&variant);
		if (!strcmp(key, "UnixUserID") && type == DBUS_TYPE_UINT32) {
			dbus_message_iter_get_basic(&variant, &caller->uid);
			caller->have_uid = true;
		} else if (!strcmp(key, "ProcessID") && type == DBUS_TYPE_UINT32) {
			dbus_message_iter_get_basic(&variant, &caller->pid);
		} else if (!strcmp(key, "UnixGroupIDs") && type == DBUS_TYPE_ARRAY &&
				dbus_message_iter_get_element_type(&variant) == DBUS_TYPE_UINT32) {
			DBusMessageIter gids;

			dbus_message_iter_recurse(&variant, &gids);
			while (dbus_message_iter_get_arg_type(&gids) == DBUS_TYPE_UINT32) {
				dbus_uint32_t gid;

				dbus_message_iter_get_basic(&gids, &gid);
				if (access_state.have_gid && gid == access_state.client_gid)
					caller->in_client_group = true;
				dbus_message_iter_next(&gids);
			}
		}
		dbus_message_iter_next(&dict);
	}
	return 0;
}

static DBusMessage *data_reply(DBusMessage *call, const struct vitaled_card *card,
		enum bus_data_method method)
{
	DBusMessage *reply = dbus_message_new_method_return(call);
	DBusMessageIter iter;
	struct vd_date date;
	const char *text = "";
	bool ok;

	if (!reply)
		return NULL;
	dbus_message_iter_init_append(reply, &iter);
	if (method == BUS_DATA_BENEFICIARIES) {
		/* Checked on arrival; read again from the call we kept. */
		dbus_message_get_args(call, NULL, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID);
		ok = bus_data_parse_date(text, &date) == 0 &&
			bus_data_beneficiaries(&iter, card->result, &date);
	} else {
		ok = bus_data_affiliation(&iter, card->result);
	}
	if (!ok) {
		dbus_message_unref(reply);
		return NULL;
	}
	return reply;
}

static bool is_phone_read(const struct vitaled_card *card)
{
	return card->result && (card->result->form == VD_FORM_PHONE_NFC ||
			card->result->form == VD_FORM_PHONE_QR);
}

/* Audited by the error's short name ("NotVerified", "Gone", ...). */
static void refuse(const struct access_call *ac, const struct caller *caller, int err,
		const struct vitaled_card *card, const char *detail)
{
	audit(ac, caller, strrchr(bus_error_name(err), '.') + 1, true);
	bus_reply(ac->call, bus_error_reply(ac->call, err, card, detail));
}

static void finish(struct access_call *ac, const struct caller *caller)
{
	struct vitaled_card *card;
	DBusMessage *reply;
	int err;

	if (!authorised(caller, ac->method)) {
		audit(ac, caller, "refused: AccessDenied", true);
		bus_reply(ac->call, bus_error_reply(ac->call, -EACCES, NULL,
				ac->method == BUS_TRUST_INSTALL ?
				"only root may install trust material" : NULL));
		return;
	}
	if (ac->method == BUS_TRUST_INSTALL) {
		err = trust_install_call(ac->call);
		if (err)
			refuse(ac, caller, err, NULL, err == -EBUSY ?
					"another trust bundle is being installed: try again once "
					"it is done" : NULL);
		else
			audit(ac, caller, "started", false);
		return;
	}
	/* The card may have gone while the bus answered. */
	card = card_find(ac->card_id);
	if (ac->method == BUS_DATA_RELEASE) {
		if (!card)
			err = -ESTALE;
		else if (card->state != CARD_STATE_DONE)
			err = -EINPROGRESS;
		else if (!is_phone_read(card))
			err = -EOPNOTSUPP;
		else
			err = 0;
		if (err) {
			refuse(ac, caller, err, card, NULL);
			return;
		}
		card_release(card, "released by a client");
		audit(ac, caller, "wiped", false);
		bus_reply(ac->call, dbus_message_new_method_return(ac->call));
		return;
	}
	err = bus_card_data_status(card);
	if (err) {
		refuse(ac, caller, err, card, NULL);
		return;
	}
	reply = data_reply(ac->call, card, ac->method);
	if (!reply) {
		audit(ac, caller, "failed", false);
		bus_reply(ac->call, bus_error_reply(ac->call, -EIO, NULL,
				"the record could not be encoded"));
		return;
	}
	audit(ac, caller, card->result->verdict.status == VD_STATUS_VERIFIED ?
	      "released" : "released (unverifiable legacy card)", false);
	bus_reply(ac->call, reply);
}

static void credentials_reply(DBusPendingCall *pending, void *user_data)
{
	struct access_call *ac = user_data;
	DBusMessage *reply = dbus_pending_call_steal_reply(pending);
	struct caller caller = { 0 };

	if (!reply || dbus_message_get_type(reply) != DBUS_MESSAGE_TYPE_METHOD_RETURN ||
			parse_credentials(reply, &caller) < 0) {
		/* Usually NameHasNoOwner: the caller left; nobody to answer. */
		audit(ac, &caller, "caller gone or unknown: nothing released", true);
		bus_reply(ac->call, bus_error_reply(ac->call, -EACCES, NULL,
				"the caller's credentials could not be checked"));
	} else {
		cache_store(dbus_message_get_sender(ac->call), &caller);
		finish(ac, &caller);
	}
	if (reply)
		dbus_message_unref(reply);
}

static void access_call_free(void *user_data)
{
	struct access_call *ac = user_data;

	if (ac->prev)
		ac->prev->next = ac->next;
	else
		access_state.calls = ac->next;
	if (ac->next)
		ac->next->prev = ac->prev;
	access_state.n_calls--;
	dbus_message_unref(ac->call);
	free(ac);
}

void bus_access_call(DBusMessage *call, const char *card_id, enum bus_data_method method)
{
	const char *sender = dbus_message_get_sender(call);
	const struct caller *cached;
	struct access_call *ac;
	DBusMessage *query;
	DBusPendingCall *pending = NULL;

	if (!sender) {
		/* Peer-to-peer connections are not served: there is always a bus. */
		bus_reply(call, bus_error_reply(call, -EACCES, NULL, NULL));
		return;
	}
	cached = cache_lookup(sender);
	if (cached) {
		struct access_call now = { .call = call, .method = method };

		snprintf(now.card_id, sizeof(now.card_id), "%s", card_id);

		finish(&now, cached);
		return;
	}
	if (access_state.n_calls >= MAX_IN_FLIGHT) {
		bus_reply(call, bus_error_reply(call, -EBUSY, NULL, NULL));
		return;
	}
	ac = calloc(1, sizeof(*ac));
	query = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS,
			DBUS_INTERFACE_DBUS, "GetConnectionCredentials");
	if (!ac || !query || !dbus_message_append_args(query, DBUS_TYPE_STRING, &sender,
				DBUS_TYPE_INVALID) ||
			!dbus_connection_send_with_reply(access_state.conn, query, &pending,
				CREDENTIALS_TIMEOUT_MS) || !pending) {
		free(ac);
		if (query)
			dbus_message_unref(query);
		bus_reply(call, bus_error_reply(call, -ENOMEM, NULL, NULL));
		return;
	}
	dbus_message_unref(query);
	ac->call = dbus_message_ref(call);
	snprintf(ac->card_id, sizeof(ac->card_id), "%s", card_id);
	ac->method = method;
	ac->pending = pending;
	ac->next = access_state.calls;
	if (ac->next)
		ac->next->prev = ac;
	access_state.calls = ac;
	access_state.n_calls++;
	if (!dbus_pending_call_set_notify(pending, credentials_reply, ac, access_call_free)) {
		dbus_pending_call_cancel(pending);
		bus_reply(call, bus_error_reply(call, -ENOMEM, NULL, NULL));
		access_call_free(ac);
	}
	dbus_pending_call_unref(pending);
}

void bus_access_init(DBusConnection *conn, bool session_bus)
{
	access_state.conn = conn;
	access_state.session_bus = session_bus;
	bus_access_reload();
}

void bus_access_cleanup(void)
{
	/* Cancelling drops the connection's reference and ours finalizes the
	 * pending call, which runs access_call_free (unlinking it). */
	while (access_state.calls) {
		struct access_call *ac = access_state.calls;
		DBusPendingCall *pending = dbus_pending_call_ref(ac->pending);

		dbus_pending_call_cancel(pending);
		dbus_pending_call_unref(pending);
		if (access_state.calls == ac) {
			vitaled_error("D-Bus: a pending credentials query outlived its cancellation");
			break;
		}
	}
	access_state.conn = NULL;
	audit_flush();
}
