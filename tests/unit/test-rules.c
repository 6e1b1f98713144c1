/* Business rules: NIR key (2A/2B) and rights on a date (lib/nir.c, lib/rights.c). */
#include <errno.h>
#include <string.h>

#include "vitaled-core.h"
#include "tap.h"

static void test_nir(void)
{
	tap_is(vd_nir_check("253072B07300470"), 0, "2B example from the notes");
	tap_is(vd_nir_check("180037505612310"), 0, "plain NIR");
	tap_is(vd_nir_check("253072A07300443"), 0, "2A with its own key");
	tap_is(vd_nir_check("253072A07300470"), -EINVAL, "2A with the 2B key");
	tap_is(vd_nir_check("253072B07300443"), -EINVAL, "2B with the 2A key");
	tap_is(vd_nir_check("253072B07300471"), -EINVAL, "wrong key");
	tap_is(vd_nir_check("180037505612311"), -EINVAL, "wrong key, plain");
	tap_is(vd_nir_check("253072b07300470"), -EINVAL, "lower-case b");
	tap_is(vd_nir_check("25307AB07300470"), -EINVAL, "letter outside the department");
	tap_is(vd_nir_check("253072C07300470"), -EINVAL, "2C is no department");
	tap_is(vd_nir_check("1800375056123 0"), -EINVAL, "space");
	tap_is(vd_nir_check("18003750561231"), -EINVAL, "14 characters");
	tap_is(vd_nir_check("1800375056123100"), -EINVAL, "16 characters");
	tap_is(vd_nir_check("18003750561231A"), -EINVAL, "letter in the key");
	tap_is(vd_nir_check(""), -EINVAL, "empty");
	tap_is(vd_nir_check(NULL), -EINVAL, "NULL");
}

static struct vd_date d(unsigned int y, unsigned int m, unsigned int dd)
{
	struct vd_date r = { y, m, dd };

	return r;
}

static struct vd_period p(struct vd_date s, struct vd_date e)
{
	struct vd_period r = { s, e };

	return r;
}

static void test_rights(void)
{
	struct vd_beneficiary b;
	struct vd_rights_status rs;
	struct vd_date day;

	memset(&b, 0, sizeof(b));
	day = d(2026, 6, 1);
	vd_rights_on(&b, &day, &rs);
	tap_ok(!rs.amo_open && !rs.c2s && rs.n_coverage == 0, "no periods: nothing open");

	b.n_rights = 1;
	b.rights[0] = p(d(2024, 1, 1), d(2026, 12, 31));
	vd_rights_on(&b, &day, &rs);
	tap_ok(rs.amo_open && !vd_date_compare(&rs.amo_until, &(struct vd_date){ 2026, 12, 31 }),
			"open until the end of the period");
	day = d(2027, 1, 1);
	vd_rights_on(&b, &day, &rs);
	tap_ok(!rs.amo_open, "closed the day after");
	day = d(2023, 12, 31);
	vd_rights_on(&b, &day, &rs);
	tap_ok(!rs.amo_open, "closed the day before");
	day = d(2024, 1, 1);
	vd_rights_on(&b, &day, &rs);
	tap_ok(rs.amo_open, "open on the first day");

	/* back-to-back periods make one span, in any order */
	b.n_rights = 3;
	b.rights[0] = p(d(2028, 1, 1), d(2028, 12, 31));
	b.rights[1] = p(d(2024, 1, 1), d(2026, 12, 31));
	b.rights[2] = p(d(2027, 1, 1), d(2027, 12, 31));
	day = d(2026, 6, 1);
	vd_rights_on(&b, &day, &rs);
	tap_ok(rs.amo_open && rs.amo_until.year == 2028 && rs.amo_until.month == 12,
			"chained periods: open until 2028-12-31");
	b.rights[2] = p(d(2027, 1, 2), d(2027, 12, 31));
	vd_rights_on(&b, &day, &rs);
	tap_ok(rs.amo_open && rs.amo_until.year == 2026, "a one-day gap stops the span");
	b.rights[2] = p(d(2027, 1, 1), d(0, 0, 0));
	vd_rights_on(&b, &day, &rs);
	tap_ok(rs.amo_open && rs.amo_until.year == 0, "an open-ended next period: no end");
	/* leap day chaining */
	b.n_rights = 2;
	b.rights[0] = p(d(2028, 1, 1), d(2028, 2, 28));
	b.rights[1] = p(d(2028, 2, 29), d(2028, 6, 30));
	day = d(2028, 2, 1);
	vd_rights_on(&b, &day, &rs);
	tap_ok(rs.amo_open && rs.amo_until.month == 6, "2028-02-28 runs into 2028-02-29");

	b.n_c2s = 1;
	b.c2s[0] = p(d(2026, 1, 1), d(2026, 6, 30));
	b.n_coverage = 2;
	b.coverage[0].period = p(d(2025, 6, 1), d(0, 0, 0));
	strcpy(b.coverage[0].situation, "ALD");
	b.coverage[1].period = p(d(2020, 1, 1), d(2021, 1, 1));
	day = d(2026, 6, 30);
	vd_rights_on(&b, &day, &rs);
	tap_ok(rs.c2s, "C2S in force on its last day");
	tap_ok(rs.n_coverage == 1 && rs.coverage[0] == &b.coverage[0],
			"only the coverage in force is listed");
	day = d(2026, 7, 1);
	vd_rights_on(&b, &day, &rs);
	tap_ok(!rs.c2s, "C2S over the day after");

	/* out-of-range counts from a damaged record are clamped */
	b.n_rights = 1000;
	vd_rights_on(&b, &day, &rs);
	tap_ok(!rs.amo_open, "n_rights beyond the array: clamped, nothing open that day");
}

