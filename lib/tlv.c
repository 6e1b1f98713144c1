/*
 * Strict BER-TLV (ISO/IEC 7816-4 subset): tags of up to 3 bytes, definite
 * minimal lengths of up to 3 length bytes, nothing past the buffer.  The
 * iterator is flat; nesting is walked by the caller or, for a whole-file
 * check, with an explicit stack — never by recursion on input depth.
 */
#include <errno.h>

#include "internal.h"

/*
 * Parse one header at *pos; on success *pos points at the value.
 * -EAGAIN: the header runs past end; -EBADMSG: it is not valid.  With
 * whole_value, a value running past end is -EBADMSG too.
 */
static int parse_header(const uint8_t **pos, const uint8_t *end, bool whole_value,
		uint32_t *tag, bool *constructed, size_t *len)
{
	const uint8_t *p = *pos;
	unsigned int i, n;
	size_t l;

	if (p >= end)
		return -EAGAIN;
	/* 00 and FF are padding/reserved in ISO 7816, never a tag here. */
	if (p[0] == 0x00 || p[0] == 0xff)
		return -EBADMSG;
	*constructed = p[0] & 0x20;
	*tag = *p++;
	if ((*tag & 0x1f) == 0x1f) {
		for (i = 1;; i++) {
			if (i >= VD_TLV_MAX_TAG_BYTES)
				return -EBADMSG;
			if (p >= end)
				return -EAGAIN;
			/* ISO 7816-4: a second byte encodes a number above 30 */
			if (i == 1 && (p[0] == 0x80 || p[0] < 0x1f))
				return -EBADMSG;
			*tag = (*tag << 8) | p[0];
			if (!(*p++ & 0x80))
				break;
		}
	}

	if (p >= end)
		return -EAGAIN;
	if (p[0] < 0x80) {
		l = *p++;
	} else {
		n = *p++ & 0x7f;
		/* 0x80 is the indefinite form, refused */
		if (n == 0 || n > VD_TLV_MAX_LEN_BYTES)
			return -EBADMSG;
		if ((size_t)(end - p) < n)
			return -EAGAIN;
		if (p[0] == 0)
			return -EBADMSG;	/* leading zero: non-minimal */
		for (l = 0, i = 0; i < n; i++)
			l = (l << 8) | *p++;
		if (l < 0x80)
			return -EBADMSG;	/* should have used the short form */
	}
	if (whole_value && l > (size_t)(end - p))
		return -EBADMSG;
	*len = l;
	*pos = p;
	return 0;
}

void vd_tlv_iter_init(struct vd_tlv_iter *it, const uint8_t *buf, size_t len)
{
	it->pos = buf;
	it->end = buf ? buf + len : buf;
}

int vd_tlv_next(struct vd_tlv_iter *it, struct vd_tlv *out)
{
	const uint8_t *start = it->pos, *p = it->pos;
	int err;

	if (!p || p == it->end)
		return 0;
	err = parse_header(&p, it->end, true, &out->tag, &out->constructed, &out->len);
	if (err < 0) {
		it->pos = it->end = NULL;	/* a broken stream stays broken */
		return -EBADMSG;
	}
	out->value = p;
	out->raw = start;
	out->raw_len = (size_t)(p - start) + out->len;
	it->pos = p + out->len;
	return 1;
}

int vd_tlv_parse_one(const uint8_t *buf, size_t len, struct vd_tlv *out)
{
	struct vd_tlv_iter it;

	vd_tlv_iter_init(&it, buf, len);
	if (vd_tlv_next(&it, out) != 1 || it.pos != it.end)
		return -EBADMSG;
	return 0;
}

int vd_tlv_check_tree(const uint8_t *buf, size_t len, unsigned int max_depth)
{
	const uint8_t *ends[VD_TLV_MAX_DEPTH + 1];
	const uint8_t *p = buf, *end = buf + len;
	unsigned int depth = 0;

	if (!buf || max_depth > VD_TLV_MAX_DEPTH)
		return -EBADMSG;
	ends[0] = end;
	while (p < end) {
		uint32_t tag;
		bool constructed;
		size_t l;

		/* Headers are parsed against the innermost enclosing end.  Every
		 * TLV counts as a level, primitive or not (doc/formats.md §2:
		 * `63 > A0 > A1 > 80` is 4 levels). */
		if (parse_header(&p, ends[depth], true, &tag, &constructed, &l) < 0 ||
				depth + 1 > max_depth)
			return -EBADMSG;
		if (constructed) {
			ends[++depth] = p + l;
		} else {
			p += l;
		}
		while (depth > 0 && p == ends[depth])
			depth--;
	}
	return depth == 0 ? 0 : -EBADMSG;
}

long vd_tlv_total_size(const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t tag;
	bool constructed;
	size_t l;
	int err;

	if (!buf)
		return -EBADMSG;
	err = parse_header(&p, buf + len, false, &tag, &constructed, &l);
	if (err < 0)
		return err;
	return (long)((size_t)(p - buf) + l);
}
