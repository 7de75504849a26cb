/*
 * test_schedule.c - zone arming schedules: local times across daylight
 * saving changes, wall-clock steps, the commands they become, and the
 * config errors of a schedule.
 *
 * Expected instants are written as UTC with the offsets of the zone worked
 * out by hand (Europe/Sarajevo: CET +1, CEST +2, changes 2026-03-29 02:00
 * and 2026-10-25 03:00; America/New_York: EST -5, EDT -4, changes
 * 2026-03-08 02:00 and 2026-11-01 02:00), so the tz database the code reads
 * is checked against an oracle that does not use it.
 *
 * Runs are simulated by polling sched_poll() minute by minute (or at the
 * instants a scenario needs) with a wall clock the test owns.
 */
#include "config.h"
#include "core.h"
#include "core_fixture.h"
#include "harness.h"
#include "schedule.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIN_MS 60000LL
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)
#define MAX_FIRES 64
#define ERR_MAX 8192

#define SARAJEVO "Europe/Sarajevo"
#define NEW_YORK "America/New_York"
#define CET (1 * HOUR_MS)
#define CEST (2 * HOUR_MS)
#define EST (-5 * HOUR_MS)
#define EDT (-4 * HOUR_MS)

/* ---- helpers ------------------------------------------------------------- */

/* A UTC instant in ms; days may run past the month (timegm normalises). */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi };
    return (int64_t)timegm(&tm) * 1000;
}

/* The instant a local wall-clock time has under a UTC offset given by hand. */
static int64_t local_at(int y, int mo, int d, int h, int mi, int64_t offset_ms)
{
    return utc(y, mo, d, h, mi) - offset_ms;
}

static int minute_of(const char *hhmm)
{
    int h, m;
    return hhmm && sscanf(hhmm, "%d:%d", &h, &m) == 2 ? h * 60 + m : -1;
}

/* Bit set of weekdays from "smtwtfs"-style flags: days("-mtwtf-") = Mon..Fri. */
static unsigned days_of(const char *week)
{
    unsigned days = 0;
    for (int i = 0; i < 7; i++)
        days |= week[i] != '-' ? 1u << i : 0;
    return days;
}

/* A site in time zone tz with one disarmed zone per id, each scheduled
 * "arm at arm, disarm at disarm" on all days. */
static struct cfg_site *site_with(const char *tz, const char *arm, const char *disarm, int n_zones)
{
    static const char *const ids[] = { "store1", "store2", "store3" };
    struct cfg_site *s = fixture_site("t");
    snprintf(s->timezone, sizeof s->timezone, "%s", tz);
    for (int z = 0; z < n_zones; z++) {
        fixture_add_zone(s, ids[z], false, false, 0);
        s->zones[z].schedule[0] = (struct cfg_schedule){ minute_of(arm), minute_of(disarm), 0x7f, 1 };
        s->zones[z].n_schedule = 1;
    }
    return s;
}

struct fire {
    struct sched_action act;
    int64_t at_ms;            /* wall clock of the poll that returned it */
};

static struct fire fires[MAX_FIRES];
static int n_fires;

/* Polls once at now_ms, recording everything it returns. */
static void poll_at(struct sched *st, const struct cfg_site *s, int64_t now_ms)
{
    struct sched_action a;
    while (sched_poll(st, s, now_ms, &a) == 1) {
        if (n_fires < MAX_FIRES)
            fires[n_fires] = (struct fire){ a, now_ms };
        n_fires++;
    }
}

/* Starts a fresh run of site s handled up to since_ms with no fires recorded. */
static void start_run(struct sched *st, const struct cfg_site *s, int64_t since_ms)
{
    sched_init(st, s, since_ms);
    n_fires = 0;
}

/* Polls every step_ms from `from` up to and including `to`. */
static void run_clock(struct sched *st, const struct cfg_site *s, int64_t from, int64_t to, int64_t step_ms)
{
    for (int64_t t = from; t <= to; t += step_ms)
        poll_at(st, s, t);
}

