/*
 * mqtt_path.c - sending: one path per configured broker, failover between
 * them, the overflow ring, the status and heartbeat, and a path's paho
 * client from connect to stop (see mqtt.h and docs/mqtt.md).
 *
 * paho owns the delivery machinery: it buffers while disconnected
 * (sendWhileDisconnected, allowDisconnectedSendAtAnyTime), persists every
 * QoS 1 message to <state_dir>/mqtt-<n> (mqtt_store.c) before accepting
 * it, reconnects on its own and resends in order, also by the next process
 * that starts with the same state_dir, client id and URI. A buffered
 * message that paho reports as failed at destroy (-11) is still in the
 * store and goes out after the next start, so nothing here re-sends what
 * paho has accepted. What paho does not do, this file adds:
 *
 *  - A bound paho can keep. QoS 1 messages need a 16-bit message id each,
 *    buffered ones included: at 65535 paho spends tens of seconds scanning
 *    for a free id and then refuses. max_buffered is therefore capped at
 *    PAHO_MAX_BUFFERED per path (mqtt.c).
 *  - An overflow ring per path. When paho refuses a message (its buffer is
 *    full) the message waits in the ring, and every later message of that
 *    path queues behind it, so a path never delivers out of order. The ring
 *    drains into paho as paho makes room. Only when the ring is full too is
 *    a message refused; the journal of the caller still holds its event.
 *    docs/mqtt.md ("Delivery guarantees") states the policy.
 *  - Failover. mqtt.mode "both" sends every message on every path. In
 *    "failover" the secondary path sends only while the primary has been
 *    down for FAILOVER_GRACE_MS; during the grace its ring holds the
 *    messages so the station gets them from the secondary once the grace
 *    runs out, and forgets them if the primary comes back.
 *
 * On every (re)connect a path publishes the retained status "online" and
 * flags itself for the sink, which publishes the rest of the retained tree
 * again; the broker publishes the retained Will "offline" if the process
 * dies. This client only publishes: commands and receipts come in on the
 * path's inbound client (mqtt_inbound.c), so a flood of them never shares
 * a socket with the alarms.
 */
#include "mqtt_internal.h"
#include "pahoload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "mqtt_topics.h"

#define DISCONNECT_TIMEOUT_MS 1000
#define RETRY_MIN_S 1
#define RETRY_MAX_S 5 /* an alarm path must be back within seconds of its broker */
#define OVERFLOW_MSGS PUB_OVERFLOW_MSGS /* per path, allocated at start (about 1.2 MB) */
#define FAILOVER_GRACE_MS 5000     /* a primary down this long brings in the secondary */

/* A message paho could not take yet. */
struct ovf_msg {
    char topic[MSG_TOPIC_MAX];
    char payload[MQTT_PAYLOAD_MAX];
    size_t len;
    int qos;
    bool retained;
};

/* Hands one message to a path's client; paho copies topic and payload. */
int mqtt_path_send(struct pub_path *path, const char *topic, const void *payload, size_t len, int qos,
                     bool retained)
{
    MQTTAsync_message m = MQTTAsync_message_initializer;

    /* paho refuses a NULL payload; an empty retained message needs a non-NULL one. */
    m.payload = (void *)(payload ? payload : "");
    m.payloadlen = (int)len;
    m.qos = qos;
    m.retained = retained;
    return paho()->sendMessage(path->client, topic, &m, NULL);
}

/* Errors that no retry can cure: the message itself is wrong. */
static bool send_error_final(int rc)
{
    return rc == MQTTASYNC_BAD_UTF8_STRING || rc == MQTTASYNC_NULL_PARAMETER ||
           rc == MQTTASYNC_TOPICNAME_TRUNCATED || rc == MQTTASYNC_BAD_STRUCTURE || rc == MQTTASYNC_BAD_QOS;
}

static struct ovf_msg *ring_at(struct pub_path *path, size_t i)
{
    return &path->ring[(path->ring_head + i) % OVERFLOW_MSGS];
}

/* Appends a copy to the path's ring; false if it is full or the message too big. Under path->lock. */
static bool ring_push(struct pub_path *path, const char *topic, const void *payload, size_t len, int qos,
                      bool retained)
{
    struct ovf_msg *m;

    if (!path->ring || path->ring_count == OVERFLOW_MSGS || len > sizeof(m->payload))
        return false;
    m = ring_at(path, path->ring_count++);
    snprintf(m->topic, sizeof(m->topic), "%s", topic);
    if (len)
        memcpy(m->payload, payload, len);
    m->len = len;
    m->qos = qos;
    m->retained = retained;
    return true;
}

