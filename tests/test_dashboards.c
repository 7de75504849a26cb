/*
 * test_dashboards.c - every panel query of the dashboards (dashboards/, JSON), run against a
 * real influxd holding known data written through the InfluxDB sink.
 *
 * Two sites' sinks write one day of a depot's life (alarms raised and
 * acknowledged in two guard shifts, climate samples, zone and device
 * records) plus their gateway health lines. Each panel's InfluxQL is taken
 * from the JSON, Grafana's macros are replaced ($timeFilter, $__interval,
 * $site), and the answer is rendered as "{tags} column=value ..." per
 * series and compared with what an officer must see on that panel. A panel
 * with no expectation here fails: a new panel needs its test.
 */
#include <dirent.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "harness.h"
#include "influx.h"
#include "influx_fixture.h"
#include "influxd.h"
#include "testproc.h"

#define DB "vigil"
#define HOUR 3600000LL

static struct influxd server;
static int64_t day0; /* yesterday 00:00 UTC */

/* What a panel must show; fnmatch patterns ('*' for values that move, as uptimes). */
static const struct {
    const char *title;
    const char *want;
} panels[] = {
    { "Sites online", "{} count=2" },
    { "Last heartbeat per site", "{site=depot-a} uptime_s=* influx_dropped=0 | {site=depot-b} uptime_s=* influx_dropped=0" },
    { "Active alarms by priority", "{priority=critical} active=1 | {priority=high} active=2 | {priority=medium} active=2" },
    { "Unacknowledged alarms", "{} unacknowledged=3" },
    { "Alarm timeline", "{} rows=8 priority=high type=perimeter state=active_unacked zone=store-1 point=fence-1 "
                        "operator= text=Perimeter alarm, fence 1" },
    { "Zone arm state", "{zone=store-1} armed=1 | {zone=store-2} armed=0" },
    { "Per-point state", "{kind=door,point=door-1,zone=store-1} value=1 quality=good | "
                         "{kind=humidity,point=h1,zone=store-1} value=55 quality=good | "
                         "{kind=temperature,point=t1,zone=store-1} value=19 quality=good" },
    { "Temperature per store", "{point=t1,zone=store-1} value=18.5 high=25 low=10" },
    { "Humidity per store", "{point=h1,zone=store-1} value=55 high=70 low=30" },
    { "Detectors by alarm count", "{point=door-1} alarms=1 | {point=door-2} alarms=1 | {point=door-3} alarms=1 | "
                                  "{point=fence-1} alarms=1" },
    { "Chattering points", "{point=door-3} chattering=1" },
    { "Comm faults per device", "{device=io-2} comm_loss=1" },
    { "Response times", "{device=io-1} rtt_ms=6" },
    { "Devices up", "{device=io-1} up=1 failures=0 requests_per_s=10 | {device=io-2} up=0 failures=5 "
                    "requests_per_s=null" },
    { "Time to acknowledge by priority", "{priority=critical} mean_s=60 p95_s=90 max_s=90 acks=2 | "
                                         "{priority=medium} mean_s=60 p95_s=60 max_s=60 acks=1" },
    { "Time to acknowledge by shift", "{shift=06:00} mean_s=45 p95_s=60 acks=2 | {shift=22:00} mean_s=90 p95_s=90 acks=1" },
    { "Time to acknowledge by priority and shift",
      "{priority=critical,shift=06:00} mean_s=30 max_s=30 acks=1 | {priority=critical,shift=22:00} mean_s=90 "
      "max_s=90 acks=1 | {priority=medium,shift=06:00} mean_s=60 max_s=60 acks=1" },
};

/* ---- the day, written through the sink ------------------------------------ */

/* A point with limits (an analog one), or without (NAN, NAN: a contact). */
static struct cfg_point *point(struct cfg_site *s, const char *id, double high, double low)
{
    struct cfg_point *p = &s->points[s->n_points++];
    p->id = id;                 /* a literal: outlives the site */
    p->name = "";
    if (!isnan(high) || !isnan(low)) {
        p->analog = &s->analogs[s->n_analogs++];
        *p->analog = (struct cfg_analog){.high = high, .low = low, .valid_min = NAN, .valid_max = NAN};
    }
    return p;
}

