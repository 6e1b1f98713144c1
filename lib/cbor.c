/*
 * A strict CBOR (RFC 8949) subset decoder: a cursor over a buffer.
 *
 * Only definite lengths; every length is checked against the bytes left
 * before anything uses it; skipping nested items keeps a count of the
 * items still owed instead of recursing, so hostile nesting costs time
 * linear in the input and constant stack.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "internal.h"

/* Additional information values with a special meaning. */
#define AI_1BYTE	24
#define AI_8BYTES	27
#define AI_INDEFINITE	31

void vd_cbor_init(struct vd_cbor *c, const uint8_t *buf, size_t len)
{
	c->pos = buf;
	c->end = buf + len;
}

bool vd_cbor_at_end(const struct vd_cbor *c)
{
	return c->pos == c->end;
}

static size_t left(const struct vd_cbor *c)
{
	return (size_t)(c->end - c->pos);
}

int vd_cbor_peek(const struct vd_cbor *c)
{
	if (c->pos >= c->end)
		return -EBADMSG;
	return *c->pos >> 5;
}

/*
 * Initial byte and argument of the next item at *pos (not moved on
 * error).  For major type 7, arg is the raw float bits or simple value.
 */
static int read_head(const struct vd_cbor *c, const uint8_t **pos,
		unsigned int *major, unsigned int *ai, uint64_t *arg)
{
	const uint8_t *p = *pos;
	unsigned int n, i;

	if (p >= c->end)
		return -EBADMSG;
	*major = *p >> 5;
	*ai = *p & 0x1F;
	p++;
	if (*ai < AI_1BYTE) {
		*arg = *ai;
		*pos = p;
		return 0;
	}
	/* 28..30 are reserved; 31 is an indefinite length or "break". */
	if (*ai > AI_8BYTES)
		return -EBADMSG;
	n = 1u << (*ai - AI_1BYTE);
	if ((size_t)(c->end - p) < n)
		return -EBADMSG;
	*arg = 0;
	for (i = 0; i < n; i++)
		*arg = *arg << 8 | p[i];
	/* Simple values 0..31 in two bytes are not well-formed (§3.3). */
	if (*major == VD_CBOR_SIMPLE && *ai == AI_1BYTE && *arg < 32)
		return -EBADMSG;
	*pos = p + n;
	return 0;
}

/* Next head of the given major type, moving the cursor on success. */
static int expect(struct vd_cbor *c, unsigned int want, uint64_t *arg)
{
	const uint8_t *p = c->pos;
	unsigned int major, ai;

	if (read_head(c, &p, &major, &ai, arg) || major != want)
		return -EBADMSG;
	c->pos = p;
	return 0;
}

int vd_cbor_get_int(struct vd_cbor *c, int64_t *v)
{
	const uint8_t *p = c->pos;
	unsigned int major, ai;
	uint64_t arg;

	if (read_head(c, &p, &major, &ai, &arg))
		return -EBADMSG;
	if ((major != VD_CBOR_UINT && major != VD_CBOR_NEGINT) || arg > INT64_MAX)
		return -EBADMSG;
	*v = major == VD_CBOR_UINT ? (int64_t)arg : -1 - (int64_t)arg;
	c->pos = p;
	return 0;
}

static int get_string(struct vd_cbor *c, unsigned int major,
		const uint8_t **p, size_t *len)
{
	struct vd_cbor save = *c;
	uint64_t n;

	if (expect(c, major, &n))
		return -EBADMSG;
	if (n > left(c)) {
		*c = save;
		return -EBADMSG;
	}
	*p = c->pos;
	*len = (size_t)n;
	c->pos += n;
	return 0;
}

int vd_cbor_get_bstr(struct vd_cbor *c, const uint8_t **p, size_t *len)
{
	return get_string(c, VD_CBOR_BSTR, p, len);
}

