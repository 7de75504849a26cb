/*
 * core.c - the pure event core: alarm rules, timers and the alarm lifecycle.
 *
 * How a sample becomes an event, layer by layer:
 *
 *   sample -> point class -> debounce -> alarm "in" -> on/off delay ->
 *   alarm "cond" -> (entry delay) -> lifecycle state -> event
 *
 * A digital point (door, fence, motion, cctv, tamper, fault, digital, eol)
 * turns each sample into a small class (0 normal, 1 active; an eol loop also
 * has tamper, short and cut). A class change is accepted after debounce_ms. Every
 * alarm then has a requested condition ("in") and a delayed one ("cond"):
 * in must hold on_delay_ms before cond rises and be gone off_delay_ms before
 * cond falls. Analog points skip the class and set "in" of their threshold
 * alarms directly, with a deadband for hysteresis. The lifecycle follows
 * cond (lc_follow) unless something gates it: shelving, out of service,
 * suppression by a disarmed zone or a running exit delay, or a chattering
 * point (which holds security alarms active and freezes the others).
 *
 * Timers live in one indexed binary heap keyed by (deadline, slot), where a
 * slot is a fixed timer of one point (debounce, chatter), one alarm (delay,
 * entry, shelve), one zone (exit, walk test end) or the site (flood). Setting or cancelling one is O(log n), the next deadline
 * is O(1), and the firing order is fully determined by the slot numbering,
 * never by the history of the heap. Every input first fires the timers due
 * at or before its mono_ms, so the outputs do not depend on when the shell
 * happens to send ticks.
 *
 * Determinism: no clock, no randomness, no allocation after core_new(), and
 * every output is zeroed before it is filled, so equal inputs give
 * byte-identical outputs.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core.h"
#include "lecodec.h"
#include "receipt.h"

#define NEVER UINT64_MAX
#define NO_POS UINT32_MAX
#define SHELVE_MIN_MS 1000
#define SNAP_MAGIC 0x534c4756u /* "VGLS" as a little-endian u32 */
#define SNAP_VERSION 5u /* 3: the receipt tracker; 4: walk tests; 5: the epoch */
#define SNAP_V1 1u      /* before quality, exit delays, disarm records and the flood rule */
/*
 * Worst case of events one alarm can emit in one step: two condition edges
 * (a pending delay fires, then a new input with no delay), an entry delay
 * expiring into an activation plus an immediate clear, a shelve expiry, a
 * chatter re-synchronisation, an exit delay ending, a re-statement of its
 * quality and an operator command.
 */
#define EVENTS_PER_ALARM 10
/* A verified_intrusion may also pulse (activate and clear) for each
 * confirming point that rises twice in one step. */
#define EVENTS_PER_VERIFY 4
/* Re-publications one step asks for at most; the rest stay due for the next step. */
#define RETRIES_PER_STEP 16

/* EOL_TAMPER: outside every window (or NaN); the order keeps version 1 snapshots valid. */
enum eol_class { EOL_NORMAL, EOL_ALARM, EOL_TAMPER, EOL_SHORT, EOL_CUT };

/* What drives an alarm's condition. */
enum role {
    ROLE_MAIN,        /* the point's main condition: intrusion, perimeter, cctv... */
    ROLE_EOL_FAULT,   /* eol loop shorted, cut or outside every window (alarm.eol_class) */
    ROLE_HELD,        /* door held open */
    ROLE_HIGH,        /* analog above high */
    ROLE_LOW,         /* analog below low */
    ROLE_SENSOR_FAULT,
    ROLE_VERIFIED,
    ROLE_CHATTER,
    ROLE_COMM,
    ROLE_SYSTEM,      /* spool_full, path_fault, storage_low, journal_fault */
    ROLE_FLOOD,       /* alarm_flood */
    ROLE_ONE_SHOT,    /* events without a lifecycle */
};

/* Timer slots: per point first, then per alarm, per zone, and the site's. */
enum { PT_DEBOUNCE, PT_CHATTER, PT_SLOTS };
enum { AL_DELAY, AL_ENTRY, AL_SHELVE, AL_SLOTS };

/* What a chattering point does to an alarm of its own. */
enum chatter_rule {
    CH_NONE,
    CH_FREEZE,           /* cctv, digital: no active/clear events while it chatters */
    CH_HOLD,             /* security alarms: clears are held, new activations raised at once */
};

/* One alarm: a site has one to five per point, so the table is the core's
 * largest and its fields are ordered and sized to pack into 64 bytes (the
 * enums in a byte each, the id in c->ids). */
struct alarm {
    struct core_alarm_info info;
    double cross;        /* ROLE_HIGH / ROLE_LOW: the reading that crossed the limit */
    uint64_t last_seq;   /* seq of its last event (within a step only: not in snapshots) */
    uint32_t on_delay_ms, off_delay_ms;
    uint8_t role;        /* enum role */
    uint8_t chatter;     /* enum chatter_rule */
    uint8_t state;       /* enum core_alarm_state */
    uint8_t eol_class;   /* ROLE_EOL_FAULT: the loop class it follows */
    bool suppressible;   /* a disarmed zone suppresses it */
    bool in;             /* condition the rule asks for, before on/off delay */
    bool cond;           /* condition after the delays: what the lifecycle follows */
};
_Static_assert(sizeof(struct alarm) <= 64, "an alarm packs into 64 bytes");

/* Times of the last `cap` occurrences of something, oldest at head.
 * Up to RING_EXACT slots, one occurrence per slot: exact. A larger cap
 * (chatter_count runs to 1000, flood_count to 10000) would make memory grow
 * with a tuning knob rather than with the site, so the ring keeps
 * RING_EXACT slots instead, each counting the occurrences that began within
 * span_ms of its first one. With span_ms = window / (RING_EXACT - 1) the
 * slots span at least a window, so a full ring only drops occurrences that
 * have already left it; the count in the window then misses at most the
 * later occurrences of the slot whose first one has just left (it errs
 * towards not flagging, never towards hiding an alarm early). */
#define RING_EXACT 16

struct ring {
    uint64_t *t;         /* first occurrence of each slot */
    uint32_t *n;         /* occurrences in each slot */
    uint32_t cap;        /* occurrences the rule needs: chatter_count, flood_count + 1 */
    uint32_t slots, len, head;
    uint64_t span_ms;    /* 0: one occurrence per slot */
};

/* A point's dynamic state, ordered to pack (112 bytes): a site has one per point. */
struct point {
    const struct cfg_point *cfg;
    int first_alarm, n_alarms;
    int a_main, a_tamper, a_cut, a_short, a_held, a_high, a_low, a_sfault, a_verified, a_chatter, a_access;
    int rev_first, rev_n; /* fences this point confirms: c->rev[rev_first..] */
    /* times of the last chatter_count activations (a_chatter >= 0 only):
     * every point's ring has the shape of the site's chatter rule
     * (c->chatter), so a point keeps only where its slots start in
     * c->ring_t / c->ring_n and how far they are used (point_ring()) */
    uint32_t ring_base;
    uint8_t ring_len, ring_head;
    uint8_t raw, cls;    /* last raw class, accepted (debounced) class */
    bool digital : 1;    /* has a debounced class */
    bool stale : 1;      /* device went down: re-apply the class on the next sample */
    bool bad : 1;        /* the last reading was rejected (NaN, sentinel, out of range) */
    bool chattering : 1;
    bool walked : 1;     /* changed during its zone's current or last walk test */
    double value;        /* last sample */
    uint64_t rise_ms;    /* last rise of the main condition */
    uint64_t verify_until; /* fence: a confirming rise up to here verifies */
    int64_t tested_wall_ms; /* its last change during a walk test; 0: never */
};
_Static_assert(sizeof(struct point) <= 112, "a point packs into 112 bytes");

/* Who disarmed a zone and when, for the door records of a disarmed store. */
struct zone_disarm {
    char by[CFG_ID_MAX];
    int64_t wall_ms;
};

/* A zone's current or last walk test; it runs while its timer slot is set. */
struct zone_test {
    char by[CFG_ID_MAX];
    int64_t started_wall_ms; /* 0: never tested */
    int64_t until_wall_ms;   /* when it ends by itself, for people */
};

struct id_index {
    int32_t *slot;       /* entry index, or -1 */
    uint32_t mask;
    const char *base;    /* the first entry's id (or pointer to its id) */
    size_t stride;       /* bytes from one entry to the next */
    bool by_pointer;     /* entries hold a pointer to the id, not its characters */
};

struct core {
    const struct cfg_site *site;
    struct point *points;
    struct alarm *alarms;
    int n_points, n_alarms;
    char *ids;           /* every alarm id, one after the other: info.id points in here */
    size_t ids_len;
    int a_comm0, a_sys0, a_flood, a_zone0; /* first comm_loss, system, flood and zone alarms */
    bool *zone_armed;
    struct zone_disarm *zone_disarm;
    struct zone_test *zone_test;
    int *rev;
    uint64_t *ring_t;    /* every point's ring slots, in one block */
    uint32_t *ring_n;
    struct ring chatter; /* the shape of every point's chatter ring (no slots of its own) */
    struct ring flood;   /* times of the last flood_count + 1 new alarms */
    /* timers: deadline per slot, and a heap of the pending slots */
    uint64_t *at;
    uint32_t *heap, *pos;
    uint32_t n_slots, n_heap;
    struct id_index alarm_ids, point_ids, zone_ids;
    uint64_t next_seq, now_ms;
    uint64_t epoch;           /* numbering lineage, set by the shell through a system input */
    size_t max_outputs;
    /* the step in progress; t_ms is when the change being handled happened
     * (a timer's deadline, or now_ms) */
    uint64_t t_ms;
    struct core_output *out;
    size_t n_out;
    int64_t wall_ms;
    const char *operator_name;
    enum core_cmd_op op;
    const char *text;
    struct rcpt rcpt;    /* events waiting for the station's receipt */
    bool local_on;       /* the local output, as last reported */
};

/* ---- names ------------------------------------------------------------- */

static const char *const type_names[CORE_T__COUNT] = {
    "intrusion", "perimeter", "verified_intrusion", "door_held", "tamper", "fault", "cctv",
    "temperature_high", "temperature_low", "humidity_high", "humidity_low", "digital",
    "analog_high", "analog_low", "sensor_fault", "comm_loss", "chattering", "spool_full",
    "path_fault", "storage_low", "gateway_restarted", "config_rejected", "self_test", "zone_armed", "zone_disarmed",
    "wire_cut", "wire_short", "alarm_flood", "door_opened", "door_closed", "command_refused", "journal_fault",
    "state_lost", "journal_damaged",
};

const char *core_type_name(enum core_alarm_type t)
{
    return (unsigned)t < CORE_T__COUNT ? type_names[t] : "unknown";
}

const char *core_state_name(enum core_alarm_state s)
{
    static const char *const names[] = {"normal", "active_unacked", "active_acked", "rtn_unacked",
                                        "shelved", "suppressed", "event", "out_of_service"};
    return (unsigned)s <= CORE_S_OUT_OF_SERVICE ? names[s] : "unknown";
}

bool core_op_targets_zone(enum core_cmd_op op)
{
    return op == CORE_CMD_ARM || op == CORE_CMD_DISARM || op == CORE_CMD_WALKTEST_START ||
           op == CORE_CMD_WALKTEST_STOP;
}

const char *core_op_name(enum core_cmd_op op)
{
    static const char *const names[] = {"ack", "shelve", "unshelve", "arm", "disarm", "out_of_service",
                                        "in_service", "walktest_start", "walktest_stop"};
    _Static_assert(sizeof(names) / sizeof(names[0]) == CORE_CMD__COUNT, "one name per op");
    return (unsigned)op < CORE_CMD__COUNT ? names[op] : "unknown";
}

const char *core_quality_name(enum core_quality q)
{
    static const char *const names[] = {NULL, "good", "stale", "unknown", "bad"};
    return (unsigned)q <= CORE_Q_BAD ? names[q] : NULL;
}

/* Copies at most cap-1 bytes of src and terminates; dst must be zeroed by
 * the caller when its padding ends up in an output. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- id lookup: open addressing over ids stored in an array of structs -- */

