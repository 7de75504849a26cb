/*
 * test_influx.c - the InfluxDB sink against a real influxd (Debian's 1.6.7,
 * started here on a free loopback port with authentication on) and, for
 * what a real 1.x server cannot show, a minimal HTTP server of this file's
 * own: the 2.x endpoint and header shape (1.6.7 has no /api/v2/write),
 * a server that accepts and never answers, and scripted 503/413 answers
 * to see the order and split of resent batches.
 *
 * Records are fed to the sink directly, as the core thread does. Skipped
 * (exit 77) when influxd is not installed.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "clock.h"
#include "harness.h"
#include "influx.h"
#include "influx_fixture.h"
#include "influxd.h"
#include "testproc.h"

#define DB "vigil_test"
#define T0 1764979200000LL /* 2025-12-06 00:00:00 UTC: every record's time is T0 + offset */

static struct influxd server;
static char logfile[300];

/* ---- the sink, fed as the core thread feeds it -------------------------- */

static struct cfg_site *site_for(const char *site_id, const char *url)
{
    return ifx_site(site_id, url, DB, 0);
}

static struct influx *start(const struct cfg_site *s)
{
    char err[256] = "";
    struct influx_options o = {.site = s};
    struct influx *ix = influx_start(&o, err, sizeof err);
    EXPECT(ix != NULL, "influx_start: %s", err);
    return ix;
}

static void deliver(struct influx *ix, const struct sink_record *r)
{
    influx_sink_ops.deliver(ix, r);
}

static void sample(struct influx *ix, const char *point, enum cfg_point_kind kind, double v, int64_t at_ms)
{
    ifx_sample(ix, point, "store-7", kind, v, T0 + at_ms);
}

static void raise_event(struct influx *ix, uint64_t seq, enum core_alarm_state state, const char *op, int64_t at_ms)
{
    struct sink_record r = {.kind = SINK_EVENT, .wall_ms = T0 + at_ms};
    struct sink_event *e = &r.u.event;
    *e = (struct sink_event){.seq = seq, .type = CORE_T_INTRUSION, .priority = CFG_PRIO_CRITICAL, .state = state,
                             .value = NAN};
    snprintf(e->alarm, sizeof e->alarm, "door-7.intrusion");
    snprintf(e->point, sizeof e->point, "door-7");
    snprintf(e->zone, sizeof e->zone, "store-7");
    snprintf(e->device, sizeof e->device, "io-1");
    snprintf(e->operator_name, sizeof e->operator_name, "%s", op);
    snprintf(e->text, sizeof e->text, "Intrusion at store 7, door 7");
    deliver(ix, &r);
}

static void stop(struct influx *ix)
{
    influx_sink_ops.stop(ix);
}

/* Waits until the sink has had n lines accepted (or refused); false after timeout_ms. */
static bool wait_written(struct influx *ix, uint64_t n, int timeout_ms)
{
    struct influx_stats st;
    long long deadline = tp_now_ms() + timeout_ms;
    do {
        influx_get_stats(ix, &st);
        if (st.written + st.rejected >= n)
            return true;
        tp_pause_ms(20);
    } while (tp_now_ms() < deadline);
    printf("# written %llu of %llu (buffered %llu, dropped %llu)\n", (unsigned long long)st.written,
           (unsigned long long)n, (unsigned long long)st.buffered_lines, (unsigned long long)st.dropped);
    return false;
}

/* A number the query answers in row 0, column col; NAN if none. */
static double query_number(const char *q, const char *col)
{
    json_t *a = influxd_query(&server, DB, q);
    json_t *v = influxd_cell(a, 0, col);
    double d = v ? json_number_value(v) : NAN;
    json_decref(a);
    return d;
}

/* ---- vigild's log, captured ------------------------------------------------ */

static int saved_stderr = -1;

static void log_capture(void)
{
    fflush(stderr);
    saved_stderr = dup(2);
    FILE *f = fopen(logfile, "w");
    dup2(fileno(f), 2);
    fclose(f);
}

