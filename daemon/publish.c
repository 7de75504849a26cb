/*
 * publish.c - MQTT over paho MQTTAsync (see publish.h and docs/mqtt.md).
 *
 * Each configured broker is a path with its own client. paho owns the
 * delivery machinery: it buffers while disconnected (sendWhileDisconnected,
 * allowDisconnectedSendAtAnyTime), persists every QoS 1 message to
 * <state_dir>/mqtt-<n> before accepting it, reconnects on its own and
 * resends in order. Nothing here re-queues a message: a buffered message
 * that paho reports as failed at destroy (-11) is still in the store and
 * goes out after the next start, so re-sending it would publish it twice.
 *
 * paho calls us back on its own threads. The callbacks only count, log a
 * line, publish a short reply or push a command to the core's queue; they
 * never create, destroy or wait on a client.
 */
#include "publish.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <MQTTAsync.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "message.h"

#define RECENT_CMDS 64          /* command ids remembered to drop duplicates */
#define DRAIN_TIMEOUT_MS 2000      /* pub_stop waits this long for acknowledgements */
#define DISCONNECT_TIMEOUT_MS 1000
#define RETRY_MIN_S 1
#define RETRY_MAX_S 30

struct pub_path {
    struct pub *pub;
    int n;                      /* 1-based, as in logs and the store name */
    MQTTAsync client;
    const struct cfg_broker *broker;
    char store[CFG_PATH_MAX + 16];
    atomic_bool connected;
    atomic_bool disconnected;   /* pub_stop's disconnect finished */
    struct log_complaint refusing;   /* under pub->lock */
    struct log_complaint connecting; /* under pub->lock */
};

struct pub {
    const struct cfg_site *site;
    struct queue *inputs;
    char version[64];
    int64_t started_wall_ms;
    char status_topic[MSG_TOPIC_MAX];
    char cmd_topic[MSG_TOPIC_MAX];
    char will[MSG_MAX];         /* the Will payload, kept for the life of the clients */
    struct pub_path paths[CFG_MAX_BROKERS];
    int n_paths;
    uint64_t next_heartbeat_ms;
    atomic_uint_fast64_t delivered, refused, progress;
    atomic_bool stopping;
    pthread_mutex_t lock;       /* recent command ids and the complaints */
    char recent[RECENT_CMDS][CORE_CMD_ID_MAX];
    size_t recent_next;
};

/* Hands one message to a path's client; paho copies topic and payload. */
static int path_send(struct pub_path *path, const char *topic, const void *payload, size_t len, int qos,
                     bool retained)
{
    MQTTAsync_message m = MQTTAsync_message_initializer;

    /* paho refuses a NULL payload; an empty retained message needs a non-NULL one. */
    m.payload = (void *)(payload ? payload : "");
    m.payloadlen = (int)len;
    m.qos = qos;
    m.retained = retained;
    return MQTTAsync_sendMessage(path->client, topic, &m, NULL);
}

/* Publishes the retained status on one path; "offline" is also what the Will says. */
static void send_status(struct pub_path *path, const char *state)
{
    struct pub *p = path->pub;
    char buf[MSG_MAX];
    int len = msg_status(p->site, state, p->version, p->started_wall_ms, clock_wall_ms(), buf, sizeof(buf));
    int rc = len < 0 ? MQTTASYNC_FAILURE : path_send(path, p->status_topic, buf, (size_t)len, 1, true);

    if (rc != MQTTASYNC_SUCCESS)
        log_warn("mqtt: path=%d broker=%s: status \"%s\" not sent: %s", path->n, path->broker->uri, state,
                 MQTTAsync_strerror(rc));
}

/* Runs on every (re)connect: the session may be new, so say we are online and (re)subscribe. */
static void on_connected(void *ctx, char *cause)
{
    struct pub_path *path = ctx;
    int rc;

    (void)cause;
    atomic_store(&path->connected, true);
    atomic_fetch_add(&path->pub->progress, 1);
    pthread_mutex_lock(&path->pub->lock);
    path->connecting = (struct log_complaint){ 0 };
    pthread_mutex_unlock(&path->pub->lock);
    log_notice("mqtt: path=%d broker=%s: connected", path->n, path->broker->uri);
    send_status(path, "online");
    rc = MQTTAsync_subscribe(path->client, path->pub->cmd_topic, 1, NULL);
    if (rc != MQTTASYNC_SUCCESS)
        log_err("mqtt: path=%d broker=%s: subscribe %s failed: %s", path->n, path->broker->uri,
                path->pub->cmd_topic, MQTTAsync_strerror(rc));
}

static void on_connection_lost(void *ctx, char *cause)
{
    struct pub_path *path = ctx;

    atomic_store(&path->connected, false);
    log_warn("mqtt: path=%d broker=%s: connection lost: %s; reconnecting, messages are buffered", path->n,
             path->broker->uri, cause ? cause : "no reason given");
}

