/*
 * test_siren.c - the station's receipts and the site's siren as core
 * inputs and outputs: what a depot officer expects of them, and that a
 * restored core (a restart, a replay) makes the same decisions.
 *
 * The site: one armed store with a door of critical priority and a motion
 * detector of low priority; receipts of critical and low events are
 * expected within 5 s; a missed critical receipt switches the local output.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_fixture.h"
#include "harness.h"

#define TIMEOUT_MS 5000

static struct cfg_site *siren_site(void)
{
    struct cfg_site *s = fixture_site("depot");
    int dev = fixture_add_device(s, "io");
    int z = fixture_add_zone(s, "store", true, false, 0);
    int door = fixture_add_point(s, "door", CFG_KIND_DOOR, dev, z);
    int motion = fixture_add_point(s, "motion", CFG_KIND_MOTION, dev, z);

    s->points[door].priority = CFG_PRIO_CRITICAL;
    s->points[motion].priority = CFG_PRIO_LOW;
    s->receipts = (struct cfg_receipts){
        .enabled = true,
        .priorities = 1u << CFG_PRIO_CRITICAL | 1u << CFG_PRIO_LOW,
        .timeout_ms = TIMEOUT_MS,
        .local_output = {.enabled = true, .device = dev, .priorities = 1u << CFG_PRIO_CRITICAL},
    };
    return s;
}

static void start(struct fixture_run *r)
{
    fixture_run_start(r, siren_site());
}

static void tick(struct fixture_run *r, uint64_t at)
{
    struct core_input in = {.type = CORE_IN_TICK};

    fixture_run_step(r, &in, at);
}

static void receipt(struct fixture_run *r, uint64_t seq, uint64_t at)
{
    struct core_input in = {.type = CORE_IN_RECEIPT};

    in.u.receipt.n = 1;
    in.u.receipt.seqs[0] = seq;
    fixture_run_step(r, &in, at);
}

/* The one output of type t in the last step, or NULL (several also give NULL). */
static const struct core_output *only(const struct fixture_run *r, enum core_output_type t)
{
    const struct core_output *found = NULL;

    for (size_t i = 0; i < r->n; i++)
        if (r->out[i].type == t) {
            if (found)
                return NULL;
            found = &r->out[i];
        }
    return found;
}

static size_t count(const struct fixture_run *r, enum core_output_type t)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n; i++)
        n += r->out[i].type == t;
    return n;
}

/* "A door alarm the station never confirms is sent again, and the siren on site goes on." */
static void missed_critical_receipt_sounds_the_siren(void)
{
    struct fixture_run r;
    const struct core_output *o;

    start(&r);
    fixture_run_sample(&r, "door", 1, 1000);
    EXPECT_INT(count(&r, CORE_OUT_EVENT), 1);
    EXPECT_INT(core_next_deadline(r.core), 1000 + TIMEOUT_MS);
    tick(&r, 1000 + TIMEOUT_MS - 1);
    EXPECT_INT(r.n, 0);
    tick(&r, 1000 + TIMEOUT_MS);
    o = only(&r, CORE_OUT_RETRY);
    EXPECT(o && o->u.retry.seq == 1 && o->u.retry.first_miss && o->u.retry.escalating && o->u.retry.retry == 1,
           "no first retry of seq 1");
    o = only(&r, CORE_OUT_LOCAL);
    EXPECT(o && o->u.local.on && o->u.local.missing == 1, "the siren did not go on");
    tick(&r, 1000 + 2 * TIMEOUT_MS);
    o = only(&r, CORE_OUT_RETRY);
    EXPECT(o && o->u.retry.retry == 2 && !o->u.retry.first_miss, "no second retry");
    EXPECT_INT(count(&r, CORE_OUT_LOCAL), 0);
    fixture_run_stop(&r);
}