/* Stops capturing; returns what was logged (free it). */
static char *log_release_text(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(logfile, "r");
    char *text = calloc(1, 65536);
    size_t n = f ? fread(text, 1, 65535, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    return text;
}

/* Waits until the captured log contains needle. */
static bool log_wait(const char *needle, int timeout_ms)
{
    long long deadline = tp_now_ms() + timeout_ms;
    char buf[16384];
    do {
        fflush(stderr);
        FILE *f = fopen(logfile, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        if (strstr(buf, needle))
            return true;
        tp_pause_ms(50);
    } while (tp_now_ms() < deadline);
    return false;
}

/* ---- a minimal HTTP server ------------------------------------------------ */

#define FAKE_MAX_REQ 16

struct fake_req {
    char head[2048];           /* request line and headers */
    char body[8192];           /* gunzipped when Content-Encoding: gzip */
};

struct fake {
    int fd, port;
    bool stall;                /* accept, read, never answer */
    const char *answers[FAKE_MAX_REQ]; /* status line + headers per request; NULL: 204 */
    struct fake_req req[FAKE_MAX_REQ];
    int n;
    volatile bool quit;
    pthread_mutex_t mu;
    pthread_t thread;
};

static void gunzip(const char *in, size_t len, char *out, size_t cap)
{
    z_stream z = {0};
    inflateInit2(&z, 15 + 16);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap - 1;
    inflate(&z, Z_FINISH);
    out[cap - 1 - z.avail_out] = '\0';
    inflateEnd(&z);
}

/* Reads one request from c into the next slot; false on EOF or quit. */
static bool fake_read(struct fake *f, int c, struct fake_req *r)
{
    static char buf[1 << 16];
    size_t got = 0;
    char *end = NULL;
    while (!end || got < (size_t)(end + 4 - buf) + strtoul(strcasestr(buf, "Content-Length:") + 15, NULL, 10)) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        if (f->quit)
            return false;
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            return false;
        got += (size_t)n;
        buf[got] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end && !strcasestr(buf, "Content-Length:"))
            return false;
    }
    size_t hlen = (size_t)(end - buf);
    snprintf(r->head, sizeof r->head, "%.*s", (int)hlen, buf);
    if (strcasestr(r->head, "Content-Encoding: gzip"))
        gunzip(end + 4, got - hlen - 4, r->body, sizeof r->body);
    else
        snprintf(r->body, sizeof r->body, "%.*s", (int)(got - hlen - 4), end + 4);
    return true;
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    while (!f->quit) {
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(f->fd, NULL, NULL);
        struct fake_req r;
        while (c >= 0 && fake_read(f, c, &r)) {
            pthread_mutex_lock(&f->mu);
            int i = f->n < FAKE_MAX_REQ ? f->n++ : FAKE_MAX_REQ - 1;
            f->req[i] = r;
            const char *a = f->answers[i] ? f->answers[i] : "204 No Content";
            pthread_mutex_unlock(&f->mu);
            char resp[256];
            int n = snprintf(resp, sizeof resp, "HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n", a);
            if (!f->stall && write(c, resp, (size_t)n) < 0)
                break;
        }
        while (c >= 0 && f->stall && !f->quit)
            tp_pause_ms(20); /* holds the connection open, silent */
        if (c >= 0)
            close(c);
    }
    return NULL;
}

