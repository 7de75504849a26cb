/*
 * mqtt_internal.h - what the mqtt_*.c files share: the publisher's state
 * (struct pub, struct pub_path) and the functions one step calls in
 * another. Not part of the public API (that is mqtt.h); nothing outside
 * daemon/mqtt*.c includes it.
 *
 * Locks: pub->lock guards the command ids, the command and receipt rings
 * and the connect and receipt complaints; path->lock guards a path's ring
 * and serialises its sends. paho calls back with its own lock held, so a
 * callback never takes a path->lock (a thread holding one calls into
 * paho); callbacks send their few messages (status on connect, command
 * rejections) straight to paho.
 */
#ifndef VIGIL_MQTT_INTERNAL_H
#define VIGIL_MQTT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <MQTTAsync.h>

#include "config.h"
#include "core.h"
#include "log.h"
#include "message.h"
#include "mqtt.h"
#include "paysign.h"
#include "mqtt_tls.h"

#define CMD_RING 64                /* parsed commands waiting for the inputs queue */
#define RCPT_RING 1024             /* receipted seqs waiting for the core thread */

/* What a path does with a message, by mode and the primary's state. */
enum path_role {
    ROLE_SEND, /* hand it to paho, behind the ring */
    ROLE_HOLD, /* failover secondary during the grace: keep it in the ring */
    ROLE_SKIP, /* failover secondary while the primary is up: not this path's */
};

/* The inbound client's id is the path's with this suffix: a '.' no configured id may hold, so it
 * can never take another client's session (mqtt_inbound.c). */
#define MQTT_INBOUND_ID_SUFFIX ".in"

struct pub_path {
    struct pub *pub;
    int n;                      /* 1-based, as in logs and the store name */
    MQTTAsync client;           /* alarms out: events, retained state, status, command results */
    MQTTAsync inbound;          /* commands and receipts in, on a connection of their own (mqtt_inbound.c) */
    char inbound_id[CFG_ID_MAX * 2 + sizeof(MQTT_INBOUND_ID_SUFFIX)];
    atomic_bool inbound_connected;
    atomic_bool inbound_disconnected; /* pub_stop's disconnect of the inbound client finished */
    struct cfg_broker broker;
    char store[CFG_PATH_MAX + 16];
    atomic_bool connected;
    atomic_bool disconnected;   /* pub_stop's disconnect finished */
    atomic_uint_fast64_t down_since_ms;   /* monotonic; start or last connection loss */
    atomic_int_fast64_t down_since_wall_ms;
    atomic_bool suspect;        /* a store write failed or could have: paho may hold unwritten messages */
    atomic_int write_errno;     /* of the last failed store write; 0 once one succeeds again */
    MQTTClient_persistence persistence; /* mqtt_store.c's store, for this path's client */
    bool in_memory;             /* the store could not be used at start: paho keeps messages in memory only */
    pthread_mutex_t lock;       /* the ring and the order of sends; never taken in a paho callback */
    struct ovf_msg *ring;       /* PUB_OVERFLOW_MSGS slots, oldest at ring_head (mqtt_path.c) */
    size_t ring_head, ring_count;
    struct log_complaint refusing;   /* under lock */
    struct log_complaint connecting; /* under pub->lock */
    struct log_complaint inbound_connecting; /* under pub->lock */
    struct mqtt_tls tls;        /* points into broker */
    atomic_bool tls_failed;     /* a connect of this TLS path failed since the last diagnosis */
    /* Only the supervision thread touches these. */
    bool disk_low;              /* check_disk()'s last verdict, for its hysteresis */
    bool tls_diagnosed;         /* this outage's TLS failure is diagnosed (in tls_why if TLS refused) */
    char tls_why[MQTT_TLS_WHY_MAX];
};

