/*
 * The few vitaled.conf keys vitalectl needs when it works without the
 * daemon (diag, trust list, token verify).  Lenient on purpose: `vitaled --check-config`
 * is the validator; here a key we do not use is simply skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "vitaled-core.h"
#include "vitalectl.h"

#define DEFAULT_CONFIG	CONFIGDIR "/vitaled.conf"

static void set(char *dst, size_t size, const char *value)
{
	snprintf(dst, size, "%s", value);
}

static bool parse_bool(const char *v)
{
	return !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1");
}

/* A number the daemon would take; anything else leaves the default. */
static void set_number(long *dst, const char *value, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (!errno && end != value && !*end && v >= min && v <= max)
		*dst = v;
}

static void apply(struct ctl_config *cfg, const char *group, const char *key, const char *value)
{
	if (!strcmp(group, "Tokens") && !strcmp(key, "ClockSkew"))
		set_number(&cfg->clock_skew, value, 0, 600);
	else if (!strcmp(group, "Tokens") && !strcmp(key, "MaxAge"))
		set_number(&cfg->token_max_age, value, 10, 3600);
	else if (!strcmp(group, "Tokens") && !strcmp(key, "MaxInflatedSize"))
		set_number(&cfg->token_max_inflated, value, 1024, 1048576);
	else if (!strcmp(group, "Trust") && !strcmp(key, "Directory"))
		set(cfg->trust_dir, sizeof(cfg->trust_dir), value);
	else if (!strcmp(group, "Trust") && !strcmp(key, "ListRootDirectory"))
		set(cfg->list_root_dir, sizeof(cfg->list_root_dir), value);
	else if (!strcmp(group, "Trust") && !strcmp(key, "AllowTestCards"))
		cfg->allow_test_cards = parse_bool(value);
	else if (!strcmp(group, "DBus") && !strcmp(key, "ClientGroup"))
		set(cfg->client_group, sizeof(cfg->client_group), value);
	else if (!strcmp(group, "serial") && !strcmp(key, "Devices"))
		set(cfg->serial_devices, sizeof(cfg->serial_devices), value);
	else if (!strcmp(group, "wedge") && !strcmp(key, "Devices"))
		set(cfg->wedge_devices, sizeof(cfg->wedge_devices), value);
	else if (!strcmp(group, "wedge") && !strcmp(key, "PassThrough"))
		set(cfg->wedge_pass_through, sizeof(cfg->wedge_pass_through), value);
	else if (!strcmp(group, "General") && !strcmp(key, "StateDirectory"))
		set(cfg->state_dir, sizeof(cfg->state_dir), value);
	else if (!strcmp(group, "General") && !strcmp(key, "EnablePlugins"))
		set(cfg->enable_plugins, sizeof(cfg->enable_plugins), value);
	else if (!strcmp(group, "General") && !strcmp(key, "DisablePlugins"))
		set(cfg->disable_plugins, sizeof(cfg->disable_plugins), value);
}

/* Parser state: the group we are in (vd_ini_parser.data). */
struct read {
	struct ctl_config *cfg;
	char group[64];
};

static int on_group(struct vd_ini_parser *p, const char *group)
{
	struct read *rd = p->data;

	set(rd->group, sizeof(rd->group), group ? group : "");
	return 0;
}

static int on_entry(struct vd_ini_parser *p, const char *key, const char *value)
{
	struct read *rd = p->data;

	apply(rd->cfg, rd->group, key, value);
	return 0;
}

void ctl_config_load(const char *path, struct ctl_config *cfg)
{
	struct read rd = { .cfg = cfg };
	struct vd_ini_parser p = { .on_group = on_group, .on_entry = on_entry, .data = &rd,
				   .err = cfg->problem, .err_len = sizeof(cfg->problem) };
	char dropins[600];
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->clock_skew = cfg->token_max_age = cfg->token_max_inflated = -1;
	snprintf(cfg->wedge_pass_through, sizeof(cfg->wedge_pass_through), "keyboard");
	set(cfg->trust_dir, sizeof(cfg->trust_dir), TRUSTDIR);
	set(cfg->list_root_dir, sizeof(cfg->list_root_dir), CONFIGDIR "/trust-list-root.d");
	set(cfg->state_dir, sizeof(cfg->state_dir), STATEDIR);
	set(cfg->client_group, sizeof(cfg->client_group), "vitaled-clients");
	set(cfg->path, sizeof(cfg->path), path ? path : DEFAULT_CONFIG);
	/* no main file is fine (built-in defaults) unless it was asked for */
	ret = vd_ini_parse_file(&p, cfg->path, !path);
	cfg->found = ret == 0 && access(cfg->path, F_OK) == 0;
	snprintf(dropins, sizeof(dropins), "%s.d", cfg->path);
	/* a drop-in that cannot be opened is reported in cfg->problem */
	vd_ini_parse_dropins(&p, dropins);
}

bool ctl_config_plugin_enabled(const struct ctl_config *cfg, const char *plugin)
{
	if (cfg->enable_plugins[0] && !vd_list_contains(cfg->enable_plugins, plugin))
		return false;
	return !vd_list_contains(cfg->disable_plugins, plugin);
}
