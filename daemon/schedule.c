/*
 * schedule.c - zone arming schedules (see schedule.h for the rules).
 *
 * Local time arithmetic works on "local seconds": the reading of the local
 * wall clock, counted like a UTC epoch (local_s(t) = t + UTC offset at t).
 * A schedule time on a local day is the local second day * 86400 + minute *
 * 60; instant_of() turns it back into a UTC instant by trying the UTC
 * offsets in force a day before and a day after, which covers every real
 * zone (no zone changes its offset twice within two days). Only
 * localtime_r() reads the time zone database; mktime() is avoided because
 * what it does with a time in a gap or a repeated hour is unspecified.
 *
 * sched_poll() walks the actions of all zones in one order: by instant,
 * then by key (zone, entry, arm before disarm), so two zones armed at the
 * same minute both fire, in config order. The next action is cached, so a
 * poll that finds nothing due costs a few comparisons.
 */
#include "schedule.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_S 86400
#define SCAN_DAYS 10          /* a week of days plus slack on both sides */
#define CATCH_UP_WINDOW_MS (8LL * DAY_S * 1000) /* every zone acts within a week */
#define KEY_END INT_MAX       /* after every key: the whole instant is handled */
#define KEYS_PER_ZONE (CFG_MAX_SCHEDULE * 2)

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Seconds east of UTC in force at instant t (process time zone). */
static int64_t utc_offset_s(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!localtime_r(&tt, &tm))
        return 0;
    return tm.tm_gmtoff;
}

static int64_t local_s(int64_t t)
{
    return t + utc_offset_s(t);
}

/* 0 = Sunday, like tm_wday; local day 0 (1970-01-01) was a Thursday. */
static int weekday(int64_t day)
{
    return (int)(((day + 4) % 7 + 7) % 7);
}

/*
 * The UTC instant at which the local clock first shows local second l, or
 * first shows a later time when l falls in a gap (spring forward). A time
 * in a repeated hour gives its first occurrence.
 */
