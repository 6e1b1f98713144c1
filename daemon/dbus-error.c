/*
 * Every internal failure a D-Bus client can see is mapped here, and only
 * here, to an org.vitaled.Error.* name with a message that says what to
 * do.  Messages name verdicts and states, never personal data.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <dbus/dbus.h>
#include <vitaled/dbus.h>

#include "daemon.h"

struct error_map {
	int err;		/* positive errno */
	const char *name;
	const char *message;
};

static const struct error_map error_map[] = {
	{ EACCES, VITALED_DBUS_ERROR_ACCESS_DENIED,
	  "personal data is only for root and members of the vitaled client group" },
	{ EPERM, VITALED_DBUS_ERROR_ACCESS_DENIED,
	  "personal data is only for root and members of the vitaled client group" },
	{ ENODATA, VITALED_DBUS_ERROR_NOT_VERIFIED,
	  "this read was not verified: no data is released for it" },
	{ EINPROGRESS, VITALED_DBUS_ERROR_IN_PROGRESS,
	  "the card is still being read: wait for its State property to be \"done\"" },
	{ ESTALE, VITALED_DBUS_ERROR_GONE,
	  "the card was removed, released or timed out: its data has been wiped" },
	{ EINVAL, VITALED_DBUS_ERROR_INVALID_ARGUMENTS,
	  "invalid argument" },
	{ EOPNOTSUPP, VITALED_DBUS_ERROR_NOT_SUPPORTED,
	  "only phone reads are released: a physical card's data lives until it is pulled" },
	{ EBUSY, VITALED_DBUS_ERROR_BUSY,
	  "too many requests in flight: try again" },
	{ ENOMEM, DBUS_ERROR_NO_MEMORY,
	  "out of memory" },
	/* trust bundles (trust-install.c): the reply's text says which check failed */
	{ EBADMSG, VITALED_DBUS_ERROR_TRUST_BUNDLE_INVALID,
	  "not a valid trust bundle: the trust material in force stays" },
	{ EKEYREJECTED, VITALED_DBUS_ERROR_TRUST_SIGNATURE_INVALID,
	  "the bundle's signature or signer is not accepted: the trust material in force stays" },
	{ EKEYEXPIRED, VITALED_DBUS_ERROR_TRUST_EXPIRED,
	  "the bundle has expired: the trust material in force stays" },
	{ ETIME, VITALED_DBUS_ERROR_TRUST_NOT_YET_VALID,
	  "the bundle is issued in the future: check the clock" },
	{ ERANGE, VITALED_DBUS_ERROR_TRUST_ROLLBACK,
	  "the bundle is older than the installed one: rollback refused" },
	{ ENOSPC, VITALED_DBUS_ERROR_TRUST_STORAGE,
	  "the state directory is full: the trust material in force stays" },
	{ EROFS, VITALED_DBUS_ERROR_TRUST_STORAGE,
	  "the state directory is read-only: the trust material in force stays" },
};

/*
 * What a data method may do with a card right now: 0 when its record may
 * be released (verified, or a legacy identity marked unverifiable), else
 * the errno that bus_error_reply() turns into the client's error.
 */
int bus_card_data_status(const struct vitaled_card *card)
{
	const struct vd_read_result *r;

	if (!card)
		return -ESTALE;
	if (card->state != CARD_STATE_DONE || !card->result)
		return -EINPROGRESS;
	r = card->result;
	if (!r->has_record)
		return -ENODATA;
	/* has_record is only ever set for these two; refuse anything else. */
	if (r->verdict.status != VD_STATUS_VERIFIED &&
			r->verdict.status != VD_STATUS_UNVERIFIABLE)
		return -ENODATA;
	return 0;
}

const char *bus_error_name(int err)
{
	size_t i;

	for (i = 0; i < sizeof(error_map) / sizeof(error_map[0]); i++)
		if (error_map[i].err == -err)
			return error_map[i].name;
	return VITALED_DBUS_ERROR_FAILED;
}

/*
 * The error reply for a call that failed with err (negative errno).
 * detail, when not NULL, replaces the generic message; for NotVerified
 * the card's verdict and its reason are given (they carry no personal
 * data by contract: struct vd_verdict).
 */
DBusMessage *bus_error_reply(DBusMessage *call, int err, const struct vitaled_card *card,
		const char *detail)
{
	char text[256];
	const char *message = NULL;
	size_t i;

	for (i = 0; i < sizeof(error_map) / sizeof(error_map[0]); i++)
		if (error_map[i].err == -err)
			message = error_map[i].message;
	if (detail) {
		message = detail;
	} else if (err == -ENODATA && card && card->result &&
			dbus_validate_utf8(card->result->verdict.reason, NULL)) {
		snprintf(text, sizeof(text), "the card's verdict is \"%s\" (%s): no data is released",
				vd_status_name(card->result->verdict.status),
				card->result->verdict.reason);
		message = text;
	} else if (!message) {
		snprintf(text, sizeof(text), "internal error: %s", strerror(-err));
		message = text;
	}
	return dbus_message_new_error(call, bus_error_name(err), message);
}
