/*
 * The few vitaled.conf keys vitalectl needs when it works without the
 * daemon (diag, trust list).  Lenient on purpose: `vitaled --check-config`
 * is the validator; here a key we do not use is simply skipped.
 */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vitalectl.h"

#define DEFAULT_CONFIG	CONFIGDIR "/vitaled.conf"

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

static void set(char *dst, size_t size, const char *value)
{
	snprintf(dst, size, "%s", value);
}

static bool parse_bool(const char *v)
{
	return !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1");
}

static void apply(struct ctl_config *cfg, const char *group, const char *key, const char *value)
{
	if (!strcmp(group, "Trust") && !strcmp(key, "Directory"))
		set(cfg->trust_dir, sizeof(cfg->trust_dir), value);
	else if (!strcmp(group, "Trust") && !strcmp(key, "AllowTestCards"))
		cfg->allow_test_cards = parse_bool(value);
	else if (!strcmp(group, "DBus") && !strcmp(key, "ClientGroup"))
		set(cfg->client_group, sizeof(cfg->client_group), value);
	else if (!strcmp(group, "serial") && !strcmp(key, "Devices"))
		set(cfg->serial_devices, sizeof(cfg->serial_devices), value);
	else if (!strcmp(group, "General") && !strcmp(key, "EnablePlugins"))
		set(cfg->enable_plugins, sizeof(cfg->enable_plugins), value);
	else if (!strcmp(group, "General") && !strcmp(key, "DisablePlugins"))
		set(cfg->disable_plugins, sizeof(cfg->disable_plugins), value);
}

static int read_file(struct ctl_config *cfg, const char *path)
{
	char line[1024], group[64] = "", *s, *eq, *end;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			end = strchr(s, ']');
			if (end) {
				*end = '\0';
				set(group, sizeof(group), s + 1);
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq)
			continue;
		*eq = '\0';
		apply(cfg, group, trim(s), trim(eq + 1));
	}
	fclose(f);
	return 0;
}

void ctl_config_load(const char *path, struct ctl_config *cfg)
{
	char pattern[600];
	glob_t g;
	size_t i;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	set(cfg->trust_dir, sizeof(cfg->trust_dir), TRUSTDIR);
	set(cfg->client_group, sizeof(cfg->client_group), "vitaled-clients");
	set(cfg->path, sizeof(cfg->path), path ? path : DEFAULT_CONFIG);
	ret = read_file(cfg, cfg->path);
	cfg->found = ret == 0;
	/* no main file is fine (built-in defaults) unless it was asked for */
	if (ret < 0 && (path || ret != -ENOENT))
		snprintf(cfg->problem, sizeof(cfg->problem), "%s: %s", cfg->path, strerror(-ret));
	snprintf(pattern, sizeof(pattern), "%s.d/*.conf", cfg->path);
	if (glob(pattern, 0, NULL, &g) == 0) {
		/* glob sorts: later files win, as in the daemon */
		for (i = 0; i < g.gl_pathc; i++) {
			ret = read_file(cfg, g.gl_pathv[i]);
			if (ret < 0 && !cfg->problem[0])
				snprintf(cfg->problem, sizeof(cfg->problem), "%s: %s",
						g.gl_pathv[i], strerror(-ret));
		}
		globfree(&g);
	}
}

/* name in a comma-separated list */
static bool in_list(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *p = list;

	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (!strncmp(p, name, len) && (p[len] == '\0' || p[len] == ',' ||
				isspace((unsigned char)p[len])))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

bool ctl_config_plugin_enabled(const struct ctl_config *cfg, const char *plugin)
{
	if (cfg->enable_plugins[0] && !in_list(cfg->enable_plugins, plugin))
		return false;
	return !in_list(cfg->disable_plugins, plugin);
}