static void ring_pop(struct pub_path *path)
{
    path->ring_head = (path->ring_head + 1) % OVERFLOW_MSGS;
    path->ring_count--;
}

/* Hands the ring to paho, oldest first, until paho refuses one. Under path->lock. */
static void ring_drain(struct pub_path *path)
{
    while (path->ring_count > 0) {
        struct ovf_msg *m = ring_at(path, 0);
        int rc = mqtt_path_send(path, m->topic, m->payload, m->len, m->qos, m->retained);

        if (rc != MQTTASYNC_SUCCESS && !send_error_final(rc))
            return;
        if (rc != MQTTASYNC_SUCCESS)
            log_err("mqtt: path=%d broker=%s: buffered message on %s dropped: %s", path->n, path->broker.uri,
                    m->topic, paho()->strerror(rc));
        else
            atomic_fetch_add(&path->pub->progress, 1);
        ring_pop(path);
    }
}

/*
 * What path does with messages now. In failover mode the secondary joins
 * once the primary has been down for the grace; a primary that is merely
 * reconnecting does not bring in the (often metered) secondary.
 */
static enum path_role path_role(const struct pub_path *path, uint64_t now_ms)
{
    const struct pub_path *primary = &path->pub->paths[0];

    if (path->pub->mqtt.mode == CFG_MQTT_BOTH || path == primary)
        return ROLE_SEND;
    if (atomic_load(&primary->connected))
        return ROLE_SKIP;
    return now_ms - atomic_load(&primary->down_since_ms) >= FAILOVER_GRACE_MS ? ROLE_SEND : ROLE_HOLD;
}

/*
 * Brings the ring in line with the path's role and returns the role. A
 * skipped secondary forgets what it held: the primary, which gets every
 * message, is back and delivers them. Under path->lock.
 */
enum path_role mqtt_path_settle(struct pub_path *path, uint64_t now_ms)
{
    enum path_role role = path_role(path, now_ms);

    if (role == ROLE_SKIP)
        path->ring_count = 0;
    else if (role == ROLE_SEND)
        ring_drain(path);
    return role;
}

/* Logs a refusal at most at a growing interval, and once when the path accepts again. Under path->lock. */
static void note_send(struct pub_path *path, const char *topic, bool refused)
{
    if (!refused)
        log_release(&path->refusing, LOG_LVL_NOTICE, "mqtt: path=%d broker=%s: accepting messages again",
                    path->n, path->broker.uri);
    else
        log_complain(&path->refusing, clock_mono_ms(), LOG_LVL_ERR,
                     "mqtt: path=%d broker=%s: message on %s refused: the store (%d messages) and the "
                     "overflow ring (%d) are full; the journal still has its event",
                     path->n, path->broker.uri, topic, path->pub->bound, OVERFLOW_MSGS);
}

/*
 * Sends in order on a SEND path: behind the ring if it holds anything, into
 * the ring if paho refuses. Returns 0, or -1 if the message was refused.
 * Under path->lock, after mqtt_path_settle().
 */
static int path_publish(struct pub_path *path, const char *topic, const void *payload, size_t len, int qos,
                        bool retained)
{
    int rc = MQTTASYNC_FAILURE;

    if (path->ring_count == 0) {
        rc = mqtt_path_send(path, topic, payload, len, qos, retained);
        if (rc == MQTTASYNC_SUCCESS)
            return 0;
    }
    if (!send_error_final(rc) && ring_push(path, topic, payload, len, qos, retained))
        return 0;
    return -1;
}

/* One message to one path as its role says; -1 if refused. */
static int path_offer(struct pub_path *path, const char *topic, const void *payload, size_t len, int qos,
                      bool retained)
{
    int rc = 0;

    pthread_mutex_lock(&path->lock);
    switch (mqtt_path_settle(path, clock_mono_ms())) {
    case ROLE_SKIP: break;
    case ROLE_HOLD:
        /* A full hold ring drops its oldest: the primary has that message in its own store. */
        if (path->ring_count == OVERFLOW_MSGS)
            ring_pop(path);
        ring_push(path, topic, payload, len, qos, retained);
        break;
    case ROLE_SEND:
        rc = path_publish(path, topic, payload, len, qos, retained);
        note_send(path, topic, rc < 0);
        break;
    }
    pthread_mutex_unlock(&path->lock);
    return rc;
}

