/*
 * Configuration: INI-style "[Group]" and "Key = Value" lines, '#' or ';'
 * comments, in vitaled.conf and then its drop-ins (*.conf in name order;
 * later values win).  Every key is declared in a schema — the core groups
 * here, plugin groups in their descriptors — so an unknown key, a bad value
 * or a syntax error is caught at load time with "file:line: what is wrong".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "trust-update-conf.h"

static const struct vitaled_option config_general_options[] = {
	{ "EnablePlugins", VITALED_OPT_STRLIST, "", 0, 0 },
	{ "DisablePlugins", VITALED_OPT_STRLIST, "", 0, 0 },
	{ "StateDirectory", VITALED_OPT_STRING, STATEDIR, 0, 0 },
	{ NULL }
};

static const struct vitaled_option config_trust_options[] = {
	{ "Directory", VITALED_OPT_STRING, TRUSTDIR, 0, 0 },
	{ "AllowTestCards", VITALED_OPT_BOOL, "false", 0, 0 },
	/* trust bundles (daemon/trust-install.c) */
	{ "ListRootDirectory", VITALED_OPT_STRING, CONFIGDIR "/trust-list-root.d", 0, 0 },
	{ "DropDirectory", VITALED_OPT_STRING, STATEDIR "/trust-incoming", 0, 0 },
	{ "MaxAge", VITALED_OPT_INT, "0", 0, 315360000 },
	{ "StaleAction", VITALED_OPT_STRING, "warn", 0, 0 },
	{ NULL }
};

static const struct vitaled_option config_tokens_options[] = {
	{ "MaxAge", VITALED_OPT_INT, "120", 10, 3600 },
	{ "ClockSkew", VITALED_OPT_INT, "30", 0, 600 },
	{ "MaxInflatedSize", VITALED_OPT_INT, "65536", 1024, 1048576 },
	{ "DuplicateWindow", VITALED_OPT_INT, "3", 0, 60 },
	{ "ReplayCacheSize", VITALED_OPT_INT, "100000", 100, 10000000 },
	{ NULL }
};

static const struct vitaled_option config_chips_options[] = {
	{ "ReadTimeout", VITALED_OPT_INT, "5000", 100, 60000 },
	{ NULL }
};

static const struct vitaled_option config_dbus_options[] = {
	{ "ClientGroup", VITALED_OPT_STRING, "vitaled-clients", 0, 0 },
	{ "PhoneReadLifetime", VITALED_OPT_INT, "300", 10, 86400 },
	{ NULL }
};

static const struct config_schema core_schemas[] = {
	{ "General", config_general_options },
	{ "Trust", config_trust_options },
	{ "Tokens", config_tokens_options },
	{ "Chips", config_chips_options },
	{ "DBus", config_dbus_options },
	/* vitaled-trust-update's; checked here so a typo is caught at load */
	{ "TrustUpdate", vd_trust_update_options },
};

struct entry {
	char *group;
	char *key;
	char *value;
	struct entry *next;
};

struct config {
	struct entry *entries;	/* newest first: lookups see the last value set */
};

/* Parser state (vd_ini_parser.data) while a configuration loads. */
struct load {
	const struct config_schema *const *plugin_schemas;
	const struct config_schema *group;
	struct config *config;
};

static struct config *current;

static const struct config_schema *find_schema(const struct config_schema *const *plugins,
		const char *group)
{
	size_t i;

	for (i = 0; i < sizeof(core_schemas) / sizeof(core_schemas[0]); i++)
		if (!strcmp(core_schemas[i].group, group))
			return &core_schemas[i];
	for (; plugins && *plugins; plugins++)
		if (!strcmp((*plugins)->group, group))
			return *plugins;
	return NULL;
}

