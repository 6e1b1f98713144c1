/*
 * HID report descriptors of HID-POS bar code scanners (usage page 0x8C).
 *
 * Vendors lay the scanned-data report out differently, so the layout is
 * read from the descriptor, never assumed: the Decoded Data field (0xFE)
 * and the Decode Data Continued bit (0xFF, "more follows").  The POS usage
 * tables define no usage for the data length; scanners that send one put
 * a one-byte field with no bar code usage ahead of the symbology and data
 * fields, and that is what is taken as the length.  Without it, trailing
 * NUL padding is stripped.
 *
 * The descriptor comes from the device: every item is bounds-checked and
 * the PUSH/POP and collection stacks have a fixed depth.
 */
#include <errno.h>
#include <string.h>

#include "plugins.h"

#define PAGE_BARCODE		0x8c
#define USAGE_SCANNER_MIN	0x01	/* badge reader, scanner, ..., cradle */
#define USAGE_SCANNER_MAX	0x05
#define USAGE_SYMBOLOGY_1	0xfb
#define USAGE_SYMBOLOGY_3	0xfd
#define USAGE_DECODED_DATA	0xfe
#define USAGE_DATA_CONTINUED	0xff

#define MAX_USAGES	64
#define MAX_PUSH	4
#define MAX_REPORTS	16
#define MAX_REPORT_BITS	(HIDPOS_REPORT_MAX * 8)

struct globals {
	uint32_t page;
	uint32_t report_size;
	uint32_t report_count;
	uint32_t report_id;
};

/* Per report id: where the next input field starts, and what was found. */
struct report {
	uint32_t id;
	uint32_t bits;
	int data_bit, data_len;
	int len_bit;
	int more_bit;
	int sym_bit, sym_len;
	bool seen_barcode;	/* a 0x8C usage field came before */
};

struct parser {
	struct globals g, stack[MAX_PUSH];
	unsigned int depth;
	uint32_t usages[MAX_USAGES];
	unsigned int n_usages;
	uint32_t usage_min, usage_max;
	bool have_min, have_max;
	unsigned int collections;
	bool scanner;
	struct report reports[MAX_REPORTS];
	unsigned int n_reports;
	bool uses_ids;
};

static struct report *report_for(struct parser *p, uint32_t id)
{
	struct report *r;
	unsigned int i;

	for (i = 0; i < p->n_reports; i++)
		if (p->reports[i].id == id)
			return &p->reports[i];
	if (p->n_reports == MAX_REPORTS)
		return NULL;
	r = &p->reports[p->n_reports++];
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->data_bit = r->len_bit = r->more_bit = r->sym_bit = -1;
	return r;
}

static uint32_t field_usage(const struct parser *p, uint32_t i)
{
	uint32_t u;

	if (p->n_usages)
		u = p->usages[i < p->n_usages ? i : p->n_usages - 1];
	else if (p->have_min && p->have_max && p->usage_max >= p->usage_min)
		u = p->usage_min + (i <= p->usage_max - p->usage_min ? i : p->usage_max - p->usage_min);
	else
		return 0;
	/* a one- or two-byte usage takes the current usage page */
	return u > 0xffff ? u : (p->g.page << 16) | u;
}

static int input_item(struct parser *p, uint32_t flags)
{
	uint32_t size = p->g.report_size, count = p->g.report_count, i;
	struct report *r;

	if (p->uses_ids && !p->g.report_id)
		return -EINVAL;
	r = report_for(p, p->g.report_id);
	if (!r)
		return -E2BIG;
	if (size > 32 || count > MAX_REPORT_BITS || size * count > MAX_REPORT_BITS - r->bits)
		return -E2BIG;
	for (i = 0; i < count && !(flags & 1); i++) {
		uint32_t usage = field_usage(p, i);
		uint32_t bit = r->bits + i * size;

		if (usage >> 16 == PAGE_BARCODE) {
			uint32_t id = usage & 0xffff;

			if (id == USAGE_DECODED_DATA && size == 8) {
				if (r->data_bit < 0) {
					r->data_bit = (int)bit;
					r->data_len = 0;
				}
				if (r->data_bit + r->data_len * 8 == (int)bit)
					r->data_len++;
			} else if (id == USAGE_DATA_CONTINUED && r->more_bit < 0) {
				r->more_bit = (int)bit;
			} else if (id >= USAGE_SYMBOLOGY_1 && id <= USAGE_SYMBOLOGY_3 &&
					size == 8) {
				if (r->sym_bit < 0) {
					r->sym_bit = (int)bit;
					r->sym_len = 0;
				}
				if (r->sym_bit + r->sym_len * 8 == (int)bit && r->sym_len < 3)
					r->sym_len++;
			}
			r->seen_barcode = true;
		} else if (!r->seen_barcode && size == 8 && count == 1 &&
				(usage == 0 || usage >> 16 >= 0xff00)) {
			r->len_bit = (int)bit;
		}
	}
	r->bits += size * count;
	return 0;
}

static void clear_locals(struct parser *p)
{
	p->n_usages = 0;
	p->have_min = p->have_max = false;
}