static int64_t instant_of(int64_t l)
{
    int64_t t_before = l - utc_offset_s(l - DAY_S);
    int64_t t_after = l - utc_offset_s(l + DAY_S);
    int64_t lo = t_before < t_after ? t_before : t_after;
    int64_t hi = t_before < t_after ? t_after : t_before;

    if (local_s(lo) == l)
        return lo;
    if (local_s(hi) == l)
        return hi;
    /* l is in a gap: the clock shows less than l at lo and more at hi.
     * Find the transition, the first second that shows more than l. */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (local_s(mid) >= l)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

static int minute_of(const struct cfg_schedule *e, enum sched_op op)
{
    return op == SCHED_ARM ? e->arm_min : e->disarm_min;
}

/*
 * Walks local days from the one holding `from` in direction dir (+1, -1)
 * and returns the first instant of e's op strictly after from (dir +1) or
 * at or before it (dir -1), in seconds; 0 with *found false if none.
 */
static int64_t scan_days(const struct cfg_schedule *e, int minute, int64_t from, int dir, bool *found)
{
    int64_t day = floor_div(local_s(from), DAY_S) - dir;

    *found = false;
    for (int k = 0; k < SCAN_DAYS; k++, day += dir) {
        if (!(e->days & (1u << weekday(day))))
            continue;
        int64_t t = instant_of(day * DAY_S + (int64_t)minute * 60);
        if (dir > 0 ? t > from : t <= from) {
            *found = true;
            return t;
        }
    }
    return 0;
}

int64_t sched_next(const struct cfg_schedule *e, enum sched_op op, int64_t after_wall_ms)
{
    bool found;
    int minute = minute_of(e, op);
    int64_t t = minute < 0 ? 0 : scan_days(e, minute, floor_div(after_wall_ms, 1000), 1, &found);

    return minute >= 0 && found ? t * 1000 : INT64_MAX;
}

int64_t sched_prev(const struct cfg_schedule *e, enum sched_op op, int64_t at_wall_ms)
{
    bool found;
    int minute = minute_of(e, op);
    int64_t t = minute < 0 ? 0 : scan_days(e, minute, floor_div(at_wall_ms, 1000), -1, &found);

    return minute >= 0 && found ? t * 1000 : INT64_MIN;
}

int sched_set_timezone(const char *tz)
{
    char value[CFG_ID_MAX + 2];

    snprintf(value, sizeof(value), ":%s", tz);
    if (setenv("TZ", value, 1) < 0)
        return -1;
    tzset();
    return 0;
}


static int action_key(int zone, int entry, enum sched_op op)
{
    return zone * KEYS_PER_ZONE + entry * 2 + (int)op;
}

/* True if (t, key) comes before (t2, key2) in the order actions are run. */
static bool earlier(int64_t t, int key, int64_t t2, int key2)
{
    return t < t2 || (t == t2 && key < key2);
}

/* Finds the first action of the site after (done_ms, done_key) into
 * s->next; an impossible instant INT64_MAX if the site schedules nothing. */
static void find_next(struct sched *s, const struct cfg_site *site)
{
    s->next = (struct sched_action){ .zone = -1, .due_wall_ms = INT64_MAX };
    s->next_key = KEY_END;
    for (int z = 0; z < site->n_zones; z++) {
        for (int i = 0; i < site->zones[z].n_schedule; i++) {
            for (int op = SCHED_ARM; op <= SCHED_DISARM; op++) {
                int key = action_key(z, i, (enum sched_op)op);
                /* a key after done_key may still run at done_ms itself */
                int64_t after = key > s->done_key ? s->done_ms - 1 : s->done_ms;
                int64_t t = sched_next(&site->zones[z].schedule[i], (enum sched_op)op, after);
                if (t != INT64_MAX && earlier(t, key, s->next.due_wall_ms, s->next_key)) {
                    s->next = (struct sched_action){ .zone = z, .op = (enum sched_op)op, .due_wall_ms = t };
                    s->next_key = key;
                }
            }
        }
    }
    s->next_known = true;
}

/* True if (t, key) is zone z's most recent scheduled action at now_ms. */
static bool zone_latest(const struct cfg_zone *zone, int z, int64_t now_ms, int64_t t, int key)
{
    for (int i = 0; i < zone->n_schedule; i++) {
        for (int op = SCHED_ARM; op <= SCHED_DISARM; op++) {
            int64_t p = sched_prev(&zone->schedule[i], (enum sched_op)op, now_ms);
            if (p != INT64_MIN && earlier(t, key, p, action_key(z, i, (enum sched_op)op)))
                return false;
        }
    }
    return true;
}

/* Whether a due action still fires when it is handled at now_ms. */
static bool still_fires(const struct cfg_site *site, const struct sched_action *a, int key, int64_t now_ms)
{
    if (now_ms - a->due_wall_ms <= SCHED_LATE_MAX_MS)
        return true;
    return a->op == SCHED_ARM && zone_latest(&site->zones[a->zone], a->zone, now_ms, a->due_wall_ms, key);
}

/* Follows a new site or time zone: the cached next action is stale. */
static void follow_site(struct sched *s, const struct cfg_site *site)
{
    if (strcmp(s->timezone, site->timezone) != 0) {
        (void)sched_set_timezone(site->timezone); /* only fails out of memory; then it stays as it was */
        snprintf(s->timezone, sizeof(s->timezone), "%s", site->timezone);
        s->next_known = false;
    }
    if (s->site != site || s->site_hash != site->hash) {
        s->site = site;
        s->site_hash = site->hash;
        s->next_known = false;
    }
}

/* Moves the handled mark to (ms, key). */
static void mark_done(struct sched *s, int64_t ms, int key)
{
    s->done_ms = ms;
    s->done_key = key;
}

void sched_init(struct sched *s, const struct cfg_site *site, int64_t since_wall_ms)
{
    memset(s, 0, sizeof(*s));
    s->done_ms = since_wall_ms;
    s->done_key = KEY_END;
    follow_site(s, site);
}

int sched_poll(struct sched *s, const struct cfg_site *site, int64_t now_wall_ms, struct sched_action *act)
{
    follow_site(s, site);
    if (now_wall_ms < s->done_ms) {
        /* The clock went back. Within SCHED_BACK_MAX_MS everything up to
         * done_ms has run already; beyond it the old time was wrong. */
        if (s->done_ms - now_wall_ms > SCHED_BACK_MAX_MS) {
            mark_done(s, now_wall_ms, KEY_END);
            s->next_known = false;
        }
        return 0;
    }
    if (now_wall_ms - s->done_ms > CATCH_UP_WINDOW_MS) {
        /* Older actions are neither late enough to fire nor a zone's most
         * recent one: skip the years a clock without RTC may jump. */
        mark_done(s, now_wall_ms - CATCH_UP_WINDOW_MS, KEY_END);
        s->next_known = false;
    }
    for (;;) {
        if (!s->next_known)
            find_next(s, site);
        if (s->next.due_wall_ms > now_wall_ms) {
            mark_done(s, now_wall_ms, KEY_END); /* the cache stays valid: next is still after it */
            return 0;
        }
        mark_done(s, s->next.due_wall_ms, s->next_key);
        s->next_known = false;
        if (still_fires(site, &s->next, s->next_key, now_wall_ms)) {
            *act = s->next;
            return 1;
        }
    }
}

void sched_command(const struct cfg_site *site, const struct sched_action *act, struct core_input *in)
{
    struct core_cmd *cmd = &in->u.cmd;
    const char *zone = site->zones[act->zone].id;
    /* Ten digits last until the year 2286; with 46 characters of the zone
     * id they fill the 63 characters a command id holds. */
    long long due_s = act->due_wall_ms / 1000;

    due_s = due_s < 0 ? 0 : due_s > 9999999999LL ? 9999999999LL : due_s;

    memset(in, 0, sizeof(*in));
    in->type = CORE_IN_CMD;
    cmd->op = act->op == SCHED_ARM ? CORE_CMD_ARM : CORE_CMD_DISARM;
    snprintf(cmd->id, sizeof(cmd->id), "sched-%.46s-%lld", zone, due_s);
    snprintf(cmd->target, sizeof(cmd->target), "%s", zone);
    snprintf(cmd->operator_name, sizeof(cmd->operator_name), "%s", SCHED_OPERATOR);
    cmd->force = false;
    cmd->source = CORE_SRC_SCHEDULE;
}
