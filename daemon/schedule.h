/*
 * schedule.h - zone arming schedules: arm and disarm zones at local times.
 *
 * A zone's schedule (struct cfg_schedule in config.h) says "arm at 18:00,
 * disarm at 07:00, Monday to Friday" in the site's local time. This module
 * is shell logic, not part of the event core: it decides when such an action
 * is due and turns it into an ordinary CORE_IN_CMD arm/disarm command
 * (operator "schedule"), which the core thread feeds and journals like any
 * operator command. The core never learns about wall-clock time or time
 * zones, and journal replay stays exact because the commands are recorded.
 *
 * Local time: the computations use localtime_r() in the process time zone.
 * vigild has one site, so it sets TZ for the whole process to
 * site->timezone (sched_set_timezone(), called from the core thread, the
 * only thread that reads local time): sched_init() does it at start-up and
 * sched_poll() again when a reloaded site names another zone.
 *
 * Daylight-saving days (sched_next): a time that occurs once fires then; a
 * time inside the spring-forward gap (02:30 when clocks jump 02:00 -> 03:00)
 * fires once at the first instant after the gap (03:00 local); a time in the
 * repeated hour of a fall-back (02:30 when clocks go 03:00 -> 02:00) fires
 * once, at its first occurrence. 18:00 fires at 18:00 every day.
 *
 * Wall-clock steps (sched_poll): an action fires once when the wall clock
 * reaches or passes its instant. If the clock steps forward past instants,
 * each skipped action fires once, late, if it is at most SCHED_LATE_MAX_MS
 * late; an older skipped action fires only if it is an arm and the zone's
 * most recent scheduled action (fail-secure: arming late is safe, disarming
 * hours late is not). If the clock steps back, nothing fires again until it
 * passes the latest instant already handled; a step back of more than
 * SCHED_BACK_MAX_MS means the old time was wrong, and the schedule restarts
 * from the new time without firing anything for the jump itself.
 */
#ifndef VIGIL_SCHEDULE_H
#define VIGIL_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "core.h"

#define SCHED_LATE_MAX_MS (60 * 60 * 1000LL)      /* a skipped action this late still fires */
#define SCHED_BACK_MAX_MS (12 * 60 * 60 * 1000LL) /* a longer step back restarts the schedule */
#define SCHED_OPERATOR "schedule"                 /* operator_name of scheduled commands */

enum sched_op { SCHED_ARM, SCHED_DISARM };

/* One due action: arm or disarm zone (an index into site->zones). */
struct sched_action {
    int zone;
    enum sched_op op;
    int64_t due_wall_ms;      /* the scheduled instant, UTC ms */
};

/*
 * Where a site's schedules stand. Plain data owned by the caller; set it up
 * with sched_init(). Everything scheduled at or before (done_ms, done_key)
 * has been handled; next_* caches the first action after it.
 */
struct sched {
    int64_t done_ms;
    int done_key;
    bool next_known;
    struct sched_action next;
    int next_key;
    const struct cfg_site *site;  /* the site the cache was computed for */
    uint64_t site_hash;
    char timezone[CFG_ID_MAX];    /* the TZ this process runs on; "" until set */
};

/*
 * Sets the process time zone to an IANA name (TZ=":<name>" and tzset()).
 * Process-global: call it only from the thread that reads local time.
 * Returns 0, or -1 if the environment cannot be changed.
 */
int sched_set_timezone(const char *tz);

/*
 * Starts a schedule state for site and sets the process time zone to the
 * site's. Actions at or before since_wall_ms count as handled: vigild
 * passes the wall time of the last journaled input, so an action missed
 * while it was stopped is caught up like a forward step of the clock (0 on
 * a first start: only a zone's latest action, if an arm, is run). Call it
 * again after changing a site's schedules in place.
 */
void sched_init(struct sched *s, const struct cfg_site *site, int64_t since_wall_ms);

/*
 * Returns 1 and fills *act with the next action due at now_wall_ms, or 0
 * when nothing is due. Call it until it returns 0; each action is returned
 * once. A changed site (another pointer or config hash, e.g. after a
 * reload) or time zone is picked up on the next call.
 */
int sched_poll(struct sched *s, const struct cfg_site *site, int64_t now_wall_ms, struct sched_action *act);

/*
 * Pure given the process time zone: the first instant (UTC ms) after
 * after_wall_ms at which entry e does op, or INT64_MAX if it never does.
 */
int64_t sched_next(const struct cfg_schedule *e, enum sched_op op, int64_t after_wall_ms);

/* The last instant at or before at_wall_ms at which e does op, or INT64_MIN. */
int64_t sched_prev(const struct cfg_schedule *e, enum sched_op op, int64_t at_wall_ms);

/*
 * Writes the core command for act into *in: CORE_IN_CMD arm/disarm of the
 * zone, operator "schedule", id "sched-<zone>-<due epoch s>", not forced
 * (an arm refused because points are open comes back as a failed result).
 * The caller stamps mono_ms and wall_ms.
 */
void sched_command(const struct cfg_site *site, const struct sched_action *act, struct core_input *in);

#endif
