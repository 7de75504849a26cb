/*
 * test_sim.c - seeded simulation of the event core.
 *
 * From a seed, generate a random site (devices, zones, points of every kind
 * with random debounce, delays, thresholds, verification and chatter rules)
 * and a long random input history: flapping sensors, analog drift, NaN
 * readings, wall-clock steps (mono never goes back), device dropouts,
 * system inputs and operator commands at odd moments (on a timer's exact
 * deadline, on unknown targets, without an operator). After every step the
 * outputs are checked against the lifecycle invariants and against what the
 * alarms mean to a guard (the oracles in check_meaning(), and "no (epoch,
 * seq) is reused" in check_numbering()); then the history is
 * replayed into a fresh core and into one restored from a mid-run snapshot,
 * and both must give byte-identical outputs and snapshots.
 *
 *   test_sim              a default batch of seeds (a few seconds under ASan)
 *   test_sim --seeds N    seeds 1..N
 *   test_sim --seed S     one seed, printing every input and output
 *
 * A failing seed prints "not ok - seed S: <invariant> at step K" and the
 * command line that reproduces it.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_fixture.h"

#define DEFAULT_SEEDS 600
#define BATCH 100
#define MAX_STEPS 4000

/* ---- the generator's randomness: splitmix64, explicitly seeded ---------- */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t below(struct rng *r, uint32_t n)
{
    return (uint32_t)(rng_next(r) % n);
}

static bool chance(struct rng *r, unsigned percent)
{
    return below(r, 100) < percent;
}

static int pick(struct rng *r, const int *choices, size_t n)
{
    return choices[below(r, (uint32_t)n)];
}

#define PICK(r, ...) pick((r), (const int[]){__VA_ARGS__}, sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

/* ---- a random site --------------------------------------------------------- */

static void random_point(struct rng *r, struct cfg_site *s, int i)
{
    char id[CFG_ID_MAX];
    enum cfg_point_kind kind = (enum cfg_point_kind)below(r, CFG_KIND_EOL + 1);
    int zone = chance(r, 20) ? -1 : (int)below(r, (uint32_t)s->n_zones);
    int p;

    snprintf(id, sizeof(id), "p%02d-%d", i, (int)kind);
    p = fixture_add_point(s, id, kind, (int)below(r, (uint32_t)s->n_devices), zone);
    struct cfg_point *pt = &s->points[p];
    pt->priority = (enum cfg_priority)below(r, 4);
    pt->invert = chance(r, 20);
    pt->debounce_ms = PICK(r, 0, 0, 0, 50, 300);
    pt->on_delay_ms = PICK(r, 0, 0, 0, 500, 3000);
    pt->off_delay_ms = PICK(r, 0, 0, 0, 1000);
    if (kind == CFG_KIND_DOOR)
        pt->held_open_ms = PICK(r, 0, 5000, 30000);
    if (kind == CFG_KIND_TEMPERATURE || kind == CFG_KIND_HUMIDITY || kind == CFG_KIND_ANALOG) {
        struct cfg_analog *an = pt->analog;
        an->high = chance(r, 80) ? 30 : NAN;
        an->low = chance(r, 80) ? 5 : NAN;
        an->deadband = PICK(r, 0, 1, 2);
        if (chance(r, 30))
            an->valid_min = -2, an->valid_max = 38;
        if (chance(r, 30))
            an->sentinels[an->n_sentinels++] = 12.5;
    }
    pt->entry_route = (kind == CFG_KIND_MOTION || kind == CFG_KIND_EOL) && chance(r, 40);
    if (kind == CFG_KIND_FENCE)
        pt->verify_window_ms = PICK(r, 1000, 10000, 30000, 0);
}

/* Fences get up to two confirming points once every point exists. */
static void random_verification(struct rng *r, struct cfg_site *s)
{
    for (int i = 0; i < s->n_points; i++) {
        if (s->points[i].kind != CFG_KIND_FENCE || chance(r, 30))
            continue;
        int n = 1 + (int)below(r, 2);
        for (int v = 0; v < n; v++)
            s->points[i].verify[s->points[i].n_verify++] = (int)below(r, (uint32_t)s->n_points);
    }
}

static struct cfg_site *random_site(struct rng *r)
{
    struct cfg_site *s = fixture_site("sim");
    char id[CFG_ID_MAX];
    int n_dev = 1 + (int)below(r, 4), n_zone = 1 + (int)below(r, 4), n_pts = 4 + (int)below(r, 28);