static void expect_fire(int i, int zone, enum sched_op op, int64_t due_ms)
{
    EXPECT(i < n_fires, "fire %d missing (%d fires)", i, n_fires);
    if (i >= n_fires || i >= MAX_FIRES)
        return;
    EXPECT(fires[i].act.zone == zone && fires[i].act.op == op && fires[i].act.due_wall_ms == due_ms,
           "fire %d: zone %d op %d due %lld; want zone %d op %d due %lld", i, fires[i].act.zone,
           (int)fires[i].act.op, (long long)fires[i].act.due_wall_ms, zone, (int)op, (long long)due_ms);
}

/* ---- the instant of a local time on DST change days ---------------------- */

struct instant_case {
    const char *tz;
    const char *time;
    enum sched_op op;
    bool next;                /* sched_next (first after) or sched_prev (last at or before) */
    int64_t from_ms;
    int64_t want_ms;
};

static void instants_on_change_days(void)
{
    const struct instant_case cases[] = {
        /* 18:00 is 18:00 local on both sides of each change */
        { SARAJEVO, "18:00", SCHED_ARM, true, utc(2026, 3, 28, 12, 0), local_at(2026, 3, 28, 18, 0, CET) },
        { SARAJEVO, "18:00", SCHED_ARM, true, utc(2026, 3, 29, 0, 0), local_at(2026, 3, 29, 18, 0, CEST) },
        { SARAJEVO, "18:00", SCHED_ARM, true, utc(2026, 10, 24, 12, 0), local_at(2026, 10, 24, 18, 0, CEST) },
        { SARAJEVO, "18:00", SCHED_ARM, true, utc(2026, 10, 25, 0, 0), local_at(2026, 10, 25, 18, 0, CET) },
        /* 02:30 in the spring gap: at 03:00 CEST, the first instant after it */
        { SARAJEVO, "02:30", SCHED_DISARM, true, utc(2026, 3, 28, 23, 0), local_at(2026, 3, 29, 3, 0, CEST) },
        { SARAJEVO, "02:30", SCHED_DISARM, true, local_at(2026, 3, 29, 3, 0, CEST),
          local_at(2026, 3, 30, 2, 30, CEST) },
        /* 02:30 in the repeated hour: the first (CEST) one, and not again */
        { SARAJEVO, "02:30", SCHED_ARM, true, utc(2026, 10, 24, 22, 0), local_at(2026, 10, 25, 2, 30, CEST) },
        { SARAJEVO, "02:30", SCHED_ARM, true, local_at(2026, 10, 25, 2, 30, CEST),
          local_at(2026, 10, 26, 2, 30, CET) },
        { SARAJEVO, "02:30", SCHED_ARM, false, local_at(2026, 10, 25, 2, 45, CET),
          local_at(2026, 10, 25, 2, 30, CEST) },
        { NEW_YORK, "18:00", SCHED_ARM, true, utc(2026, 3, 7, 12, 0), local_at(2026, 3, 7, 18, 0, EST) },
        { NEW_YORK, "18:00", SCHED_ARM, true, utc(2026, 3, 8, 12, 0), local_at(2026, 3, 8, 18, 0, EDT) },
        { NEW_YORK, "18:00", SCHED_ARM, true, utc(2026, 10, 31, 12, 0), local_at(2026, 10, 31, 18, 0, EDT) },
        { NEW_YORK, "18:00", SCHED_ARM, true, utc(2026, 11, 1, 12, 0), local_at(2026, 11, 1, 18, 0, EST) },
        { NEW_YORK, "02:30", SCHED_ARM, true, utc(2026, 3, 8, 5, 0), local_at(2026, 3, 8, 3, 0, EDT) },
        /* New York repeats 01:00..02:00; 02:30 that day happens once, in EST */
        { NEW_YORK, "01:30", SCHED_ARM, true, utc(2026, 11, 1, 4, 0), local_at(2026, 11, 1, 1, 30, EDT) },
        { NEW_YORK, "01:30", SCHED_ARM, true, local_at(2026, 11, 1, 1, 30, EDT),
          local_at(2026, 11, 2, 1, 30, EST) },
        { NEW_YORK, "02:30", SCHED_ARM, true, utc(2026, 11, 1, 4, 0), local_at(2026, 11, 1, 2, 30, EST) },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct instant_case *c = &cases[i];
        int m = minute_of(c->time);
        struct cfg_schedule e = { c->op == SCHED_ARM ? m : -1, c->op == SCHED_DISARM ? m : -1, 0x7f, 1 };
        EXPECT(sched_set_timezone(c->tz) == 0, "cannot set TZ");
        int64_t got = c->next ? sched_next(&e, c->op, c->from_ms) : sched_prev(&e, c->op, c->from_ms);
        EXPECT(got == c->want_ms, "case %zu (%s %s): got %lld, want %lld (off by %lld min)", i, c->tz, c->time,
               (long long)got, (long long)c->want_ms, (long long)(got - c->want_ms) / MIN_MS);
    }
}

