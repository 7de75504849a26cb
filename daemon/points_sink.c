/*
 * points_sink.c - the live points view on a local socket (points_sink.h).
 *
 * Three parts: the table (rows kept sorted by point id, updated from
 * records), the lines (one JSON object per row or zone, rendered with
 * snprintf: every string in them is a config id or a fixed name, which
 * need no escaping), and the clients (a non-blocking listening socket
 * accepted from tick(), a bounded output buffer each).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "message.h"
#include "points_sink.h"

#define POINTS_CLIENTS_MAX 8
#define POINTS_LINE_MAX 768
#define POINTS_BUF_MIN (64 * 1024)

/* The ids point into the site of the last build_table(): a site stays valid
 * until the reconfigure that replaces it has returned (sink.h), so the rows
 * need no copies of their own (at 10,000 points those were 1.4 MB). */
struct row {
    const char *point, *zone, *device; /* zone: "" for none */
    enum cfg_point_kind kind;
    double raw, value;                /* NaN: not read yet, or unreadable */
    enum core_quality quality;        /* CORE_Q_NONE: not read yet */
    enum core_alarm_type type;        /* of its last alarm event */
    enum core_alarm_state state;
    bool has_state;                   /* an alarm event named it since vigild started */
    int64_t changed_ms, tested_ms;    /* 0: never */
};

struct zrow {
    const char *zone;
    bool armed, test, known;
    int64_t started_ms, until_ms;
};

struct client {
    int fd;                           /* -1: free */
    char *buf;
    size_t len;
};

struct points {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int listen_fd;
    struct row *rows;
    int n_rows;
    struct zrow *zones;
    int n_zones;
    size_t buf_cap;                   /* per client: the whole table fits, with room for changes */
    struct client clients[POINTS_CLIENTS_MAX];
};

/* --- the table ----------------------------------------------------------- */

static int by_point(const void *a, const void *b)
{
    return strcmp(((const struct row *)a)->point, ((const struct row *)b)->point);
}

static struct row *find_row(const struct points *p, const char *id)
{
    struct row key = {.point = id};

    if (!p->rows)
        return NULL; /* the first build: no table yet */
    return bsearch(&key, p->rows, (size_t)p->n_rows, sizeof(*p->rows), by_point);
}

static struct zrow *find_zone(const struct points *p, const char *id)
{
    for (int i = 0; i < p->n_zones; i++)
        if (strcmp(p->zones[i].zone, id) == 0)
            return &p->zones[i];
    return NULL;
}

/*
 * Builds the table of site, keeping what the old one knew of points and
 * zones that keep their id (a reload). Returns 0, or -1 out of memory
 * with the old table untouched.
 */
static int build_table(struct points *p, const struct cfg_site *site)
{
    struct row *rows = calloc((size_t)(site->n_points ? site->n_points : 1), sizeof(*rows));
    struct zrow *zones = calloc((size_t)(site->n_zones ? site->n_zones : 1), sizeof(*zones));

    if (!rows || !zones) {
        free(rows);
        free(zones);
        return -1;
    }
    for (int i = 0; i < site->n_points; i++) {
        const struct cfg_point *cp = &site->points[i];
        const struct row *old = find_row(p, cp->id);
        struct row *r = &rows[i];

        if (old)
            *r = *old;
        else
            *r = (struct row){.raw = NAN, .value = NAN};
        r->point = cp->id;
        r->zone = cp->zone >= 0 ? site->zones[cp->zone].id : "";
        r->device = site->devices[cp->device].id;
        r->kind = cp->kind;
    }
    qsort(rows, (size_t)site->n_points, sizeof(*rows), by_point);
    for (int z = 0; z < site->n_zones; z++) {
        const struct zrow *old = find_zone(p, site->zones[z].id);

        zones[z] = old ? *old : (struct zrow){.known = false};
        zones[z].zone = site->zones[z].id;
    }
    free(p->rows);
    free(p->zones);
    p->rows = rows;
    p->n_rows = site->n_points;
    p->zones = zones;
    p->n_zones = site->n_zones;
    p->buf_cap = POINTS_BUF_MIN + (size_t)(p->n_rows + p->n_zones) * POINTS_LINE_MAX;
    return 0;
}