static void fake_start(struct fake *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(f->fd, (struct sockaddr *)&a, sizeof a);
    getsockname(f->fd, (struct sockaddr *)&a, &len);
    listen(f->fd, 8);
    f->port = ntohs(a.sin_port);
    pthread_mutex_init(&f->mu, NULL);
    pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(struct fake *f)
{
    f->quit = true;
    pthread_join(f->thread, NULL);
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
}

static int fake_count(struct fake *f, int n, int timeout_ms)
{
    long long deadline = tp_now_ms() + timeout_ms;
    int got;
    do {
        pthread_mutex_lock(&f->mu);
        got = f->n;
        pthread_mutex_unlock(&f->mu);
        if (got >= n)
            break;
        tp_pause_ms(20);
    } while (tp_now_ms() < deadline);
    return got;
}

/* ---- cases ---------------------------------------------------------------- */

/* "The climate log shows 20 °C, then 20.2 °C; the door opened once; the guard
 * acknowledged the intrusion after 42.5 s." */
static void records_are_written_and_read_back(void)
{
    struct cfg_site *s = site_for("depot-north", server.url);
    struct influx *ix = start(s);
    sample(ix, "t-store7", CFG_KIND_TEMPERATURE, 20.0, 0);
    sample(ix, "t-store7", CFG_KIND_TEMPERATURE, 20.05, 1000);  /* inside the deadband: not written */
    sample(ix, "t-store7", CFG_KIND_TEMPERATURE, 20.2, 2000);
    sample(ix, "t-store7", CFG_KIND_TEMPERATURE, 20.2, 62000);  /* unchanged, but refresh_s passed */
    sample(ix, "door-7", CFG_KIND_DOOR, 0, 0);
    sample(ix, "door-7", CFG_KIND_DOOR, 0, 1000);               /* digital: unchanged, not written */
    sample(ix, "door-7", CFG_KIND_DOOR, 1, 3000);
    raise_event(ix, 41, CORE_S_ACTIVE_UNACKED, "", 3000);
    raise_event(ix, 42, CORE_S_ACTIVE_ACKED, "sgt-miller", 45500);
    struct sink_record z = {.kind = SINK_ZONE, .wall_ms = T0 + 100};
    z.u.zone = (struct sink_zone){.zone = "store-7", .name = "Store 7", .armed = true, .operator_name = "schedule"};
    deliver(ix, &z);
    struct sink_record d = {.kind = SINK_DEVICE, .wall_ms = T0};
    d.u.device = (struct sink_device){.device = "io-1", .up = true, .rtt_ms = 4, .polls = 100, .failures = 1};
    deliver(ix, &d);
    d.wall_ms = T0 + 10000;
    d.u.device.polls = 200;
    deliver(ix, &d);
    EXPECT(wait_written(ix, 10, 10000), "the 10 lines were not all written");
    stop(ix);

    json_t *a = influxd_query(&server, DB, "SELECT value FROM vigil_point WHERE point = 't-store7'");
    EXPECT_INT(influxd_rows(a), 3);
    EXPECT(json_number_value(influxd_cell(a, 1, "value")) == 20.2, "second temperature is not 20.2");
    json_decref(a);
    EXPECT(query_number("SELECT count(value) FROM vigil_point WHERE point = 'door-7'", "count") == 2,
           "the door's two states are not there");
    EXPECT(query_number("SELECT ack_s FROM vigil_alarm WHERE state = 'active_acked'", "ack_s") == 42.5,
           "time to acknowledge is not 42.5 s");
    EXPECT(query_number("SELECT seq FROM vigil_alarm WHERE shift = '22:00' AND state = 'active_acked'", "seq") == 42,
           "the ack is not seq 42 in the 22:00 shift (TZ=UTC)");
    EXPECT(query_number("SELECT armed FROM vigil_zone WHERE zone = 'store-7'", "armed") == 1, "store 7 not armed");
    EXPECT(query_number("SELECT last(requests_per_s) FROM vigil_device WHERE device = 'io-1'", "last") == 10,
           "io-1 did not poll 10 times a second");
    ifx_site_free(s);
}

/* Ids and texts with spaces, commas, quotes, '=', backslashes and umlauts come back exactly. */
static void hostile_names_round_trip(void)
{
    static const char *point = "Tür 7, \"Nord\"=a\\b ü";
    struct cfg_site *s = site_for("depot hostile", server.url);
    struct influx *ix = start(s);
    struct sink_record r = {.kind = SINK_EVENT, .wall_ms = T0 + 500};
    struct sink_event *e = &r.u.event;
    *e = (struct sink_event){.seq = 7, .type = CORE_T_TAMPER, .priority = CFG_PRIO_HIGH,
                             .state = CORE_S_ACTIVE_UNACKED, .value = NAN};
    snprintf(e->point, sizeof e->point, "%s", point);
    snprintf(e->zone, sizeof e->zone, "Lager,\"Süd\" 1=2");
    snprintf(e->text, sizeof e->text, "Sabotage: \"Deckel\" offen\\geschlossen,\nzweite Zeile");
    deliver(ix, &r);
    EXPECT(wait_written(ix, 1, 10000), "hostile line not written");
    stop(ix);
    json_t *a = influxd_query(&server, DB, "SELECT text, point, zone, site FROM vigil_alarm WHERE seq = 7");
    json_t *t = influxd_cell(a, 0, "text"), *p = influxd_cell(a, 0, "point"), *z = influxd_cell(a, 0, "zone");
    EXPECT_STR(t ? json_string_value(t) : "", "Sabotage: \"Deckel\" offen\\geschlossen, zweite Zeile");
    EXPECT_STR(p ? json_string_value(p) : "", point);
    EXPECT_STR(z ? json_string_value(z) : "", "Lager,\"Süd\" 1=2");
    EXPECT_STR(influxd_cell(a, 0, "site") ? json_string_value(influxd_cell(a, 0, "site")) : "", "depot hostile");
    json_decref(a);
    ifx_site_free(s);
}

/* Samples of point p with values from..to-1, one per ms after at. */
static void burst(struct influx *ix, const char *p, int from, int to, int64_t at)
{
    for (int i = from; i < to; i++)
        sample(ix, p, CFG_KIND_DOOR, i % 2, at + i); /* a digital point changing on every sample */
}

/* "InfluxDB was restarted: every point of the outage arrived afterwards; during
 * a longer one the oldest were shed, counted, and the count was written." */
static void restart_catches_up_and_counts_drops(void)
{
    struct cfg_site *s = site_for("depot-restart", server.url);
    s->influx.max_lines = 2000;
    s->influx.batch_lines = 500;
    s->influx.health_ms = 500;
    struct influx *ix = start(s);
    struct influx_stats st;
    log_capture();
    burst(ix, "r", 0, 1000, 0);
    EXPECT(wait_written(ix, 1000, 10000), "first 1000 not written");
    influxd_pause(&server);
    burst(ix, "r", 1000, 2500, 0);     /* 1500 during the outage: inside the bound */
    tp_pause_ms(1500);
    EXPECT(influxd_resume(&server) == 0, "influxd did not restart");
    tp_pause_ms(200);
    EXPECT(query_number("SELECT count(value) FROM vigil_point WHERE point = 'r'", "count") >= 1000,
           "restarted server lost stored points");
    long long deadline = tp_now_ms() + 20000;
    while (!(query_number("SELECT count(value) FROM vigil_point WHERE point = 'r'", "count") >= 2500) &&
           tp_now_ms() < deadline)
        tp_pause_ms(100);
    EXPECT(query_number("SELECT count(value) FROM vigil_point WHERE point = 'r'", "count") == 2500,
           "not all 2500 points arrived after the restart");
    influx_get_stats(ix, &st);
    EXPECT_INT(st.dropped, 0);

    influxd_pause(&server);
    burst(ix, "q", 0, 5000, 10000);     /* 5000 during the outage: 2000 fit, and the batch in hand */
    tp_pause_ms(1200);                  /* a health period: the drop is logged and counted as a point */
    influx_get_stats(ix, &st);
    EXPECT(st.dropped >= 2500, "only %llu dropped", (unsigned long long)st.dropped);
    EXPECT(log_wait("dropped the oldest", 3000), "the drop was not logged");
    EXPECT(influxd_resume(&server) == 0, "influxd did not restart");
    deadline = tp_now_ms() + 20000;
    while (!(query_number("SELECT last(dropped) FROM vigil_influx_dropped WHERE site = 'depot-restart'", "last") >=
             (double)st.dropped) && tp_now_ms() < deadline) /* NaN until it is there */
        tp_pause_ms(100);
    EXPECT(query_number("SELECT last(dropped) FROM vigil_influx_dropped WHERE site = 'depot-restart'", "last") >=
               (double)st.dropped, "the dropped count did not reach InfluxDB");
    /* The newest were kept; every sample is either in InfluxDB or counted as
     * dropped (the count also holds health lines). The batch the writer held
     * when the server went away is resent too, so up to 2000 + 500 are there. */
    EXPECT(query_number("SELECT count(value) FROM vigil_point WHERE point = 'q' AND time >= 1764979214999ms",
                        "count") == 1, "the newest sample was shed");
    double kept = query_number("SELECT count(value) FROM vigil_point WHERE point = 'q'", "count");
    influx_get_stats(ix, &st); /* health lines pushed into the full buffer shed more of q */
    EXPECT(kept + (double)st.dropped >= 5000 && kept <= 2500, "kept %g, dropped %llu of 5000", kept,
           (unsigned long long)st.dropped);
    influx_get_stats(ix, &st);
    stop(ix);
    char *text = log_release_text();
    if (harness_case_failed)
        printf("# stats: written %llu dropped %llu buffered %llu requests %llu failures %llu\n# log:\n%s",
               (unsigned long long)st.written, (unsigned long long)st.dropped,
               (unsigned long long)st.buffered_lines, (unsigned long long)st.requests,
               (unsigned long long)st.failures, text);
    free(text);
    ifx_site_free(s);
}

/* "One bad line does not cost the others": InfluxDB refuses a line (here a
 * field type conflict) with 400; vigild logs InfluxDB's words naming it,
 * drops only that one, and the rest of its batch is stored. */
static void a_refused_line_is_logged_and_dropped_alone(void)
{
    struct cfg_site *s = site_for("depot-conflict", server.url);
    struct influx_stats st;
    /* 30 days on: a shard (a week) of its own, where no other case wrote armed as an integer */
    EXPECT(influxd_write(&server, DB, "vigil_zone,site=depot-conflict,zone=z armed=\"yes\" 1767571200000") == 204,
           "cannot plant a string field");
    log_capture();
    struct influx *ix = start(s);
    struct sink_record z = {.kind = SINK_ZONE, .wall_ms = T0 + 30 * 86400000LL};
    z.u.zone = (struct sink_zone){.zone = "z", .armed = true};
    deliver(ix, &z);
    sample(ix, "c1", CFG_KIND_DOOR, 1, 30 * 86400000LL);
    EXPECT(wait_written(ix, 2, 10000), "the batch was not answered");
    influx_get_stats(ix, &st);
    stop(ix);
    char *text = log_release_text();
    EXPECT_INT(st.rejected, 1);
    EXPECT_INT(st.written, 1);
    EXPECT(strstr(text, "InfluxDB refused a line") && strstr(text, "field type conflict"), "log:\n%s", text);
    EXPECT(query_number("SELECT count(value) FROM vigil_point WHERE point = 'c1'", "count") == 1,
           "the good line of the batch is not stored");
    free(text);
    ifx_site_free(s);
}

/* A wrong database and a wrong password each give one clear line naming the
 * fix, never the password; the sink stops promptly. */
static void wrong_database_and_credentials_are_logged(void)
{
    struct cfg_site *s = site_for("depot-wrong", server.url);
    snprintf(s->influx.database, sizeof s->influx.database, "no_such_db");
    log_capture();
    struct influx *ix = start(s);
    raise_event(ix, 1, CORE_S_ACTIVE_UNACKED, "", 0);
    EXPECT(log_wait("the database does not exist; create it (CREATE DATABASE) or fix influx.database", 5000),
           "no clear log for a wrong database");
    long long t = tp_now_ms();
    stop(ix);
    EXPECT(tp_now_ms() - t < 5000, "stop took %lld ms", tp_now_ms() - t);

    snprintf(s->influx.database, sizeof s->influx.database, DB);
    snprintf(s->influx.password, sizeof s->influx.password, "not-the-password");
    ix = start(s);
    raise_event(ix, 1, CORE_S_ACTIVE_UNACKED, "", 0);
    EXPECT(log_wait("wrong username or password", 5000), "no clear log for wrong credentials");
    stop(ix);
    char *text = log_release_text();
    EXPECT(strstr(text, "HTTP 401") != NULL, "401 not named:\n%s", text);
    EXPECT(strstr(text, "not-the-password") == NULL && strstr(text, INFLUXD_PASSWORD) == NULL,
           "a password was logged:\n%s", text);
    free(text);
    ifx_site_free(s);
}

/* "InfluxDB hung: alarms went on as before." deliver() never waits for a
 * server that accepts and never answers; the excess is shed and counted. */
static void stalled_server_never_blocks_deliver(void)
{
    struct fake f = {.stall = true};
    char url[64];
    fake_start(&f);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f.port);
    struct cfg_site *s = site_for("depot-stall", url);
    s->influx.max_lines = 1000;
    s->influx.batch_lines = 100;
    struct influx *ix = start(s);
    log_capture();
    long long worst = 0;
    for (int i = 0; i < 20000; i++) {
        long long t = tp_now_ms();
        sample(ix, "s", CFG_KIND_DOOR, i % 2, i);
        if (tp_now_ms() - t > worst)
            worst = tp_now_ms() - t;
        if (i == 100)
            EXPECT(fake_count(&f, 1, 5000) == 1, "the writer never reached the stalled server");
    }
    struct influx_stats st;
    influx_get_stats(ix, &st);
    EXPECT(worst < 100, "one deliver() took %lld ms", worst);
    EXPECT(st.dropped >= 18000, "only %llu dropped", (unsigned long long)st.dropped);
    long long t = tp_now_ms();
    stop(ix);
    EXPECT(tp_now_ms() - t < 5000, "stop took %lld ms against a stalled server", tp_now_ms() - t);
    free(log_release_text());
    fake_stop(&f);
    ifx_site_free(s);
}

