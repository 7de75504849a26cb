/*
 * log.c - levelled, rate-limitable log lines to stderr (see log.h).
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static enum log_level max_level = LOG_LVL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_name(enum log_level lvl)
{
    switch (lvl) {
    case LOG_LVL_ERR: return "error";
    case LOG_LVL_WARN: return "warning";
    case LOG_LVL_NOTICE: return "notice";
    case LOG_LVL_INFO: return "info";
    default: return "debug";
    }
}

void log_set_level(enum log_level max)
{
    max_level = max;
}

static void log_vline(enum log_level lvl, const char *suffix, const char *fmt, va_list ap)
{
    static int journald = -1;

    if (lvl > max_level)
        return;
    pthread_mutex_lock(&log_lock);
    if (journald < 0)
        journald = getenv("JOURNAL_STREAM") != NULL;
    if (journald)
        fprintf(stderr, "<%d>", (int)lvl);
    fprintf(stderr, "level=%s ", level_name(lvl));
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "%s\n", suffix);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vline(lvl, "", fmt, ap);
    va_end(ap);
}

void log_complain(struct log_complaint *c, uint64_t now_ms, enum log_level lvl, const char *fmt, ...)
{
    char suffix[64] = "";
    va_list ap;

    if (c->active && now_ms < c->next_ms) {
        c->muted++;
        return;
    }
    c->interval_ms = !c->active ? 1000 : (c->interval_ms >= 3600000 ? 3600000 : c->interval_ms * 2);
    c->next_ms = now_ms + c->interval_ms;
    c->active = true;
    if (c->muted)
        snprintf(suffix, sizeof(suffix), " repeated=%u", c->muted);
    c->muted = 0;
    va_start(ap, fmt);
    log_vline(lvl, suffix, fmt, ap);
    va_end(ap);
}

void log_release(struct log_complaint *c, enum log_level lvl, const char *fmt, ...)
{
    va_list ap;

    if (!c->active)
        return;
    c->active = false;
    c->muted = 0;
    va_start(ap, fmt);
    log_vline(lvl, "", fmt, ap);
    va_end(ap);
}
