/*
 * Configuration: INI-style "[Group]" and "Key = Value" lines, '#' or ';'
 * comments, in vitaled.conf and then its drop-ins (*.conf in name order;
 * later values win).  Every key is declared in a schema — the core groups
 * here, plugin groups in their descriptors — so an unknown key, a bad value
 * or a syntax error is caught at load time with "file:line: what is wrong".
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

#define MAX_LINE 1024

const struct vitaled_option config_general_options[] = {
	{ "EnablePlugins", VITALED_OPT_STRLIST, "", 0, 0 },
	{ "DisablePlugins", VITALED_OPT_STRLIST, "", 0, 0 },
	{ "StateDirectory", VITALED_OPT_STRING, STATEDIR, 0, 0 },
	{ NULL }
};

const struct vitaled_option config_trust_options[] = {
	{ "Directory", VITALED_OPT_STRING, TRUSTDIR, 0, 0 },
	{ "AllowTestCards", VITALED_OPT_BOOL, "false", 0, 0 },
	{ NULL }
};

const struct vitaled_option config_tokens_options[] = {
	{ "MaxAge", VITALED_OPT_INT, "120", 10, 3600 },
	{ "ClockSkew", VITALED_OPT_INT, "30", 0, 600 },
	{ "MaxInflatedSize", VITALED_OPT_INT, "65536", 1024, 1048576 },
	{ "DuplicateWindow", VITALED_OPT_INT, "3", 0, 60 },
	{ "ReplayCacheSize", VITALED_OPT_INT, "100000", 100, 10000000 },
	{ NULL }
};

const struct vitaled_option config_chips_options[] = {
	{ "ReadTimeout", VITALED_OPT_INT, "5000", 100, 60000 },
	{ NULL }
};

const struct vitaled_option config_dbus_options[] = {
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

struct parse {
	const char *file;
	unsigned int line;
	const struct config_schema *const *plugin_schemas;
	const struct config_schema *group;
	char *err;
	size_t err_len;
	struct config *config;
};

static struct config *current;

static int parse_error(struct parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int parse_error(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(p->err, p->err_len, "%s:%u: ", p->file, p->line);
	if (n < 0 || (size_t)n >= p->err_len)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->err_len - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

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

static int check_value(struct parse *p, const struct vitaled_option *opt, const char *value)
{
	bool b;
	long n;

	switch (opt->type) {
	case VITALED_OPT_BOOL:
		if (parse_bool(value, &b) < 0)
			return parse_error(p, "%s: '%s' is not a boolean (true or false)",
					opt->key, value);
		break;
	case VITALED_OPT_INT:
		if (parse_int(value, &n) < 0)
			return parse_error(p, "%s: '%s' is not a whole number", opt->key, value);
		if (n < opt->min || n > opt->max)
			return parse_error(p, "%s: %ld is out of range (%ld to %ld)",
					opt->key, n, opt->min, opt->max);
		break;
	case VITALED_OPT_STRING:
	case VITALED_OPT_STRLIST:
		break;
	}
	return 0;
}

/* [General] plugin lists must name plugins that exist. */
static int check_plugin_names(struct parse *p, const struct vitaled_option *opt,
		const char *value)
{
	char buf[MAX_LINE + 1], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const char *name = trim(tok);
		const struct config_schema *const *s;

		if (!*name)
			continue;
		for (s = p->plugin_schemas; s && *s; s++)
			if (!strcmp((*s)->group, name))
				break;
		if (!s || !*s)
			return parse_error(p, "%s: no plugin is called '%s'", opt->key, name);
	}
	return 0;
}

static int add_entry(struct parse *p, const char *key, const char *value)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->group = strdup(p->group->group);
	e->key = strdup(key);
	e->value = strdup(value);
	if (!e->group || !e->key || !e->value) {
		free(e->group);
		free(e->key);
		free(e->value);
		free(e);
		return -ENOMEM;
	}
	e->next = p->config->entries;
	p->config->entries = e;
	return 0;
}

static int parse_line(struct parse *p, char *line)
{
	const struct vitaled_option *opt;
	char *s = trim(line), *eq, *key, *value;
	int err;

	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		char *close = strchr(s, ']');

		if (!close || close[1] != '\0')
			return parse_error(p, "a group header must look like [Group]");
		*close = '\0';
		p->group = find_schema(p->plugin_schemas, trim(s + 1));
		if (!p->group)
			return parse_error(p, "unknown group [%s]", trim(s + 1));
		return 0;
	}
	eq = strchr(s, '=');
	if (!eq)
		return parse_error(p, "expected 'Key = Value' or [Group]");
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	if (!p->group)
		return parse_error(p, "'%s' is outside any [Group]", key);
	opt = find_option(p->group, key);
	if (!opt)
		return parse_error(p, "unknown key '%s' in [%s]", key, p->group->group);
	err = check_value(p, opt, value);
	if (err < 0)
		return err;
	if (opt->type == VITALED_OPT_STRLIST && p->group == &core_schemas[0]) {
		err = check_plugin_names(p, opt, value);
		if (err < 0)
			return err;
	}
	return add_entry(p, key, value);
}

static int parse_file(struct parse *p, const char *path, bool missing_ok)
{
	char line[MAX_LINE + 2];
	FILE *f;
	int err = 0;

	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && missing_ok)
			return 0;
		p->file = path;
		p->line = 0;
		return parse_error(p, "cannot open: %s", strerror(errno));
	}
	p->file = path;
	p->line = 0;
	p->group = NULL;	/* every file starts outside any group */
	while (fgets(line, sizeof(line), f)) {
		p->line++;
		if (!strchr(line, '\n') && !feof(f)) {
			err = parse_error(p, "line longer than %d characters", MAX_LINE);
			break;
		}
		line[strcspn(line, "\n")] = '\0';
		err = parse_line(p, line);
		if (err < 0)
			break;
	}
	fclose(f);
	return err;
}

static int conf_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".conf");
}

static int parse_dropins(struct parse *p, const char *dir)
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
				err = parse_file(p, path, false);
		}
		free(names[i]);
	}
	free(names);
	return err;
}

int config_load(const char *path, const char *dropin_dir, bool missing_ok,
		const struct config_schema *const *schemas,
		char *err, size_t err_len, struct config **out)
{
	struct parse p = { .plugin_schemas = schemas, .err = err, .err_len = err_len };
	int ret;

	p.config = calloc(1, sizeof(*p.config));
	if (!p.config)
		return -ENOMEM;
	ret = parse_file(&p, path, missing_ok);
	if (ret == 0 && dropin_dir)
		ret = parse_dropins(&p, dropin_dir);
	if (ret < 0) {
		if (ret != -EINVAL)
			snprintf(err, err_len, "%s: %s", path, strerror(-ret));
		config_free(p.config);
		return ret;
	}
	*out = p.config;
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

void config_set_current(struct config *config)
{
	config_free(current);
	current = config;
}

struct config *config_current(void)
{
	return current;
}

static const struct vitaled_option *lookup_option(const char *group, const char *key)
{
	const struct config_schema *schema = find_schema(plugin_schemas(), group);

	return schema ? find_option(schema, key) : NULL;
}

/* Values returned stay valid until the next reload: callers copy what they keep. */
const char *vitaled_config_string(const char *group, const char *key)
{
	const struct vitaled_option *opt;
	struct entry *e;

	for (e = current ? current->entries : NULL; e; e = e->next)
		if (!strcmp(e->group, group) && !strcmp(e->key, key))
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
