/*
 * influx.c - the InfluxDB sink (see influx.h and docs/influx.md).
 *
 * Two halves meet in one bounded byte ring of complete lines:
 *
 *   core thread  deliver(): decide whether the record is worth a line
 *                (deadband, change, refresh), encode it, append it to the
 *                ring, dropping the oldest lines if it is full.
 *   writer       waits for a batch (batch_lines, or the oldest line
 *                batch_age_s old), copies it out of the ring, gzips it and
 *                POSTs it; on a failure it keeps that batch and retries it
 *                (in order: nothing newer is sent before it) while new
 *                lines keep filling the ring behind it.
 *
 * The ring's mutex is held only to copy bytes in or out, never across a
 * request, so a server that accepts and never answers costs deliver()
 * nothing. What InfluxDB answers decides the next step (classify()):
 * 204 sent; 400 the bad line is logged and only it is lost (the others of
 * a 400 "partial write" are stored: resending would duplicate nothing but
 * gains nothing); 413 the batch is split; 401/403/404 a configuration
 * fault, logged with its fix, retried slowly; 429/503 retried after
 * Retry-After; other errors retried with back-off. Explicit millisecond
 * timestamps make a resent line idempotent.
 */
#include "influx.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "clock.h"
#include "curlload.h"
#include "influx_line.h"
#include "log.h"

/* libcurl's functions (curlload.h); set by the first influx_start(), the
 * same table every time, before any writer thread exists. */
static const struct curl_api *cu;

#define BATCH_BYTES_MAX (1u << 20)   /* one request's body before gzip */
#define RESPONSE_MAX 1024            /* bytes of an error body kept for the log */
#define CONNECT_TIMEOUT_MS 5000
#define STOP_FLUSH_MS 2000           /* stop() sends what it can for this long */
#define RETRY_MIN_MS 1000            /* back-off after a server or network error ... */
#define RETRY_MAX_MS 30000           /* ... doubling up to this */
#define CONFIG_RETRY_MS 10000        /* first retry after 401/403/404: a person must fix it */
#define CONFIG_RETRY_MAX_MS 60000

/* What the core thread remembers of a point, a device or an alarm, by id. */
struct entry {
    char id[CORE_ALARM_ID_MAX];      /* "" for a free slot */
    double value;                    /* point: last written value */
    double high, low;                /* point: configured alarm limits, NaN for none */
    int64_t wall_ms;                 /* point: last write; device: last record; alarm: raised at (0 none) */
    uint64_t polls;                  /* device: polls at wall_ms */
    enum core_alarm_state state;     /* alarm: last state seen */
};

/* An open-addressing table of entries; cap is a power of two, at most half full. */
struct idmap {
    struct entry *slots;
    size_t cap, used;
};

enum outcome { SENT, REJECTED, SPLIT, RETRY };

struct influx {
    /* Set at start, read-only afterwards (both threads). */
    struct cfg_influx cfg;
    char site[CFG_ID_MAX];
    char journal_dir[CFG_PATH_MAX + 16];
    struct influx_gauge gauges[INFLUX_MAX_GAUGES];
    int n_gauges;

    /* Core thread only. */
    struct idmap points, devices, alarms;
    double deadband;
    int refresh_ms;
    int shift_min[CFG_MAX_SHIFTS], n_shifts;
    char line[ILP_LINE_MAX];

    /* Shared, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;               /* wakes the writer: a full batch, the first line, stop */
    char *ring;
    size_t cap, tail, used, lines;
    uint64_t oldest_ms;              /* monotonic time the oldest buffered line arrived (about) */
    bool stopping;
    uint64_t stop_deadline_ms;
    struct influx_stats st;

    /* Writer thread only. */
    pthread_t thread;
    CURL *curl;
    struct curl_slist *headers;
    char url[CFG_PATH_MAX * 3];
    char *batch, *gz;
    size_t gz_cap;
    z_stream zs;
    char response[RESPONSE_MAX];
    size_t response_len;
    struct log_complaint fault;
    uint64_t retry_ms;               /* current back-off */
    uint64_t next_health_ms;
    uint64_t dropped_reported;
    uint64_t cpu_ticks_before, cpu_mono_before;
    uint64_t start_ms;
};

/* ------------------------------------------------------------------ */
/* The id tables (core thread)                                         */
/* ------------------------------------------------------------------ */

static int idmap_init(struct idmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 16)
        cap *= 2;
    m->slots = calloc(cap, sizeof *m->slots);
    m->cap = cap;
    m->used = 0;
    return m->slots ? 0 : -1;
}

static size_t idmap_hash(const char *id)
{
    return (size_t)cfg_hash_bytes(0xcbf29ce484222325ULL, id, strlen(id));
}

/* The entry for id, created zeroed if new; NULL if the table is full (the
 * record is then written without the history it would have used). */
