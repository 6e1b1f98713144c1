/*
 * daemon/dbus-data.c and daemon/dbus-error.c: dates, the beneficiary and
 * affiliation dictionaries read back from a real libdbus message, and the
 * refusals (what is released for which verdict).
 */
#include <errno.h>
#include <string.h>

#include <dbus/dbus.h>
#include <vitaled/dbus.h>

#include "daemon.h"
#include "tap.h"

static struct vd_date date(unsigned int y, unsigned int m, unsigned int d)
{
	struct vd_date r = { (uint16_t)y, (uint8_t)m, (uint8_t)d };

	return r;
}

static void test_dates(void)
{
	static const char *const bad[] = {
		"2023-02-29", "2024-13-01", "2024-00-10", "2024-04-31", "1899-12-31",
		"2024-1-01", "2024/01/01", "2024-01-01 ", "20240101", "tomorrow",
	};
	struct vd_date d;
	size_t i;

	tap_ok(bus_data_parse_date("2024-02-29", &d) == 0 && d.year == 2024 && d.month == 2 &&
	       d.day == 29, "2024-02-29 is a date (leap year)");
	tap_ok(bus_data_parse_date("", &d) == 0 && d.year >= 2024 && d.month >= 1 && d.day >= 1,
	       "\"\" is today");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		tap_is(bus_data_parse_date(bad[i], &d), -EINVAL, "\"%s\" is refused", bad[i]);
}

/* The variant of key in the a{sv} at iter (which is left untouched). */
static bool find(DBusMessageIter *dict, const char *key, DBusMessageIter *value)
{
	DBusMessageIter it = *dict, entry;

	if (dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_ARRAY)
		return false;
	dbus_message_iter_recurse(&it, &it);
	while (dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_DICT_ENTRY) {
		const char *k;

		dbus_message_iter_recurse(&it, &entry);
		dbus_message_iter_get_basic(&entry, &k);
		if (!strcmp(k, key)) {
			dbus_message_iter_next(&entry);
			dbus_message_iter_recurse(&entry, value);
			return true;
		}
		dbus_message_iter_next(&it);
	}
	return false;
}

static const char *str(DBusMessageIter *dict, const char *key)
{
	DBusMessageIter v;
	const char *s = NULL;

	if (find(dict, key, &v) && dbus_message_iter_get_arg_type(&v) == DBUS_TYPE_STRING)
		dbus_message_iter_get_basic(&v, &s);
	return s ? s : "(missing)";
}

static int boolean(DBusMessageIter *dict, const char *key)
{
	DBusMessageIter v;
	dbus_bool_t b;

	if (!find(dict, key, &v) || dbus_message_iter_get_arg_type(&v) != DBUS_TYPE_BOOLEAN)
		return -1;
	dbus_message_iter_get_basic(&v, &b);
	return b;
}

/* Element n of the aa{sv} under key, as an a{sv} iterator. */
static bool item(DBusMessageIter *dict, const char *key, int n, DBusMessageIter *out)
{
	DBusMessageIter v;

	if (!find(dict, key, &v) || dbus_message_iter_get_arg_type(&v) != DBUS_TYPE_ARRAY)
		return false;
	dbus_message_iter_recurse(&v, out);
	while (n-- > 0)
		if (!dbus_message_iter_next(out))
			return false;
	return dbus_message_iter_get_arg_type(out) == DBUS_TYPE_ARRAY;
}

static struct vd_read_result *family(void)
{
	struct vd_read_result *r = vd_read_result_new();
	struct vd_record *rec = &r->record;
	struct vd_beneficiary *b;

	vd_verdict_set(&r->verdict, VD_STATUS_VERIFIED, "test");
	r->has_record = true;
	rec->form = VD_FORM_CARD;
	rec->version = 1;
	strcpy(rec->card_serial, "SER1");
	strcpy(rec->regime, "01");
	strcpy(rec->caisse, "751");
	strcpy(rec->centre, "0751");
	rec->validity.start = date(2024, 1, 1);
	rec->n_beneficiaries = 2;
	b = &rec->beneficiaries[0];
	strcpy(b->usual_name, "DURAND");
	strcpy(b->first_name, "Zoé");
	b->birth_date = date(1962, 7, 0);	/* lunar */
	b->birth_rank = 2;
	strcpy(b->qualite, "00");
	strcpy(b->nir, "253072B07300470");
	b->nir_key_valid = true;
	b->n_rights = 1;
	b->rights[0].start = date(2020, 1, 1);
	b->rights[0].end = date(2024, 12, 31);
	b->n_coverage = 1;
	b->coverage[0].period.start = date(2024, 6, 1);
	strcpy(b->coverage[0].exemption, "4");
	b->n_amc = 1;
	strcpy(b->amc[0].organisation, "99999997");
	b->amc[0].period.start = date(2024, 1, 1);
	b->amc[0].period.end = date(2025, 12, 31);
	b = &rec->beneficiaries[1];
	strcpy(b->usual_name, "DURAND");
	strcpy(b->first_name, "Jules");
	b->birth_date = date(2010, 1, 17);
	strcpy(b->qualite, "06");
	b->n_rights = 1;
	b->rights[0].start = date(2020, 1, 1);	/* open-ended */
	return r;
}