static uint32_t id_hash(const char *s)
{
    uint32_t h = 2166136261u;

    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

static const char *id_key(const struct id_index *ix, int32_t i)
{
    const char *e = ix->base + (size_t)i * ix->stride;

    return ix->by_pointer ? *(const char *const *)(const void *)e : e;
}

/* Builds a lookup over n ids found at base, base + stride, ... (or pointed
 * to from there, when by_pointer). */
static bool id_index_init(struct id_index *ix, const void *base, size_t stride, bool by_pointer, int n)
{
    uint32_t size = 16;

    while (size < 2u * (uint32_t)n)
        size <<= 1;
    ix->slot = malloc(size * sizeof(*ix->slot));
    if (!ix->slot)
        return false;
    memset(ix->slot, 0xff, size * sizeof(*ix->slot));
    ix->mask = size - 1;
    ix->base = base;
    ix->stride = stride;
    ix->by_pointer = by_pointer;
    for (int32_t i = 0; i < n; i++) {
        uint32_t h = id_hash(id_key(ix, i)) & ix->mask;
        while (ix->slot[h] >= 0)
            h = (h + 1) & ix->mask;
        ix->slot[h] = i;
    }
    return true;
}

static int id_index_find(const struct id_index *ix, const char *id)
{
    uint32_t h = id_hash(id) & ix->mask;

    for (; ix->slot[h] >= 0; h = (h + 1) & ix->mask)
        if (strcmp(id_key(ix, ix->slot[h]), id) == 0)
            return ix->slot[h];
    return -1;
}

/* ---- timers: an indexed min-heap ordered by (deadline, slot) ----------- */

static uint32_t point_slot(int p, int kind)
{
    return (uint32_t)p * PT_SLOTS + (uint32_t)kind;
}

static uint32_t alarm_slot(const struct core *c, int a, int kind)
{
    return (uint32_t)c->n_points * PT_SLOTS + (uint32_t)a * AL_SLOTS + (uint32_t)kind;
}

/* A zone's exit delay. */
static uint32_t zone_slot(const struct core *c, int z)
{
    return alarm_slot(c, c->n_alarms, 0) + (uint32_t)z;
}

/* The site's flood window. */
static uint32_t flood_slot(const struct core *c)
{
    return zone_slot(c, c->site->n_zones);
}

/* The end of zone z's walk test. */
static uint32_t test_slot(const struct core *c, int z)
{
    return flood_slot(c) + 1 + (uint32_t)z;
}

/*
 * Deadlines are stored complemented (~at) and heap positions as position
 * + 1, so that the zero pages of a fresh calloc() mean "no deadline, not in
 * the heap": a slot costs memory only once a timer of its page is set (at
 * 10,000 points there are 80,000 slots, of which a few hundred run at once).
 * For the same reason at_put() does not write a value that is already there.
 */
static uint64_t at_of(const struct core *c, uint32_t slot)
{
    return ~c->at[slot];
}

static void at_put(struct core *c, uint32_t slot, uint64_t when)
{
    if (c->at[slot] != ~when)
        c->at[slot] = ~when;
}

static uint32_t pos_of(const struct core *c, uint32_t slot)
{
    return c->pos[slot] - 1; /* 0 - 1: NO_POS */
}

static void pos_put(struct core *c, uint32_t slot, uint32_t i)
{
    c->pos[slot] = i + 1; /* NO_POS + 1: 0 */
}

static bool slot_before(const struct core *c, uint32_t x, uint32_t y)
{
    return at_of(c, x) < at_of(c, y) || (at_of(c, x) == at_of(c, y) && x < y);
}

static void heap_put(struct core *c, uint32_t i, uint32_t slot)
{
    c->heap[i] = slot;
    pos_put(c, slot, i);
}

/* Restores the heap order around position i after its key changed. */
static void heap_fix(struct core *c, uint32_t i)
{
    uint32_t slot = c->heap[i];

    while (i > 0 && slot_before(c, slot, c->heap[(i - 1) / 2])) {
        heap_put(c, i, c->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) {
        uint32_t l = 2 * i + 1, m = i, best = slot;
        if (l < c->n_heap && slot_before(c, c->heap[l], best))
            m = l, best = c->heap[l];
        if (l + 1 < c->n_heap && slot_before(c, c->heap[l + 1], best))
            m = l + 1, best = c->heap[l + 1];
        if (m == i)
            break;
        heap_put(c, i, best);
        i = m;
    }
    heap_put(c, i, slot);
}

static void timer_set(struct core *c, uint32_t slot, uint64_t when)
{
    at_put(c, slot, when);
    if (pos_of(c, slot) == NO_POS)
        heap_put(c, c->n_heap++, slot);
    heap_fix(c, pos_of(c, slot));
}

static void timer_cancel(struct core *c, uint32_t slot)
{
    uint32_t i = pos_of(c, slot);

    at_put(c, slot, NEVER);
    if (i == NO_POS)
        return;
    pos_put(c, slot, NO_POS);
    if (i == --c->n_heap)
        return;
    heap_put(c, i, c->heap[c->n_heap]);
    heap_fix(c, i);
}

/* ---- outputs ----------------------------------------------------------- */

/* The next output, zeroed. Running past core_max_outputs() would write past
 * the caller's buffer: that is a bug in the bound, so stop hard. */
static struct core_output *out_next(struct core *c, enum core_output_type type)
{
    struct core_output *o;

    if (c->n_out >= c->max_outputs)
        abort();
    o = &c->out[c->n_out++];
    memset(o, 0, sizeof(*o));
    o->type = type;
    return o;
}

static struct point *point_of(struct core *c, const struct alarm *a)
{
    return a->info.point >= 0 ? &c->points[a->info.point] : NULL;
}

/* Occurrences in r within the window ending at now: those of the slots
 * whose first occurrence is within it. */
static uint32_t ring_in_window(const struct ring *r, uint64_t now, uint64_t window)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < r->len; i++) {
        uint32_t k = (r->head + i) % r->slots;
        if (now - r->t[k] < window)
            n += r->n[k];
    }
    return n;
}

/* Records an occurrence: in the newest slot if it began within span_ms,
 * else in a new slot, dropping the oldest when the ring is full. */
static void ring_push(struct ring *r, uint64_t t)
{
    uint32_t k;

    if (r->len > 0) {
        k = (r->head + r->len - 1) % r->slots;
        if (t - r->t[k] < r->span_ms) {
            r->n[k]++;
            return;
        }
    }
    if (r->len < r->slots) {
        k = (r->head + r->len++) % r->slots;
    } else {
        k = r->head;
        r->head = (r->head + 1) % r->slots;
    }
    r->t[k] = t;
    r->n[k] = 1;
}

/* The first occurrence of the oldest slot still in the window. */
static uint64_t ring_oldest_in_window(const struct ring *r, uint64_t now, uint64_t window)
{
    for (uint32_t i = 0; i < r->len; i++) {
        uint32_t k = (r->head + i) % r->slots;
        if (now - r->t[k] < window)
            return r->t[k];
    }
    return now;
}

/* When the burst in r ends (the oldest of the last cap occurrences leaves
 * the window), or NEVER if fewer than cap occurrences fall within it. An
 * exact ring's burst is always over when that time comes; a counting one's
 * may still hold cap occurrences in its later slots, hence the re-check. */
static uint64_t ring_burst_end(const struct ring *r, uint64_t now, uint64_t window)
{
    if (ring_in_window(r, now, window) < r->cap)
        return NEVER;
    return ring_oldest_in_window(r, now, window) + window;
}

/* Records an occurrence at now; returns ring_burst_end(). */
static uint64_t ring_burst(struct ring *r, uint64_t now, uint64_t window)
{
    ring_push(r, now);
    return ring_burst_end(r, now, window);
}

/* Sizes r for a rule of cap occurrences within window_ms (see struct ring). */
static void ring_size(struct ring *r, uint32_t cap, uint64_t window_ms)
{
    r->cap = cap;
    r->slots = cap <= RING_EXACT ? cap : RING_EXACT;
    r->span_ms = cap <= RING_EXACT ? 0 : window_ms / (RING_EXACT - 1) + 1;
    r->len = r->head = 0;
}

/* Point p's chatter ring as a whole ring; one without slots if it has no
 * chattering alarm. Changes go back with point_ring_keep(). */
static struct ring point_ring(const struct core *c, const struct point *p)
{
    struct ring r = {0};

    if (p->a_chatter < 0)
        return r;
    r = c->chatter;
    r.t = c->ring_t + p->ring_base;
    r.n = c->ring_n + p->ring_base;
    r.len = p->ring_len;
    r.head = p->ring_head;
    return r;
}

static void point_ring_keep(struct point *p, const struct ring *r)
{
    p->ring_len = (uint8_t)r->len;
    p->ring_head = (uint8_t)r->head;
}

static bool in_test(const struct core *c, int z)
{
    return z >= 0 && at_of(c, test_slot(c, z)) != NEVER;
}

static bool device_down(const struct core *c, int d)
{
    return c->alarms[c->a_comm0 + d].cond;
}

/* How far a point's last value can be trusted. */
static enum core_quality point_quality(const struct core *c, const struct point *p)
{
    if (device_down(c, p->cfg->device))
        return CORE_Q_UNKNOWN;
    if (p->stale)
        return CORE_Q_STALE;
    if (p->bad)
        return CORE_Q_BAD;
    return isnan(p->value) ? CORE_Q_UNKNOWN : CORE_Q_GOOD; /* never read yet */
}

/* The value an event of alarm a in state s carries (see core.h). */
static double alarm_value(struct core *c, const struct alarm *a, enum core_alarm_state s)
{
    const struct point *p = point_of(c, a);

    if (a->role == ROLE_FLOOD)
        return ring_in_window(&c->flood, c->t_ms, (uint64_t)c->site->rules.flood_window_ms);
    if (!p)
        return NAN;
    if (a->role == ROLE_CHATTER) {
        struct ring r = point_ring(c, p);
        return ring_in_window(&r, c->t_ms, (uint64_t)c->site->rules.chatter_window_ms);
    }
    /* an activation shows the reading that crossed the limit, not a later
     * one that the deadband or on-delay let through below it */
    if ((a->role == ROLE_HIGH || a->role == ROLE_LOW) && s == CORE_S_ACTIVE_UNACKED && !isnan(a->cross))
        return a->cross;
    return p->value;
}

static struct core_event *emit_event(struct core *c, int ai, enum core_alarm_type type,
                                     enum core_alarm_state state)
{
    struct alarm *a = &c->alarms[ai];
    struct core_event *ev = &out_next(c, CORE_OUT_EVENT)->u.event;
    const struct point *p = point_of(c, a);

    ev->seq = c->next_seq++;
    ev->epoch = c->epoch;
    ev->wall_ms = c->wall_ms;
    ev->alarm = ai;
    ev->type = type;
    ev->priority = a->info.priority;
    ev->state = state;
    ev->value = alarm_value(c, a, state);
    ev->quality = p ? point_quality(c, p) : a->role == ROLE_FLOOD ? CORE_Q_GOOD : CORE_Q_NONE;
    if (c->operator_name[0])
        ev->op = c->op;
    copy_str(ev->operator_name, sizeof(ev->operator_name), c->operator_name);
    copy_str(ev->text, sizeof(ev->text), c->text);
    ev->test = in_test(c, a->info.zone);
    if (rcpt_wanted(&c->rcpt, ev->priority)) {
        struct rcpt_dropped gone; /* counted by the tracker; the local output covers what matters */

        rcpt_track(&c->rcpt, ev->seq, ev->priority, c->now_ms, &gone);
    }
    a->last_seq = ev->seq;
    return ev;
}

static void flood_note(struct core *c);

/* Moves alarm a to state s and reports it; a new activation counts
 * towards the site's flood rule. */
static void set_state(struct core *c, struct alarm *a, enum core_alarm_state s)
{
    bool raised = s == CORE_S_ACTIVE_UNACKED && a->state != s && a->role != ROLE_FLOOD;

    a->state = s;
    emit_event(c, (int)(a - c->alarms), a->info.type, s);
    if (raised)
        flood_note(c);
}

/* ---- lifecycle ---------------------------------------------------------- */

/* A zone in walk test raises its alarms (marked test) even when disarmed:
 * the engineer must see every detector reach the station. */
static bool disarmed_for(const struct core *c, const struct alarm *a)
{
    return a->suppressible && !c->zone_armed[a->info.zone] && !in_test(c, a->info.zone);
}

static bool exiting(const struct core *c, const struct alarm *a)
{
    return a->suppressible && at_of(c, zone_slot(c, a->info.zone)) != NEVER;
}

/* Activations of a are held back: its zone is disarmed or still in its exit delay. */
static bool blocked(const struct core *c, const struct alarm *a)
{
    return disarmed_for(c, a) || exiting(c, a);
}

static bool chattering(const struct core *c, const struct alarm *a, enum chatter_rule rule)
{
    return a->chatter == rule && c->points[a->info.point].chattering;
}

static bool in_lifecycle(const struct alarm *a)
{
    return a->state == CORE_S_NORMAL || a->state == CORE_S_ACTIVE_UNACKED ||
           a->state == CORE_S_ACTIVE_ACKED || a->state == CORE_S_RTN_UNACKED;
}

/* Reports NORMAL; a suppressible alarm of a disarmed zone then goes
 * SUPPRESSED without an event. */
static void reach_normal(struct core *c, struct alarm *a)
{
    set_state(c, a, CORE_S_NORMAL);
    if (disarmed_for(c, a))
        a->state = CORE_S_SUPPRESSED;
}

/*
 * Moves a live alarm towards its condition: at most one event. A disarmed
 * zone (or a running exit delay) blocks activations but lets an alarm that
 * is still up clear, so an alarm raised before the disarm ends its
 * lifecycle normally.
 */
static void lc_follow(struct core *c, struct alarm *a, bool active)
{
    if (!in_lifecycle(a))
        return;
    if (active) {
        if (!blocked(c, a) && (a->state == CORE_S_NORMAL || a->state == CORE_S_RTN_UNACKED))
            set_state(c, a, CORE_S_ACTIVE_UNACKED);
    } else if (a->state == CORE_S_ACTIVE_UNACKED) {
        if (a->info.latching)
            set_state(c, a, CORE_S_RTN_UNACKED);
        else
            reach_normal(c, a);
    } else if (a->state == CORE_S_ACTIVE_ACKED) {
        reach_normal(c, a);
    }
}

/*
 * A condition edge. While its point chatters, a cctv or digital alarm
 * ignores it; a security alarm holds a clear (it stays active) and raises a
 * rise at once, even over an ack: a door opened again after the guard
 * acknowledged is a new intrusion, however often it flapped before.
 */
static void lc_edge(struct core *c, struct alarm *a, bool active)
{
    if (chattering(c, a, CH_FREEZE))
        return;
    if (chattering(c, a, CH_HOLD)) {
        if (!active)
            return;
        if (a->state == CORE_S_ACTIVE_ACKED && !blocked(c, a)) {
            set_state(c, a, CORE_S_ACTIVE_UNACKED);
            return;
        }
    }
    lc_follow(c, a, active);
}

