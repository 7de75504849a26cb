/*
 * mqtt_inbound.c - what arrives on a path: operator commands and the
 * station's receipts, on a client and connection of their own.
 *
 * Each path has a second paho client, the inbound client, on the same
 * broker with the same credentials and TLS settings, under the path's
 * client id plus MQTT_INBOUND_ID_SUFFIX. Only it subscribes to cmd and
 * receipt; it publishes nothing and keeps no store. The path's own client
 * only publishes. Why two: paho sets no TCP_NODELAY, so on a socket that
 * also carries a command flood's acknowledgements (one PUBACK written per
 * command), Nagle's algorithm held each alarm behind them until the
 * broker's delayed ACK, up to 40 ms (docs/mqtt.md, "Two connections per
 * path"). Results and refusals still go out on the path's own client,
 * behind the events handed to it before them: events always go before the
 * command results they caused.
 *
 * Commands on <prefix>/<site>/cmd are parsed in paho's callback thread and
 * duplicates dropped by id; valid ones wait in the command ring for the
 * supervision thread (mqtt_watch.c), which pushes them to the inputs queue
 * as CORE_IN_CMD, so a full queue never blocks paho (a blocked callback
 * holds paho's lock, and the core thread, publishing, would wait for that
 * lock: a deadlock). Rejected ones (malformed, or with a "ts" older than
 * mqtt.cmd_max_age_s) are answered on cmd/result directly.
 *
 * Receipts on <prefix>/<site>/receipt take the same hand-off: parsed in
 * paho's callback, queued in a ring under pub->lock, left to paho while the
 * ring is full, and pushed to the inputs queue as CORE_IN_RECEIPT by the
 * supervision thread: the core decides retries and the local output.
 */
#include "mqtt_internal.h"
#include "pahoload.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "cmdgate.h"
#include "mqtt_topics.h"

/*
 * Answers a command the gate refused on cmd/result, on the alarm client of
 * the path it came by (straight to paho: this runs in paho's callback).
 */
static void answer_refusal(struct pub_path *path, const struct gate_outcome *o)
{
    struct pub *p = path->pub;
    char topic[MSG_TOPIC_MAX], payload[MQTT_PAYLOAD_MAX];
    int n = psig_sign(&p->sign, p->site_id, MQTT_TOPIC_CMD_RESULT, o->result, o->result_len, payload,
                      sizeof(payload));

    if (!o->answer) {
        log_complain(&p->flood_complaint, clock_mono_ms(), LOG_LVL_WARN,
                     "mqtt: commands arrive faster than the gate takes them; the excess is refused unanswered");
        return;
    }
    log_release(&p->flood_complaint, LOG_LVL_NOTICE, "mqtt: the command flood has stopped");
    log_warn("mqtt: command id=\"%s\" refused: %s", o->input.u.cmd.id, o->reason);
    if (o->result_len > 0 && n > 0 &&
        msg_topic(topic, sizeof(topic), p->mqtt.prefix, p->site_id, MQTT_TOPIC_CMD_RESULT) >= 0)
        mqtt_path_send(path, topic, payload, (size_t)n, 1, false);
}

/* Queues a parsed command for the supervision thread, which pushes it to the core. */
static void cmd_ring_push(struct pub *p, const struct core_input *in)
{
    pthread_mutex_lock(&p->lock);
    p->cmds[(p->cmd_head + p->cmd_count++) % CMD_RING] = *in;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

/*
 * Whether a callback must leave its command with paho for now. Each path's
 * callback thread checks, then parses, then pushes: keeping one slot per
 * path free means two threads that both pass the check still both fit, and
 * no queued command is ever overwritten.
 */
static bool cmd_ring_full(struct pub *p)
{
    bool full;

    pthread_mutex_lock(&p->lock);
    full = p->cmd_count + CFG_MAX_BROKERS >= CMD_RING;
    pthread_mutex_unlock(&p->lock);
    return full;
}

/*
 * Hands a command to the gate (cmdgate.h): one that passes is queued for
 * the core (the core thread stamps it when it feeds it); a refused one is
 * answered at once and, within the gate's budget, queued as a
 * command_refused event; the same command again (both paths) is dropped.
 */
static void handle_command(struct pub_path *path, const char *payload, size_t len)
{
    struct pub *p = path->pub;
    static _Thread_local struct gate_outcome o;
    const struct core_cmd *cmd = &o.input.u.cmd;

    cmdgate_check(p->gate, CORE_SRC_MQTT, payload, len, clock_wall_ms(), clock_mono_ms(), &o);
    switch (o.verdict) {
    case GATE_PASS:
        log_info("mqtt: command id=\"%s\" op=%s target=\"%s\" operator=\"%s\" role=%s path=%d comment=\"%s\"",
                 cmd->id, core_op_name(cmd->op), cmd->target, cmd->operator_name, cfg_role_name(cmd->role), path->n,
                 o.comment);
        cmd_ring_push(p, &o.input);
        break;
    case GATE_REFUSED:
        answer_refusal(path, &o);
        if (o.raise)
            cmd_ring_push(p, &o.refusal);
        break;
    case GATE_REPEAT:
        log_info("mqtt: command id=\"%s\" seen before; ignored", cmd->id);
        break;
    }
}

/*
 * Parses a receipt and queues its seqs for the core thread; false (nothing
 * queued) while the ring has no room for them, so paho offers it again. A
 * malformed receipt is logged, rate-limited, and otherwise ignored.
 */
static bool handle_receipt(struct pub *p, const char *payload, size_t len)
{
    uint64_t seqs[MSG_RECEIPT_SEQS], epoch;
    char err[160];
    int n = msg_parse_receipt(payload, len, seqs, MSG_RECEIPT_SEQS, &epoch, err, sizeof(err));
    bool room;

    pthread_mutex_lock(&p->lock);
    if (n < 0) {
        log_complain(&p->bad_receipt, clock_mono_ms(), LOG_LVL_WARN, "mqtt: receipt ignored: %s", err);
        pthread_mutex_unlock(&p->lock);
        return true;
    }
    log_release(&p->bad_receipt, LOG_LVL_NOTICE, "mqtt: receipts are well-formed again");
    room = p->rcpt_count + (size_t)n <= RCPT_RING;
    for (int i = 0; room && i < n; i++)
        p->rcpts[(p->rcpt_head + p->rcpt_count++) % RCPT_RING] = (struct rcpt_seq){seqs[i], epoch};
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return room;
}

static bool topic_is(const char *topic, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(topic, want, len) == 0;
}

/*
 * A message on a subscribed topic: a command or a receipt. A persistent
 * session can carry an older subscription (a renamed site under the same
 * client id): such messages are not for this site. While the command or
 * receipt ring is full the message is left to paho (return 0), which
 * offers it again later: nothing blocks, nothing is lost.
 */
int mqtt_on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct pub_path *path = ctx;
    size_t len = topic_len > 0 ? (size_t)topic_len : strlen(topic);

    if (topic_is(topic, len, path->pub->rcpt_topic)) {
        if (!handle_receipt(path->pub, m->payload, (size_t)m->payloadlen))
            return 0;
    } else if (!topic_is(topic, len, path->pub->cmd_topic)) {
        log_warn("mqtt: path=%d: message on %.*s ignored; commands go to %s", path->n, (int)len, topic,
                 path->pub->cmd_topic);
    } else if (cmd_ring_full(path->pub)) {
        return 0;
    } else {
        handle_command(path, m->payload, (size_t)m->payloadlen);
    }
    paho()->freeMessage(&m);
    paho()->free(topic);
    return 1;
}

