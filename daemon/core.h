/*
 * core.h - the pure event core: alarm rules and the alarm lifecycle.
 *
 * The core is a deterministic state machine. It owns every alarm's state and
 * the per-site event sequence number. It reads no clock, does no I/O, takes no
 * locks and allocates only in core_new(): time and inputs are passed in, and
 * outputs go into a buffer the caller owns. The same site, the same restored
 * state and the same inputs always give byte-identical outputs, which is what
 * makes journal replay and seeded simulation tests possible.
 *
 * Two clocks are injected with every input: mono_ms (monotonic, drives every
 * timer: debounce, on/off delays, entry delay, door held, verify windows,
 * chatter windows, shelve expiry) and wall_ms (UTC epoch ms, only stamped on
 * outputs for people). A wall-clock step therefore never fires or stalls a
 * timer. mono_ms must never decrease; the shell guarantees it.
 *
 * Alarm lifecycle (after ISA-18.2):
 *   NORMAL --cond--> ACTIVE_UNACKED --ack--> ACTIVE_ACKED --clear--> NORMAL
 *   ACTIVE_UNACKED --clear--> RTN_UNACKED (latching)  or  NORMAL (non-latching)
 *   RTN_UNACKED --ack--> NORMAL;  RTN_UNACKED --cond--> ACTIVE_UNACKED
 *   any --shelve--> SHELVED --unshelve/expiry--> re-evaluated
 *   any --out_of_service--> OUT_OF_SERVICE --in_service--> re-evaluated
 *   suppressible alarms of a disarmed zone are SUPPRESSED (no events).
 * Intrusion, perimeter, verified_intrusion, tamper, wire_cut and wire_short
 * alarms latch, and comm_loss latches unless rules say otherwise. While a
 * point chatters its security alarms stay active (a clear is held) and a new
 * activation after an ack is raised at once: chattering rate-limits
 * notifications, never state (docs/core.md).
 * Tamper, fault, climate, comm_loss and system alarms are 24-hour: a zone's
 * arm state never suppresses them.
 *
 * Receipts (receipts group): the core waits for the station's receipt of
 * every event of a tracked priority. A missed one is a CORE_OUT_RETRY every
 * timeout; the first miss of an escalating priority switches the local
 * output on (CORE_OUT_LOCAL), and it goes off once every escalating event
 * is receipted. Receipts are inputs, so replay shows why a siren went on.
 */
#ifndef VIGIL_CORE_H
#define VIGIL_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CORE_ALARM_ID_MAX (CFG_ID_MAX * 2) /* "<point>.<type>" */
#define CORE_CMD_ID_MAX 64
#define CORE_ERROR_MAX 160

enum core_alarm_type {
    CORE_T_INTRUSION,
    CORE_T_PERIMETER,
    CORE_T_VERIFIED_INTRUSION,
    CORE_T_DOOR_HELD,
    CORE_T_TAMPER,
    CORE_T_FAULT,
    CORE_T_CCTV,
    CORE_T_TEMPERATURE_HIGH,
    CORE_T_TEMPERATURE_LOW,
    CORE_T_HUMIDITY_HIGH,
    CORE_T_HUMIDITY_LOW,
    CORE_T_DIGITAL,
    CORE_T_ANALOG_HIGH,
    CORE_T_ANALOG_LOW,
    CORE_T_SENSOR_FAULT,      /* analog point read NaN, a sentinel or a value outside its valid range */
    CORE_T_COMM_LOSS,
    CORE_T_CHATTERING,
    /* system alarms (lifecycle) */
    CORE_T_SPOOL_FULL,
    CORE_T_PATH_FAULT,
    CORE_T_STORAGE_LOW,
    /* one-shot events (state CORE_S_EVENT, no lifecycle) */
    CORE_T_GATEWAY_RESTARTED,
    CORE_T_CONFIG_REJECTED,
    CORE_T_SELF_TEST,
    CORE_T_ZONE_ARMED,
    CORE_T_ZONE_DISARMED,
    /* added in snapshot version 2 */
    CORE_T_WIRE_CUT,          /* end-of-line loop cut (open circuit) */
    CORE_T_WIRE_SHORT,        /* end-of-line loop shorted: the detector is masked */
    CORE_T_ALARM_FLOOD,       /* site: more new alarms in the flood window than rules allow */
    CORE_T_DOOR_OPENED,       /* one-shot record: a door of a disarmed zone opened */
    CORE_T_DOOR_CLOSED,       /* one-shot record: ... and closed */
    CORE_T_COMMAND_REFUSED,   /* one-shot security record: the command gate refused a command */
    CORE_T_JOURNAL_FAULT,     /* system: the journal cannot be opened or written */
    CORE_T_STATE_LOST,        /* one-shot: the shell found no earlier state; a new epoch starts */
    CORE_T_JOURNAL_DAMAGED,   /* one-shot: recovery stopped at damage; a new epoch starts */
    CORE_T__COUNT
};

