/*
 * service.c - sd_notify(3) messages for a Type=notify service (see service.h).
 *
 * Each message is one datagram of newline-separated assignments sent to the
 * socket named by $NOTIFY_SOCKET. The variable is read on every call rather
 * than cached, so a process started by hand pays one getenv() per call and
 * nothing else. A failed send is logged, rate-limited, and otherwise ignored:
 * a lost STATUS= is cosmetic, and a lost WATCHDOG=1 is retried at the next
 * feed because the watchdog only moves its baseline after a successful ping.
 */
#include "service.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "clock.h"

#define SVC_MSG_MAX 512 /* one datagram; a longer status line is cut short */

static struct log_complaint notify_failed;

/* True when a service manager listens for our notifications. */
static bool notify_wanted(void)
{
    return getenv("NOTIFY_SOCKET") != NULL;
}

/* Sends one message; returns > 0 if sent, 0 if nobody listens, < 0 on error. */
static int notify(const char *msg)
{
    int r = sd_notify(0, msg);

    if (r < 0) {
        log_complain(&notify_failed, clock_mono_ms(), LOG_LVL_WARN, "systemd: sd_notify %.*s failed: %s",
                     (int)strcspn(msg, "=\n"), msg, strerror(-r));
    } else if (r > 0) {
        log_release(&notify_failed, LOG_LVL_NOTICE, "systemd: sd_notify works again");
    }
    return r;
}

/*
 * Writes head followed by "STATUS=" and text into buf. Newlines in text
 * become spaces: in the datagram a newline would start a new assignment,
 * and a status text must never be able to say READY=1 or WATCHDOG=1.
 */
static void format_status(char *buf, size_t len, const char *head, const char *text)
{
    int off = snprintf(buf, len, "%sSTATUS=", head);
    size_t i;

    assert(off > 0 && (size_t)off < len);
    for (i = (size_t)off; *text != '\0' && i + 1 < len; text++, i++)
        buf[i] = *text == '\n' ? ' ' : *text;
    buf[i] = '\0';
}

void svc_ready(const char *status)
{
    char msg[SVC_MSG_MAX];

    if (!notify_wanted())
        return;
    format_status(msg, sizeof msg, "READY=1\n", status != NULL ? status : "");
    notify(msg);
}

void svc_status(const char *fmt, ...)
{
    char text[SVC_MSG_MAX], msg[SVC_MSG_MAX];
    va_list ap;

    if (!notify_wanted())
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    format_status(msg, sizeof msg, "", text);
    notify(msg);
}

void svc_reloading(void)
{
    if (notify_wanted())
        notify("RELOADING=1");
}

void svc_stopping(void)
{
    if (notify_wanted())
        notify("STOPPING=1");
}

void svc_watchdog_init(struct svc_watchdog *w)
{
    uint64_t usec = 0;
    int r;

    memset(w, 0, sizeof *w);
    if (!notify_wanted())
        return;
    /* Checks WATCHDOG_PID too: a child that inherited the variables must not ping. */
    r = sd_watchdog_enabled(0, &usec);
    if (r < 0) {
        log_warn("systemd: watchdog off: WATCHDOG_USEC/WATCHDOG_PID unreadable: %s", strerror(-r));
        return;
    }
    if (r == 0)
        return;
    w->enabled = true;
    w->interval_us = usec;
    log_info("systemd: watchdog on interval_ms=%llu", (unsigned long long)(usec / 1000u));
}

/* True once half the interval has passed since the last ping (or the baseline). */
static bool half_interval_passed(const struct svc_watchdog *w, uint64_t now_mono_ms)
{
    return now_mono_ms >= w->last_ping_mono_ms &&
           now_mono_ms - w->last_ping_mono_ms >= w->interval_us / 2000u;
}

/* Index of the first counter that has not moved since the last ping, or -1. */
static int first_stuck(const struct svc_watchdog *w, const uint64_t *progress, int n)
{
    for (int i = 0; i < n; i++) {
        if (progress[i] == w->last[i])
            return i;
    }
    return -1;
}

bool svc_watchdog_due(const struct svc_watchdog *w, uint64_t now_mono_ms, const uint64_t *progress, int n)
{
    return w->enabled && n >= 1 && n == w->n && half_interval_passed(w, now_mono_ms) &&
           first_stuck(w, progress, n) < 0;
}

/* Takes the counters as the new reference that the next ping is judged against. */
static void remember(struct svc_watchdog *w, uint64_t now_mono_ms, const uint64_t *progress, int n)
{
    memcpy(w->last, progress, (size_t)n * sizeof *progress);
    w->n = n;
    w->last_ping_mono_ms = now_mono_ms;
}

void svc_watchdog_feed(struct svc_watchdog *w, uint64_t now_mono_ms, const uint64_t *progress, int n)
{
    int stuck;

    assert(n >= 1 && n <= SVC_WATCHDOG_MAX);
    if (!w->enabled)
        return;
    if (n != w->n) {
        remember(w, now_mono_ms, progress, n);
        return;
    }
    if (svc_watchdog_due(w, now_mono_ms, progress, n)) {
        if (notify("WATCHDOG=1") > 0) {
            remember(w, now_mono_ms, progress, n);
            log_release(&w->stuck, LOG_LVL_NOTICE, "systemd: watchdog: every worker progresses again");
        }
        return;
    }
    /* Past half the interval with a counter still stuck: pings are being withheld, say which. */
    stuck = first_stuck(w, progress, n);
    if (stuck >= 0 && half_interval_passed(w, now_mono_ms))
        log_complain(&w->stuck, now_mono_ms, LOG_LVL_WARN,
                     "systemd: watchdog: worker=%d no progress for %llu ms; withholding WATCHDOG=1", stuck,
                     (unsigned long long)(now_mono_ms - w->last_ping_mono_ms));
}