static struct cfg_site *site_for(const char *id)
{
    struct cfg_site *s = ifx_site(id, server.url, DB, 3);
    s->influx.health_ms = 300;
    point(s, "t1", 25, 10);
    point(s, "h1", 70, 30);
    point(s, "door-1", NAN, NAN);
    return s;
}

static void sample(struct influx *ix, const char *p, enum cfg_point_kind kind, double v, int64_t at)
{
    ifx_sample(ix, p, "store-1", kind, v, day0 + at);
}

struct alarm_spec {
    const char *point, *device, *type_text;
    enum core_alarm_type type;
    enum cfg_priority priority;
};

static void event(struct influx *ix, const struct alarm_spec *a, uint64_t seq, enum core_alarm_state st,
                  const char *op, int64_t at)
{
    struct sink_record r = {.kind = SINK_EVENT, .wall_ms = day0 + at};
    struct sink_event *e = &r.u.event;
    *e = (struct sink_event){.seq = seq, .type = a->type, .priority = a->priority, .state = st, .value = NAN,
                             .needs_attention = st != CORE_S_NORMAL};
    snprintf(e->alarm, sizeof e->alarm, "%s.%s", a->point[0] ? a->point : a->device, core_type_name(a->type));
    snprintf(e->point, sizeof e->point, "%s", a->point);
    snprintf(e->device, sizeof e->device, "%s", a->device);
    snprintf(e->zone, sizeof e->zone, "%s", a->point[0] ? "store-1" : "");
    snprintf(e->operator_name, sizeof e->operator_name, "%s", op);
    snprintf(e->text, sizeof e->text, "%s", a->type_text);
    influx_sink_ops.deliver(ix, &r);
}

static void zone(struct influx *ix, const char *z, bool armed, int64_t at)
{
    struct sink_record r = {.kind = SINK_ZONE, .wall_ms = day0 + at};
    snprintf(r.u.zone.zone, sizeof r.u.zone.zone, "%s", z);
    r.u.zone.armed = armed;
    influx_sink_ops.deliver(ix, &r);
}

static void device(struct influx *ix, const char *d, bool up, int64_t rtt, uint64_t polls, uint64_t failures,
                   int64_t at)
{
    struct sink_record r = {.kind = SINK_DEVICE, .wall_ms = day0 + at};
    r.u.device = (struct sink_device){.up = up, .rtt_ms = rtt, .polls = polls, .failures = failures};
    snprintf(r.u.device.device, sizeof r.u.device.device, "%s", d);
    influx_sink_ops.deliver(ix, &r);
}

static const struct alarm_spec door1 = {"door-1", "io-1", "Intrusion, store 1, door 1", CORE_T_INTRUSION, CFG_PRIO_CRITICAL};
static const struct alarm_spec door2 = {"door-2", "io-1", "Intrusion, store 1, door 2", CORE_T_INTRUSION, CFG_PRIO_CRITICAL};
static const struct alarm_spec fence1 = {"fence-1", "io-1", "Perimeter alarm, fence 1", CORE_T_PERIMETER, CFG_PRIO_HIGH};
static const struct alarm_spec door3 = {"door-3", "io-1", "Door 3 chattering", CORE_T_CHATTERING, CFG_PRIO_MEDIUM};
static const struct alarm_spec io2 = {"", "io-2", "No answer from io-2", CORE_T_COMM_LOSS, CFG_PRIO_HIGH};
static const struct alarm_spec pir1 = {"pir-1", "io-9", "Motion, store 9", CORE_T_INTRUSION, CFG_PRIO_MEDIUM};

