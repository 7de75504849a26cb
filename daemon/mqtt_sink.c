/*
 * mqtt_sink.c - MQTT as one sink of the core thread (mqtt_sink.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "message.h"
#include "mqtt_retained.h"
#include "mqtt_sink.h"
#include "mqtt_topics.h"
#include "receipt.h"

/* The payload of an event the station must receipt. */
struct kept {
    uint64_t seq;                  /* 0: empty */
    size_t len;
    char json[MSG_MAX];
};

struct mqtt_sink {
    struct pub *pub;
    struct kept *kept;             /* RCPT_MAX_TRACKED slots, by seq; NULL without receipts */
    unsigned tracked;              /* bit n: events of priority n wait for a receipt */
    const struct cfg_site *site;   /* the running config; replaced by reconfigure() */
    struct retained *tree;         /* what a path publishes again when it (re)connects */
    bool tree_full;                /* a topic did not fit in tree: logged once */
    uint64_t last_seq;             /* of the last event handed to the publisher */
    uint64_t durable_seq;
};

/*
 * Publishes payload on <tree><id> (mqtt_topics.h); retained. An empty
 * payload deletes the retained message. The retained tree keeps it for a
 * path that reconnects.
 */
static void publish_retained(struct mqtt_sink *s, const char *tree, const char *id, const char *json, size_t len)
{
    char suffix[CORE_ALARM_ID_MAX + 16];

    snprintf(suffix, sizeof(suffix), "%s%s", tree, id);
    pub_publish(s->pub, suffix, len ? json : "", len, 1, true);
    if (!retained_set(s->tree, suffix, json, len) && !s->tree_full) {
        s->tree_full = true;
        log_err("mqtt: topic=%s not kept for restoring after a reconnect: the retained table is full", suffix);
    }
}

struct restore_ctx {
    struct mqtt_sink *s;
    unsigned paths;
};

static void restore_one(void *ctx, const char *suffix, const char *json, size_t len)
{
    struct restore_ctx *r = ctx;

    pub_publish_to(r->s->pub, r->paths, suffix, json, len, 1, true);
}

/*
 * Publishes the whole retained tree again on the paths that (re)connected:
 * their broker may have restarted without its database and forgotten it.
 * The status was sent by the publisher as the path connected.
 */
static void restore_tree(struct mqtt_sink *s)
{
    unsigned paths = pub_take_connected(s->pub);
    struct restore_ctx r = {.s = s, .paths = paths};
    char names[4 * CFG_MAX_BROKERS] = "";
    size_t len = 0;

    if (!paths)
        return;
    retained_each(s->tree, restore_one, &r);
    for (int i = 0; i < CFG_MAX_BROKERS; i++)
        if (paths & (1u << i))
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%d", len ? "," : "", i + 1);
    log_info("mqtt: paths=%s: %zu retained topics published again after a (re)connect", names,
             retained_live(s->tree));
}

/* --- re-sending events the station has not receipted --------------------- */

/*
 * Keeps the payload of an event the station must receipt, so a retry can
 * send the same bytes. The core decides when (CORE_OUT_RETRY): it tracks
 * at most RCPT_MAX_TRACKED events, so a table that size indexed by seq
 * holds every one it can still ask for.
 */
static void keep_payload(struct mqtt_sink *s, const struct sink_record *rec)
{
    struct kept *k;

    if (!((s->tracked >> rec->u.event.priority) & 1u) || rec->json_len > sizeof(k->json))
        return;
    k = &s->kept[rec->u.event.seq % RCPT_MAX_TRACKED];
    k->seq = rec->u.event.seq;
    k->len = rec->json_len;
    memcpy(k->json, rec->json, rec->json_len);
}

