/*
 * test_walktest.c - walk test mode of the event core, as the installing
 * engineer and the station see it.
 *
 * A small store: a disarmed zone "store1" with a door and a PIR, and an
 * armed zone "office" with a door. The engineer puts store1 in test, opens
 * the door, and the station must get the intrusion marked test; the PIR is
 * never walked, so the report must show it as not seen. The test ends by
 * itself at its timeout, and the dates survive a snapshot.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_fixture.h"
#include "harness.h"
#include "message.h"

#define MIN_MS 60000

static void start(struct fixture_run *r)
{
    struct cfg_site *s = fixture_site("depot-7");
    int io = fixture_add_device(s, "io-1");
    int store = fixture_add_zone(s, "store1", false, false, 0);
    int office = fixture_add_zone(s, "office", true, false, 0);

    fixture_add_point(s, "store1-door", CFG_KIND_DOOR, io, store);
    fixture_add_point(s, "store1-pir", CFG_KIND_MOTION, io, store);
    fixture_add_point(s, "office-door", CFG_KIND_DOOR, io, office);
    fixture_run_start(r, s);
}

/* Feeds in at r->now_ms, the time the test set. */
static void step(struct fixture_run *r, struct core_input *in)
{
    fixture_run_step(r, in, r->now_ms);
}

static void sample(struct fixture_run *r, const char *point, double v)
{
    fixture_run_sample(r, point, v, r->now_ms);
}

static void command(struct fixture_run *r, enum core_cmd_op op, const char *zone, int64_t duration_ms)
{
    struct core_input in = {.type = CORE_IN_CMD};

    in.u.cmd.op = op;
    in.u.cmd.duration_ms = duration_ms;
    snprintf(in.u.cmd.id, sizeof(in.u.cmd.id), "c-%llu", (unsigned long long)r->now_ms);
    snprintf(in.u.cmd.target, sizeof(in.u.cmd.target), "%s", zone);
    snprintf(in.u.cmd.operator_name, sizeof(in.u.cmd.operator_name), "eng-kai");
    step(r, &in);
}

static void tick(struct fixture_run *r)
{
    struct core_input in = {.type = CORE_IN_TICK};

    step(r, &in);
}

/* The event of alarm id among the last outputs, or NULL. */
static const struct core_event *event_of(const struct fixture_run *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->out[i].type == CORE_OUT_EVENT && strcmp(core_alarm_info(r->core, r->out[i].u.event.alarm)->id, id) == 0)
            return &r->out[i].u.event;
    return NULL;
}

static const struct core_output *output_of(const struct fixture_run *r, enum core_output_type t)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->out[i].type == t)
            return &r->out[i];
    return NULL;
}

static bool result_ok(const struct fixture_run *r)
{
    const struct core_output *o = output_of(r, CORE_OUT_RESULT);

    return o && o->u.result.ok;
}

/* Both doors and the PIR closed and quiet: a reading before the test, so a change during it counts. */
static void all_closed(struct fixture_run *r)
{
    sample(r, "store1-door", 0);
    sample(r, "store1-pir", 0);
    sample(r, "office-door", 0);
}

/* "A door opened during the walk test is reported tested, with the date." */
static void test_door_opened_in_walk_test_is_tested(void)
{
    struct fixture_run r;
    int door, pir;
    const struct core_output *t;

    start(&r);
    door = fixture_find_point(r.site, "store1-door");
    pir = fixture_find_point(r.site, "store1-pir");
    all_closed(&r);
    r.now_ms = 1000;
    command(&r, CORE_CMD_WALKTEST_START, "store1", 30 * MIN_MS);
    EXPECT(result_ok(&r), "the walk test did not start");
    t = output_of(&r, CORE_OUT_ZONE);
    EXPECT(t && t->u.zone.test && !t->u.zone.armed, "the zone is not reported in test");
    EXPECT(t && t->u.zone.test_until_wall_ms == FIXTURE_WALL0 + 1000 + 30 * MIN_MS, "the end is not reported");
    r.now_ms = 5000;
    sample(&r, "store1-door", 1);
    t = output_of(&r, CORE_OUT_TESTED);
    EXPECT(t && t->u.tested.point == door && t->u.tested.wall_ms == FIXTURE_WALL0 + 5000, "the door was not recorded tested");
    EXPECT(core_point_walked(r.core, door), "the report does not list the door as seen");
    EXPECT(!core_point_walked(r.core, pir), "the PIR was never walked, yet listed as seen");
    EXPECT_INT(core_point_tested_ms(r.core, door), FIXTURE_WALL0 + 5000);
    EXPECT_INT(core_point_tested_ms(r.core, pir), 0);
    fixture_run_stop(&r);
}

