/*
 * publish.c - MQTT over paho MQTTAsync (see publish.h and docs/mqtt.md).
 *
 * Each configured broker is a path with its own client. paho owns the
 * delivery machinery: it buffers while disconnected (sendWhileDisconnected,
 * allowDisconnectedSendAtAnyTime), persists every QoS 1 message to
 * <state_dir>/mqtt-<n> before accepting it, reconnects on its own and
 * resends in order. A buffered message that paho reports as failed at
 * destroy (-11) is still in the store and goes out after the next start,
 * so nothing here re-sends what paho has accepted.
 *
 * What paho does not do, this file adds:
 *
 *  - A bound paho can keep. QoS 1 messages need a 16-bit message id each,
 *    buffered ones included: at 65535 paho spends tens of seconds scanning
 *    for a free id and then refuses. max_buffered is therefore capped at
 *    PAHO_MAX_BUFFERED per path.
 *  - An overflow ring per path. When paho refuses a message (its buffer is
 *    full) the message waits in the ring, and every later message of that
 *    path queues behind it, so a path never delivers out of order. The ring
 *    drains into paho as paho makes room. Only when the ring is full too is
 *    a message refused; the journal of the caller still holds its event.
 *  - Failover. In mqtt.mode "failover" the secondary path sends only while
 *    the primary has been down for FAILOVER_GRACE_MS; during the grace its
 *    ring holds the messages so the station gets them from the secondary
 *    once the grace runs out, and forgets them if the primary comes back.
 *  - A store that reports a failed write. paho's default file store
 *    ignores the error of fclose(), so on a full disk it "persists" an
 *    empty file, frees the message and then crashes when it reads it back.
 *    The store below (the same layout: <store>/<client id>-<host>-<port>/
 *    <key>.msg) checks every write; paho then keeps a message it could
 *    not store in memory and still sends it, and the path raises
 *    spool_full and stops counting as durable.
 *  - Supervision. A thread of its own checks every path and raises the
 *    core's path_fault and spool_full alarms through the inputs queue, and
 *    forwards commands to that queue so paho's callback thread never blocks
 *    on it (a blocked callback holds paho's lock, and the core thread,
 *    publishing, would wait for that lock: a deadlock).
 *  - Receipts. The station's receipts (<prefix>/<site>/receipt) take the
 *    same hand-off as commands: parsed in paho's callback, queued in a ring
 *    under pub->lock, left to paho while the ring is full. They are not core
 *    inputs, so the core thread takes them from the ring itself
 *    (pub_take_receipts()) instead of through the inputs queue.
 *
 * Locks: pub->lock guards the command ids, the command and receipt rings
 * and the connect and receipt complaints; path->lock guards a path's ring and serialises its
 * sends. paho calls back with its own lock held, so a callback never takes
 * a path->lock (a thread holding one calls into paho); callbacks send their
 * few messages (status on connect, command rejections) straight to paho.
 */
#include "publish.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "message.h"
#include "receipt.h"

#define RECENT_CMDS 64             /* command ids remembered to drop duplicates */
#define CMD_RING 64                /* parsed commands waiting for the inputs queue */
#define RCPT_RING 1024             /* receipted seqs waiting for the core thread */
#define DRAIN_TIMEOUT_MS 2000      /* pub_stop waits this long for acknowledgements */
#define DISCONNECT_TIMEOUT_MS 1000
#define RETRY_MIN_S 1
#define RETRY_MAX_S 5 /* an alarm path must be back within seconds of its broker */
#define PAHO_MAX_BUFFERED 60000    /* below paho's 65535 message ids, with room for in-flight ones */
#define OVERFLOW_MSGS PUB_OVERFLOW_MSGS /* per path, allocated at start (about 1.2 MB) */
#define WATCH_MS 100               /* the supervision thread's period: drains, commands */
#define CHECK_MS 500               /* spool levels, disk space and path states */
#define FAILOVER_GRACE_MS 5000     /* a primary down this long brings in the secondary */
#define SPOOL_HIGH_PCT 90          /* spool_full at this fill level of a path ... */
#define SPOOL_LOW_PCT 50           /* ... cleared below this one on every path */
#define DEFAULT_MIN_FREE (1u << 20)
#define MIN_FREE_INODES 256        /* paho writes one file per message */

/* A message paho could not take yet. */
struct ovf_msg {
    char topic[MSG_TOPIC_MAX];
    char payload[MSG_MAX];
    size_t len;
    int qos;
    bool retained;
};

/* What a path does with a message, by mode and the primary's state. */
enum path_role {
    ROLE_SEND, /* hand it to paho, behind the ring */
    ROLE_HOLD, /* failover secondary during the grace: keep it in the ring */
    ROLE_SKIP, /* failover secondary while the primary is up: not this path's */
};