static const struct vitaled_option *find_option(const struct config_schema *schema,
		const char *key)
{
	const struct vitaled_option *opt;

	for (opt = schema->options; opt && opt->key; opt++)
		if (!strcmp(opt->key, key))
			return opt;
	return NULL;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_int(const char *v, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(v, &end, 10);
	if (errno || end == v || *end)
		return -EINVAL;
	return 0;
}

static int check_value(struct vd_ini_parser *p, const struct vitaled_option *opt,
		const char *value)
{
	bool b;
	long n;

	switch (opt->type) {
	case VITALED_OPT_BOOL:
		if (parse_bool(value, &b) < 0)
			return vd_ini_error(p, "%s: '%s' is not a boolean (true or false)",
					opt->key, value);
		break;
	case VITALED_OPT_INT:
		if (parse_int(value, &n) < 0)
			return vd_ini_error(p, "%s: '%s' is not a whole number", opt->key, value);
		if (n < opt->min || n > opt->max)
			return vd_ini_error(p, "%s: %ld is out of range (%ld to %ld)",
					opt->key, n, opt->min, opt->max);
		break;
	case VITALED_OPT_STRING:
	case VITALED_OPT_STRLIST:
		break;
	}
	return 0;
}

/* [General] plugin lists must name plugins that exist. */
static int check_plugin_names(struct vd_ini_parser *p, const struct vitaled_option *opt,
		const char *value)
{
	struct load *ld = p->data;
	const char *s = value;

	while (*s) {
		const struct config_schema *const *sc;
		char name[64];
		size_t n;

		s += strspn(s, " \t,");
		n = strcspn(s, " \t,");
		if (!n)
			break;
		snprintf(name, sizeof(name), "%.*s", (int)n, s);
		s += n;
		for (sc = ld->plugin_schemas; sc && *sc; sc++)
			if (!strcmp((*sc)->group, name))
				break;
		if (!sc || !*sc)
			return vd_ini_error(p, "%s: no plugin is called '%s'", opt->key, name);
	}
	return 0;
}

static int add_entry(struct load *ld, const char *key, const char *value)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->group = strdup(ld->group->group);
	e->key = strdup(key);
	e->value = strdup(value);
	if (!e->group || !e->key || !e->value) {
		free(e->group);
		free(e->key);
		free(e->value);
		free(e);
		return -ENOMEM;
	}
	e->next = ld->config->entries;
	ld->config->entries = e;
	return 0;
}

static int on_group(struct vd_ini_parser *p, const char *group)
{
	struct load *ld = p->data;

	if (!group) {
		ld->group = NULL;
		return 0;
	}
	ld->group = find_schema(ld->plugin_schemas, group);
	if (!ld->group)
		return vd_ini_error(p, "unknown group [%s]", group);
	return 0;
}

static int on_entry(struct vd_ini_parser *p, const char *key, const char *value)
{
	struct load *ld = p->data;
	const struct vitaled_option *opt;
	int err;

	if (!ld->group)
		return vd_ini_error(p, "'%s' is outside any [Group]", key);
	opt = find_option(ld->group, key);
	if (!opt)
		return vd_ini_error(p, "unknown key '%s' in [%s]", key, ld->group->group);
	err = check_value(p, opt, value);
	if (err < 0)
		return err;
	if (!strcmp(opt->key, "StaleAction") && strcmp(value, "warn") && strcmp(value, "refuse"))
		return vd_ini_error(p, "StaleAction: '%s' is neither warn nor refuse", value);
	if (opt->type == VITALED_OPT_STRLIST && ld->group == &core_schemas[0]) {
		err = check_plugin_names(p, opt, value);
		if (err < 0)
			return err;
	}
	return add_entry(ld, key, value);
}

static void on_warning(struct vd_ini_parser *p, const char *msg)
{
	vitaled_warn("%s", msg);
}

int config_load(const char *path, const char *dropin_dir, bool missing_ok,
		const struct config_schema *const *schemas,
		char *err, size_t err_len, struct config **out)
{
	struct load ld = { .plugin_schemas = schemas };
	struct vd_ini_parser p = {
		.on_group = on_group, .on_entry = on_entry, .on_warning = on_warning,
		.data = &ld, .strict = true, .err = err, .err_len = err_len,
	};
	int ret;

	ld.config = calloc(1, sizeof(*ld.config));
	if (!ld.config)
		return -ENOMEM;
	ret = vd_ini_parse_file(&p, path, missing_ok);
	if (ret == 0 && dropin_dir)
		ret = vd_ini_parse_dropins(&p, dropin_dir);
	if (ret < 0) {
		if (ret == -ENOMEM || ret == -ENAMETOOLONG)
			snprintf(err, err_len, "%s: %s", p.file ? p.file : path, strerror(-ret));
		config_free(ld.config);
		return ret;
	}
	*out = ld.config;
	return 0;
}