static struct entry *idmap_get(struct idmap *m, const char *id)
{
    size_t i = idmap_hash(id) & (m->cap - 1);
    while (m->slots[i].id[0]) {
        if (strcmp(m->slots[i].id, id) == 0)
            return &m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    if (2 * (m->used + 1) > m->cap || strlen(id) >= sizeof m->slots[i].id)
        return NULL;
    m->used++;
    snprintf(m->slots[i].id, sizeof m->slots[i].id, "%s", id);
    m->slots[i].high = m->slots[i].low = NAN;
    return &m->slots[i];
}

/* Makes room for n entries, keeping the ones it has; -1 if out of memory. */
static int idmap_reserve(struct idmap *m, size_t n)
{
    struct idmap bigger;
    if (2 * n + 16 <= m->cap)
        return 0;
    if (idmap_init(&bigger, n) < 0)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].id[0])
            *idmap_get(&bigger, m->slots[i].id) = m->slots[i];
    free(m->slots);
    *m = bigger;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The ring of lines (under mu)                                        */
/* ------------------------------------------------------------------ */

/* Offset from the tail just past the end of the line starting at offset from. */
static size_t ring_line_end(const struct influx *ix, size_t from)
{
    size_t pos = (ix->tail + from) % ix->cap;
    size_t left = ix->used - from;
    size_t first = left < ix->cap - pos ? left : ix->cap - pos;
    const char *nl = memchr(ix->ring + pos, '\n', first);
    if (nl)
        return from + (size_t)(nl - (ix->ring + pos)) + 1;
    nl = memchr(ix->ring, '\n', left - first);
    return from + first + (size_t)(nl - ix->ring) + 1;
}

/* Forgets the first n bytes (whole lines); an empty ring starts again at
 * offset 0, so only as much of it is ever touched as the deepest backlog. */
static void ring_consume(struct influx *ix, size_t n, size_t lines)
{
    ix->tail = (ix->tail + n) % ix->cap;
    ix->used -= n;
    ix->lines -= lines;
    if (ix->used == 0)
        ix->tail = 0;
}

static void ring_drop_oldest(struct influx *ix)
{
    ring_consume(ix, ring_line_end(ix, 0), 1);
    ix->st.dropped++;
}

