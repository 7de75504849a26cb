/*
 * mqtt_tls.h - TLS for a broker connection, shared by vigild's paths and
 * vigilctl's client: which URIs are TLS, paho's SSL options from the
 * settings, and a diagnosis in words when a TLS connect fails.
 *
 * paho reports every TLS refusal as "TCP/TLS connect failure" (a failed
 * host name check leaves not even an OpenSSL error), which tells an
 * operator nothing. mqtt_tls_diagnose() therefore repeats the handshake
 * with OpenSSL itself, with the same settings, and names what failed: the
 * broker's certificate (expired, unknown CA, wrong host name) or the
 * broker's refusal of ours.
 *
 * paho 1.3.12 on OpenSSL 3 creates its context with TLS_client_method() at
 * security level 1 and ignores sslVersion: TLS 1.0 and 1.1 need SHA-1
 * handshake signatures, which that level refuses, so TLS 1.2 is the floor
 * in practice (the diagnosis sets it explicitly). sslVersion is still
 * passed: it names the intent, and an older OpenSSL honours it.
 */
#ifndef VIGIL_MQTT_TLS_H
#define VIGIL_MQTT_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <MQTTAsync.h>

#include "config.h"

#define MQTT_TLS_WHY_MAX 256

/* The settings of one TLS connection; the strings are the caller's. NULL or "": not set. */
struct mqtt_tls {
    const char *ca_file, *ca_dir;       /* trust anchors; one of them is required */
    const char *cert_file, *key_file;   /* the client certificate, for mutual TLS */
    bool verify_hostname;               /* the certificate must name the URI's host */
};

/* The TLS settings of a configured broker; they point into b. */
struct mqtt_tls mqtt_tls_of_broker(const struct cfg_broker *b);

/* Whether uri asks for TLS: ssl://, mqtts:// or wss://. */
bool mqtt_tls_uri(const char *uri);

/*
 * Fills ssl from t: the broker's certificate verified against t's CA only
 * (not the system's), its host name checked unless t says otherwise, TLS
 * 1.2 at least. ssl points into t's strings; paho copies them at connect.
 */
void mqtt_tls_options(const struct mqtt_tls *t, MQTTAsync_SSLOptions *ssl);

/*
 * Connects to uri's host and port and shakes hands as t says, waiting at
 * most timeout_ms for each step. Blocks: never call it on a paho thread.
 * Returns 1 with the reason in why if TLS fails ("the broker's certificate
 * has expired ..."), 0 if the handshake works (the refusal is elsewhere:
 * MQTT credentials, the network), -1 with why if the broker cannot be
 * reached at all.
 */
int mqtt_tls_diagnose(const char *uri, const struct mqtt_tls *t, int timeout_ms, char *why, size_t cap);

#endif
