/*
 * publish.h - the MQTT publisher: every payload to every configured broker,
 * operator commands back into the core's input queue.
 *
 * One paho MQTTAsync client per configured broker ("path"), each with its
 * own on-disk store under <state_dir>/mqtt-<n> (n = 1, 2). Messages
 * published while a broker is unreachable are buffered and persisted by
 * paho and delivered in order once it is back, also by the next process
 * that starts with the same state_dir, client id and broker URI.
 *
 * Topics are "<prefix>/<site>/<suffix>"; docs/mqtt.md is the contract.
 * On every (re)connect a path publishes the retained status "online" and
 * subscribes to <prefix>/<site>/cmd; the broker publishes the retained Will
 * "offline" if the process dies. Commands are parsed in paho's callback
 * thread and pushed to the inputs queue as CORE_IN_CMD (blocking while it
 * is full); rejected ones are answered on cmd/result directly.
 *
 * Threads: pub_publish() and pub_get_stats() may be called from any
 * thread; pub_heartbeat() from one thread (the main loop); pub_start() and
 * pub_stop() from the owner only. A paho thread can be blocked pushing a
 * command into a full inputs queue, so at shutdown either keep the core
 * draining the queue until pub_stop() returns or queue_close() it first.
 */
#ifndef VIGIL_PUBLISH_H
#define VIGIL_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "queue.h"

struct pub;

struct pub_options {
    const struct cfg_site *site;   /* brokers, prefix, heartbeat; must outlive the pub */
    const char *state_dir;         /* NULL: site->state_dir; must exist */
    const char *version;           /* shown in status payloads */
    struct queue *inputs;          /* of struct core_input; commands go here */
};

/*
 * Creates a client per configured broker and starts connecting. An
 * unreachable broker is not an error: it is logged once and retried in the
 * background. Returns NULL with a reason in err if a store directory or a
 * client cannot be created. Free with pub_stop().
 */
struct pub *pub_start(const struct pub_options *o, char *err, size_t errlen);

/*
 * Publishes payload (len bytes, may be 0) on <prefix>/<site>/<suffix> to
 * every path. Returns 0 if every path accepted it (buffered if disconnected),
 * or -1 if any path refused it (its buffer is full): that is logged,
 * rate-limited, and counted in pub_stats.refused. A retry is safe because
 * the central station drops events by seq it has already seen.
 */
int pub_publish(struct pub *p, const char *suffix, const void *payload, size_t len, int qos, bool retained);

/*
 * Refreshes the retained status (a new "ts") on connected paths when
 * heartbeat_s has passed since the last refresh. Call it from the main loop
 * at least as often as its result asks: it returns the monotonic ms at
 * which it is next due.
 */
uint64_t pub_heartbeat(struct pub *p);

struct pub_stats {
    bool connected[CFG_MAX_BROKERS];
    uint64_t delivered;            /* QoS 1 messages acknowledged by a broker, all paths */
    uint64_t pending;              /* accepted, not yet acknowledged (in flight or buffered) */
    uint64_t refused;              /* pub_publish() path refusals */
};

void pub_get_stats(struct pub *p, struct pub_stats *out);

/*
 * A counter that moves on every accepted publish, acknowledgement and
 * (re)connect. While a path is connected the heartbeat keeps it moving, so
 * a watchdog that sees it stall with pending > 0 knows the publisher is
 * stuck (paho can miss a dead connection while a write is pending).
 */
uint64_t pub_progress(struct pub *p);

/*
 * Publishes the retained status "offline" on connected paths, disconnects
 * after waiting up to 2 s for in-flight messages to be acknowledged, and
 * frees everything.
 * Messages not yet delivered stay in the store for the next pub_start().
 */
void pub_stop(struct pub *p);

#endif
