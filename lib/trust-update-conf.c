/*
 * The [TrustUpdate] group of vitaled.conf: read by vitaled-trust-update,
 * checked by the daemon too (it refuses a configuration with an unknown
 * group or key), so both use this one table.
 */
#include "trust-update-conf.h"

const struct vitaled_option vd_trust_update_options[] = {
	{ "URL", VITALED_OPT_STRING, "", 0, 0 },
	{ "CAFile", VITALED_OPT_STRING, "", 0, 0 },
	{ "MaxSize", VITALED_OPT_INT, "16777216", 4096, 67108864 },
	{ "ConnectTimeout", VITALED_OPT_INT, "30", 1, 600 },
	{ "Timeout", VITALED_OPT_INT, "600", 1, 3600 },
	{ "LowSpeedLimit", VITALED_OPT_INT, "1024", 1, 1048576 },
	{ "LowSpeedTime", VITALED_OPT_INT, "60", 1, 3600 },
	{ "InstallTimeout", VITALED_OPT_INT, "120", 0, 3600 },
	{ NULL }
};