/* ---- a week around each change, minute by minute ------------------------- */

struct change {
    const char *tz;
    int y, mo, d;             /* the change day */
    int64_t before, after;    /* UTC offset before and after it */
};

static const struct change changes[] = {
    { SARAJEVO, 2026, 3, 29, CET, CEST },
    { SARAJEVO, 2026, 10, 25, CEST, CET },
    { NEW_YORK, 2026, 3, 8, EST, EDT },
    { NEW_YORK, 2026, 11, 1, EDT, EST },
};

/* Disarm at 07:00 and arm at 18:00 fire exactly once each local day, at
 * those local times, from three days before each change to two after. */
static void arm_at_18_once_every_day_around_changes(void)
{
    for (size_t c = 0; c < sizeof changes / sizeof *changes; c++) {
        const struct change *ch = &changes[c];
        struct cfg_site *s = site_with(ch->tz, "18:00", "07:00", 1);
        struct sched st;
        int64_t from = utc(ch->y, ch->mo, ch->d - 3, 3, 0), to = utc(ch->y, ch->mo, ch->d + 3, 3, 0);
        start_run(&st, s, from);
        run_clock(&st, s, from, to, MIN_MS);
        EXPECT(n_fires == 12, "%s %d-%02d-%02d: %d fires, want 12", ch->tz, ch->y, ch->mo, ch->d, n_fires);
        for (int k = 0; k < 6; k++) {
            int64_t off = k < 3 ? ch->before : ch->after;
            expect_fire(2 * k, 0, SCHED_DISARM, local_at(ch->y, ch->mo, ch->d - 3 + k, 7, 0, off));
            expect_fire(2 * k + 1, 0, SCHED_ARM, local_at(ch->y, ch->mo, ch->d - 3 + k, 18, 0, off));
        }
        for (int i = 0; i < n_fires && i < MAX_FIRES; i++)
            EXPECT(fires[i].at_ms == fires[i].act.due_wall_ms, "fire %d came %lld ms late", i,
                   (long long)(fires[i].at_ms - fires[i].act.due_wall_ms));
        fixture_free(s);
    }
}

/* A time inside the skipped or the repeated hour fires once on the change
 * day, like on any other day; polled every 10 s through both passes. */
