/*
 * Data groups (doc/formats.md) → struct vd_record.  Shared by chips and
 * QR tokens: the same bytes, the same rules.
 *
 * Each template is described by a table of its primitive fields; nested
 * templates go through a child function.  Nesting follows the format's
 * fixed shape, never the input's, so nothing recurses on attacker depth.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "internal.h"

#define DG1_VERSION	0x01
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

enum field_type {
	F_U8,		/* one byte, 0..max, into a uint8_t */
	F_INDEX,	/* beneficiary index 0..11, into the parse state */
	F_MARKER,	/* DG1 marker byte, into the parse state */
	F_FORM,		/* DG1 form factor byte, into the parse state */
	F_ASCII,	/* printable ASCII, min..max bytes */
	F_UTF8,		/* UTF-8 without NUL, min..max bytes */
	F_DIGITS,	/* ASCII digits, min..max */
	F_NIR,		/* 13 characters (2A/2B allowed) + 2-digit key */
	F_DATE,		/* YYYYMMDD, a real day */
	F_BIRTH_DATE,	/* YYYYMMDD, month or day may be 00 */
};

struct field {
	uint8_t tag;
	enum field_type type;
	uint8_t min, max;
	bool optional;
	size_t offset;	/* in the destination structure */
	size_t size;	/* of the destination */
};

#define FIELD(t, ty, mn, mx, opt, st, m) \
	{ t, ty, mn, mx, opt, offsetof(st, m), sizeof(((st *)0)->m) }
#define STATE(t, ty, mx) { t, ty, 0, mx, false, 0, 0 }

struct parse_state {
	const char *where;	/* template name, for reasons */
	int index;		/* F_INDEX, -1 until seen */
	int marker;
	int form;
	bool lenient;		/* legacy cards: skip what we do not know */
	struct vd_verdict *why;
};

typedef int (*child_func)(const struct vd_tlv *child, void *data, struct parse_state *st);

static int malformed(struct parse_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int malformed(struct parse_state *st, const char *fmt, ...)
{
	char what[120];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	vd_verdict_set(st->why, VD_STATUS_MALFORMED, "%s: %s", st->where, what);
	return -EBADMSG;
}

static bool utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		unsigned int n, j;
		uint32_t cp;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (j = 1; j <= n; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
				(cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += n + 1;
	}
	return true;
}

static bool all_in(const uint8_t *s, size_t len, uint8_t lo, uint8_t hi)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < lo || s[i] > hi)
			return false;
	return true;
}

/* The shape of a NIR; its key is checked apart (a wrong key is reported,
 * not malformed). */
static bool nir_shape(const uint8_t *s, size_t len)
{
	if (len != 15)
		return false;
	if (s[5] == '2' && (s[6] == 'A' || s[6] == 'B'))
		return all_in(s, 6, '0', '9') && all_in(s + 7, 8, '0', '9');
	return all_in(s, len, '0', '9');
}

static unsigned int num(const uint8_t *s, size_t len)
{
	unsigned int v = 0;

	while (len--)
		v = v * 10 + (*s++ - '0');
	return v;
}