struct pub_path {
    struct pub *pub;
    int n;                      /* 1-based, as in logs and the store name */
    MQTTAsync client;
    struct cfg_broker broker;
    char store[CFG_PATH_MAX + 16];
    atomic_bool connected;
    atomic_bool disconnected;   /* pub_stop's disconnect finished */
    atomic_uint_fast64_t down_since_ms;   /* monotonic; start or last connection loss */
    atomic_int_fast64_t down_since_wall_ms;
    atomic_bool suspect;        /* a store write failed or could have: paho may hold unwritten messages */
    atomic_int write_errno;     /* of the last failed store write; 0 once one succeeds again */
    MQTTClient_persistence persistence; /* the store below, for this path's client */
    pthread_mutex_t lock;       /* the ring and the order of sends; never taken in a paho callback */
    struct ovf_msg *ring;       /* OVERFLOW_MSGS slots, oldest at ring_head */
    size_t ring_head, ring_count;
    struct log_complaint refusing;   /* under lock */
    struct log_complaint connecting; /* under pub->lock */
    /* Only the supervision thread touches these. */
    bool disk_low;              /* check_disk()'s last verdict, for its hysteresis */
};

struct pub {
    char site_id[CFG_ID_MAX];
    struct cfg_mqtt mqtt;       /* copied: the site may be freed by a reload */
    int bound;                  /* paho's maxBufferedMessages per path */
    uint64_t min_free_bytes;
    struct queue *inputs;
    char version[64];
    int64_t started_wall_ms;
    char status_topic[MSG_TOPIC_MAX];
    char cmd_topic[MSG_TOPIC_MAX];
    char rcpt_topic[MSG_TOPIC_MAX];
    char will[MSG_MAX];         /* the Will payload, kept for the life of the clients */
    struct pub_path paths[CFG_MAX_BROKERS];
    int n_paths;
    uint64_t next_heartbeat_ms;
    atomic_uint_fast64_t delivered, refused, progress, last_seq;
    atomic_bool stopping;
    pthread_mutex_t lock;       /* command ids, the command ring, connect complaints */
    pthread_cond_t wake;        /* a command arrived, or stop */
    char recent[RECENT_CMDS][CORE_CMD_ID_MAX];
    size_t recent_next;
    struct core_input cmds[CMD_RING];
    size_t cmd_head, cmd_count;
    uint64_t rcpts[RCPT_RING];  /* receipted seqs, oldest at rcpt_head */
    size_t rcpt_head, rcpt_count;
    struct log_complaint bad_receipt;
    pthread_t watcher;
    bool watching;
    /* The supervision thread's alarm states: -1 not told to the core yet, else 0/1. */
    int spool_alarm, path_alarm;
    uint64_t next_check_ms;
};

/* --- sending --------------------------------------------------------------- */

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
        int rc = path_send(path, m->topic, m->payload, m->len, m->qos, m->retained);

        if (rc != MQTTASYNC_SUCCESS && !send_error_final(rc))
            return;
        if (rc != MQTTASYNC_SUCCESS)
            log_err("mqtt: path=%d broker=%s: buffered message on %s dropped: %s", path->n, path->broker.uri,
                    m->topic, MQTTAsync_strerror(rc));
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
static enum path_role path_settle(struct pub_path *path, uint64_t now_ms)
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
 * Under path->lock, after path_settle().
 */
