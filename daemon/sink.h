/*
 * sink.h - the outputs of the core thread.
 *
 * The core thread (corethread.c) stamps each input, runs the core, journals
 * and syncs, and then hands every output to every sink as a self-describing
 * record: ids, names and numbers copied in, no index into the core or the
 * config, and the JSON payload rendered once on the core thread. A sink
 * (MQTT, InfluxDB, an alarm receiving centre, a test's file writer) needs
 * nothing but the record to do its job, so it may keep or queue records for
 * its own thread and a reload cannot pull anything out from under it.
 *
 * A new output is a new file that fills in a struct sink_ops and is added
 * to the set at start; the core thread does not change. collectd's write
 * plugins are the model.
 *
 * Two kinds of sink:
 *   - lossless (alarms: MQTT, an alarm receiving centre): every event must
 *     reach it. It reports the highest seq it has made durable (handed to a
 *     broker and acknowledged, written to its own synced store, ...). The
 *     journal keeps every input after the slowest lossless sink's durable
 *     seq, so recovery re-delivers what a crash may have lost.
 *   - lossy (telemetry: InfluxDB): it may shed records when its far end is
 *     down, and must count what it shed. It never holds back a lossless one:
 *     its durable_seq is never asked.
 *
 * Rules every sink keeps:
 *   - deliver() and tick() run on the core thread and never block: queue,
 *     hand to a library's own buffer, or shed (lossy only).
 *   - a record and its json are the caller's, valid for the call only: copy
 *     what you keep.
 *   - a sink never feeds the core; inbound traffic (commands, receipts) goes
 *     through the command gate (cmdgate.h) or the input queue.
 */
#ifndef VIGIL_SINK_H
#define VIGIL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core.h"

#define SINK_MAX 8             /* sinks in one set */
#define SINK_TEXT_MAX 512      /* a guard's sentence, a command's refusal */
#define SINK_NAME_MAX CFG_TEXT_MAX

enum sink_kind {
    SINK_EVENT,    /* an alarm state change or one-shot event; the only kind with a seq */
    SINK_ZONE,     /* a zone's arm state: on a change, and every zone at start and after a reload */
    SINK_RESULT,   /* a command's outcome, for the source that sent it */
    SINK_OUTPUT,   /* a local output (siren, relay) the core switched */
    SINK_DEVICE,   /* a device's comm state and poll counters: on a change and periodically */
    SINK_SAMPLE,   /* a point's new value, as fed to the core (telemetry) */
    SINK_RETIRE,   /* an alarm, zone or device the running config no longer has */
    SINK_RESUME,   /* once at start, after recovery: the seq the core numbers its next event with */
    SINK_RETRY,    /* the station's receipt of an event is overdue: send it again (or give up) */
    SINK_TESTED,   /* a point's last successful walk test date (wall_ms): on a test, at start, after a reload */
};

/* What SINK_RETIRE names. */
enum sink_object { SINK_OBJ_ALARM, SINK_OBJ_ZONE, SINK_OBJ_DEVICE };

struct sink_event {
    uint64_t seq;                       /* per site and epoch, strictly increasing */
    uint64_t epoch;                     /* numbering lineage (lineage.h); 0 before one is set */
    char alarm[CORE_ALARM_ID_MAX];      /* "" for none */
    enum core_alarm_type type;
    enum cfg_priority priority;
    enum core_alarm_state state;
    bool needs_attention;               /* not normal and not suppressed: a console lists it */
    char zone[CFG_ID_MAX];              /* "" for none */
    char point[CFG_ID_MAX];
    char device[CFG_ID_MAX];
    double value;                       /* NaN: none */
    enum core_quality quality;          /* of value: good, stale, unknown, bad; none without a value */
    char operator_name[CFG_ID_MAX];     /* "" unless a person caused it */
    char text[SINK_TEXT_MAX];           /* the sentence for a guard */
    bool test;                          /* raised in a walk test: the station files it as a test */
};

struct sink_zone {
    char zone[CFG_ID_MAX];
    char name[SINK_NAME_MAX];
    bool armed;
    bool always_armed;                  /* a 24-hour zone: no one can disarm it */
    char operator_name[CFG_ID_MAX];
    bool test;                          /* in walk test */
    int64_t test_started_wall_ms;       /* of its current or last walk test; 0: never */
    int64_t test_until_wall_ms;         /* while in test: when it ends by itself */
};