    s->rules.chatter_count = 2 + (int)below(r, 4);
    s->rules.chatter_window_ms = PICK(r, 2000, 10000, 30000);
    s->rules.flood_count = PICK(r, 3, 10, 10);
    s->rules.flood_window_ms = PICK(r, 10000, 600000);
    s->rules.comm_loss_latching = chance(r, 70);
    s->rules.max_shelve_ms[CFG_PRIO_CRITICAL] = PICK(r, 5000, 3600000);
    for (int d = 0; d < n_dev; d++) {
        snprintf(id, sizeof(id), "dev%d", d);
        fixture_add_device(s, id);
        s->devices[d].comm_priority = (enum cfg_priority)below(r, 4);
    }
    for (int z = 0; z < n_zone; z++) {
        snprintf(id, sizeof(id), "zone%d", z);
        fixture_add_zone(s, id, chance(r, 70), chance(r, 20), PICK(r, 0, 0, 2000, 15000));
        s->zones[z].exit_delay_ms = PICK(r, 0, 0, 3000, 20000);
    }
    for (int i = 0; i < n_pts; i++)
        random_point(r, s, i);
    random_verification(r, s);
    return s;
}

/* ---- a random input history ----------------------------------------------- */

struct gen {
    struct rng rng;
    const struct cfg_site *site;
    uint64_t mono;
    int64_t wall;
    int flapping[3];           /* points that flap far more than the rest */
    int burst_left, burst_point; /* a door flapping fast: samples a few hundred ms apart */
    int cmd_no;
};

static double random_value(struct gen *g, const struct cfg_point *p)
{
    struct rng *r = &g->rng;

    if (chance(r, 3))
        return NAN;
    switch (p->kind) {
    case CFG_KIND_EOL:
        return (double)PICK(r, 2200, 2200, 4400, 100, 30000, 3000);
    case CFG_KIND_TEMPERATURE:
    case CFG_KIND_HUMIDITY:
    case CFG_KIND_ANALOG:
        return chance(r, 3) ? 12.5 : -5.0 + (double)below(r, 450) / 10.0;
    default:
        return (double)below(r, 2);
    }
}

static void random_target_alarm(struct gen *g, const struct core *c, char *dst, size_t cap, bool want_unacked)
{
    struct rng *r = &g->rng;
    int n = (int)core_alarm_count(c), a = (int)below(r, (uint32_t)n);

    if (chance(r, 4)) {
        snprintf(dst, cap, "no-such.alarm");
        return;
    }
    /* half of the acks go to a flapping point first: acks while a point
     * chatters are where alarms used to hide */
    if (want_unacked && chance(r, 50)) {
        int fp = g->flapping[below(r, 3)];
        for (int i = 0; i < n; i++)
            if (core_alarm_info(c, i)->point == fp) {
                a = i;
                break;
            }
    }
    for (int i = 0; want_unacked && i < n; i++) {
        int k = (a + i) % n;
        enum core_alarm_state st = core_alarm_state(c, k);
        if (st == CORE_S_ACTIVE_UNACKED || st == CORE_S_RTN_UNACKED) {
            a = k;
            break;
        }
    }
    snprintf(dst, cap, "%s", core_alarm_info(c, a)->id);
}

static void random_cmd(struct gen *g, const struct core *c, struct core_cmd *cmd)
{
    struct rng *r = &g->rng;

    snprintf(cmd->id, sizeof(cmd->id), "c%d", g->cmd_no++);
    cmd->op = (enum core_cmd_op)PICK(r, CORE_CMD_ACK, CORE_CMD_ACK, CORE_CMD_ACK, CORE_CMD_SHELVE,
                                     CORE_CMD_UNSHELVE, CORE_CMD_ARM, CORE_CMD_DISARM, CORE_CMD_OUT_OF_SERVICE,
                                     CORE_CMD_IN_SERVICE);
    snprintf(cmd->operator_name, sizeof(cmd->operator_name), "%s", chance(r, 8) ? "" : "op1");
    if (cmd->op == CORE_CMD_ARM || cmd->op == CORE_CMD_DISARM) {
        if (chance(r, 5))
            snprintf(cmd->target, sizeof(cmd->target), "no-such-zone");
        else
            snprintf(cmd->target, sizeof(cmd->target), "%s", g->site->zones[below(r, (uint32_t)g->site->n_zones)].id);
        cmd->force = chance(r, 50);
        return;
    }
    random_target_alarm(g, c, cmd->target, sizeof(cmd->target), cmd->op == CORE_CMD_ACK && chance(r, 70));
    cmd->duration_ms = chance(r, 85) ? 1000 + (int64_t)below(r, 120000) : PICK(r, 0, 999, 14400001, 86400001);
}

/* Moves the clocks on: mostly small steps, sometimes long quiet spells, and
 * now and then an input exactly on the next timer's deadline. */
static void advance_clocks(struct gen *g, const struct core *c)
{
    struct rng *r = &g->rng;
    uint64_t due = core_next_deadline(c), step;
    unsigned roll = below(r, 100);

    if (roll < 15)
        step = 0; /* a burst: several inputs in the same millisecond */
    else if (roll < 50)
        step = below(r, 300);
    else if (roll < 80)
        step = 300 + below(r, 5000);
    else if (roll < 95)
        step = 5000 + below(r, 60000);
    else
        step = 60000 + below(r, 600000);
    if (due != UINT64_MAX && due > g->mono && chance(r, 20))
        step = due - g->mono;
    g->mono += step;
    g->wall += (int64_t)step;
    if (chance(r, 2))
        g->wall += (int64_t)below(r, 7200001) - 3600000; /* the wall clock is stepped */
}