enum core_alarm_state {
    CORE_S_NORMAL,
    CORE_S_ACTIVE_UNACKED,
    CORE_S_ACTIVE_ACKED,
    CORE_S_RTN_UNACKED,
    CORE_S_SHELVED,
    CORE_S_SUPPRESSED,
    CORE_S_EVENT,             /* one-shot events only */
    CORE_S_OUT_OF_SERVICE,    /* taken out for maintenance until put back in service */
};

/* How far an event's value can be trusted. */
enum core_quality {
    CORE_Q_NONE,              /* the alarm has no value (system, comm_loss, zone) */
    CORE_Q_GOOD,              /* a fresh reading from a device that answers */
    CORE_Q_STALE,             /* the device is back but this point has not been read since */
    CORE_Q_UNKNOWN,           /* the device does not answer: the value is the last one known */
    CORE_Q_BAD,               /* the last reading was rejected (NaN, a sentinel, out of the valid range) */
};

enum core_cmd_op {
    CORE_CMD_ACK, CORE_CMD_SHELVE, CORE_CMD_UNSHELVE, CORE_CMD_ARM, CORE_CMD_DISARM,
    CORE_CMD_OUT_OF_SERVICE, CORE_CMD_IN_SERVICE,
    CORE_CMD_WALKTEST_START, CORE_CMD_WALKTEST_STOP, /* a zone in walk test (docs/commissioning.md) */
    CORE_CMD__COUNT
};

/* Where a command came from; its result goes back there (sink.h). */
enum core_cmd_source {
    CORE_SRC_MQTT,            /* <prefix>/<site>/cmd: a station, a console */
    CORE_SRC_SCHEDULE,        /* the zone's arming schedule */
    CORE_SRC_LOCAL,           /* vigilctl on the gateway */
};

/* What the command gate checked before the core saw a command (bits). */
#define CORE_VERIFIED_FRESH 0x01u     /* its "ts" was within cmd_max_age_s */
#define CORE_VERIFIED_UNIQUE 0x02u    /* its id had not been seen before */
#define CORE_VERIFIED_SIGNED 0x04u    /* its signature matched the operator's key */
#define CORE_VERIFIED_ROLE 0x08u      /* the operator's role allows the op */

/* A parsed operator command. target is an alarm id (ack, shelve, unshelve,
 * out_of_service, in_service) or a zone id (arm, disarm, walktest_start,
 * walktest_stop); the core resolves it and reports unknown ones. */
struct core_cmd {
    char id[CORE_CMD_ID_MAX];
    enum core_cmd_op op;
    char target[CORE_ALARM_ID_MAX];
    char operator_name[CFG_ID_MAX];
    int64_t duration_ms;      /* shelve: 1 s .. rules.max_shelve_ms[priority]; walktest_start: > 0 */
    bool force;               /* arm only: arm although points are open */
    enum core_cmd_source source;
    unsigned verified;        /* CORE_VERIFIED_* bits the gate set; journaled with the command */
    enum cfg_role role;       /* the signing operator's role; NONE: no roles apply (unsigned site, schedule) */
    bool reason_given;        /* the command carries a comment saying why (a shelve in advance needs one) */
};

/* System inputs from the shell; they get seq numbers like any alarm. */
enum core_sys_kind {
    CORE_SYS_GATEWAY_RESTARTED, /* one-shot */
    CORE_SYS_CONFIG_REJECTED,   /* one-shot, text says why */
    CORE_SYS_SELF_TEST,         /* one-shot */
    CORE_SYS_SPOOL_FULL,        /* active/clear */
    CORE_SYS_PATH_FAULT,        /* active/clear */
    CORE_SYS_STORAGE_LOW,       /* active/clear: state_dir near its size budget */
    CORE_SYS_COMMAND_REFUSED,   /* one-shot, text says which command and why (docs/commands.md) */
    CORE_SYS_JOURNAL_FAULT,     /* active/clear: the journal cannot be opened or written */
    CORE_SYS_STATE_LOST,        /* one-shot, critical: no state found; text says what that means */
    CORE_SYS_JOURNAL_DAMAGED,   /* one-shot, critical: text says where and what was lost */
    CORE_SYS__COUNT
};

