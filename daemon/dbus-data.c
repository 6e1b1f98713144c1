/*
 * Personal data as D-Bus method replies (doc/dbus-api.md): a beneficiary
 * per a{sv} dictionary, the affiliation as one a{sv}.  Only dbus-access.c
 * calls this, after the caller was authorised and the read found fit to
 * release.  Dates are "YYYY-MM-DD" text; "" means none / open-ended.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <dbus/dbus.h>

#include "daemon.h"

static bool is_leap(unsigned int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned int days_in_month(unsigned int y, unsigned int m)
{
	static const unsigned char days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* "" is today (local time: the practice's calendar day), else YYYY-MM-DD. */
int bus_data_parse_date(const char *text, struct vd_date *out)
{
	unsigned int y, m, d, i;

	if (!text[0]) {
		time_t now = time(NULL);
		struct tm tm;

		if (!localtime_r(&now, &tm))
			return -EINVAL;
		out->year = (uint16_t)(tm.tm_year + 1900);
		out->month = (uint8_t)(tm.tm_mon + 1);
		out->day = (uint8_t)tm.tm_mday;
		return 0;
	}
	if (strlen(text) != 10 || text[4] != '-' || text[7] != '-')
		return -EINVAL;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
			return -EINVAL;
	y = (unsigned int)((text[0] - '0') * 1000 + (text[1] - '0') * 100 +
			(text[2] - '0') * 10 + (text[3] - '0'));
	m = (unsigned int)((text[5] - '0') * 10 + (text[6] - '0'));
	d = (unsigned int)((text[8] - '0') * 10 + (text[9] - '0'));
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -EINVAL;
	out->year = (uint16_t)y;
	out->month = (uint8_t)m;
	out->day = (uint8_t)d;
	return 0;
}

/* Birth dates may be "lunar" (month or day 00): printed as they are. */
static void format_date(const struct vd_date *date, char buf[11])
{
	if (!date->year) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, 11, "%04u-%02u-%02u", date->year % 10000u, date->month % 100u,
			date->day % 100u);
}

static bool in_period(const struct vd_period *p, const struct vd_date *date)
{
	if (vd_date_compare(date, &p->start) < 0)
		return false;
	return !p->end.year || vd_date_compare(date, &p->end) <= 0;
}

/* ---- a{sv} building blocks ------------------------------------------- */

static bool entry_open(DBusMessageIter *dict, const char *key, const char *sig,
		DBusMessageIter *entry, DBusMessageIter *variant)
{
	if (!dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, entry))
		return false;
	if (!dbus_message_iter_append_basic(entry, DBUS_TYPE_STRING, &key) ||
			!dbus_message_iter_open_container(entry, DBUS_TYPE_VARIANT, sig, variant)) {
		dbus_message_iter_abandon_container(dict, entry);
		return false;
	}
	return true;
}

static bool entry_close(DBusMessageIter *dict, DBusMessageIter *entry, DBusMessageIter *variant)
{
	if (!dbus_message_iter_close_container(entry, variant)) {
		dbus_message_iter_abandon_container(dict, entry);
		return false;
	}
	return dbus_message_iter_close_container(dict, entry);
}

static bool put_basic(DBusMessageIter *dict, const char *key, int type, const void *value)
{
	DBusMessageIter entry, variant;
	char sig[2] = { (char)type, '\0' };

	if (!entry_open(dict, key, sig, &entry, &variant))
		return false;
	if (!dbus_message_iter_append_basic(&variant, type, value)) {
		dbus_message_iter_abandon_container(&entry, &variant);
		dbus_message_iter_abandon_container(dict, &entry);
		return false;
	}
	return entry_close(dict, &entry, &variant);
}

/* libdbus aborts on invalid UTF-8: the parsers promise it, check anyway. */
static bool put_string(DBusMessageIter *dict, const char *key, const char *value)
{
	if (!dbus_validate_utf8(value, NULL)) {
		vitaled_error("D-Bus: record field %s is not valid UTF-8: reply refused", key);
		return false;
	}
	return put_basic(dict, key, DBUS_TYPE_STRING, &value);
}

static bool put_bool(DBusMessageIter *dict, const char *key, bool value)
{
	dbus_bool_t b = value;

	return put_basic(dict, key, DBUS_TYPE_BOOLEAN, &b);
}

static bool put_date(DBusMessageIter *dict, const char *key, const struct vd_date *date)
{
	char buf[11];
	bool ok;

	format_date(date, buf);
	ok = put_string(dict, key, buf);
	explicit_bzero(buf, sizeof(buf));
	return ok;
}

static bool put_period(DBusMessageIter *dict, const struct vd_period *p,
		const struct vd_date *date)
{
	return put_date(dict, "Start", &p->start) && put_date(dict, "End", &p->end) &&
		put_bool(dict, "InForce", in_period(p, date));
}

/*
 * key: aa{sv}, one dictionary per item, filled by func (which appends
 * the item's entries to the dictionary it is given).
 */
typedef bool (*item_func)(DBusMessageIter *dict, const void *item, const struct vd_date *date);

static bool put_list(DBusMessageIter *dict, const char *key, const void *items, size_t size,
		unsigned int n, item_func func, const struct vd_date *date)
{
	DBusMessageIter entry, variant, array, item;
	unsigned int i;

	if (!entry_open(dict, key, "aa{sv}", &entry, &variant))
		return false;
	if (!dbus_message_iter_open_container(&variant, DBUS_TYPE_ARRAY, "a{sv}", &array))
		goto fail_variant;
	for (i = 0; i < n; i++) {
		if (!dbus_message_iter_open_container(&array, DBUS_TYPE_ARRAY, "{sv}", &item))
			goto fail_array;
		if (!func(&item, (const char *)items + i * size, date)) {
			dbus_message_iter_abandon_container(&array, &item);
			goto fail_array;
		}
		if (!dbus_message_iter_close_container(&array, &item))
			goto fail_array;
	}
	if (!dbus_message_iter_close_container(&variant, &array))
		goto fail_variant;
	return entry_close(dict, &entry, &variant);

fail_array:
	dbus_message_iter_abandon_container(&variant, &array);
fail_variant:
	dbus_message_iter_abandon_container(&entry, &variant);
	dbus_message_iter_abandon_container(dict, &entry);
	return false;
}

