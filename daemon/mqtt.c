/*
 * mqtt.c - the publisher's public API (mqtt.h): start and stop, the
 * settings a reload cannot change, stats and durability. The work itself
 * is in mqtt_path.c, mqtt_inbound.c, mqtt_store.c and mqtt_watch.c.
 */
#include "mqtt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "mqtt_tls.h"
#include "mqtt_topics.h"
#include "pahoload.h"

#define DRAIN_TIMEOUT_MS 2000      /* pub_stop waits this long for acknowledgements */
#define PAHO_MAX_BUFFERED 60000    /* below paho's 65535 message ids, with room for in-flight ones */
#define DEFAULT_MIN_FREE (1u << 20)

/* The copied settings; max_buffered is capped where paho runs out of message ids. */
/*
 * The gateway's signing key: a key that cannot be read leaves the site
 * publishing unsigned (a station that expects signatures then raises an
 * alarm of its own) rather than unwatched.
 */
static void load_signing_key(struct pub *p, const struct cfg_site *site)
{
    char err[512], pk[64];

    if (!site->signing_key[0])
        return;
    if (psig_load(&p->sign, site->signing_key, err, sizeof(err)) < 0) {
        log_err("mqtt: %s; publishing unsigned", err);
        return;
    }
    psig_public_b64(&p->sign, pk, sizeof(pk));
    log_notice("mqtt: payloads signed; the site's public key is %s", pk);
}

static void copy_config(struct pub *p, const struct pub_options *o)
{
    snprintf(p->site_id, sizeof(p->site_id), "%s", o->site->id);
    p->mqtt = o->site->mqtt;
    p->bound = p->mqtt.max_buffered < PAHO_MAX_BUFFERED ? p->mqtt.max_buffered : PAHO_MAX_BUFFERED;
    if (p->bound < p->mqtt.max_buffered)
        log_notice("mqtt: max_buffered=%d is more than the MQTT client's message ids allow; using %d per path",
                   p->mqtt.max_buffered, p->bound);
    p->min_free_bytes = o->store_min_free_bytes ? o->store_min_free_bytes : DEFAULT_MIN_FREE;
    p->inputs = o->inputs;
    p->gate = o->gate;
    load_signing_key(p, o->site);
    snprintf(p->version, sizeof(p->version), "%s", o->version ? o->version : "unknown");
}