/*
 * A connect attempt failed. paho calls this for the first attempt and for
 * automatic retries alike and keeps retrying, so it is rate-limited like
 * any repeating fault.
 */
static void on_connect_failure(void *ctx, MQTTAsync_failureData *resp)
{
    struct pub_path *path = ctx;
    const char *why = resp && resp->message ? resp->message
                                            : MQTTAsync_strerror(resp ? resp->code : MQTTASYNC_FAILURE);

    /* MQTTAsync_destroy() fails the connect it cancels: that is no broker fault. */
    if (atomic_load(&path->pub->stopping))
        return;
    pthread_mutex_lock(&path->pub->lock);
    log_complain(&path->connecting, clock_mono_ms(), LOG_LVL_WARN,
                 "mqtt: path=%d broker=%s: connect failed: %s; retrying in the background, messages are buffered",
                 path->n, path->broker->uri, why);
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

/*
 * True if this command id was seen recently, else remembers it. A command
 * arrives twice when the station sends it on both paths, or when a broker
 * redelivers it after a reconnect; an ack or arm must still run once.
 */
static bool seen_recently(struct pub *p, const char *id)
{
    bool seen = false;

    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < RECENT_CMDS && !seen; i++)
        seen = strcmp(p->recent[i], id) == 0;
    if (!seen) {
        snprintf(p->recent[p->recent_next], CORE_CMD_ID_MAX, "%s", id);
        p->recent_next = (p->recent_next + 1) % RECENT_CMDS;
    }
    pthread_mutex_unlock(&p->lock);
    return seen;
}

/* Answers a command that could not be parsed on cmd/result, since the core never sees it. */
static void reject_command(struct pub *p, const struct core_cmd *cmd, int rc, const char *error)
{
    char buf[MSG_MAX];
    int len = msg_cmd_rejected(cmd, rc, error, buf, sizeof(buf));

    log_warn("mqtt: command id=\"%s\" rejected: %s", cmd->id, error);
    if (len >= 0)
        pub_publish(p, "cmd/result", buf, (size_t)len, 1, false);
}

/* Parses a command and queues it for the core, stamped with the time it arrived. */
static void handle_command(struct pub *p, const char *payload, size_t len)
{
    struct core_input in = { .type = CORE_IN_CMD };
    char err[CORE_ERROR_MAX];
    int rc = msg_parse_cmd(payload, len, &in.u.cmd, err, sizeof(err));

    if (rc != MSG_CMD_OK) {
        reject_command(p, &in.u.cmd, rc, err);
        return;
    }
    if (seen_recently(p, in.u.cmd.id)) {
        log_info("mqtt: command id=\"%s\" seen before; ignored", in.u.cmd.id);
        return;
    }
    log_info("mqtt: command id=\"%s\" op=%s target=\"%s\" operator=\"%s\"", in.u.cmd.id,
             core_op_name(in.u.cmd.op), in.u.cmd.target, in.u.cmd.operator_name);
    in.mono_ms = clock_mono_ms();
    in.wall_ms = clock_wall_ms();
    if (queue_push(p->inputs, &in) < 0)
        log_warn("mqtt: command id=\"%s\" arrived during shutdown; not executed", in.u.cmd.id);
}

/*
 * A message on a subscribed topic. Only the command topic is subscribed,
 * but a persistent session can carry an older subscription (a renamed site
 * under the same client id): such commands are not for this site.
 */
static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct pub_path *path = ctx;
    size_t len = topic_len > 0 ? (size_t)topic_len : strlen(topic);

    if (len == strlen(path->pub->cmd_topic) && memcmp(topic, path->pub->cmd_topic, len) == 0)
        handle_command(path->pub, m->payload, (size_t)m->payloadlen);
    else
        log_warn("mqtt: path=%d: message on %.*s ignored; commands go to %s", path->n, (int)len, topic,
                 path->pub->cmd_topic);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Creates the path's store directory and its client with buffering and persistence. */
static int path_create(struct pub_path *path, const char *state_dir, int max_buffered, char *err, size_t errlen)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    int rc, n = snprintf(path->store, sizeof(path->store), "%s/mqtt-%d", state_dir, path->n);

    if (n < 0 || (size_t)n >= sizeof(path->store)) {
        snprintf(err, errlen, "mqtt: path %d: state directory %s is too long", path->n, state_dir);
        return -1;
    }
    if (mkdir(path->store, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "mqtt: path %d: cannot create store %s: %s", path->n, path->store, strerror(errno));
        return -1;
    }
    /* struct_version stays 2: paho 1.3.12 rejects 3, so persistQoS0 is ignored (we send no QoS 0). */
    co.sendWhileDisconnected = 1;
    co.allowDisconnectedSendAtAnyTime = 1;
    co.maxBufferedMessages = max_buffered;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.deleteOldestMessages = 0; /* a full buffer refuses new messages loudly, never drops old ones */
    co.restoreMessages = 1;
    co.persistQoS0 = 0;
    rc = MQTTAsync_createWithOptions(&path->client, path->broker->uri, path->broker->client_id,
                                     MQTTCLIENT_PERSISTENCE_DEFAULT, path->store, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        path->client = NULL;
        snprintf(err, errlen, "mqtt: path %d: cannot create client for %s (store %s): %s", path->n,
                 path->broker->uri, path->store, MQTTAsync_strerror(rc));
        return -1;
    }
    return 0;
}