/* "Once the station confirms the alarm, the siren stops; it is not switched twice." */
static void late_receipt_silences_the_siren(void)
{
    struct fixture_run r;
    const struct core_output *o;

    start(&r);
    fixture_run_sample(&r, "door", 1, 1000);
    tick(&r, 1000 + TIMEOUT_MS);
    receipt(&r, 1, 7000);
    o = only(&r, CORE_OUT_LOCAL);
    EXPECT(o && !o->u.local.on, "the siren stayed on after the receipt");
    EXPECT_INT(core_next_deadline(r.core), UINT64_MAX);
    receipt(&r, 1, 7100); /* the same receipt over the second path */
    EXPECT_INT(r.n, 0);
    fixture_run_stop(&r);
}

/* "A confirmed alarm never sounds the siren; a missed low-priority one is re-sent but stays quiet." */
static void prompt_receipt_and_low_priority_stay_quiet(void)
{
    struct fixture_run r;
    const struct core_output *o;

    start(&r);
    fixture_run_sample(&r, "door", 1, 1000);
    receipt(&r, 1, 1500);
    fixture_run_sample(&r, "motion", 1, 2000);
    tick(&r, 2000 + TIMEOUT_MS);
    o = only(&r, CORE_OUT_RETRY);
    EXPECT(o && o->u.retry.seq == 2 && !o->u.retry.escalating, "the motion event was not re-sent");
    EXPECT_INT(count(&r, CORE_OUT_LOCAL), 0);
    fixture_run_stop(&r);
}

/* "A restart does not forget that the siren is on, nor the alarms it waits for." */
static void restored_core_keeps_the_siren_and_its_reasons(void)
{
    struct fixture_run a, b;
    size_t len;
    void *snap;

    start(&a);
    start(&b);
    fixture_run_sample(&a, "door", 1, 1000);
    fixture_run_sample(&a, "motion", 1, 1200);
    tick(&a, 1000 + TIMEOUT_MS);
    EXPECT(only(&a, CORE_OUT_LOCAL) && only(&a, CORE_OUT_LOCAL)->u.local.on, "the siren did not go on");
    len = core_snapshot(a.core, NULL, 0);
    snap = malloc(len);
    EXPECT(snap && core_snapshot(a.core, snap, len) == len && core_restore(b.core, snap, len) == 0,
           "the snapshot did not restore");
    EXPECT_INT(core_next_deadline(b.core), core_next_deadline(a.core));
    receipt(&a, 1, 7000);
    receipt(&b, 1, 7000);
    EXPECT(only(&b, CORE_OUT_LOCAL) && !only(&b, CORE_OUT_LOCAL)->u.local.on,
           "the restored core did not switch the siren off");
    EXPECT(a.n == b.n && memcmp(a.out, b.out, a.n * sizeof(*a.out)) == 0, "live and restored cores differ");
    EXPECT(only(&b, CORE_OUT_RETRY) && only(&b, CORE_OUT_RETRY)->u.retry.seq == 2, "the motion retry was lost");
    tick(&a, 7000 + TIMEOUT_MS);
    tick(&b, 7000 + TIMEOUT_MS);
    EXPECT(only(&b, CORE_OUT_RETRY) && only(&b, CORE_OUT_RETRY)->u.retry.retry == 2, "no second motion retry");
    EXPECT(a.n == b.n && memcmp(a.out, b.out, a.n * sizeof(*a.out)) == 0, "live and restored cores differ later");
    free(snap);
    fixture_run_stop(&a);
    fixture_run_stop(&b);
}

/* "Without a receipts group, nothing is ever re-sent and no siren is switched." */
static void no_receipts_no_siren(void)
{
    struct fixture_run r;

    start(&r);
    core_free(r.core);
    r.site->receipts.enabled = false;
    r.core = core_new(r.site);
    fixture_run_sample(&r, "door", 1, 1000);
    tick(&r, 1000 + 10 * TIMEOUT_MS);
    EXPECT_INT(r.n, 0);
    EXPECT_INT(core_next_deadline(r.core), UINT64_MAX);
    fixture_run_stop(&r);
}

int main(void)
{
    RUN(missed_critical_receipt_sounds_the_siren);
    RUN(late_receipt_silences_the_siren);
    RUN(prompt_receipt_and_low_priority_stay_quiet);
    RUN(restored_core_keeps_the_siren_and_its_reasons);
    RUN(no_receipts_no_siren);
    HARNESS_EXIT();
}