/* The next sample of a flap burst: fast enough to make the point chatter. */
static void burst_sample(struct gen *g, struct core_input *in)
{
    uint64_t step = 50 + below(&g->rng, 400);

    g->burst_left--;
    g->mono += step;
    g->wall += (int64_t)step;
    in->mono_ms = g->mono;
    in->wall_ms = g->wall;
    in->type = CORE_IN_SAMPLE;
    in->u.sample.point = g->burst_point;
    in->u.sample.value = random_value(g, &g->site->points[g->burst_point]);
}

static void random_input(struct gen *g, const struct core *c, struct core_input *in)
{
    struct rng *r = &g->rng;
    unsigned roll = below(r, 100);

    memset(in, 0, sizeof(*in));
    if (g->burst_left > 0 && roll < 80) {
        burst_sample(g, in);
        return;
    }
    if (chance(r, 3)) {
        g->burst_left = 4 + (int)below(r, 12);
        g->burst_point = g->flapping[below(r, 3)];
    }
    advance_clocks(g, c);
    in->mono_ms = g->mono;
    in->wall_ms = g->wall;
    if (roll < 62) {
        int p = chance(r, 50) ? g->flapping[below(r, 3)] : (int)below(r, (uint32_t)g->site->n_points);
        in->type = CORE_IN_SAMPLE;
        in->u.sample.point = p;
        in->u.sample.value = random_value(g, &g->site->points[p]);
    } else if (roll < 74) {
        in->type = CORE_IN_TICK;
    } else if (roll < 78) {
        in->type = CORE_IN_COMM;
        in->u.comm.device = (int)below(r, (uint32_t)g->site->n_devices);
        in->u.comm.up = chance(r, 50);
    } else if (roll < 97) {
        in->type = CORE_IN_CMD;
        random_cmd(g, c, &in->u.cmd);
    } else {
        in->type = CORE_IN_SYSTEM;
        in->u.sys.kind = (enum core_sys_kind)below(r, CORE_SYS__COUNT);
        in->u.sys.active = chance(r, 50);
        snprintf(in->u.sys.text, sizeof(in->u.sys.text), "sys-%" PRIu64, g->mono);
        /* as the shell numbers a restart: sometimes a new epoch, sometimes a
         * high-water mark, above or below the core's next seq */
        if (chance(r, 25))
            in->u.sys.epoch = rng_next(r) | 1;
        if (chance(r, 25))
            in->u.sys.seq_floor = below(r, (uint32_t)core_next_seq(c) + 40);
    }
}

/* ---- invariants ------------------------------------------------------------- */

enum { CHAT_NO, CHAT_YES, CHAT_UNKNOWN };

#define LINEAGES_MAX 1024 /* epochs the reuse oracle remembers; later ones are checked for order only */

struct checker {
    const struct core *core;
    const struct cfg_site *site;
    enum core_alarm_state *seen;   /* state as the outputs tell it */
    int *chatter_of;               /* alarm -> chattering alarm that freezes it, or -1 */
    uint8_t *chatter;              /* chattering alarm -> CHAT_* as the outputs tell it */
    bool *armed;                   /* zone -> armed, as the outputs tell it */
    bool *down;                    /* device -> down, as its comm inputs tell it */
    enum core_quality *quality;    /* alarm -> quality of its last event */
    bool *cond;                    /* alarm -> condition after the previous step */
    uint64_t next_seq;
    uint64_t epoch;                /* as the system inputs set it */
    struct { uint64_t epoch, last_seq; } lineages[LINEAGES_MAX]; /* every epoch seen, oldest first */
    int n_lineages;
    char why[256];
};

/* Types that are 24-hour by definition, whatever the table says. */
static bool always_on_type(enum core_alarm_type t)
{
    return t != CORE_T_INTRUSION && t != CORE_T_PERIMETER && t != CORE_T_VERIFIED_INTRUSION && t != CORE_T_CCTV &&
           t != CORE_T_DIGITAL;
}

/* Security alarms: never hidden, held active while their point chatters. */
static bool security_type(enum core_alarm_type t)
{
    return t == CORE_T_INTRUSION || t == CORE_T_PERIMETER || t == CORE_T_VERIFIED_INTRUSION || t == CORE_T_TAMPER ||
           t == CORE_T_WIRE_CUT || t == CORE_T_WIRE_SHORT;
}

/* Types a chattering point holds (security) or freezes (cctv, digital). */
static bool chatter_gated_type(enum core_alarm_type t)
{
    return security_type(t) || t == CORE_T_CCTV || t == CORE_T_DIGITAL;
}