/* Sets the callbacks and starts the first connect; later reconnects are paho's. */
static int path_connect(struct pub_path *path, char *err, size_t errlen)
{
    MQTTAsync_connectOptions c = MQTTAsync_connectOptions_initializer;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    int rc;

    MQTTAsync_setCallbacks(path->client, path, on_connection_lost, on_message, on_delivered);
    MQTTAsync_setConnected(path->client, path, on_connected);
    will.topicName = path->pub->status_topic;
    will.message = path->pub->will;
    will.qos = 1;
    will.retained = 1;
    c.will = &will;
    c.keepAliveInterval = path->broker->keepalive_s;
    c.cleansession = 0;         /* a clean session would drop in-flight QoS 1 messages */
    c.MQTTVersion = MQTTVERSION_3_1_1;
    c.automaticReconnect = 1;
    c.minRetryInterval = RETRY_MIN_S;
    c.maxRetryInterval = RETRY_MAX_S;
    c.username = path->broker->username[0] ? path->broker->username : NULL;
    c.password = path->broker->password[0] ? path->broker->password : NULL;
    c.onFailure = on_connect_failure;
    c.context = path;
    rc = MQTTAsync_connect(path->client, &c);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "mqtt: path %d: cannot start connecting to %s: %s", path->n, path->broker->uri,
                 MQTTAsync_strerror(rc));
        return -1;
    }
    return 0;
}

/* Fills the fields pub_start() derives from the options before any client exists. */
static int pub_init(struct pub *p, const struct pub_options *o, char *err, size_t errlen)
{
    const struct cfg_mqtt *m = &o->site->mqtt;
    int len;

    p->site = o->site;
    p->inputs = o->inputs;
    pthread_mutex_init(&p->lock, NULL);
    if (m->n_brokers < 1 || m->n_brokers > CFG_MAX_BROKERS) {
        snprintf(err, errlen, "mqtt: %d brokers configured; expected 1 to %d", m->n_brokers, CFG_MAX_BROKERS);
        return -1;
    }
    p->n_paths = m->n_brokers;
    snprintf(p->version, sizeof(p->version), "%s", o->version ? o->version : "unknown");
    p->started_wall_ms = clock_wall_ms();
    p->next_heartbeat_ms = clock_mono_ms() + (uint64_t)m->heartbeat_s * 1000u;
    len = msg_status(p->site, "offline", p->version, p->started_wall_ms, p->started_wall_ms, p->will,
                     sizeof(p->will));
    if (msg_topic(p->status_topic, sizeof(p->status_topic), m->prefix, p->site->id, "status") < 0 ||
        msg_topic(p->cmd_topic, sizeof(p->cmd_topic), m->prefix, p->site->id, "cmd") < 0 || len < 0) {
        snprintf(err, errlen, "mqtt: topic prefix \"%s\" and site id \"%s\" are too long", m->prefix, p->site->id);
        return -1;
    }
    for (int i = 0; i < p->n_paths; i++) {
        struct pub_path *path = &p->paths[i];

        path->pub = p;
        path->n = i + 1;
        path->broker = &m->brokers[i];
        /* The id keys the broker session and the store: config.c gives every broker a stable one. */
        if (!path->broker->client_id[0]) {
            snprintf(err, errlen, "mqtt: broker %d (%s) has no client_id", path->n, path->broker->uri);
            return -1;
        }
    }
    return 0;
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
    for (int i = 0; i < p->n_paths; i++) {
        if (path_create(&p->paths[i], state_dir, o->site->mqtt.max_buffered, err, errlen) < 0 ||
            path_connect(&p->paths[i], err, errlen) < 0) {
            pub_stop(p);
            return NULL;
        }
    }
    return p;
}