/* "A zone in test still sends its alarms, marked test" - even when disarmed. */
static void test_zone_in_test_sends_alarms_marked_test(void)
{
    struct fixture_run r;
    const struct core_event *ev;
    char text[256];

    start(&r);
    all_closed(&r);
    r.now_ms = 1000;
    sample(&r, "store1-door", 1);
    EXPECT(!event_of(&r, "store1-door.intrusion"), "a disarmed door raised an intrusion outside a test");
    sample(&r, "store1-door", 0);
    command(&r, CORE_CMD_WALKTEST_START, "store1", 30 * MIN_MS);
    r.now_ms = 2000;
    sample(&r, "store1-door", 1);
    ev = event_of(&r, "store1-door.intrusion");
    EXPECT(ev && ev->state == CORE_S_ACTIVE_UNACKED, "the door in test raised no intrusion");
    EXPECT(ev && ev->test, "the intrusion is not marked test");
    if (ev) {
        msg_event_text(r.site, core_alarm_info(r.core, ev->alarm), ev, text, sizeof(text));
        EXPECT(strstr(text, "(walk test)") != NULL, "text without \"(walk test)\": %s", text);
    }
    sample(&r, "office-door", 1);
    ev = event_of(&r, "office-door.intrusion");
    EXPECT(ev && !ev->test, "an alarm of a zone not in test is marked test");
    fixture_run_stop(&r);
}

/* "The test ends by itself" at its timeout; the disarmed zone goes quiet again. */
static void test_walk_test_ends_by_itself(void)
{
    struct fixture_run r;
    const struct core_output *z;
    int door;

    start(&r);
    door = fixture_find_point(r.site, "store1-door");
    all_closed(&r);
    command(&r, CORE_CMD_WALKTEST_START, "store1", 10 * MIN_MS);
    EXPECT(core_next_deadline(r.core) == 10 * MIN_MS, "no timer for the end of the test");
    r.now_ms = 10 * MIN_MS;
    tick(&r);
    z = output_of(&r, CORE_OUT_ZONE);
    EXPECT(z && !z->u.zone.test, "the test did not end at its timeout");
    r.now_ms += 1000;
    sample(&r, "store1-door", 1);
    EXPECT(!event_of(&r, "store1-door.intrusion"), "the disarmed zone still raises alarms after its test");
    EXPECT(!output_of(&r, CORE_OUT_TESTED), "a change after the test counted as tested");
    EXPECT(!core_point_walked(r.core, door), "a change after the test counted as seen");
    fixture_run_stop(&r);
}

/* The engineer stops the test early; a stop without a test is refused in words. */
static void test_stop_and_refusals(void)
{
    struct fixture_run r;
    const struct core_output *o;

    start(&r);
    command(&r, CORE_CMD_WALKTEST_STOP, "store1", 0);
    o = output_of(&r, CORE_OUT_RESULT);
    EXPECT(o && !o->u.result.ok && strcmp(o->u.result.error, "zone store1 is not in walk test") == 0,
           "got \"%s\"", o ? o->u.result.error : "no result");
    command(&r, CORE_CMD_WALKTEST_START, "nowhere", MIN_MS);
    o = output_of(&r, CORE_OUT_RESULT);
    EXPECT(o && !o->u.result.ok && strcmp(o->u.result.error, "unknown zone \"nowhere\"") == 0, "unknown zone");
    command(&r, CORE_CMD_WALKTEST_START, "store1", MIN_MS);
    command(&r, CORE_CMD_WALKTEST_STOP, "store1", 0);
    EXPECT(result_ok(&r), "the stop was refused");
    o = output_of(&r, CORE_OUT_ZONE);
    EXPECT(o && !o->u.zone.test, "the zone still reported in test");
    EXPECT(core_next_deadline(r.core) == UINT64_MAX, "the test's timer is still running");
    fixture_run_stop(&r);
}

/* The test dates, the running test and its timeout survive a restart (snapshot version 4). */
static void test_dates_survive_a_restart(void)
{
    struct fixture_run r, again;
    size_t len;
    void *snap;
    struct core_zone_change zc;

    start(&r);
    all_closed(&r);
    command(&r, CORE_CMD_WALKTEST_START, "store1", 30 * MIN_MS);
    r.now_ms = 4000;
    sample(&r, "store1-door", 1);
    len = core_snapshot(r.core, NULL, 0);
    snap = malloc(len);
    EXPECT(core_snapshot(r.core, snap, len) == len, "snapshot size changed");
    start(&again);
    EXPECT(core_restore(again.core, snap, len) == 0, "the snapshot did not restore");
    EXPECT_INT(core_point_tested_ms(again.core, fixture_find_point(again.site, "store1-door")), FIXTURE_WALL0 + 4000);
    EXPECT(core_point_walked(again.core, fixture_find_point(again.site, "store1-door")), "seen mark lost");
    core_zone_test(again.core, 0, &zc);
    EXPECT(zc.test && zc.test_until_wall_ms == FIXTURE_WALL0 + 30 * MIN_MS, "the running test was lost");
    EXPECT(core_next_deadline(again.core) == 30 * MIN_MS, "the test's timeout was lost");
    free(snap);
    fixture_run_stop(&again);
    fixture_run_stop(&r);
}

int main(void)
{
    RUN(test_door_opened_in_walk_test_is_tested);
    RUN(test_zone_in_test_sends_alarms_marked_test);
    RUN(test_walk_test_ends_by_itself);
    RUN(test_stop_and_refusals);
    RUN(test_dates_survive_a_restart);
    HARNESS_EXIT();
}