static void checker_init(struct checker *k, const struct core *c, const struct cfg_site *s)
{
    size_t n = core_alarm_count(c);
    char id[CORE_ALARM_ID_MAX];

    k->core = c;
    k->site = s;
    k->next_seq = core_next_seq(c);
    k->epoch = core_epoch(c);
    k->seen = calloc(n, sizeof(*k->seen));
    k->chatter_of = calloc(n, sizeof(*k->chatter_of));
    k->chatter = calloc(n, sizeof(*k->chatter));
    k->armed = calloc((size_t)s->n_zones + 1, sizeof(*k->armed));
    k->down = calloc((size_t)s->n_devices + 1, sizeof(*k->down));
    k->quality = calloc(n, sizeof(*k->quality));
    k->cond = calloc(n, sizeof(*k->cond));
    for (int a = 0; a < (int)n; a++) {
        const struct core_alarm_info *info = core_alarm_info(c, a);
        k->seen[a] = core_alarm_state(c, a);
        k->chatter_of[a] = -1;
        if (info->point >= 0 && chatter_gated_type(info->type)) {
            snprintf(id, sizeof(id), "%s.chattering", s->points[info->point].id);
            k->chatter_of[a] = core_find_alarm(c, id);
        }
    }
    for (int z = 0; z < s->n_zones; z++)
        k->armed[z] = core_zone_armed(c, z);
}

static void checker_free(struct checker *k)
{
    free(k->seen);
    free(k->chatter_of);
    free(k->chatter);
    free(k->armed);
    free(k->down);
    free(k->quality);
    free(k->cond);
}

static bool fail(struct checker *k, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(k->why, sizeof(k->why), fmt, ap);
    va_end(ap);
    return false;
}

/*
 * Whether the lifecycle allows from -> to in one event. Suppressed counts
 * as normal (the move between them is silent). Acked alarms go back to
 * unacked only with a new activation (which a chattering point's held
 * security alarm gets without clearing first), a shelved alarm only leaves
 * by unshelve or expiry, out of service only by in_service, and only a
 * person shelves, acks, arms or takes an alarm out of service. An alarm
 * that needs attention may re-state its state when its quality changed.
 */
static bool legal(enum core_alarm_state from, enum core_alarm_state to, bool latching, bool cmd, bool requality)
{
    if (from == CORE_S_SUPPRESSED)
        from = CORE_S_NORMAL;
    if (to == from && requality)
        return from == CORE_S_ACTIVE_UNACKED || from == CORE_S_ACTIVE_ACKED || from == CORE_S_RTN_UNACKED;
    if (to == CORE_S_SHELVED)
        return cmd && from != CORE_S_SHELVED && from != CORE_S_OUT_OF_SERVICE;
    if (to == CORE_S_OUT_OF_SERVICE)
        return cmd && from != CORE_S_OUT_OF_SERVICE;
    switch (from) {
    case CORE_S_NORMAL:
        return to == CORE_S_ACTIVE_UNACKED;
    case CORE_S_ACTIVE_UNACKED:
        return (to == CORE_S_ACTIVE_ACKED && cmd) || (to == CORE_S_RTN_UNACKED && latching) ||
               (to == CORE_S_NORMAL && !latching);
    case CORE_S_ACTIVE_ACKED:
        return to == CORE_S_NORMAL || to == CORE_S_ACTIVE_UNACKED;
    case CORE_S_RTN_UNACKED:
        return (to == CORE_S_NORMAL && cmd) || to == CORE_S_ACTIVE_UNACKED;
    case CORE_S_SHELVED:
        return to == CORE_S_ACTIVE_UNACKED || to == CORE_S_NORMAL;
    case CORE_S_OUT_OF_SERVICE:
        return cmd && (to == CORE_S_ACTIVE_UNACKED || to == CORE_S_NORMAL);
    default:
        return false;
    }
}

/* Tracks a device's comm state from its comm_loss event in a comm step. */
static void note_comm(struct checker *k, const struct core_input *in, const struct core_alarm_info *info,
                      const struct core_event *e)
{
    if (in->type == CORE_IN_COMM && info->type == CORE_T_COMM_LOSS && info->device == in->u.comm.device &&
        !e->operator_name[0])
        k->down[info->device] = !in->u.comm.up;
}

/* What a system input tells the numbering, before its event. */
static void note_numbering(struct checker *k, const struct core_input *in)
{
    if (in->type != CORE_IN_SYSTEM)
        return;
    if (in->u.sys.epoch)
        k->epoch = in->u.sys.epoch;
    if (in->u.sys.seq_floor > k->next_seq)
        k->next_seq = in->u.sys.seq_floor;
}

/* The oracle "no (epoch, seq) is reused": within an epoch seqs only grow, whatever epochs came between. */
static bool check_numbering(struct checker *k, const struct core_event *e)
{
    int i = 0;

    if (e->epoch != k->epoch)
        return fail(k, "seq %" PRIu64 " in epoch %" PRIx64 " where the inputs set %" PRIx64, e->seq, e->epoch,
                    k->epoch);
    while (i < k->n_lineages && k->lineages[i].epoch != e->epoch)
        i++;
    if (i < k->n_lineages && e->seq <= k->lineages[i].last_seq)
        return fail(k, "(epoch %" PRIx64 ", seq %" PRIu64 ") reused after seq %" PRIu64, e->epoch, e->seq,
                    k->lineages[i].last_seq);
    if (i == k->n_lineages && k->n_lineages < LINEAGES_MAX)
        k->lineages[k->n_lineages++].epoch = e->epoch;
    if (i < k->n_lineages)
        k->lineages[i].last_seq = e->seq;
    return true;
}

