/*
 * vitalectl's JSON writer (tools/json.c): commas, nesting and escaping —
 * every byte sequence must come out as valid JSON.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define FFFD "\xef\xbf\xbd"
#include "../../tools/vitalectl.h"

/* Runs build() on a writer into memory; returns the text (caller frees). */
static char *render(void (*build)(struct json *j, const void *arg), const void *arg)
{
	struct json j;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	json_init(&j, f);
	build(&j, arg);
	json_finish(&j);
	fclose(f);
	return buf;
}

static void one_string(struct json *j, const void *arg)
{
	json_string(j, arg);
}

static void check_string(const char *in, const char *want, const char *name)
{
	char *got = render(one_string, in);
	char expect[256];

	snprintf(expect, sizeof(expect), "%s\n", want);
	if (!tap_ok(!strcmp(got, expect), "string: %s", name))
		printf("#   got  %s#   want %s", got, expect);
	free(got);
}

static void nested(struct json *j, const void *arg)
{
	(void)arg;
	json_object_begin(j);
	json_key_string(j, "a", "x");
	json_key(j, "list");
	json_array_begin(j);
	json_int(j, -3);
	json_uint(j, 18446744073709551615ULL);
	json_bool(j, true);
	json_null(j);
	json_object_begin(j);
	json_object_end(j);
	json_array_begin(j);
	json_array_end(j);
	json_double(j, NAN);
	json_string(j, NULL);
	json_array_end(j);
	json_key_bool(j, "b", false);
	json_key_uint(j, "n", 7);
	json_object_end(j);
}

static void two_documents(struct json *j, const void *arg)
{
	(void)arg;
	json_array_begin(j);
	json_int(j, 1);
	json_array_end(j);
	json_finish(j);
	/* the writer starts afresh: no stray comma before the second one */
	json_array_begin(j);
	json_int(j, 2);
	json_array_end(j);
}

/* Deeper than JSON_MAX_DEPTH: the levels beyond are left out, the
 * document stays valid and what follows keeps its place. */
static void too_deep(struct json *j, const void *arg)
{
	int i;

	(void)arg;
	json_object_begin(j);
	json_key(j, "deep");
	for (i = 0; i < JSON_MAX_DEPTH + 3; i++)
		json_array_begin(j);
	json_int(j, 1);
	for (i = 0; i < JSON_MAX_DEPTH + 3; i++)
		json_array_end(j);
	json_key_string(j, "after", "x");
	json_key(j, "d");
	json_double(j, 0.1);
	json_object_end(j);
}

int main(void)
{
	char *got;

	check_string("plain", "\"plain\"", "plain ASCII");
	check_string("a\"b\\c/d", "\"a\\\"b\\\\c/d\"", "quote and backslash");
	/* json-c's escapes: \b as \b, DEL as it is (both valid JSON) */
	check_string("\n\r\t\b\x01\x1f\x7f", "\"\\n\\r\\t\\b\\u0001\\u001f\x7f\"",
			"control characters escaped, DEL kept");
	check_string("L\xc3\xa9" "a \xe2\x82\xac \xf0\x9f\x98\x80", "\"L\xc3\xa9" "a \xe2\x82\xac "
			"\xf0\x9f\x98\x80\"", "valid 2, 3 and 4-byte UTF-8 kept");
	/* every invalid byte becomes U+FFFD, written as UTF-8 */
	check_string("\xff\xfe", "\"" FFFD FFFD "\"", "invalid bytes replaced");
	check_string("\xc0\x80", "\"" FFFD FFFD "\"", "overlong NUL refused");
	check_string("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\"", "overlong 3-byte refused");
	check_string("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"", "UTF-16 surrogate refused");
	check_string("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"", "beyond U+10FFFF refused");
	check_string("\xc3", "\"" FFFD "\"", "truncated sequence at the end");
	check_string("\xe2\x82" "x", "\"" FFFD FFFD "x\"", "truncated sequence before ASCII");
	check_string("a\\\"\x7f\xff", "\"a\\\\\\\"\x7f" FFFD "\"", "escapes beside a replacement");

	got = render(nested, NULL);
	tap_ok(!strcmp(got, "{\"a\": \"x\", \"list\": [-3, 18446744073709551615, true, null, {}, "
			"[], null, null], \"b\": false, \"n\": 7}\n"), "nesting and commas");
	printf("#   %s", got);
	free(got);

	got = render(too_deep, NULL);
	tap_ok(!strcmp(got, "{\"deep\": [[[[[[[[[[[[[[[]]]]]]]]]]]]]]], \"after\": \"x\", "
			"\"d\": 0.10000000000000001}\n"), "deeper than the table: left out, valid");
	printf("#   %s", got);
	free(got);

	got = render(two_documents, NULL);
	tap_ok(!strcmp(got, "[1]\n[2]\n"), "one document per line, independent");
	free(got);
	return tap_done();
}