/* Sends an overdue event again, byte for byte, or says that it gives up on it. */
static void retry_event(struct mqtt_sink *s, const struct sink_retry *r)
{
    const struct kept *k = &s->kept[r->seq % RCPT_MAX_TRACKED];
    unsigned long long seq = (unsigned long long)r->seq;
    const char *prio = cfg_priority_name(r->priority);

    if (r->give_up) {
        log_err("receipt: event seq=%llu priority=%s: still no receipt after %d retries; no more retries", seq,
                prio, s->site->receipts.max_retries);
        return;
    }
    if (r->first_miss)
        log_msg(r->escalating ? LOG_LVL_ERR : LOG_LVL_WARN,
                "receipt: event seq=%llu priority=%s: no receipt within %d ms; re-publishing%s", seq, prio,
                s->site->receipts.timeout_ms, r->escalating ? ", local output on" : "");
    else
        log_info("receipt: event seq=%llu priority=%s: re-publishing retry=%d", seq, prio, r->retry);
    if (k->seq != r->seq) {
        /* Published by an earlier process before its last snapshot: the station's gap check covers it. */
        log_warn("receipt: event seq=%llu: its payload is no longer held; not re-published", seq);
        return;
    }
    pub_publish(s->pub, MQTT_TOPIC_EVENTS, k->json, k->len, 1, false);
}

/* Every event on events and, unless it is one-shot, its alarm's retained state. */
static void deliver_event(struct mqtt_sink *s, const struct sink_record *rec)
{
    const struct sink_event *ev = &rec->u.event;

    pub_publish(s->pub, MQTT_TOPIC_EVENTS, rec->json, rec->json_len, 1, false);
    s->last_seq = ev->seq;
    pub_set_last_seq(s->pub, ev->epoch, ev->seq);
    if (s->kept)
        keep_payload(s, rec);
    if (ev->state != CORE_S_EVENT)
        publish_retained(s, MQTT_TOPIC_ALARMS, ev->alarm, rec->json, ev->needs_attention ? rec->json_len : 0);
}

/* A local output's retained state: a console shows that the siren is on and why. */
static void publish_output(struct mqtt_sink *s, const struct sink_record *rec)
{
    char id[2 * CFG_ID_MAX + 2];

    snprintf(id, sizeof(id), "%s.%s", rec->u.output.device, rec->u.output.output);
    publish_retained(s, MQTT_TOPIC_OUTPUTS, id, rec->json, rec->json_len);
}

static void retire(struct mqtt_sink *s, const struct sink_retire *r)
{
    static const char *trees[] = {[SINK_OBJ_ALARM] = MQTT_TOPIC_ALARMS, [SINK_OBJ_ZONE] = MQTT_TOPIC_ZONES,
                                  [SINK_OBJ_DEVICE] = MQTT_TOPIC_DEVICES};

    publish_retained(s, trees[r->object], r->id, "", 0);
    log_notice("reload: topic=%s%s cleared: no longer configured", trees[r->object], r->id);
}

static void mqtt_deliver(void *self, const struct sink_record *rec)
{
    struct mqtt_sink *s = self;

    if (!rec->json && (rec->kind == SINK_SAMPLE || rec->kind == SINK_OUTPUT))
        return; /* no MQTT topic, or no payload */
    switch (rec->kind) {
    case SINK_EVENT: deliver_event(s, rec); break;
    case SINK_ZONE: publish_retained(s, MQTT_TOPIC_ZONES, rec->u.zone.zone, rec->json, rec->json_len); break;
    case SINK_DEVICE: publish_retained(s, MQTT_TOPIC_DEVICES, rec->u.device.device, rec->json, rec->json_len); break;
    case SINK_RESULT:
        /* Results go back to where the command came from: a schedule's are only logged. */
        if (rec->u.result.source == CORE_SRC_MQTT)
            pub_publish(s->pub, MQTT_TOPIC_CMD_RESULT, rec->json, rec->json_len, 1, false);
        break;
    case SINK_RETIRE: retire(s, &rec->u.retire); break;
    case SINK_RESUME: pub_set_last_seq(s->pub, rec->u.resume.epoch, rec->u.resume.next_seq - 1); break;
    case SINK_RETRY:
        if (s->kept)
            retry_event(s, &rec->u.retry);
        break;
    case SINK_OUTPUT: publish_output(s, rec); break;
    case SINK_SAMPLE:
    case SINK_TESTED: break; /* the points view shows them (points_sink.c) */
    }
}