static bool check_event(struct checker *k, const struct core_input *in, const struct core_event *e)
{
    const struct core_alarm_info *info = core_alarm_info(k->core, e->alarm);
    bool cmd = in->type == CORE_IN_CMD;
    enum core_alarm_state from;

    if (e->seq != k->next_seq)
        return fail(k, "seq %" PRIu64 " where %" PRIu64 " was due", e->seq, k->next_seq);
    if (!check_numbering(k, e))
        return false;
    k->next_seq++;
    if (!info)
        return fail(k, "event for alarm index %d", e->alarm);
    if (e->operator_name[0] && (!cmd || strcmp(e->operator_name, in->u.cmd.operator_name) != 0))
        return fail(k, "%s: operator \"%s\" on an event no one caused", info->id, e->operator_name);
    note_comm(k, in, info, e);
    if (info->point >= 0 && k->down[info->device] && e->quality != CORE_Q_UNKNOWN)
        return fail(k, "%s: a value of a device that does not answer published as %s", info->id,
                    core_quality_name(e->quality) ? core_quality_name(e->quality) : "no quality");
    from = k->seen[e->alarm];
    if (from == CORE_S_EVENT)
        return e->state == CORE_S_EVENT ? true : fail(k, "%s: one-shot with state %s", info->id, core_state_name(e->state));
    if (from == CORE_S_SUPPRESSED && !cmd)
        return fail(k, "%s: event %s while suppressed", info->id, core_state_name(e->state));
    /* a device going down re-states its points' alarms as unknown, even
     * one whose value was unknown already (never read) */
    bool requality = e->quality != k->quality[e->alarm] ||
                     (in->type == CORE_IN_COMM && !cmd && e->quality == CORE_Q_UNKNOWN);
    if (!legal(from, e->state, info->latching, cmd, requality))
        return fail(k, "%s: illegal %s -> %s", info->id, core_state_name(from), core_state_name(e->state));
    if (e->state == CORE_S_ACTIVE_ACKED && from != CORE_S_ACTIVE_ACKED && !e->operator_name[0])
        return fail(k, "%s: acked without an operator", info->id);
    int ca = k->chatter_of[e->alarm];
    if (ca >= 0 && k->chatter[ca] == CHAT_YES && !e->operator_name[0] && from != CORE_S_SHELVED && from != e->state &&
        (!security_type(info->type) || e->state != CORE_S_ACTIVE_UNACKED))
        return fail(k, "%s: %s while its point chatters", info->id, core_state_name(e->state));
    k->quality[e->alarm] = e->quality;
    if (info->type == CORE_T_CHATTERING)
        k->chatter[e->alarm] = e->state == CORE_S_SHELVED || e->state == CORE_S_OUT_OF_SERVICE ? CHAT_UNKNOWN
                               : e->state == CORE_S_NORMAL ? CHAT_NO
                                                           : CHAT_YES;
    k->seen[e->alarm] = e->state;
    return true;
}

/* After the events: any other state change must be the silent move between
 * normal and suppressed that the zone explains, and 24-hour alarms are
 * never suppressed. */
static bool check_states(struct checker *k)
{
    for (int a = 0; a < (int)core_alarm_count(k->core); a++) {
        const struct core_alarm_info *info = core_alarm_info(k->core, a);
        enum core_alarm_state now = core_alarm_state(k->core, a), was = k->seen[a];
        if (always_on_type(info->type) && !info->always_on)
            return fail(k, "%s: a 24-hour type in the table as suppressible", info->id);
        if (now == CORE_S_SUPPRESSED && info->always_on)
            return fail(k, "%s: a 24-hour alarm is suppressed", info->id);
        if (now == was)
            continue;
        bool armed = core_zone_armed(k->core, info->zone);
        if (!(was == CORE_S_NORMAL && now == CORE_S_SUPPRESSED && !armed) &&
            !(was == CORE_S_SUPPRESSED && now == CORE_S_NORMAL && armed))
            return fail(k, "%s: %s -> %s without an event", info->id, core_state_name(was), core_state_name(now));
        k->seen[a] = now;
    }
    return true;
}

/*
 * The oracles: what the alarms must mean to a guard after every step.
 * - An armed security point whose condition is up (and no entry or exit
 *   delay holds it back) is never reported normal or cleared.
 * - An opening after an ack raises a new unacknowledged alarm: a security
 *   alarm whose condition rose during a step without a command is not left
 *   acknowledged.
 * - A stale value is never published without its quality: the last event
 *   of every alarm that needs attention on a device that does not answer
 *   (its retained payload) says "unknown".
 */
