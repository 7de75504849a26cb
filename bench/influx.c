/*
 * bench/influx.c - sustained points/s through the InfluxDB sink into a real
 * influxd, and what it costs (run by bench/influx.sh, which starts influxd).
 *
 *   influx URL DATABASE RATE SECONDS [POINTS]
 *
 * This thread plays the core thread: every 10 ms it delivers RATE/100
 * samples of POINTS analog points (each sample a change beyond the
 * deadband, so each is a line), timing every deliver(). The sink's writer
 * thread sends them. At the end it waits for the buffer to drain and
 * prints one line: offered and written points/s, dropped, the core
 * thread's CPU per point and its deliver() p99/max, and the writer
 * thread's CPU as % of one core. influxd's own CPU is measured by the
 * script.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "influx.h"
#include "log.h"

#define TICK_MS 10
#define MAX_DELIVERS (1u << 24)

static double cpu_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static struct cfg_site *bench_site(const char *url, const char *db)
{
    struct cfg_site *s = calloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "bench");
    snprintf(s->state_dir, sizeof s->state_dir, "/nonexistent");
    s->influx = (struct cfg_influx){.enabled = true, .api = CFG_INFLUX_V1, .gzip = true, .batch_lines = 5000,
                                    .batch_ms = 1000, .max_lines = 200000, .max_bytes = 32 << 20,
                                    .timeout_ms = 15000, .deadband = 0.1, .refresh_ms = 60000,
                                    .health_ms = 10000, .n_shifts = 1};
    snprintf(s->influx.url, sizeof s->influx.url, "%s", url);
    snprintf(s->influx.database, sizeof s->influx.database, "%s", db);
    return s;
}

/* One tick's samples; records each deliver()'s duration in ns. */
static void feed_tick(struct influx *ix, int per_tick, int points, uint64_t *n, uint32_t *lat, int64_t wall)
{
    struct sink_record r = {.kind = SINK_SAMPLE, .wall_ms = wall};
    r.u.sample.kind = CFG_KIND_TEMPERATURE;
    snprintf(r.u.sample.device, sizeof r.u.sample.device, "bench-dev");
    snprintf(r.u.sample.zone, sizeof r.u.sample.zone, "store-1");
    for (int i = 0; i < per_tick; i++, (*n)++) {
        int p = (int)(*n % (uint64_t)points);
        snprintf(r.u.sample.point, sizeof r.u.sample.point, "pt%05d", p);
        r.u.sample.value = (double)((*n / (uint64_t)points) % 2) + 20.0; /* 20, 21, 20, ...: always a change */
        uint64_t t = now_ns();
        influx_sink_ops.deliver(ix, &r);
        if (*n < MAX_DELIVERS)
            lat[*n] = (uint32_t)(now_ns() - t);
    }
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: influx URL DATABASE RATE SECONDS [POINTS]\n");
        return 2;
    }
    int rate = atoi(argv[3]), seconds = atoi(argv[4]), points = argc > 5 ? atoi(argv[5]) : 1000;
    int per_tick = rate * TICK_MS / 1000;
    char err[256] = "";
    log_set_level(LOG_LVL_WARN);
    struct cfg_site *site = bench_site(argv[1], argv[2]);
    struct influx_options o = {.site = site};
    struct influx *ix = influx_start(&o, err, sizeof err);
    uint32_t *lat = calloc(MAX_DELIVERS, sizeof *lat);
    if (!ix || !lat) {
        fprintf(stderr, "influx: %s\n", err);
        return 1;
    }
    double proc0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID), core0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
    uint64_t n = 0, start = clock_mono_ms();
    int64_t wall0 = clock_wall_ms();
    for (uint64_t tick = 0; tick < (uint64_t)seconds * 1000 / TICK_MS; tick++) {
        feed_tick(ix, per_tick, points, &n, lat, wall0 + (int64_t)tick * TICK_MS);
        uint64_t due = start + (tick + 1) * TICK_MS, now = clock_mono_ms();
        if (due > now) {
            struct timespec ts = {0, (long)(due - now) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    double core_s = cpu_s(CLOCK_THREAD_CPUTIME_ID) - core0;
    struct influx_stats st;
    do { /* drain */
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
        influx_get_stats(ix, &st);
    } while (st.buffered_lines > 0 && clock_mono_ms() < start + (uint64_t)seconds * 3000);
    double wall_s = (double)(clock_mono_ms() - start) / 1000.0;
    double writer_s = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - proc0 - core_s;
    influx_get_stats(ix, &st);
    size_t m = n < MAX_DELIVERS ? n : MAX_DELIVERS;
    qsort(lat, m, sizeof *lat, by_value);
    printf("influx: offered %d points/s for %d s: written %.0f points/s (%llu of %llu, dropped %llu) in %.1f s; "
           "core thread %.0f ns/point, deliver p99 %.1f us max %.1f us; writer thread %.1f%% of a core\n",
           rate, seconds, (double)st.written / wall_s, (unsigned long long)st.written, (unsigned long long)n,
           (unsigned long long)st.dropped, wall_s, core_s * 1e9 / (double)n, lat[m * 99 / 100] / 1000.0,
           lat[m - 1] / 1000.0, 100.0 * writer_s / wall_s);
    influx_sink_ops.stop(ix);
    free(lat);
    free(site);
    return 0;
}