/* Brings a to its condition's level (arming, an exit delay ending), within
 * what a chattering point allows. */
static void lc_sync(struct core *c, struct alarm *a)
{
    if (chattering(c, a, CH_FREEZE) || (chattering(c, a, CH_HOLD) && !a->cond))
        return;
    lc_follow(c, a, a->cond);
}

/* Re-evaluates an alarm coming back from shelving or out of service. */
static void reevaluate(struct core *c, struct alarm *a)
{
    if (a->cond && !blocked(c, a))
        set_state(c, a, CORE_S_ACTIVE_UNACKED);
    else
        reach_normal(c, a);
}

/* A new alarm was raised: more than flood_count of them within the flood
 * window raise alarm_flood, which clears when the oldest leaves it. */
static void flood_note(struct core *c)
{
    struct alarm *f = &c->alarms[c->a_flood];
    uint64_t until = ring_burst(&c->flood, c->t_ms, (uint64_t)c->site->rules.flood_window_ms);

    if (until == NEVER)
        return;
    timer_set(c, flood_slot(c), until);
    if (!f->cond) {
        f->in = f->cond = true;
        lc_follow(c, f, true);
    }
}

static void flood_expired(struct core *c)
{
    struct alarm *f = &c->alarms[c->a_flood];
    uint64_t until = ring_burst_end(&c->flood, c->t_ms, (uint64_t)c->site->rules.flood_window_ms);

    if (until != NEVER) {
        timer_set(c, flood_slot(c), until);
        return;
    }

    f->in = f->cond = false;
    lc_follow(c, f, false);
}

/* ---- rules -------------------------------------------------------------- */

static int verify_window_ms(const struct core *c, const struct point *fence)
{
    int w = fence->cfg->verify_window_ms;
    return w > 0 ? w : c->site->rules.default_verify_window_ms;
}

/* A camera or detector that is shelved or out of service confirms nothing. */
static bool confirms(const struct core *c, const struct point *p)
{
    enum core_alarm_state s = c->alarms[p->a_main].state;

    return s != CORE_S_SHELVED && s != CORE_S_OUT_OF_SERVICE;
}

/* A confirming point saw the fence alarm while it was up: raise verified_intrusion. */
static void verify_fence(struct core *c, struct point *fence)
{
    struct alarm *v = &c->alarms[fence->a_verified];

    v->in = v->cond = true;
    lc_edge(c, v, true);
}

/* A confirming point rose: verify every fence that is up and whose window is still open. */
static void confirm_fences(struct core *c, struct point *p, uint64_t now)
{
    if (!confirms(c, p))
        return;
    p->rise_ms = now;
    for (int i = 0; i < p->rev_n; i++) {
        struct point *f = &c->points[c->rev[p->rev_first + i]];
        if (f->verify_until != NEVER && now <= f->verify_until)
            verify_fence(c, f);
    }
}

/* The fence's perimeter condition changed: look back for a confirming rise
 * and open the window for later ones; a clear closes the window (a camera
 * that sees something after the fence went quiet confirms nothing) and
 * clears verified_intrusion with it. */
static void fence_changed(struct core *c, struct point *f, uint64_t now)
{
    struct alarm *v = &c->alarms[f->a_verified];
    uint64_t window = (uint64_t)verify_window_ms(c, f);

    if (!c->alarms[f->a_main].cond) {
        f->verify_until = NEVER;
        if (v->cond) {
            v->in = v->cond = false;
            lc_edge(c, v, false);
        }
        return;
    }
    f->verify_until = now + window;
    for (int i = 0; i < f->cfg->n_verify; i++) {
        const struct point *w = &c->points[f->cfg->verify[i]];
        if (w->rise_ms != NEVER && now - w->rise_ms <= window && confirms(c, w)) {
            verify_fence(c, f);
            return;
        }
    }
}

/* The end of the entry period a door of zone z started, or NEVER. */
static uint64_t zone_entry_until(const struct core *c, int z)
{
    uint64_t until = NEVER;

    for (int i = 0; i < c->n_points; i++) {
        const struct point *p = &c->points[i];
        if (p->cfg->zone == z && p->cfg->kind == CFG_KIND_DOOR) {
            uint64_t at = at_of(c, alarm_slot(c, p->a_main, AL_ENTRY));
            until = at < until ? at : until;
        }
    }
    return until;
}

/*
 * When a rising intrusion of alarm a, at now, is raised if no one disarms:
 * a door starts the zone's entry delay; an entry-route point (the PIR on
 * the way to the keypad) waits for the entry period a door started, and
 * alarms at once if none did. NEVER: no entry delay applies.
 */
static uint64_t entry_deadline(const struct core *c, const struct alarm *a, uint64_t now)
{
    const struct point *p = &c->points[a->info.point];
    int z = a->info.zone;
    int delay = z >= 0 ? c->site->zones[z].entry_delay_ms : 0;

    if (a->role != ROLE_MAIN || delay <= 0 || !c->zone_armed[z] || exiting(c, a) ||
        chattering(c, a, CH_FREEZE) || (a->state != CORE_S_NORMAL && a->state != CORE_S_RTN_UNACKED))
        return NEVER;
    if (p->cfg->kind == CFG_KIND_DOOR)
        return now + (uint64_t)delay;
    return p->cfg->entry_route ? zone_entry_until(c, z) : NEVER;
}

/* Alarm ai's delayed condition just changed to a->cond. */
static void cond_changed(struct core *c, int ai, uint64_t now)
{
    struct alarm *a = &c->alarms[ai];
    struct point *p = point_of(c, a);
    uint32_t entry = alarm_slot(c, ai, AL_ENTRY);
    uint64_t until = a->cond ? entry_deadline(c, a, now) : NEVER;

    /* a door opened again during its entry delay does not extend it */
    if (until != NEVER) {
        if (at_of(c, entry) == NEVER)
            timer_set(c, entry, until);
    } else
        lc_edge(c, a, a->cond);
    if (a->role != ROLE_MAIN)
        return;
    if (a->cond)
        confirm_fences(c, p, now);
    if (p->a_verified >= 0)
        fence_changed(c, p, now);
}

/* The entry delay ran out without a disarm: the intrusion stands, even if
 * the door was closed again meanwhile. */
static void entry_expired(struct core *c, struct alarm *a)
{
    lc_edge(c, a, true);
    if (!a->cond)
        lc_edge(c, a, false);
}

/* Sets the requested condition of alarm ai; the delayed one follows after
 * on_delay_ms / off_delay_ms, or now if the delay is 0. */
static void filter_set(struct core *c, int ai, bool in, uint64_t now)
{
    struct alarm *a = &c->alarms[ai];
    uint32_t slot = alarm_slot(c, ai, AL_DELAY);
    uint32_t delay;

    if (in == a->in)
        return;
    a->in = in;
    if (in == a->cond) {
        timer_cancel(c, slot);
        return;
    }
    delay = in ? a->on_delay_ms : a->off_delay_ms;
    if (delay > 0) {
        timer_set(c, slot, now + delay);
        return;
    }
    a->cond = in;
    cond_changed(c, ai, now);
}

/* Feeds the accepted class of a digital point into its alarms. */
static void apply_class(struct core *c, struct point *p, uint64_t now)
{
    if (p->cfg->kind == CFG_KIND_EOL) {
        filter_set(c, p->a_main, p->cls == EOL_ALARM, now);
        filter_set(c, p->a_cut, p->cls == EOL_CUT, now);
        filter_set(c, p->a_short, p->cls == EOL_SHORT, now);
        filter_set(c, p->a_tamper, p->cls == EOL_TAMPER, now);
        return;
    }
    filter_set(c, p->a_main, p->cls != 0, now);
    if (p->a_held >= 0)
        filter_set(c, p->a_held, p->cls != 0, now);
}

/* Counts an activation; N of them within the window flag chattering, which
 * lasts until the oldest of the last N leaves the window. */
static void chatter_rise(struct core *c, struct point *p, uint64_t now)
{
    struct ring r = point_ring(c, p);
    uint64_t until = ring_burst(&r, now, (uint64_t)c->site->rules.chatter_window_ms);

    point_ring_keep(p, &r);
    if (until == NEVER)
        return;
    timer_set(c, point_slot((int)(p - c->points), PT_CHATTER), until);
    if (!p->chattering) {
        struct alarm *ca = &c->alarms[p->a_chatter];
        p->chattering = true;
        ca->in = ca->cond = true;
        lc_edge(c, ca, true);
    }
}

/* Chattering ended: clear the flag and bring the alarms it froze or held in
 * line with the point's current condition. */
static void chatter_expired(struct core *c, struct point *p)
{
    struct alarm *ca = &c->alarms[p->a_chatter];
    struct ring r = point_ring(c, p);
    uint64_t until = ring_burst_end(&r, c->t_ms, (uint64_t)c->site->rules.chatter_window_ms);

    if (until != NEVER) {
        timer_set(c, point_slot((int)(p - c->points), PT_CHATTER), until);
        return;
    }

    p->chattering = false;
    ca->in = ca->cond = false;
    lc_edge(c, ca, false);
    for (int i = p->first_alarm; i < p->first_alarm + p->n_alarms; i++)
        if (c->alarms[i].chatter != CH_NONE)
            lc_follow(c, &c->alarms[i], c->alarms[i].cond);
}

/* A door of a disarmed zone opened or closed: a one-shot record naming who
 * disarmed the zone and when, so every opening of a store has an owner. */
static void door_record(struct core *c, struct point *p)
{
    const struct zone_disarm *zd = &c->zone_disarm[p->cfg->zone];
    struct core_event *ev;

    ev = emit_event(c, p->a_access, p->cls ? CORE_T_DOOR_OPENED : CORE_T_DOOR_CLOSED, CORE_S_EVENT);
    copy_str(ev->disarmed_by, sizeof(ev->disarmed_by), zd->by);
    ev->disarmed_wall_ms = zd->wall_ms;
}

/* The raw class of a digital point held for debounce_ms: accept it. */
static void accept_class(struct core *c, struct point *p, uint64_t now)
{
    uint8_t old = p->cls;

    p->cls = p->raw;
    if (old == 0 && p->cls != 0 && p->a_chatter >= 0)
        chatter_rise(c, p, now);
    if (p->a_access >= 0 && disarmed_for(c, &c->alarms[p->a_main]))
        door_record(c, p);
    apply_class(c, p, now);
}

static bool in_range(double v, double lo, double hi)
{
    return v >= lo && v <= hi;
}

/* Classifies an end-of-line loop reading; NaN is outside every window. */
static uint8_t eol_class(const struct cfg_eol *w, double v)
{
    if (in_range(v, w->normal_lo, w->normal_hi))
        return EOL_NORMAL;
    if (in_range(v, w->alarm_lo, w->alarm_hi))
        return EOL_ALARM;
    if (in_range(v, w->short_lo, w->short_hi))
        return EOL_SHORT;
    if (in_range(v, w->cut_lo, w->cut_hi))
        return EOL_CUT;
    return EOL_TAMPER;
}

static void digital_sample(struct core *c, struct point *p, double v, uint64_t now)
{
    int debounce_ms = p->cfg->debounce_ms;
    bool refresh = p->stale;
    uint8_t raw;

    p->bad = isnan(v);
    if (p->cfg->kind == CFG_KIND_EOL)
        raw = eol_class(p->cfg->eol, v);
    else if (isnan(v))
        return; /* an unreadable bit says nothing about the contact */
    else
        raw = (v != 0) != p->cfg->invert;
    p->stale = false;
    if (raw != p->raw) {
        p->raw = raw;
        if (raw == p->cls)
            timer_cancel(c, point_slot((int)(p - c->points), PT_DEBOUNCE));
        else if (debounce_ms > 0)
            timer_set(c, point_slot((int)(p - c->points), PT_DEBOUNCE), now + (uint64_t)debounce_ms);
        else
            accept_class(c, p, now);
    }
    if (refresh)
        apply_class(c, p, now);
}

/* Whether an analog reading is a value: not NaN, inside the valid range,
 * and none of the sentinels the sensor sends instead of a value. */
static bool reading_valid(const struct cfg_analog *an, double v)
{
    if (isnan(v) || (!isnan(an->valid_min) && v < an->valid_min) || (!isnan(an->valid_max) && v > an->valid_max))
        return false;
    /* a sentinel is written in engineering units, after a scale that may
     * not be exact in binary: -32768 * 0.1 must still match -3276.8 */
    for (int i = 0; i < an->n_sentinels; i++)
        if (fabs(v - an->sentinels[i]) <= 1e-9 * fmax(1.0, fabs(an->sentinels[i])))
            return false;
    return true;
}

/* High threshold with hysteresis. */
static bool above(bool was, double v, double high, double deadband)
{
    return was ? !(v < high - deadband) : v > high;
}

static bool below(bool was, double v, double low, double deadband)
{
    return was ? !(v > low + deadband) : v < low;
}

/* Sets a threshold alarm's request; a rise remembers the reading that crossed. */
static void threshold_set(struct core *c, int ai, bool in, double v, uint64_t now)
{
    struct alarm *a = &c->alarms[ai];

    if (in && !a->in)
        a->cross = v;
    filter_set(c, ai, in, now);
}

/* A rejected reading leaves the threshold alarms where they were and raises sensor_fault. */
static void analog_sample(struct core *c, struct point *p, double v, uint64_t now)
{
    const struct cfg_analog *an = p->cfg->analog;
    double db = isnan(an->deadband) ? 0 : an->deadband;

    p->stale = false;
    p->bad = !reading_valid(an, v);
    if (!p->bad && p->a_high >= 0)
        threshold_set(c, p->a_high, above(c->alarms[p->a_high].in, v, an->high, db), v, now);
    if (!p->bad && p->a_low >= 0)
        threshold_set(c, p->a_low, below(c->alarms[p->a_low].in, v, an->low, db), v, now);
    filter_set(c, p->a_sfault, p->bad, now);
}