/* A payload as sent: a message of message.h and, on a signing site, its signature. */
#define MQTT_PAYLOAD_MAX (MSG_MAX + PSIG_EXTRA)

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
    char will[MQTT_PAYLOAD_MAX]; /* the Will payload, kept for the life of the clients */
    struct psig_key sign;       /* signs every payload (paysign.h) when site.signing_key is set */
    struct pub_path paths[CFG_MAX_BROKERS];
    int n_paths;
    uint64_t next_heartbeat_ms;
    atomic_uint_fast64_t delivered, refused, progress, last_seq, last_epoch;
    atomic_uint connected_paths; /* bit i: path i connected since pub_take_connected() last looked */
    atomic_bool stopping;
    pthread_mutex_t lock;       /* command ids, the command ring, connect complaints */
    pthread_cond_t wake;        /* a command arrived, or stop */
    struct cmdgate *gate;       /* the command gate (cmdgate.h), the core thread's */
    struct core_input cmds[CMD_RING];
    size_t cmd_head, cmd_count;
    struct rcpt_seq { uint64_t seq, epoch; } rcpts[RCPT_RING]; /* receipted seqs, oldest at rcpt_head */
    size_t rcpt_head, rcpt_count;
    struct log_complaint bad_receipt;
    struct log_complaint flood_complaint; /* commands refused unanswered by the gate's rate limit */
    pthread_t watcher;
    bool watching;
    /* The supervision thread's alarm states: -1 not told to the core yet, else 0/1. */
    int spool_alarm, path_alarm;
    uint64_t next_check_ms;
};

/* --- mqtt_path.c: sending, failover, a path's client ---------------------- */

/* Hands one message to a path's client; paho copies topic and payload. */
int mqtt_path_send(struct pub_path *path, const char *topic, const void *payload, size_t len, int qos,
                   bool retained);
/* Brings the ring in line with the path's role and returns the role. Under path->lock. */
enum path_role mqtt_path_settle(struct pub_path *path, uint64_t now_ms);
/* Messages a path has accepted but a broker has not acknowledged yet. */
uint64_t mqtt_path_pending(struct pub_path *path);
/* Messages waiting in the path's overflow ring; takes path->lock. */
size_t mqtt_ring_count(struct pub_path *path);
/* Builds the status payload; now_wall_ms is the started time for the Will. */
int mqtt_build_status(struct pub *p, const char *state, int64_t now_wall_ms, char *buf, size_t cap);
/* Publishes the retained status on one path straight to paho. */
void mqtt_send_status(struct pub_path *path, const char *state);
/* Fills path i from the copied config; it counts as down from now until it connects. */
int mqtt_path_init(struct pub *p, int i, char *err, size_t errlen);
/* Creates the path's store directory and its client with buffering and persistence. */
int mqtt_path_create(struct pub_path *path, const char *state_dir, char *err, size_t errlen);
/* Sets the callbacks and starts the first connect; later reconnects are paho's. */
int mqtt_path_connect(struct pub_path *path, char *err, size_t errlen);
/* Disconnects and destroys a path's client; what paho holds stays in its store. */
void mqtt_path_stop(struct pub_path *path);
/* The connect options both of a path's clients use (credentials, TLS into ssl, session, retries). */
void mqtt_connect_options(struct pub_path *path, MQTTAsync_connectOptions *c, MQTTAsync_SSLOptions *ssl);
/* Subscribes client to cmd and receipt (subscribe true), or unsubscribes it; failures are logged. */
void mqtt_subscribe_inbound(struct pub_path *path, MQTTAsync client, bool subscribe);
/* paho's reason for a failed request (a connect), in words. */
const char *mqtt_failure_why(const MQTTAsync_failureData *resp);
/* Disconnects client and waits (bounded) until paho sets *done. */
void mqtt_client_disconnect(MQTTAsync client, atomic_bool *done);

/* --- mqtt_inbound.c: commands and receipts -------------------------------- */

/* paho's message-arrived callback of both of a path's clients (ctx is the pub_path). */
int mqtt_on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m);
/* Creates the path's inbound client (same broker, credentials and TLS, no store) and starts connecting. */
int mqtt_inbound_start(struct pub_path *path, char *err, size_t errlen);
/* Disconnects and destroys the path's inbound client, if any. */
void mqtt_inbound_stop(struct pub_path *path);

/* --- mqtt_store.c: the message store -------------------------------------- */

/* The checked store's callbacks for path's client, with path as their context. */
MQTTClient_persistence mqtt_store_persistence(struct pub_path *path);
/* After a failed write: whether the store can be written again (clears write_errno if so). */
void mqtt_store_probe(struct pub_path *path);

/* --- mqtt_watch.c: supervision -------------------------------------------- */

/* The supervision thread's body; arg is the struct pub. */
void *mqtt_watch_main(void *arg);

#endif
