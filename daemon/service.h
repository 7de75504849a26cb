/*
 * service.h - systemd integration: readiness, status line and watchdog.
 *
 * vigild runs as a Type=notify service. The main thread tells the service
 * manager when the config is loaded (svc_ready), keeps a one-line summary in
 * "systemctl status" (svc_status), brackets a SIGHUP reload with
 * svc_reloading() ... svc_ready(), and says svc_stopping() on shutdown.
 *
 * The watchdog proves liveness of the workers, not just of the main loop:
 * WATCHDOG=1 goes out only while every worker's progress counter keeps
 * moving, so one hung thread stops the pings and systemd restarts vigild.
 *
 * Without NOTIFY_SOCKET (run by hand, in tests) every call is a cheap no-op.
 * Call these from one thread only (the main loop); they keep no locks.
 */
#ifndef VIGIL_SERVICE_H
#define VIGIL_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

#define SVC_WATCHDOG_MAX 4 /* progress counters one watchdog can watch */

/* Sends READY=1 and STATUS=status; also ends a reload begun by svc_reloading(). */
void svc_ready(const char *status);
/* Sends STATUS= with a one-line summary, e.g. "devices 5/5 up, 2 active alarms". */
void svc_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void svc_reloading(void);
void svc_stopping(void);

/*
 * Watchdog state. The caller owns it (zero or stack storage is fine) and
 * fills it with svc_watchdog_init(). last[] holds the counters as they were
 * at the last ping (or at the first feed, the baseline); n is 0 until then.
 */
struct svc_watchdog {
    uint64_t interval_us;       /* WatchdogSec as systemd passed it */
    uint64_t last_ping_mono_ms; /* time of the last ping or of the baseline */
    uint64_t last[SVC_WATCHDOG_MAX];
    int n;
    bool enabled;
    struct log_complaint stuck; /* "worker N made no progress" while pings are withheld */
};

/* Reads WATCHDOG_USEC/WATCHDOG_PID; the watchdog stays disabled without them or NOTIFY_SOCKET. */
void svc_watchdog_init(struct svc_watchdog *w);

/*
 * Call from the main loop, often (every second or so), with the workers'
 * progress counters in a fixed order (poller, core, publisher), 1 <= n <=
 * SVC_WATCHDOG_MAX. Each worker must advance its counter on every loop turn,
 * idle turns included (a queue wait with a timeout), or an idle site would
 * look hung. Sends WATCHDOG=1 when svc_watchdog_due() says so.
 */
void svc_watchdog_feed(struct svc_watchdog *w, uint64_t now_mono_ms, const uint64_t *progress, int n);

/*
 * Pure decision: true if the watchdog is enabled, a baseline of the same n
 * counters exists, half the watchdog interval has passed since the last
 * ping, and every counter differs from its value at the last ping.
 */
bool svc_watchdog_due(const struct svc_watchdog *w, uint64_t now_mono_ms, const uint64_t *progress, int n);

#endif