/* Whether an alarm's state is on a retained topic a station shows. */
static bool needs_attention(const struct alarm *a)
{
    return a->state == CORE_S_ACTIVE_UNACKED || a->state == CORE_S_ACTIVE_ACKED || a->state == CORE_S_RTN_UNACKED;
}

/* Re-states the alarms of p that need attention and got no event since
 * seq `since`: their value's quality changed (device lost, or a fresh
 * reading after it came back), and the retained payload must say so. */
static void restate_quality(struct core *c, struct point *p, uint64_t since)
{
    for (int i = p->first_alarm; i < p->first_alarm + p->n_alarms; i++) {
        struct alarm *a = &c->alarms[i];
        if (needs_attention(a) && a->last_seq < since)
            emit_event(c, i, a->info.type, a->state);
    }
}

/* Point pi changed while its zone is in walk test: it is proven to work today. */
static void walked(struct core *c, int pi)
{
    struct core_point_tested *t = &out_next(c, CORE_OUT_TESTED)->u.tested;

    c->points[pi].walked = true;
    c->points[pi].tested_wall_ms = c->wall_ms;
    t->point = pi;
    t->wall_ms = c->wall_ms;
}

static void on_sample(struct core *c, int pi, double v, uint64_t now)
{
    struct point *p;
    bool was_stale;
    uint8_t old_raw;
    double old_value;
    uint64_t since = c->next_seq;

    if (pi < 0 || pi >= c->n_points)
        abort(); /* the shell indexes points from the same site */
    p = &c->points[pi];
    was_stale = p->stale;
    old_raw = p->raw;
    old_value = p->value;
    p->value = v;
    if (p->digital)
        digital_sample(c, p, v, now);
    else
        analog_sample(c, p, v, now);
    if (was_stale && !p->stale && !device_down(c, p->cfg->device))
        restate_quality(c, p, since);
    /* A change needs a reading before it: the first sample after a start proves nothing. */
    if (in_test(c, p->cfg->zone) && !isnan(old_value) && (p->digital ? p->raw != old_raw : v != old_value))
        walked(c, pi);
}

/* Device down: its points' pending transitions are dropped (their data is
 * stale) and re-applied from the next fresh sample. Alarms keep their
 * state, and a running entry delay keeps running: the door was opened
 * before the line went quiet, so cutting the line must not cancel it. */
static void make_stale(struct core *c, int pi)
{
    struct point *p = &c->points[pi];

    timer_cancel(c, point_slot(pi, PT_DEBOUNCE));
    p->raw = p->cls;
    for (int i = p->first_alarm; i < p->first_alarm + p->n_alarms; i++) {
        timer_cancel(c, alarm_slot(c, i, AL_DELAY));
        c->alarms[i].in = c->alarms[i].cond;
    }
    p->stale = true;
}

/* A device went down or came back. Down: its points go stale and their
 * alarms that need attention are re-stated with quality unknown, so no
 * retained payload keeps showing the last value as current. */
static void on_comm(struct core *c, int d, bool up)
{
    struct alarm *a;
    uint64_t since;

    if (d < 0 || d >= c->site->n_devices)
        abort();
    a = &c->alarms[c->a_comm0 + d];
    if (a->cond == !up)
        return;
    a->in = a->cond = !up;
    lc_edge(c, a, a->cond);
    if (up)
        return;
    since = c->next_seq;
    for (int pi = 0; pi < c->n_points; pi++) {
        if (c->points[pi].cfg->device != d)
            continue;
        make_stale(c, pi);
        restate_quality(c, &c->points[pi], since);
    }
}

static void unshelve(struct core *c, int ai)
{
    timer_cancel(c, alarm_slot(c, ai, AL_SHELVE));
    reevaluate(c, &c->alarms[ai]);
}

/* Zone z's exit delay ended: what is open now is an alarm. */
static void exit_expired(struct core *c, int z)
{
    for (int i = 0; i < c->n_alarms; i++)
        if (c->alarms[i].info.zone == z && c->alarms[i].suppressible)
            lc_sync(c, &c->alarms[i]);
}

static void alarm_timer_fire(struct core *c, int ai, int kind, uint64_t t)
{
    switch (kind) {
    case AL_DELAY:
        c->alarms[ai].cond = c->alarms[ai].in;
        cond_changed(c, ai, t);
        break;
    case AL_ENTRY:
        entry_expired(c, &c->alarms[ai]);
        break;
    default:
        unshelve(c, ai);
        break;
    }
}

static void test_ended(struct core *c, int z);

/* Fires one timer whose deadline t has come. */
static void timer_fire(struct core *c, uint32_t slot, uint64_t t)
{
    uint32_t pslots = (uint32_t)c->n_points * PT_SLOTS, zone0 = zone_slot(c, 0);

    if (slot < pslots) {
        struct point *p = &c->points[slot / PT_SLOTS];
        if (slot % PT_SLOTS == PT_DEBOUNCE)
            accept_class(c, p, t);
        else
            chatter_expired(c, p);
    } else if (slot < zone0) {
        alarm_timer_fire(c, (int)((slot - pslots) / AL_SLOTS), (int)((slot - pslots) % AL_SLOTS), t);
    } else if (slot < flood_slot(c)) {
        exit_expired(c, (int)(slot - zone0));
    } else if (slot == flood_slot(c)) {
        flood_expired(c);
    } else {
        test_ended(c, (int)(slot - test_slot(c, 0)));
    }
}

/* Fires every timer due at or before now, earliest first; a timer that a
 * fired one sets within the same span fires too. */
static void fire_due(struct core *c, uint64_t now)
{
    while (c->n_heap > 0 && at_of(c, c->heap[0]) <= now) {
        uint32_t slot = c->heap[0];
        uint64_t t = at_of(c, slot);
        timer_cancel(c, slot);
        c->t_ms = t;
        timer_fire(c, slot, t);
    }
    c->t_ms = now;
}

/* ---- commands ------------------------------------------------------------ */

