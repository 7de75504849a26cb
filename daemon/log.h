/*
 * log.h - one line per event, with a level and key=value fields.
 *
 * Lines go to stderr. Under systemd (JOURNAL_STREAM set) each line starts
 * with a "<N>" syslog priority prefix that journald turns into the level.
 * log_complain()/log_release() rate-limit a repeating error the way
 * collectd's c_complain() does: log once, then at growing intervals, and
 * once more when it clears. log.c is thread-safe.
 */
#ifndef VIGIL_LOG_H
#define VIGIL_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_set_level(enum log_level max);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)    log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* State of one rate-limited complaint; zero-initialise it. */
struct log_complaint {
    uint64_t next_ms;   /* monotonic time before which repeats are muted */
    uint64_t interval_ms;
    unsigned muted;     /* repeats not logged since the last line */
    bool active;
};

/* Logs at most once per growing interval (1 s doubling to 1 h) while a fault repeats. */
void log_complain(struct log_complaint *c, uint64_t now_ms, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Logs once that the fault cleared, if it had been complained about. */
void log_release(struct log_complaint *c, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