static bool check_meaning(struct checker *k, const struct core_input *in)
{
    for (int a = 0; a < (int)core_alarm_count(k->core); a++) {
        const struct core_alarm_info *info = core_alarm_info(k->core, a);
        enum core_alarm_state st = core_alarm_state(k->core, a);
        bool pending = false, was = k->cond[a], cond = core_alarm_condition(k->core, a, &pending);
        bool armed = info->always_on || core_zone_armed(k->core, info->zone);
        bool attention = st == CORE_S_ACTIVE_UNACKED || st == CORE_S_ACTIVE_ACKED || st == CORE_S_RTN_UNACKED;

        k->cond[a] = cond;
        if (info->point >= 0 && attention && k->down[info->device] && k->quality[a] != CORE_Q_UNKNOWN)
            return fail(k, "%s: %s on a device that does not answer, last published as %s", info->id,
                        core_state_name(st), core_quality_name(k->quality[a]) ? core_quality_name(k->quality[a]) : "none");
        if (!security_type(info->type) || !armed || pending || !cond)
            continue;
        if (st == CORE_S_NORMAL || st == CORE_S_RTN_UNACKED)
            return fail(k, "%s: armed, its input active, reported %s", info->id, core_state_name(st));
        if (!was && st == CORE_S_ACTIVE_ACKED && in->type != CORE_IN_CMD)
            return fail(k, "%s: opened again after an ack and left acknowledged", info->id);
    }
    return true;
}

static int find_zone(const struct cfg_site *s, const char *id)
{
    for (int z = 0; z < s->n_zones; z++)
        if (strcmp(s->zones[z].id, id) == 0)
            return z;
    return -1;
}

/*
 * Predicts whether a command must succeed (1), must be refused (0), or
 * cannot be told from the outputs (-1: arming without force depends on
 * which points are open). pre is the target's state once the timers that
 * fired before the command have been applied.
 */
static int predict_ok(const struct checker *k, const struct core_cmd *cmd, enum core_alarm_state pre)
{
    int a = core_find_alarm(k->core, cmd->target), z = find_zone(k->site, cmd->target);
    const struct core_alarm_info *info = core_alarm_info(k->core, a);

    if (!cmd->operator_name[0])
        return 0;
    switch (cmd->op) {
    case CORE_CMD_ACK:
        return a >= 0 && (pre == CORE_S_ACTIVE_UNACKED || pre == CORE_S_RTN_UNACKED);
    case CORE_CMD_SHELVE:
        return a >= 0 && pre != CORE_S_EVENT && pre != CORE_S_SHELVED && pre != CORE_S_OUT_OF_SERVICE &&
               cmd->duration_ms >= 1000 && cmd->duration_ms <= k->site->rules.max_shelve_ms[info->priority];
    case CORE_CMD_UNSHELVE:
        return a >= 0 && pre == CORE_S_SHELVED;
    case CORE_CMD_OUT_OF_SERVICE:
        return a >= 0 && pre != CORE_S_EVENT && pre != CORE_S_OUT_OF_SERVICE;
    case CORE_CMD_IN_SERVICE:
        return a >= 0 && pre == CORE_S_OUT_OF_SERVICE;
    case CORE_CMD_DISARM:
        return z >= 0 && !k->site->zones[z].always_armed;
    default:
        return z < 0 ? 0 : k->armed[z] || cmd->force ? 1 : -1;
    }
}

static bool check_result(struct checker *k, const struct core_input *in, const struct core_result *r,
                         enum core_alarm_state pre)
{
    int want;

    if (in->type != CORE_IN_CMD || strcmp(r->id, in->u.cmd.id) != 0)
        return fail(k, "a result that answers no command");
    if (!r->ok && !r->error[0])
        return fail(k, "a refusal without a reason");
    want = predict_ok(k, &in->u.cmd, pre);
    if (want >= 0 && r->ok != want)
        return fail(k, "%s %s by \"%s\" (state %s): ok=%d, expected %d (%s)", core_op_name(in->u.cmd.op),
                    in->u.cmd.target, in->u.cmd.operator_name, core_state_name(pre), r->ok, want, r->error);
    return true;
}

/* The target's state before the command acted: the events caused by the
 * command carry its operator, the ones before it (timers) do not. */
static enum core_alarm_state pre_command_state(const struct checker *k, const struct core_input *in)
{
    int a = in->type == CORE_IN_CMD ? core_find_alarm(k->core, in->u.cmd.target) : -1;

    return a >= 0 ? k->seen[a] : CORE_S_NORMAL;
}