/* Refuses a command: false with the reason in r. */
static bool refuse(struct core_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool refuse(struct core_result *r, const char *fmt, ...)
{
    va_list ap;

    r->ok = false;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
    return false;
}

/*
 * Lists the zone's points whose suppressible condition is up into err as
 * "zone X has open points: a, b (use force to arm anyway)". Returns whether
 * any is open. Ids that do not fit are summarised as "...".
 */
static bool open_points(const struct core *c, int z, char *err, size_t cap)
{
    static const char tail[] = " (use force to arm anyway)";
    size_t len = (size_t)snprintf(err, cap, "zone %s has open points: ", c->site->zones[z].id);
    int last = -1;

    for (int i = 0; i < c->n_alarms; i++) {
        const struct alarm *a = &c->alarms[i];
        if (a->info.zone != z || !a->suppressible || !a->in || a->info.point == last)
            continue;
        const char *id = c->site->points[a->info.point].id;
        size_t need = strlen(id) + (last >= 0 ? 2 : 0);
        if (len + need + sizeof(tail) + 4 > cap) {
            len += (size_t)snprintf(err + len, cap - len, "%s...", last >= 0 ? ", " : "");
            break;
        }
        len += (size_t)snprintf(err + len, cap - len, "%s%s", last >= 0 ? ", " : "", id);
        last = a->info.point;
    }
    snprintf(err + len, cap - len, "%s", tail);
    return last >= 0;
}

/* Reports zone z's arm and walk test state as it is now. */
static void zone_change(struct core *c, int z)
{
    struct core_zone_change *zc = &out_next(c, CORE_OUT_ZONE)->u.zone;

    core_zone_test(c, z, zc);
    copy_str(zc->operator_name, sizeof(zc->operator_name), c->operator_name);
}

static void zone_report(struct core *c, int z, bool armed)
{
    zone_change(c, z);
    emit_event(c, c->a_zone0 + z, armed ? CORE_T_ZONE_ARMED : CORE_T_ZONE_DISARMED, CORE_S_EVENT);
}

/* Zone z's suppressed alarms come back (arming, a walk test starting), and
 * those whose condition is up follow it, within an exit delay. */
static void zone_wake(struct core *c, int z)
{
    for (int i = 0; i < c->n_alarms; i++) {
        struct alarm *a = &c->alarms[i];
        if (a->info.zone != z || !a->suppressible)
            continue;
        if (a->state == CORE_S_SUPPRESSED)
            a->state = CORE_S_NORMAL;
        lc_sync(c, a);
    }
}

/* Zone z no longer raises its alarms (disarmed, or its walk test ended on
 * a disarmed zone): idle ones go SUPPRESSED silently and pending entry
 * delays are cancelled; active ones end their lifecycle normally. */
static void zone_sleep(struct core *c, int z)
{
    for (int i = 0; i < c->n_alarms; i++) {
        struct alarm *a = &c->alarms[i];
        if (a->info.zone != z || !a->suppressible)
            continue;
        timer_cancel(c, alarm_slot(c, i, AL_ENTRY));
        if (a->state == CORE_S_NORMAL)
            a->state = CORE_S_SUPPRESSED;
    }
}

/* Arms zone z: suppressed alarms come back, and those whose condition is
 * up activate at once (no entry delay: the operator chose to arm), or when
 * the zone's exit delay ends if it has one. */
static void cmd_arm(struct core *c, const struct core_cmd *cmd, int z, struct core_result *r)
{
    char open[CORE_ERROR_MAX];
    int exit_ms = c->site->zones[z].exit_delay_ms;

    if (c->zone_armed[z])
        return;
    if (!cmd->force && open_points(c, z, open, sizeof(open))) {
        r->ok = false;
        copy_str(r->error, sizeof(r->error), open);
        return;
    }
    c->zone_armed[z] = true;
    zone_report(c, z, true);
    if (exit_ms > 0)
        timer_set(c, zone_slot(c, z), c->now_ms + (uint64_t)exit_ms);
    zone_wake(c, z);
}

/* Disarms zone z: its idle suppressible alarms go SUPPRESSED silently and
 * pending entry and exit delays are cancelled. Who disarmed it, and when,
 * goes on the records of its doors' openings. */
static void cmd_disarm(struct core *c, int z, struct core_result *r)
{
    if (c->site->zones[z].always_armed) {
        r->ok = false;
        snprintf(r->error, sizeof(r->error), "zone %s is a 24-hour zone and cannot be disarmed",
                 c->site->zones[z].id);
        return;
    }
    if (!c->zone_armed[z])
        return;
    c->zone_armed[z] = false;
    copy_str(c->zone_disarm[z].by, sizeof(c->zone_disarm[z].by), c->operator_name);
    c->zone_disarm[z].wall_ms = c->wall_ms;
    timer_cancel(c, zone_slot(c, z));
    zone_report(c, z, false);
    if (!in_test(c, z))
        zone_sleep(c, z);
}

/*
 * Puts zone z in walk test for cmd->duration_ms (a start on a zone in test
 * moves its end and keeps what was seen). Its points' walked marks start
 * afresh; a disarmed zone's alarms wake up, to reach the station marked
 * test.
 */
static void cmd_walktest_start(struct core *c, const struct core_cmd *cmd, int z, struct core_result *r)
{
    struct zone_test *t = &c->zone_test[z];

    if (cmd->duration_ms <= 0) {
        refuse(r, "walk test duration %lld ms must be above 0", (long long)cmd->duration_ms);
        return;
    }
    if (!in_test(c, z)) {
        for (int pi = 0; pi < c->n_points; pi++)
            if (c->points[pi].cfg->zone == z)
                c->points[pi].walked = false;
        copy_str(t->by, sizeof(t->by), c->operator_name);
        t->started_wall_ms = c->wall_ms;
    }
    t->until_wall_ms = c->wall_ms + cmd->duration_ms;
    timer_set(c, test_slot(c, z), c->now_ms + (uint64_t)cmd->duration_ms);
    zone_change(c, z);
    zone_wake(c, z);
}

/* Ends zone z's walk test: a disarmed zone goes quiet again. */
static void test_ended(struct core *c, int z)
{
    timer_cancel(c, test_slot(c, z));
    zone_change(c, z);
    if (!c->zone_armed[z])
        zone_sleep(c, z);
}

static void cmd_walktest_stop(struct core *c, int z, struct core_result *r)
{
    if (!in_test(c, z))
        refuse(r, "zone %s is not in walk test", c->site->zones[z].id);
    else
        test_ended(c, z);
}

static void cmd_ack(struct core *c, struct alarm *a, struct core_result *r)
{
    if (a->state == CORE_S_ACTIVE_UNACKED) {
        set_state(c, a, CORE_S_ACTIVE_ACKED);
    } else if (a->state == CORE_S_RTN_UNACKED) {
        reach_normal(c, a);
    } else {
        r->ok = false;
        snprintf(r->error, sizeof(r->error), "alarm %s is not unacknowledged (state: %s)", a->info.id,
                 core_state_name(a->state));
    }
}

/* Writes a duration as people say it: "1 h", "90 min", "45 s". */
static void say_duration(char *buf, size_t cap, int ms)
{
    int s = ms / 1000;

    if (s % 3600 == 0)
        snprintf(buf, cap, "%d h", s / 3600);
    else if (s % 60 == 0)
        snprintf(buf, cap, "%d min", s / 60);
    else
        snprintf(buf, cap, "%d s", s);
}

/* The checks shelving and out_of_service share: one-shots have no state to
 * take away, and a state is not taken twice. */
static bool can_take_away(const struct alarm *a, enum core_alarm_state to, const char *what,
                          struct core_result *r)
{
    if (a->role == ROLE_ONE_SHOT)
        return refuse(r, "alarm %s is a one-shot event and cannot be %s", a->info.id, what);
    if (a->state == to)
        return refuse(r, "alarm %s is already %s", a->info.id, what);
    return true;
}

/*
 * The shelving policy of docs/commands.md: who may hide which alarm. Role
 * NONE (a site without operators, the schedule) keeps the rules from before
 * roles; the gate has already checked that the role may shelve at all.
 * Returns why the shelve is refused, or NULL.
 */
static const char *shelve_refusal(const struct core *c, const struct alarm *a, const struct core_cmd *cmd)
{
    bool active = a->state == CORE_S_ACTIVE_UNACKED || a->state == CORE_S_ACTIVE_ACKED ||
                  a->state == CORE_S_RTN_UNACKED;
    enum core_alarm_type t = a->info.type;

    if (cmd->role == CFG_ROLE_GUARD) {
        if (a->info.priority == CFG_PRIO_CRITICAL)
            return "a guard may not shelve a critical alarm; ask an officer";
        if ((a->info.zone >= 0 && c->site->zones[a->info.zone].always_armed) || t == CORE_T_TAMPER ||
            t == CORE_T_WIRE_CUT || t == CORE_T_WIRE_SHORT)
            return "a guard may not shelve a 24-hour alarm; ask an officer";
        if (a->role == ROLE_SYSTEM || a->role == ROLE_COMM || a->role == ROLE_FLOOD)
            return "a guard may not shelve a system or communication alarm; ask an officer";
        if (!active)
            return "a guard may not shelve an alarm that is not active";
    }
    if (cmd->role == CFG_ROLE_OFFICER && !active && !cmd->reason_given)
        return "an alarm that is not active may be shelved in advance only with a comment saying why";
    return NULL;
}

/* Shelving is a short break for a nuisance alarm, bounded per priority;
 * maintenance takes an alarm out of service instead. */
static void cmd_shelve(struct core *c, const struct core_cmd *cmd, int ai, struct core_result *r)
{
    struct alarm *a = &c->alarms[ai];
    int max_ms = c->site->rules.max_shelve_ms[a->info.priority];
    const char *policy = shelve_refusal(c, a, cmd);
    char max[32];

    if (!can_take_away(a, CORE_S_SHELVED, "shelved", r))
        return;
    if (policy) {
        refuse(r, "%s", policy);
    } else if (a->state == CORE_S_OUT_OF_SERVICE) {
        refuse(r, "alarm %s is out of service", a->info.id);
    } else if (cmd->duration_ms < SHELVE_MIN_MS || cmd->duration_ms > max_ms) {
        say_duration(max, sizeof(max), max_ms);
        refuse(r, "shelve duration %lld ms is out of range 1 s .. %s for a %s alarm", (long long)cmd->duration_ms,
               max, cfg_priority_name(a->info.priority));
    } else {
        timer_cancel(c, alarm_slot(c, ai, AL_ENTRY));
        timer_set(c, alarm_slot(c, ai, AL_SHELVE), c->now_ms + (uint64_t)cmd->duration_ms);
        set_state(c, a, CORE_S_SHELVED);
    }
}

/* Out of service: for maintenance, with no time limit, and distinct from
 * shelving on every topic; only in_service brings it back. */
static void cmd_out_of_service(struct core *c, int ai, struct core_result *r)
{
    struct alarm *a = &c->alarms[ai];

    if (!can_take_away(a, CORE_S_OUT_OF_SERVICE, "out of service", r))
        return;
    timer_cancel(c, alarm_slot(c, ai, AL_ENTRY));
    timer_cancel(c, alarm_slot(c, ai, AL_SHELVE));
    set_state(c, a, CORE_S_OUT_OF_SERVICE);
}

/* Runs an alarm command on a resolved alarm. */
static void cmd_alarm(struct core *c, const struct core_cmd *cmd, int ai, struct core_result *r)
{
    struct alarm *a = &c->alarms[ai];

    switch (cmd->op) {
    case CORE_CMD_ACK:
        cmd_ack(c, a, r);
        break;
    case CORE_CMD_SHELVE:
        cmd_shelve(c, cmd, ai, r);
        break;
    case CORE_CMD_OUT_OF_SERVICE:
        cmd_out_of_service(c, ai, r);
        break;
    case CORE_CMD_IN_SERVICE:
        if (a->state != CORE_S_OUT_OF_SERVICE)
            refuse(r, "alarm %s is not out of service", a->info.id);
        else
            reevaluate(c, a);
        break;
    default:
        if (a->state != CORE_S_SHELVED)
            refuse(r, "alarm %s is not shelved", a->info.id);
        else
            unshelve(c, ai);
        break;
    }
}

/* Checks the operator and resolves the target of a command. Returns the
 * alarm or zone index, or -1 with the reason in err. */
static int cmd_target(const struct core *c, const struct core_cmd *cmd, char *err, size_t cap)
{
    char target[CORE_ALARM_ID_MAX];
    bool zone_op = core_op_targets_zone(cmd->op);
    int idx;

    if ((unsigned)cmd->op >= CORE_CMD__COUNT) {
        snprintf(err, cap, "unknown operation %d", (int)cmd->op);
        return -1;
    }
    if (strnlen(cmd->operator_name, sizeof(cmd->operator_name)) == 0) {
        snprintf(err, cap, "operator is required");
        return -1;
    }
    copy_str(target, sizeof(target), cmd->target);
    idx = id_index_find(zone_op ? &c->zone_ids : &c->alarm_ids, target);
    if (idx < 0)
        snprintf(err, cap, "unknown %s \"%s\"", zone_op ? "zone" : "alarm", target);
    return idx;
}

/*
 * Validates and runs an operator command. The events it causes carry the
 * operator's name; its one result comes last, also when it failed.
 */
static void on_cmd(struct core *c, const struct core_cmd *cmd)
{
    struct core_result res;
    char oper[CFG_ID_MAX];
    int idx;

    memset(&res, 0, sizeof(res));
    copy_str(res.id, sizeof(res.id), cmd->id);
    res.op = cmd->op;
    res.source = cmd->source;
    idx = cmd_target(c, cmd, res.error, sizeof(res.error));
    if (idx >= 0) {
        copy_str(oper, sizeof(oper), cmd->operator_name);
        c->operator_name = oper;
        c->op = cmd->op;
        res.ok = true;
        if (cmd->op == CORE_CMD_ARM)
            cmd_arm(c, cmd, idx, &res);
        else if (cmd->op == CORE_CMD_DISARM)
            cmd_disarm(c, idx, &res);
        else if (cmd->op == CORE_CMD_WALKTEST_START)
            cmd_walktest_start(c, cmd, idx, &res);
        else if (cmd->op == CORE_CMD_WALKTEST_STOP)
            cmd_walktest_stop(c, idx, &res);
        else
            cmd_alarm(c, cmd, idx, &res);
        c->operator_name = "";
    }
    memcpy(&out_next(c, CORE_OUT_RESULT)->u.result, &res, sizeof(res));
}

/* ---- system inputs ------------------------------------------------------- */

static void on_system(struct core *c, const struct core_input *in)
{
    char text[CORE_ERROR_MAX];
    int kind = (int)in->u.sys.kind;
    struct alarm *a;

    if (kind < CORE_SYS_GATEWAY_RESTARTED || kind >= CORE_SYS__COUNT)
        abort();
    copy_str(text, sizeof(text), in->u.sys.text);
    c->text = text;
    a = &c->alarms[c->a_sys0 + kind];
    if (a->role == ROLE_ONE_SHOT) {
        emit_event(c, c->a_sys0 + kind, a->info.type, CORE_S_EVENT);
    } else if (a->cond != in->u.sys.active) {
        a->in = a->cond = in->u.sys.active;
        lc_edge(c, a, a->cond);
    }
    c->text = "";
}

/* ---- receipts and the local output ------------------------------------------ */

static void on_receipt(struct core *c, const struct core_input *in)
{
    for (unsigned i = 0; i < in->u.receipt.n && i < CORE_RECEIPT_SEQS; i++)
        rcpt_receipt(&c->rcpt, in->u.receipt.seqs[i]);
}

/*
 * After every step: overdue events become re-publications (a bounded
 * number per step; the rest stay due and keep the deadline at now), and
 * the local output follows whether an escalating event is missing.
 */
static void receipts_due(struct core *c, uint64_t now)
{
    struct rcpt_due due[RETRIES_PER_STEP];
    size_t n = rcpt_due(&c->rcpt, now, due, RETRIES_PER_STEP);
    bool wanted = rcpt_output_wanted(&c->rcpt);

    for (size_t i = 0; i < n; i++) {
        struct core_retry *r = &out_next(c, CORE_OUT_RETRY)->u.retry;

        *r = (struct core_retry){.seq = due[i].seq, .priority = due[i].priority, .retry = due[i].retry,
                                 .first_miss = due[i].first_miss, .give_up = due[i].give_up,
                                 .escalating = due[i].escalating};
    }
    if (wanted != c->local_on) {
        struct core_local_output *o = &out_next(c, CORE_OUT_LOCAL)->u.local;

        c->local_on = wanted;
        *o = (struct core_local_output){.on = wanted, .missing = (uint32_t)rcpt_missing(&c->rcpt),
                                        .wall_ms = c->wall_ms};
    }
}

size_t core_step(struct core *c, const struct core_input *in, struct core_output *out)
{
    /* A clock that went back would be the shell's bug; holding time still
     * keeps every timer sane. */
    uint64_t now = in->mono_ms > c->now_ms ? in->mono_ms : c->now_ms;

    c->now_ms = now;
    c->out = out;
    c->n_out = 0;
    c->wall_ms = in->wall_ms;
    c->operator_name = "";
    c->op = CORE_CMD_ACK;
    c->text = "";
    c->t_ms = now;
    /* Numbering first, before any timer of this step emits: a floor is a
     * seq the shell may already have handed out, and a new lineage's first
     * event carries its epoch. */
    if (in->type == CORE_IN_SYSTEM) {
        if (in->u.sys.epoch)
            c->epoch = in->u.sys.epoch;
        if (in->u.sys.seq_floor > c->next_seq)
            c->next_seq = in->u.sys.seq_floor;
    }
    fire_due(c, now);
    switch (in->type) {
    case CORE_IN_SAMPLE:
        on_sample(c, in->u.sample.point, in->u.sample.value, now);
        break;
    case CORE_IN_COMM:
        on_comm(c, in->u.comm.device, in->u.comm.up);
        break;
    case CORE_IN_CMD:
        on_cmd(c, &in->u.cmd);
        break;
    case CORE_IN_SYSTEM:
        on_system(c, in);
        break;
    case CORE_IN_RECEIPT:
        on_receipt(c, in);
        break;
    case CORE_IN_TICK:
        break;
    default:
        abort();
    }
    receipts_due(c, now);
    c->out = NULL;
    return c->n_out;
}

/* ---- construction ---------------------------------------------------------- */

static enum cfg_priority more_severe(enum cfg_priority a, enum cfg_priority b)
{
    return a < b ? a : b;
}

static bool kind_is_digital(enum cfg_point_kind k)
{
    return k != CFG_KIND_TEMPERATURE && k != CFG_KIND_HUMIDITY && k != CFG_KIND_ANALOG;
}

/* Appends an alarm with the given id parts; returns its index. */
static int add_alarm(struct core *c, const char *owner, enum core_alarm_type type, const char *suffix,
                     enum cfg_priority prio, enum role role)
{
    int ai = c->n_alarms++;
    struct alarm *a = &c->alarms[ai];
    char *id = c->ids + c->ids_len;

    memset(a, 0, sizeof(*a));
    snprintf(id, CORE_ALARM_ID_MAX, "%s.%s", owner, suffix ? suffix : core_type_name(type));
    c->ids_len += strlen(id) + 1;
    a->info.id = id;
    a->info.type = type;
    a->info.priority = prio;
    a->info.point = a->info.device = a->info.zone = -1;
    a->info.always_on = true;
    a->role = role;
    a->state = role == ROLE_ONE_SHOT ? CORE_S_EVENT : CORE_S_NORMAL;
    a->cross = NAN;
    return ai;
}

/* Appends one alarm of point pi. A suppressible alarm follows the point's
 * zone, unless there is none or it is a 24-hour zone. */
static int add_point_alarm(struct core *c, int pi, enum core_alarm_type type, enum cfg_priority prio,
                           enum role role, bool latching, bool suppressible)
{
    const struct cfg_point *cp = &c->site->points[pi];
    /* a door's opened and closed records share one id: "<door>.access" */
    int ai = add_alarm(c, cp->id, type, type == CORE_T_DOOR_OPENED ? "access" : NULL, prio, role);
    struct alarm *a = &c->alarms[ai];
    bool delayed = role == ROLE_MAIN || role == ROLE_EOL_FAULT || role == ROLE_HIGH || role == ROLE_LOW;

    a->info.point = pi;
    a->info.device = cp->device;
    a->info.zone = cp->zone;
    a->info.latching = latching;
    a->suppressible = suppressible && cp->zone >= 0 && !c->site->zones[cp->zone].always_armed;
    a->info.always_on = !a->suppressible;
    if (role == ROLE_MAIN || role == ROLE_EOL_FAULT || role == ROLE_VERIFIED)
        a->chatter = latching ? CH_HOLD : CH_FREEZE;
    if (delayed) {
        a->on_delay_ms = cp->on_delay_ms > 0 ? (uint32_t)cp->on_delay_ms : 0;
        a->off_delay_ms = cp->off_delay_ms > 0 ? (uint32_t)cp->off_delay_ms : 0;
    } else if (role == ROLE_HELD) {
        a->on_delay_ms = (uint32_t)cp->held_open_ms;
    }
    if (a->suppressible && !c->site->zones[cp->zone].armed)
        a->state = CORE_S_SUPPRESSED;
    return ai;
}

/* The threshold and sensor-fault alarms of an analog point. */
static void add_analog_alarms(struct core *c, int pi, enum core_alarm_type high, enum core_alarm_type low)
{
    const struct cfg_point *cp = &c->site->points[pi];
    struct point *p = &c->points[pi];

    if (!isnan(cp->analog->high))
        p->a_high = add_point_alarm(c, pi, high, cp->priority, ROLE_HIGH, false, false);
    if (!isnan(cp->analog->low))
        p->a_low = add_point_alarm(c, pi, low, cp->priority, ROLE_LOW, false, false);
    p->a_sfault = add_point_alarm(c, pi, CORE_T_SENSOR_FAULT, CFG_PRIO_MEDIUM, ROLE_SENSOR_FAULT, false, false);
    p->a_main = p->a_high >= 0 ? p->a_high : p->a_low;
}

/* The supervision alarms of an end-of-line loop: a short masks the
 * detector silently (the classic defeat), so it is critical; a cut or a
 * reading outside every window is at least high. */
static void add_eol_alarms(struct core *c, int pi, enum cfg_priority prio)
{
    struct point *p = &c->points[pi];
    enum cfg_priority high = more_severe(CFG_PRIO_HIGH, prio);

    p->a_main = add_point_alarm(c, pi, CORE_T_INTRUSION, prio, ROLE_MAIN, true, true);
    p->a_cut = add_point_alarm(c, pi, CORE_T_WIRE_CUT, high, ROLE_EOL_FAULT, true, false);
    c->alarms[p->a_cut].eol_class = EOL_CUT;
    p->a_short = add_point_alarm(c, pi, CORE_T_WIRE_SHORT, CFG_PRIO_CRITICAL, ROLE_EOL_FAULT, true, false);
    c->alarms[p->a_short].eol_class = EOL_SHORT;
    p->a_tamper = add_point_alarm(c, pi, CORE_T_TAMPER, high, ROLE_EOL_FAULT, true, false);
    c->alarms[p->a_tamper].eol_class = EOL_TAMPER;
}

/* Builds the alarms of point pi according to its kind. */
static void add_point(struct core *c, int pi)
{
    const struct cfg_point *cp = &c->site->points[pi];
    struct point *p = &c->points[pi];
    enum cfg_priority prio = cp->priority;
    enum cfg_priority tamper_prio = more_severe(CFG_PRIO_HIGH, prio);

    p->first_alarm = c->n_alarms;
    switch (cp->kind) {
    case CFG_KIND_DOOR:
        p->a_main = add_point_alarm(c, pi, CORE_T_INTRUSION, prio, ROLE_MAIN, true, true);
        if (cp->held_open_ms > 0)
            p->a_held = add_point_alarm(c, pi, CORE_T_DOOR_HELD, CFG_PRIO_MEDIUM, ROLE_HELD, false, false);
        if (c->alarms[p->a_main].suppressible)
            p->a_access = add_point_alarm(c, pi, CORE_T_DOOR_OPENED, CFG_PRIO_LOW, ROLE_ONE_SHOT, false, false);
        break;
    case CFG_KIND_MOTION:
        p->a_main = add_point_alarm(c, pi, CORE_T_INTRUSION, prio, ROLE_MAIN, true, true);
        break;
    case CFG_KIND_FENCE:
        p->a_main = add_point_alarm(c, pi, CORE_T_PERIMETER, prio, ROLE_MAIN, true, true);
        if (cp->n_verify > 0)
            p->a_verified = add_point_alarm(c, pi, CORE_T_VERIFIED_INTRUSION, CFG_PRIO_CRITICAL, ROLE_VERIFIED,
                                            true, true);
        break;
    case CFG_KIND_CCTV:
        p->a_main = add_point_alarm(c, pi, CORE_T_CCTV, prio, ROLE_MAIN, false, true);
        break;
    case CFG_KIND_TAMPER:
        p->a_main = add_point_alarm(c, pi, CORE_T_TAMPER, tamper_prio, ROLE_MAIN, true, false);
        break;
    case CFG_KIND_FAULT:
        p->a_main = add_point_alarm(c, pi, CORE_T_FAULT, prio, ROLE_MAIN, false, false);
        break;
    case CFG_KIND_DIGITAL:
        p->a_main = add_point_alarm(c, pi, CORE_T_DIGITAL, prio, ROLE_MAIN, false, true);
        break;
    case CFG_KIND_EOL:
        add_eol_alarms(c, pi, prio);
        break;
    case CFG_KIND_TEMPERATURE:
        add_analog_alarms(c, pi, CORE_T_TEMPERATURE_HIGH, CORE_T_TEMPERATURE_LOW);
        break;
    case CFG_KIND_HUMIDITY:
        add_analog_alarms(c, pi, CORE_T_HUMIDITY_HIGH, CORE_T_HUMIDITY_LOW);
        break;
    case CFG_KIND_ANALOG:
        add_analog_alarms(c, pi, CORE_T_ANALOG_HIGH, CORE_T_ANALOG_LOW);
        break;
    }
    /* the chattering indication keeps the point's priority: a flapping
     * store door is not a low-priority matter */
    if (p->digital && cp->kind != CFG_KIND_FAULT && c->site->rules.chatter_count > 0)
        p->a_chatter = add_point_alarm(c, pi, CORE_T_CHATTERING, prio, ROLE_CHATTER, false, false);
    p->n_alarms = c->n_alarms - p->first_alarm;
}

/* Checks the indexes the core follows; a validated site always passes. */
static bool site_consistent(const struct cfg_site *s)
{
    for (int i = 0; i < s->n_points; i++) {
        const struct cfg_point *p = &s->points[i];
        if (p->device < 0 || p->device >= s->n_devices || p->zone < -1 || p->zone >= s->n_zones ||
            p->n_verify < 0 || p->n_verify > CFG_MAX_VERIFY || (!kind_is_digital(p->kind) && !p->analog) ||
            (p->kind == CFG_KIND_EOL && !p->eol))
            return false;
        for (int v = 0; v < p->n_verify; v++)
            if (p->verify[v] < 0 || p->verify[v] >= s->n_points)
                return false;
    }
    return true;
}

/* Links each confirming point to the fences it confirms (c->rev). */
static bool build_reverse_verify(struct core *c)
{
    const struct cfg_site *s = c->site;
    int total = 0;

    for (int i = 0; i < s->n_points; i++)
        if (s->points[i].kind == CFG_KIND_FENCE)
            for (int v = 0; v < s->points[i].n_verify; v++)
                c->points[s->points[i].verify[v]].rev_n++;
    for (int i = 0; i < s->n_points; i++) {
        c->points[i].rev_first = total;
        total += c->points[i].rev_n;
        c->points[i].rev_n = 0;
    }
    c->rev = malloc((size_t)(total ? total : 1) * sizeof(*c->rev));
    if (!c->rev)
        return false;
    for (int i = 0; i < s->n_points; i++) {
        if (s->points[i].kind != CFG_KIND_FENCE)
            continue;
        for (int v = 0; v < s->points[i].n_verify; v++) {
            struct point *w = &c->points[s->points[i].verify[v]];
            c->rev[w->rev_first + w->rev_n++] = i;
        }
    }
    return true;
}

/* Gives every chattering-capable point its ring of activation times, and
 * the site its ring of new-alarm times for the flood rule. At most
 * RING_EXACT slots each: memory grows with the points, not with the counts. */
static bool build_rings(struct core *c)
{
    const struct cfg_rules *ru = &c->site->rules;
    uint32_t cap = ru->chatter_count > 0 ? (uint32_t)ru->chatter_count : 0;
    size_t n = 0;

    ring_size(&c->chatter, cap, (uint64_t)ru->chatter_window_ms);
    for (int i = 0; i < c->n_points; i++)
        if (c->points[i].a_chatter >= 0)
            n += c->chatter.slots;
    ring_size(&c->flood, (uint32_t)ru->flood_count + 1, (uint64_t)ru->flood_window_ms);
    n += c->flood.slots;
    c->ring_t = malloc(n * sizeof(*c->ring_t));
    c->ring_n = malloc(n * sizeof(*c->ring_n));
    if (!c->ring_t || !c->ring_n)
        return false;
    c->flood.t = c->ring_t;
    c->flood.n = c->ring_n;
    n = c->flood.slots;
    for (int i = 0; i < c->n_points; i++) {
        if (c->points[i].a_chatter < 0)
            continue;
        c->points[i].ring_base = (uint32_t)n;
        n += c->chatter.slots;
    }
    return true;
}

static void init_point(struct core *c, int pi)
{
    struct point *p = &c->points[pi];

    memset(p, 0, sizeof(*p));
    p->cfg = &c->site->points[pi];
    p->digital = kind_is_digital(p->cfg->kind);
    p->a_main = p->a_tamper = p->a_cut = p->a_short = p->a_held = p->a_high = p->a_low = -1;
    p->a_sfault = p->a_verified = p->a_chatter = p->a_access = -1;
    p->value = NAN;
    p->rise_ms = p->verify_until = NEVER;
    add_point(c, pi);
}

/* Builds the alarm table: point alarms, comm_loss, system, zone events. */
static void build_alarms(struct core *c)
{
    const struct cfg_site *s = c->site;
    static const enum core_alarm_type sys_types[] = {CORE_T_GATEWAY_RESTARTED, CORE_T_CONFIG_REJECTED,
                                                     CORE_T_SELF_TEST, CORE_T_SPOOL_FULL, CORE_T_PATH_FAULT,
                                                     CORE_T_STORAGE_LOW, CORE_T_COMMAND_REFUSED, CORE_T_JOURNAL_FAULT,
                                                     CORE_T_STATE_LOST, CORE_T_JOURNAL_DAMAGED};
    /* journal_fault is critical: alarms still go out, but none would survive a restart */
    static const enum cfg_priority sys_prio[] = {CFG_PRIO_MEDIUM, CFG_PRIO_HIGH,     CFG_PRIO_LOW,
                                                 CFG_PRIO_HIGH,   CFG_PRIO_HIGH,     CFG_PRIO_HIGH,
                                                 CFG_PRIO_HIGH,   CFG_PRIO_CRITICAL, CFG_PRIO_CRITICAL,
                                                 CFG_PRIO_CRITICAL};
    /* events that happened, not conditions that hold: no lifecycle */
    static const bool sys_one_shot[] = {true, true, true, false, false, false, true, false, true, true};

    for (int i = 0; i < s->n_points; i++)
        init_point(c, i);
    c->a_comm0 = c->n_alarms;
    for (int d = 0; d < s->n_devices; d++) {
        int ai = add_alarm(c, s->devices[d].id, CORE_T_COMM_LOSS, NULL, s->devices[d].comm_priority, ROLE_COMM);
        c->alarms[ai].info.device = d;
        /* a line that dropped and came back before anyone looked must
         * still be on the alarm list: someone may have cut it on purpose */
        c->alarms[ai].info.latching = s->rules.comm_loss_latching;
    }
    c->a_sys0 = c->n_alarms;
    _Static_assert(sizeof(sys_types) / sizeof(sys_types[0]) == CORE_SYS__COUNT, "one alarm per system kind");
    _Static_assert(sizeof(sys_prio) / sizeof(sys_prio[0]) == CORE_SYS__COUNT, "one priority per system kind");
    _Static_assert(sizeof(sys_one_shot) / sizeof(sys_one_shot[0]) == CORE_SYS__COUNT, "one role per system kind");
    for (int k = CORE_SYS_GATEWAY_RESTARTED; k < CORE_SYS__COUNT; k++)
        add_alarm(c, "system", sys_types[k], NULL, sys_prio[k], sys_one_shot[k] ? ROLE_ONE_SHOT : ROLE_SYSTEM);
    c->a_flood = add_alarm(c, "system", CORE_T_ALARM_FLOOD, NULL, CFG_PRIO_MEDIUM, ROLE_FLOOD);
    c->a_zone0 = c->n_alarms;
    for (int z = 0; z < s->n_zones; z++) {
        int ai = add_alarm(c, s->zones[z].id, CORE_T_ZONE_ARMED, "arming", CFG_PRIO_LOW, ROLE_ONE_SHOT);
        c->alarms[ai].info.zone = z;
    }
}

/*
 * The alarm table and the ids were allocated for the most alarms a site can
 * have (core_alarm_bound) and filled from the front; this moves both into
 * blocks of their exact size, so the core holds what the site has, not what
 * it could have had. False on OOM.
 */
static bool fit_alarms(struct core *c)
{
    size_t n = (size_t)(c->n_alarms ? c->n_alarms : 1);
    struct alarm *alarms = realloc(c->alarms, n * sizeof(*alarms));
    char *ids = malloc(c->ids_len ? c->ids_len : 1);

    if (alarms)
        c->alarms = alarms;
    if (!alarms || !ids) {
        free(ids);
        return false;
    }
    memcpy(ids, c->ids, c->ids_len);
    for (int i = 0; i < c->n_alarms; i++)
        c->alarms[i].info.id = ids + (c->alarms[i].info.id - c->ids);
    free(c->ids);
    c->ids = ids;
    return true;
}

/* The outputs one step can write at most (see EVENTS_PER_ALARM). */
static size_t output_bound(const struct core *c)
{
    /* a command's result and its zone change; receipts; a walked point */
    size_t n = 2 + RETRIES_PER_STEP + 1 + 1;

    for (int i = 0; i < c->n_alarms; i++)
        n += EVENTS_PER_ALARM;
    for (int i = 0; i < c->n_points; i++)
        if (c->points[i].a_verified >= 0)
            n += (size_t)EVENTS_PER_VERIFY * (size_t)c->points[i].cfg->n_verify;
    return n;
}

static bool alloc_timers(struct core *c)
{
    c->n_slots = (uint32_t)c->n_points * PT_SLOTS + (uint32_t)c->n_alarms * AL_SLOTS +
                 (uint32_t)c->site->n_zones + 1 + (uint32_t)c->site->n_zones;
    /* zeroed: no deadlines, nothing in the heap (see at_of) */
    c->at = calloc(c->n_slots, sizeof(*c->at));
    c->heap = malloc(c->n_slots * sizeof(*c->heap));
    c->pos = calloc(c->n_slots, sizeof(*c->pos));
    return c->at && c->heap && c->pos;
}

static bool build_indexes(struct core *c)
{
    const struct cfg_site *s = c->site;

    return id_index_init(&c->alarm_ids, &c->alarms[0].info.id, sizeof(struct alarm), true, c->n_alarms) &&
           id_index_init(&c->point_ids, s->n_points ? &s->points[0].id : NULL, sizeof(struct cfg_point), true,
                         s->n_points) &&
           id_index_init(&c->zone_ids, s->n_zones ? s->zones[0].id : NULL, sizeof(struct cfg_zone), false,
                         s->n_zones);
}

/* The receipt tracker, sized only when the site asks for receipts. */
static int start_receipts(struct core *c)
{
    struct rcpt_settings set;

    if (rcpt_init(&c->rcpt, c->site->receipts.enabled ? RCPT_MAX_TRACKED : 0) < 0)
        return -1;
    rcpt_settings_of(c->site, &set);
    rcpt_configure(&c->rcpt, &set);
    return 0;
}

struct core *core_new(const struct cfg_site *site)
{
    struct core *c;

    if (!site_consistent(site))
        return NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->site = site;
    c->n_points = site->n_points;
    c->next_seq = 1;
    c->alarms = malloc(core_alarm_bound(site) * sizeof(*c->alarms));
    c->ids = malloc(core_alarm_bound(site) * CORE_ALARM_ID_MAX);
    c->points = malloc((size_t)(site->n_points ? site->n_points : 1) * sizeof(*c->points));
    c->zone_armed = malloc((size_t)(site->n_zones ? site->n_zones : 1) * sizeof(*c->zone_armed));
    c->zone_disarm = calloc((size_t)(site->n_zones ? site->n_zones : 1), sizeof(*c->zone_disarm));
    c->zone_test = calloc((size_t)(site->n_zones ? site->n_zones : 1), sizeof(*c->zone_test));
    if (!c->alarms || !c->ids || !c->points || !c->zone_armed || !c->zone_disarm || !c->zone_test) {
        core_free(c);
        return NULL;
    }
    for (int z = 0; z < site->n_zones; z++)
        c->zone_armed[z] = site->zones[z].armed || site->zones[z].always_armed;
    build_alarms(c);
    if (!fit_alarms(c) || !build_reverse_verify(c) || !build_rings(c) || !alloc_timers(c) || !build_indexes(c)) {
        core_free(c);
        return NULL;
    }
    c->max_outputs = output_bound(c);
    if (start_receipts(c) < 0) {
        core_free(c);
        return NULL;
    }
    return c;
}

void core_free(struct core *c)
{
    if (!c)
        return;
    free(c->alarms);
    free(c->ids);
    free(c->points);
    free(c->zone_armed);
    free(c->zone_disarm);
    free(c->zone_test);
    free(c->rev);
    free(c->ring_t);
    free(c->ring_n);
    free(c->at);
    free(c->heap);
    free(c->pos);
    free(c->alarm_ids.slot);
    free(c->point_ids.slot);
    free(c->zone_ids.slot);
    rcpt_free(&c->rcpt);
    free(c);
}

/* ---- queries ------------------------------------------------------------- */

size_t core_max_outputs(const struct core *c)
{
    return c->max_outputs;
}

uint64_t core_next_deadline(const struct core *c)
{
    uint64_t timers = c->n_heap > 0 ? at_of(c, c->heap[0]) : UINT64_MAX;
    uint64_t receipts = rcpt_next_due(&c->rcpt);

    return timers < receipts ? timers : receipts;
}

int core_receipt_pending(const struct core *c, uint64_t seq)
{
    return (int)rcpt_peek(&c->rcpt, seq);
}

uint64_t core_next_seq(const struct core *c)
{
    return c->next_seq;
}

size_t core_alarm_bound(const struct cfg_site *site)
{
    /* a point has at most five alarms (an eol loop: intrusion, wire_cut,
     * wire_short, tamper, chattering); then comm, the system kinds, flood, zones */
    return (size_t)site->n_points * 5 + (size_t)site->n_devices + CORE_SYS__COUNT + 1 + (size_t)site->n_zones;
}

uint64_t core_epoch(const struct core *c)
{
    return c->epoch;
}

size_t core_alarm_count(const struct core *c)
{
    return (size_t)c->n_alarms;
}

const struct core_alarm_info *core_alarm_info(const struct core *c, int alarm)
{
    return alarm >= 0 && alarm < c->n_alarms ? &c->alarms[alarm].info : NULL;
}

enum core_alarm_state core_alarm_state(const struct core *c, int alarm)
{
    return alarm >= 0 && alarm < c->n_alarms ? c->alarms[alarm].state : CORE_S_NORMAL;
}

bool core_alarm_condition(const struct core *c, int alarm, bool *entry_pending)
{
    const struct alarm *a;

    if (alarm < 0 || alarm >= c->n_alarms)
        return false;
    a = &c->alarms[alarm];
    if (entry_pending)
        *entry_pending = at_of(c, alarm_slot(c, alarm, AL_ENTRY)) != NEVER || exiting(c, a);
    return a->cond;
}

int core_find_alarm(const struct core *c, const char *id)
{
    return id_index_find(&c->alarm_ids, id);
}

bool core_zone_armed(const struct core *c, int zone)
{
    return zone >= 0 && zone < c->site->n_zones && c->zone_armed[zone];
}

void core_zone_test(const struct core *c, int zone, struct core_zone_change *zc)
{
    memset(zc, 0, sizeof(*zc));
    zc->zone = zone;
    zc->armed = c->zone_armed[zone];
    zc->wall_ms = c->wall_ms;
    zc->test = in_test(c, zone);
    zc->test_started_wall_ms = c->zone_test[zone].started_wall_ms;
    zc->test_until_wall_ms = zc->test ? c->zone_test[zone].until_wall_ms : 0;
}

int64_t core_point_tested_ms(const struct core *c, int point)
{
    return c->points[point].tested_wall_ms;
}

bool core_point_walked(const struct core *c, int point)
{
    return c->points[point].walked;
}

/* ---- snapshot -------------------------------------------------------------
 *
 * Layout (version 4), every integer little-endian, doubles as their IEEE-754 bits:
 *   "VGLS" u32 version u64 now_ms u64 next_seq
 *   u32 n_zones   { id, u8 armed, u64 exit_at, str disarmed_by, i64 disarmed_wall_ms }
 *   u32 n_points  { id, u8 raw, u8 cls, u8 flags(1 stale, 2 chattering, 4 bad), f64 value,
 *                   u64 rise_ms, u64 verify_until, u64 debounce_at, u64 chatter_at,
 *                   u32 n, n x u64 activation times oldest first }
 *   u32 n_alarms  { id, u8 state, u8 flags(1 in, 2 cond),
 *                   u64 delay_at, u64 entry_at, u64 shelve_at, f64 cross }   (one-shot alarms omitted)
 *   u64 flood_at, u32 n, n x u64 new-alarm times oldest first
 *   version 3: u8 local_on u32 lost u32 n_waiting { u64 seq, u8 priority, u8 missed, u64 due_ms,
 *   u32 retries } in ascending seq (the receipt tracker)
 *   version 4: u32 n_zones { id, u64 test_end_at, str test_by, i64 started_wall_ms, i64 until_wall_ms }
 *   u32 n_points { id, i64 tested_wall_ms, u8 walked } (walk tests)
 *   version 5: u64 epoch (the numbering lineage; 0 restores from older versions)
 * An id is u8 length + bytes, a str the same but possibly empty. Timers are
 * absolute mono_ms, UINT64_MAX for none. Version 1 has none of the zone
 * fields after armed, no cross, no flood section, flags up to 3, eol classes
 * up to tamper and states up to suppressed; it restores with their defaults.
 */

struct wbuf {
    uint8_t *p;          /* NULL while measuring */
    size_t len;          /* bytes of the snapshot so far */
    size_t from, cap;    /* with p: the part of the snapshot p receives, [from, from + cap) */
};

/* Appends n bytes to the snapshot; p receives those that fall in its window. */
static void put_bytes(struct wbuf *w, const void *src, size_t n)
{
    if (w->p && w->len + n > w->from && w->len < w->from + w->cap) {
        size_t lo = w->len > w->from ? w->len : w->from;
        size_t hi = w->len + n < w->from + w->cap ? w->len + n : w->from + w->cap;
        memcpy(w->p + (lo - w->from), (const uint8_t *)src + (lo - w->len), hi - lo);
    }
    w->len += n;
}

static void put_uint(struct wbuf *w, uint64_t v, int bytes)
{
    uint8_t b[8];

    le_store(b, v, bytes);
    put_bytes(w, b, (size_t)bytes);
}

static void put_f64(struct wbuf *w, double d)
{
    uint64_t bits;

    memcpy(&bits, &d, sizeof(bits));
    put_uint(w, bits, 8);
}

static void put_id(struct wbuf *w, const char *id)
{
    size_t n = strlen(id);

    put_uint(w, n, 1);
    put_bytes(w, id, n);
}

/* Writes the times of the last cap occurrences, oldest first; a counting
 * slot's occurrences all carry its first time, which puts them back in one
 * slot on restore. */
static void put_ring(struct wbuf *w, const struct ring *r)
{
    uint64_t total = 0, skip;

    for (uint32_t i = 0; i < r->len; i++)
        total += r->n[(r->head + i) % r->slots];
    skip = total > r->cap ? total - r->cap : 0;
    put_uint(w, total - skip, 4);
    for (uint32_t i = 0; i < r->len; i++) {
        uint32_t k = (r->head + i) % r->slots;
        uint64_t drop = skip < r->n[k] ? skip : r->n[k];
        skip -= drop;
        for (uint64_t j = drop; j < r->n[k]; j++)
            put_uint(w, r->t[k], 8);
    }
}

static void snap_zone(const struct core *c, struct wbuf *w, int z)
{
    put_id(w, c->site->zones[z].id);
    put_uint(w, c->zone_armed[z], 1);
    put_uint(w, at_of(c, zone_slot(c, z)), 8);
    put_id(w, c->zone_disarm[z].by);
    put_uint(w, (uint64_t)c->zone_disarm[z].wall_ms, 8);
}

static void snap_point(const struct core *c, struct wbuf *w, int pi)
{
    const struct point *p = &c->points[pi];

    put_id(w, p->cfg->id);
    put_uint(w, p->raw, 1);
    put_uint(w, p->cls, 1);
    put_uint(w, (p->stale ? 1u : 0u) | (p->chattering ? 2u : 0u) | (p->bad ? 4u : 0u), 1);
    put_f64(w, p->value);
    put_uint(w, p->rise_ms, 8);
    put_uint(w, p->verify_until, 8);
    put_uint(w, at_of(c, point_slot(pi, PT_DEBOUNCE)), 8);
    put_uint(w, at_of(c, point_slot(pi, PT_CHATTER)), 8);
    struct ring r = point_ring(c, p);
    put_ring(w, &r);
}

static void snap_alarm(const struct core *c, struct wbuf *w, int ai)
{
    const struct alarm *a = &c->alarms[ai];

    put_id(w, a->info.id);
    put_uint(w, (uint64_t)a->state, 1);
    put_uint(w, (a->in ? 1u : 0u) | (a->cond ? 2u : 0u), 1);
    put_uint(w, at_of(c, alarm_slot(c, ai, AL_DELAY)), 8);
    put_uint(w, at_of(c, alarm_slot(c, ai, AL_ENTRY)), 8);
    put_uint(w, at_of(c, alarm_slot(c, ai, AL_SHELVE)), 8);
    put_f64(w, a->cross);
}

static int by_seq(const void *x, const void *y)
{
    const struct rcpt_entry *a = *(const struct rcpt_entry *const *)x, *b = *(const struct rcpt_entry *const *)y;

    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The receipt tracker in seq order: slots are reused in arrival order, the bytes must not depend on it. */
static void snap_receipts(const struct core *c, struct wbuf *w)
{
    const struct rcpt_entry **e = malloc((c->rcpt.count ? c->rcpt.count : 1) * sizeof(*e));
    size_t n = 0;

    for (size_t i = 0; e && i < c->rcpt.cap; i++)
        if (c->rcpt.slots[i].used)
            e[n++] = &c->rcpt.slots[i];
    qsort(e, n, sizeof(*e), by_seq);
    put_uint(w, c->local_on, 1);
    put_uint(w, c->rcpt.lost, 4);
    put_uint(w, n, 4);
    for (size_t i = 0; i < n; i++) {
        put_uint(w, e[i]->seq, 8);
        put_uint(w, (uint64_t)e[i]->priority, 1);
        put_uint(w, e[i]->missed, 1);
        put_uint(w, e[i]->due_ms, 8);
        put_uint(w, (uint64_t)e[i]->retries, 4);
    }
    free(e);
}

static void snap_walk_tests(const struct core *c, struct wbuf *w)
{
    put_uint(w, (uint64_t)c->site->n_zones, 4);
    for (int z = 0; z < c->site->n_zones; z++) {
        put_id(w, c->site->zones[z].id);
        put_uint(w, at_of(c, test_slot(c, z)), 8);
        put_id(w, c->zone_test[z].by);
        put_uint(w, (uint64_t)c->zone_test[z].started_wall_ms, 8);
        put_uint(w, (uint64_t)c->zone_test[z].until_wall_ms, 8);
    }
    put_uint(w, (uint64_t)c->n_points, 4);
    for (int pi = 0; pi < c->n_points; pi++) {
        put_id(w, c->points[pi].cfg->id);
        put_uint(w, (uint64_t)c->points[pi].tested_wall_ms, 8);
        put_uint(w, c->points[pi].walked, 1);
    }
}

static void snap_write(const struct core *c, struct wbuf *w)
{
    uint32_t n_alarms = 0;

    put_uint(w, SNAP_MAGIC, 4);
    put_uint(w, SNAP_VERSION, 4);
    put_uint(w, c->now_ms, 8);
    put_uint(w, c->next_seq, 8);
    put_uint(w, (uint64_t)c->site->n_zones, 4);
    for (int z = 0; z < c->site->n_zones; z++)
        snap_zone(c, w, z);
    put_uint(w, (uint64_t)c->n_points, 4);
    for (int pi = 0; pi < c->n_points; pi++)
        snap_point(c, w, pi);
    for (int ai = 0; ai < c->n_alarms; ai++)
        n_alarms += c->alarms[ai].role != ROLE_ONE_SHOT;
    put_uint(w, n_alarms, 4);
    for (int ai = 0; ai < c->n_alarms; ai++)
        if (c->alarms[ai].role != ROLE_ONE_SHOT)
            snap_alarm(c, w, ai);
    put_uint(w, at_of(c, flood_slot(c)), 8);
    put_ring(w, &c->flood);
    snap_receipts(c, w);
    snap_walk_tests(c, w);
    put_uint(w, c->epoch, 8);
}

size_t core_snapshot(const struct core *c, void *buf, size_t cap)
{
    struct wbuf w = {NULL, 0, 0, 0};

    snap_write(c, &w);
    if (!buf || w.len > cap)
        return w.len;
    return core_snapshot_part(c, 0, buf, cap);
}

size_t core_snapshot_part(const struct core *c, size_t from, void *buf, size_t cap)
{
    struct wbuf w = {buf, 0, from, cap};

    snap_write(c, &w);
    return w.len;
}

struct rbuf {
    const uint8_t *p;
    size_t len, off;
    bool bad;
    uint32_t version;
};

static uint64_t get_uint(struct rbuf *r, int bytes)
{
    uint64_t v;

    if (r->bad || r->len - r->off < (size_t)bytes) {
        r->bad = true;
        return 0;
    }
    v = le_load(r->p + r->off, bytes);
    r->off += (size_t)bytes;
    return v;
}

/* Reads a flag byte; anything above max makes the snapshot invalid. */
static uint8_t get_small(struct rbuf *r, unsigned max)
{
    uint64_t v = get_uint(r, 1);

    if (v > max)
        r->bad = true;
    return (uint8_t)v;
}

static double get_f64(struct rbuf *r)
{
    uint64_t bits = get_uint(r, 8);
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* Reads a string of min..cap-1 bytes into dst. */
static void get_str(struct rbuf *r, char *dst, size_t cap, size_t min)
{
    size_t n = (size_t)get_uint(r, 1);

    dst[0] = '\0';
    if (r->bad || n < min || n >= cap || r->len - r->off < n) {
        r->bad = true;
        return;
    }
    memcpy(dst, r->p + r->off, n);
    dst[n] = '\0';
    r->off += n;
}

static void get_id(struct rbuf *r, char *dst, size_t cap)
{
    get_str(r, dst, cap, 1);
}

/* Reads a ring of times; with dst, keeps the newest that fit it. */
static void get_ring(struct rbuf *r, struct ring *dst)
{
    uint32_t n = (uint32_t)get_uint(r, 4);

    if (dst)
        dst->len = dst->head = 0;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint64_t t = get_uint(r, 8);
        if (dst && dst->slots > 0)
            ring_push(dst, t);
    }
}

static void restore_zone(struct core *c, struct rbuf *r, bool apply)
{
    char id[CFG_ID_MAX];
    struct zone_disarm zd = {"", 0};
    uint64_t exit_at = NEVER;
    int z;
    bool armed;

    get_id(r, id, sizeof(id));
    armed = get_small(r, 1);
    if (r->version > SNAP_V1) {
        exit_at = get_uint(r, 8);
        get_str(r, zd.by, sizeof(zd.by), 0);
        zd.wall_ms = (int64_t)get_uint(r, 8);
    }
    if (!apply || r->bad || (z = id_index_find(&c->zone_ids, id)) < 0)
        return;
    c->zone_armed[z] = armed || c->site->zones[z].always_armed;
    c->zone_disarm[z] = zd;
    at_put(c, zone_slot(c, z), c->zone_armed[z] ? exit_at : NEVER);
}

/* Reads one point record; with apply, restores it into the point of the
 * same id, keeping the newest activation times that fit its ring. */
static void restore_point(struct core *c, struct rbuf *r, bool apply)
{
    char id[CFG_ID_MAX];
    struct point tmp = {0}, *p = NULL;
    struct ring ring;
    unsigned max_class = r->version > SNAP_V1 ? EOL_CUT : EOL_TAMPER;
    uint64_t debounce_at, chatter_at;
    uint8_t flags;
    int pi = -1;

    get_id(r, id, sizeof(id));
    tmp.raw = get_small(r, max_class);
    tmp.cls = get_small(r, max_class);
    flags = get_small(r, r->version > SNAP_V1 ? 7 : 3);
    tmp.value = get_f64(r);
    tmp.rise_ms = get_uint(r, 8);
    tmp.verify_until = get_uint(r, 8);
    debounce_at = get_uint(r, 8);
    chatter_at = get_uint(r, 8);
    if (apply && !r->bad && (pi = id_index_find(&c->point_ids, id)) >= 0)
        p = &c->points[pi];
    ring = p ? point_ring(c, p) : (struct ring){0};
    get_ring(r, p ? &ring : NULL);
    if (!p || r->bad)
        return;
    point_ring_keep(p, &ring);
    p->raw = tmp.raw;
    p->cls = tmp.cls;
    p->stale = flags & 1;
    p->chattering = (flags & 2) && p->a_chatter >= 0;
    p->bad = (flags & 4) != 0;
    p->value = tmp.value;
    p->rise_ms = tmp.rise_ms;
    p->verify_until = tmp.verify_until;
    at_put(c, point_slot(pi, PT_DEBOUNCE), debounce_at);
    at_put(c, point_slot(pi, PT_CHATTER), p->chattering ? chatter_at : NEVER);
}

static void restore_alarm(struct core *c, struct rbuf *r, bool apply)
{
    char id[CORE_ALARM_ID_MAX];
    uint64_t at[AL_SLOTS];
    uint8_t state, flags;
    double cross = NAN;
    int ai;

    get_id(r, id, sizeof(id));
    state = get_small(r, r->version > SNAP_V1 ? CORE_S_OUT_OF_SERVICE : CORE_S_SUPPRESSED);
    if (state == CORE_S_EVENT)
        r->bad = true;
    flags = get_small(r, 3);
    for (int k = 0; k < AL_SLOTS; k++)
        at[k] = get_uint(r, 8);
    if (r->version > SNAP_V1)
        cross = get_f64(r);
    if (!apply || r->bad || (ai = id_index_find(&c->alarm_ids, id)) < 0 || c->alarms[ai].role == ROLE_ONE_SHOT)
        return;
    struct alarm *a = &c->alarms[ai];
    a->state = (enum core_alarm_state)state;
    a->in = flags & 1;
    a->cond = (flags & 2) != 0;
    a->cross = cross;
    for (int k = 0; k < AL_SLOTS; k++)
        at_put(c, alarm_slot(c, ai, k), at[k]);
}

static void restore_flood(struct core *c, struct rbuf *r, bool apply)
{
    uint64_t at = get_uint(r, 8);

    get_ring(r, apply ? &c->flood : NULL);
    if (apply)
        at_put(c, flood_slot(c), at);
}

/* Parses the whole snapshot; with apply false it only validates. */
static void restore_receipts(struct core *c, struct rbuf *r, bool apply)
{
    bool on = get_small(r, 1);
    uint32_t lost = (uint32_t)get_uint(r, 4), n = (uint32_t)get_uint(r, 4);

    for (uint32_t i = 0; i < n && !r->bad; i++) {
        struct rcpt_entry e = {.used = true};

        e.seq = get_uint(r, 8);
        e.priority = (enum cfg_priority)get_small(r, CFG_PRIO_LOW);
        e.missed = get_small(r, 1);
        e.due_ms = get_uint(r, 8);
        e.retries = (int)get_uint(r, 4);
        /* An entry the running config no longer tracks is dropped, as rcpt_configure() would. */
        if (apply && !r->bad)
            rcpt_put(&c->rcpt, &e);
    }
    if (apply) {
        c->local_on = on;
        c->rcpt.lost = c->rcpt.set.escalate ? lost : 0;
    }
}

/* Walk tests (version 4), matched by id like every other section. */
static void restore_walk_tests(struct core *c, struct rbuf *r, bool apply)
{
    char id[CFG_ID_MAX];
    uint32_t n = (uint32_t)get_uint(r, 4);
    int i;

    for (uint32_t k = 0; k < n && !r->bad; k++) {
        struct zone_test t;
        uint64_t end_at;

        get_id(r, id, sizeof(id));
        end_at = get_uint(r, 8);
        get_str(r, t.by, sizeof(t.by), 0);
        t.started_wall_ms = (int64_t)get_uint(r, 8);
        t.until_wall_ms = (int64_t)get_uint(r, 8);
        if (apply && !r->bad && (i = id_index_find(&c->zone_ids, id)) >= 0) {
            c->zone_test[i] = t;
            at_put(c, test_slot(c, i), end_at);
        }
    }
    n = (uint32_t)get_uint(r, 4);
    for (uint32_t k = 0; k < n && !r->bad; k++) {
        int64_t tested;
        bool walked;

        get_id(r, id, sizeof(id));
        tested = (int64_t)get_uint(r, 8);
        walked = get_small(r, 1);
        if (apply && !r->bad && (i = id_index_find(&c->point_ids, id)) >= 0) {
            c->points[i].tested_wall_ms = tested;
            c->points[i].walked = walked;
        }
    }
}

static bool restore_pass(struct core *c, const void *buf, size_t len, bool apply)
{
    struct rbuf r = {buf, len, 0, false, 0};
    uint64_t now, seq;
    uint32_t n;

    if (get_uint(&r, 4) != SNAP_MAGIC)
        return false;
    r.version = (uint32_t)get_uint(&r, 4);
    if (r.version < SNAP_V1 || r.version > SNAP_VERSION)
        return false;
    now = get_uint(&r, 8);
    seq = get_uint(&r, 8);
    if (apply) {
        c->now_ms = now;
        c->next_seq = seq;
    }
    n = (uint32_t)get_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.bad; i++)
        restore_zone(c, &r, apply);
    n = (uint32_t)get_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.bad; i++)
        restore_point(c, &r, apply);
    n = (uint32_t)get_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.bad; i++)
        restore_alarm(c, &r, apply);
    if (r.version > SNAP_V1)
        restore_flood(c, &r, apply && !r.bad);
    if (r.version >= 3)
        restore_receipts(c, &r, apply && !r.bad);
    if (r.version >= 4)
        restore_walk_tests(c, &r, apply && !r.bad);
    if (r.version >= 5) {
        uint64_t epoch = get_uint(&r, 8);
        if (apply && !r.bad)
            c->epoch = epoch;
    }
    return !r.bad && r.off == r.len;
}

