/*
 * influx_line.c - InfluxDB line protocol encoding (see influx_line.h).
 *
 * A line is built left to right in the caller's buffer; any write that
 * does not fit sets overflow, and ilp_finish then reports 0 so the caller
 * drops the whole line rather than send a truncated one.
 */
#include "influx_line.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "lineage.h"

static void put(struct ilp *l, const char *s, size_t n)
{
    if (l->overflow || l->len + n >= l->cap) {
        l->overflow = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    l->buf[l->len] = '\0';
}

static void put_char(struct ilp *l, char c)
{
    put(l, &c, 1);
}

/* True for a character that is escaped in a name or tag with this set. */
static bool special(char c, const char *escaped)
{
    return c == '\0' || c == '\n' || c == '\r' || strchr(escaped, c) != NULL;
}

/* Writes a measurement, tag key, tag value or field key: the characters in
 * `escaped` get a backslash, newlines become spaces (escaped too), and a
 * backslash InfluxDB would read as an escape becomes '/' (header). */
static void put_name(struct ilp *l, const char *s, const char *escaped)
{
    for (; *s; s++) {
        char c = (*s == '\n' || *s == '\r') ? ' ' : *s;
        if (c == '\\' && special(s[1], escaped))
            c = '/';
        if (strchr(escaped, c))
            put_char(l, '\\');
        put_char(l, c);
    }
}

void ilp_start(struct ilp *l, char *buf, size_t cap, const char *measurement)
{
    *l = (struct ilp){.buf = buf, .cap = cap};
    if (cap > 0)
        buf[0] = '\0';
    put_name(l, measurement, ", ");
}

void ilp_tag(struct ilp *l, const char *key, const char *value)
{
    assert(!l->in_fields); /* line protocol: tags, then fields */
    if (!value[0])
        return;
    put_char(l, ',');
    put_name(l, key, ",= ");
    put_char(l, '=');
    put_name(l, value, ",= ");
}

/* Starts a field: the separator and "key=". */
static void field_key(struct ilp *l, const char *key)
{
    put_char(l, l->fields ? ',' : ' ');
    put_name(l, key, ",= ");
    put_char(l, '=');
    l->in_fields = true;
    l->fields++;
}

/* Shortest of %.15g and %.17g that reads back as the same double. */
void ilp_float(struct ilp *l, const char *key, double v)
{
    char num[32];
    if (!isfinite(v))
        return;
    snprintf(num, sizeof num, "%.15g", v);
    if (strtod(num, NULL) != v)
        snprintf(num, sizeof num, "%.17g", v);
    field_key(l, key);
    put(l, num, strlen(num));
}

void ilp_int(struct ilp *l, const char *key, int64_t v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%" PRId64 "i", v);
    field_key(l, key);
    put(l, num, (size_t)n);
}

void ilp_bool(struct ilp *l, const char *key, bool v)
{
    field_key(l, key);
    put(l, v ? "true" : "false", v ? 4 : 5);
}

void ilp_str(struct ilp *l, const char *key, const char *v)
{
    field_key(l, key);
    put_char(l, '"');
    for (; *v; v++) {
        char c = (*v == '\n' || *v == '\r') ? ' ' : *v;
        if (c == '"' || c == '\\')
            put_char(l, '\\');
        put_char(l, c);
    }
    put_char(l, '"');
}

size_t ilp_finish(struct ilp *l, int64_t ts_ms)
{
    char num[32];
    int n = snprintf(num, sizeof num, " %" PRId64 "\n", ts_ms);
    put(l, num, (size_t)n);
    if (l->overflow || l->fields == 0)
        return 0;
    return l->len;
}

size_t ilp_sample(char *buf, size_t cap, const char *site, const struct sink_sample *s, double high, double low,
                  int64_t ts_ms)
{
    struct ilp l;
    ilp_start(&l, buf, cap, "vigil_point");
    ilp_tag(&l, "device", s->device);
    ilp_tag(&l, "kind", cfg_kind_name(s->kind));
    ilp_tag(&l, "point", s->point);
    ilp_tag(&l, "site", site);
    ilp_tag(&l, "zone", s->zone);
    ilp_str(&l, "quality", isfinite(s->value) ? "good" : "unreadable");
    ilp_float(&l, "value", s->value);
    ilp_float(&l, "high", high);
    ilp_float(&l, "low", low);
    return ilp_finish(&l, ts_ms);
}

size_t ilp_event(char *buf, size_t cap, const char *site, const struct sink_event *e,
                 const struct ilp_alarm_extra *x, int64_t ts_ms)
{
    struct ilp l;
    char epoch[17];

    ilp_start(&l, buf, cap, "vigil_alarm");
    ilp_tag(&l, "device", e->device);
    ilp_tag(&l, "point", e->point);
    ilp_tag(&l, "priority", cfg_priority_name(e->priority));
    ilp_tag(&l, "shift", x->shift);
    ilp_tag(&l, "site", site);
    ilp_tag(&l, "state", core_state_name(e->state));
    ilp_tag(&l, "type", core_type_name(e->type));
    ilp_tag(&l, "zone", e->zone);
    /* seq, its epoch, the alarm id, the operator and the text are unbounded: fields, never tags */
    ilp_int(&l, "seq", (int64_t)e->seq);
    lin_epoch_hex(e->epoch, epoch);
    ilp_str(&l, "epoch", epoch);
    ilp_str(&l, "alarm", e->alarm);
    /* the alarm's latest attention and unacked, per (site, point, type), are what a console lists */
    ilp_int(&l, "attention", e->needs_attention);
    ilp_int(&l, "unacked", e->state == CORE_S_ACTIVE_UNACKED || e->state == CORE_S_RTN_UNACKED);
    ilp_str(&l, "operator", e->operator_name);
    ilp_str(&l, "text", e->text);
    /* A value not read now (its device is down, or not read since) is never written as one: only its quality. */
    if (core_quality_name(e->quality))
        ilp_str(&l, "quality", core_quality_name(e->quality));
    ilp_float(&l, "value", e->quality == CORE_Q_GOOD || e->quality == CORE_Q_NONE ? e->value : NAN);
    ilp_float(&l, "ack_s", x->ack_s);
    return ilp_finish(&l, ts_ms);
}

size_t ilp_zone(char *buf, size_t cap, const char *site, const struct sink_zone *z, int64_t ts_ms)
{
    struct ilp l;
    ilp_start(&l, buf, cap, "vigil_zone");
    ilp_tag(&l, "site", site);
    ilp_tag(&l, "zone", z->zone);
    ilp_int(&l, "armed", z->armed);
    ilp_str(&l, "name", z->name);
    ilp_str(&l, "operator", z->operator_name);
    return ilp_finish(&l, ts_ms);
}

size_t ilp_device(char *buf, size_t cap, const char *site, const struct sink_device *d, double requests_per_s,
                  int64_t ts_ms)
{
    struct ilp l;
    ilp_start(&l, buf, cap, "vigil_device");
    ilp_tag(&l, "device", d->device);
    ilp_tag(&l, "site", site);
    ilp_int(&l, "up", d->up);
    ilp_int(&l, "polls", (int64_t)d->polls);
    ilp_int(&l, "failures", (int64_t)d->failures);
    if (d->rtt_ms >= 0)
        ilp_int(&l, "rtt_ms", d->rtt_ms);
    ilp_float(&l, "requests_per_s", requests_per_s);
    ilp_str(&l, "name", d->name);
    return ilp_finish(&l, ts_ms);
}

size_t ilp_dropped(char *buf, size_t cap, const char *site, uint64_t dropped_total, int64_t ts_ms)
{
    struct ilp l;
    ilp_start(&l, buf, cap, "vigil_influx_dropped");
    ilp_tag(&l, "site", site);
    ilp_int(&l, "dropped", (int64_t)dropped_total);
    return ilp_finish(&l, ts_ms);
}