/* Checks one step's outputs; a command gets exactly one result, last. */
static bool check_step(struct checker *k, const struct core_input *in, const struct core_output *out, size_t n)
{
    size_t results = 0;
    bool cmd_acting = false;
    enum core_alarm_state pre = CORE_S_NORMAL;

    if (n > core_max_outputs(k->core))
        return fail(k, "%zu outputs, bound %zu", n, core_max_outputs(k->core));
    note_numbering(k, in);
    for (size_t i = 0; i < n; i++) {
        bool by_cmd = out[i].type != CORE_OUT_EVENT || out[i].u.event.operator_name[0];
        if (by_cmd && !cmd_acting) {
            cmd_acting = true;
            pre = pre_command_state(k, in);
        }
        if (out[i].type == CORE_OUT_RESULT) {
            results++;
            if (!check_result(k, in, &out[i].u.result, pre))
                return false;
        } else if (out[i].type == CORE_OUT_ZONE) {
            if (in->type != CORE_IN_CMD || core_zone_armed(k->core, out[i].u.zone.zone) != out[i].u.zone.armed ||
                k->armed[out[i].u.zone.zone] == out[i].u.zone.armed)
                return fail(k, "zone change that no command made");
            k->armed[out[i].u.zone.zone] = out[i].u.zone.armed;
        } else if (!check_event(k, in, &out[i].u.event)) {
            return false;
        }
    }
    if (in->type == CORE_IN_COMM) /* also when its comm_loss is shelved and said nothing */
        k->down[in->u.comm.device] = !in->u.comm.up;
    if (in->type == CORE_IN_CMD && (results != 1 || out[n - 1].type != CORE_OUT_RESULT))
        return fail(k, "command %s got %zu results", in->u.cmd.id, results);
    if (core_next_deadline(k->core) <= in->mono_ms)
        return fail(k, "timer due at %" PRIu64 " left pending", core_next_deadline(k->core));
    return check_states(k) && check_meaning(k, in);
}

/* ---- one seed ----------------------------------------------------------------- */

struct run {
    uint64_t seed;
    bool verbose;
    struct cfg_site *site;
    struct core_input *inputs;
    uint64_t *hashes;          /* per step, over the bytes of its outputs */
    size_t n_steps, snap_step;
    uint8_t *mid_snap, *end_snap;
    size_t mid_len, end_len;
    size_t events;
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint8_t *take_snapshot(const struct core *c, size_t *len)
{
    uint8_t *buf;

    *len = core_snapshot(c, NULL, 0);
    buf = malloc(*len);
    if (!buf || core_snapshot(c, buf, *len) != *len)
        abort();
    return buf;
}

static void print_step(const struct core *c, size_t k, const struct core_input *in, const struct core_output *out,
                       size_t n)
{
    printf("# %zu t=%" PRIu64 " type=%d", k, in->mono_ms, (int)in->type);
    if (in->type == CORE_IN_SAMPLE)
        printf(" point=%d value=%g", in->u.sample.point, in->u.sample.value);
    else if (in->type == CORE_IN_CMD)
        printf(" %s %s by \"%s\"", core_op_name(in->u.cmd.op), in->u.cmd.target, in->u.cmd.operator_name);
    else if (in->type == CORE_IN_COMM)
        printf(" device=%d up=%d", in->u.comm.device, in->u.comm.up);
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        if (out[i].type == CORE_OUT_EVENT)
            printf("#    seq %" PRIu64 " %s %s\n", out[i].u.event.seq, core_alarm_info(c, out[i].u.event.alarm)->id,
                   core_state_name(out[i].u.event.state));
        else if (out[i].type == CORE_OUT_RESULT)
            printf("#    result ok=%d %s\n", out[i].u.result.ok, out[i].u.result.error);
        else
            printf("#    zone %d armed=%d\n", out[i].u.zone.zone, out[i].u.zone.armed);
    }
}

/* Generates and runs the history, checking every step. */
static bool first_run(struct run *run, char *why, size_t *bad_step)
{
    struct gen g = {.rng = {run->seed}, .site = run->site, .mono = 0, .wall = 1700000000000LL};
    struct core *c = core_new(run->site);
    struct checker k = {0};
    struct core_output *out = calloc(core_max_outputs(c), sizeof(*out));
    bool ok = true;

    checker_init(&k, c, run->site);
    for (int i = 0; i < 3; i++)
        g.flapping[i] = (int)below(&g.rng, (uint32_t)run->site->n_points);
    g.mono = below(&g.rng, 1000);
    for (size_t s = 0; ok && s < run->n_steps; s++) {
        random_input(&g, c, &run->inputs[s]);
        size_t n = core_step(c, &run->inputs[s], out);
        run->hashes[s] = hash_bytes(0xcbf29ce484222325ull, out, n * sizeof(*out));
        if (run->verbose)
            print_step(c, s, &run->inputs[s], out, n);
        ok = check_step(&k, &run->inputs[s], out, n);
        *bad_step = s;
        for (size_t i = 0; i < n; i++)
            run->events += out[i].type == CORE_OUT_EVENT;
        if (s == run->snap_step)
            run->mid_snap = take_snapshot(c, &run->mid_len);
    }
    if (ok)
        run->end_snap = take_snapshot(c, &run->end_len);
    else
        snprintf(why, 256, "%s", k.why);
    checker_free(&k);
    free(out);
    core_free(c);
    return ok;
}

/* Feeds inputs [from, n_steps) into c and compares each step's hash and the
 * final snapshot with the first run. Returns the diverging step or -1. */
