/*
 * bench/core.c - throughput of the event core on a 1,000-point site.
 *
 * Three runs, each printed as "core: X inputs/s, Y ns/input (what)":
 *   - samples that change nothing (the steady state of a polled site),
 *   - a realistic mix: mostly unchanged samples, some contacts changing,
 *     analog drift, ticks at every deadline and operator acks,
 *   - one simulated day: every point changes once per 10 minutes on
 *     average, ticks at every deadline; prints the wall time it took.
 * Figures are printed, never asserted: the machine decides them.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "core.h"

#define N_POINTS 1000
#define POINT_ID_BYTES 16 /* "pt" and any int, terminated */
#define N_DEVICES 50
#define N_ZONES 10
#define DAY_MS (24ull * 3600 * 1000)

struct bench {
    struct cfg_site site;
    struct core *core;
    struct core_output *out;
    double *normal;          /* a value that is normal for each point */
    uint64_t rng;
    uint64_t mono;
    size_t outputs;
};

static uint64_t rnd(struct bench *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A point of a kind chosen by its index, with the delays a site would use. */
static void make_point(struct bench *b, int i)
{
    static const enum cfg_point_kind mix[] = {
        CFG_KIND_DOOR, CFG_KIND_DOOR, CFG_KIND_MOTION, CFG_KIND_MOTION, CFG_KIND_FENCE,
        CFG_KIND_CCTV, CFG_KIND_TAMPER, CFG_KIND_EOL, CFG_KIND_TEMPERATURE, CFG_KIND_HUMIDITY,
        CFG_KIND_DIGITAL, CFG_KIND_FAULT, CFG_KIND_ANALOG};
    struct cfg_point *p = &b->site.points[i];

    char *id = b->site.strings + (size_t)i * POINT_ID_BYTES;

    snprintf(id, POINT_ID_BYTES, "pt%04d", i);
    p->id = id;
    p->name = "";
    p->kind = mix[i % (int)(sizeof(mix) / sizeof(mix[0]))];
    p->device = i % N_DEVICES;
    p->zone = i % (N_ZONES + 1) - 1;
    p->priority = CFG_PRIO_HIGH;
    p->scale = 1;
    p->debounce_ms = 50;
    p->verify_window_ms = 30000;
    if (p->kind == CFG_KIND_EOL) {
        p->eol = &b->site.eols[b->site.n_eols++];
        *p->eol = (struct cfg_eol){2000, 2400, 4200, 4600, 0, 500, 20000, 1e9};
    }
    if (p->kind == CFG_KIND_DOOR)
        p->held_open_ms = 120000;
    if (p->kind == CFG_KIND_FENCE && i + 1 < N_POINTS)
        p->verify[p->n_verify++] = i + 1; /* the cctv point next to it */
    if (p->kind == CFG_KIND_TEMPERATURE || p->kind == CFG_KIND_HUMIDITY || p->kind == CFG_KIND_ANALOG) {
        p->analog = &b->site.analogs[b->site.n_analogs++];
        *p->analog = (struct cfg_analog){.high = 30, .low = 5, .deadband = 1, .valid_min = NAN, .valid_max = NAN};
        p->on_delay_ms = 5000;
        b->normal[i] = 20;
    } else {
        b->normal[i] = p->kind == CFG_KIND_EOL ? 2200 : 0;
    }
}

static void build_site(struct bench *b)
{
    struct cfg_site *s = &b->site;

    s->rules = (struct cfg_rules){3, 60000, 30000, 10, 600000, {3600000, 14400000, 86400000, 86400000}, true};
    s->n_devices = N_DEVICES, s->n_zones = N_ZONES, s->n_points = N_POINTS;
    s->devices = calloc(N_DEVICES, sizeof(*s->devices));
    s->zones = calloc(N_ZONES, sizeof(*s->zones));
    s->points = calloc(N_POINTS, sizeof(*s->points));
    s->strings = malloc((size_t)N_POINTS * POINT_ID_BYTES);
    s->analogs = calloc(N_POINTS, sizeof(*s->analogs));
    s->eols = calloc(N_POINTS, sizeof(*s->eols));
    b->normal = calloc(N_POINTS, sizeof(*b->normal));
    if (!s->devices || !s->zones || !s->points || !s->strings || !s->analogs || !s->eols || !b->normal)
        abort();
    for (int d = 0; d < N_DEVICES; d++) {
        snprintf(s->devices[d].id, sizeof(s->devices[d].id), "io%02d", d);
        s->devices[d].comm_priority = CFG_PRIO_HIGH;
    }
    for (int z = 0; z < N_ZONES; z++) {
        snprintf(s->zones[z].id, sizeof(s->zones[z].id), "zone%d", z);
        s->zones[z].armed = true;
        s->zones[z].entry_delay_ms = z == 0 ? 30000 : 0;
    }
    for (int i = 0; i < N_POINTS; i++)
        make_point(b, i);
}

static void step(struct bench *b, const struct core_input *in)
{
    b->outputs += core_step(b->core, in, b->out);
}

static void sample(struct bench *b, int point, double value)
{
    struct core_input in = {.type = CORE_IN_SAMPLE, .mono_ms = b->mono, .wall_ms = (int64_t)b->mono};

    in.u.sample.point = point;
    in.u.sample.value = value;
    step(b, &in);
}

/* Ticks at every deadline up to b->mono; returns how many ticks. */
static size_t tick_until(struct bench *b, uint64_t until)
{
    struct core_input in = {.type = CORE_IN_TICK};
    size_t n = 0;

    while (core_next_deadline(b->core) <= until) {
        in.mono_ms = in.wall_ms = (int64_t)core_next_deadline(b->core);
        step(b, &in);
        n++;
    }
    return n;
}

static void report(const char *what, size_t inputs, double seconds)
{
    printf("core: %.0f inputs/s, %.1f ns/input (%s)\n", (double)inputs / seconds, seconds * 1e9 / (double)inputs,
           what);
}

/* The steady state: every point polled again with the value it had. */
static void bench_unchanged(struct bench *b)
{
    const size_t n = 20 * 1000 * 1000;
    double t0;

    for (int i = 0; i < N_POINTS; i++)
        sample(b, i, b->normal[i]);
    t0 = now_s();
    for (size_t k = 0; k < n; k++) {
        if (k % N_POINTS == 0)
            b->mono++;
        sample(b, (int)(k % N_POINTS), b->normal[k % N_POINTS]);
    }
    report("unchanged samples", n, now_s() - t0);
}

static void ack_something(struct bench *b)
{
    struct core_input in = {.type = CORE_IN_CMD, .mono_ms = b->mono, .wall_ms = (int64_t)b->mono};
    int a = (int)(rnd(b) % core_alarm_count(b->core));

    snprintf(in.u.cmd.id, sizeof(in.u.cmd.id), "ack");
    snprintf(in.u.cmd.target, sizeof(in.u.cmd.target), "%s", core_alarm_info(b->core, a)->id);
    snprintf(in.u.cmd.operator_name, sizeof(in.u.cmd.operator_name), "guard");
    step(b, &in);
}

/* 98% unchanged samples, 1% contact changes, 0.5% analog drift, ticks at
 * every deadline, and an ack now and then. */
static void bench_mix(struct bench *b)
{
    const size_t n = 5 * 1000 * 1000;
    size_t inputs = 0;
    double t0 = now_s();

    for (size_t k = 0; k < n; k++) {
        int p = (int)(rnd(b) % N_POINTS);
        unsigned roll = (unsigned)(rnd(b) % 1000);
        if (k % 100 == 0)
            b->mono++;
        inputs += tick_until(b, b->mono);
        if (roll < 980) {
            sample(b, p, b->normal[p]);
        } else if (roll < 990) {
            sample(b, p, b->normal[p] == 0 ? 1 : b->normal[p] == 2200 ? 4400 : 35);
        } else if (roll < 995) {
            sample(b, p, b->normal[p] + (double)(rnd(b) % 40) - 20);
        } else {
            ack_something(b);
        }
        inputs++;
    }
    report("realistic mix", inputs, now_s() - t0);
}

/*
 * One day: each point changes about once per 10 minutes (half of the
 * changes go active, half back to normal), in time order, with a tick at
 * every deadline in between.
 */
static void bench_day(struct bench *b)
{
    const size_t changes = N_POINTS * (DAY_MS / 600000);
    const uint64_t gap = DAY_MS / changes;
    uint64_t start = b->mono;
    size_t ticks = 0, events = b->outputs;
    double t0 = now_s(), dt;

    for (size_t k = 0; k < changes; k++) {
        int p = (int)(rnd(b) % N_POINTS);
        b->mono = start + k * gap + rnd(b) % gap;
        ticks += tick_until(b, b->mono);
        sample(b, p, k % 2 ? b->normal[p] : b->normal[p] == 0 ? 1 : b->normal[p] == 2200 ? 4400 : 35);
    }
    ticks += tick_until(b, start + DAY_MS);
    dt = now_s() - t0;
    printf("core: one simulated day of %d points: %zu changes, %zu ticks, %zu outputs in %.3f s\n", N_POINTS,
           changes, ticks, b->outputs - events, dt);
    report("simulated day", changes + ticks, dt);
}

int main(void)
{
    struct bench b = {.rng = 0x9e3779b97f4a7c15ull, .mono = 1};

    build_site(&b);
    b.core = core_new(&b.site);
    if (!b.core) {
        fprintf(stderr, "bench: core_new failed\n");
        return 1;
    }
    b.out = calloc(core_max_outputs(b.core), sizeof(*b.out));
    printf("core: %zu alarms, at most %zu outputs per step\n", core_alarm_count(b.core), core_max_outputs(b.core));
    bench_unchanged(&b);
    bench_mix(&b);
    bench_day(&b);
    core_free(b.core);
    free(b.out);
    free(b.normal);
    free(b.site.devices);
    free(b.site.zones);
    free(b.site.points);
    free(b.site.strings);
    free(b.site.analogs);
    free(b.site.eols);
    return 0;
}