/* After a restore under a changed config (a zone made 24-hour, a point
 * moved), brings suppression in line with the zones as they are now. */
static void restore_fixup(struct core *c)
{
    for (int i = 0; i < c->n_alarms; i++) {
        struct alarm *a = &c->alarms[i];
        if (a->state == CORE_S_SUPPRESSED && !disarmed_for(c, a))
            a->state = CORE_S_NORMAL;
        else if (a->state == CORE_S_NORMAL && disarmed_for(c, a))
            a->state = CORE_S_SUPPRESSED;
    }
}

int core_restore(struct core *c, const void *buf, size_t len)
{
    if (!buf || !restore_pass(c, buf, len, false))
        return -1;
    restore_pass(c, buf, len, true);
    restore_fixup(c);
    /* rebuild the heap from the deadlines restored; only the slots in it have a position to clear */
    for (uint32_t i = 0; i < c->n_heap; i++)
        pos_put(c, c->heap[i], NO_POS);
    c->n_heap = 0;
    for (uint32_t s = 0; s < c->n_slots; s++)
        if (at_of(c, s) != NEVER)
            timer_set(c, s, at_of(c, s));
    return 0;
}

void core_system_input(struct core_input *in, enum core_sys_kind kind, bool active, const char *text,
                       uint64_t mono_ms, int64_t wall_ms)
{
    memset(in, 0, sizeof(*in));
    in->type = CORE_IN_SYSTEM;
    in->mono_ms = mono_ms;
    in->wall_ms = wall_ms;
    in->u.sys.kind = kind;
    in->u.sys.active = active;
    snprintf(in->u.sys.text, sizeof(in->u.sys.text), "%s", text);
}