/* --- the inbound client ---------------------------------------------------- */

/* Every (re)connect: the session may be new, so subscribe again. */
static void on_inbound_connected(void *ctx, char *cause)
{
    struct pub_path *path = ctx;

    (void)cause;
    atomic_store(&path->inbound_connected, true);
    pthread_mutex_lock(&path->pub->lock);
    log_release(&path->inbound_connecting, LOG_LVL_NOTICE, "mqtt: path=%d broker=%s: inbound connect works again",
                path->n, path->broker.uri);
    pthread_mutex_unlock(&path->pub->lock);
    log_notice("mqtt: path=%d broker=%s: inbound client %s connected; commands and receipts arrive on it", path->n,
               path->broker.uri, path->inbound_id);
    mqtt_subscribe_inbound(path, path->inbound, true);
}

static void on_inbound_lost(void *ctx, char *cause)
{
    struct pub_path *path = ctx;

    atomic_store(&path->inbound_connected, false);
    log_warn("mqtt: path=%d broker=%s: inbound connection lost: %s; reconnecting, the broker keeps commands and "
             "receipts for the session", path->n, path->broker.uri, cause ? cause : "no reason given");
}

/* A connect attempt failed; paho retries on its own, so it is rate-limited (the path's own client
 * diagnoses TLS refusals: both use the same settings). */
static void on_inbound_connect_failure(void *ctx, MQTTAsync_failureData *resp)
{
    struct pub_path *path = ctx;
    const char *why = mqtt_failure_why(resp);

    if (atomic_load(&path->pub->stopping))
        return;
    pthread_mutex_lock(&path->pub->lock);
    log_complain(&path->inbound_connecting, clock_mono_ms(), LOG_LVL_WARN,
                 "mqtt: path=%d broker=%s: inbound connect failed: %s; no commands or receipts until it works",
                 path->n, path->broker.uri, why);
    pthread_mutex_unlock(&path->pub->lock);
}

/* Creates the path's inbound client (same broker, credentials and TLS, no store) and starts connecting. */
int mqtt_inbound_start(struct pub_path *path, char *err, size_t errlen)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    MQTTAsync_connectOptions c = MQTTAsync_connectOptions_initializer;
    MQTTAsync_SSLOptions ssl;
    int rc;

    snprintf(path->inbound_id, sizeof(path->inbound_id), "%s%s", path->broker.client_id, MQTT_INBOUND_ID_SUFFIX);
    co.MQTTVersion = MQTTVERSION_3_1_1;
    rc = paho()->createWithOptions(&path->inbound, path->broker.uri, path->inbound_id, MQTTCLIENT_PERSISTENCE_NONE,
                                     NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        path->inbound = NULL;
        snprintf(err, errlen, "mqtt: path %d: cannot create the inbound client for %s: %s", path->n,
                 path->broker.uri, paho()->strerror(rc));
        return -1;
    }
    paho()->setCallbacks(path->inbound, path, on_inbound_lost, mqtt_on_message, NULL);
    paho()->setConnected(path->inbound, path, on_inbound_connected);
    mqtt_connect_options(path, &c, &ssl);
    c.onFailure = on_inbound_connect_failure;
    rc = paho()->connect(path->inbound, &c);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "mqtt: path %d: cannot start the inbound client connecting to %s: %s", path->n,
                 path->broker.uri, paho()->strerror(rc));
        return -1;
    }
    return 0;
}

/* Disconnects and destroys the path's inbound client, if any: no command arrives after this. */
void mqtt_inbound_stop(struct pub_path *path)
{
    if (!path->inbound)
        return;
    mqtt_client_disconnect(path->inbound, &path->inbound_disconnected);
    paho()->destroy(&path->inbound);
}
