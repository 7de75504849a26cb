/*
 * pahoload.h - paho's MQTT client, loaded when the first MQTT client starts.
 *
 * paho comes in two variants with the same functions: libpaho-mqtt3as
 * (TLS) links OpenSSL, whose libssl and libcrypto cost about 2 MiB of
 * resident memory in every vigild, libpaho-mqtt3a does not. vigild opens
 * the TLS variant with dlopen() only when a broker uri asks for TLS
 * (mqtt_tls_uri()) and calls paho through this table. The choice made at
 * start is final: MQTT settings take effect only at a restart (mqtt_sink.c),
 * and two variants in one process would share symbol names. The library is
 * never unloaded (paho starts threads).
 *
 * The MQTTAsync_*_initializer macros of <MQTTAsync.h> are used as they are.
 */
#ifndef VIGIL_PAHOLOAD_H
#define VIGIL_PAHOLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include <MQTTAsync.h>

/* Exactly the functions vigil calls; each has the type <MQTTAsync.h> declares. */
struct paho_api {
    __typeof__(MQTTAsync_createWithOptions) *createWithOptions;
    __typeof__(MQTTAsync_setCallbacks) *setCallbacks;
    __typeof__(MQTTAsync_setConnected) *setConnected;
    __typeof__(MQTTAsync_connect) *connect;
    __typeof__(MQTTAsync_disconnect) *disconnect;
    __typeof__(MQTTAsync_destroy) *destroy;
    __typeof__(MQTTAsync_sendMessage) *sendMessage;
    __typeof__(MQTTAsync_subscribeMany) *subscribeMany;
    __typeof__(MQTTAsync_unsubscribeMany) *unsubscribeMany;
    __typeof__(MQTTAsync_getPendingTokens) *getPendingTokens;
    __typeof__(MQTTAsync_strerror) *strerror;
    __typeof__(MQTTAsync_malloc) *malloc;
    __typeof__(MQTTAsync_free) *free;
    __typeof__(MQTTAsync_freeMessage) *freeMessage;
};

/*
 * Loads paho, the TLS variant if tls, and sets it up (MQTTAsync_global_init)
 * before any client exists; safe from any thread. The first call chooses the
 * variant; a later one that asks for TLS after the plain variant was loaded
 * fails. 0, or -1 with the library named in err.
 */
int pahoload(bool tls, char *err, size_t errlen);

/* The table pahoload() filled; call only after it succeeded. */
const struct paho_api *paho(void);

#endif