/* Depot A's day: climate, zones, devices and five alarms over two shifts. */
static void depot_a(struct influx *ix)
{
    sample(ix, "t1", CFG_KIND_TEMPERATURE, 18.0, 1 * HOUR);
    sample(ix, "t1", CFG_KIND_TEMPERATURE, 19.0, 1 * HOUR + 1800000);
    sample(ix, "h1", CFG_KIND_HUMIDITY, 55, 1 * HOUR);
    sample(ix, "door-1", CFG_KIND_DOOR, 1, 2 * HOUR);
    zone(ix, "store-1", true, 1 * HOUR);
    zone(ix, "store-2", false, 1 * HOUR);
    device(ix, "io-1", true, 5, 100, 0, 3 * HOUR);
    device(ix, "io-1", true, 7, 1100, 0, 3 * HOUR + 100000);
    device(ix, "io-2", false, -1, 50, 5, 9 * HOUR);
    event(ix, &door1, 1, CORE_S_ACTIVE_UNACKED, "", 7 * HOUR);
    event(ix, &door1, 2, CORE_S_ACTIVE_ACKED, "sgt-a", 7 * HOUR + 30000);       /* 30 s, 06:00 shift */
    event(ix, &door3, 3, CORE_S_ACTIVE_UNACKED, "", 8 * HOUR);
    event(ix, &io2, 4, CORE_S_ACTIVE_UNACKED, "", 9 * HOUR);
    event(ix, &door2, 5, CORE_S_ACTIVE_UNACKED, "", 23 * HOUR);
    event(ix, &door2, 6, CORE_S_ACTIVE_ACKED, "sgt-c", 23 * HOUR + 90000);      /* 90 s, 22:00 shift */
    event(ix, &door2, 7, CORE_S_NORMAL, "", 23 * HOUR + 120000);
    event(ix, &fence1, 8, CORE_S_ACTIVE_UNACKED, "", 23 * HOUR + 600000);
}

static void depot_b(struct influx *ix)
{
    event(ix, &pir1, 1, CORE_S_ACTIVE_UNACKED, "", 10 * HOUR);
    event(ix, &pir1, 2, CORE_S_ACTIVE_ACKED, "sgt-b", 10 * HOUR + 60000);       /* 60 s, 06:00 shift */
}

/* Runs fill on a sink for site id until its lines and one health line are written. */
static void write_site(const char *id, void (*fill)(struct influx *))
{
    char err[256] = "";
    struct cfg_site *s = site_for(id);
    struct influx_options o = {.site = s};
    struct influx *ix = influx_start(&o, err, sizeof err);
    struct influx_stats st;
    EXPECT(ix != NULL, "influx_start: %s", err);
    if (!ix)
        return;
    fill(ix);
    influx_get_stats(ix, &st);
    uint64_t filled = st.queued;
    long long deadline = tp_now_ms() + 10000;
    do { /* until a health line followed the day and everything is written */
        tp_pause_ms(50);
        influx_get_stats(ix, &st);
    } while ((st.queued == filled || st.written < st.queued) && tp_now_ms() < deadline);
    influx_sink_ops.stop(ix);
    ifx_site_free(s);
}

/* ---- panels ------------------------------------------------------------------ */

/* Appends one cell as text. */
static void put_value(char *out, size_t cap, json_t *v)
{
    size_t n = strlen(out);
    if (json_is_string(v))
        snprintf(out + n, cap - n, "%s", json_string_value(v));
    else if (json_is_number(v))
        snprintf(out + n, cap - n, "%g", json_number_value(v));
    else
        snprintf(out + n, cap - n, "null");
}

/* One series: "{tag=v,...}", the row count for a table of many rows, and
 * the values of its first row (its last for time buckets: the newest). */
static void render_series(char *out, size_t cap, json_t *s, bool buckets)
{
    json_t *tags = json_object_get(s, "tags"), *cols = json_object_get(s, "columns");
    json_t *rows = json_object_get(s, "values");
    const char *k;
    json_t *v;
    size_t n = strlen(out);
    int i = 0;
    snprintf(out + n, cap - n, "{");
    json_object_foreach(tags, k, v) {
        n = strlen(out);
        snprintf(out + n, cap - n, "%s%s=%s", i++ ? "," : "", k, json_string_value(v));
    }
    n = strlen(out);
    snprintf(out + n, cap - n, "}");
    if (!buckets && json_array_size(rows) > 1) {
        n = strlen(out);
        snprintf(out + n, cap - n, " rows=%zu", json_array_size(rows));
    }
    json_t *row = json_array_get(rows, buckets ? json_array_size(rows) - 1 : 0);
    for (size_t c = 1; c < json_array_size(cols); c++) { /* column 0 is time */
        n = strlen(out);
        snprintf(out + n, cap - n, " %s=", json_string_value(json_array_get(cols, c)));
        put_value(out, cap, json_array_get(row, c));
    }
}

