/*
 * pahoload.c - paho through dlopen, with or without TLS (pahoload.h says why).
 */
#include "pahoload.h"
#include "dlload.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The sonames of Debian's libpaho-mqtt1.3: MQTTAsync with and without OpenSSL. */
#define PAHO_TLS_SONAME "libpaho-mqtt3as.so.1"
#define PAHO_PLAIN_SONAME "libpaho-mqtt3a.so.1"

static struct paho_api api;
static const char *loaded; /* the soname in use, NULL before the first load */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * paho's own OpenSSL set-up costs about 3.5 MiB of resident memory and is
 * not needed: OpenSSL 3 initialises itself on first use, so a TLS path
 * still works without it.
 */
static void init_paho(__typeof__(MQTTAsync_global_init) *global_init)
{
    MQTTAsync_init_options io = MQTTAsync_init_options_initializer;

    io.do_openssl_init = 0;
    global_init(&io);
}

static int load(const char *soname, char *err, size_t errlen)
{
    __typeof__(MQTTAsync_global_init) *global_init;
    const struct dlload_sym syms[] = {
        { "MQTTAsync_global_init", &global_init },
        { "MQTTAsync_createWithOptions", &api.createWithOptions },
        { "MQTTAsync_setCallbacks", &api.setCallbacks },
        { "MQTTAsync_setConnected", &api.setConnected },
        { "MQTTAsync_connect", &api.connect },
        { "MQTTAsync_disconnect", &api.disconnect },
        { "MQTTAsync_destroy", &api.destroy },
        { "MQTTAsync_sendMessage", &api.sendMessage },
        { "MQTTAsync_subscribeMany", &api.subscribeMany },
        { "MQTTAsync_unsubscribeMany", &api.unsubscribeMany },
        { "MQTTAsync_getPendingTokens", &api.getPendingTokens },
        { "MQTTAsync_strerror", &api.strerror },
        { "MQTTAsync_malloc", &api.malloc },
        { "MQTTAsync_free", &api.free },
        { "MQTTAsync_freeMessage", &api.freeMessage },
    };
    char why[256];

    if (!dlload(soname, syms, sizeof(syms) / sizeof(syms[0]), why, sizeof(why))) {
        snprintf(err, errlen, "mqtt: cannot load the MQTT client library: %s (Debian's libpaho-mqtt1.3 has it)", why);
        return -1;
    }
    init_paho(global_init);
    loaded = soname;
    return 0;
}

int pahoload(bool tls, char *err, size_t errlen)
{
    int rc = 0;

    pthread_mutex_lock(&load_lock);
    if (!loaded)
        rc = load(tls ? PAHO_TLS_SONAME : PAHO_PLAIN_SONAME, err, errlen);
    else if (tls && strcmp(loaded, PAHO_TLS_SONAME) != 0) {
        snprintf(err, errlen, "mqtt: a TLS broker needs %s, but %s is in use; restart vigild", PAHO_TLS_SONAME,
                 loaded);
        rc = -1;
    }
    pthread_mutex_unlock(&load_lock);
    return rc;
}

const struct paho_api *paho(void)
{
    return &api;
}