/* Order and shape: a batch refused with 503 is resent whole, after Retry-After,
 * before anything newer; a 413 splits it in halves, in order. Also the 2.x
 * endpoint, its Token header and gzip (against this minimal server only). */
static void retry_after_split_and_v2_shape(void)
{
    struct fake f = {.answers = {"503 Service Unavailable\r\nRetry-After: 1", "413 Request Entity Too Large"}};
    char url[64];
    fake_start(&f);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", f.port);
    struct cfg_site *s = site_for("depot-v2", url);
    struct cfg_influx *x = &s->influx;
    x->api = CFG_INFLUX_V2;
    x->database[0] = x->username[0] = x->password[0] = '\0';
    snprintf(x->org, sizeof x->org, "ministry of defence");
    snprintf(x->bucket, sizeof x->bucket, "vigil/raw");
    snprintf(x->token, sizeof x->token, "tok-123");
    x->batch_ms = 300;
    x->url[strlen(x->url) - 1] = '\0'; /* config.c strips the trailing slash */
    struct influx *ix = start(s);
    for (int i = 0; i < 4; i++)
        sample(ix, "o", CFG_KIND_DOOR, i % 2, i);
    EXPECT(fake_count(&f, 1, 5000) >= 1, "nothing sent");
    long long first = tp_now_ms();
    sample(ix, "o", CFG_KIND_DOOR, 0, 4); /* newer: must come after the refused batch */
    EXPECT(fake_count(&f, 5, 10000) == 5, "want 503, 413, two halves and the newer line");
    EXPECT(tp_now_ms() - first >= 900, "resent before Retry-After");
    struct fake_req *r = f.req;
    EXPECT(strncmp(r[0].head, "POST /api/v2/write?org=ministry%20of%20defence&bucket=vigil%2Fraw&precision=ms "
                   "HTTP/1.1", 80) == 0, "request line: %.120s", r[0].head);
    EXPECT(strstr(r[0].head, "Authorization: Token tok-123") != NULL, "no token header");
    EXPECT(strstr(r[0].head, "Content-Encoding: gzip") != NULL, "not gzipped");
    EXPECT_STR(r[0].body, r[1].body);
    char want[1024], got[2 * sizeof r[0].body];
    snprintf(got, sizeof got, "%s%s", r[2].body, r[3].body);
    EXPECT_STR(got, r[0].body);
    EXPECT(strstr(r[2].body, " 1764979200000\n") && strstr(r[3].body, " 1764979200003\n"), "halves out of order");
    snprintf(want, sizeof want, "vigil_point,device=io-1,kind=door,point=o,site=depot-v2,zone=store-7 "
                                "quality=\"good\",value=0 1764979200004\n");
    EXPECT_STR(r[4].body, want);
    stop(ix);
    fake_stop(&f);
    ifx_site_free(s);
}

int main(void)
{
    if (!influxd_available()) {
        printf("# skip test_influx: influxd not installed (scripts/deps.sh installs Debian's influxdb)\n");
        return 77;
    }
    setenv("TZ", "UTC", 1);
    if (influxd_start(&server, DB) < 0) {
        printf("not ok - influxd_start\n");
        return 1;
    }
    snprintf(logfile, sizeof logfile, "%s/vigild.log", server.dir);
    RUN(records_are_written_and_read_back);
    RUN(hostile_names_round_trip);
    RUN(a_refused_line_is_logged_and_dropped_alone);
    RUN(wrong_database_and_credentials_are_logged);
    RUN(stalled_server_never_blocks_deliver);
    RUN(retry_after_split_and_v2_shape);
    RUN(restart_catches_up_and_counts_drops);
    influxd_stop(&server);
    HARNESS_EXIT();
}