int hidpos_parse_descriptor(const uint8_t *desc, size_t len, struct hidpos_layout *out)
{
	struct parser p;
	size_t pos = 0;
	unsigned int i;

	memset(&p, 0, sizeof(p));
	while (pos < len) {
		uint8_t prefix = desc[pos++];
		uint32_t size = prefix & 3, tag = prefix >> 4, type = (prefix >> 2) & 3;
		uint32_t value = 0;
		int err = 0;

		if (prefix == 0xfe) {	/* long item: size, tag, data; none we use */
			if (len - pos < 2 || len - pos - 2 < desc[pos])
				return -EINVAL;
			pos += 2 + desc[pos];
			continue;
		}
		if (size == 3)
			size = 4;
		if (len - pos < size)
			return -EINVAL;
		for (i = 0; i < size; i++)
			value |= (uint32_t)desc[pos + i] << (8 * i);
		pos += size;

		switch (type) {
		case 0:	/* main */
			if (tag == 0x8) {
				err = input_item(&p, value);
			} else if (tag == 0xa) {
				uint32_t usage = field_usage(&p, 0);

				if (++p.collections > 16)
					return -E2BIG;
				if (value == 1 && usage >> 16 == PAGE_BARCODE &&
				    (usage & 0xffff) >= USAGE_SCANNER_MIN &&
				    (usage & 0xffff) <= USAGE_SCANNER_MAX)
					p.scanner = true;
			} else if (tag == 0xc) {
				if (!p.collections)
					return -EINVAL;
				p.collections--;
			}
			clear_locals(&p);
			break;
		case 1:	/* global */
			switch (tag) {
			case 0x0: p.g.page = value; break;
			case 0x7: p.g.report_size = value; break;
			case 0x9: p.g.report_count = value; break;
			case 0x8:
				if (value == 0 || value > 0xff)
					return -EINVAL;
				p.g.report_id = value;
				p.uses_ids = true;
				break;
			case 0xa:
				if (p.depth == MAX_PUSH)
					return -E2BIG;
				p.stack[p.depth++] = p.g;
				break;
			case 0xb:
				if (!p.depth)
					return -EINVAL;
				p.g = p.stack[--p.depth];
				break;
			}
			break;
		case 2:	/* local */
			if (tag == 0x0) {
				if (p.n_usages == MAX_USAGES)
					return -E2BIG;
				/* a 4-byte usage carries its own page */
				p.usages[p.n_usages++] = size == 4 ? value : value & 0xffff;
			} else if (tag == 0x1) {
				p.usage_min = value;
				p.have_min = true;
			} else if (tag == 0x2) {
				p.usage_max = value;
				p.have_max = true;
			}
			break;
		default:
			return -EINVAL;
		}
		if (err)
			return err;
	}
	if (p.collections)	/* cut short: a whole descriptor closes them all */
		return -EINVAL;
	if (!p.scanner)
		return -ENOENT;
	for (i = 0; i < p.n_reports; i++) {
		const struct report *r = &p.reports[i];

		if (r->data_bit < 0 || r->data_bit % 8 || r->data_len == 0)
			continue;
		memset(out, 0, sizeof(*out));
		out->report_id = (uint8_t)r->id;
		out->report_len = (r->bits + 7) / 8;
		out->data_off = (unsigned int)r->data_bit / 8;
		out->data_len = (unsigned int)r->data_len;
		out->len_off = r->len_bit >= 0 && r->len_bit % 8 == 0 ? r->len_bit / 8 : -1;
		out->more_bit = r->more_bit;
		out->sym_off = r->sym_bit >= 0 && r->sym_bit % 8 == 0 ? r->sym_bit / 8 : -1;
		out->sym_len = (unsigned int)r->sym_len;
		return 0;
	}
	return -ENOENT;
}

int hidpos_report_data(const struct hidpos_layout *layout, const uint8_t *report,
		size_t len, const uint8_t **data, size_t *data_len, bool *more)
{
	size_t n;

	if (layout->report_id) {
		if (!len || report[0] != layout->report_id)
			return -ENOMSG;	/* another report of the device */
		report++;
		len--;
	}
	if (len < layout->report_len)
		return -EINVAL;
	n = layout->data_len;
	if (layout->len_off >= 0) {
		if (report[layout->len_off] > n)
			return -EINVAL;
		n = report[layout->len_off];
	} else {
		while (n && !report[layout->data_off + n - 1])
			n--;
	}
	*data = report + layout->data_off;
	*data_len = n;
	*more = layout->more_bit >= 0 &&
		(report[layout->more_bit / 8] >> (layout->more_bit % 8)) & 1;
	return 0;
}

void hidpos_report_symbology(const struct hidpos_layout *layout, const uint8_t *report,
		char out[4])
{
	const uint8_t *sym;
	size_t n;

	out[0] = '\0';
	if (layout->sym_off < 0)
		return;
	sym = report + (layout->report_id ? 1 : 0) + layout->sym_off;
	for (n = layout->sym_len; n && !sym[n - 1]; n--)
		;
	if (n == 3 && sym[0] == ']') {
		memcpy(out, sym, 3);
	} else if (n == 2) {
		out[0] = ']';
		memcpy(out + 1, sym, 2);
	} else {
		return;
	}
	out[3] = '\0';
}