/*
 * The durable seq moves only at a moment when the broker has acknowledged
 * everything accepted and nothing lives in memory alone: then every event
 * handed over so far is safe beyond this process.
 */
static void note_durable(struct mqtt_sink *s)
{
    struct pub_stats ps;

    pub_get_stats(s->pub, &ps);
    if (ps.pending == 0 && pub_durable(s->pub))
        s->durable_seq = s->last_seq;
}

static void mqtt_tick(void *self, uint64_t now_mono_ms, int64_t now_wall_ms)
{
    struct mqtt_sink *s = self;

    (void)now_mono_ms;
    (void)now_wall_ms;
    restore_tree(s);
    pub_heartbeat(s->pub);
    note_durable(s);
}

/* Which priorities' payloads to keep for retries: those the receipts group tracks. */
static int configure_receipts(struct mqtt_sink *s)
{
    struct rcpt_settings set;

    rcpt_settings_of(s->site, &set);
    s->tracked = set.track;
    if (s->tracked && !s->kept)
        s->kept = calloc(RCPT_MAX_TRACKED, sizeof(*s->kept));
    return !s->tracked || s->kept ? 0 : -1;
}

/*
 * A table sized for the new site, with room for the topics of the old one
 * still retained: their retire records follow the reload. Keeps the old
 * table if there is no memory for a new one.
 */
static void resize_tree(struct mqtt_sink *s, const struct cfg_site *site)
{
    struct retained *t = retained_new(site, retained_live(s->tree));

    if (!t) {
        log_err("reload: out of memory for the retained table; it keeps the old site's size");
        return;
    }
    /* t has room for every live entry of the old table, so none is dropped here */
    if (!retained_copy(t, s->tree))
        log_err("reload: a retained topic did not fit the new retained table; it is not restored after a reconnect");
    retained_free(s->tree);
    s->tree = t;
    s->tree_full = false;
}

/* The publisher copied its settings at start: a reload cannot change them, so say so. */
static void mqtt_reconfigure(void *self, const struct cfg_site *site)
{
    struct mqtt_sink *s = self;
    char what[64];

    s->site = site;
    resize_tree(s, site);
    if (configure_receipts(s) < 0)
        log_err("receipt: out of memory for the payloads to re-send; events will not be re-published");
    if (pub_config_differs(s->pub, site, what, sizeof(what)))
        log_warn("reload: mqtt settings changed (first: %s); they take effect only after a restart of vigild",
                 what);
}

static uint64_t mqtt_durable_seq(void *self)
{
    struct mqtt_sink *s = self;

    note_durable(s);
    return s->durable_seq;
}

/* Frees what the sink allocated (the publisher is stopped apart); s may be NULL. */
static void free_sink(struct mqtt_sink *s)
{
    if (!s)
        return;
    retained_free(s->tree);
    free(s->kept);
    free(s);
}

static void mqtt_stop(void *self)
{
    struct mqtt_sink *s = self;

    pub_stop(s->pub);
    free_sink(s);
}

const struct sink_ops mqtt_sink_ops = {
    .name = "mqtt",
    .lossless = true,
    .deliver = mqtt_deliver,
    .tick = mqtt_tick,
    .reconfigure = mqtt_reconfigure,
    .durable_seq = mqtt_durable_seq,
    .stop = mqtt_stop,
};

void *mqtt_sink_start(const struct mqtt_sink_options *o, char *err, size_t errlen)
{
    struct mqtt_sink *s = calloc(1, sizeof(*s));

    if (s) {
        s->site = o->pub.site;
        s->tree = retained_new(s->site, 0);
    }
    if (!s || !s->tree || configure_receipts(s) < 0) {
        snprintf(err, errlen, "out of memory");
        free_sink(s);
        return NULL;
    }
    s->pub = pub_start(&o->pub, err, errlen);
    if (!s->pub) {
        free_sink(s);
        return NULL;
    }
    return s;
}

struct pub *mqtt_sink_pub(void *self)
{
    return ((struct mqtt_sink *)self)->pub;
}
