/*
 * The configuration file syntax shared by vitaled and vitalectl: "[Group]"
 * headers, "Key = Value" lines, '#' or ';' comments, a main file followed
 * by drop-ins in name order.  This file only tokenizes; what a group or key
 * means is the caller's business (the daemon validates strictly, vitalectl
 * reads leniently).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vitaled-core.h"

#define MAX_LINE 1024
#define MAX_SEEN 1024	/* groups and keys tracked per file for duplicates (~40 exist) */

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int vd_ini_error(struct vd_ini_parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || !p->err_len)
		return -EINVAL;
	n = snprintf(p->err, p->err_len, "%s:%u: ", p->file, p->line);
	if (n < 0 || (size_t)n >= p->err_len)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->err_len - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * What one file has set so far, to warn about a group or key given twice
 * in it: the later one silently wins, which is rarely what was meant.
 * (A drop-in overriding the main file is the point of drop-ins: no warning.)
 */
struct seen {
	char **names;		/* "[Group]" or "Group\nKey" */
	unsigned int *lines;
	size_t n, cap;
	char group[MAX_LINE + 1];
};

static void seen_clear(struct seen *seen)
{
	size_t i;

	for (i = 0; i < seen->n; i++)
		free(seen->names[i]);
	free(seen->names);
	free(seen->lines);
}

static int warning(struct vd_ini_parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int warning(struct vd_ini_parser *p, const char *fmt, ...)
{
	char msg[MAX_LINE + 256];
	va_list ap;
	int n;

	if (!p->on_warning)
		return 0;
	n = snprintf(msg, sizeof(msg), "%s:%u: ", p->file, p->line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	p->on_warning(p, msg);
	return 0;
}

/* 0 after warning if name was seen in this file before; -ENOMEM */
static int note(struct vd_ini_parser *p, struct seen *seen, const char *group,
		const char *key)
{
	size_t i, len = strlen(group) + (key ? strlen(key) + 2 : 3);
	char *name = malloc(len);

	if (!name)
		return -ENOMEM;
	if (key)
		snprintf(name, len, "%s\n%s", group, key);
	else
		snprintf(name, len, "[%s]", group);
	for (i = 0; i < seen->n; i++) {
		if (strcmp(seen->names[i], name))
			continue;
		free(name);
		if (key)
			return warning(p, "'%s' is set again in [%s] (first at line %u): "
					"the last value wins", key, group, seen->lines[i]);
		return warning(p, "[%s] appears again (first at line %u)", group,
				seen->lines[i]);
	}
	if (seen->n == MAX_SEEN) {
		free(name);
		return 0;
	}
	if (seen->n == seen->cap) {
		size_t cap = seen->cap ? 2 * seen->cap : 16;
		char **names = realloc(seen->names, cap * sizeof(*names));
		unsigned int *lines;

		if (names)
			seen->names = names;
		lines = names ? realloc(seen->lines, cap * sizeof(*lines)) : NULL;
		if (!lines) {
			free(name);
			return -ENOMEM;
		}
		seen->lines = lines;
		seen->cap = cap;
	}
	seen->names[seen->n] = name;
	seen->lines[seen->n++] = p->line;
	return 0;
}

static int parse_line(struct vd_ini_parser *p, struct seen *seen, char *line)
{
	char *s = trim(line), *eq;
	int err;

	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		char *close = strchr(s, ']');

		if (!close || close[1] != '\0')
			return p->strict ? vd_ini_error(p, "a group header must look like [Group]") : 0;
		*close = '\0';
		s = trim(s + 1);
		snprintf(seen->group, sizeof(seen->group), "%s", s);
		err = note(p, seen, s, NULL);
		return err < 0 ? err : p->on_group(p, s);
	}
	eq = strchr(s, '=');
	if (!eq)
		return p->strict ? vd_ini_error(p, "expected 'Key = Value' or [Group]") : 0;
	*eq = '\0';
	s = trim(s);
	err = note(p, seen, seen->group, s);
	return err < 0 ? err : p->on_entry(p, s, trim(eq + 1));
}

/* One line without its '\n' into line (MAX_LINE + 1 bytes): its length,
 * -ENODATA at the end of the file, -E2BIG, or -EIO. */
static ssize_t read_line(FILE *f, char *line)
{
	size_t n = 0;
	int c;

	while ((c = getc(f)) != EOF && c != '\n') {
		if (n == MAX_LINE)
			return -E2BIG;
		line[n++] = (char)c;
	}
	if (c == EOF && ferror(f))
		return -EIO;
	if (c == EOF && n == 0)
		return -ENODATA;
	line[n] = '\0';
	return (ssize_t)n;
}

int vd_ini_parse_file(struct vd_ini_parser *p, const char *path, bool missing_ok)
{
	char line[MAX_LINE + 1];
	struct seen seen = { 0 };
	ssize_t len;
	int err = 0;
	FILE *f;

	p->file = path;
	p->line = 0;
	/* a FIFO or device named as configuration must not hang the reader */
	f = vd_fopen_regular(path, &err);
	if (!f) {
		if (err == -ENOENT && missing_ok)
			return 0;
		vd_ini_error(p, "cannot open: %s", vd_open_strerror(err));
		return err;
	}
	/* Every file starts outside any group. */
	err = p->on_group(p, NULL);
	while (!err) {
		p->line++;
		errno = 0;
		len = read_line(f, line);
		if (len == -ENODATA)
			break;
		if (len == -EIO)
			err = vd_ini_error(p, "read error: %s", strerror(errno ? errno : EIO));
		else if (len == -E2BIG)
			err = vd_ini_error(p, "line longer than %d characters", MAX_LINE);
		else if (strlen(line) != (size_t)len)
			err = vd_ini_error(p, "NUL byte at column %zu: not a text file",
					strlen(line) + 1);
		else
			err = parse_line(p, &seen, line);
	}
	fclose(f);
	seen_clear(&seen);
	return err;
}

static int conf_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".conf");
}

int vd_ini_parse_dropins(struct vd_ini_parser *p, const char *dir)
{
	struct dirent **names;
	int i, n, err = 0;

	n = scandir(dir, &names, conf_filter, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	for (i = 0; i < n; i++) {
		char path[PATH_MAX];

		if (!err) {
			if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >=
					(int)sizeof(path))
				err = -ENAMETOOLONG;
			else
				err = vd_ini_parse_file(p, path, false);
		}
		free(names[i]);
	}
	free(names);
	return err;
}

bool vd_list_contains(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *s = list;

	while (s && *s) {
		size_t n;

		s += strspn(s, " \t,");
		n = strcspn(s, " \t,");
		if (n == len && !strncmp(s, name, n))
			return true;
		s += n;
	}
	return false;
}
