/* The [TrustUpdate] keys of vitaled.conf (lib/trust-update-conf.c). */
#ifndef VITALED_TRUST_UPDATE_CONF_H
#define VITALED_TRUST_UPDATE_CONF_H

#include <vitaled/plugin.h>

/* terminated by { NULL } */
extern const struct vitaled_option vd_trust_update_options[];

#endif