static void skipped_and_repeated_hour_fire_once(void)
{
    const struct {
        int change;
        const char *time;
        int64_t want[3];      /* the day before, the change day, the day after */
    } cases[] = {
        { 0, "02:30", { local_at(2026, 3, 28, 2, 30, CET), local_at(2026, 3, 29, 3, 0, CEST),
                        local_at(2026, 3, 30, 2, 30, CEST) } },
        { 1, "02:30", { local_at(2026, 10, 24, 2, 30, CEST), local_at(2026, 10, 25, 2, 30, CEST),
                        local_at(2026, 10, 26, 2, 30, CET) } },
        { 2, "02:30", { local_at(2026, 3, 7, 2, 30, EST), local_at(2026, 3, 8, 3, 0, EDT),
                        local_at(2026, 3, 9, 2, 30, EDT) } },
        { 3, "01:30", { local_at(2026, 10, 31, 1, 30, EDT), local_at(2026, 11, 1, 1, 30, EDT),
                        local_at(2026, 11, 2, 1, 30, EST) } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct change *ch = &changes[cases[i].change];
        struct cfg_site *s = site_with(ch->tz, cases[i].time, NULL, 1);
        struct sched st;
        int64_t from = utc(ch->y, ch->mo, ch->d - 1, 0, 0), to = utc(ch->y, ch->mo, ch->d + 2, 0, 0);
        start_run(&st, s, from);
        run_clock(&st, s, from, to, 10000);
        EXPECT(n_fires == 3, "%s %s around %d-%02d-%02d: %d fires, want 3", ch->tz, cases[i].time, ch->y, ch->mo,
               ch->d, n_fires);
        for (int k = 0; k < 3; k++)
            expect_fire(k, 0, SCHED_ARM, cases[i].want[k]);
        fixture_free(s);
    }
}

/* Monday to Friday only: a week gives five arms and five disarms, on
 * weekdays. 2026-06-01 is a Monday. */
static void days_of_week_filter(void)
{
    struct cfg_site *s = site_with(SARAJEVO, "18:00", "07:00", 1);
    struct sched st;
    s->zones[0].schedule[0].days = days_of("-mtwtf-");
    start_run(&st, s, utc(2026, 5, 31, 0, 0));
    run_clock(&st, s, utc(2026, 5, 31, 0, 0), utc(2026, 6, 8, 0, 0), MIN_MS);
    EXPECT(n_fires == 10, "%d fires, want 10", n_fires);
    for (int k = 0; k < 5; k++) {
        expect_fire(2 * k, 0, SCHED_DISARM, local_at(2026, 6, 1 + k, 7, 0, CEST));
        expect_fire(2 * k + 1, 0, SCHED_ARM, local_at(2026, 6, 1 + k, 18, 0, CEST));
    }
    fixture_free(s);
}

/* ---- wall-clock steps ----------------------------------------------------- */

/* NTP steps the clock from 17:55 to 18:05: the 18:00 arm fires once, late. */
static void forward_step_fires_once_late(void)
{
    struct cfg_site *s = site_with(SARAJEVO, "18:00", "18:30", 1);
    struct sched st;
    start_run(&st, s, local_at(2026, 6, 1, 17, 50, CEST));
    poll_at(&st, s, local_at(2026, 6, 1, 17, 55, CEST));
    EXPECT_INT(n_fires, 0);
    poll_at(&st, s, local_at(2026, 6, 1, 18, 5, CEST));
    poll_at(&st, s, local_at(2026, 6, 1, 18, 5, CEST));
    poll_at(&st, s, local_at(2026, 6, 1, 18, 6, CEST));
    EXPECT_INT(n_fires, 1);
    expect_fire(0, 0, SCHED_ARM, local_at(2026, 6, 1, 18, 0, CEST));
    /* a step over both times of the zone runs both, in order */
    poll_at(&st, s, local_at(2026, 6, 2, 17, 50, CEST));
    poll_at(&st, s, local_at(2026, 6, 2, 18, 40, CEST));
    EXPECT_INT(n_fires, 3);
    expect_fire(1, 0, SCHED_ARM, local_at(2026, 6, 2, 18, 0, CEST));
    expect_fire(2, 0, SCHED_DISARM, local_at(2026, 6, 2, 18, 30, CEST));
    fixture_free(s);
}

/* The clock steps back half an hour after the arm: 18:00 does not fire a
 * second time that day, not even across a reload (a new site with the
 * same schedule) while the clock is behind, and does fire the next day. */
static void backward_step_does_not_fire_again(void)
{
    struct cfg_site *s = site_with(SARAJEVO, "18:00", NULL, 1);
    struct cfg_site *reloaded = site_with(SARAJEVO, "18:00", NULL, 1);
    struct sched st;
    start_run(&st, s, local_at(2026, 6, 1, 17, 0, CEST));
    run_clock(&st, s, local_at(2026, 6, 1, 17, 0, CEST), local_at(2026, 6, 1, 18, 20, CEST), MIN_MS);
    EXPECT_INT(n_fires, 1);
    run_clock(&st, s, local_at(2026, 6, 1, 17, 50, CEST), local_at(2026, 6, 1, 17, 55, CEST), MIN_MS);
    run_clock(&st, reloaded, local_at(2026, 6, 1, 17, 56, CEST), local_at(2026, 6, 2, 17, 59, CEST), MIN_MS);
    EXPECT_INT(n_fires, 1);
    run_clock(&st, reloaded, local_at(2026, 6, 2, 18, 0, CEST), local_at(2026, 6, 2, 18, 10, CEST), MIN_MS);
    EXPECT_INT(n_fires, 2);
    expect_fire(1, 0, SCHED_ARM, local_at(2026, 6, 2, 18, 0, CEST));
    fixture_free(s);
    fixture_free(reloaded);
}

/* A step back of more than 12 h means the old time was wrong: the schedule
 * runs again from the corrected time. */
static void big_backward_step_restarts_from_new_time(void)
{
    struct cfg_site *s = site_with(SARAJEVO, "18:00", NULL, 1);
    struct sched st;
    start_run(&st, s, local_at(2026, 6, 3, 17, 0, CEST));
    poll_at(&st, s, local_at(2026, 6, 3, 18, 0, CEST));
    EXPECT_INT(n_fires, 1);
    poll_at(&st, s, local_at(2026, 6, 1, 17, 0, CEST)); /* back two days: fires nothing itself */
    EXPECT_INT(n_fires, 1);
    run_clock(&st, s, local_at(2026, 6, 1, 17, 1, CEST), local_at(2026, 6, 1, 18, 1, CEST), MIN_MS);
    EXPECT_INT(n_fires, 2);
    expect_fire(1, 0, SCHED_ARM, local_at(2026, 6, 1, 18, 0, CEST));
    fixture_free(s);
}

/*
 * Fail-secure after big forward steps: a skipped arm that is the zone's
 * latest action fires however late; a disarm more than an hour late never
 * does; within the hour both fire.
 */
static void big_forward_step_is_fail_secure(void)
{
    struct cfg_site *s = site_with(SARAJEVO, "18:00", "07:00", 1);
    struct sched st;
    start_run(&st, s, local_at(2026, 6, 1, 16, 0, CEST));
    poll_at(&st, s, local_at(2026, 6, 1, 17, 0, CEST));
    poll_at(&st, s, local_at(2026, 6, 3, 12, 0, CEST)); /* 43 h: the latest action is a disarm, 5 h ago */
    EXPECT_INT(n_fires, 0);
    poll_at(&st, s, local_at(2026, 6, 3, 20, 0, CEST)); /* 8 h: the 18:00 arm, 2 h late */
    EXPECT_INT(n_fires, 1);
    expect_fire(0, 0, SCHED_ARM, local_at(2026, 6, 3, 18, 0, CEST));
    poll_at(&st, s, local_at(2026, 6, 4, 6, 0, CEST));
    poll_at(&st, s, local_at(2026, 6, 4, 8, 30, CEST)); /* the 07:00 disarm, 90 min late: not run */
    EXPECT_INT(n_fires, 1);
    poll_at(&st, s, local_at(2026, 6, 5, 6, 50, CEST));
    EXPECT_INT(n_fires, 2); /* the 18:00 arm of the 4th, 12 h 50 min late but the latest action */
    expect_fire(1, 0, SCHED_ARM, local_at(2026, 6, 4, 18, 0, CEST));
    poll_at(&st, s, local_at(2026, 6, 5, 7, 40, CEST)); /* 40 min late: runs */
    EXPECT_INT(n_fires, 3);
    expect_fire(2, 0, SCHED_DISARM, local_at(2026, 6, 5, 7, 0, CEST));
    fixture_free(s);
}

/* A gateway without a real-time clock boots in 1970 and NTP jumps it to
 * 2026: at 20:00 the zone is armed, once, by the day's 18:00 arm. */
static void jump_from_1970_arms_once(void)
{
    struct cfg_site *s = site_with(SARAJEVO, "18:00", "07:00", 1);
    struct sched st;
    start_run(&st, s, 0);
    poll_at(&st, s, local_at(2026, 6, 1, 20, 0, CEST));
    poll_at(&st, s, local_at(2026, 6, 1, 20, 1, CEST));
    EXPECT_INT(n_fires, 1);
    expect_fire(0, 0, SCHED_ARM, local_at(2026, 6, 1, 18, 0, CEST));
    fixture_free(s);
}

/* vigild starts with the time of its last journaled input: an arm due
 * while it was stopped for ten minutes is run at start, late. */
static void restart_catches_up_a_missed_arm(void)
{
    struct cfg_site *s = site_with(SARAJEVO, "18:00", "07:00", 1);
    struct sched st;
    start_run(&st, s, local_at(2026, 6, 1, 17, 55, CEST));
    poll_at(&st, s, local_at(2026, 6, 1, 18, 5, CEST));
    EXPECT_INT(n_fires, 1);
    expect_fire(0, 0, SCHED_ARM, local_at(2026, 6, 1, 18, 0, CEST));
    fixture_free(s);
}

/* Two zones armed at the same minute both fire, in config order. */
static void zones_due_together_both_fire(void)
{
    struct cfg_site *s = site_with(SARAJEVO, "18:00", NULL, 3);
    struct sched st;
    start_run(&st, s, local_at(2026, 6, 1, 17, 0, CEST));
    run_clock(&st, s, local_at(2026, 6, 1, 17, 0, CEST), local_at(2026, 6, 1, 19, 0, CEST), MIN_MS);
    EXPECT_INT(n_fires, 3);
    for (int z = 0; z < 3; z++)
        expect_fire(z, z, SCHED_ARM, local_at(2026, 6, 1, 18, 0, CEST));
    fixture_free(s);
}

/* A reload hands sched_poll another site: its schedule and time zone apply
 * from the next poll on. */
static void reloaded_site_is_followed(void)
{
    struct cfg_site *a = site_with(SARAJEVO, "18:00", NULL, 1);
    struct cfg_site *b = site_with(SARAJEVO, "19:00", NULL, 1);
    struct cfg_site *c = site_with(NEW_YORK, "19:00", NULL, 1);
    struct sched st;
    start_run(&st, a, local_at(2026, 6, 1, 17, 0, CEST));
    poll_at(&st, a, local_at(2026, 6, 1, 17, 30, CEST));
    run_clock(&st, b, local_at(2026, 6, 1, 17, 31, CEST), local_at(2026, 6, 1, 19, 30, CEST), MIN_MS);
    run_clock(&st, c, local_at(2026, 6, 1, 19, 31, CEST), local_at(2026, 6, 1, 19, 30, EDT), MIN_MS);
    EXPECT_INT(n_fires, 2);
    expect_fire(0, 0, SCHED_ARM, local_at(2026, 6, 1, 19, 0, CEST));
    expect_fire(1, 0, SCHED_ARM, local_at(2026, 6, 1, 19, 0, EDT));
    fixture_free(a);
    fixture_free(b);
    fixture_free(c);
}

/* ---- the command and what the core does with it -------------------------- */

static void command_is_an_ordinary_unforced_arm(void)
{
    struct cfg_site *s = site_with(SARAJEVO, "18:00", "07:00", 1);
    struct sched_action arm = { 0, SCHED_ARM, local_at(2026, 6, 1, 18, 0, CEST) };
    struct sched_action disarm = { 0, SCHED_DISARM, local_at(2026, 6, 2, 7, 0, CEST) };
    struct core_input in;
    char want[64];
    sched_command(s, &arm, &in);
    snprintf(want, sizeof want, "sched-store1-%lld", (long long)(arm.due_wall_ms / 1000));
    EXPECT_INT(in.type, CORE_IN_CMD);
    EXPECT_INT(in.u.cmd.op, CORE_CMD_ARM);
    EXPECT_STR(in.u.cmd.id, want);
    EXPECT_STR(in.u.cmd.target, "store1");
    EXPECT_STR(in.u.cmd.operator_name, "schedule");
    EXPECT(!in.u.cmd.force, "a scheduled arm must not be forced");
    sched_command(s, &disarm, &in);
    EXPECT_INT(in.u.cmd.op, CORE_CMD_DISARM);
    fixture_free(s);
}

/* Feeds in at mono_ms into core c; returns the result output, counting
 * the zones armed by the schedule into *armed. */
static struct core_result feed_cmd(struct core *c, struct core_input *in, uint64_t mono_ms, int *armed)
{
    struct core_output *out = calloc(core_max_outputs(c), sizeof *out);
    struct core_result r = { .ok = false };
    in->mono_ms = mono_ms;
    in->wall_ms = local_at(2026, 6, 1, 18, 0, CEST);
    size_t n = out ? core_step(c, in, out) : 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i].type == CORE_OUT_RESULT)
            r = out[i].u.result;
        else if (out[i].type == CORE_OUT_ZONE)
            *armed += out[i].u.zone.armed && strcmp(out[i].u.zone.operator_name, "schedule") == 0;
    }
    free(out);
    return r;
}