int pub_publish(struct pub *p, const char *suffix, const void *payload, size_t len, int qos, bool retained)
{
    return pub_publish_to(p, PUB_ALL_PATHS, suffix, payload, len, qos, retained);
}

int pub_publish_to(struct pub *p, unsigned paths, const char *suffix, const void *payload, size_t len, int qos,
                   bool retained)
{
    char topic[MSG_TOPIC_MAX], signed_payload[MQTT_PAYLOAD_MAX];
    int result = 0, n = psig_sign(&p->sign, p->site_id, suffix, payload, len, signed_payload, sizeof(signed_payload));

    if (msg_topic(topic, sizeof(topic), p->mqtt.prefix, p->site_id, suffix) < 0) {
        log_err("mqtt: topic for suffix \"%s\" is too long; message not sent", suffix);
        atomic_fetch_add(&p->refused, 1);
        return -1;
    }
    if (n < 0) {
        log_err("mqtt: payload on %s too long to sign; not sent", suffix);
        atomic_fetch_add(&p->refused, 1);
        return -1;
    }
    for (int i = 0; i < p->n_paths; i++) {
        if (!(paths & (1u << i)))
            continue;
        if (path_offer(&p->paths[i], topic, signed_payload, (size_t)n, qos, retained) < 0) {
            atomic_fetch_add(&p->refused, 1);
            result = -1;
        }
    }
    atomic_fetch_add(&p->progress, 1);
    return result;
}

unsigned pub_take_connected(struct pub *p)
{
    return atomic_exchange(&p->connected_paths, 0u);
}

void pub_set_last_seq(struct pub *p, uint64_t epoch, uint64_t seq)
{
    /* Two stores: a status built between them pairs a seq with the epoch
     * before; the next heartbeat corrects it, and a station reads epochs
     * from events, not from the status alone. */
    atomic_store(&p->last_epoch, epoch);
    atomic_store(&p->last_seq, seq);
}

/* Builds the status payload; now_wall_ms is the started time for the Will. */
int mqtt_build_status(struct pub *p, const char *state, int64_t now_wall_ms, char *buf, size_t cap)
{
    struct msg_status st = {
        .site = p->site_id, .state = state, .version = p->version, .started_wall_ms = p->started_wall_ms,
        .now_wall_ms = now_wall_ms, .heartbeat_s = p->mqtt.heartbeat_s, .seq = atomic_load(&p->last_seq),
        .epoch = atomic_load(&p->last_epoch),
    };
    char plain[MSG_MAX];
    int n = msg_status(&st, plain, sizeof(plain));

    return n < 0 ? -1 : psig_sign(&p->sign, p->site_id, MQTT_TOPIC_STATUS, plain, (size_t)n, buf, cap);
}

/*
 * Publishes the retained status on one path straight to paho: from paho's
 * connected callback, which must not take path->lock, and at shutdown.
 */
void mqtt_send_status(struct pub_path *path, const char *state)
{
    struct pub *p = path->pub;
    char buf[MQTT_PAYLOAD_MAX];
    int len = mqtt_build_status(p, state, clock_wall_ms(), buf, sizeof(buf));
    int rc = len < 0 ? MQTTASYNC_FAILURE : mqtt_path_send(path, p->status_topic, buf, (size_t)len, 1, true);

    if (rc != MQTTASYNC_SUCCESS)
        log_warn("mqtt: path=%d broker=%s: status \"%s\" not sent: %s", path->n, path->broker.uri, state,
                 paho()->strerror(rc));
}

/*
 * The heartbeat on one path, in order behind the path's ring: a status
 * whose seq overtook the events still waiting would look like lost events
 * to the station. It goes on every connected path whatever the mode, so
 * the station supervises the secondary too.
 */
static void heartbeat_path(struct pub_path *path, const char *payload, size_t len)
{
    pthread_mutex_lock(&path->lock);
    if (mqtt_path_settle(path, clock_mono_ms()) == ROLE_SEND)
        path_publish(path, path->pub->status_topic, payload, len, 1, true);
    else
        mqtt_path_send(path, path->pub->status_topic, payload, len, 1, true);
    pthread_mutex_unlock(&path->lock);
}