static long replay(const struct run *run, struct core *c, size_t from)
{
    struct core_output *out = calloc(core_max_outputs(c), sizeof(*out));
    long bad = -1;
    size_t len;

    for (size_t s = from; bad < 0 && s < run->n_steps; s++) {
        size_t n = core_step(c, &run->inputs[s], out);
        if (hash_bytes(0xcbf29ce484222325ull, out, n * sizeof(*out)) != run->hashes[s])
            bad = (long)s;
    }
    if (bad < 0) {
        uint8_t *snap = take_snapshot(c, &len);
        if (len != run->end_len || memcmp(snap, run->end_snap, len) != 0)
            bad = (long)run->n_steps;
        free(snap);
    }
    free(out);
    return bad;
}

/* Replays into a fresh core, and into one restored from the mid-run snapshot. */
static bool second_runs(struct run *run, char *why, size_t *bad_step)
{
    struct core *fresh = core_new(run->site), *restored = core_new(run->site);
    long bad;
    bool ok = false;
    size_t len;

    if ((bad = replay(run, fresh, 0)) >= 0) {
        snprintf(why, 256, "replay into a fresh core diverged");
    } else if (core_restore(restored, run->mid_snap, run->mid_len) != 0) {
        snprintf(why, 256, "mid-run snapshot refused");
        bad = (long)run->snap_step;
    } else {
        uint8_t *again = take_snapshot(restored, &len);
        if (len != run->mid_len || memcmp(again, run->mid_snap, len) != 0) {
            snprintf(why, 256, "restored snapshot differs from the one taken");
            bad = (long)run->snap_step;
        } else if ((bad = replay(run, restored, run->snap_step + 1)) >= 0) {
            snprintf(why, 256, "continuing after snapshot/restore diverged");
        } else {
            ok = true;
        }
        free(again);
    }
    *bad_step = (size_t)bad;
    core_free(fresh);
    core_free(restored);
    return ok;
}

/* Runs one seed; prints "not ok" with the reproduction line on failure. */
static bool run_seed(uint64_t seed, bool verbose, size_t *steps, size_t *events)
{
    struct rng site_rng = {seed ^ 0x5173u};
    struct run run = {.seed = seed, .verbose = verbose};
    char why[256] = "";
    size_t bad_step = 0;
    bool ok;

    run.site = random_site(&site_rng);
    run.n_steps = MAX_STEPS / 2 + below(&site_rng, MAX_STEPS / 2);
    run.snap_step = below(&site_rng, (uint32_t)run.n_steps);
    run.inputs = calloc(run.n_steps, sizeof(*run.inputs));
    run.hashes = calloc(run.n_steps, sizeof(*run.hashes));
    if (verbose)
        printf("# seed %" PRIu64 ": %d devices, %d zones, %d points, %zu steps, snapshot at step %zu\n", seed,
               run.site->n_devices, run.site->n_zones, run.site->n_points, run.n_steps, run.snap_step);
    ok = first_run(&run, why, &bad_step) && second_runs(&run, why, &bad_step);
    if (!ok) {
        printf("not ok - seed %" PRIu64 ": %s at step %zu\n", seed, why, bad_step);
        printf("#   reproduce: test_sim --seed %" PRIu64 "\n", seed);
    }
    *steps += run.n_steps;
    *events += run.events;
    free(run.inputs);
    free(run.hashes);
    free(run.mid_snap);
    free(run.end_snap);
    fixture_free(run.site);
    return ok;
}

/* Runs seeds [first, last] in batches, one "ok" line per clean batch. */
static int run_seeds(uint64_t first, uint64_t last, bool verbose)
{
    int failed = 0;

    for (uint64_t b = first; b <= last; b += BATCH) {
        uint64_t end = b + BATCH - 1 < last ? b + BATCH - 1 : last;
        size_t steps = 0, events = 0;
        int bad = 0;
        for (uint64_t s = b; s <= end; s++)
            bad += !run_seed(s, verbose, &steps, &events);
        if (!bad)
            printf("ok - sim seeds %" PRIu64 "..%" PRIu64 ": %zu steps, %zu events, invariants, replay, "
                   "snapshot/restore\n", b, end, steps, events);
        failed += bad;
        fflush(stdout);
    }
    return failed;
}

static void usage(void)
{
    fprintf(stderr, "usage: test_sim [--seeds N | --seed S]\n");
}

int main(int argc, char **argv)
{
    uint64_t first = 1, last = DEFAULT_SEEDS;
    bool verbose = false;
    char *end;

    if (argc == 3 && (strcmp(argv[1], "--seeds") == 0 || strcmp(argv[1], "--seed") == 0)) {
        bool one = strcmp(argv[1], "--seed") == 0;
        uint64_t v = strtoull(argv[2], &end, 10);
        if (*end || end == argv[2] || (!one && v == 0)) {
            usage();
            return 2;
        }
        if (one)
            first = last = v, verbose = true;
        else
            last = v;
    } else if (argc != 1) {
        usage();
        return 2;
    }
    return run_seeds(first, last, verbose) ? 1 : 0;
}