/* Appends one line (newline included), shedding the oldest to make room. */
static void ring_push(struct influx *ix, const char *line, size_t n, uint64_t now_ms)
{
    pthread_mutex_lock(&ix->mu);
    while (ix->used > 0 && (ix->used + n > ix->cap || ix->lines >= (size_t)ix->cfg.max_lines))
        ring_drop_oldest(ix);
    if (ix->used == 0)
        ix->oldest_ms = now_ms;
    size_t head = (ix->tail + ix->used) % ix->cap;
    size_t first = n < ix->cap - head ? n : ix->cap - head;
    memcpy(ix->ring + head, line, first);
    memcpy(ix->ring, line + first, n - first);
    ix->used += n;
    ix->lines++;
    ix->st.queued++;
    /* Wake the writer for the first line (its age timer starts) and for a full batch. */
    if (ix->lines == 1 || ix->lines == (size_t)ix->cfg.batch_lines)
        pthread_cond_signal(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
}

/* Copies up to batch_lines whole lines (at most BATCH_BYTES_MAX bytes) into
 * ix->batch and removes them from the ring; returns the bytes, *lines set. */
static size_t ring_take(struct influx *ix, size_t *lines)
{
    size_t n = 0, count = 0;
    while (count < (size_t)ix->cfg.batch_lines && n < ix->used) {
        size_t end = ring_line_end(ix, n);
        if (end > BATCH_BYTES_MAX)
            break;
        n = end;
        count++;
    }
    size_t first = n < ix->cap - ix->tail ? n : ix->cap - ix->tail;
    memcpy(ix->batch, ix->ring + ix->tail, first);
    memcpy(ix->batch + first, ix->ring, n - first);
    ring_consume(ix, n, count);
    *lines = count;
    return n;
}

/* ------------------------------------------------------------------ */
/* Records to lines (core thread)                                      */
/* ------------------------------------------------------------------ */

static bool kind_is_digital(enum cfg_point_kind k)
{
    return !(k == CFG_KIND_TEMPERATURE || k == CFG_KIND_HUMIDITY || k == CFG_KIND_ANALOG || k == CFG_KIND_EOL);
}

/* Whether a sample is worth a line: a digital point on a change, an analog
 * one on a change beyond the deadband or when its last line is refresh_s
 * old; both on becoming (un)readable. Records what it decided to write. */
static bool sample_due(struct influx *ix, struct entry *e, const struct sink_sample *s, int64_t wall_ms)
{
    if (!e)
        return true;
    bool first = e->wall_ms == 0, was_nan = isnan(e->value), is_nan = isnan(s->value);
    bool due = first || was_nan != is_nan;
    if (!due && !is_nan) {
        if (kind_is_digital(s->kind))
            due = s->value != e->value;
        else
            due = fabs(s->value - e->value) >= ix->deadband || (ix->deadband == 0 && s->value != e->value) ||
                  wall_ms - e->wall_ms >= ix->refresh_ms;
    }
    if (due) {
        e->value = s->value;
        e->wall_ms = wall_ms;
    }
    return due;
}

/* The start of the guard shift wall_ms falls in, as "HH:MM" local time
 * (the process runs in the site's time zone, schedule.h). */
static void shift_of(const struct influx *ix, int64_t wall_ms, char *out, size_t n)
{
    struct tm tm;
    time_t t = (time_t)(wall_ms / 1000);
    out[0] = '\0';
    if (ix->n_shifts == 0 || !localtime_r(&t, &tm))
        return;
    int min = tm.tm_hour * 60 + tm.tm_min;
    int start = ix->shift_min[ix->n_shifts - 1]; /* before the first start: last night's shift */
    for (int i = 0; i < ix->n_shifts; i++)
        if (ix->shift_min[i] <= min)
            start = ix->shift_min[i];
    snprintf(out, n, "%02d:%02d", start / 60, start % 60);
}

/* Tracks when each alarm was raised so its acknowledgement carries ack_s. */
static double alarm_ack_s(struct influx *ix, const struct sink_event *e, int64_t wall_ms)
{
    double ack_s = NAN;
    struct entry *a = e->alarm[0] ? idmap_get(&ix->alarms, e->alarm) : NULL;
    if (!a)
        return NAN;
    bool acked = (a->state == CORE_S_ACTIVE_UNACKED && e->state == CORE_S_ACTIVE_ACKED) ||
                 (a->state == CORE_S_RTN_UNACKED && e->state == CORE_S_NORMAL && e->operator_name[0]);
    if (e->state == CORE_S_ACTIVE_UNACKED && a->wall_ms == 0)
        a->wall_ms = wall_ms;
    if (acked && a->wall_ms)
        ack_s = (double)(wall_ms - a->wall_ms) / 1000.0;
    if (acked || e->state == CORE_S_NORMAL)
        a->wall_ms = 0;
    a->state = e->state;
    return ack_s;
}

static size_t encode_event(struct influx *ix, const struct sink_record *rec)
{
    char shift[16];
    shift_of(ix, rec->wall_ms, shift, sizeof shift);
    struct ilp_alarm_extra x = {.ack_s = alarm_ack_s(ix, &rec->u.event, rec->wall_ms), .shift = shift};
    return ilp_event(ix->line, sizeof ix->line, ix->site, &rec->u.event, &x, rec->wall_ms);
}

/* Requests per second since the device's previous record. */
static size_t encode_device(struct influx *ix, const struct sink_record *rec)
{
    const struct sink_device *d = &rec->u.device;
    struct entry *e = idmap_get(&ix->devices, d->device);
    double rps = NAN;
    if (e && e->wall_ms && rec->wall_ms > e->wall_ms && d->polls >= e->polls)
        rps = (double)(d->polls - e->polls) * 1000.0 / (double)(rec->wall_ms - e->wall_ms);
    if (e) {
        e->wall_ms = rec->wall_ms;
        e->polls = d->polls;
    }
    return ilp_device(ix->line, sizeof ix->line, ix->site, d, rps, rec->wall_ms);
}

static void ix_deliver(void *self, const struct sink_record *rec)
{
    struct influx *ix = self;
    size_t n = 0;
    struct entry *e;
    switch (rec->kind) {
    case SINK_SAMPLE:
        e = idmap_get(&ix->points, rec->u.sample.point);
        if (sample_due(ix, e, &rec->u.sample, rec->wall_ms))
            n = ilp_sample(ix->line, sizeof ix->line, ix->site, &rec->u.sample, e ? e->high : NAN, e ? e->low : NAN,
                           rec->wall_ms);
        break;
    case SINK_EVENT: n = encode_event(ix, rec); break;
    case SINK_ZONE: n = ilp_zone(ix->line, sizeof ix->line, ix->site, &rec->u.zone, rec->wall_ms); break;
    case SINK_DEVICE: n = encode_device(ix, rec); break;
    case SINK_RESULT:
    case SINK_OUTPUT:
    case SINK_RETIRE:
    case SINK_RESUME:
    case SINK_RETRY:
    case SINK_TESTED:
        break; /* no telemetry in them */
    }
    if (n)
        ring_push(ix, ix->line, n, clock_mono_ms());
}

/* Each point's configured alarm limits, written with its values. */
static void load_limits(struct influx *ix, const struct cfg_site *site)
{
    for (int i = 0; i < site->n_points; i++) {
        struct entry *e = idmap_get(&ix->points, site->points[i].id);
        const struct cfg_analog *an = site->points[i].analog;
        if (e) {
            e->high = an ? an->high : NAN;
            e->low = an ? an->low : NAN;
        }
    }
}

/* Takes the reloaded site's point settings and room for its ids. The
 * connection (url, credentials, buffer) stays as it started. */
static void ix_reconfigure(void *self, const struct cfg_site *site)
{
    struct influx *ix = self;
    const struct cfg_influx *c = &site->influx;
    if (strcmp(c->url, ix->cfg.url) != 0 || strcmp(c->database, ix->cfg.database) != 0 ||
        strcmp(c->bucket, ix->cfg.bucket) != 0 || !c->enabled)
        log_notice("influx: a changed influx group takes effect at the next start of vigild");
    if (!c->enabled)
        return;
    ix->deadband = c->deadband;
    ix->refresh_ms = c->refresh_ms;
    ix->n_shifts = c->n_shifts;
    memcpy(ix->shift_min, c->shift_min, sizeof ix->shift_min);
    if (idmap_reserve(&ix->points, (size_t)site->n_points) < 0 ||
        idmap_reserve(&ix->devices, (size_t)site->n_devices) < 0 ||
        idmap_reserve(&ix->alarms, (size_t)(4 * site->n_points + site->n_devices + 16)) < 0)
        log_warn("influx: out of memory growing the id tables; new points are written on every sample");
    load_limits(ix, site);
}

/* ------------------------------------------------------------------ */
/* HTTP (writer thread)                                                */
/* ------------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct influx *ix = arg;
    size_t len = size * n, room = sizeof ix->response - 1 - ix->response_len;
    memcpy(ix->response + ix->response_len, data, len < room ? len : room);
    ix->response_len += len < room ? len : room;
    ix->response[ix->response_len] = '\0';
    return len;
}

/* Aborts a request (a stalled server) once stop()'s flush time is over. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct influx *ix = arg;
    (void)dt, (void)dn, (void)ut, (void)un;
    pthread_mutex_lock(&ix->mu);
    bool over = ix->stopping && clock_mono_ms() >= ix->stop_deadline_ms;
    pthread_mutex_unlock(&ix->mu);
    return over;
}

/* Appends key=<value, URL-escaped> to the URL. */
static void url_param(struct influx *ix, const char *key, const char *value)
{
    char *esc = cu->easy_escape(ix->curl, value, 0);
    size_t n = strlen(ix->url);
    snprintf(ix->url + n, sizeof ix->url - n, "%c%s=%s", strchr(ix->url, '?') ? '&' : '?', key,
             esc ? esc : "");
    cu->free_str(esc);
}

/* The one easy handle: URL, headers, credentials and timeouts, set once. */
static int http_setup(struct influx *ix, char *err, size_t errlen)
{
    const struct cfg_influx *c = &ix->cfg;
    ix->curl = cu->easy_init();
    if (!ix->curl) {
        snprintf(err, errlen, "influx: cannot create a libcurl handle");
        return -1;
    }
    snprintf(ix->url, sizeof ix->url, "%s%s", c->url, c->api == CFG_INFLUX_V1 ? "/write" : "/api/v2/write");
    if (c->api == CFG_INFLUX_V1) {
        url_param(ix, "db", c->database);
        if (c->retention_policy[0])
            url_param(ix, "rp", c->retention_policy);
    } else {
        url_param(ix, "org", c->org);
        url_param(ix, "bucket", c->bucket);
    }
    url_param(ix, "precision", "ms");
    ix->headers = cu->slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
    ix->headers = cu->slist_append(ix->headers, "Expect:");
    if (c->gzip)
        ix->headers = cu->slist_append(ix->headers, "Content-Encoding: gzip");
    if (c->api == CFG_INFLUX_V2) {
        char auth[sizeof c->token + 32];
        snprintf(auth, sizeof auth, "Authorization: Token %s", c->token);
        ix->headers = cu->slist_append(ix->headers, auth);
    } else if (c->username[0]) {
        cu->easy_setopt(ix->curl, CURLOPT_USERNAME, c->username);
        cu->easy_setopt(ix->curl, CURLOPT_PASSWORD, c->password);
    }
    cu->easy_setopt(ix->curl, CURLOPT_URL, ix->url);
    cu->easy_setopt(ix->curl, CURLOPT_POST, 1L);
    cu->easy_setopt(ix->curl, CURLOPT_HTTPHEADER, ix->headers);
    cu->easy_setopt(ix->curl, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(ix->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    cu->easy_setopt(ix->curl, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    cu->easy_setopt(ix->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    cu->easy_setopt(ix->curl, CURLOPT_WRITEFUNCTION, on_body);
    cu->easy_setopt(ix->curl, CURLOPT_WRITEDATA, ix);
    cu->easy_setopt(ix->curl, CURLOPT_NOPROGRESS, 0L);
    cu->easy_setopt(ix->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    cu->easy_setopt(ix->curl, CURLOPT_XFERINFODATA, ix);
    return ix->headers ? 0 : -1;
}

/* Gzips body into ix->gz; returns the compressed length, 0 on failure. */
static size_t gzip_body(struct influx *ix, const char *body, size_t len)
{
    if (deflateReset(&ix->zs) != Z_OK)
        return 0;
    ix->zs.next_in = (Bytef *)(uintptr_t)body;
    ix->zs.avail_in = (uInt)len;
    ix->zs.next_out = (Bytef *)ix->gz;
    ix->zs.avail_out = (uInt)ix->gz_cap;
    if (deflate(&ix->zs, Z_FINISH) != Z_STREAM_END)
        return 0;
    return ix->gz_cap - ix->zs.avail_out;
}

/* POSTs one body; returns the HTTP status (0 for a transport error, with
 * its text in ix->response) and *retry_after_s from a Retry-After header. */
static long http_post(struct influx *ix, const char *body, size_t len, long *retry_after_s)
{
    long status = 0;
    curl_off_t retry = 0;
    size_t zlen = ix->cfg.gzip ? gzip_body(ix, body, len) : 0;
    if (ix->cfg.gzip && zlen == 0) {
        snprintf(ix->response, sizeof ix->response, "gzip failed");
        return 0;
    }
    cu->easy_setopt(ix->curl, CURLOPT_POSTFIELDS, ix->cfg.gzip ? ix->gz : body);
    cu->easy_setopt(ix->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(ix->cfg.gzip ? zlen : len));
    ix->response_len = 0;
    ix->response[0] = '\0';
    CURLcode rc = cu->easy_perform(ix->curl);
    if (rc != CURLE_OK) {
        snprintf(ix->response, sizeof ix->response, "%s", cu->easy_strerror(rc));
        return 0;
    }
    cu->easy_getinfo(ix->curl, CURLINFO_RESPONSE_CODE, &status);
    cu->easy_getinfo(ix->curl, CURLINFO_RETRY_AFTER, &retry);
    *retry_after_s = (long)retry;
    return status;
}

/* ------------------------------------------------------------------ */
/* Sending a batch (writer thread)                                     */
/* ------------------------------------------------------------------ */

static void count(struct influx *ix, uint64_t *counter, uint64_t n)
{
    pthread_mutex_lock(&ix->mu);
    *counter += n;
    pthread_mutex_unlock(&ix->mu);
}

/* What a configuration fault needs from a person, by status. */
static const char *config_fix(const struct influx *ix, long status)
{
    bool v1 = ix->cfg.api == CFG_INFLUX_V1;
    if (status == 401 || status == 403)
        return v1 ? "wrong username or password, or the user may not write to the database; fix "
                    "influx.username and influx.password or GRANT WRITE"
                  : "wrong token, or it may not write to the bucket; fix influx.token";
    if (strstr(ix->response, "database not found"))
        return "the database does not exist; create it (CREATE DATABASE) or fix influx.database";
    return v1 ? "no /write here; fix influx.url" : "org or bucket not found, or the server is InfluxDB 1.x "
                                                   "(use api = \"v1\"); fix influx.org, influx.bucket or influx.url";
}

/* Lines a 400 cost, as InfluxDB 1.x words it: one per "unable to parse
 * '<line>'", plus the "dropped=N" it counts for others (type conflicts);
 * at least one, at most the batch. */
static uint64_t rejected_lines(const char *body, size_t lines)
{
    uint64_t n = 0;
    for (const char *p = strstr(body, "unable to parse"); p; p = strstr(p + 1, "unable to parse"))
        n++;
    const char *d = strstr(body, "dropped=");
    if (d)
        n += strtoull(d + 8, NULL, 10);
    return n == 0 ? 1 : n > lines ? lines : n;
}

/* Turns a status into the next step, logging what a person must know; the
 * back-off to wait before a RETRY is left in ix->retry_ms. */
static enum outcome classify(struct influx *ix, long status, long retry_after_s, size_t lines)
{
    uint64_t now = clock_mono_ms();
    if (status == 204 || status == 200) {
        count(ix, &ix->st.written, lines);
        log_release(&ix->fault, LOG_LVL_NOTICE, "influx: %s: writing again", ix->cfg.url);
        ix->retry_ms = 0;
        return SENT;
    }
    count(ix, &ix->st.failures, 1);
    if (status == 400) {
        uint64_t bad = rejected_lines(ix->response, lines);
        count(ix, &ix->st.rejected, bad);
        count(ix, &ix->st.written, lines - bad);
        log_warn("influx: %s: InfluxDB refused a line, which is dropped (the rest of the batch is stored): %s",
                 ix->cfg.url, ix->response);
        return REJECTED;
    }
    if (status == 413)
        return SPLIT;
    bool config = status == 401 || status == 403 || status == 404;
    uint64_t lo = config ? CONFIG_RETRY_MS : RETRY_MIN_MS, hi = config ? CONFIG_RETRY_MAX_MS : RETRY_MAX_MS;
    ix->retry_ms = ix->retry_ms ? ix->retry_ms * 2 : lo;
    ix->retry_ms = ix->retry_ms < lo ? lo : ix->retry_ms > hi ? hi : ix->retry_ms;
    if ((status == 429 || status == 503) && retry_after_s > 0)
        ix->retry_ms = (uint64_t)retry_after_s * 1000;
    if (config)
        log_complain(&ix->fault, now, LOG_LVL_ERR, "influx: %s: write refused (HTTP %ld): %s; retrying every "
                     "%" PRIu64 " s meanwhile", ix->cfg.url, status, config_fix(ix, status), ix->retry_ms / 1000);
    else if (status == 0)
        log_complain(&ix->fault, now, LOG_LVL_WARN, "influx: %s: cannot write: %s; buffering and retrying",
                     ix->cfg.url, ix->response);
    else
        log_complain(&ix->fault, now, LOG_LVL_WARN, "influx: %s: write failed (HTTP %ld): %.200s; buffering "
                     "and retrying in %" PRIu64 " ms", ix->cfg.url, status, ix->response, ix->retry_ms);
    return RETRY;
}

static void periodic(struct influx *ix);

/* Waits ms unless stop()'s flush time runs out first; false if it did.
 * The health line and the dropped count keep coming meanwhile. */
static bool backoff(struct influx *ix, uint64_t ms)
{
    uint64_t until = clock_mono_ms() + ms;
    for (;;) {
        periodic(ix);
        pthread_mutex_lock(&ix->mu);
        uint64_t now = clock_mono_ms();
        bool over = ix->stopping && now >= ix->stop_deadline_ms;
        if (over || now >= until) {
            pthread_mutex_unlock(&ix->mu);
            return !over;
        }
        uint64_t wake = until < ix->next_health_ms ? until : ix->next_health_ms;
        if (ix->stopping && ix->stop_deadline_ms < wake)
            wake = ix->stop_deadline_ms;
        struct timespec ts = {.tv_sec = (time_t)(wake / 1000), .tv_nsec = (long)(wake % 1000) * 1000000};
        pthread_cond_timedwait(&ix->cv, &ix->mu, &ts);
        pthread_mutex_unlock(&ix->mu);
    }
}

/* Offset just past the middle line of body (n lines). */
static size_t middle(const char *body, size_t lines)
{
    const char *p = body;
    for (size_t i = 0; i < lines / 2; i++)
        p = strchr(p, '\n') + 1;
    return (size_t)(p - body);
}

/*
 * Sends lines of body until InfluxDB has them (or refused some), retrying
 * in place so nothing newer overtakes them. False if stop() ran out of time
 * first: the caller counts what is left as dropped.
 */
static bool send_lines(struct influx *ix, char *body, size_t len, size_t lines)
{
    for (;;) {
        long retry_after = 0;
        char save = body[len];
        body[len] = '\0'; /* middle() and the 400 log read it as a string */
        long status = http_post(ix, body, len, &retry_after);
        count(ix, &ix->st.requests, 1);
        enum outcome o = classify(ix, status, retry_after, lines);
        size_t half = o == SPLIT && lines > 1 ? middle(body, lines) : 0;
        body[len] = save;
        switch (o) {
        case SENT:
        case REJECTED:
            return true;
        case SPLIT:
            if (lines == 1) {
                log_warn("influx: %s: a single line is too large for the server (413); dropped", ix->cfg.url);
                count(ix, &ix->st.rejected, 1);
                return true;
            }
            return send_lines(ix, body, half, lines / 2) &&
                   send_lines(ix, body + half, len - half, lines - lines / 2);
        case RETRY:
            if (!backoff(ix, ix->retry_ms))
                return false;
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Gateway health and the dropped count (writer thread)                */
/* ------------------------------------------------------------------ */

/* utime + stime of the whole process, in clock ticks; 0 if unreadable. */
static uint64_t cpu_ticks(void)
{
    char buf[1024];
    unsigned long long ut = 0, st = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return ut + st;
}

static uint64_t rss_bytes(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Bytes of the journal's segments. */
static uint64_t dir_bytes(const char *dir)
{
    uint64_t total = 0;
    struct stat sb;
    char path[CFG_PATH_MAX + 300];
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

/* The vigil_gateway line: process, buffer and the caller's gauges. */
static void push_health(struct influx *ix, uint64_t now_ms)
{
    struct influx_stats st;
    struct ilp l;
    char buf[ILP_LINE_MAX];
    uint64_t ticks = cpu_ticks();
    influx_get_stats(ix, &st);
    ilp_start(&l, buf, sizeof buf, "vigil_gateway");
    ilp_tag(&l, "site", ix->site);
    ilp_int(&l, "uptime_s", (int64_t)((now_ms - ix->start_ms) / 1000));
    ilp_int(&l, "rss_bytes", (int64_t)rss_bytes());
    ilp_float(&l, "cpu_s", (double)ticks / (double)sysconf(_SC_CLK_TCK));
    if (ix->cpu_mono_before && now_ms > ix->cpu_mono_before)
        ilp_float(&l, "cpu_pct", 100.0 * (double)(ticks - ix->cpu_ticks_before) / (double)sysconf(_SC_CLK_TCK) /
                                     ((double)(now_ms - ix->cpu_mono_before) / 1000.0));
    ix->cpu_ticks_before = ticks;
    ix->cpu_mono_before = now_ms;
    ilp_int(&l, "journal_bytes", (int64_t)dir_bytes(ix->journal_dir));
    ilp_int(&l, "influx_buffered", (int64_t)st.buffered_lines);
    ilp_int(&l, "influx_written", (int64_t)st.written);
    ilp_int(&l, "influx_dropped", (int64_t)st.dropped);
    for (int i = 0; i < ix->n_gauges; i++)
        ilp_int(&l, ix->gauges[i].field, (int64_t)ix->gauges[i].read(ix->gauges[i].arg));
    size_t n = ilp_finish(&l, clock_wall_ms());
    if (n)
        ring_push(ix, buf, n, now_ms);
}

/* Once per health period: the health line and, if lines were shed since
 * the last period, one log line and a vigil_influx_dropped point. */
static void periodic(struct influx *ix)
{
    uint64_t now = clock_mono_ms();
    char buf[ILP_LINE_MAX];
    if (now < ix->next_health_ms)
        return;
    ix->next_health_ms = now + (uint64_t)ix->cfg.health_ms;
    push_health(ix, now);
    pthread_mutex_lock(&ix->mu);
    uint64_t dropped = ix->st.dropped;
    pthread_mutex_unlock(&ix->mu);
    if (dropped == ix->dropped_reported)
        return;
    log_warn("influx: %s: buffer full (%d lines, %d bytes): dropped the oldest %" PRIu64 " lines in the last "
             "%.1f s, %" PRIu64 " since start", ix->cfg.url, ix->cfg.max_lines, ix->cfg.max_bytes,
             dropped - ix->dropped_reported, ix->cfg.health_ms / 1000.0, dropped);
    ix->dropped_reported = dropped;
    size_t n = ilp_dropped(buf, sizeof buf, ix->site, dropped, clock_wall_ms());
    ring_push(ix, buf, n, now);
}

/* ------------------------------------------------------------------ */
/* The writer thread                                                   */
/* ------------------------------------------------------------------ */

/* Waits under mu until a batch is due (full, old enough, or stopping with
 * lines left) or a health period ends; returns with mu held. */
static void wait_for_batch(struct influx *ix)
{
    for (;;) {
        uint64_t now = clock_mono_ms();
        if (ix->lines >= (size_t)ix->cfg.batch_lines || (ix->lines && ix->stopping) ||
            (ix->lines && now >= ix->oldest_ms + (uint64_t)ix->cfg.batch_ms) || now >= ix->next_health_ms ||
            ix->stopping)
            return;
        uint64_t wake = ix->next_health_ms;
        if (ix->lines && ix->oldest_ms + (uint64_t)ix->cfg.batch_ms < wake)
            wake = ix->oldest_ms + (uint64_t)ix->cfg.batch_ms;
        struct timespec ts = {.tv_sec = (time_t)(wake / 1000), .tv_nsec = (long)(wake % 1000) * 1000000};
        pthread_cond_timedwait(&ix->cv, &ix->mu, &ts);
    }
}

static void *writer_main(void *arg)
{
    struct influx *ix = arg;
    for (;;) {
        size_t lines = 0, len = 0;
        pthread_mutex_lock(&ix->mu);
        wait_for_batch(ix);
        bool stopping = ix->stopping, over = stopping && clock_mono_ms() >= ix->stop_deadline_ms;
        if (!over && ix->lines && (stopping || ix->lines >= (size_t)ix->cfg.batch_lines ||
                                   clock_mono_ms() >= ix->oldest_ms + (uint64_t)ix->cfg.batch_ms)) {
            len = ring_take(ix, &lines);
            ix->oldest_ms = clock_mono_ms(); /* what is left waits at most one more batch age */
        }
        bool done = stopping && (over || ix->lines == 0) && lines == 0;
        pthread_mutex_unlock(&ix->mu);
        if (done)
            break;
        if (!stopping)
            periodic(ix);
        if (lines && !send_lines(ix, ix->batch, len, lines))
            count(ix, &ix->st.dropped, lines);
    }
    pthread_mutex_lock(&ix->mu);
    ix->st.dropped += ix->lines; /* stop() ran out of time: what is left is lost, and counted */
    pthread_mutex_unlock(&ix->mu);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Start, stop, stats                                                  */
/* ------------------------------------------------------------------ */

static void ix_free(struct influx *ix)
{
    cu->slist_free_all(ix->headers);
    if (ix->curl)
        cu->easy_cleanup(ix->curl);
    if (ix->gz)
        deflateEnd(&ix->zs);
    free(ix->gz);
    free(ix->batch);
    free(ix->ring);
    free(ix->points.slots);
    free(ix->devices.slots);
    free(ix->alarms.slots);
    pthread_cond_destroy(&ix->cv);
    pthread_mutex_destroy(&ix->mu);
    free(ix);
    cu->global_cleanup(); /* balances influx_start's curl_global_init */
}

/* Memory and locks; everything here is freed by ix_free. */
static int ix_alloc(struct influx *ix, const struct cfg_site *site)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ix->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&ix->mu, NULL);
    ix->cap = (size_t)ix->cfg.max_bytes;
    ix->ring = malloc(ix->cap);
    ix->batch = malloc(BATCH_BYTES_MAX + 1);
    ix->gz_cap = compressBound(BATCH_BYTES_MAX) + 64; /* plus the gzip header and trailer */
    ix->gz = malloc(ix->gz_cap);
    if (!ix->ring || !ix->batch || !ix->gz ||
        deflateInit2(&ix->zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(ix->gz);
        ix->gz = NULL; /* deflateEnd only after a deflateInit2 */
        return -1;
    }
    if (idmap_init(&ix->points, (size_t)site->n_points) < 0 || idmap_init(&ix->devices, (size_t)site->n_devices) < 0 ||
        idmap_init(&ix->alarms, (size_t)(4 * site->n_points + site->n_devices + 16)) < 0)
        return -1;
    return 0;
}

struct influx *influx_start(const struct influx_options *o, char *err, size_t errlen)
{
    const struct cfg_site *site = o->site;
    if (!site->influx.enabled || o->n_gauges < 0 || o->n_gauges > INFLUX_MAX_GAUGES) {
        snprintf(err, errlen, "influx: no influx group, or too many gauges");
        return NULL;
    }
    if (!(cu = curlload(err, errlen)))
        return NULL;
    if (cu->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "influx: libcurl failed to initialise");
        return NULL;
    }
    struct influx *ix = calloc(1, sizeof *ix);
    if (!ix) {
        snprintf(err, errlen, "influx: out of memory");
        cu->global_cleanup();
        return NULL;
    }
    ix->cfg = site->influx;
    snprintf(ix->site, sizeof ix->site, "%s", site->id);
    snprintf(ix->journal_dir, sizeof ix->journal_dir, "%s/journal", o->state_dir ? o->state_dir : site->state_dir);
    memcpy(ix->gauges, o->gauges, sizeof ix->gauges);
    ix->n_gauges = o->n_gauges;
    ix->deadband = site->influx.deadband;
    ix->refresh_ms = site->influx.refresh_ms;
    ix->n_shifts = site->influx.n_shifts;
    memcpy(ix->shift_min, site->influx.shift_min, sizeof ix->shift_min);
    ix->start_ms = clock_mono_ms();
    ix->next_health_ms = ix->start_ms + (uint64_t)ix->cfg.health_ms;
    if (ix_alloc(ix, site) < 0) {
        snprintf(err, errlen, "influx: out of memory for a %d-byte buffer", ix->cfg.max_bytes);
        ix_free(ix);
        return NULL;
    }
    load_limits(ix, site);
    if (http_setup(ix, err, errlen) < 0 || pthread_create(&ix->thread, NULL, writer_main, ix) != 0) {
        if (!err[0])
            snprintf(err, errlen, "influx: cannot start the writer thread");
        ix_free(ix);
        return NULL;
    }
    log_info("influx: writing to %s (%s %s), batches of %d lines or %d ms, buffer %d lines / %d bytes",
             ix->cfg.url, ix->cfg.api == CFG_INFLUX_V1 ? "database" : "bucket",
             ix->cfg.api == CFG_INFLUX_V1 ? ix->cfg.database : ix->cfg.bucket, ix->cfg.batch_lines,
             ix->cfg.batch_ms, ix->cfg.max_lines, ix->cfg.max_bytes);
    return ix;
}

void influx_get_stats(struct influx *ix, struct influx_stats *out)
{
    pthread_mutex_lock(&ix->mu);
    *out = ix->st;
    out->buffered_lines = ix->lines;
    out->buffered_bytes = ix->used;
    pthread_mutex_unlock(&ix->mu);
}

/* Sends what it can within STOP_FLUSH_MS, counts the rest as dropped, frees. */
static void ix_stop(void *self)
{
    struct influx *ix = self;
    struct influx_stats st;
    pthread_mutex_lock(&ix->mu);
    ix->stopping = true;
    ix->stop_deadline_ms = clock_mono_ms() + STOP_FLUSH_MS;
    pthread_cond_broadcast(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
    pthread_join(ix->thread, NULL);
    influx_get_stats(ix, &st);
    log_info("influx: stopped: %" PRIu64 " lines written, %" PRIu64 " refused, %" PRIu64 " dropped", st.written,
             st.rejected, st.dropped);
    ix_free(ix);
}

const struct sink_ops influx_sink_ops = {
    .name = "influx",
    .lossless = false,
    .deliver = ix_deliver,
    .reconfigure = ix_reconfigure,
    .stop = ix_stop,
};