uint64_t pub_heartbeat(struct pub *p)
{
    uint64_t now_ms = clock_mono_ms();
    char buf[MQTT_PAYLOAD_MAX];
    int len;

    if (now_ms < p->next_heartbeat_ms)
        return p->next_heartbeat_ms;
    len = mqtt_build_status(p, "online", clock_wall_ms(), buf, sizeof(buf));
    for (int i = 0; i < p->n_paths && len >= 0; i++)
        if (atomic_load(&p->paths[i].connected))
            heartbeat_path(&p->paths[i], buf, (size_t)len);
    p->next_heartbeat_ms = now_ms + (uint64_t)p->mqtt.heartbeat_s * 1000u;
    return p->next_heartbeat_ms;
}

/* --- paho callbacks -------------------------------------------------------- */

/*
 * Sends SUBSCRIBE (subscribe true) or UNSUBSCRIBE for cmd and receipt on
 * client; a failure is logged. For the alarm client, which no longer
 * subscribes, and the inbound client, which does.
 */
void mqtt_subscribe_inbound(struct pub_path *path, MQTTAsync client, bool subscribe)
{
    char *topics[2] = {path->pub->cmd_topic, path->pub->rcpt_topic};
    int qos[2] = {1, 1};
    int rc = subscribe ? paho()->subscribeMany(client, 2, topics, qos, NULL)
                       : paho()->unsubscribeMany(client, 2, topics, NULL);

    if (rc != MQTTASYNC_SUCCESS)
        log_err("mqtt: path=%d broker=%s: %s %s and %s failed: %s", path->n, path->broker.uri,
                subscribe ? "subscribe to" : "unsubscribe from", topics[0], topics[1], paho()->strerror(rc));
}

/*
 * Runs on every (re)connect: the session may be new, so say we are online.
 * The broker may also have lost its retained messages: the bit in
 * connected_paths asks the sink, on the core thread, to publish its
 * retained tree again (pub_take_connected); this callback holds paho's
 * lock and must not do that work itself. The session of a vigild from
 * before the inbound client still holds the cmd and receipt subscriptions,
 * which would bring the commands back onto this connection: they are
 * dropped (a no-op on a session without them).
 */
static void on_connected(void *ctx, char *cause)
{
    struct pub_path *path = ctx;

    (void)cause;
    atomic_store(&path->connected, true);
    atomic_fetch_or(&path->pub->connected_paths, 1u << (path->n - 1));
    atomic_fetch_add(&path->pub->progress, 1);
    pthread_mutex_lock(&path->pub->lock);
    log_release(&path->connecting, LOG_LVL_NOTICE, "mqtt: path=%d broker=%s: connect works again", path->n,
                path->broker.uri);
    pthread_mutex_unlock(&path->pub->lock);
    log_notice("mqtt: path=%d broker=%s: connected", path->n, path->broker.uri);
    mqtt_send_status(path, "online");
    mqtt_subscribe_inbound(path, path->client, false);
}

/* Marks the path down from now on; the supervision thread turns a long outage into path_fault. */
static void mark_down(struct pub_path *path)
{
    atomic_store(&path->down_since_ms, clock_mono_ms());
    atomic_store(&path->down_since_wall_ms, clock_wall_ms());
    atomic_store(&path->connected, false);
}

static void on_connection_lost(void *ctx, char *cause)
{
    struct pub_path *path = ctx;

    mark_down(path);
    log_warn("mqtt: path=%d broker=%s: connection lost: %s; reconnecting, messages are buffered", path->n,
             path->broker.uri, cause ? cause : "no reason given");
}

/* paho's reason for a failed request, in words. */
const char *mqtt_failure_why(const MQTTAsync_failureData *resp)
{
    return resp && resp->message ? resp->message : paho()->strerror(resp ? resp->code : MQTTASYNC_FAILURE);
}

/*
 * A connect attempt failed. paho calls this for the first attempt and for
 * automatic retries alike and keeps retrying, so it is rate-limited like
 * any repeating fault.
 */
static void on_connect_failure(void *ctx, MQTTAsync_failureData *resp)
{
    struct pub_path *path = ctx;
    const char *why = mqtt_failure_why(resp);

    /* MQTTAsync_destroy() fails the connect it cancels: that is no broker fault. */
    if (atomic_load(&path->pub->stopping))
        return;
    /* paho's words for any TLS refusal are "TCP/TLS connect failure": mqtt_watch.c finds out why */
    if (mqtt_tls_uri(path->broker.uri))
        atomic_store(&path->tls_failed, true);
    pthread_mutex_lock(&path->pub->lock);
    log_complain(&path->connecting, clock_mono_ms(), LOG_LVL_WARN,
                 "mqtt: path=%d broker=%s: connect failed: %s; retrying in the background, messages are buffered",
                 path->n, path->broker.uri, why);
    pthread_mutex_unlock(&path->pub->lock);
}