/* Fills the fields pub_start() derives from the options before any client exists. */
static int pub_init(struct pub *p, const struct pub_options *o, char *err, size_t errlen)
{
    pthread_condattr_t attr;

    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &attr);
    pthread_condattr_destroy(&attr);
    p->spool_alarm = p->path_alarm = -1;
    copy_config(p, o);
    if (p->mqtt.n_brokers < 1 || p->mqtt.n_brokers > CFG_MAX_BROKERS) {
        snprintf(err, errlen, "mqtt: %d brokers configured; expected 1 to %d", p->mqtt.n_brokers, CFG_MAX_BROKERS);
        return -1;
    }
    p->started_wall_ms = clock_wall_ms();
    p->next_heartbeat_ms = clock_mono_ms() + (uint64_t)p->mqtt.heartbeat_s * 1000u;
    if (msg_topic(p->status_topic, sizeof(p->status_topic), p->mqtt.prefix, p->site_id, MQTT_TOPIC_STATUS) < 0 ||
        msg_topic(p->cmd_topic, sizeof(p->cmd_topic), p->mqtt.prefix, p->site_id, MQTT_TOPIC_CMD) < 0 ||
        msg_topic(p->rcpt_topic, sizeof(p->rcpt_topic), p->mqtt.prefix, p->site_id, MQTT_TOPIC_RECEIPT) < 0 ||
        mqtt_build_status(p, "offline", p->started_wall_ms, p->will, sizeof(p->will)) < 0) {
        snprintf(err, errlen, "mqtt: topic prefix \"%s\" and site id \"%s\" are too long", p->mqtt.prefix,
                 p->site_id);
        return -1;
    }
    for (int i = 0; i < p->mqtt.n_brokers; i++) {
        p->n_paths = i + 1; /* counted first: pub_stop() cleans up a half-made path too */
        if (mqtt_path_init(p, i, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Whether any broker uri asks for TLS: paho's TLS variant is loaded only then (pahoload.h). */
static bool any_tls(const struct pub *p)
{
    for (int i = 0; i < p->mqtt.n_brokers; i++)
        if (mqtt_tls_uri(p->mqtt.brokers[i].uri))
            return true;
    return false;
}

struct pub *pub_start(const struct pub_options *o, char *err, size_t errlen)
{
    const char *state_dir = o->state_dir ? o->state_dir : o->site->state_dir;
    struct pub *p = calloc(1, sizeof(*p));

    if (!p) {
        snprintf(err, errlen, "mqtt: out of memory");
        return NULL;
    }
    if (pub_init(p, o, err, errlen) < 0) {
        pub_stop(p);
        return NULL;
    }
    if (pahoload(any_tls(p), err, errlen) < 0) {
        pub_stop(p);
        return NULL;
    }
    for (int i = 0; i < p->n_paths; i++) {
        /* The inbound client first: it is then usually subscribed by the time "online" goes out. */
        if (mqtt_path_create(&p->paths[i], state_dir, err, errlen) < 0 ||
            mqtt_inbound_start(&p->paths[i], err, errlen) < 0 ||
            mqtt_path_connect(&p->paths[i], err, errlen) < 0) {
            pub_stop(p);
            return NULL;
        }
    }
    if (pthread_create(&p->watcher, NULL, mqtt_watch_main, p) != 0) {
        snprintf(err, errlen, "mqtt: cannot start the supervision thread");
        pub_stop(p);
        return NULL;
    }
    p->watching = true;
    return p;
}

/* Names the first broker setting that differs, or returns false. */
static bool broker_differs(const struct cfg_broker *a, const struct cfg_broker *b, int n, char *what, size_t cap)
{
    const char *key = strcmp(a->uri, b->uri) ? "uri"
                    : strcmp(a->client_id, b->client_id) ? "client_id"
                    : strcmp(a->username, b->username) ? "username"
                    : strcmp(a->password, b->password) ? "password"
                    : a->keepalive_s != b->keepalive_s ? "keepalive_s"
                    : strcmp(a->ca_file, b->ca_file) ? "ca_file"
                    : strcmp(a->ca_dir, b->ca_dir) ? "ca_dir"
                    : strcmp(a->cert_file, b->cert_file) ? "cert_file"
                    : strcmp(a->key_file, b->key_file) ? "key_file"
                    : a->tls_version != b->tls_version ? "tls_version"
                    : a->verify_hostname != b->verify_hostname ? "verify_hostname" : NULL;

    if (key)
        snprintf(what, cap, "brokers[%d].%s", n, key);
    return key != NULL;
}

bool pub_config_differs(const struct pub *p, const struct cfg_site *site, char *what, size_t cap)
{
    const struct cfg_mqtt *a = &p->mqtt, *b = &site->mqtt;
    const char *key = strcmp(p->site_id, site->id) ? "site.id"
                    : strcmp(a->prefix, b->prefix) ? "prefix"
                    : a->n_brokers != b->n_brokers ? "brokers"
                    : a->heartbeat_s != b->heartbeat_s ? "heartbeat_s"
                    : a->max_buffered != b->max_buffered ? "max_buffered"
                    : a->mode != b->mode ? "mode"
                    : a->path_fault_s != b->path_fault_s ? "path_fault_s"
                    : a->cmd_max_age_s != b->cmd_max_age_s ? "cmd_max_age_s" : NULL;

    if (key) {
        snprintf(what, cap, "%s", key);
        return true;
    }
    for (int i = 0; i < a->n_brokers; i++)
        if (broker_differs(&a->brokers[i], &b->brokers[i], i + 1, what, cap))
            return true;
    return false;
}

void pub_get_stats(struct pub *p, struct pub_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < p->n_paths; i++) {
        uint64_t overflow = mqtt_ring_count(&p->paths[i]);

        out->connected[i] = atomic_load(&p->paths[i].connected);
        out->pending += mqtt_path_pending(&p->paths[i]) + overflow;
        out->overflow += overflow;
    }
    out->delivered = atomic_load(&p->delivered);
    out->refused = atomic_load(&p->refused);
}

bool pub_durable(struct pub *p)
{
    bool durable = atomic_load(&p->refused) == 0;

    for (int i = 0; i < p->n_paths && durable; i++)
        durable = mqtt_ring_count(&p->paths[i]) == 0 && !atomic_load(&p->paths[i].suspect);
    return durable;
}

uint64_t pub_progress(struct pub *p)
{
    return atomic_load(&p->progress);
}

/*
 * Waits up to DRAIN_TIMEOUT_MS for the brokers to acknowledge what is in
 * flight. paho's own disconnect timeout is no substitute: a message queued
 * just before the disconnect is never written, and would then wait in the
 * store until the next start.
 */
static void drain(struct pub *p)
{
    struct timespec pause = { 0, 10 * 1000 * 1000 };
    uint64_t deadline_ms = clock_mono_ms() + DRAIN_TIMEOUT_MS;
    uint64_t pending;

    do {
        pending = 0;
        for (int i = 0; i < p->n_paths; i++)
            if (atomic_load(&p->paths[i].connected))
                pending += mqtt_path_pending(&p->paths[i]);
    } while (pending > 0 && clock_mono_ms() < deadline_ms && nanosleep(&pause, NULL) == 0);
}

void pub_stop(struct pub *p)
{
    if (!p)
        return;
    atomic_store(&p->stopping, true);
    if (p->watching) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->watcher, NULL);
    }
    /* No command arrives from here on: the core may already have stopped taking them. */
    for (int i = 0; i < p->n_paths; i++)
        mqtt_inbound_stop(&p->paths[i]);
    /* Only a connected path says "offline" itself: a buffered "offline" would be sent after the
     * next start's "online" is long out. A disconnected path's broker has sent the Will already. */
    for (int i = 0; i < p->n_paths; i++)
        if (p->paths[i].client && atomic_load(&p->paths[i].connected))
            mqtt_send_status(&p->paths[i], "offline");
    drain(p);
    for (int i = 0; i < p->n_paths; i++) {
        mqtt_path_stop(&p->paths[i]);
        free(p->paths[i].ring);
        pthread_mutex_destroy(&p->paths[i].lock);
    }
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
