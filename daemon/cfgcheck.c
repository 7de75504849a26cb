/*
 * cfgcheck.c - warnings about a valid site config (see cfgcheck.h).
 */
#include "cfgcheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "busload.h"

#define LINE_MAX_CHARS 1024

struct report {
    char *out;
    size_t len, used;
    int n;
};

__attribute__((format(printf, 4, 5)))
static void warn(struct report *r, const char *file, int line, const char *fmt, ...)
{
    char msg[LINE_MAX_CHARS];
    int n = snprintf(msg, sizeof msg, "%s:%d: warning: ", file ? file : "?", line);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    r->n++;
    if (!r->out || r->used + strlen(msg) + 2 > r->len)
        return;
    r->used += (size_t)sprintf(r->out + r->used, "%s\n", msg);
}

static void check_zones(const struct cfg_site *s, struct report *r)
{
    for (int i = 0; i < s->n_points; i++)
        if (s->points[i].zone < 0)
            warn(r, s->points[i].file, s->points[i].line, "point \"%s\" is in no zone, so no zone can arm, "
                 "disarm or name it; add zone = \"ID\"", s->points[i].id);
    for (int z = 0; z < s->n_zones; z++) {
        int n = 0;

        for (int i = 0; i < s->n_points; i++)
            n += s->points[i].zone == z;
        if (n == 0)
            warn(r, s->zones[z].file, s->zones[z].line, "zone \"%s\" has no points; give points zone = \"%s\" "
                 "or remove the zone", s->zones[z].id, s->zones[z].id);
    }
}

/* A delay shorter than the sampling interval: the core sees the input
 * change at most once per poll, so the delay is really the poll interval. */
static void check_delays(const struct cfg_site *s, struct report *r)
{
    for (int i = 0; i < s->n_points; i++) {
        const struct cfg_point *p = &s->points[i];
        const struct cfg_device *d = &s->devices[p->device];

        if (p->debounce_ms > 0 && p->debounce_ms < d->poll_ms)
            warn(r, p->file, p->line, "point \"%s\": debounce_ms %d is shorter than device \"%s\"'s poll_ms "
                 "%d, so it cannot filter anything; set poll_ms <= %d on the device or debounce_ms >= %d",
                 p->id, p->debounce_ms, d->id, d->poll_ms, p->debounce_ms, d->poll_ms);
        if (p->on_delay_ms > 0 && p->on_delay_ms < d->poll_ms)
            warn(r, p->file, p->line, "point \"%s\": on_delay_s %g is shorter than device \"%s\"'s poll_ms "
                 "%d; set poll_ms <= %d on the device or on_delay_s >= %g", p->id, p->on_delay_ms / 1000.0,
                 d->id, d->poll_ms, p->on_delay_ms, d->poll_ms / 1000.0);
    }
}

/* One RTU line: the sum over its devices of line time per poll interval. */
static void check_line(const struct cfg_site *s, int bus, struct report *r)
{
    const struct cfg_bus *b = &s->buses[bus];
    char terms[LINE_MAX_CHARS / 2] = "";
    size_t used = 0;
    double load = 0;

    for (int i = 0; i < s->n_devices; i++) {
        int requests, bytes;
        long us;

        if (s->devices[i].bus != bus || (us = busload_cycle_us(s, i, &requests, &bytes)) < 0)
            continue;
        load += (double)us / 1000.0 / s->devices[i].poll_ms;
        if (used < sizeof terms)
            used += (size_t)snprintf(terms + used, sizeof terms - used, "%s\"%s\" %d bytes x %d bits / %d baud + "
                                     "%d gaps x %.2f ms = %.1f ms every %d ms", used ? ", " : "",
                                     s->devices[i].id, bytes, busload_char_bits(b), b->baud, 2 * requests,
                                     busload_gap_us(b) / 1000.0, us / 1000.0, s->devices[i].poll_ms);
    }
    if (load > 1.0)
        warn(r, b->file, b->line, "RTU bus \"%s\" needs %.0f%% of its line time at %d baud: %s; raise poll_ms, "
             "raise the baud rate or split the devices over more lines", b->id, load * 100, b->baud, terms);
}

int cfgcheck_warnings(const struct cfg_site *site, char *out, size_t outlen)
{
    struct report r = { out, outlen, 0, 0 };

    if (out && outlen)
        out[0] = '\0';
    check_zones(site, &r);
    check_delays(site, &r);
    for (int b = 0; b < site->n_buses; b++)
        if (site->buses[b].type == CFG_BUS_RTU)
            check_line(site, b, &r);
    return r.n;
}

/* One file a broker names: a warning if it is not there. */
static void check_file(struct report *r, const struct cfg_broker *b, int n, const char *key, const char *path)
{
    struct stat st;

    if (path[0] && stat(path, &st) < 0)
        warn(r, b->file, b->line, "mqtt broker #%d: %s %s does not exist (yet); this path cannot connect until "
             "it does", n, key, path);
}

int cfgcheck_files(const struct cfg_site *site, char *out, size_t outlen)
{
    struct report r = { out, outlen, 0, 0 };

    if (out && outlen)
        out[0] = '\0';
    for (int i = 0; i < site->mqtt.n_brokers; i++) {
        const struct cfg_broker *b = &site->mqtt.brokers[i];

        check_file(&r, b, i + 1, "ca_file", b->ca_file);
        check_file(&r, b, i + 1, "ca_dir", b->ca_dir);
        check_file(&r, b, i + 1, "cert_file", b->cert_file);
        check_file(&r, b, i + 1, "key_file", b->key_file);
        check_file(&r, b, i + 1, "password_file", b->password_file);
    }
    return r.n;
}
