/*
 * mqtt_sink.c - MQTT as one sink of the core thread (mqtt_sink.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "mqtt_sink.h"
#include "mqtt_topics.h"
#include "receipt.h"

struct mqtt_sink {
    struct pub *pub;
    struct rcpt receipts;          /* events waiting for the station's receipt */
    mqtt_escalate_fn escalate;
    void *escalate_ctx;
    const struct cfg_site *site;   /* the running config; replaced by reconfigure() */
    uint64_t last_seq;             /* of the last event handed to the publisher */
    uint64_t durable_seq;
};

/* Publishes payload on <tree><id> (mqtt_topics.h); retained. An empty payload deletes the retained message. */
static void publish_retained(struct mqtt_sink *s, const char *tree, const char *id, const char *json, size_t len)
{
    char suffix[CORE_ALARM_ID_MAX + 16];

    snprintf(suffix, sizeof(suffix), "%s%s", tree, id);
    pub_publish(s->pub, suffix, len ? json : "", len, 1, true);
}

/* Starts waiting for the receipt of an event just published, if its priority asks for one. */
static void track_receipt(struct mqtt_sink *s, const struct sink_record *rec)
{
    const struct sink_event *ev = &rec->u.event;
    struct rcpt_dropped gone;

    if (!rcpt_wanted(&s->receipts, ev->priority) ||
        rcpt_track(&s->receipts, ev->seq, ev->priority, clock_mono_ms(), rec->json, rec->json_len, &gone) != 1)
        return;
    log_err("receipt: %d events await a receipt; the oldest, seq=%llu priority=%s, is no longer tracked%s",
            RCPT_MAX_TRACKED, (unsigned long long)gone.seq, cfg_priority_name(gone.priority),
            gone.escalating ? "; it holds the local output on until every tracked event is receipted" : "");
}

/* Every event on events and, unless it is one-shot, its alarm's retained state. */
static void deliver_event(struct mqtt_sink *s, const struct sink_record *rec)
{
    const struct sink_event *ev = &rec->u.event;

    pub_publish(s->pub, MQTT_TOPIC_EVENTS, rec->json, rec->json_len, 1, false);
    s->last_seq = ev->seq;
    pub_set_last_seq(s->pub, ev->seq);
    track_receipt(s, rec);
    if (ev->state != CORE_S_EVENT)
        publish_retained(s, MQTT_TOPIC_ALARMS, ev->alarm, rec->json, ev->needs_attention ? rec->json_len : 0);
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

    if (!rec->json && rec->kind != SINK_RETIRE && rec->kind != SINK_RESUME)
        return; /* samples and outputs have no MQTT topic */
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
    case SINK_RESUME: pub_set_last_seq(s->pub, rec->u.resume.next_seq - 1); break;
    case SINK_OUTPUT:
    case SINK_SAMPLE: break;
    }
}

/* --- receipts from the station (docs/mqtt.md, "Receipts") --------------- */

/* Hands the station's receipts to the tracker. */
static void take_receipts(struct mqtt_sink *s)
{
    uint64_t seqs[64];
    size_t n;

    while ((n = pub_take_receipts(s->pub, seqs, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            enum rcpt_outcome r = rcpt_receipt(&s->receipts, seqs[i]);

            if (r == RCPT_LATE)
                log_notice("receipt: event seq=%llu receipted late", (unsigned long long)seqs[i]);
            else
                log_debug("receipt: event seq=%llu %s", (unsigned long long)seqs[i],
                          r == RCPT_ON_TIME ? "receipted" : "was not waiting for a receipt");
        }
    }
}

/* Re-publishes one event whose receipt is overdue, byte for byte, or gives up on it. */
static void retry_event(struct mqtt_sink *s, const struct rcpt_due *r)
{
    unsigned long long seq = (unsigned long long)r->seq;
    const char *prio = cfg_priority_name(r->priority);

    if (r->give_up) {
        log_err("receipt: event seq=%llu priority=%s: still no receipt after %d retries; no more retries",
                seq, prio, s->receipts.set.max_retries);
        return;
    }
    if (r->first_miss)
        log_msg(r->escalating ? LOG_LVL_ERR : LOG_LVL_WARN,
                "receipt: event seq=%llu priority=%s: no receipt within %llu ms; re-publishing%s", seq, prio,
                (unsigned long long)s->receipts.set.timeout_ms, r->escalating ? ", local output on" : "");
    else
        log_info("receipt: event seq=%llu priority=%s: re-publishing retry=%d", seq, prio, r->retry);
    pub_publish(s->pub, MQTT_TOPIC_EVENTS, r->payload, r->len, 1, false);
}

/* One round of the receipt protocol: receipts in, overdue events out, the local output to match. */
static void check_receipts(struct mqtt_sink *s, uint64_t now_ms)
{
    struct rcpt_due due[16];
    size_t n;

    take_receipts(s);
    do {
        n = rcpt_due(&s->receipts, now_ms, due, 16);
        for (size_t i = 0; i < n; i++)
            retry_event(s, &due[i]);
    } while (n == 16);
    if (s->escalate)
        s->escalate(s->escalate_ctx, rcpt_output_wanted(&s->receipts), rcpt_missing(&s->receipts));
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

    (void)now_wall_ms;
    pub_heartbeat(s->pub);
    check_receipts(s, now_mono_ms);
    note_durable(s);
}

static void configure_receipts(struct mqtt_sink *s)
{
    struct rcpt_settings set;

    rcpt_settings_of(s->site, &set);
    rcpt_configure(&s->receipts, &set);
}

/* The publisher copied its settings at start: a reload cannot change them, so say so. */
static void mqtt_reconfigure(void *self, const struct cfg_site *site)
{
    struct mqtt_sink *s = self;
    char what[64];

    s->site = site;
    configure_receipts(s);
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

static void mqtt_stop(void *self)
{
    struct mqtt_sink *s = self;

    pub_stop(s->pub);
    rcpt_free(&s->receipts);
    free(s);
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

    if (!s || rcpt_init(&s->receipts, RCPT_MAX_TRACKED) < 0) {
        snprintf(err, errlen, "out of memory");
        free(s);
        return NULL;
    }
    s->site = o->pub.site;
    s->escalate = o->escalate;
    s->escalate_ctx = o->escalate_ctx;
    configure_receipts(s);
    s->pub = pub_start(&o->pub, err, errlen);
    if (!s->pub) {
        rcpt_free(&s->receipts);
        free(s);
        return NULL;
    }
    return s;
}

struct pub *mqtt_sink_pub(void *self)
{
    return ((struct mqtt_sink *)self)->pub;
}