enum core_input_type { CORE_IN_SAMPLE, CORE_IN_COMM, CORE_IN_CMD, CORE_IN_TICK, CORE_IN_SYSTEM, CORE_IN_RECEIPT };

#define CORE_RECEIPT_SEQS 16 /* seqs one receipt input confirms; a longer receipt becomes several inputs */

struct core_input {
    enum core_input_type type;
    uint64_t mono_ms;
    int64_t wall_ms;
    union {
        /* value: engineering value, NaN = unreadable. raw: the register's number before scaling, for
         * the points view (sink.h); the core never reads it and the journal does not keep it. */
        struct { int point; double value; double raw; } sample;
        struct { int device; bool up; } comm;
        struct core_cmd cmd;
        /* epoch: non-zero starts a new numbering lineage (the shell draws it at random);
         * seq_floor: the next event gets at least this seq (the shell's high-water mark).
         * Both are journaled with the input, so a replay numbers events the same way. */
        struct {
            enum core_sys_kind kind;
            bool active;
            char text[CORE_ERROR_MAX];
            uint64_t epoch;
            uint64_t seq_floor;
        } sys;
        /* the station confirmed these events; epoch: the one its receipt named, 0 if none (checked
         * by the shell before the core sees the input, never journaled) */
        struct { uint8_t n; uint64_t epoch; uint64_t seqs[CORE_RECEIPT_SEQS]; } receipt;
    } u;
};

/*
 * One alarm state change, or a re-statement of the same state when the
 * quality of its value changed (its device went down or came back). Strings
 * are looked up with core_alarm_info().
 */
struct core_event {
    uint64_t seq;             /* per site and epoch, strictly increasing, never reused */
    uint64_t epoch;           /* the numbering lineage seq belongs to; 0 before the shell set one */
    int64_t wall_ms;
    int alarm;                /* index for core_alarm_info() */
    enum core_alarm_type type;
    enum cfg_priority priority;
    enum core_alarm_state state;
    double value;             /* point value at the change; NaN if none */
    enum core_quality quality; /* of value */
    enum core_cmd_op op;      /* the command that caused it; only when operator_name is set */
    char operator_name[CFG_ID_MAX]; /* empty unless a person caused it */
    char text[CORE_ERROR_MAX];      /* system events: detail; else empty */
    /* door_opened / door_closed only: who disarmed the zone, and when
     * (empty and 0 when it started disarmed from the config) */
    char disarmed_by[CFG_ID_MAX];
    int64_t disarmed_wall_ms;
    bool test;                /* its zone is in walk test: the station files it as a test */
};

struct core_zone_change {
    int zone;
    bool armed;
    int64_t wall_ms;
    char operator_name[CFG_ID_MAX];
    bool test;                /* in walk test */
    int64_t test_started_wall_ms; /* of its current or last walk test; 0: never tested */
    int64_t test_until_wall_ms;   /* while in test: when it ends by itself */
};

/* A point changed during its zone's walk test: it is proven to work. */
struct core_point_tested {
    int point;
    int64_t wall_ms;          /* when: the point's last successful test date */
};

struct core_result {
    enum core_cmd_source source; /* copied from the command */
    char id[CORE_CMD_ID_MAX];
    enum core_cmd_op op;
    bool ok;
    char error[CORE_ERROR_MAX]; /* why, when !ok */
};

/*
 * An event whose receipt the station owes (docs/mqtt.md, "Receipts"): the
 * shell re-sends the event's payload, or, with give_up, stops trying.
 */
struct core_retry {
    uint64_t seq;
    enum cfg_priority priority;
    int retry;                /* 1.. the re-publication to send now; 0 with give_up */
    bool first_miss;          /* its first timeout */
    bool give_up;             /* retries used up: it stays missing */
    bool escalating;          /* its priority switches the local output on */
};

/* The local output (siren, relay: receipts.local_output) switched on or off. */
struct core_local_output {
    bool on;
    uint32_t missing;         /* escalating events without receipt when it switched */
    int64_t wall_ms;
};

enum core_output_type { CORE_OUT_EVENT, CORE_OUT_ZONE, CORE_OUT_RESULT, CORE_OUT_RETRY, CORE_OUT_LOCAL, CORE_OUT_TESTED };

struct core_output {
    enum core_output_type type;
    union {
        struct core_event event;
        struct core_zone_change zone;
        struct core_result result;
        struct core_retry retry;
        struct core_local_output local;
        struct core_point_tested tested;
    } u;
};