int vd_cbor_get_tstr(struct vd_cbor *c, const char **p, size_t *len)
{
	struct vd_cbor save = *c;
	const uint8_t *s;

	if (get_string(c, VD_CBOR_TSTR, &s, len))
		return -EBADMSG;
	if (memchr(s, 0, *len)) {
		*c = save;
		return -EBADMSG;
	}
	*p = (const char *)s;
	return 0;
}

/* Containers: every element takes at least one byte, so a count larger
 * than what is left is a lie, refused before anyone loops over it. */
static int get_container(struct vd_cbor *c, unsigned int major, size_t *n)
{
	struct vd_cbor save = *c;
	uint64_t count;

	if (expect(c, major, &count))
		return -EBADMSG;
	if (count > left(c) || (major == VD_CBOR_MAP && count > left(c) / 2)) {
		*c = save;
		return -EBADMSG;
	}
	*n = (size_t)count;
	return 0;
}

int vd_cbor_get_array(struct vd_cbor *c, size_t *n)
{
	return get_container(c, VD_CBOR_ARRAY, n);
}

int vd_cbor_get_map(struct vd_cbor *c, size_t *n)
{
	return get_container(c, VD_CBOR_MAP, n);
}

int vd_cbor_get_tag(struct vd_cbor *c, uint64_t *tag)
{
	return expect(c, VD_CBOR_TAG, tag);
}

/* IEEE 754 half precision (RFC 8949 appendix D).  Scaling by powers of
 * two is exact without ldexp(): libm, for this alone, would cost the
 * daemon 0.3 MiB of resident pages. */
static double half_to_double(unsigned int half)
{
	unsigned int exp = (half >> 10) & 0x1F, mant = half & 0x3FF;
	double val;

	if (exp == 0)
		val = mant * 0x1p-24;
	else if (exp != 31)
		val = (mant + 1024) * (double)(1u << exp) * 0x1p-25;
	else
		val = mant == 0 ? INFINITY : NAN;
	return half & 0x8000 ? -val : val;
}

int vd_cbor_get_time(struct vd_cbor *c, int64_t *t)
{
	const uint8_t *p = c->pos;
	unsigned int major, ai;
	uint64_t arg;
	double d;

	if (vd_cbor_get_int(c, t) == 0)
		return 0;
	if (read_head(c, &p, &major, &ai, &arg) || major != VD_CBOR_SIMPLE)
		return -EBADMSG;
	switch (ai) {
	case 25:
		d = half_to_double((unsigned int)arg);
		break;
	case 26: {
		uint32_t bits = (uint32_t)arg;
		float f;

		memcpy(&f, &bits, sizeof(f));
		d = f;
		break;
	}
	case 27:
		memcpy(&d, &arg, sizeof(d));
		break;
	default:
		return -EBADMSG;
	}
	/* ±2^62 seconds is far beyond any date; it keeps the cast defined. */
	if (!isfinite(d) || d >= 0x1p62 || d <= -0x1p62)
		return -EBADMSG;
	*t = (int64_t)d;
	c->pos = p;
	return 0;
}

int vd_cbor_skip(struct vd_cbor *c)
{
	const uint8_t *p = c->pos;
	/* Items still to read; each needs at least one byte, so more than
	 * the bytes left is refused at once and the count cannot overflow. */
	uint64_t owed = 1;

	while (owed) {
		unsigned int major, ai;
		uint64_t arg;
		size_t rest;

		if (read_head(c, &p, &major, &ai, &arg))
			return -EBADMSG;
		owed--;
		rest = (size_t)(c->end - p);
		switch (major) {
		case VD_CBOR_BSTR:
		case VD_CBOR_TSTR:
			if (arg > rest)
				return -EBADMSG;
			p += arg;
			break;
		case VD_CBOR_ARRAY:
			if (arg > rest)
				return -EBADMSG;
			owed += arg;
			break;
		case VD_CBOR_MAP:
			if (arg > rest / 2)
				return -EBADMSG;
			owed += 2 * arg;
			break;
		case VD_CBOR_TAG:
			owed++;
			break;
		default:
			break;
		}
		if (owed > (uint64_t)(c->end - p))
			return -EBADMSG;
	}
	c->pos = p;
	return 0;
}