/* --- the lines --------------------------------------------------------------- */

/* Appends "key":<ts or null> to line. */
static void put_ts(char *line, size_t cap, const char *key, int64_t wall_ms)
{
    char ts[MSG_TS_LEN + 1];
    size_t len = strlen(line);

    if (wall_ms == 0) {
        snprintf(line + len, cap - len, ",\"%s\":null", key);
        return;
    }
    msg_ts(wall_ms, ts);
    snprintf(line + len, cap - len, ",\"%s\":\"%s\"", key, ts);
}

static void put_num(char *line, size_t cap, const char *key, double v)
{
    size_t len = strlen(line);

    snprintf(line + len, cap - len, isfinite(v) ? ",\"%s\":%.15g" : ",\"%s\":null", key, v);
}

static void put_name(char *line, size_t cap, const char *key, const char *name)
{
    size_t len = strlen(line);

    snprintf(line + len, cap - len, name ? ",\"%s\":\"%s\"" : ",\"%s\":null", key, name);
}

static void row_line(const struct row *r, char *line, size_t cap)
{
    snprintf(line, cap, "{\"type\":\"point\",\"point\":\"%s\"", r->point);
    put_name(line, cap, "zone", r->zone[0] ? r->zone : NULL);
    put_name(line, cap, "device", r->device);
    put_name(line, cap, "kind", cfg_kind_name(r->kind));
    put_num(line, cap, "raw", r->raw);
    put_num(line, cap, "value", r->value);
    put_name(line, cap, "quality", core_quality_name(r->quality));
    put_name(line, cap, "alarm", r->has_state ? core_type_name(r->type) : NULL);
    put_name(line, cap, "state", r->has_state ? core_state_name(r->state) : NULL);
    put_ts(line, cap, "changed", r->changed_ms);
    put_ts(line, cap, "tested", r->tested_ms);
    snprintf(line + strlen(line), cap - strlen(line), "}\n");
}

static void zone_line(const struct zrow *z, char *line, size_t cap)
{
    snprintf(line, cap, "{\"type\":\"zone\",\"zone\":\"%s\",\"armed\":%s,\"test\":%s", z->zone,
             z->armed ? "true" : "false", z->test ? "true" : "false");
    put_ts(line, cap, "test_started", z->started_ms);
    put_ts(line, cap, "test_until", z->test ? z->until_ms : 0);
    snprintf(line + strlen(line), cap - strlen(line), "}\n");
}

/* --- the clients --------------------------------------------------------- */

static void close_client(struct client *c)
{
    close(c->fd);
    free(c->buf);
    *c = (struct client){.fd = -1};
}

static void drop(struct client *c, const char *why)
{
    log_warn("points: client fd=%d dropped: %s", c->fd, why);
    close_client(c);
}

/* Writes what the socket takes now; never waits. */
static void flush(struct client *c)
{
    while (c->fd >= 0 && c->len > 0) {
        ssize_t n = send(c->fd, c->buf, c->len, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            log_info("points: client fd=%d went away", c->fd);
            close_client(c);
            return;
        }
        memmove(c->buf, c->buf + n, c->len - (size_t)n);
        c->len -= (size_t)n;
    }
}

/* Queues a line for one client; a client that cannot take it is too slow and goes. */
static void queue_line(struct points *p, struct client *c, const char *line)
{
    size_t n = strlen(line);

    if (c->len + n > p->buf_cap) {
        drop(c, "too slow: its buffer is full");
        return;
    }
    memcpy(c->buf + c->len, line, n);
    c->len += n;
}

static void broadcast(struct points *p, const char *line)
{
    for (int i = 0; i < POINTS_CLIENTS_MAX; i++)
        if (p->clients[i].fd >= 0) {
            queue_line(p, &p->clients[i], line);
            flush(&p->clients[i]);
        }
}

