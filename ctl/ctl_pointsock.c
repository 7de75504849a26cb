/*
 * ctl_pointsock.c - reads vigild's points socket into a table (ctl_points.h).
 *
 * Each line is one JSON object: a zone, a point row (the whole row, so a
 * line replaces what the table had), or the end mark after the table sent
 * on connect.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "ctl.h"
#include "ctl_points.h"
#include "points_sink.h"

#define DEFAULT_SOCKET "/var/lib/vigil/points.sock"

int ctl_points_path(const char *socket, const char *config, const char *profiles, char *path, size_t cap,
                    char *err, size_t errlen)
{
    struct cfg_site *site;

    if (socket) {
        snprintf(path, cap, "%s", socket);
        return 0;
    }
    if (!config) {
        snprintf(path, cap, "%s", DEFAULT_SOCKET);
        return 0;
    }
    site = cfg_load(config, profiles, err, errlen);
    if (!site)
        return -1;
    points_socket_path(site, site->state_dir, path, cap);
    cfg_free(site);
    return 0;
}

static void copy(char *dst, size_t cap, const json_t *obj, const char *key)
{
    snprintf(dst, cap, "%s", ctl_jstr(obj, key, ""));
}

static double number(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Makes room for item n of an array of *cap items of size bytes, growing it
 * by doubling; the new item is zeroed. NULL out of memory. */
static void *room(void **items, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n == *cap) {
        size_t grown = *cap ? 2 * *cap : first;
        void *p = realloc(*items, grown * size);

        if (!p)
            return NULL;
        *items = p;
        *cap = grown;
    }
    return memset((char *)*items + n * size, 0, size);
}

/* The row of point id, added if new; NULL out of memory. */
static struct ctl_point *row_of(struct ctl_points *t, const char *id)
{
    struct ctl_point *r;

    for (size_t i = 0; i < t->n_rows; i++)
        if (strcmp(t->rows[i].point, id) == 0)
            return &t->rows[i];
    r = room((void **)&t->rows, &t->cap_rows, t->n_rows, sizeof(*r), 64);
    if (!r)
        return NULL;
    t->n_rows++;
    snprintf(r->point, sizeof(r->point), "%s", id);
    return r;
}

static struct ctl_zone *zone_of(struct ctl_points *t, const char *id)
{
    struct ctl_zone *z = (struct ctl_zone *)ctl_points_zone(t, id);

    if (z)
        return z;
    z = room((void **)&t->zones, &t->cap_zones, t->n_zones, sizeof(*z), 16);
    if (!z)
        return NULL;
    t->n_zones++;
    snprintf(z->zone, sizeof(z->zone), "%s", id);
    return z;
}

static void apply_point(struct ctl_points *t, const json_t *o, uint64_t now_mono_ms)
{
    struct ctl_point *r = row_of(t, ctl_jstr(o, "point", ""));

    if (!r)
        return;
    copy(r->zone, sizeof(r->zone), o, "zone");
    copy(r->device, sizeof(r->device), o, "device");
    copy(r->kind, sizeof(r->kind), o, "kind");
    copy(r->quality, sizeof(r->quality), o, "quality");
    copy(r->alarm, sizeof(r->alarm), o, "alarm");
    copy(r->state, sizeof(r->state), o, "state");
    copy(r->changed, sizeof(r->changed), o, "changed");
    copy(r->tested, sizeof(r->tested), o, "tested");
    r->raw = number(o, "raw");
    r->value = number(o, "value");
    r->seen_mono_ms = now_mono_ms;
}

static void apply_zone(struct ctl_points *t, const json_t *o)
{
    struct ctl_zone *z = zone_of(t, ctl_jstr(o, "zone", ""));

    if (!z)
        return;
    z->armed = json_is_true(json_object_get(o, "armed"));
    z->test = json_is_true(json_object_get(o, "test"));
    copy(z->test_started, sizeof(z->test_started), o, "test_started");
    copy(z->test_until, sizeof(z->test_until), o, "test_until");
}

/* Applies one line; returns 1 for the end mark, else 0. */
static int apply_line(struct ctl_points *t, const char *line, size_t len, uint64_t now_mono_ms)
{
    json_t *o = json_loadb(line, len, 0, NULL);
    const char *type = ctl_jstr(o, "type", "");
    int end = strcmp(type, "end") == 0;

    if (strcmp(type, "point") == 0)
        apply_point(t, o, now_mono_ms);
    else if (strcmp(type, "zone") == 0)
        apply_zone(t, o);
    json_decref(o);
    return end;
}

/* Applies every complete line in the buffer; *end is set when the end mark was among them. */
static int apply_lines(struct ctl_points *t, uint64_t now_mono_ms, bool *end)
{
    size_t start = 0;
    int n = 0;

    for (size_t i = 0; i < t->len; i++) {
        if (t->buf[i] != '\n')
            continue;
        if (apply_line(t, t->buf + start, i - start, now_mono_ms))
            *end = true;
        start = i + 1;
        n++;
    }
    memmove(t->buf, t->buf + start, t->len - start);
    t->len -= start;
    return n;
}

/* Reads once (the socket is readable or closed); 1 lines applied, 0 none, -1 closed. */
static int read_some(struct ctl_points *t, uint64_t now_mono_ms, bool *end)
{
    ssize_t n = read(t->fd, t->buf + t->len, sizeof(t->buf) - t->len);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0)
        return -1;
    t->len += (size_t)n;
    if (t->len == sizeof(t->buf) && !memchr(t->buf, '\n', t->len))
        t->len = 0; /* a line longer than any vigild writes: not vigild */
    return apply_lines(t, now_mono_ms, end) > 0;
}

int ctl_points_read(struct ctl_points *t, uint64_t now_mono_ms)
{
    bool end = false;

    return read_some(t, now_mono_ms, &end);
}

int ctl_points_open(struct ctl_points *t, const char *path, int timeout_ms, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    bool end = false;

    memset(t, 0, sizeof(*t));
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (t->fd < 0 || connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(err, errlen, "cannot connect to vigild's points socket %s: %s (is vigild running, and may you "
                 "read its state directory?)", path, strerror(errno));
        return -1;
    }
    while (!end) {
        struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
        uint64_t now = clock_mono_ms();

        if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) == 0) {
            snprintf(err, errlen, "vigild's points socket %s sent no complete table within %d ms", path, timeout_ms);
            return -1;
        }
        if (read_some(t, 0, &end) < 0) {
            snprintf(err, errlen, "vigild closed the points socket %s before the table was complete", path);
            return -1;
        }
    }
    return 0;
}

static int by_zone_point(const void *a, const void *b)
{
    const struct ctl_point *x = a, *y = b;
    int c;

    /* points in no zone last */
    if (!x->zone[0] != !y->zone[0])
        return !x->zone[0] ? 1 : -1;
    c = strcmp(x->zone, y->zone);
    return c ? c : strcmp(x->point, y->point);
}

void ctl_points_sort(struct ctl_points *t)
{
    qsort(t->rows, t->n_rows, sizeof(*t->rows), by_zone_point);
}

const struct ctl_zone *ctl_points_zone(const struct ctl_points *t, const char *zone)
{
    for (size_t i = 0; i < t->n_zones; i++)
        if (strcmp(t->zones[i].zone, zone) == 0)
            return &t->zones[i];
    return NULL;
}

void ctl_points_close(struct ctl_points *t)
{
    if (t->fd >= 0)
        close(t->fd);
    free(t->rows);
    free(t->zones);
    memset(t, 0, sizeof(*t));
    t->fd = -1;
}