/* Logs a refusal at most at a growing interval, and once when the path accepts again. */
static void note_send(struct pub_path *path, const char *topic, int rc)
{
    struct pub *p = path->pub;

    pthread_mutex_lock(&p->lock);
    if (rc == MQTTASYNC_SUCCESS)
        log_release(&path->refusing, LOG_LVL_NOTICE, "mqtt: path=%d broker=%s: accepting messages again",
                    path->n, path->broker->uri);
    else
        log_complain(&path->refusing, clock_mono_ms(), LOG_LVL_ERR,
                     "mqtt: path=%d broker=%s: message on %s refused: %s (buffered messages may be at max_buffered)",
                     path->n, path->broker->uri, topic, MQTTAsync_strerror(rc));
    pthread_mutex_unlock(&p->lock);
}

int pub_publish(struct pub *p, const char *suffix, const void *payload, size_t len, int qos, bool retained)
{
    char topic[MSG_TOPIC_MAX];
    int result = 0;

    if (msg_topic(topic, sizeof(topic), p->site->mqtt.prefix, p->site->id, suffix) < 0) {
        log_err("mqtt: topic for suffix \"%s\" is too long; message not sent", suffix);
        atomic_fetch_add(&p->refused, 1);
        return -1;
    }
    for (int i = 0; i < p->n_paths; i++) {
        int rc = path_send(&p->paths[i], topic, payload, len, qos, retained);

        note_send(&p->paths[i], topic, rc);
        if (rc != MQTTASYNC_SUCCESS) {
            atomic_fetch_add(&p->refused, 1);
            result = -1;
        }
    }
    atomic_fetch_add(&p->progress, 1);
    return result;
}

uint64_t pub_heartbeat(struct pub *p)
{
    uint64_t now_ms = clock_mono_ms();

    if (now_ms < p->next_heartbeat_ms)
        return p->next_heartbeat_ms;
    for (int i = 0; i < p->n_paths; i++)
        if (atomic_load(&p->paths[i].connected))
            send_status(&p->paths[i], "online");
    p->next_heartbeat_ms = now_ms + (uint64_t)p->site->mqtt.heartbeat_s * 1000u;
    return p->next_heartbeat_ms;
}

/* Messages a path has accepted but a broker has not acknowledged yet. */
static uint64_t path_pending(struct pub_path *path)
{
    MQTTAsync_token *tokens = NULL;
    uint64_t n = 0;

    if (path->client && MQTTAsync_getPendingTokens(path->client, &tokens) == MQTTASYNC_SUCCESS && tokens) {
        while (tokens[n] != -1)
            n++;
        MQTTAsync_free(tokens);
    }
    return n;
}

void pub_get_stats(struct pub *p, struct pub_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < p->n_paths; i++) {
        out->connected[i] = atomic_load(&p->paths[i].connected);
        out->pending += path_pending(&p->paths[i]);
    }
    out->delivered = atomic_load(&p->delivered);
    out->refused = atomic_load(&p->refused);
}

uint64_t pub_progress(struct pub *p)
{
    return atomic_load(&p->progress);
}

static void on_disconnected(void *ctx, MQTTAsync_successData *resp)
{
    struct pub_path *path = ctx;

    (void)resp;
    atomic_store(&path->disconnected, true);
}

static void on_disconnect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    struct pub_path *path = ctx;

    (void)resp;
    atomic_store(&path->disconnected, true);
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
                pending += path_pending(&p->paths[i]);
    } while (pending > 0 && clock_mono_ms() < deadline_ms && nanosleep(&pause, NULL) == 0);
}

/* Disconnects one path and waits (bounded) for paho to confirm it. */
static void path_disconnect(struct pub_path *path)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    struct timespec pause = { 0, 10 * 1000 * 1000 };
    uint64_t deadline_ms = clock_mono_ms() + DISCONNECT_TIMEOUT_MS;

    d.timeout = 0;
    d.onSuccess = on_disconnected;
    d.onFailure = on_disconnect_failed;
    d.context = path;
    if (MQTTAsync_disconnect(path->client, &d) != MQTTASYNC_SUCCESS)
        return;
    while (!atomic_load(&path->disconnected) && clock_mono_ms() < deadline_ms)
        nanosleep(&pause, NULL);
}

void pub_stop(struct pub *p)
{
    if (!p)
        return;
    atomic_store(&p->stopping, true);
    /* Only a connected path says "offline" itself: a buffered "offline" would be sent after the
     * next start's "online" is long out. A disconnected path's broker has sent the Will already. */
    for (int i = 0; i < p->n_paths; i++)
        if (p->paths[i].client && atomic_load(&p->paths[i].connected))
            send_status(&p->paths[i], "offline");
    drain(p);
    for (int i = 0; i < p->n_paths; i++) {
        struct pub_path *path = &p->paths[i];
        uint64_t pending;

        if (!path->client)
            continue;
        path_disconnect(path);
        pending = path_pending(path);
        if (pending)
            log_notice("mqtt: path=%d broker=%s: %llu messages not yet delivered; kept in %s for the next start",
                       path->n, path->broker->uri, (unsigned long long)pending, path->store);
        MQTTAsync_destroy(&path->client);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}