/* Static description of one alarm, fixed at core_new(). */
struct core_alarm_info {
    const char *id;           /* stable, no '/', '+', '#'; at most CORE_ALARM_ID_MAX - 1 chars; owned by the core */
    enum core_alarm_type type;
    enum cfg_priority priority;
    int point;                /* -1 if none */
    int device;               /* -1 if none */
    int zone;                 /* -1 if none */
    bool latching;
    bool always_on;           /* 24-hour: never suppressed */
};

struct core;

/* Builds the core for a validated site. The site must outlive the core.
 * Allocates everything the core will ever need; returns NULL on OOM. */
struct core *core_new(const struct cfg_site *site);
void core_free(struct core *c);

/* The largest number of outputs one core_step() can write. */
size_t core_max_outputs(const struct core *c);

/*
 * Feeds one input. Writes at most core_max_outputs() outputs into out and
 * returns how many. Inputs must come with non-decreasing mono_ms.
 */
size_t core_step(struct core *c, const struct core_input *in, struct core_output *out);

/* mono_ms of the earliest pending timer, or UINT64_MAX if none: the shell
 * sends a CORE_IN_TICK at or after that time. */
uint64_t core_next_deadline(const struct core *c);

/* Whether the core waits for the receipt of event seq: RCPT_UNKNOWN (0) no,
 * RCPT_ON_TIME (1) yes, RCPT_LATE (2) yes and it is overdue (receipt.h). */
int core_receipt_pending(const struct core *c, uint64_t seq);

/* The seq the next event will get. */
uint64_t core_next_seq(const struct core *c);

/* The epoch the core numbers events in: set by a system input's epoch, kept in snapshots; 0 if never set. */
uint64_t core_epoch(const struct core *c);

/* Fills in a system input (restart, rejected config, spool, path) for the
 * shell to feed; text is cut to fit. */
void core_system_input(struct core_input *in, enum core_sys_kind kind, bool active, const char *text,
                       uint64_t mono_ms, int64_t wall_ms);

/* The most alarms a core built for site can have (for tables kept by id outside the core). */
size_t core_alarm_bound(const struct cfg_site *site);
size_t core_alarm_count(const struct core *c);
const struct core_alarm_info *core_alarm_info(const struct core *c, int alarm);
enum core_alarm_state core_alarm_state(const struct core *c, int alarm);
/* Whether the alarm's condition (after delays) is up; *entry_pending (may
 * be NULL) tells whether an entry or exit delay holds its activation back. */
bool core_alarm_condition(const struct core *c, int alarm, bool *entry_pending);
int core_find_alarm(const struct core *c, const char *id);
bool core_zone_armed(const struct core *c, int zone);

/*
 * Walk test (docs/commissioning.md). A zone in test raises its alarms even
 * when disarmed, marked test, and ends its test by itself at the timeout.
 * core_zone_test() fills *zc as a zone change would report the zone now;
 * core_point_tested_ms() is the wall time of the point's last change during
 * a walk test (0: never), core_point_walked() whether it changed during its
 * zone's current or last walk test.
 */
void core_zone_test(const struct core *c, int zone, struct core_zone_change *zc);
int64_t core_point_tested_ms(const struct core *c, int point);
bool core_point_walked(const struct core *c, int point);

/*
 * Serialises the whole dynamic state (seq, zones, alarms, point filters and
 * timers) into buf in a deterministic, versioned byte format keyed by ids.
 * Returns the bytes needed; writes nothing if cap is too small. Two cores
 * with equal snapshots behave identically.
 */
size_t core_snapshot(const struct core *c, void *buf, size_t cap);

/*
 * Writes bytes [from, from + cap) of the same snapshot into buf (fewer at
 * its end) and returns the snapshot's whole length, so a large one can be
 * written out in pieces through a small buffer. Each call serialises the
 * whole state: take pieces of a few hundred kilobytes.
 */
size_t core_snapshot_part(const struct core *c, size_t from, void *buf, size_t cap);

/*
 * Restores a snapshot into a freshly built core, matching alarms, zones and
 * points by id so a snapshot taken under an older config restores what still
 * exists. Snapshots of version 1 (before quality, exit delays and the flood
 * rule) restore too. Returns 0, or -1 if the bytes are not a valid snapshot.
 */
int core_restore(struct core *c, const void *buf, size_t len);

const char *core_type_name(enum core_alarm_type t);
const char *core_state_name(enum core_alarm_state s);
const char *core_op_name(enum core_cmd_op op);

/* Whether op names a zone (arm, disarm, walk test) rather than an alarm. */
bool core_op_targets_zone(enum core_cmd_op op);
const char *core_quality_name(enum core_quality q); /* NULL for CORE_Q_NONE */

#endif
