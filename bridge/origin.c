/*
 * Which web origins may use the bridge: the admin's allow-list, one exact
 * origin a line in root-owned files.  Read again for every connection (a
 * host lives as long as one page), so an edit takes effect at the next one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge.h"

#define LINE_MAX_LEN	512

/* One DNS label: 1-63 of [a-z0-9-], no hyphen at either end. */
static const char *label_end(const char *p)
{
	const char *start = p;

	while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')
		p++;
	if (p == start || p - start > 63 || *start == '-' || p[-1] == '-')
		return NULL;
	return p;
}

/* Browsers serialise an origin lower-case, without a default port and
 * without a path: anything else can never be what they report. */
bool origin_valid(const char *origin)
{
	const char *p;
	size_t len = strnlen(origin, BRIDGE_ORIGIN_MAX + 1);
	unsigned long port;
	char *end;

	if (len > BRIDGE_ORIGIN_MAX || strncmp(origin, "https://", 8))
		return false;
	p = origin + 8;
	for (;;) {
		p = label_end(p);
		if (!p)
			return false;
		if (*p != '.')
			break;
		p++;
	}
	if (p - origin - 8 > 253)
		return false;
	if (!*p)
		return true;
	if (*p != ':' || p[1] < '1' || p[1] > '9')
		return false;
	errno = 0;
	port = strtoul(p + 1, &end, 10);
	return !errno && !*end && end - p - 1 <= 5 && port <= 65535 && port != 443;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Only what root alone can have written counts. */
static bool trusted(const struct stat *st, const char *what, const char *name)
{
	if (st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH)))
		return true;
	bridge_log(LOG_WARNING, "allow-list %s %s ignored: not root-owned or writable by others",
			what, name);
	return false;
}

static bool file_allows(int dirfd, const char *name, const char *origin)
{
	char line[LINE_MAX_LEN + 2];
	bool found = false, skipping = false;
	unsigned int lineno = 0;
	struct stat st;
	FILE *f;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		bridge_log(LOG_WARNING, "allow-list file %s ignored: %s", name, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !trusted(&st, "file", name)) {
		close(fd);
		return false;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return false;
	}
	while (!found && fgets(line, sizeof(line), f)) {
		bool whole = strchr(line, '\n') || feof(f);
		char *s;

		if (skipping) {		/* the rest of an over-long line */
			skipping = !whole;
			continue;
		}
		lineno++;
		if (!whole) {
			bridge_log(LOG_WARNING, "allow-list %s:%u: line too long, ignored",
					name, lineno);
			skipping = true;
			continue;
		}
		s = trim(line);
		if (!*s || *s == '#')
			continue;
		if (!origin_valid(s)) {
			bridge_log(LOG_WARNING, "allow-list %s:%u: not an exact https origin, ignored",
					name, lineno);
			continue;
		}
		found = !strcmp(s, origin);
	}
	fclose(f);
	return found;
}

static bool conf_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && !strcmp(name + n - 5, ".conf");
}

bool origin_allowed(const char *origin)
{
	const char *dir = getenv(BRIDGE_ALLOW_DIR_ENV);
	bool found = false;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	if (!dir || !*dir)
		dir = CONFIGDIR "/web.d";
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		/* no directory: nothing allowed, the default */
		if (errno != ENOENT)
			bridge_log(LOG_WARNING, "allow-list %s unreadable: %s", dir, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) < 0 || !trusted(&st, "directory", dir)) {
		close(fd);
		return false;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	while (!found && (de = readdir(d)))
		if (conf_name(de->d_name))
			found = file_allows(dirfd(d), de->d_name, origin);
	closedir(d);
	return found;
}