/* The whole table for a new client: zones, points, then the end mark. */
static void send_table(struct points *p, struct client *c)
{
    char line[POINTS_LINE_MAX];

    for (int z = 0; z < p->n_zones && c->fd >= 0; z++) {
        zone_line(&p->zones[z], line, sizeof(line));
        queue_line(p, c, line);
    }
    for (int i = 0; i < p->n_rows && c->fd >= 0; i++) {
        row_line(&p->rows[i], line, sizeof(line));
        queue_line(p, c, line);
    }
    if (c->fd >= 0)
        queue_line(p, c, "{\"type\":\"end\"}\n");
    flush(c);
}

static void accept_clients(struct points *p)
{
    int fd;

    while ((fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct client *c = NULL;

        for (int i = 0; i < POINTS_CLIENTS_MAX && !c; i++)
            if (p->clients[i].fd < 0)
                c = &p->clients[i];
        if (!c || !(c->buf = malloc(p->buf_cap))) {
            log_warn("points: connection refused: %d clients at most", POINTS_CLIENTS_MAX);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->len = 0;
        send_table(p, c);
    }
}

/* --- the sink ------------------------------------------------------------ */

static void send_row(struct points *p, const struct row *r)
{
    char line[POINTS_LINE_MAX];

    row_line(r, line, sizeof(line));
    broadcast(p, line);
}

static void on_sample(struct points *p, const struct sink_record *rec)
{
    const struct sink_sample *s = &rec->u.sample;
    struct row *r = find_row(p, s->point);

    if (!r)
        return;
    r->raw = s->raw;
    r->value = s->value;
    r->quality = isnan(s->value) ? CORE_Q_BAD : CORE_Q_GOOD;
    r->changed_ms = rec->wall_ms;
    send_row(p, r);
}

static void on_event(struct points *p, const struct sink_record *rec)
{
    const struct sink_event *e = &rec->u.event;
    struct row *r = e->point[0] ? find_row(p, e->point) : NULL;

    if (!r)
        return;
    r->type = e->type;
    r->state = e->state;
    r->has_state = true;
    if (e->quality != CORE_Q_NONE)
        r->quality = e->quality;
    r->changed_ms = rec->wall_ms;
    send_row(p, r);
}

/* A device that stopped answering: its points' last values are no longer current. */
static void on_device(struct points *p, const struct sink_device *d)
{
    if (d->up || !d->changed)
        return;
    for (int i = 0; i < p->n_rows; i++)
        if (strcmp(p->rows[i].device, d->device) == 0 && p->rows[i].quality != CORE_Q_NONE) {
            p->rows[i].quality = CORE_Q_UNKNOWN;
            send_row(p, &p->rows[i]);
        }
}

static void on_zone(struct points *p, const struct sink_zone *zc)
{
    struct zrow *z = find_zone(p, zc->zone);
    char line[POINTS_LINE_MAX];

    if (!z)
        return;
    z->known = true;
    z->armed = zc->armed;
    z->test = zc->test;
    z->started_ms = zc->test_started_wall_ms;
    z->until_ms = zc->test_until_wall_ms;
    zone_line(z, line, sizeof(line));
    broadcast(p, line);
}

static void on_tested(struct points *p, const struct sink_record *rec)
{
    struct row *r = find_row(p, rec->u.tested.point);

    if (!r)
        return;
    r->tested_ms = rec->wall_ms;
    send_row(p, r);
}

static void points_deliver(void *self, const struct sink_record *rec)
{
    struct points *p = self;

    switch (rec->kind) {
    case SINK_SAMPLE: on_sample(p, rec); break;
    case SINK_EVENT: on_event(p, rec); break;
    case SINK_DEVICE: on_device(p, &rec->u.device); break;
    case SINK_ZONE: on_zone(p, &rec->u.zone); break;
    case SINK_TESTED: on_tested(p, rec); break;
    case SINK_RESULT:
    case SINK_OUTPUT:
    case SINK_RETIRE:
    case SINK_RESUME:
    case SINK_RETRY:
        break; /* nothing a point row shows */
    }
}

static void points_tick(void *self, uint64_t now_mono_ms, int64_t now_wall_ms)
{
    struct points *p = self;

    (void)now_mono_ms;
    (void)now_wall_ms;
    accept_clients(p);
    for (int i = 0; i < POINTS_CLIENTS_MAX; i++)
        flush(&p->clients[i]);
}

/* A reload: the table follows the new config; clients get it again from the start. */
static void points_reconfigure(void *self, const struct cfg_site *site)
{
    struct points *p = self;

    if (build_table(p, site) < 0) {
        /* the old rows name points of the old site, which goes when this returns */
        log_err("points: out of memory building the table; the view is empty until the next reload");
        free(p->rows);
        free(p->zones);
        p->rows = NULL;
        p->zones = NULL;
        p->n_rows = p->n_zones = 0;
    }
    for (int i = 0; i < POINTS_CLIENTS_MAX; i++)
        if (p->clients[i].fd >= 0)
            drop(&p->clients[i], "the configuration was reloaded; reconnect for the new table");
}

static void points_stop(void *self)
{
    struct points *p = self;

    for (int i = 0; i < POINTS_CLIENTS_MAX; i++)
        if (p->clients[i].fd >= 0)
            close_client(&p->clients[i]);
    if (p->listen_fd >= 0) {
        close(p->listen_fd);
        unlink(p->path);
    }
    free(p->rows);
    free(p->zones);
    free(p);
}

const struct sink_ops points_sink_ops = {
    .name = "points",
    .lossless = false,
    .deliver = points_deliver,
    .tick = points_tick,
    .reconfigure = points_reconfigure,
    .stop = points_stop,
};

void points_socket_path(const struct cfg_site *site, const char *state_dir, char *path, size_t cap)
{
    if (site->points_socket[0])
        snprintf(path, cap, "%s", site->points_socket);
    else
        snprintf(path, cap, "%s/points.sock", state_dir);
}

/* Binds and listens on p->path, mode 0660: the gateway's vigil group may watch. */
static int listen_on(struct points *p, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->path);
    p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->listen_fd < 0) {
        snprintf(err, errlen, "points: socket: %s", strerror(errno));
        return -1;
    }
    /* A socket left by a process that died: the state_dir lock says none runs now. */
    unlink(p->path);
    if (bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(p->path, 0660) < 0 ||
        listen(p->listen_fd, POINTS_CLIENTS_MAX) < 0) {
        snprintf(err, errlen, "points: socket %s: %s; set site.points_socket to a path vigild can create",
                 p->path, strerror(errno));
        return -1;
    }
    return 0;
}

void *points_sink_start(const struct cfg_site *site, const char *state_dir, char *err, size_t errlen)
{
    struct points *p = calloc(1, sizeof(*p));
    char path[CFG_PATH_MAX + 16];

    if (!p) {
        snprintf(err, errlen, "points: out of memory");
        return NULL;
    }
    p->listen_fd = -1;
    for (int i = 0; i < POINTS_CLIENTS_MAX; i++)
        p->clients[i].fd = -1;
    points_socket_path(site, state_dir, path, sizeof(path));
    if (strlen(path) >= sizeof(p->path)) {
        snprintf(err, errlen, "points: socket path %s is longer than %zu bytes; set site.points_socket to a "
                 "shorter path", path, sizeof(p->path) - 1);
        points_stop(p);
        return NULL;
    }
    memcpy(p->path, path, strlen(path) + 1); /* fits: checked above */
    if (build_table(p, site) < 0) {
        snprintf(err, errlen, "points: out of memory");
        points_stop(p);
        return NULL;
    }
    if (listen_on(p, err, errlen) < 0) {
        points_stop(p);
        return NULL;
    }
    return p;
}