static bool parse_date(const uint8_t *s, size_t len, bool birth, struct vd_date *out)
{
	static const uint8_t days[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned int y, m, d;

	if (len != 8 || !all_in(s, len, '0', '9'))
		return false;
	y = num(s, 4);
	m = num(s + 4, 2);
	d = num(s + 6, 2);
	if (y == 0 || m > 12 || d > 31)
		return false;
	/* day or month "00" only in birth dates ("lunar" dates) */
	if ((m == 0 || d == 0) && !birth)
		return false;
	if (m && d > days[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	out->year = y;
	out->month = m;
	out->day = d;
	return true;
}

static int store_field(const struct field *f, const struct vd_tlv *t, void *base,
		struct parse_state *st)
{
	uint8_t *dst = NULL;
	const uint8_t *v = t->value;
	size_t len = t->len;
	bool ok = false;

	switch (f->type) {
	case F_U8:
	case F_INDEX:
	case F_MARKER:
	case F_FORM:
		if (len != 1 || v[0] > f->max)
			return malformed(st, "bad value in tag %02X", f->tag);
		if (f->type == F_INDEX)
			st->index = v[0];
		else if (f->type == F_MARKER)
			st->marker = v[0];
		else if (f->type == F_FORM)
			st->form = v[0];
		else
			*((uint8_t *)base + f->offset) = v[0];
		return 0;
	case F_DATE:
	case F_BIRTH_DATE:
		if (!parse_date(v, len, f->type == F_BIRTH_DATE,
					(struct vd_date *)((uint8_t *)base + f->offset)))
			return malformed(st, "bad date in tag %02X", f->tag);
		return 0;
	case F_ASCII:
		ok = all_in(v, len, 0x20, 0x7e);
		break;
	case F_UTF8:
		ok = utf8_valid(v, len);
		break;
	case F_DIGITS:
		ok = all_in(v, len, '0', '9');
		break;
	case F_NIR:
		ok = nir_shape(v, len);
		break;
	}
	if (!ok || len < f->min || len > f->max || len >= f->size)
		return malformed(st, "bad text in tag %02X", f->tag);
	dst = (uint8_t *)base + f->offset;
	memcpy(dst, v, len);
	dst[len] = '\0';
	return 0;
}

/*
 * One template: known primitive fields from the table, constructed
 * children through child(), ignorable extensions skipped, anything else
 * malformed (the extension rule of doc/formats.md).
 */
static int parse_template(const struct vd_tlv *tmpl, const struct field *fields,
		size_t n_fields, void *base, child_func child, void *child_data,
		struct parse_state *st)
{
	uint32_t seen = 0;	/* one bit per field of the table */
	struct vd_tlv_iter it;
	struct vd_tlv t;
	size_t i;
	int r;

	if (!tmpl->constructed)
		return malformed(st, "not a template");
	vd_tlv_iter_init(&it, tmpl->value, tmpl->len);
	while ((r = vd_tlv_next(&it, &t)) == 1) {
		for (i = 0; i < n_fields && fields[i].tag != t.tag; i++)
			;
		if (i < n_fields) {
			if (seen & (1u << i))
				return malformed(st, "duplicate tag %02X", t.tag);
			seen |= 1u << i;
			r = store_field(&fields[i], &t, base, st);
			if (r < 0)
				return r;
			continue;
		}
		if (st->lenient)
			continue;
		if ((t.tag >= 0x90 && t.tag <= 0x9e) || (t.tag >= 0xb0 && t.tag <= 0xbe))
			continue;	/* ignorable extension */
		if (t.tag >= 0xa0 && t.tag <= 0xaf) {
			r = child ? child(&t, child_data, st) : -ENOENT;
			if (r == -ENOENT)
				return malformed(st, "unknown critical tag %02X", t.tag);
			if (r < 0)
				return r;
			continue;
		}
		if (t.tag >= 0x80 && t.tag <= 0x8f)
			return malformed(st, "unknown critical tag %02X", t.tag);
		return malformed(st, "unexpected tag %X", t.tag);
	}
	if (r < 0)
		return malformed(st, "broken TLV structure");
	for (i = 0; i < n_fields; i++)
		if (!fields[i].optional && !(seen & (1u << i)))
			return malformed(st, "missing tag %02X", fields[i].tag);
	return 0;
}

static int check_period(const struct vd_period *p, struct parse_state *st)
{
	if (p->end.year && vd_date_compare(&p->start, &p->end) > 0)
		return malformed(st, "period ends before it starts");
	return 0;
}

/* ---- DG1: card and insured ------------------------------------------- */

static const struct field dg1_fields[] = {
	FIELD(0x80, F_U8, 0, 0xff, false, struct vd_record, version),
	FIELD(0x81, F_ASCII, 1, 20, false, struct vd_record, card_serial),
	FIELD(0x82, F_UTF8, 1, 32, false, struct vd_record, issuer),
	FIELD(0x83, F_DIGITS, 2, 2, false, struct vd_record, regime),
	FIELD(0x84, F_DIGITS, 3, 3, false, struct vd_record, caisse),
	FIELD(0x85, F_DIGITS, 4, 4, false, struct vd_record, centre),
	FIELD(0x86, F_DIGITS, 2, 2, false, struct vd_record, code_gestion),
	FIELD(0x87, F_DATE, 0, 0, false, struct vd_record, validity.start),
	FIELD(0x88, F_DATE, 0, 0, false, struct vd_record, validity.end),
	STATE(0x89, F_MARKER, 2),
	STATE(0x8A, F_FORM, 2),
};

static int parse_dg1(const struct vd_tlv *dg, enum vd_form_factor form,
		struct vd_record *rec, struct parse_state *st)
{
	int want = form == VD_FORM_CARD ? 1 : 2;
	int r;

	st->where = "DG1";
	r = parse_template(dg, dg1_fields, ARRAY_SIZE(dg1_fields), rec, NULL, NULL, st);
	if (r < 0)
		return r;
	if (rec->version != DG1_VERSION)
		return malformed(st, "unsupported format version %u", rec->version);
	if (vd_date_compare(&rec->validity.start, &rec->validity.end) > 0)
		return malformed(st, "card validity ends before it starts");
	/* Card data must not pass for a phone's, or the reverse. */
	if (st->form != want)
		return malformed(st, "form factor %d does not match the medium", st->form);
	rec->marker = (enum vd_marker)st->marker;
	rec->form = form;
	return 0;
}

/* ---- DG2: beneficiaries ---------------------------------------------- */

static const struct field beneficiary_fields[] = {
	STATE(0x80, F_INDEX, VD_MAX_BENEFICIARIES - 1),
	FIELD(0x81, F_UTF8, 1, 64, false, struct vd_beneficiary, usual_name),
	FIELD(0x82, F_UTF8, 0, 64, true, struct vd_beneficiary, birth_name),
	FIELD(0x83, F_UTF8, 1, 64, false, struct vd_beneficiary, first_name),
	FIELD(0x84, F_BIRTH_DATE, 0, 0, false, struct vd_beneficiary, birth_date),
	FIELD(0x85, F_U8, 0, 0xff, true, struct vd_beneficiary, birth_rank),
	FIELD(0x86, F_DIGITS, 2, 2, false, struct vd_beneficiary, qualite),
	FIELD(0x87, F_NIR, 15, 15, true, struct vd_beneficiary, nir),
};

/* Beneficiary index (as in DG3/DG4) → position in the record. */
struct index_map {
	int8_t pos[VD_MAX_BENEFICIARIES];
};

struct dg2_data {
	struct vd_record *rec;
	struct index_map *map;
};

static int dg2_child(const struct vd_tlv *t, void *data, struct parse_state *st)
{
	struct dg2_data *d = data;
	struct vd_beneficiary *b;
	int r;

	if (t->tag != 0xa0)
		return -ENOENT;
	if (d->rec->n_beneficiaries == VD_MAX_BENEFICIARIES)
		return malformed(st, "more than %d beneficiaries", VD_MAX_BENEFICIARIES);
	b = &d->rec->beneficiaries[d->rec->n_beneficiaries];
	st->index = -1;
	r = parse_template(t, beneficiary_fields, ARRAY_SIZE(beneficiary_fields), b,
			NULL, NULL, st);
	if (r < 0)
		return r;
	if (d->map->pos[st->index] >= 0)
		return malformed(st, "beneficiary index %d used twice", st->index);
	d->map->pos[st->index] = (int8_t)d->rec->n_beneficiaries++;
	if (b->birth_rank == 0)
		b->birth_rank = 1;	/* 0 on the card means 1 */
	b->nir_key_valid = b->nir[0] && vd_nir_check(b->nir) == 0;
	return 0;
}

static int parse_dg2(const struct vd_tlv *dg, struct vd_record *rec, struct index_map *map,
		struct parse_state *st)
{
	struct dg2_data d = { rec, map };
	int r;

	st->where = "DG2";
	r = parse_template(dg, NULL, 0, NULL, dg2_child, &d, st);
	if (r < 0)
		return r;
	if (rec->n_beneficiaries == 0)
		return malformed(st, "no beneficiary");
	return 0;
}

/* ---- DG3 (AMO) and DG4 (AMC): per-beneficiary lists -------------------- */

static const struct field period_fields[] = {
	FIELD(0x80, F_DATE, 0, 0, false, struct vd_period, start),
	FIELD(0x81, F_DATE, 0, 0, true, struct vd_period, end),
};

static const struct field coverage_fields[] = {
	FIELD(0x80, F_DATE, 0, 0, false, struct vd_coverage, period.start),
	FIELD(0x81, F_DATE, 0, 0, true, struct vd_coverage, period.end),
	FIELD(0x82, F_ASCII, 1, 4, true, struct vd_coverage, exemption),
	FIELD(0x83, F_ASCII, 1, 4, true, struct vd_coverage, situation),
};

static const struct field amc_fields[] = {
	FIELD(0x80, F_DIGITS, 1, 10, false, struct vd_amc, organisation),
	FIELD(0x81, F_ASCII, 1, 20, false, struct vd_amc, member),
	FIELD(0x82, F_ASCII, 1, 8, false, struct vd_amc, guarantee),
	FIELD(0x83, F_ASCII, 1, 8, false, struct vd_amc, routing),
	FIELD(0x84, F_DATE, 0, 0, false, struct vd_amc, period.start),
	FIELD(0x85, F_DATE, 0, 0, true, struct vd_amc, period.end),
};

static const struct field entry_fields[] = {
	STATE(0x80, F_INDEX, VD_MAX_BENEFICIARIES - 1),
};

/* Lists of one beneficiary entry, collected before the index is known
 * (the index may come after the lists). */
struct entry {
	unsigned int n_rights, n_coverage, n_c2s, n_amc;
	struct vd_period rights[VD_MAX_PERIODS];
	struct vd_coverage coverage[VD_MAX_PERIODS];
	struct vd_period c2s[VD_MAX_PERIODS];
	struct vd_amc amc[VD_MAX_AMC];
};

static int entry_child_amo(const struct vd_tlv *t, void *data, struct parse_state *st)
{
	struct entry *e = data;
	struct vd_period *p;
	int r;

	switch (t->tag) {
	case 0xa1:
	case 0xa3: {
		unsigned int *n = t->tag == 0xa1 ? &e->n_rights : &e->n_c2s;

		if (*n == VD_MAX_PERIODS)
			return malformed(st, "more than %d periods", VD_MAX_PERIODS);
		p = t->tag == 0xa1 ? &e->rights[*n] : &e->c2s[*n];
		r = parse_template(t, period_fields, ARRAY_SIZE(period_fields), p, NULL, NULL, st);
		if (r == 0)
			(*n)++;
		break;
	}
	case 0xa2:
		if (e->n_coverage == VD_MAX_PERIODS)
			return malformed(st, "more than %d coverages", VD_MAX_PERIODS);
		p = &e->coverage[e->n_coverage].period;
		r = parse_template(t, coverage_fields, ARRAY_SIZE(coverage_fields),
				&e->coverage[e->n_coverage], NULL, NULL, st);
		if (r == 0)
			e->n_coverage++;
		break;
	default:
		return -ENOENT;
	}
	return r < 0 ? r : check_period(p, st);
}

static int entry_child_amc(const struct vd_tlv *t, void *data, struct parse_state *st)
{
	struct entry *e = data;
	int r;

	if (t->tag != 0xa1)
		return -ENOENT;
	if (e->n_amc == VD_MAX_AMC)
		return malformed(st, "more than %d contracts", VD_MAX_AMC);
	r = parse_template(t, amc_fields, ARRAY_SIZE(amc_fields), &e->amc[e->n_amc],
			NULL, NULL, st);
	if (r < 0)
		return r;
	return check_period(&e->amc[e->n_amc++].period, st);
}

struct list_data {
	struct vd_record *rec;
	const struct index_map *map;
	child_func entry_child;
	uint16_t done;		/* beneficiaries already given an entry */
};

static int list_child(const struct vd_tlv *t, void *data, struct parse_state *st)
{
	struct list_data *d = data;
	struct vd_beneficiary *b;
	struct entry e;
	int r, pos;

	if (t->tag != 0xa0)
		return -ENOENT;
	memset(&e, 0, sizeof(e));
	st->index = -1;
	r = parse_template(t, entry_fields, ARRAY_SIZE(entry_fields), NULL, d->entry_child,
			&e, st);
	if (r == 0 && (pos = d->map->pos[st->index]) < 0)
		r = malformed(st, "unknown beneficiary index %d", st->index);
	else if (r == 0 && (d->done & (1u << pos)))
		r = malformed(st, "beneficiary index %d listed twice", st->index);
	if (r == 0) {
		d->done |= 1u << pos;
		b = &d->rec->beneficiaries[pos];
		/* Only the lists this data group carries: DG4 must not wipe
		 * what DG3 gave the same beneficiary. */
		if (d->entry_child == entry_child_amo) {
			memcpy(b->rights, e.rights, sizeof(e.rights));
			b->n_rights = e.n_rights;
			memcpy(b->coverage, e.coverage, sizeof(e.coverage));
			b->n_coverage = e.n_coverage;
			memcpy(b->c2s, e.c2s, sizeof(e.c2s));
			b->n_c2s = e.n_c2s;
		} else {
			memcpy(b->amc, e.amc, sizeof(e.amc));
			b->n_amc = e.n_amc;
		}
	}
	OPENSSL_cleanse(&e, sizeof(e));
	return r;
}

static int parse_list(const struct vd_tlv *dg, const char *where, child_func entry_child,
		struct vd_record *rec, const struct index_map *map, struct parse_state *st)
{
	struct list_data d = { rec, map, entry_child, 0 };

	st->where = where;
	return parse_template(dg, NULL, 0, NULL, list_child, &d, st);
}

/* ---- entry points ------------------------------------------------------ */

/* A file holding one template; tree: check the nesting of all of it. */
static int open_file(const uint8_t *data, size_t len, uint32_t tag, bool tree,
		struct vd_tlv *out, struct parse_state *st)
{
	if (!data)
		return malformed(st, "missing");
	if (len > VD_DG_MAX_SIZE)
		return malformed(st, "file larger than %d bytes", VD_DG_MAX_SIZE);
	if ((tree && vd_tlv_check_tree(data, len, VD_TLV_MAX_DEPTH) < 0) ||
			vd_tlv_parse_one(data, len, out) < 0)
		return malformed(st, "broken TLV structure or nested too deep");
	if (out->tag != tag)
		return malformed(st, "outer tag %X instead of %X", out->tag, tag);
	return 0;
}

int vd_record_parse_dgs(const struct vd_dg_set *dgs, enum vd_form_factor form,
		struct vd_record *out, struct vd_verdict *why)
{
	static const char *const names[] = { "", "DG1", "DG2", "DG3", "DG4" };
	static const uint32_t tags[] = { 0, 0x61, 0x62, 0x63, 0x64 };
	struct parse_state st = { .why = why };
	struct vd_tlv dg[5];
	struct index_map map;
	unsigned int n;
	int r = 0;

	memset(out, 0, sizeof(*out));
	memset(map.pos, -1, sizeof(map.pos));
	for (n = 1; n <= 4 && r == 0; n++) {
		st.where = names[n];
		if (!dgs->dg[n].data) {
			if (n <= 2)
				r = malformed(&st, "missing");
			continue;
		}
		r = open_file(dgs->dg[n].data, dgs->dg[n].len, tags[n], true, &dg[n], &st);
	}
	if (r == 0)
		r = parse_dg1(&dg[1], form, out, &st);
	if (r == 0)
		r = parse_dg2(&dg[2], out, &map, &st);
	if (r == 0 && dgs->dg[3].data)
		r = parse_list(&dg[3], "DG3", entry_child_amo, out, &map, &st);
	if (r == 0 && dgs->dg[4].data)
		r = parse_list(&dg[4], "DG4", entry_child_amc, out, &map, &st);
	if (r < 0)
		OPENSSL_cleanse(out, sizeof(*out));
	return r;
}

/*
 * A P-256 key holding only the group: creating the group is most of the
 * cost of importing a key, and duplicating this template avoids it.
 */
static pthread_once_t p256_once = PTHREAD_ONCE_INIT;
static EVP_PKEY *p256_params;

static void make_p256_params(void)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM params[2];

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
			(char *)"prime256v1", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
			EVP_PKEY_fromdata(pctx, &p256_params, EVP_PKEY_KEY_PARAMETERS, params) != 1)
		p256_params = NULL;
	EVP_PKEY_CTX_free(pctx);
}

/*
 * SubjectPublicKeyInfo → EC P-256 key.  OpenSSL 3.0's generic d2i_PUBKEY
 * runs its decoder machinery (more than the ECDSA verification the key is
 * for); the structure is taken apart with OpenSSL's ASN.1 functions and
 * the point set on a copy of the P-256 template
 * (EVP_PKEY_set1_encoded_public_key checks it is on the curve).
 */
static EVP_PKEY *ec_p256_from_spki(const uint8_t *der, size_t len)
{
	STACK_OF(ASN1_TYPE) *seq;
	const unsigned char *p = der;
	const ASN1_OBJECT *alg_oid;
	const void *param;
	X509_ALGOR *alg = NULL;
	ASN1_TYPE *a, *k;
	EVP_PKEY *key = NULL;
	int ptype;

	pthread_once(&p256_once, make_p256_params);
	if (!p256_params)
		return NULL;
	seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)len);
	if (!seq || p != der + len || sk_ASN1_TYPE_num(seq) != 2)
		goto out;
	a = sk_ASN1_TYPE_value(seq, 0);
	k = sk_ASN1_TYPE_value(seq, 1);
	if (a->type != V_ASN1_SEQUENCE || k->type != V_ASN1_BIT_STRING)
		goto out;
	p = ASN1_STRING_get0_data(a->value.sequence);
	alg = d2i_X509_ALGOR(NULL, &p, ASN1_STRING_length(a->value.sequence));
	if (!alg)
		goto out;
	X509_ALGOR_get0(&alg_oid, &ptype, &param, alg);
	if (OBJ_obj2nid(alg_oid) != NID_X9_62_id_ecPublicKey || ptype != V_ASN1_OBJECT ||
			OBJ_obj2nid(param) != NID_X9_62_prime256v1)
		goto out;
	/* uncompressed point, no unused bits */
	if (ASN1_STRING_length(k->value.bit_string) != 65 || (k->value.bit_string->flags & 0x07))
		goto out;
	key = EVP_PKEY_dup(p256_params);
	if (key && EVP_PKEY_set1_encoded_public_key(key,
				ASN1_STRING_get0_data(k->value.bit_string), 65) != 1) {
		EVP_PKEY_free(key);
		key = NULL;
	}
