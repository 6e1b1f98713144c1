/*
 * Business rules on dates: which AMO rights, coverages (ALD/exemptions)
 * and C2S periods are in force on a given day.
 */
#include <string.h>

#include "vitaled-core.h"

int vd_date_compare(const struct vd_date *a, const struct vd_date *b)
{
	if (a->year != b->year)
		return a->year < b->year ? -1 : 1;
	if (a->month != b->month)
		return a->month < b->month ? -1 : 1;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	return 0;
}

struct vd_date vd_date_from_time(time_t t)
{
	struct vd_date d = { 0 };
	struct tm tm;

	if (gmtime_r(&t, &tm)) {
		d.year = tm.tm_year + 1900;
		d.month = tm.tm_mon + 1;
		d.day = tm.tm_mday;
	}
	return d;
}

static bool open_ended(const struct vd_period *p)
{
	return p->end.year == 0;
}

static bool in_force(const struct vd_period *p, const struct vd_date *date)
{
	if (p->start.year == 0 || vd_date_compare(&p->start, date) > 0)
		return false;
	return open_ended(p) || vd_date_compare(date, &p->end) <= 0;
}

static struct vd_date next_day(struct vd_date d)
{
	static const uint8_t days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0;
	unsigned int last = d.month >= 1 && d.month <= 12 ? days[d.month - 1] : 31;

	if (d.month == 2 && leap)
		last = 29;
	if (++d.day > last) {
		d.day = 1;
		if (++d.month > 12) {
			d.month = 1;
			d.year++;
		}
	}
	return d;
}

/*
 * Rights are open until the end of the period in force, extended by any
 * period that starts on or before the day after it (back-to-back periods
 * are one span for the practitioner).  Bounded: each pass either extends
 * the end or stops, and there are at most VD_MAX_PERIODS periods.
 */
static void rights_until(const struct vd_beneficiary *b, const struct vd_date *date,
		bool *open, struct vd_date *until)
{
	unsigned int i, pass, n = b->n_rights < VD_MAX_PERIODS ? b->n_rights : VD_MAX_PERIODS;

	*open = false;
	memset(until, 0, sizeof(*until));
	for (i = 0; i < n; i++) {
		if (!in_force(&b->rights[i], date))
			continue;
		if (open_ended(&b->rights[i])) {
			*open = true;
			memset(until, 0, sizeof(*until));
			return;
		}
		if (!*open || vd_date_compare(&b->rights[i].end, until) > 0)
			*until = b->rights[i].end;
		*open = true;
	}
	for (pass = 0; *open && pass < n; pass++) {
		struct vd_date after = next_day(*until);
		bool extended = false;

		for (i = 0; i < n; i++) {
			const struct vd_period *p = &b->rights[i];

			if (!in_force(p, &after))
				continue;
			if (open_ended(p)) {
				memset(until, 0, sizeof(*until));
				return;
			}
			if (vd_date_compare(&p->end, until) > 0) {
				*until = p->end;
				extended = true;
			}
		}
		if (!extended)
			break;
	}
}

void vd_rights_on(const struct vd_beneficiary *beneficiary,
		const struct vd_date *date, struct vd_rights_status *out)
{
	unsigned int i, n;

	memset(out, 0, sizeof(*out));
	rights_until(beneficiary, date, &out->amo_open, &out->amo_until);

	n = beneficiary->n_c2s < VD_MAX_PERIODS ? beneficiary->n_c2s : VD_MAX_PERIODS;
	for (i = 0; i < n; i++)
		if (in_force(&beneficiary->c2s[i], date))
			out->c2s = true;

	n = beneficiary->n_coverage < VD_MAX_PERIODS ? beneficiary->n_coverage : VD_MAX_PERIODS;
	for (i = 0; i < n; i++)
		if (in_force(&beneficiary->coverage[i].period, date))
			out->coverage[out->n_coverage++] = &beneficiary->coverage[i];
}
