/*
 * vitalectl's JSON writer on json-c: commands add values in order (the
 * API of vitalectl.h), json-c holds the tree and escapes; only the layout
 * is ours — one line, ", " and ": " between items — so that --json output
 * stays what scripts already read.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* json-c names its boolean type json_bool, which is our writer's
 * json_bool(): renamed here, the one file that sees both. */
#define json_bool json_c_bool
#include <json-c/json.h>
#undef json_bool

#include "vitalectl.h"

#define JSON_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

void json_init(struct json *j, FILE *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static unsigned int utf8_len(const unsigned char *s)
{
	unsigned int n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 2;
		cp = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 3;
		cp = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
			(cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* s with every invalid byte as U+FFFD (json-c copies bytes as they are,
 * and invalid UTF-8 is no JSON); NULL without memory. */
static char *valid_utf8(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	char *out = malloc(strlen(str) * 3 + 1), *o = out;
	unsigned int n;

	if (!out)
		return NULL;
	while (*s) {
		n = utf8_len(s);
		if (!n) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			s++;
			continue;
		}
		memcpy(o, s, n);
		o += n;
		s += n;
	}
	*o = '\0';
	return out;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* Appends v's text; the copy json-c keeps in v is wiped once appended. */
static int append(struct printbuf *pb, struct json_object *v)
{
	const char *s = json_object_to_json_string_ext(v, JSON_FLAGS);
	size_t len = s ? strlen(s) : 0;
	int ret;

	if (!s)
		return -1;
	ret = printbuf_memappend(pb, s, (int)len);
	if (v)
		explicit_bzero((char *)s, len);
	return ret < 0 ? -1 : 0;
}

static int append_key(struct printbuf *pb, const char *key)
{
	struct json_object *k = json_object_new_string(key);
	int ret = k ? append(pb, k) : -1;

	json_object_put(k);
	return ret;
}

/* json-c's serializer for our containers: its own layout, json-c's text
 * for everything inside. */
static int container_text(struct json_object *o, struct printbuf *pb, int level, int flags)
{
	bool first = true;
	size_t i, n;

	(void)level;
	(void)flags;
	if (json_object_is_type(o, json_type_object)) {
		if (printbuf_strappend(pb, "{") < 0)
			return -1;
		json_object_object_foreach(o, key, v) {
			if ((!first && printbuf_strappend(pb, ", ") < 0) || append_key(pb, key) < 0 ||
					printbuf_strappend(pb, ": ") < 0 || append(pb, v) < 0)
				return -1;
			first = false;
		}
		return printbuf_strappend(pb, "}") < 0 ? -1 : 0;
	}
	if (printbuf_strappend(pb, "[") < 0)
		return -1;
	n = json_object_array_length(o);
	for (i = 0; i < n; i++)
		if ((i && printbuf_strappend(pb, ", ") < 0) ||
				append(pb, json_object_array_get_idx(o, i)) < 0)
			return -1;
	return printbuf_strappend(pb, "]") < 0 ? -1 : 0;
}

/* Puts v where the document is: the root, the next item of an array, or
 * the value of the pending key.  Takes v (NULL is JSON null). */
static void add(struct json *j, struct json_object *v)
{
	struct json_object *parent;
	char *key = j->key;

	j->key = NULL;
	if (j->too_deep) {
		json_object_put(v);
	} else if (!j->depth) {
		json_object_put(j->root);	/* one document at a time */
		j->root = v;
	} else {
		parent = j->open[j->depth - 1];
		if (json_object_is_type(parent, json_type_array)) {
			if (json_object_array_add(parent, v) < 0)
				json_object_put(v);
		} else if (!key || json_object_object_add(parent, key, v) < 0) {
			json_object_put(v);
		}
	}
	wipe_free(key);
}

static void open_container(struct json *j, struct json_object *c)
{
	if (c)
		json_object_set_serializer(c, container_text, NULL, NULL);
	if (j->too_deep || j->depth == JSON_MAX_DEPTH || !c) {
		/* deeper than the table: left out, the rest stays valid JSON */
		json_object_put(c);
		wipe_free(j->key);
		j->key = NULL;
		j->too_deep++;
		return;
	}
	add(j, json_object_get(c));
	j->open[j->depth++] = c;
	json_object_put(c);		/* the tree holds it */
}

static void close_container(struct json *j)
{
	if (j->too_deep)
		j->too_deep--;
	else if (j->depth)
		j->depth--;
}

void json_object_begin(struct json *j)
{
	open_container(j, json_object_new_object());
}

void json_object_end(struct json *j)
{
	close_container(j);
}

void json_array_begin(struct json *j)
{
	open_container(j, json_object_new_array());
}

void json_array_end(struct json *j)
{
	close_container(j);
}

void json_key(struct json *j, const char *key)
{
	wipe_free(j->key);
	j->key = valid_utf8(key);
}

void json_string(struct json *j, const char *s)
{
	char *valid;

	if (!s) {
		json_null(j);
		return;
	}
	valid = valid_utf8(s);
	add(j, valid ? json_object_new_string(valid) : NULL);
	wipe_free(valid);
}

void json_int(struct json *j, int64_t v)
{
	add(j, json_object_new_int64(v));
}

void json_uint(struct json *j, uint64_t v)
{
	add(j, json_object_new_uint64(v));
}

void json_double(struct json *j, double v)
{
	char text[32];

	/* JSON has no NaN or infinity; json-c would write them */
	if (!isfinite(v)) {
		json_null(j);
		return;
	}
	snprintf(text, sizeof(text), "%.17g", v);
	add(j, json_object_new_double_s(v, text));
}

void json_bool(struct json *j, bool v)
{
	add(j, json_object_new_boolean(v));
}

void json_null(struct json *j)
{
	add(j, NULL);
}

/* Strings may be names and NIRs: wiped before json-c frees them. */
static void wipe_strings(struct json_object *o)
{
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_string:
		explicit_bzero((char *)json_object_get_string(o),
				(size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		json_object_object_foreach(o, key, v) {
			(void)key;
			wipe_strings(v);
		}
		break;
	}
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			wipe_strings(json_object_array_get_idx(o, i));
		break;
	default:
		break;
	}
}

void json_finish(struct json *j)
{
	const char *text = j->root ? json_object_to_json_string_ext(j->root, JSON_FLAGS) : NULL;
	FILE *out = j->out;

	if (text) {
		fputs(text, out);
		explicit_bzero((char *)text, strlen(text));
	}
	fputc('\n', out);
	fflush(out);
	wipe_strings(j->root);
	json_object_put(j->root);
	wipe_free(j->key);
	json_init(j, out);
}