out:
	X509_ALGOR_free(alg);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	ERR_clear_error();
	return key;
}

EVP_PKEY *vd_dg15_public_key(const uint8_t *dg15, size_t len, struct vd_verdict *why)
{
	struct parse_state st = { .where = "DG15", .why = why };
	EVP_PKEY *key;
	struct vd_tlv t;

	/* The value is DER, parsed by OpenSSL: only the outer TLV is ours. */
	if (open_file(dg15, len, 0x6f, false, &t, &st) < 0)
		return NULL;
	key = ec_p256_from_spki(t.value, t.len);
	if (!key)
		malformed(&st, "not an EC P-256 public key");
	return key;
}

/* ---- legacy Vitale 2 identity -------------------------------------------- */

static const struct field legacy_identity_fields[] = {
	FIELD(0x80, F_UTF8, 1, 64, false, struct vd_beneficiary, usual_name),
	FIELD(0x81, F_UTF8, 1, 64, false, struct vd_beneficiary, first_name),
	FIELD(0x82, F_BIRTH_DATE, 0, 0, false, struct vd_beneficiary, birth_date),
};

static const struct field legacy_nir_fields[] = {
	FIELD(0x93, F_NIR, 15, 15, false, struct vd_beneficiary, nir),
};

int vd_record_parse_legacy(const uint8_t *ident, size_t ident_len, const uint8_t *nir,
		size_t nir_len, struct vd_record *out, struct vd_verdict *why)
{
	/* Not our format: other tags of the real card are skipped. */
	struct parse_state st = { .where = "legacy identity", .lenient = true, .why = why };
	struct vd_beneficiary *b = &out->beneficiaries[0];
	struct vd_tlv t;
	int r;

	memset(out, 0, sizeof(*out));
	r = open_file(ident, ident_len, 0x65, true, &t, &st);
	if (r == 0)
		r = parse_template(&t, legacy_identity_fields,
				ARRAY_SIZE(legacy_identity_fields), b, NULL, NULL, &st);
	st.where = "legacy NIR";
	if (r == 0)
		r = open_file(nir, nir_len, 0x65, true, &t, &st);
	if (r == 0)
		r = parse_template(&t, legacy_nir_fields, ARRAY_SIZE(legacy_nir_fields),
				b, NULL, NULL, &st);
	if (r < 0) {
		OPENSSL_cleanse(out, sizeof(*out));
		return r;
	}
	out->form = VD_FORM_LEGACY_CARD;
	out->n_beneficiaries = 1;
	memcpy(b->qualite, "00", 3);
	b->birth_rank = 1;
	b->nir_key_valid = vd_nir_check(b->nir) == 0;
	return 0;
}
