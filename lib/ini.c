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

static int parse_line(struct vd_ini_parser *p, char *line)
{
	char *s = trim(line), *eq;

	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		char *close = strchr(s, ']');

		if (!close || close[1] != '\0')
			return p->strict ? vd_ini_error(p, "a group header must look like [Group]") : 0;
		*close = '\0';
		return p->on_group(p, trim(s + 1));
	}
	eq = strchr(s, '=');
	if (!eq)
		return p->strict ? vd_ini_error(p, "expected 'Key = Value' or [Group]") : 0;
	*eq = '\0';
	return p->on_entry(p, trim(s), trim(eq + 1));
}

int vd_ini_parse_file(struct vd_ini_parser *p, const char *path, bool missing_ok)
{
	char line[MAX_LINE + 2];
	FILE *f;
	int err = 0;

	p->file = path;
	p->line = 0;
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && missing_ok)
			return 0;
		err = -errno;
		vd_ini_error(p, "cannot open: %s", strerror(-err));
		return err;
	}
	/* Every file starts outside any group. */
	err = p->on_group(p, NULL);
	while (!err && fgets(line, sizeof(line), f)) {
		p->line++;
		if (!strchr(line, '\n') && !feof(f)) {
			err = vd_ini_error(p, "line longer than %d characters", MAX_LINE);
			break;
		}
		line[strcspn(line, "\n")] = '\0';
		err = parse_line(p, line);
	}
	fclose(f);
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