/* The core arms the zone on the scheduled command; with a door open it
 * refuses and says why, as it would to a person. */
static void core_runs_the_command_or_says_why_not(void)
{
    struct cfg_site *s = site_with(SARAJEVO, "18:00", NULL, 2);
    int dev = fixture_add_device(s, "io");
    int door = fixture_add_point(s, "door2", CFG_KIND_DOOR, dev, 1);
    struct core *c = core_new(s);
    struct core_output *out = c ? calloc(core_max_outputs(c), sizeof *out) : NULL;
    struct core_input in = { .type = CORE_IN_SAMPLE, .mono_ms = 1000, .u.sample = { door, 1.0 } };
    int armed = 0;
    EXPECT(c && out, "core_new failed");
    if (!c || !out)
        return;
    core_step(c, &in, out);
    for (int z = 0; z < 2; z++) {
        struct sched_action a = { z, SCHED_ARM, local_at(2026, 6, 1, 18, 0, CEST) };
        sched_command(s, &a, &in);
        struct core_result r = feed_cmd(c, &in, 2000 + (uint64_t)z, &armed);
        EXPECT(r.ok == (z == 0), "zone %d: ok %d (%s)", z, r.ok, r.error);
        if (z == 1)
            EXPECT(strstr(r.error, "door2") != NULL, "the refusal names the open door: \"%s\"", r.error);
    }
    EXPECT_INT(armed, 1);
    EXPECT(core_zone_armed(c, 0) && !core_zone_armed(c, 1), "store1 armed, store2 (door open) not");
    free(out);
    core_free(c);
    fixture_free(s);
}

