/*
 * test_policy.c - the shelving policy by role (docs/commands.md), in the
 * core: which alarm a guard, an officer or an unsigned site may hide.
 *
 * The site: an armed store with a critical door and a high motion
 * detector, an always-armed zone with a tamper loop, one device.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_fixture.h"
#include "harness.h"

#define HOUR_MS 3600000

static void start(struct fixture_run *r)
{
    struct cfg_site *s = fixture_site("depot");
    int dev = fixture_add_device(s, "io");
    int store = fixture_add_zone(s, "store", true, false, 0), day = fixture_add_zone(s, "always", true, true, 0);

    fixture_add_point(s, "door", CFG_KIND_DOOR, dev, store);
    fixture_add_point(s, "pir", CFG_KIND_MOTION, dev, store);
    fixture_add_point(s, "tamper", CFG_KIND_TAMPER, dev, day);
    s->points[0].priority = CFG_PRIO_CRITICAL;
    for (int p = 0; p < 4; p++)
        s->rules.max_shelve_ms[p] = (p + 1) * HOUR_MS;
    fixture_run_start(r, s);
}

/* Each input comes a second after the one before. */
static void step(struct fixture_run *r, struct core_input *in)
{
    fixture_run_step(r, in, r->now_ms + 1000);
}

static void sample(struct fixture_run *r, const char *point, double v)
{
    fixture_run_sample(r, point, v, r->now_ms + 1000);
}

/* Sends a shelve for an hour and returns the core's result (error "" when it ran). */
static const struct core_result *shelve(struct fixture_run *r, const char *alarm, enum cfg_role role, bool reason)
{
    struct core_input in = {.type = CORE_IN_CMD};

    snprintf(in.u.cmd.id, sizeof(in.u.cmd.id), "c-%llu", (unsigned long long)r->now_ms);
    in.u.cmd.op = CORE_CMD_SHELVE;
    snprintf(in.u.cmd.target, sizeof(in.u.cmd.target), "%s", alarm);
    snprintf(in.u.cmd.operator_name, sizeof(in.u.cmd.operator_name), "someone");
    in.u.cmd.duration_ms = HOUR_MS;
    in.u.cmd.role = role;
    in.u.cmd.reason_given = reason;
    step(r, &in);
    for (size_t i = 0; i < r->n; i++)
        if (r->out[i].type == CORE_OUT_RESULT)
            return &r->out[i].u.result;
    return NULL;
}

static void expect_refused(const struct core_result *res, const char *why)
{
    EXPECT(res && !res->ok && strcmp(res->error, why) == 0, "got %s", res ? res->error : "no result");
}

/* "A guard cannot make a critical store door go quiet; an officer can, for at most its limit." */
static void guard_cannot_shelve_a_critical_door(void)
{
    struct fixture_run r;
    const struct core_result *res;

    start(&r);
    sample(&r, "door", 1);
    expect_refused(shelve(&r, "door.intrusion", CFG_ROLE_GUARD, true),
                   "a guard may not shelve a critical alarm; ask an officer");
    res = shelve(&r, "door.intrusion", CFG_ROLE_OFFICER, false);
    EXPECT(res && res->ok, "an officer could not: %s", res ? res->error : "no result");
    EXPECT_STR(core_state_name(core_alarm_state(r.core, core_find_alarm(r.core, "door.intrusion"))), "shelved");
    fixture_run_stop(&r);
}

/* "The tamper loop of a 24-hour zone and a lost device stay in sight of the guard post." */
static void guard_cannot_shelve_24_hour_or_comm_alarms(void)
{
    struct fixture_run r;
    struct core_input down = {.type = CORE_IN_COMM};

    start(&r);
    sample(&r, "tamper", 1);
    expect_refused(shelve(&r, "tamper.tamper", CFG_ROLE_GUARD, true),
                   "a guard may not shelve a 24-hour alarm; ask an officer");
    down.u.comm.device = 0;
    step(&r, &down);
    expect_refused(shelve(&r, "io.comm_loss", CFG_ROLE_GUARD, true),
                   "a guard may not shelve a system or communication alarm; ask an officer");
    fixture_run_stop(&r);
}

/* "A guard may shelve an active nuisance alarm, but not one in advance." */
static void guard_shelves_only_what_is_active(void)
{
    struct fixture_run r;
    const struct core_result *res;

    start(&r);
    expect_refused(shelve(&r, "pir.intrusion", CFG_ROLE_GUARD, true),
                   "a guard may not shelve an alarm that is not active");
    sample(&r, "pir", 1);
    res = shelve(&r, "pir.intrusion", CFG_ROLE_GUARD, false);
    EXPECT(res && res->ok, "a guard could not shelve an active high alarm: %s", res ? res->error : "no result");
    fixture_run_stop(&r);
}

/* "An officer may shelve in advance for maintenance, but only saying why." */
static void officer_shelves_in_advance_only_with_a_reason(void)
{
    struct fixture_run r;
    const struct core_result *res;

    start(&r);
    expect_refused(shelve(&r, "pir.intrusion", CFG_ROLE_OFFICER, false),
                   "an alarm that is not active may be shelved in advance only with a comment saying why");
    res = shelve(&r, "pir.intrusion", CFG_ROLE_OFFICER, true);
    EXPECT(res && res->ok, "with a reason: %s", res ? res->error : "no result");
    fixture_run_stop(&r);
}

/* "A site without operators keeps the rules it had before roles existed." */
static void unsigned_site_keeps_its_rules(void)
{
    struct fixture_run r;
    const struct core_result *res;

    start(&r);
    res = shelve(&r, "door.intrusion", CFG_ROLE_NONE, false);
    EXPECT(res && res->ok, "role none: %s", res ? res->error : "no result");
    fixture_run_stop(&r);
}

int main(void)
{
    RUN(guard_cannot_shelve_a_critical_door);
    RUN(guard_cannot_shelve_24_hour_or_comm_alarms);
    RUN(guard_shelves_only_what_is_active);
    RUN(officer_shelves_in_advance_only_with_a_reason);
    RUN(unsigned_site_keeps_its_rules);
    HARNESS_EXIT();
}