void config_free(struct config *config)
{
	struct entry *e, *next;

	if (!config)
		return;
	for (e = config->entries; e; e = next) {
		next = e->next;
		free(e->group);
		free(e->key);
		free(e->value);
		free(e);
	}
	free(config);
}

/* Core keys read once at start; every plugin key is too (plugins start once). */
static const struct {
	const char *group, *key;
} start_only_keys[] = {
	{ "General", "EnablePlugins" },
	{ "General", "DisablePlugins" },
	{ "General", "StateDirectory" },
	{ "Tokens", "ReplayCacheSize" },
};

static const struct entry *entry_in(const struct config *config, const char *group,
		const char *key)
{
	const struct entry *e;

	for (e = config ? config->entries : NULL; e; e = e->next)
		if (!strcmp(e->group, group) && !strcmp(e->key, key))
			return e;
	return NULL;
}

static const char *value_in(const struct config *config, const char *group,
		const struct vitaled_option *opt)
{
	const struct entry *e = entry_in(config, group, opt->key);

	return e ? e->value : opt->default_value;
}

static bool changed(const struct config *old, const struct config *new,
		const char *group, const struct vitaled_option *opt)
{
	const char *a = value_in(old, group, opt), *b = value_in(new, group, opt);

	return (a == NULL) != (b == NULL) || (a && strcmp(a, b));
}

/*
 * A reload applies what is read at use; say which changed keys wait for a
 * restart, so an admin is not left believing a reload applied them.
 */
static void warn_start_only_changes(const struct config *old, const struct config *new)
{
	const struct config_schema *const *plugins = plugin_schemas();
	const struct vitaled_option *opt;
	size_t i;

	for (i = 0; i < sizeof(start_only_keys) / sizeof(start_only_keys[0]); i++) {
		opt = find_option(find_schema(NULL, start_only_keys[i].group),
				start_only_keys[i].key);
		if (changed(old, new, start_only_keys[i].group, opt))
			vitaled_warn("config: [%s] %s changed: it takes effect at the next restart",
					start_only_keys[i].group, opt->key);
	}
	for (; plugins && *plugins; plugins++)
		for (opt = (*plugins)->options; opt && opt->key; opt++)
			if (changed(old, new, (*plugins)->group, opt))
				vitaled_warn("config: [%s] %s changed: it takes effect at the next "
						"restart", (*plugins)->group, opt->key);
}

void config_set_current(struct config *config)
{
	if (current && config)
		warn_start_only_changes(current, config);
	config_free(current);
	current = config;
}

static const struct vitaled_option *lookup_option(const char *group, const char *key)
{
	const struct config_schema *schema = find_schema(plugin_schemas(), group);

	return schema ? find_option(schema, key) : NULL;
}

/* Values returned stay valid until the next reload: callers copy what they keep. */
static const struct entry *find_entry(const char *group, const char *key)
{
	return entry_in(current, group, key);
}

bool config_is_set(const char *group, const char *key)
{
	return find_entry(group, key) != NULL;
}

const char *vitaled_config_string(const char *group, const char *key)
{
	const struct vitaled_option *opt;
	const struct entry *e = find_entry(group, key);

	if (e)
		return e->value;
	opt = lookup_option(group, key);
	return opt ? opt->default_value : NULL;
}

long vitaled_config_int(const char *group, const char *key)
{
	const char *v = vitaled_config_string(group, key);
	long n = 0;

	if (v && parse_int(v, &n) < 0)
		n = 0;
	return n;
}

bool vitaled_config_bool(const char *group, const char *key)
{
	const char *v = vitaled_config_string(group, key);
	bool b = false;

	if (v && parse_bool(v, &b) < 0)
		b = false;
	return b;
}
