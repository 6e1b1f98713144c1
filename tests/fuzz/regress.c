/*
 * Replays a fuzz target's corpus without libFuzzer (so `make check` runs
 * it with any compiler, under the sanitizers when configured so).
 *   regress-NAME [FILE|DIR]...   default: $top_srcdir/tests/fuzz/corpus/NAME
 * One TAP line per input; a crash or sanitizer report fails the test.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"

#define INPUT_MAX	(1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void replay_file(const char *path)
{
	uint8_t *buf;
	size_t n;
	FILE *f;

	f = fopen(path, "rb");
	buf = malloc(INPUT_MAX);
	if (!f || !buf) {
		tap_ok(0, "%s: %s", path, f ? "out of memory" : strerror(errno));
		if (f)
			fclose(f);
		free(buf);
		return;
	}
	n = fread(buf, 1, INPUT_MAX, f);
	fclose(f);
	/* An exact-size copy, so reading one byte too far is caught. */
	buf = realloc(buf, n ? n : 1);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	tap_ok(1, "%s (%zu bytes)", path, n);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void replay(const char *path)
{
	struct dirent **names;
	struct stat st;
	int n, i;

	if (stat(path, &st)) {
		tap_ok(0, "%s: %s", path, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		replay_file(path);
		return;
	}
	n = scandir(path, &names, NULL, by_name);
	if (n < 0) {
		tap_ok(0, "%s: %s", path, strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		char *p;

		if (names[i]->d_name[0] != '.' &&
				asprintf(&p, "%s/%s", path, names[i]->d_name) >= 0) {
			replay_file(p);
			free(p);
		}
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	const char *src = getenv("top_srcdir");
	char *dir;
	int i;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			replay(argv[i]);
	} else if (asprintf(&dir, "%s/tests/fuzz/corpus/%s", src ? src : ".",
			FUZZ_NAME) >= 0) {
		replay(dir);
		free(dir);
	}
	if (!tap_count)
		tap_ok(0, "no corpus for %s", FUZZ_NAME);
	return tap_done();
}
