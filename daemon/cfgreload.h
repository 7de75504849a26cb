/*
 * cfgreload.h - reading a new configuration off the core thread.
 *
 * A reload (SIGHUP) parses and validates the whole config, its includes
 * and its profiles. That reads files, and a file system can stall (a hung
 * network mount, a dying disk): on the core thread that would stop alarms
 * and heartbeats. So cfg_load() runs in a short-lived thread of its own
 * while the core thread keeps running batches, and the core thread polls
 * for the result each round. A load that takes too long is abandoned: the
 * core thread raises config_rejected and goes on with the running config;
 * the thread frees whatever it read when (if ever) it returns.
 *
 * At most one loader thread lives at a time, an abandoned one included:
 * a reload while one still runs is refused (cfgreload_start() says so), so
 * a stuck file system cannot pile up threads.
 */
#ifndef VIGIL_CFGRELOAD_H
#define VIGIL_CFGRELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct cfgreload;

/*
 * Starts reading config_path (profile_dir may be NULL, as for cfg_load())
 * in a thread of its own; both strings are copied. NULL with the reason
 * in err if a loader thread is still running or none can be started.
 */
struct cfgreload *cfgreload_start(const char *config_path, const char *profile_dir, char *err, size_t errlen);

/*
 * Whether the load has finished: 0 not yet; 1 finished, and then r is
 * freed, *took_ms is how long the load took and *site is the new site
 * (the caller owns it; free with cfg_free) or NULL with every error, as
 * cfg_load() writes them, in err.
 */
int cfgreload_poll(struct cfgreload *r, struct cfg_site **site, uint64_t *took_ms, char *err, size_t errlen);

/* Gives up on r (which the caller must forget): the thread frees what it reads when it returns. */
void cfgreload_abandon(struct cfgreload *r);

#endif