/* Also fires for messages restored from the store, which have no other callback. */
static void on_delivered(void *ctx, MQTTAsync_token token)
{
    struct pub_path *path = ctx;

    (void)token;
    atomic_fetch_add(&path->pub->delivered, 1);
    atomic_fetch_add(&path->pub->progress, 1);
}

/* --- levels, for supervision and stats ----------------------------------- */

/* Messages a path has accepted but a broker has not acknowledged yet. */
uint64_t mqtt_path_pending(struct pub_path *path)
{
    MQTTAsync_token *tokens = NULL;
    uint64_t n = 0;

    if (path->client && paho()->getPendingTokens(path->client, &tokens) == MQTTASYNC_SUCCESS && tokens) {
        while (tokens[n] != -1)
            n++;
        paho()->free(tokens);
    }
    return n;
}

/* Messages waiting in the path's overflow ring. */
size_t mqtt_ring_count(struct pub_path *path)
{
    size_t n;

    pthread_mutex_lock(&path->lock);
    n = path->ring_count;
    pthread_mutex_unlock(&path->lock);
    return n;
}

/* --- start and stop -------------------------------------------------------- */

/*
 * Whether the path's store directory exists (created if need be) and can
 * be written. If not (a missing, read-only or unwritable state_dir), the
 * path keeps its messages in paho's memory only: alarms must go out even
 * when nothing can be kept on disk, and the journal raises journal_fault
 * for the same directory.
 */
static bool store_usable(struct pub_path *path)
{
    if ((mkdir(path->store, 0700) < 0 && errno != EEXIST) || access(path->store, W_OK | X_OK) < 0) {
        log_err("mqtt: path=%d broker=%s: store %s cannot be used: %s; messages are kept in memory only "
                "until vigild restarts",
                path->n, path->broker.uri, path->store, strerror(errno));
        return false;
    }
    return true;
}

/* Creates the path's store directory and its client with buffering and persistence (in memory without a store). */
int mqtt_path_create(struct pub_path *path, const char *state_dir, char *err, size_t errlen)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    int rc, n = snprintf(path->store, sizeof(path->store), "%s/mqtt-%d", state_dir, path->n);

    if (n < 0 || (size_t)n >= sizeof(path->store)) {
        snprintf(err, errlen, "mqtt: path %d: state directory %s is too long", path->n, state_dir);
        return -1;
    }
    path->in_memory = !store_usable(path);
    /* struct_version stays 2: paho 1.3.12 rejects 3, so persistQoS0 is ignored (we send no QoS 0). */
    co.sendWhileDisconnected = 1;
    co.allowDisconnectedSendAtAnyTime = 1;
    co.maxBufferedMessages = path->pub->bound;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.deleteOldestMessages = 0; /* a full buffer refuses new messages (into the ring), never drops old ones */
    co.restoreMessages = 1;
    co.persistQoS0 = 0;
    path->persistence = mqtt_store_persistence(path);
    rc = paho()->createWithOptions(&path->client, path->broker.uri, path->broker.client_id,
                                     path->in_memory ? MQTTCLIENT_PERSISTENCE_NONE : MQTTCLIENT_PERSISTENCE_USER,
                                     path->in_memory ? NULL : &path->persistence, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        path->client = NULL;
        snprintf(err, errlen, "mqtt: path %d: cannot create client for %s (store %s): %s", path->n,
                 path->broker.uri, path->store, paho()->strerror(rc));
        return -1;
    }
    return 0;
}

/*
 * The connect options both of a path's clients use: the broker's
 * credentials and TLS, a persistent session, paho's reconnects. ssl must
 * live as long as c.
 */
void mqtt_connect_options(struct pub_path *path, MQTTAsync_connectOptions *c, MQTTAsync_SSLOptions *ssl)
{
    c->keepAliveInterval = path->broker.keepalive_s;
    /* a clean session would drop in-flight QoS 1 messages, and commands or receipts sent while away */
    c->cleansession = 0;
    c->MQTTVersion = MQTTVERSION_3_1_1;
    c->automaticReconnect = 1;
    c->minRetryInterval = RETRY_MIN_S;
    c->maxRetryInterval = RETRY_MAX_S;
    c->username = path->broker.username[0] ? path->broker.username : NULL;
    c->password = path->broker.password[0] ? path->broker.password : NULL;
    c->context = path;
    if (mqtt_tls_uri(path->broker.uri)) {
        mqtt_tls_options(&path->tls, ssl);
        c->ssl = ssl;
    }
}

