/*
 * mqtt.h - the MQTT publisher: alarm transmission over one or two paths,
 * operator commands and the station's receipts back in. docs/mqtt.md is
 * the contract; mqtt_topics.h names its topics.
 *
 * One paho MQTTAsync client per configured broker ("path"), each with its
 * own session and on-disk store under <state_dir>/mqtt-<n> (n = 1, 2),
 * which only publishes; beside it a second client on the same broker,
 * <client_id>.in, which only takes commands and receipts in, so that a
 * command flood never shares a connection with the alarms.
 * The work is split one file per protocol step: mqtt_path.c sends, fails
 * over and keeps the overflow rings; mqtt_inbound.c is the inbound client
 * and takes commands and receipts in; mqtt_store.c is the message store; mqtt_watch.c supervises
 * the paths and raises path_fault and spool_full; mqtt.c starts and stops
 * it all and answers this API.
 *
 * pub_start() copies every setting it needs: the site may be freed or
 * replaced (SIGHUP) while the pub runs. Broker settings therefore change
 * only with a restart; pub_config_differs() tells a reload they changed.
 *
 * Threads: pub_publish(), pub_publish_to(), pub_take_connected(),
 * pub_set_last_seq(), pub_get_stats() and pub_durable() may be called from
 * any thread; pub_heartbeat() from one thread (the main loop); pub_start()
 * and pub_stop() from the owner only.
 * The publisher's thread can be blocked pushing into a full inputs queue,
 * so at shutdown either keep the core draining the queue until pub_stop()
 * returns or queue_close() it first.
 */
#ifndef VIGIL_MQTT_H
#define VIGIL_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "queue.h"

#define PUB_OVERFLOW_MSGS 512 /* per path: messages kept in memory, in order, while paho's store is full */

struct pub;

struct pub_options {
    const struct cfg_site *site;   /* read by pub_start() only; mqtt settings and site id are copied */
    const char *state_dir;         /* NULL: site->state_dir; must exist */
    const char *version;           /* shown in status payloads */
    struct queue *inputs;          /* of struct core_input; commands and system alarms go here */
    struct cmdgate *gate;          /* every command on cmd passes it (cmdgate.h); outlives the pub */
    uint64_t store_min_free_bytes; /* spool_full while a store's file system has less free space
                                    * (or fewer than 256 free inodes); 0: 1 MiB */
};

/*
 * Creates a client per configured broker and starts connecting. An
 * unreachable broker is not an error: it is logged once and retried in the
 * background. Returns NULL with a reason in err if a store directory, a
 * client or the publisher's thread cannot be created. Free with pub_stop().
 */
struct pub *pub_start(const struct pub_options *o, char *err, size_t errlen);

/*
 * True if site's mqtt settings or id differ from the ones the pub runs on;
 * the first differing key (e.g. "brokers[2].uri") goes into what. A reload
 * cannot apply them: the paths keep running on the old ones until restart.
 */
bool pub_config_differs(const struct pub *p, const struct cfg_site *site, char *what, size_t cap);

/*
 * Publishes payload (len bytes, at most MSG_MAX, may be 0) on
 * <prefix>/<site>/<suffix> to the paths the mode selects. A path takes it
 * into paho's persistent buffer, or, while that is full, into the path's
 * overflow ring behind older messages. Returns 0, or -1 if any selected
 * path refused it because its overflow ring is full as well: that is
 * logged, rate-limited, counted in pub_stats.refused and makes
 * pub_durable() false. A retry is safe because the central station drops
 * events by seq it has already seen.
 */
int pub_publish(struct pub *p, const char *suffix, const void *payload, size_t len, int qos, bool retained);

#define PUB_ALL_PATHS (~0u)

/*
 * As pub_publish(), on the paths whose bit is set in paths (bit i: the
 * i-th configured broker), each still as the mode selects: a failover
 * secondary that is not sending takes nothing.
 */
int pub_publish_to(struct pub *p, unsigned paths, const char *suffix, const void *payload, size_t len, int qos,
                   bool retained);

/*
 * The paths that (re)connected since the last call, as a mask for
 * pub_publish_to(), and forgets them. A broker that restarted without its
 * database has lost every retained message: the caller publishes them again.
 */
unsigned pub_take_connected(struct pub *p);

/* The epoch and seq of the last event handed to pub_publish(), for the status payload. */
void pub_set_last_seq(struct pub *p, uint64_t epoch, uint64_t seq);


/*
 * Refreshes the retained status (a new "ts", the last seq) on connected
 * paths when heartbeat_s has passed since the last refresh. Call it from
 * the main loop at least as often as its result asks: it returns the
 * monotonic ms at which it is next due. Heartbeats stop when the main loop
 * stops, which is what a station should notice.
 */
uint64_t pub_heartbeat(struct pub *p);

struct pub_stats {
    bool connected[CFG_MAX_BROKERS];
    uint64_t delivered;            /* QoS 1 messages acknowledged by a broker, all paths */
    uint64_t pending;              /* accepted, not yet acknowledged (in flight, buffered, overflow) */
    uint64_t overflow;             /* of pending: waiting in the overflow rings */
    uint64_t refused;              /* pub_publish() path refusals */
};

void pub_get_stats(struct pub *p, struct pub_stats *out);

/*
 * False while some accepted message exists only in memory (in an overflow
 * ring, or in paho's buffer while the store's file system was too full to
 * write it) or was refused since pub_start(). The caller's journal must
 * then keep covering those events: no snapshot that would keep recovery
 * from re-publishing them.
 */
bool pub_durable(struct pub *p);

/*
 * A counter that moves on every accepted publish, acknowledgement and
 * (re)connect. While a path is connected the heartbeat keeps it moving, so
 * a watchdog that sees it stall with pending > 0 knows the publisher is
 * stuck (paho can miss a dead connection while a write is pending).
 */
uint64_t pub_progress(struct pub *p);

/*
 * Stops the publisher's thread, publishes the retained status "offline" on
 * connected paths, disconnects after waiting up to 2 s for in-flight
 * messages to be acknowledged, and frees everything. Messages not yet
 * delivered stay in the store for the next pub_start(); what is still in
 * an overflow ring is lost with the process (pub_durable() said so).
 */
void pub_stop(struct pub *p);

#endif