/* ---- items ----------------------------------------------------------- */

static bool put_rights_period(DBusMessageIter *dict, const void *item, const struct vd_date *date)
{
	return put_period(dict, item, date);
}

static bool put_coverage(DBusMessageIter *dict, const void *item, const struct vd_date *date)
{
	const struct vd_coverage *c = item;

	return put_period(dict, &c->period, date) &&
		put_string(dict, "Exemption", c->exemption) &&
		put_string(dict, "Situation", c->situation);
}

static bool put_amc(DBusMessageIter *dict, const void *item, const struct vd_date *date)
{
	const struct vd_amc *a = item;

	return put_period(dict, &a->period, date) &&
		put_string(dict, "Organisation", a->organisation) &&
		put_string(dict, "Member", a->member) &&
		put_string(dict, "Guarantee", a->guarantee) &&
		put_string(dict, "Routing", a->routing);
}

static bool put_beneficiary(DBusMessageIter *dict, const struct vd_beneficiary *b,
		const struct vd_date *date, bool verified)
{
	struct vd_rights_status rights;
	char on[11];
	bool ok;

	vd_rights_on(b, date, &rights);
	format_date(date, on);
	ok = put_bool(dict, "Verified", verified) &&
		put_string(dict, "UsualName", b->usual_name) &&
		put_string(dict, "BirthName", b->birth_name) &&
		put_string(dict, "FirstName", b->first_name) &&
		put_date(dict, "BirthDate", &b->birth_date) &&
		put_basic(dict, "BirthRank", DBUS_TYPE_BYTE, &b->birth_rank) &&
		put_string(dict, "Qualite", b->qualite) &&
		put_string(dict, "Nir", b->nir) &&
		put_bool(dict, "NirKeyValid", b->nir[0] && b->nir_key_valid) &&
		put_string(dict, "RightsDate", on) &&
		put_bool(dict, "AmoOpen", rights.amo_open) &&
		put_date(dict, "AmoUntil", &rights.amo_until) &&
		put_bool(dict, "C2S", rights.c2s) &&
		put_list(dict, "Rights", b->rights, sizeof(b->rights[0]),
			 b->n_rights, put_rights_period, date) &&
		put_list(dict, "Coverages", b->coverage, sizeof(b->coverage[0]),
			 b->n_coverage, put_coverage, date) &&
		put_list(dict, "C2SPeriods", b->c2s, sizeof(b->c2s[0]),
			 b->n_c2s, put_rights_period, date) &&
		put_list(dict, "Amc", b->amc, sizeof(b->amc[0]), b->n_amc, put_amc, date);
	explicit_bzero(&rights, sizeof(rights));
	return ok;
}

/* ---- replies ---------------------------------------------------------- */

/* aa{sv}: every beneficiary, rights evaluated on date. */
bool bus_data_beneficiaries(DBusMessageIter *iter, const struct vd_read_result *result,
		const struct vd_date *date)
{
	const struct vd_record *rec = &result->record;
	bool verified = result->verdict.status == VD_STATUS_VERIFIED;
	DBusMessageIter array, dict;
	unsigned int i, n = rec->n_beneficiaries;

	if (n > VD_MAX_BENEFICIARIES)
		n = VD_MAX_BENEFICIARIES;
	if (!dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "a{sv}", &array))
		return false;
	for (i = 0; i < n; i++) {
		if (!dbus_message_iter_open_container(&array, DBUS_TYPE_ARRAY, "{sv}", &dict))
			goto fail;
		if (!put_beneficiary(&dict, &rec->beneficiaries[i], date, verified)) {
			dbus_message_iter_abandon_container(&array, &dict);
			goto fail;
		}
		if (!dbus_message_iter_close_container(&array, &dict))
			goto fail;
	}
	return dbus_message_iter_close_container(iter, &array);
fail:
	dbus_message_iter_abandon_container(iter, &array);
	return false;
}

/* a{sv}: the card and the insured person's scheme membership. */
bool bus_data_affiliation(DBusMessageIter *iter, const struct vd_read_result *result)
{
	const struct vd_record *rec = &result->record;
	DBusMessageIter dict;

	if (!dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "{sv}", &dict))
		return false;
	if (!put_bool(&dict, "Verified", result->verdict.status == VD_STATUS_VERIFIED) ||
			!put_string(&dict, "FormFactor", vd_form_factor_name(rec->form)) ||
			!put_basic(&dict, "FormatVersion", DBUS_TYPE_BYTE, &rec->version) ||
			!put_string(&dict, "CardSerial", rec->card_serial) ||
			!put_string(&dict, "Issuer", rec->issuer) ||
			!put_string(&dict, "Regime", rec->regime) ||
			!put_string(&dict, "Caisse", rec->caisse) ||
			!put_string(&dict, "Centre", rec->centre) ||
			!put_string(&dict, "CodeGestion", rec->code_gestion) ||
			!put_date(&dict, "ValidFrom", &rec->validity.start) ||
			!put_date(&dict, "ValidUntil", &rec->validity.end) ||
			!put_string(&dict, "Marker", vd_marker_name(rec->marker))) {
		dbus_message_iter_abandon_container(iter, &dict);
		return false;
	}
	return dbus_message_iter_close_container(iter, &dict);
}