/* Sets the callbacks and starts the first connect; later reconnects are paho's. */
int mqtt_path_connect(struct pub_path *path, char *err, size_t errlen)
{
    MQTTAsync_connectOptions c = MQTTAsync_connectOptions_initializer;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions ssl;
    int rc;

    paho()->setCallbacks(path->client, path, on_connection_lost, mqtt_on_message, on_delivered);
    paho()->setConnected(path->client, path, on_connected);
    will.topicName = path->pub->status_topic;
    will.message = path->pub->will;
    will.qos = 1;
    will.retained = 1;
    mqtt_connect_options(path, &c, &ssl);
    c.will = &will;
    c.onFailure = on_connect_failure;
    rc = paho()->connect(path->client, &c);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "mqtt: path %d: cannot start connecting to %s: %s", path->n, path->broker.uri,
                 paho()->strerror(rc));
        return -1;
    }
    return 0;
}

/* Fills a path from the copied config; it counts as down from now until it connects. */
int mqtt_path_init(struct pub *p, int i, char *err, size_t errlen)
{
    struct pub_path *path = &p->paths[i];

    path->pub = p;
    path->n = i + 1;
    path->broker = p->mqtt.brokers[i];
    path->tls = mqtt_tls_of_broker(&path->broker);
    pthread_mutex_init(&path->lock, NULL);
    atomic_store(&path->down_since_ms, clock_mono_ms());
    atomic_store(&path->down_since_wall_ms, clock_wall_ms());
    /* The id keys the broker session and the store: config.c gives every broker a stable one. */
    if (!path->broker.client_id[0]) {
        snprintf(err, errlen, "mqtt: broker %d (%s) has no client_id", path->n, path->broker.uri);
        return -1;
    }
    path->ring = calloc(OVERFLOW_MSGS, sizeof(*path->ring));
    if (!path->ring) {
        snprintf(err, errlen, "mqtt: path %d: out of memory for the overflow ring", path->n);
        return -1;
    }
    return 0;
}

/* ctx is the flag mqtt_client_disconnect() waits for. */
static void on_disconnected(void *ctx, MQTTAsync_successData *resp)
{
    (void)resp;
    atomic_store((atomic_bool *)ctx, true);
}

static void on_disconnect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    (void)resp;
    atomic_store((atomic_bool *)ctx, true);
}

/* Disconnects client and waits (bounded) for paho to confirm it in *done. */
void mqtt_client_disconnect(MQTTAsync client, atomic_bool *done)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    struct timespec pause = { 0, 10 * 1000 * 1000 };
    uint64_t deadline_ms = clock_mono_ms() + DISCONNECT_TIMEOUT_MS;

    d.timeout = 0;
    d.onSuccess = on_disconnected;
    d.onFailure = on_disconnect_failed;
    d.context = done;
    if (paho()->disconnect(client, &d) != MQTTASYNC_SUCCESS)
        return;
    while (!atomic_load(done) && clock_mono_ms() < deadline_ms)
        nanosleep(&pause, NULL);
}

/* Hands what the ring still holds to paho's store if it has room now; says what is lost. */
static void ring_flush(struct pub_path *path)
{
    pthread_mutex_lock(&path->lock);
    if (mqtt_path_settle(path, clock_mono_ms()) == ROLE_HOLD)
        path->ring_count = 0;
    if (path->ring_count > 0)
        log_err("mqtt: path=%d broker=%s: %zu messages of the overflow ring are lost with the process; "
                "the journal still has their events", path->n, path->broker.uri, path->ring_count);
    pthread_mutex_unlock(&path->lock);
}

/* Disconnects and destroys a path's client; what paho holds stays in its store. */
void mqtt_path_stop(struct pub_path *path)
{
    uint64_t pending;

    if (!path->client)
        return;
    ring_flush(path);
    mqtt_client_disconnect(path->client, &path->disconnected);
    pending = mqtt_path_pending(path);
    if (pending)
        log_notice("mqtt: path=%d broker=%s: %llu messages not yet delivered; kept in %s for the next start",
                   path->n, path->broker.uri, (unsigned long long)pending, path->store);
    paho()->destroy(&path->client);
}
