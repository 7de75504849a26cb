/*
 * ctl_mqtt.h - the small station-side MQTT client of vigilctl (watch,
 * status, and the operator's commands).
 *
 * paho's callbacks only copy what happened into a bounded queue of items:
 * a message, or a step of the session (connected, lost, subscribed...).
 * The caller's thread takes them with ctl_mqtt_next() and does everything
 * else, so its state has one owner. The client subscribes to its filters on
 * every (re)connect: a broker may have lost the session.
 *
 * Life cycle: ctl_mqtt_init() -> ctl_mqtt_connect() -> ctl_mqtt_next()... ->
 * ctl_mqtt_disconnect() and/or ctl_mqtt_close() -> ctl_mqtt_destroy().
 * The caller owns struct ctl_mqtt and the strings its options point to;
 * they must outlive ctl_mqtt_destroy().
 */
#ifndef VIGIL_CTL_MQTT_H
#define VIGIL_CTL_MQTT_H

#include <stdbool.h>
#include <stddef.h>

#include <MQTTAsync.h>

#include "mqtt_tls.h"
#include "queue.h"

#define CTL_MQTT_FILTERS_MAX 4
#define CTL_MQTT_TOPIC_MAX 256
#define CTL_MQTT_PAYLOAD_MAX 4096

/* ctl_mqtt_connect() failures: which step failed. */
enum { CTL_MQTT_ECREATE = -1, CTL_MQTT_ECONNECT = -2 };

enum ctl_mqtt_kind {
    CTL_MQTT_MESSAGE,
    CTL_MQTT_CONNECTED,
    CTL_MQTT_LOST,              /* text: why */
    CTL_MQTT_CONNECT_FAILED,    /* text: why; with reconnect_max_s paho keeps trying */
    CTL_MQTT_SUBSCRIBED,
    CTL_MQTT_SUBSCRIBE_FAILED,  /* text: why */
    CTL_MQTT_DISCONNECTED,      /* the disconnect of ctl_mqtt_disconnect() finished */
};

/* One thing that happened on a paho thread, copied for the caller's thread. */
struct ctl_mqtt_item {
    enum ctl_mqtt_kind kind;
    bool refused_locally;       /* SUBSCRIBE_FAILED: paho refused to send the request */
    bool retained;              /* MESSAGE: the broker's stored copy, not a live publish */
    size_t len;                 /* MESSAGE: the payload's real length */
    char topic[CTL_MQTT_TOPIC_MAX];
    /* MESSAGE: the first min(len, CTL_MQTT_PAYLOAD_MAX) bytes, not terminated;
     * other kinds: a NUL-terminated text, empty if there is none. */
    char payload[CTL_MQTT_PAYLOAD_MAX];
};

struct ctl_mqtt_opts {
    const char *broker, *client_id;
    const char *username, *password;            /* NULL: none */
    const struct mqtt_tls *tls;                 /* for an ssl://, mqtts:// or wss:// broker */
    const char *filters[CTL_MQTT_FILTERS_MAX];
    int n_filters, qos;
    bool persistent;            /* keep the session (and what arrives while away) */
    int reconnect_max_s;        /* reconnect by itself, retrying 1 s up to this; 0: never */
    int connect_timeout_s;      /* 0: paho's default */
    bool retained_only;         /* hand over only retained messages with a payload: state */
};

struct ctl_mqtt {
    struct ctl_mqtt_opts o;
    struct queue q;
    MQTTAsync client;           /* NULL until created */
};

/*
 * The credential and TLS options watch and status share: --username,
 * --password-file, --ca, --ca-dir, --cert, --key, --tls-version. Put
 * CTL_MQTT_AUTH_LONGOPTS into the command's getopt_long table, hand every
 * option it does not know itself to ctl_mqtt_auth_option(), then call
 * ctl_mqtt_auth_ready() with the broker before connecting.
 */