static int path_publish(struct pub_path *path, const char *topic, const void *payload, size_t len, int qos,
                        bool retained)
{
    int rc = MQTTASYNC_FAILURE;

    if (path->ring_count == 0) {
        rc = path_send(path, topic, payload, len, qos, retained);
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
    switch (path_settle(path, clock_mono_ms())) {
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
    char topic[MSG_TOPIC_MAX];
    int result = 0;

    if (msg_topic(topic, sizeof(topic), p->mqtt.prefix, p->site_id, suffix) < 0) {
        log_err("mqtt: topic for suffix \"%s\" is too long; message not sent", suffix);
        atomic_fetch_add(&p->refused, 1);
        return -1;
    }
    for (int i = 0; i < p->n_paths; i++) {
        if (path_offer(&p->paths[i], topic, payload, len, qos, retained) < 0) {
            atomic_fetch_add(&p->refused, 1);
            result = -1;
        }
    }
    atomic_fetch_add(&p->progress, 1);
    return result;
}

void pub_set_last_seq(struct pub *p, uint64_t seq)
{
    atomic_store(&p->last_seq, seq);
}

/* Builds the status payload; now_wall_ms is the started time for the Will. */
static int build_status(struct pub *p, const char *state, int64_t now_wall_ms, char *buf, size_t cap)
{
    struct msg_status st = {
        .site = p->site_id, .state = state, .version = p->version, .started_wall_ms = p->started_wall_ms,
        .now_wall_ms = now_wall_ms, .heartbeat_s = p->mqtt.heartbeat_s, .seq = atomic_load(&p->last_seq),
    };

    return msg_status(&st, buf, cap);
}

/*
 * Publishes the retained status on one path straight to paho: from paho's
 * connected callback, which must not take path->lock, and at shutdown.
 */
static void send_status(struct pub_path *path, const char *state)
{
    struct pub *p = path->pub;
    char buf[MSG_MAX];
    int len = build_status(p, state, clock_wall_ms(), buf, sizeof(buf));
    int rc = len < 0 ? MQTTASYNC_FAILURE : path_send(path, p->status_topic, buf, (size_t)len, 1, true);

    if (rc != MQTTASYNC_SUCCESS)
        log_warn("mqtt: path=%d broker=%s: status \"%s\" not sent: %s", path->n, path->broker.uri, state,
                 MQTTAsync_strerror(rc));
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
    if (path_settle(path, clock_mono_ms()) == ROLE_SEND)
        path_publish(path, path->pub->status_topic, payload, len, 1, true);
    else
        path_send(path, path->pub->status_topic, payload, len, 1, true);
    pthread_mutex_unlock(&path->lock);
}

uint64_t pub_heartbeat(struct pub *p)
{
    uint64_t now_ms = clock_mono_ms();
    char buf[MSG_MAX];
    int len;

    if (now_ms < p->next_heartbeat_ms)
        return p->next_heartbeat_ms;
    len = build_status(p, "online", clock_wall_ms(), buf, sizeof(buf));
    for (int i = 0; i < p->n_paths && len >= 0; i++)
        if (atomic_load(&p->paths[i].connected))
            heartbeat_path(&p->paths[i], buf, (size_t)len);
    p->next_heartbeat_ms = now_ms + (uint64_t)p->mqtt.heartbeat_s * 1000u;
    return p->next_heartbeat_ms;
}

/* --- paho callbacks -------------------------------------------------------- */

static void subscribe(struct pub_path *path, const char *topic)
{
    int rc = MQTTAsync_subscribe(path->client, topic, 1, NULL);

    if (rc != MQTTASYNC_SUCCESS)
        log_err("mqtt: path=%d broker=%s: subscribe %s failed: %s", path->n, path->broker.uri, topic,
                MQTTAsync_strerror(rc));
}

/* Runs on every (re)connect: the session may be new, so say we are online and (re)subscribe. */
static void on_connected(void *ctx, char *cause)
{
    struct pub_path *path = ctx;

    (void)cause;
    atomic_store(&path->connected, true);
    atomic_fetch_add(&path->pub->progress, 1);
    pthread_mutex_lock(&path->pub->lock);
    log_release(&path->connecting, LOG_LVL_NOTICE, "mqtt: path=%d broker=%s: connect works again", path->n,
                path->broker.uri);
    pthread_mutex_unlock(&path->pub->lock);
    log_notice("mqtt: path=%d broker=%s: connected", path->n, path->broker.uri);
    send_status(path, "online");
    subscribe(path, path->pub->cmd_topic);
    subscribe(path, path->pub->rcpt_topic);
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

/*
 * Answers a command the core never sees on cmd/result, on the path it came
 * by (straight to paho: this runs in paho's callback).
 */
static void reject_command(struct pub_path *path, const struct core_cmd *cmd, int rc, const char *error)
{
    char buf[MSG_MAX], topic[MSG_TOPIC_MAX];
    int len = msg_cmd_rejected(cmd, rc, error, buf, sizeof(buf));

    log_warn("mqtt: command id=\"%s\" rejected: %s", cmd->id, error);
    if (len >= 0 && msg_topic(topic, sizeof(topic), path->pub->mqtt.prefix, path->pub->site_id, "cmd/result") >= 0)
        path_send(path, topic, buf, (size_t)len, 1, false);
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
 * Parses a command, refuses it if its "ts" is too old (the broker kept it
 * while vigild was away), and queues it for the core stamped with the time
 * it arrived.
 */
static void handle_command(struct pub_path *path, const char *payload, size_t len)
{
    struct pub *p = path->pub;
    struct core_input in = { .type = CORE_IN_CMD };
    char err[CORE_ERROR_MAX];
    int64_t ts_wall_ms;
    int rc = msg_parse_cmd(payload, len, &in.u.cmd, &ts_wall_ms, err, sizeof(err));

    if (rc == MSG_CMD_OK && msg_cmd_fresh(ts_wall_ms, clock_wall_ms(), p->mqtt.cmd_max_age_s, err, sizeof(err)) < 0)
        rc = MSG_CMD_BAD_ARGS;
    if (rc != MSG_CMD_OK) {
        reject_command(path, &in.u.cmd, rc, err);
        return;
    }
    if (seen_recently(p, in.u.cmd.id)) {
        log_info("mqtt: command id=\"%s\" seen before; ignored", in.u.cmd.id);
        return;
    }
    log_info("mqtt: command id=\"%s\" op=%s target=\"%s\" operator=\"%s\" path=%d", in.u.cmd.id,
             core_op_name(in.u.cmd.op), in.u.cmd.target, in.u.cmd.operator_name, path->n);
    in.mono_ms = clock_mono_ms();
    in.wall_ms = clock_wall_ms();
    cmd_ring_push(p, &in);
}

/*
 * Parses a receipt and queues its seqs for the core thread; false (nothing
 * queued) while the ring has no room for them, so paho offers it again. A
 * malformed receipt is logged, rate-limited, and otherwise ignored.
 */
static bool handle_receipt(struct pub *p, const char *payload, size_t len)
{
    uint64_t seqs[RCPT_MAX_SEQS];
    char err[160];
    int n = rcpt_parse(payload, len, seqs, RCPT_MAX_SEQS, err, sizeof(err));
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
        p->rcpts[(p->rcpt_head + p->rcpt_count++) % RCPT_RING] = seqs[i];
    pthread_mutex_unlock(&p->lock);
    return room;
}

size_t pub_take_receipts(struct pub *p, uint64_t *seqs, size_t cap)
{
    size_t n = 0;

    pthread_mutex_lock(&p->lock);
    for (; n < cap && p->rcpt_count > 0; n++) {
        seqs[n] = p->rcpts[p->rcpt_head];
        p->rcpt_head = (p->rcpt_head + 1) % RCPT_RING;
        p->rcpt_count--;
    }
    pthread_mutex_unlock(&p->lock);
    return n;
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
static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
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
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* --- the message store ------------------------------------------------------ */

#define STORE_SUFFIX ".msg"

/* One client's store directory, opened by paho through store_open(). */
struct store {
    struct pub_path *path;
    char dir[CFG_PATH_MAX * 2];
};

/* "<dir>/<key>.msg"; false if it does not fit. */
static bool store_file(const struct store *st, const char *key, char *file, size_t cap)
{
    int n = snprintf(file, cap, "%s/%s" STORE_SUFFIX, st->dir, key);

    return n > 0 && (size_t)n < cap;
}

/* Writes all of buf to fd; false on any error, with errno set. */
static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* The key of a directory entry that is a message file, or NULL. */
static const char *entry_key(const struct dirent *e, size_t *len)
{
    size_t n = strlen(e->d_name), sl = strlen(STORE_SUFFIX);

    if (n <= sl || strcmp(e->d_name + n - sl, STORE_SUFFIX) != 0)
        return NULL;
    *len = n - sl;
    return e->d_name;
}

/*
 * Removes empty message files: what paho's default store leaves behind
 * when a write failed on a full disk. They hold no message, and paho would
 * crash reading one back.
 */
static void store_sweep(const struct store *st)
{
    DIR *d = opendir(st->dir);
    struct dirent *e;
    struct stat sb;
    char file[CFG_PATH_MAX * 3];
    int removed = 0;

    while (d && (e = readdir(d)) != NULL) {
        if (!entry_key(e, &(size_t){ 0 }) ||
            snprintf(file, sizeof(file), "%s/%s", st->dir, e->d_name) >= (int)sizeof(file) ||
            stat(file, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size != 0)
            continue;
        removed += unlink(file) == 0;
    }
    if (d)
        closedir(d);
    if (removed)
        log_warn("mqtt: path=%d: removed %d empty message files from %s (a write had failed)",
                 st->path->n, removed, st->dir);
}

/* paho's popen: the directory "<store>/<client id>-<server URI with : and / as ->", as paho's own store names it. */
static int store_open(void **handle, const char *client_id, const char *server_uri, void *context)
{
    struct pub_path *path = context;
    struct store *st = calloc(1, sizeof(*st));
    int n;

    if (!st)
        return MQTTCLIENT_PERSISTENCE_ERROR;
    st->path = path;
    n = snprintf(st->dir, sizeof(st->dir), "%s/%s-%s", path->store, client_id, server_uri);
    for (char *c = st->dir + strlen(path->store) + 1; n > 0 && *c; c++)
        if (*c == ':' || *c == '/')
            *c = '-';
    if (n < 0 || (size_t)n >= sizeof(st->dir) || (mkdir(st->dir, 0700) < 0 && errno != EEXIST)) {
        log_err("mqtt: path=%d: cannot create store directory %s: %s", path->n, st->dir, strerror(errno));
        free(st);
        return MQTTCLIENT_PERSISTENCE_ERROR;
    }
    store_sweep(st);
    *handle = st;
    return 0;
}

static int store_close(void *handle)
{
    struct store *st = handle;

    rmdir(st->dir); /* only if empty: what is left goes out after the next start */
    free(st);
    return 0;
}

/* Notes a store write's outcome for supervision; logs the first failure of a run. */
static void store_note(struct pub_path *path, int err)
{
    int before = atomic_exchange(&path->write_errno, err);

    if (err) {
        atomic_store(&path->suspect, true);
        if (!before)
            log_err("mqtt: path=%d: cannot write the message store %s: %s; messages are kept in memory "
                    "and still sent", path->n, path->store, strerror(err));
    } else if (before) {
        log_notice("mqtt: path=%d: the message store %s can be written again", path->n, path->store);
    }
}

/*
 * paho's pput: the buffers, concatenated, as <key>.msg. Every write and the
 * close are checked; a failed file is removed, so paho keeps the message
 * in memory instead of trusting a file that does not hold it. Not fsynced
 * (docs/mqtt.md): the caller's journal covers a power loss.
 */
static int store_put(void *handle, char *key, int bufcount, char *buffers[], int buflens[])
{
    struct store *st = handle;
    char file[CFG_PATH_MAX * 3];
    bool ok;
    int fd, err;

    if (!store_file(st, key, file, sizeof(file)))
        return MQTTCLIENT_PERSISTENCE_ERROR;
    fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ok = fd >= 0;
    for (int i = 0; ok && i < bufcount; i++)
        ok = buflens[i] <= 0 || write_all(fd, buffers[i], (size_t)buflens[i]);
    err = ok ? 0 : errno;
    if (fd >= 0 && close(fd) < 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok && fd >= 0)
        unlink(file);
    store_note(st->path, ok ? 0 : err ? err : EIO);
    return ok ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

/* paho's pget: the whole file in a buffer paho frees (hence MQTTAsync_malloc). */
static int store_get(void *handle, char *key, char **buffer, int *buflen)
{
    struct store *st = handle;
    char file[CFG_PATH_MAX * 3], *buf = NULL;
    struct stat sb;
    int fd = store_file(st, key, file, sizeof(file)) ? open(file, O_RDONLY | O_CLOEXEC) : -1;
    ssize_t got = -1;

    if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 0 && sb.st_size < INT32_MAX &&
        (buf = MQTTAsync_malloc((size_t)sb.st_size)) != NULL)
        got = read(fd, buf, (size_t)sb.st_size);
    if (fd >= 0)
        close(fd);
    if (got <= 0 || got != (ssize_t)sb.st_size) {
        MQTTAsync_free(buf);
        return MQTTCLIENT_PERSISTENCE_ERROR;
    }
    *buffer = buf;
    *buflen = (int)got;
    return 0;
}

static int store_remove(void *handle, char *key)
{
    char file[CFG_PATH_MAX * 3];

    if (!store_file(handle, key, file, sizeof(file)) || (unlink(file) < 0 && errno != ENOENT))
        return MQTTCLIENT_PERSISTENCE_ERROR;
    return 0;
}

/* paho's pkeys: every key in the store, in arrays paho frees. */
static int store_keys(void *handle, char ***keys, int *nkeys)
{
    struct store *st = handle;
    DIR *d = opendir(st->dir);
    struct dirent *e;
    int n = 0, cap = 0;
    char **out = NULL;

    *keys = NULL;
    *nkeys = 0;
    if (!d)
        return MQTTCLIENT_PERSISTENCE_ERROR;
    while ((e = readdir(d)) != NULL)
        cap += entry_key(e, &(size_t){ 0 }) != NULL;
    rewinddir(d);
    if (cap > 0 && (out = MQTTAsync_malloc((size_t)cap * sizeof(*out))) == NULL) {
        closedir(d);
        return MQTTCLIENT_PERSISTENCE_ERROR;
    }
    while (n < cap && (e = readdir(d)) != NULL) {
        size_t len;
        const char *key = entry_key(e, &len);

        if (key && (out[n] = MQTTAsync_malloc(len + 1)) != NULL) {
            memcpy(out[n], key, len);
            out[n++][len] = '\0';
        }
    }
    closedir(d);
    *keys = out;
    *nkeys = n;
    return 0;
}

static int store_clear(void *handle)
{
    struct store *st = handle;
    DIR *d = opendir(st->dir);
    struct dirent *e;
    char key[NAME_MAX + 1];
    int rc = 0;

    while (d && (e = readdir(d)) != NULL) {
        size_t len;

        if (entry_key(e, &len) && len < sizeof(key)) {
            memcpy(key, e->d_name, len);
            key[len] = '\0';
            rc |= store_remove(st, key);
        }
    }
    if (d)
        closedir(d);
    return rc ? MQTTCLIENT_PERSISTENCE_ERROR : 0;
}

static int store_contains(void *handle, char *key)
{
    char file[CFG_PATH_MAX * 3];

    return store_file(handle, key, file, sizeof(file)) && access(file, F_OK) == 0 ? 0
                                                                                : MQTTCLIENT_PERSISTENCE_ERROR;
}

/* --- supervision ----------------------------------------------------------- */

/* Pushes a system alarm change to the core; false once the queue is closed. */
static bool push_system(struct pub *p, enum core_sys_kind kind, bool active, const char *text)
{
    struct core_input in;

    core_system_input(&in, kind, active, text, clock_mono_ms(), clock_wall_ms());
    return queue_push(p->inputs, &in) == 0;
}

/* Moves queued commands to the core's queue; blocks while that is full. */
/* Returns true if commands had to stay in the ring because the queue is full. */
static bool forward_commands(struct pub *p)
{
    int rc = 1;

    /* Never blocks: while the core's queue is full the commands wait in the
     * ring (and then with paho), and this thread goes on draining the
     * message rings and watching the paths. */
    pthread_mutex_lock(&p->lock);
    while (p->cmd_count > 0 && rc != 0) {
        rc = queue_try_push(p->inputs, &p->cmds[p->cmd_head]);
        if (rc < 0)
            log_warn("mqtt: command id=\"%s\" arrived during shutdown; not executed",
                     p->cmds[p->cmd_head].u.cmd.id);
        if (rc != 0) {
            p->cmd_head = (p->cmd_head + 1) % CMD_RING;
            p->cmd_count--;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return rc == 0;
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

static size_t ring_count(struct pub_path *path)
{
    size_t n;

    pthread_mutex_lock(&path->lock);
    n = path->ring_count;
    pthread_mutex_unlock(&path->lock);
    return n;
}

/*
 * Whether the file system of the path's store is nearly full, with
 * hysteresis: low below min_free_bytes (or MIN_FREE_INODES), fine again
 * from twice that. paho does not report a failed write of its store (the
 * message stays in memory and is still sent), so this is the only warning.
 */
static bool check_disk(struct pub_path *path, uint64_t *free_bytes)
{
    uint64_t min_free = path->pub->min_free_bytes;
    struct statvfs st;
    bool inodes_low;

    if (statvfs(path->store, &st) < 0)
        return path->disk_low;
    *free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
    inodes_low = st.f_files > 0 && st.f_favail < (path->disk_low ? 2 : 1) * MIN_FREE_INODES;
    path->disk_low = *free_bytes < (path->disk_low ? 2 : 1) * min_free || inodes_low;
    if (path->disk_low)
        atomic_store(&path->suspect, true);
    return path->disk_low;
}

/*
 * Whether the store can be written again after a failed write: a small
 * file written and removed. Without it a path that sends nothing would
 * keep the alarm until its next message.
 */
static void probe_store(struct pub_path *path)
{
    static const char block[512];
    char file[CFG_PATH_MAX + 32];
    int fd, err = 0;

    snprintf(file, sizeof(file), "%s/.write-probe", path->store);
    fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || !write_all(fd, block, sizeof(block)))
        err = errno ? errno : EIO;
    if (fd >= 0 && close(fd) < 0 && !err)
        err = errno;
    unlink(file);
    if (!err)
        store_note(path, 0);
}

/* One path's spool as the supervision thread measured it. */
struct spool_reading {
    uint64_t level;             /* accepted, not acknowledged: paho's pending plus the overflow ring */
    uint64_t free_bytes;        /* on the store's file system */
    bool disk_low;
    int write_errno;            /* the store cannot be written; 0 if it can */
};

/*
 * Measures one path. A path stops being suspect (messages in paho's memory
 * only) once its store works and the broker has acknowledged everything.
 */
static void read_spool(struct pub_path *path, struct spool_reading *r)
{
    uint64_t pending = path_pending(path);

    r->free_bytes = 0;
    r->disk_low = check_disk(path, &r->free_bytes);
    if (atomic_load(&path->write_errno) && !r->disk_low)
        probe_store(path);
    r->write_errno = atomic_load(&path->write_errno);
    r->level = pending + ring_count(path);
    if (!r->disk_low && !r->write_errno && pending == 0)
        atomic_store(&path->suspect, false);
}

/* Whether a reading calls for spool_full, with the reason in text. */
static bool spool_high(const struct pub_path *path, const struct spool_reading *r, char *text, size_t cap)
{
    int bound = path->pub->bound;

    if (r->write_errno)
        snprintf(text, cap, "MQTT spool disk cannot be written (%s) in %s on path %d", strerror(r->write_errno),
                 path->store, path->n);
    else if (r->disk_low)
        snprintf(text, cap, "MQTT spool disk nearly full: %" PRIu64 " KiB free for %s on path %d",
                 r->free_bytes / 1024, path->store, path->n);
    else if (r->level * 100 >= (uint64_t)bound * SPOOL_HIGH_PCT)
        snprintf(text, cap, "MQTT spool at %" PRIu64 "%% of %d messages on path %d", r->level * 100 / (uint64_t)bound,
                 bound, path->n);
    else
        return false;
    return true;
}

/*
 * Measures every path and says whether any is above the low mark; *high
 * whether any calls for spool_full, the first one's reason in text.
 */
static bool spool_state(struct pub *p, bool *high, char *text, size_t cap)
{
    bool above_low = false;

    *high = false;
    for (int i = 0; i < p->n_paths; i++) {
        struct spool_reading r;

        read_spool(&p->paths[i], &r);
        above_low |= r.disk_low || r.write_errno || r.level * 100 >= (uint64_t)p->bound * SPOOL_LOW_PCT;
        if (!*high)
            *high = spool_high(&p->paths[i], &r, text, cap);
    }
    return above_low;
}

/* Raises spool_full at the high mark (or a low disk) and clears it below the low mark on every path. */
static void check_spool(struct pub *p)
{
    char text[CORE_ERROR_MAX] = "MQTT spool below 50% on every path";
    bool high, above_low = spool_state(p, &high, text, sizeof(text));
    int want = high ? 1 : above_low ? p->spool_alarm : 0;

    /* Unknown at start (-1): the core may still hold the alarm from before a restart. */
    if (want < 0)
        want = 0;
    if (want == p->spool_alarm)
        return;
    if (want)
        log_err("mqtt: spool_full: %s", text);
    else if (p->spool_alarm == 1)
        log_notice("mqtt: spool_full cleared: %s", text);
    if (push_system(p, CORE_SYS_SPOOL_FULL, want == 1, want ? text : ""))
        p->spool_alarm = want;
}

/*
 * Lists the paths down for path_fault_s in text; *all_up says whether
 * every path is connected. Returns how many are down that long.
 */
static int paths_down(struct pub *p, uint64_t now_ms, bool *all_up, char *text, size_t cap)
{
    uint64_t limit_ms = (uint64_t)p->mqtt.path_fault_s * 1000u;
    size_t used = 0;
    int down = 0;

    *all_up = true;
    text[0] = '\0';
    for (int i = 0; i < p->n_paths; i++) {
        struct pub_path *path = &p->paths[i];
        char since[MSG_TS_LEN + 1];

        if (atomic_load(&path->connected))
            continue;
        *all_up = false;
        if (now_ms - atomic_load(&path->down_since_ms) < limit_ms)
            continue;
        msg_ts(atomic_load(&path->down_since_wall_ms), since);
        if (used < cap)
            used += (size_t)snprintf(text + used, cap - used, "%spath %d %s down since %s", down ? "; " : "",
                                     path->n, path->broker.uri, since);
        down++;
    }
    return down;
}

/*
 * Raises path_fault once a path has been down for path_fault_s and clears
 * it when every path is up again. The core has one path_fault alarm: its
 * text names the paths down when it was raised. With a single broker the
 * event waits in that path's buffer; the station sees the silent site by
 * the missing heartbeat first.
 */
static void check_paths(struct pub *p, uint64_t now_ms)
{
    char text[CORE_ERROR_MAX];
    bool all_up;
    int down = paths_down(p, now_ms, &all_up, text, sizeof(text));
    int want = down > 0 ? 1 : all_up ? 0 : p->path_alarm;

    /* Until a path has decided (up, or down long enough) the state stays untold. */
    if (want < 0 || want == p->path_alarm)
        return;
    if (want)
        log_err("mqtt: path_fault: %s", text);
    else if (p->path_alarm == 1)
        log_notice("mqtt: path_fault cleared: every path is connected");
    if (push_system(p, CORE_SYS_PATH_FAULT, want == 1, want ? text : ""))
        p->path_alarm = want;
}

/* Drains every path's ring as far as paho takes it, and settles failover roles. */
static void drain_paths(struct pub *p)
{
    for (int i = 0; i < p->n_paths; i++) {
        pthread_mutex_lock(&p->paths[i].lock);
        path_settle(&p->paths[i], clock_mono_ms());
        pthread_mutex_unlock(&p->paths[i].lock);
    }
}

/* Waits up to WATCH_MS, or less when a command or the stop arrives; the full
 * WATCH_MS while commands wait for room in the core's queue (no busy loop). */
static void watch_wait(struct pub *p, bool cmds_blocked)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += WATCH_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    if ((p->cmd_count == 0 || cmds_blocked) && !atomic_load(&p->stopping))
        pthread_cond_timedwait(&p->wake, &p->lock, &until);
    pthread_mutex_unlock(&p->lock);
}

/* The supervision thread: commands to the core, rings to paho, alarms about paths and spool. */
static void *watch_main(void *arg)
{
    struct pub *p = arg;

    while (!atomic_load(&p->stopping)) {
        uint64_t now_ms;
        bool cmds_blocked = forward_commands(p);

        drain_paths(p);
        now_ms = clock_mono_ms();
        if (now_ms >= p->next_check_ms) {
            p->next_check_ms = now_ms + CHECK_MS;
            check_spool(p);
            check_paths(p, now_ms);
        }
        watch_wait(p, cmds_blocked);
    }
    return NULL;
}

/* --- start and stop -------------------------------------------------------- */

/* Creates the path's store directory and its client with buffering and persistence. */
static int path_create(struct pub_path *path, const char *state_dir, char *err, size_t errlen)
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
    co.maxBufferedMessages = path->pub->bound;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.deleteOldestMessages = 0; /* a full buffer refuses new messages (into the ring), never drops old ones */
    co.restoreMessages = 1;
    co.persistQoS0 = 0;
    path->persistence = (MQTTClient_persistence){
        .context = path, .popen = store_open, .pclose = store_close, .pput = store_put, .pget = store_get,
        .premove = store_remove, .pkeys = store_keys, .pclear = store_clear, .pcontainskey = store_contains,
    };
    rc = MQTTAsync_createWithOptions(&path->client, path->broker.uri, path->broker.client_id,
                                     MQTTCLIENT_PERSISTENCE_USER, &path->persistence, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        path->client = NULL;
        snprintf(err, errlen, "mqtt: path %d: cannot create client for %s (store %s): %s", path->n,
                 path->broker.uri, path->store, MQTTAsync_strerror(rc));
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
    c.keepAliveInterval = path->broker.keepalive_s;
    c.cleansession = 0;         /* a clean session would drop in-flight QoS 1 messages */
    c.MQTTVersion = MQTTVERSION_3_1_1;
    c.automaticReconnect = 1;
    c.minRetryInterval = RETRY_MIN_S;
    c.maxRetryInterval = RETRY_MAX_S;
    c.username = path->broker.username[0] ? path->broker.username : NULL;
    c.password = path->broker.password[0] ? path->broker.password : NULL;
    c.onFailure = on_connect_failure;
    c.context = path;
    rc = MQTTAsync_connect(path->client, &c);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "mqtt: path %d: cannot start connecting to %s: %s", path->n, path->broker.uri,
                 MQTTAsync_strerror(rc));
        return -1;
    }
    return 0;
}

/* Fills a path from the copied config; it counts as down from now until it connects. */
static int path_init(struct pub *p, int i, char *err, size_t errlen)
{
    struct pub_path *path = &p->paths[i];

    path->pub = p;
    path->n = i + 1;
    path->broker = p->mqtt.brokers[i];
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

/* The copied settings; max_buffered is capped where paho runs out of message ids. */
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
    if (msg_topic(p->status_topic, sizeof(p->status_topic), p->mqtt.prefix, p->site_id, "status") < 0 ||
        msg_topic(p->cmd_topic, sizeof(p->cmd_topic), p->mqtt.prefix, p->site_id, "cmd") < 0 ||
        msg_topic(p->rcpt_topic, sizeof(p->rcpt_topic), p->mqtt.prefix, p->site_id, "receipt") < 0 ||
        build_status(p, "offline", p->started_wall_ms, p->will, sizeof(p->will)) < 0) {
        snprintf(err, errlen, "mqtt: topic prefix \"%s\" and site id \"%s\" are too long", p->mqtt.prefix,
                 p->site_id);
        return -1;
    }
    for (int i = 0; i < p->mqtt.n_brokers; i++) {
        p->n_paths = i + 1; /* counted first: pub_stop() cleans up a half-made path too */
        if (path_init(p, i, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static void init_paho(void)
{
    MQTTAsync_init_options io = MQTTAsync_init_options_initializer;

    io.do_openssl_init = 0;
    MQTTAsync_global_init(&io);
}

/*
 * paho's own OpenSSL set-up costs about 3.5 MiB of resident memory (over
 * a third of vigild's) and is not needed: OpenSSL 3 initialises itself on
 * first use, so a TLS path still works without it.
 */
static void init_paho_once(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, init_paho);
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
    init_paho_once();
    for (int i = 0; i < p->n_paths; i++) {
        if (path_create(&p->paths[i], state_dir, err, errlen) < 0 || path_connect(&p->paths[i], err, errlen) < 0) {
            pub_stop(p);
            return NULL;
        }
    }
    if (pthread_create(&p->watcher, NULL, watch_main, p) != 0) {
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
                    : a->keepalive_s != b->keepalive_s ? "keepalive_s" : NULL;

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
        uint64_t overflow = ring_count(&p->paths[i]);

        out->connected[i] = atomic_load(&p->paths[i].connected);
        out->pending += path_pending(&p->paths[i]) + overflow;
        out->overflow += overflow;
    }
    out->delivered = atomic_load(&p->delivered);
    out->refused = atomic_load(&p->refused);
}

bool pub_durable(struct pub *p)
{
    bool durable = atomic_load(&p->refused) == 0;

    for (int i = 0; i < p->n_paths && durable; i++)
        durable = ring_count(&p->paths[i]) == 0 && !atomic_load(&p->paths[i].suspect);
    return durable;
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

/* Hands what the ring still holds to paho's store if it has room now; says what is lost. */
static void ring_flush(struct pub_path *path)
{
    pthread_mutex_lock(&path->lock);
    if (path_settle(path, clock_mono_ms()) == ROLE_HOLD)
        path->ring_count = 0;
    if (path->ring_count > 0)
        log_err("mqtt: path=%d broker=%s: %zu messages of the overflow ring are lost with the process; "
                "the journal still has their events", path->n, path->broker.uri, path->ring_count);
    pthread_mutex_unlock(&path->lock);
}

/* Disconnects and destroys a path's client; what paho holds stays in its store. */
static void path_stop(struct pub_path *path)
{
    uint64_t pending;

    if (!path->client)
        return;
    ring_flush(path);
    path_disconnect(path);
    pending = path_pending(path);
    if (pending)
        log_notice("mqtt: path=%d broker=%s: %llu messages not yet delivered; kept in %s for the next start",
                   path->n, path->broker.uri, (unsigned long long)pending, path->store);
    MQTTAsync_destroy(&path->client);
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
    /* Only a connected path says "offline" itself: a buffered "offline" would be sent after the
     * next start's "online" is long out. A disconnected path's broker has sent the Will already. */
    for (int i = 0; i < p->n_paths; i++)
        if (p->paths[i].client && atomic_load(&p->paths[i].connected))
            send_status(&p->paths[i], "offline");
    drain(p);
    for (int i = 0; i < p->n_paths; i++) {
        path_stop(&p->paths[i]);
        free(p->paths[i].ring);
        pthread_mutex_destroy(&p->paths[i].lock);
    }
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
