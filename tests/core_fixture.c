/*
 * core_fixture.c - an in-memory site model for tests (see core_fixture.h).
 * Allocation failures abort: a test cannot go on without its site.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core_fixture.h"

/* Grows *arr by one zeroed element of size elem and returns its index. */
static int grow(void **arr, int *n, size_t elem)
{
    char *p = realloc(*arr, (size_t)(*n + 1) * elem);

    if (!p)
        abort();
    memset(p + (size_t)*n * elem, 0, elem);
    *arr = p;
    return (*n)++;
}

static void set_id(char *dst, const char *id)
{
    size_t n = strnlen(id, CFG_ID_MAX - 1);

    memcpy(dst, id, n);
    dst[n] = '\0';
}

/* A point's id, copied (cut to CFG_ID_MAX - 1 chars as config.c allows);
 * fixture_free() releases it. */
static const char *own_id(const char *id)
{
    char *copy = strndup(id, CFG_ID_MAX - 1);

    if (!copy)
        abort();
    return copy;
}

struct cfg_site *fixture_site(const char *id)
{
    struct cfg_site *s = calloc(1, sizeof(*s));

    if (!s)
        abort();
    set_id(s->id, id);
    s->rules.chatter_count = 3;
    s->rules.chatter_window_ms = 60000;
    s->rules.default_verify_window_ms = 30000;
    s->rules.flood_count = 10;
    s->rules.flood_window_ms = 600000;
    s->rules.max_shelve_ms[CFG_PRIO_CRITICAL] = 3600000;
    s->rules.max_shelve_ms[CFG_PRIO_HIGH] = 4 * 3600000;
    s->rules.max_shelve_ms[CFG_PRIO_MEDIUM] = 24 * 3600000;
    s->rules.max_shelve_ms[CFG_PRIO_LOW] = 24 * 3600000;
    s->rules.comm_loss_latching = true;
    return s;
}

void fixture_free(struct cfg_site *s)
{
    if (!s)
        return;
    free(s->devices);
    free(s->zones);
    for (int i = 0; i < s->n_points; i++) {
        free((char *)s->points[i].id);
        free(s->points[i].analog);
        free(s->points[i].eol);
    }
    free(s->points);
    free(s);
}

int fixture_add_device(struct cfg_site *s, const char *id)
{
    int i = grow((void **)&s->devices, &s->n_devices, sizeof(*s->devices));

    set_id(s->devices[i].id, id);
    s->devices[i].poll_ms = 100;
    s->devices[i].timeout_ms = 300;
    s->devices[i].fail_count = 3;
    s->devices[i].fail_ms = 2000;
    s->devices[i].comm_priority = CFG_PRIO_HIGH;
    return i;
}

int fixture_add_zone(struct cfg_site *s, const char *id, bool armed, bool always_armed, int entry_delay_ms)
{
    int i = grow((void **)&s->zones, &s->n_zones, sizeof(*s->zones));

    set_id(s->zones[i].id, id);
    s->zones[i].armed = armed;
    s->zones[i].always_armed = always_armed;
    s->zones[i].entry_delay_ms = entry_delay_ms;
    return i;
}

/* The parts only some kinds have, as config.c gives them: analog limits
 * unset, or the windows of a 2k2 loop; fixture_free() releases them. */
static void add_kind_parts(struct cfg_point *p)
{
    if (p->kind == CFG_KIND_TEMPERATURE || p->kind == CFG_KIND_HUMIDITY || p->kind == CFG_KIND_ANALOG) {
        p->analog = calloc(1, sizeof(*p->analog));
        if (!p->analog)
            abort();
        p->analog->high = p->analog->low = NAN;
        p->analog->valid_min = p->analog->valid_max = NAN;
    } else if (p->kind == CFG_KIND_EOL) {
        p->eol = malloc(sizeof(*p->eol));
        if (!p->eol)
            abort();
        *p->eol = (struct cfg_eol){2000, 2400, 4200, 4600, 0, 500, 20000, 1e9};
    }
}

int fixture_add_point(struct cfg_site *s, const char *id, enum cfg_point_kind kind, int device, int zone)
{
    int i = grow((void **)&s->points, &s->n_points, sizeof(*s->points));
    struct cfg_point *p = &s->points[i];

    p->id = own_id(id);
    p->name = "";
    p->kind = kind;
    p->device = device;
    p->zone = zone;
    p->priority = CFG_PRIO_HIGH;
    p->scale = 1;
    p->verify_window_ms = 30000;
    add_kind_parts(p);
    return i;
}

int fixture_find_point(const struct cfg_site *s, const char *id)
{
    for (int i = 0; i < s->n_points; i++)
        if (strcmp(s->points[i].id, id) == 0)
            return i;
    return -1;
}

int fixture_find_device(const struct cfg_site *s, const char *id)
{
    for (int i = 0; i < s->n_devices; i++)
        if (strcmp(s->devices[i].id, id) == 0)
            return i;
    return -1;
}

void fixture_run_start(struct fixture_run *r, struct cfg_site *site)
{
    memset(r, 0, sizeof(*r));
    r->site = site;
    r->core = core_new(site);
    r->out = r->core ? calloc(core_max_outputs(r->core), sizeof(*r->out)) : NULL;
    if (!r->out)
        abort();
}

void fixture_run_stop(struct fixture_run *r)
{
    core_free(r->core);
    free(r->out);
    fixture_free(r->site);
}

void fixture_run_step(struct fixture_run *r, struct core_input *in, uint64_t at_ms)
{
    r->now_ms = at_ms;
    in->mono_ms = at_ms;
    in->wall_ms = FIXTURE_WALL0 + (int64_t)at_ms;
    r->n = core_step(r->core, in, r->out);
}

void fixture_run_sample(struct fixture_run *r, const char *point, double v, uint64_t at_ms)
{
    struct core_input in = {.type = CORE_IN_SAMPLE};

    in.u.sample.point = fixture_find_point(r->site, point);
    in.u.sample.value = v;
    fixture_run_step(r, &in, at_ms);
}
