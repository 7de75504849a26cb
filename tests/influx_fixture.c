/*
 * influx_fixture.c - shared set-up of the InfluxDB sink's tests (see
 * influx_fixture.h).
 */
#include "influx_fixture.h"

#include <stdio.h>
#include <stdlib.h>

#include "influxd.h"

struct cfg_site *ifx_site(const char *site_id, const char *url, const char *db, int max_points)
{
    struct cfg_site *s = calloc(1, sizeof *s);
    struct cfg_influx *x = &s->influx;

    s->points = calloc((size_t)max_points + 1, sizeof *s->points);
    s->analogs = calloc((size_t)max_points + 1, sizeof *s->analogs); /* one for each point, as config.c does */
    snprintf(s->id, sizeof s->id, "%s", site_id);
    snprintf(s->state_dir, sizeof s->state_dir, "/nonexistent");
    *x = (struct cfg_influx){.enabled = true, .api = CFG_INFLUX_V1, .gzip = true, .batch_lines = 5000,
                             .batch_ms = 50, .max_lines = 100000, .max_bytes = 8 << 20, .timeout_ms = 15000,
                             .deadband = 0.1, .refresh_ms = 60000, .health_ms = 3600000, .n_shifts = 3,
                             .shift_min = {6 * 60, 14 * 60, 22 * 60}};
    snprintf(x->url, sizeof x->url, "%s", url);
    snprintf(x->database, sizeof x->database, "%s", db);
    snprintf(x->username, sizeof x->username, INFLUXD_USER);
    snprintf(x->password, sizeof x->password, INFLUXD_PASSWORD);
    return s;
}

void ifx_site_free(struct cfg_site *s)
{
    free(s->points);
    free(s->analogs);
    free(s);
}

void ifx_sample(struct influx *ix, const char *point, const char *zone, enum cfg_point_kind kind, double v,
                int64_t wall_ms)
{
    struct sink_record r = {.kind = SINK_SAMPLE, .wall_ms = wall_ms};

    snprintf(r.u.sample.point, sizeof r.u.sample.point, "%s", point);
    snprintf(r.u.sample.device, sizeof r.u.sample.device, "io-1");
    snprintf(r.u.sample.zone, sizeof r.u.sample.zone, "%s", zone);
    r.u.sample.kind = kind;
    r.u.sample.value = v;
    influx_sink_ops.deliver(ix, &r);
}