struct sink_result {
    enum core_cmd_source source;        /* where the command came from: the result goes back there */
    char id[CORE_CMD_ID_MAX];
    enum core_cmd_op op;
    bool ok;
    char error[SINK_TEXT_MAX];          /* why, when !ok */
};

struct sink_output {
    char device[CFG_ID_MAX];
    char output[CFG_ID_MAX];            /* the profile's name of the coil or register */
    bool on;
    char reason[SINK_TEXT_MAX];
};

struct sink_device {
    char device[CFG_ID_MAX];
    char name[SINK_NAME_MAX];
    bool up;
    bool changed;                       /* a comm change, not a periodic refresh */
    int64_t rtt_ms;                     /* last round trip; -1 while down or unknown */
    uint64_t polls, failures;           /* poll cycles since the pollers started */
};

struct sink_sample {
    char point[CFG_ID_MAX];
    char device[CFG_ID_MAX];
    char zone[CFG_ID_MAX];              /* "" for none */
    enum cfg_point_kind kind;
    double value;                       /* engineering value; NaN: unreadable */
    double raw;                         /* the register's number before scaling (regfmt_raw) */
};

struct sink_tested {
    char point[CFG_ID_MAX];
    char zone[CFG_ID_MAX];              /* "" for none */
};

struct sink_retire {
    enum sink_object object;
    char id[CORE_ALARM_ID_MAX];
};

struct sink_retry {
    uint64_t seq;
    enum cfg_priority priority;
    int retry;                          /* 1.. the re-send this is; 0 with give_up */
    bool first_miss, give_up, escalating;
};

struct sink_resume {
    uint64_t next_seq;                  /* next_seq - 1 is the last seq an earlier process handed out */
    uint64_t epoch;                     /* ... in this epoch */
};

struct sink_record {
    enum sink_kind kind;
    int64_t wall_ms;                    /* UTC epoch ms of the change */
    const char *json;                   /* the MQTT/JSON payload (docs/mqtt.md); NULL for samples, retires, tested */
    size_t json_len;
    union {
        struct sink_event event;
        struct sink_zone zone;
        struct sink_result result;
        struct sink_output output;
        struct sink_device device;
        struct sink_sample sample;
        struct sink_retire retire;
        struct sink_resume resume;
        struct sink_retry retry;
        struct sink_tested tested;
    } u;
};

struct sink_ops {
    const char *name;                   /* "mqtt", "influx": in log lines */
    bool lossless;
    /* One record; never blocks. */
    void (*deliver)(void *self, const struct sink_record *rec);
    /* Every round of the core thread's loop (at least every 200 ms): heartbeats, batching by age. */
    void (*tick)(void *self, uint64_t now_mono_ms, int64_t now_wall_ms);
    /* A reload switched to site, valid until the next reconfigure has returned, or stop: copy what
     * you keep longer (during that call the old site is still valid, to compare with). */
    void (*reconfigure)(void *self, const struct cfg_site *site);
    /* Lossless sinks: every event handed to deliver() up to this seq is durable beyond the process
     * (0 before the first). The core thread compares it with the last seq it delivered. */
    uint64_t (*durable_seq)(void *self);
    /* Flushes what it can in bounded time and frees self. */
    void (*stop)(void *self);
};

struct sink {
    const struct sink_ops *ops;
    void *self;
};

struct sink_set {
    struct sink sinks[SINK_MAX];
    int n;
};

/* Adds a started sink; -1 if the set is full. The set owns it from here on. */
int sink_set_add(struct sink_set *set, const struct sink_ops *ops, void *self);

/* Hands rec to every sink in the order they were added. */
void sink_set_deliver(const struct sink_set *set, const struct sink_record *rec);

void sink_set_tick(const struct sink_set *set, uint64_t now_mono_ms, int64_t now_wall_ms);
void sink_set_reconfigure(const struct sink_set *set, const struct cfg_site *site);

/*
 * The slowest lossless sink's durable seq: every event up to it has left
 * the process safely on every lossless path. UINT64_MAX with no lossless
 * sink (nothing to wait for).
 */
uint64_t sink_set_durable_seq(const struct sink_set *set);

/* Stops every sink, last added first, and empties the set. */
void sink_set_stop(struct sink_set *set);

#endif