/* ---- configuration -------------------------------------------------------- */

static char tmpdir[256];
static char err[ERR_MAX];

#define MQTT "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; } ); };\n"
#define HEAD "site = { id = \"t\"; timezone = \"" SARAJEVO "\"; };\n" MQTT
#define BAD_TZ(tz) "site = { id = \"t\";\n  timezone = \"" tz "\"; };  #<\n" MQTT

/* Loads text from a temp file; returns the site (NULL on errors, in err). */
static struct cfg_site *load_text(const char *text, char *path, size_t path_len)
{
    snprintf(path, path_len, "%s/site.conf", tmpdir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    return cfg_load(path, tmpdir, err, sizeof err);
}

/* True if err has a line "path:line: " holding want, where line is the
 * line of text that carries the marker "#<". */
static bool error_at_marker(const char *text, const char *path, const char *want)
{
    char prefix[600];
    int line = 1;
    const char *mark = strstr(text, "#<");
    for (const char *p = text; mark && p < mark; p++)
        line += *p == '\n';
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    for (const char *p = err; (p = strstr(p, prefix)) != NULL; p++) {
        const char *end = strchr(p, '\n');
        const char *hit = strstr(p, want);
        if (hit && (!end || hit < end))
            return true;
    }
    return false;
}

static void schedule_config_loads(void)
{
    char path[512];
    struct cfg_site *s = load_text(HEAD "zones = ( { id = \"store1\"; schedule = (\n"
                                   "  { arm = \"18:00\"; disarm = \"7:05\"; days = [ \"mon\", \"fri\" ]; },\n"
                                   "  { arm = \"23:59\"; } ); },\n"
                                   "  { id = \"store2\"; } );\n", path, sizeof path);
    EXPECT(s != NULL, "load failed:\n%s", err);
    if (!s)
        return;
    EXPECT_STR(s->timezone, SARAJEVO);
    EXPECT_INT(s->zones[0].n_schedule, 2);
    EXPECT_INT(s->zones[0].schedule[0].arm_min, 18 * 60);
    EXPECT_INT(s->zones[0].schedule[0].disarm_min, 7 * 60 + 5);
    EXPECT_INT(s->zones[0].schedule[0].days, days_of("-m---f-"));
    EXPECT_INT(s->zones[0].schedule[0].line, 4);
    EXPECT_INT(s->zones[0].schedule[1].arm_min, 23 * 60 + 59);
    EXPECT_INT(s->zones[0].schedule[1].disarm_min, -1);
    EXPECT_INT(s->zones[0].schedule[1].days, 0x7f);
    EXPECT_INT(s->zones[1].n_schedule, 0);
    cfg_free(s);
}

static void schedule_config_errors(void)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        { HEAD "zones = ( { id = \"z1\"; schedule = (\n  { arm = \"25:00\"; } ); } );  #<\n",
          "zone \"z1\" schedule #1: arm \"25:00\" is not a time of day; expected a local time \"HH:MM\" from "
          "00:00 to 23:59" },
        { HEAD "zones = ( { id = \"z1\"; schedule = (\n  { disarm = \"7pm\"; } ); } );  #<\n",
          "disarm \"7pm\" is not a time of day" },
        { HEAD "zones = ( { id = \"z1\"; schedule = (\n  { arm = \"18:60\"; } ); } );  #<\n",
          "arm \"18:60\" is not a time of day" },
        { HEAD "zones = ( { id = \"z1\"; schedule = (\n  { arm = \"18:00\";\n"
          "    days = [ \"mon\", \"funday\" ]; } ); } );  #<\n",
          "days entry 2 (\"funday\") is not a day; expected one of: mon, tue, wed, thu, fri, sat, sun" },
        { HEAD "zones = ( { id = \"z1\"; schedule = (\n  { arm = \"18:00\"; days = [ ]; } ); } );  #<\n",
          "days is empty" },
        { HEAD "zones = ( { id = \"z1\"; schedule = (\n  { days = [ \"mon\" ]; } ); } );  #<\n",
          "entry has neither arm nor disarm" },
        { HEAD "zones = ( { id = \"z1\"; schedule = (\n  { arm = \"18:00\"; arme = \"19:00\"; } ); } );  #<\n",
          "unknown key \"arme\"; expected one of: arm, disarm, days" },
        { HEAD "zones = ( { id = \"z1\"; schedule = (\n  { arm = \"18:00\"; days = [ \"mon\" ]; },  #<\n"
          "  { disarm = \"18:00\"; days = [ \"mon\", \"tue\" ]; } ); } );\n",
          "arm at 18:00 and the disarm of entry #2 are at the same time on a common day" },
        { HEAD "zones = ( { id = \"z1\"; always_armed = true;\n  schedule = ( { arm = \"18:00\"; } ); } );  #<\n",
          "zone \"z1\": a 24-hour zone (always_armed) cannot have a schedule" },
        { BAD_TZ("Europe/Sarajvo"),
          "site: timezone \"Europe/Sarajvo\" is not in the time zone database; expected an IANA name" },
        { BAD_TZ("../../etc/passwd"), "timezone \"../../etc/passwd\" is not in the time zone database" },
        { BAD_TZ("zone.tab"), "timezone \"zone.tab\" is not in the time zone database" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[512];
        struct cfg_site *s = load_text(cases[i].text, path, sizeof path);
        EXPECT(s == NULL, "case %zu loaded although it is invalid", i);
        cfg_free(s);
        EXPECT(error_at_marker(cases[i].text, path, cases[i].want), "case %zu: no \"%s\" at the marked line in:\n%s",
               i, cases[i].want, err);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/vigil-sched-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 2;
    }
    RUN(instants_on_change_days);
    RUN(arm_at_18_once_every_day_around_changes);
    RUN(skipped_and_repeated_hour_fire_once);
    RUN(days_of_week_filter);
    RUN(forward_step_fires_once_late);
    RUN(backward_step_does_not_fire_again);
    RUN(big_backward_step_restarts_from_new_time);
    RUN(big_forward_step_is_fail_secure);
    RUN(jump_from_1970_arms_once);
    RUN(restart_catches_up_a_missed_arm);
    RUN(zones_due_together_both_fire);
    RUN(reloaded_site_is_followed);
    RUN(command_is_an_ordinary_unforced_arm);
    RUN(core_runs_the_command_or_says_why_not);
    RUN(schedule_config_loads);
    RUN(schedule_config_errors);
    char path[512];
    snprintf(path, sizeof path, "%s/site.conf", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    HARNESS_EXIT();
}
