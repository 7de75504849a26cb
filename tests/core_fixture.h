/*
 * core_fixture.h - builds a struct cfg_site in memory, without a config
 * file, for tests of modules that read the site model (the event core).
 *
 * Ownership: fixture_site() allocates the site; fixture_free() releases it
 * and every array added to it. Indexes returned by the fixture_add_*
 * functions stay valid; pointers into the arrays do not survive the next
 * add, so look points up again by index after adding more.
 */
#ifndef VIGIL_TEST_CORE_FIXTURE_H
#define VIGIL_TEST_CORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core.h"

/* An empty site with the documented default rules (chatter 3 in 60 s,
 * verify window 30 s, flood above 10 in 10 min, shelve at most 1 h / 4 h /
 * 24 h / 24 h by priority, comm_loss latching). */
struct cfg_site *fixture_site(const char *id);
void fixture_free(struct cfg_site *s);

/* Each returns the new index. A device gets comm_priority high; a point
 * gets the defaults of config.h (priority high, verify window 30 s); an
 * analog kind gets its analog part (no thresholds, no valid range or
 * sentinels, deadband 0) and an eol point the windows of a 2k2 loop:
 * normal 2000..2400, alarm 4200..4600, short 0..500, cut 20000..1e9 ohm. */
int fixture_add_device(struct cfg_site *s, const char *id);
int fixture_add_zone(struct cfg_site *s, const char *id, bool armed, bool always_armed, int entry_delay_ms);
int fixture_add_point(struct cfg_site *s, const char *id, enum cfg_point_kind kind, int device, int zone);

/* Index by id, or -1. */
int fixture_find_point(const struct cfg_site *s, const char *id);
int fixture_find_device(const struct cfg_site *s, const char *id);

/* Wall time of mono 0 in a fixture run: every input's wall_ms is FIXTURE_WALL0 + mono_ms. */
#define FIXTURE_WALL0 1700000000000LL

/* A core on a fixture site, fed one input at a time; out holds the last step's n outputs. */
struct fixture_run {
    struct cfg_site *site;
    struct core *core;
    struct core_output *out;
    size_t n;
    uint64_t now_ms;           /* the time of the last step */
};

/* Starts a core on site (the run owns it from now on); aborts if memory runs out. */
void fixture_run_start(struct fixture_run *r, struct cfg_site *site);
void fixture_run_stop(struct fixture_run *r);

/* Feeds in at at_ms (wall time alongside) and keeps its outputs in r. */
void fixture_run_step(struct fixture_run *r, struct core_input *in, uint64_t at_ms);

/* A sample of point (by id) at at_ms. */
void fixture_run_sample(struct fixture_run *r, const char *point, double v, uint64_t at_ms);

#endif