static void test_beneficiaries(void)
{
	struct vd_read_result *r = family();
	struct vd_date on = date(2026, 3, 1);
	DBusMessage *m = dbus_message_new_signal("/t", "t.T", "T");
	DBusMessageIter iter, array, first, second, sub;

	dbus_message_iter_init_append(m, &iter);
	tap_ok(bus_data_beneficiaries(&iter, r, &on), "two beneficiaries serialised");
	tap_ok(dbus_message_has_signature(m, "aa{sv}"), "signature aa{sv}");
	dbus_message_iter_init(m, &iter);
	dbus_message_iter_recurse(&iter, &array);
	first = array;
	dbus_message_iter_next(&array);
	second = array;
	tap_ok(!strcmp(str(&first, "FirstName"), "Zoé") && !strcmp(str(&first, "Nir"),
	       "253072B07300470") && boolean(&first, "NirKeyValid") == 1,
	       "names and NIR (2B) as on the card");
	tap_ok(!strcmp(str(&first, "BirthDate"), "1962-07-00"), "a lunar birth date stays lunar");
	tap_ok(boolean(&first, "AmoOpen") == 0 && !strcmp(str(&first, "AmoUntil"), ""),
	       "rights closed on 2026-03-01 (ended 2024-12-31)");
	tap_ok(boolean(&first, "Verified") == 1 && !strcmp(str(&first, "RightsDate"), "2026-03-01"),
	       "verified, evaluated on the date asked");
	tap_ok(item(&first, "Coverages", 0, &sub) && boolean(&sub, "InForce") == 1 &&
	       !strcmp(str(&sub, "End"), "") && !strcmp(str(&sub, "Exemption"), "4"),
	       "open-ended coverage in force");
	tap_ok(item(&first, "Amc", 0, &sub) && boolean(&sub, "InForce") == 0 &&
	       !strcmp(str(&sub, "End"), "2025-12-31"), "AMC contract over on that date");
	tap_ok(boolean(&second, "AmoOpen") == 1 && !strcmp(str(&second, "AmoUntil"), ""),
	       "open-ended rights: open, no end date");
	dbus_message_unref(m);

	/* Legacy identity: marked unverified. */
	vd_verdict_set(&r->verdict, VD_STATUS_UNVERIFIABLE, "legacy");
	m = dbus_message_new_signal("/t", "t.T", "T");
	dbus_message_iter_init_append(m, &iter);
	bus_data_beneficiaries(&iter, r, &on);
	dbus_message_iter_init(m, &iter);
	dbus_message_iter_recurse(&iter, &array);
	tap_is(boolean(&array, "Verified"), 0, "an unverifiable read says Verified=false");
	dbus_message_unref(m);

	/* Invalid UTF-8 from a card never reaches libdbus (which would abort). */
	vd_verdict_set(&r->verdict, VD_STATUS_VERIFIED, "test");
	strcpy(r->record.beneficiaries[1].first_name, "J\xffles");
	m = dbus_message_new_signal("/t", "t.T", "T");
	dbus_message_iter_init_append(m, &iter);
	tap_ok(!bus_data_beneficiaries(&iter, r, &on), "invalid UTF-8: refused, no abort");
	dbus_message_unref(m);

	m = dbus_message_new_signal("/t", "t.T", "T");
	dbus_message_iter_init_append(m, &iter);
	tap_ok(bus_data_affiliation(&iter, r) && dbus_message_has_signature(m, "a{sv}"),
	       "affiliation serialised as a{sv}");
	dbus_message_iter_init(m, &iter);
	tap_ok(!strcmp(str(&iter, "Caisse"), "751") && !strcmp(str(&iter, "ValidFrom"), "2024-01-01")
	       && !strcmp(str(&iter, "ValidUntil"), "") && !strcmp(str(&iter, "Marker"), "production"),
	       "affiliation fields");
	dbus_message_unref(m);
	vd_read_result_free(r);
}

static void test_release_rules(void)
{
	struct vitaled_card card;
	struct vd_read_result *r = family();
	static const enum vd_status refused[] = {
		VD_STATUS_FORGED, VD_STATUS_UNTRUSTED, VD_STATUS_EXPIRED, VD_STATUS_REVOKED,
		VD_STATUS_CLONE_SUSPECTED, VD_STATUS_OPPOSED, VD_STATUS_TEST_CARD,
		VD_STATUS_MALFORMED, VD_STATUS_REPLAYED, VD_STATUS_READ_FAILED,
	};
	size_t i;

	memset(&card, 0, sizeof(card));
	tap_is(bus_card_data_status(NULL), -ESTALE, "no card: Gone");
	card.state = CARD_STATE_READING;
	tap_is(bus_card_data_status(&card), -EINPROGRESS, "still reading: InProgress");
	card.state = CARD_STATE_DONE;
	card.result = r;
	tap_is(bus_card_data_status(&card), 0, "verified with a record: released");
	vd_verdict_set(&r->verdict, VD_STATUS_UNVERIFIABLE, "legacy");
	tap_is(bus_card_data_status(&card), 0, "legacy identity: released (marked)");
	/* Even if a record were left behind by mistake, only these two pass. */
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		vd_verdict_set(&r->verdict, refused[i], "x");
		tap_is(bus_card_data_status(&card), -ENODATA, "%s: NotVerified",
		       vd_status_name(refused[i]));
	}
	r->has_record = false;
	vd_verdict_set(&r->verdict, VD_STATUS_VERIFIED, "x");
	tap_is(bus_card_data_status(&card), -ENODATA, "verified without a record: NotVerified");
	tap_ok(!strcmp(bus_error_name(-EACCES), VITALED_DBUS_ERROR_ACCESS_DENIED) &&
	       !strcmp(bus_error_name(-ENODATA), VITALED_DBUS_ERROR_NOT_VERIFIED) &&
	       !strcmp(bus_error_name(-EXDEV), VITALED_DBUS_ERROR_FAILED),
	       "error names mapped in one place (unknown errno: Failed)");
	vd_read_result_free(r);
}

int main(void)
{
	test_dates();
	test_beneficiaries();
	test_release_rules();
	return tap_done();
}