static void test_dates(void)
{
	struct vd_date a = vd_date_from_time(1780272000);	/* 2026-06-01T00:00:00Z */
	struct vd_date b = vd_date_from_time(1780271999);

	tap_ok(a.year == 2026 && a.month == 6 && a.day == 1, "date from time (UTC)");
	tap_ok(b.month == 5 && b.day == 31, "one second earlier is the day before");
	tap_ok(vd_date_compare(&b, &a) < 0 && vd_date_compare(&a, &b) > 0 &&
			vd_date_compare(&a, &a) == 0, "date order");
}

static void test_results(void)
{
	struct vd_read_result *res = vd_read_result_new();
	unsigned int i, round_trip = 0;
	struct vd_settings st;

	for (i = 0; i < VD_STATUS_COUNT; i++)
		round_trip += vd_status_from_name(vd_status_name(i)) == (int)i;
	tap_is(round_trip, VD_STATUS_COUNT, "every status name round-trips");
	tap_ok(!strcmp(vd_status_name(VD_STATUS_NOT_YET_VALID), "not-yet-valid") &&
			!strcmp(vd_status_name(VD_STATUS_CLONE_SUSPECTED), "clone-suspected"),
			"names as in doc/formats.md");
	tap_is(vd_status_from_name("valid"), -EINVAL, "unknown name");
	tap_is(vd_status_from_name(NULL), -EINVAL, "no name");
	tap_ok(!strcmp(vd_status_name(VD_STATUS_COUNT), "unknown"), "out of range status");

	tap_ok(res && res->verdict.status != VD_STATUS_VERIFIED && !res->has_record,
			"a new result is not verified (%s)", res ? res->verdict.reason : "");
	strcpy(res->record.beneficiaries[0].nir, "253072B07300470");
	res->has_record = true;
	vd_read_result_drop_record(res);
	tap_ok(!res->has_record && !res->record.beneficiaries[0].nir[0], "drop_record wipes");
	vd_verdict_set(&res->verdict, VD_STATUS_FORGED, "DG%u %s", 2, "changed");
	tap_ok(res->verdict.status == VD_STATUS_FORGED && !strcmp(res->verdict.reason, "DG2 changed"),
			"verdict with a formatted reason");
	vd_read_result_free(res);
	vd_read_result_free(NULL);

	tap_ok(!strcmp(vd_form_factor_name(VD_FORM_PHONE_NFC), "phone-nfc") &&
			!strcmp(vd_form_factor_name(VD_FORM_LEGACY_CARD), "legacy-card") &&
			!strcmp(vd_marker_name(VD_MARKER_DEMO), "demo"), "form factor and marker names");
	vd_settings_default(&st);
	tap_ok(!st.allow_test_cards && st.token_max_age == 120 && st.token_max_inflated == 65536,
			"defaults: test cards refused, 120 s presentations, 64 KiB inflate cap");
}

int main(void)
{
	test_results();
	test_nir();
	test_rights();
	test_dates();
	return tap_done();
}