struct ctl_mqtt_auth {
    const char *username, *password_file;
    char password[256];         /* read from password_file; never printed */
    struct mqtt_tls tls;
    bool tls_given;             /* any of the TLS options was given */
};

enum { CTL_OPT_USERNAME = 0x100, CTL_OPT_PASSWORD_FILE, CTL_OPT_CA, CTL_OPT_CA_DIR, CTL_OPT_CERT, CTL_OPT_KEY,
       CTL_OPT_TLS_VERSION };

#define CTL_MQTT_AUTH_LONGOPTS                                                                                \
    {"username", required_argument, NULL, CTL_OPT_USERNAME},                                                  \
    {"password-file", required_argument, NULL, CTL_OPT_PASSWORD_FILE},                                        \
    {"ca", required_argument, NULL, CTL_OPT_CA}, {"ca-dir", required_argument, NULL, CTL_OPT_CA_DIR},         \
    {"cert", required_argument, NULL, CTL_OPT_CERT}, {"key", required_argument, NULL, CTL_OPT_KEY},           \
    {"tls-version", required_argument, NULL, CTL_OPT_TLS_VERSION}

/* Takes option c with its argument: 1 if it was one of CTL_MQTT_AUTH_LONGOPTS, 0 if not, -1 (reported) if bad. */
int ctl_mqtt_auth_option(struct ctl_mqtt_auth *a, int c, const char *arg);

/*
 * Checks the options against the broker URI (TLS needs --ca or --ca-dir; a
 * plain URI takes no TLS options; --cert needs --key) and reads the
 * password file, which must be private to its owner. Returns 0, or -1
 * after saying what is wrong on stderr.
 */
int ctl_mqtt_auth_ready(struct ctl_mqtt_auth *a, const char *broker);

/* Fills o's username, password and tls from a (which must outlive the client). */
void ctl_mqtt_auth_apply(const struct ctl_mqtt_auth *a, struct ctl_mqtt_opts *o);

/*
 * Words for a failed connect: paho's text, and for a TLS broker what
 * mqtt_tls_diagnose() finds (blocks for a few seconds at most). Call it on
 * the caller's thread with the CONNECT_FAILED item's text.
 */
const char *ctl_mqtt_failure(const struct ctl_mqtt *m, const char *paho_text, char *buf, size_t cap);

/* Allocates the queue for queue_cap items. Returns 0 or -1 (out of memory). */
int ctl_mqtt_init(struct ctl_mqtt *m, size_t queue_cap);

/*
 * Creates the client and starts connecting; the outcome arrives as an
 * item. Returns 0, CTL_MQTT_ECREATE or CTL_MQTT_ECONNECT with paho's
 * reason in err.
 */
int ctl_mqtt_connect(struct ctl_mqtt *m, const struct ctl_mqtt_opts *o, char *err, size_t errlen);

/* Sends payload to topic (QoS 1, not retained) once connected. Returns 0,
 * or -1 with paho's reason in err. */
int ctl_mqtt_publish(struct ctl_mqtt *m, const char *topic, const char *payload, size_t len, char *err,
                     size_t errlen);

/* Takes the oldest item, waiting at most timeout_ms: queue_pop()'s 1, 0 or -1. */
int ctl_mqtt_next(struct ctl_mqtt *m, struct ctl_mqtt_item *it, int timeout_ms);

/* Items waiting to be taken. */
size_t ctl_mqtt_pending(struct ctl_mqtt *m);

/*
 * Starts a disconnect (1 s for in-flight work); CTL_MQTT_DISCONNECTED
 * arrives when it is over. Returns 0, or -1 if none will arrive.
 */
int ctl_mqtt_disconnect(struct ctl_mqtt *m);

/* Stops taking items: a paho thread blocked on the full queue returns at
 * once and later items are dropped; queued ones can still be taken. */
void ctl_mqtt_close(struct ctl_mqtt *m);

/* Destroys the client (if any) and frees the queue. */
void ctl_mqtt_destroy(struct ctl_mqtt *m);

#endif