/* The panel's query with Grafana's macros replaced. */
static void expand(const char *q, const char *site, char *out, size_t cap)
{
    static const char *const from[] = { "$timeFilter", "$__interval", "$site" };
    const char *to[] = { "time > now() - 3d", "1h", site };
    size_t n = 0;
    while (*q && n + 1 < cap) {
        size_t i = 0;
        while (i < 3 && strncmp(q, from[i], strlen(from[i])) != 0)
            i++;
        if (i < 3) {
            n += (size_t)snprintf(out + n, cap - n, "%s", to[i]);
            q += strlen(from[i]);
        } else {
            out[n++] = *q++;
        }
    }
    out[n < cap ? n : cap - 1] = '\0';
}

static const char *want_for(const char *title)
{
    for (size_t i = 0; i < sizeof panels / sizeof *panels; i++)
        if (strcmp(panels[i].title, title) == 0)
            return panels[i].want;
    return NULL;
}

/* Runs one panel's first target and compares. Returns 1 if it was checked. */
static int check_panel(const char *file, json_t *p, const char *site)
{
    const char *title = json_string_value(json_object_get(p, "title"));
    const char *q = json_string_value(json_object_get(json_array_get(json_object_get(p, "targets"), 0), "query"));
    const char *want = title ? want_for(title) : NULL;
    char query[2048], got[4096] = "";
    EXPECT(want && q, "%s: panel \"%s\" has no query or no expectation in this test", file, title ? title : "?");
    if (!want || !q)
        return 0;
    expand(q, site, query, sizeof query);
    json_t *a = influxd_query(&server, DB, query);
    json_t *r = json_array_get(json_object_get(a, "results"), 0);
    json_t *series = json_object_get(r, "series");
    EXPECT(a && !json_object_get(r, "error"), "%s: \"%s\": %s\n#   query: %s", file, title,
           json_string_value(json_object_get(r, "error")), query);
    for (size_t i = 0; i < json_array_size(series); i++) {
        if (i)
            strcat(got, " | ");
        render_series(got, sizeof got, json_array_get(series, i), strstr(query, "GROUP BY time(") != NULL);
    }
    EXPECT(fnmatch(want, got, 0) == 0, "%s: \"%s\"\n#   want: %s\n#   got:  %s", file, title, want, got);
    json_decref(a);
    return 1;
}

/* Every panel of every dashboard; a multi-site dashboard sees both sites, the others depot A. */
static void every_panel_shows_the_day(void)
{
    char path[512];
    int checked = 0;
    snprintf(path, sizeof path, "%s/dashboards", getenv("VIGIL_TOP") ? getenv("VIGIL_TOP") : ".");
    DIR *d = opendir(path);
    EXPECT(d != NULL, "no %s", path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (fnmatch("*.json", e->d_name, 0) != 0)
            continue;
        char file[800];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        json_t *dash = json_load_file(file, 0, NULL);
        EXPECT(dash != NULL, "%s does not parse", file);
        json_t *var = json_array_get(json_object_get(json_object_get(dash, "templating"), "list"), 0);
        const char *site = json_is_true(json_object_get(var, "multi")) ? "(depot-a|depot-b)" : "depot-a";
        json_t *p;
        size_t i;
        json_array_foreach(json_object_get(dash, "panels"), i, p)
            checked += check_panel(e->d_name, p, site);
        json_decref(dash);
    }
    if (d)
        closedir(d);
    EXPECT_INT(checked, sizeof panels / sizeof *panels);
}

int main(void)
{
    if (!influxd_available()) {
        printf("# skip test_dashboards: influxd not installed (scripts/deps.sh installs Debian's influxdb)\n");
        return 77;
    }
    setenv("TZ", "UTC", 1); /* the guard shifts are local time */
    day0 = clock_wall_ms() / (24 * HOUR) * (24 * HOUR) - 24 * HOUR;
    if (influxd_start(&server, DB) < 0) {
        printf("not ok - influxd_start\n");
        return 1;
    }
    write_site("depot-a", depot_a);
    write_site("depot-b", depot_b);
    RUN(every_panel_shows_the_day);
    influxd_stop(&server);
    HARNESS_EXIT();
}
