/*
 * An external plugin for tests: loaded from the plugin directory, it
 * announces one reader so a test can see that it ran.  Built twice, once
 * with a wrong ABI version, to check that such a plugin is refused.
 */
#include <vitaled/plugin.h>

#ifdef WRONG_ABI
#undef VITALED_PLUGIN_ABI_VERSION
#define VITALED_PLUGIN_ABI_VERSION 999
#endif

static struct vitaled_reader *reader;

static const struct vitaled_option options[] = {
	{ "Greeting", VITALED_OPT_STRING, "hello", 0, 0 },
	{ NULL }
};

static int external_init(void)
{
	vitaled_info("external test plugin: %s", vitaled_config_string("external", "Greeting"));
	reader = vitaled_reader_add("test-external", "External test reader",
			VITALED_READER_QR_SERIAL);
	return reader ? 0 : -1;
}

static void external_exit(void)
{
	vitaled_reader_remove(reader);
}

#ifdef WRONG_ABI
VITALED_PLUGIN_DEFINE(wrongabi, "test plugin, wrong ABI", "1", options, external_init, external_exit)
#else
VITALED_PLUGIN_DEFINE(external, "test plugin", "1", options, external_init, external_exit)
#endif
