/*
 * corethread.h - the core thread: the one owner of the core, the journal
 * and the sinks.
 *
 * Threads and their one job each:
 *   - one poller thread per Modbus bus (poller.c) pushes samples and comm
 *     changes into the input queue;
 *   - the command gate (cmdgate.c), called from each command source's own
 *     thread, pushes verified commands into the same queue;
 *   - the core thread (this module, run by vigild's main thread) pops
 *     inputs, stamps them once, feeds the core, journals, syncs, and only
 *     then hands the records of what the core produced to every sink.
 *
 * The order inside one batch is the promise that no alarm is lost:
 *   pop inputs -> stamp -> core_step -> journal append -> journal fsync ->
 *   deliver records to every sink.
 * If the process dies after the fsync, recovery re-feeds the journal and
 * re-delivers; if it dies before, the inputs are polled again. The journal
 * keeps every input after the slowest lossless sink's durable seq.
 *
 * docs/architecture.md draws the threads, queues and sinks on one page.
 */
#ifndef VIGIL_CORETHREAD_H
#define VIGIL_CORETHREAD_H

#include <stdbool.h>

#include "config.h"
#include "sink.h"

struct corethread;

struct corethread_options {
    const char *config_path;       /* re-read on reload */
    const char *profile_dir;       /* NULL: the config's or the default */
    const char *state_dir;         /* NULL: $STATE_DIRECTORY, else the config's state_dir */
    const char *version;           /* shown in status payloads and the restart event */
    /* Sinks the caller started (tests): added after the built-in ones, before recovery, so they
     * see every record from the first recovered event on. The set owns them. */
    const struct sink *extra_sinks;
    int n_extra_sinks;
};

/*
 * Starts everything for site (owned from here on, also on failure): the
 * state directory, the sinks, journal recovery, the schedules and the
 * pollers. Returns NULL if vigild cannot run; the reason is logged.
 */
struct corethread *ct_start(struct cfg_site *site, const struct corethread_options *o);

/*
 * One round: wait for inputs or the next timer (at most 200 ms), run a
 * batch, tick the sinks, and take the result of a reload if it is ready.
 * Returns 0, or -1 if a reload left the pollers of no config running (the
 * caller stops vigild rather than run blind).
 */
int ct_round(struct corethread *ct);

/*
 * Starts re-reading the config file off the core thread, bounded in time
 * (10 s; cfgreload.h); later rounds take the result: a valid config is
 * switched to with every alarm's state kept by id; an invalid one, or one
 * that takes too long to read, changes nothing and raises config_rejected.
 * A request while a read is running is ignored.
 */
void ct_reload(struct corethread *ct);

/* Stops pollers and sinks, writes a final snapshot when every sink is durable, frees everything. */
void ct_stop(struct corethread *ct);

#endif
