/*
 * Source plugins: the built-in ones (daemon/builtin.h, generated from the
 * build's plugin list) and external *.so files from the plugin directory,
 * each checked for our ABI version before anything in it runs.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "builtin.h"

#define MAX_PLUGINS 32

struct plugin {
	const struct vitaled_plugin_desc *desc;
	void *handle;		/* dlopen handle, NULL for built-ins */
	bool active;
	struct config_schema schema;
};

static struct plugin plugins[MAX_PLUGINS];
static unsigned int n_plugins;
static const struct config_schema *schema_list[MAX_PLUGINS + 1];

/* Sources still looking for the readers present at start. */
static struct {
	unsigned int pending;
	vitaled_callback_func ready;
	struct vitaled_timer *timer;
} enumeration;

static struct plugin *find_plugin(const char *name)
{
	unsigned int i;

	for (i = 0; i < n_plugins; i++)
		if (!strcmp(plugins[i].desc->name, name))
			return &plugins[i];
	return NULL;
}

static int add_plugin(const struct vitaled_plugin_desc *desc, void *handle, const char *where)
{
	if (desc->abi_version != VITALED_PLUGIN_ABI_VERSION) {
		vitaled_error("plugin %s: ABI version %u, this vitaled needs %u: not loaded",
				where, desc->abi_version, VITALED_PLUGIN_ABI_VERSION);
		return -EPROTO;
	}
	if (!desc->name || !desc->init) {
		vitaled_error("plugin %s: descriptor without a name or init: not loaded", where);
		return -EINVAL;
	}
	if (find_plugin(desc->name)) {
		vitaled_error("plugin %s: a plugin called '%s' is already loaded", where, desc->name);
		return -EEXIST;
	}
	if (n_plugins == MAX_PLUGINS) {
		vitaled_error("plugin %s: too many plugins (%d)", where, MAX_PLUGINS);
		return -ENOSPC;
	}
	plugins[n_plugins].desc = desc;
	plugins[n_plugins].handle = handle;
	plugins[n_plugins].schema.group = desc->name;
	plugins[n_plugins].schema.options = desc->options;
	schema_list[n_plugins] = &plugins[n_plugins].schema;
	n_plugins++;
	return 0;
}

static void load_external(const char *dir, const char *file)
{
	const struct vitaled_plugin_desc *desc;
	char path[PATH_MAX];
	void *handle;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		return;
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		vitaled_error("plugin %s: cannot load: %s", path, dlerror());
		return;
	}
	desc = dlsym(handle, "vitaled_plugin_desc");
	if (!desc) {
		vitaled_error("plugin %s: no vitaled_plugin_desc symbol: not a vitaled plugin", path);
		dlclose(handle);
		return;
	}
	if (add_plugin(desc, handle, path) < 0)
		dlclose(handle);
}

static int so_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 3 && !strcmp(d->d_name + n - 3, ".so");
}

int plugin_load_all(const char *dir)
{
	struct dirent **names;
	unsigned int i;
	int n, j;

	for (i = 0; builtin_plugins[i]; i++)
		add_plugin(builtin_plugins[i], NULL, builtin_plugins[i]->name);
	n = dir ? scandir(dir, &names, so_filter, alphasort) : -1;
	for (j = 0; j < n; j++) {
		load_external(dir, names[j]->d_name);
		free(names[j]);
	}
	if (n >= 0)
		free(names);
	return 0;
}

const struct config_schema *const *plugin_schemas(void)
{
	return schema_list;
}

static bool plugin_enabled(const char *name)
{
	const char *enable = vitaled_config_string("General", "EnablePlugins");
	const char *disable = vitaled_config_string("General", "DisablePlugins");

	if (enable && enable[strspn(enable, " \t,")] && !vd_list_contains(enable, name))
		return false;
	return !vd_list_contains(disable, name);
}

void plugin_print_list(FILE *out)
{
	unsigned int i;

	for (i = 0; i < n_plugins; i++)
		fprintf(out, "%s\t%s\t%s\t%s\n", plugins[i].desc->name,
				plugins[i].handle ? "external" : "built-in",
				plugins[i].desc->version ? plugins[i].desc->version : "",
				plugins[i].desc->description ? plugins[i].desc->description : "");
}

void vitaled_source_enumerating(void)
{
	enumeration.pending++;
}

static void enumeration_over(void *unused)
{
	vitaled_callback_func ready = enumeration.ready;

	vitaled_timer_remove(enumeration.timer);
	enumeration.timer = NULL;
	enumeration.ready = NULL;
	if (ready)
		ready(NULL);
}

void vitaled_source_enumerated(void)
{
	if (enumeration.pending && --enumeration.pending == 0)
		enumeration_over(NULL);
}

static void enumeration_timeout(void *unused)
{
	enumeration.timer = NULL;	/* a fired timer is freed by the loop */
	vitaled_warn("sources still looking for their readers; going on without them");
	enumeration_over(NULL);
}

void plugin_start(vitaled_callback_func ready, unsigned int max_ms)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < n_plugins; i++) {
		struct plugin *p = &plugins[i];
		int err;

		if (!plugin_enabled(p->desc->name)) {
			vitaled_debug("plugin %s: disabled by configuration", p->desc->name);
			continue;
		}
		err = p->desc->init();
		if (err < 0) {
			vitaled_warn("plugin %s: not started: %s", p->desc->name, strerror(-err));
			continue;
		}
		p->active = true;
		vitaled_debug("plugin %s: started", p->desc->name);
	}
	enumeration.ready = ready;
	/* ready runs from the loop (not running yet): it may have to quit it. */
	if (!enumeration.pending)
		ret = vitaled_post(enumeration_over, NULL);
	else if (!(enumeration.timer = vitaled_timer_add(max_ms, enumeration_timeout, NULL)))
		ret = -ENOMEM;
	if (ret < 0)
		enumeration_over(NULL);
}

void plugin_stop(void)
{
	unsigned int i = n_plugins;

	/* Reverse order of start, then unload external code. */
	while (i-- > 0) {
		struct plugin *p = &plugins[i];

		if (p->active && p->desc->exit)
			p->desc->exit();
		p->active = false;
	}
	for (i = 0; i < n_plugins; i++)
		if (plugins[i].handle)
			dlclose(plugins[i].handle);
	n_plugins = 0;
	memset(schema_list, 0, sizeof(schema_list));
}
