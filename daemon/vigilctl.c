/*
 * vigilctl.c - the operator's tool next to vigild.
 *
 * Subcommands live in one table (name, usage, function); each function gets
 * argv with its own name in argv[0], so it can use getopt_long like a small
 * program of its own. Exit codes are the same everywhere: 0 all is well,
 * 1 a problem was found (damaged journal, invalid config), 2 usage error.
 *
 *   vigilctl journal verify DIR|FILE
 *       Checks the hash chain of a journal directory or one segment file.
 *   vigilctl replay DIR|FILE --config SITE.conf [--profiles DIR]
 *                   [--from TS] [--to TS] [--diff OTHER.conf]
 *       Feeds the journal to the event core and prints the events it
 *       produces, one msg_event() JSON line each: for a journal written by
 *       a live run, byte for byte what vigild published on
 *       vigil/<site>/events. --diff replays under a second config too and
 *       prints only the events that differ.
 *   vigilctl status --broker URI --site ID [--prefix P] [--timeout S]
 *   vigilctl status --config SITE.conf [--profiles DIR] [--timeout S]
 *       Prints the site's state from the retained topics on its broker:
 *       status and heartbeat age, devices, zones, alarms not normal. Exit 0
 *       all is well, 1 something needs attention, 2 usage error, invalid
 *       config or broker unreachable.
 *   vigilctl watch --broker URI --site ID|+ [--prefix P] [--client-id ID]
 *                  [--state FILE] [--json] [--utc] [--count N] [--timeout S]
 *                  [--heartbeat-s S]
 *       A minimal central station: subscribes with a persistent session,
 *       drops duplicates by seq, reports gaps and silent sites, and prints
 *       every alarm for people (or every new event as a JSON line).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>
#include <jansson.h>

#include "clock.h"
#include "config.h"
#include "core.h"
#include "journal.h"
#include "message.h"
#include "queue.h"

enum { EXIT_OK = 0, EXIT_PROBLEM = 1, EXIT_USAGE = 2 };

struct command {
    const char *words[2];     /* "journal" "verify", or "replay" NULL */
    const char *usage;
    int (*run)(int argc, char **argv);
};

static int cmd_journal_verify(int argc, char **argv);
static int cmd_replay(int argc, char **argv);
static int cmd_watch(int argc, char **argv);
static int cmd_status(int argc, char **argv);

static const struct command commands[] = {
    {{"journal", "verify"}, "journal verify DIR|FILE", cmd_journal_verify},
    {{"replay", NULL},
     "replay DIR|FILE --config SITE.conf [--profiles DIR] [--from TS] [--to TS] [--diff OTHER.conf]",
     cmd_replay},
    {{"watch", NULL},
     "watch --broker URI --site ID|+ [--prefix P] [--client-id ID] [--state FILE] [--json] [--utc] [--count N]"
     " [--timeout S] [--heartbeat-s S]",
     cmd_watch},
    {{"status", NULL}, "status --broker URI --site ID [--prefix P] [--timeout S] | status --config SITE.conf "
     "[--profiles DIR] [--timeout S]", cmd_status},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  vigilctl %s\n", commands[i].usage);
    fprintf(out, "TS is an RFC 3339 UTC time, e.g. 2025-11-24T16:00:00Z or 2025-11-24T16:00:00.250Z\n");
}

/* ---- journal verify -------------------------------------------------------- */

static int cmd_journal_verify(int argc, char **argv)
{
    struct jrnl_summary sum;
    char err[JRNL_ERR_MAX];

    if (argc != 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (jrnl_verify(argv[1], &sum, err, sizeof(err)) < 0) {
        printf("journal: %s\n", err);
        return EXIT_PROBLEM;
    }
    if (sum.note[0])
        printf("journal: note: %s; vigild drops it when it next starts\n", sum.note);
    printf("journal: %zu segments, %" PRIu64 " records, chain intact\n", sum.segments, sum.records);
    return EXIT_OK;
}

/* ---- replay ------------------------------------------------------------------ */

struct replay_opts {
    const char *journal;
    const char *config;
    const char *diff;         /* second config, or NULL */
    const char *profiles;
    int64_t from_ms, to_ms;   /* printed events: from_ms <= ts <= to_ms */
};

/* One printed event; kept only for --diff. */
struct ev_line {
    char *key;                /* alarm id, type, state, ts: what --diff compares (no seq) */
    char *json;
    int64_t wall_ms;
    bool matched;
};

struct ev_list {
    struct ev_line *v;
    size_t n, cap;
};

/* What the replay callback needs. list is NULL when printing straight away. */
struct replay_ctx {
    const struct cfg_site *site;
    const struct core *core;
    const struct replay_opts *o;
    struct ev_list *list;
    int failed;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p)
        memcpy(p, s, n);
    return p;
}

static int list_add(struct ev_list *l, const char *key, const char *json, int64_t wall_ms)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct ev_line *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = (struct ev_line){.key = dup_str(key), .json = dup_str(json), .wall_ms = wall_ms};
    if (!l->v[l->n].key || !l->v[l->n].json)
        return -1;
    l->n++;
    return 0;
}

static void list_free(struct ev_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].json);
    }
    free(l->v);
}

/* Prints (or keeps, for --diff) every event inside the --from/--to window. */
static void on_replay_output(const struct core_output *o, void *arg)
{
    struct replay_ctx *c = arg;
    const struct core_event *ev = &o->u.event;
    char json[MSG_MAX], key[CORE_ALARM_ID_MAX + 64];

    if (o->type != CORE_OUT_EVENT || ev->wall_ms < c->o->from_ms || ev->wall_ms > c->o->to_ms)
        return;
    if (msg_event(c->site, c->core, ev, json, sizeof(json)) < 0) {
        fprintf(stderr, "vigilctl: event seq=%" PRIu64 " does not fit a message\n", ev->seq);
        c->failed = 1;
        return;
    }
    if (!c->list) {
        puts(json);
        return;
    }
    snprintf(key, sizeof(key), "%s\t%s\t%s\t%" PRId64, core_alarm_info(c->core, ev->alarm)->id,
             core_type_name(ev->type), core_state_name(ev->state), ev->wall_ms);
    if (list_add(c->list, key, json, ev->wall_ms) < 0) {
        fprintf(stderr, "vigilctl: out of memory\n");
        c->failed = 1;
    }
}

/* Tells the engineer on stderr how the replay relates to what was recorded. */
static void report_replay(const struct replay_opts *o, const char *config, const struct cfg_site *site,
                          const struct jrnl_replay_info *info)
{
    if (info->config_hash != site->hash)
        fprintf(stderr, "vigilctl: journal was recorded under config %016" PRIx64 ", replaying under %s (%016" PRIx64
                "): events may differ from those published\n", info->config_hash, config, site->hash);
    if (info->config_changes)
        fprintf(stderr, "vigilctl: the config changed %d time(s) during the journal; %s is used throughout\n",
                info->config_changes, config);
    if (info->skipped)
        fprintf(stderr, "vigilctl: %ld input(s) skipped: their point or device is not in %s\n", info->skipped,
                config);
    if (info->note[0])
        fprintf(stderr, "vigilctl: %s %s: replay ends before it\n", o->journal, info->note);
    if (info->problem[0])
        fprintf(stderr, "vigilctl: journal damaged, replay stopped: %s\n", info->problem);
}

/*
 * Replays o->journal under config: prints its events, or collects them into
 * list. Returns EXIT_OK, or EXIT_PROBLEM (config invalid, journal damaged).
 */
static int replay_under(const struct replay_opts *o, const char *config, struct ev_list *list)
{
    static char err[16384];
    struct cfg_site *site = cfg_load(config, o->profiles, err, sizeof(err));
    struct jrnl_replay_info info;
    struct replay_ctx ctx = {.site = site, .o = o, .list = list};
    struct core *core;
    long n;

    if (!site) {
        fprintf(stderr, "%s", err);
        return EXIT_PROBLEM;
    }
    core = core_new(site);
    ctx.core = core;
    n = core ? jrnl_replay(o->journal, site, core, on_replay_output, &ctx, &info, err, sizeof(err)) : -1;
    if (n < 0)
        fprintf(stderr, "vigilctl: %s\n", core ? err : "out of memory");
    else
        report_replay(o, config, site, &info);
    core_free(core);
    cfg_free(site);
    fflush(stdout);
    return n < 0 || info.problem[0] || ctx.failed ? EXIT_PROBLEM : EXIT_OK;
}

static int cmp_key(const void *a, const void *b)
{
    const struct ev_line *x = *(const struct ev_line *const *)a, *y = *(const struct ev_line *const *)b;
    int c = strcmp(x->key, y->key);

    return c ? c : (x < y ? -1 : x > y);
}

/* Sorted pointers into l, for matching by key. Caller frees. */
static struct ev_line **by_key(struct ev_list *l)
{
    struct ev_line **p = malloc((l->n ? l->n : 1) * sizeof(*p));

    if (!p)
        return NULL;
    for (size_t i = 0; i < l->n; i++)
        p[i] = &l->v[i];
    qsort(p, l->n, sizeof(*p), cmp_key);
    return p;
}

/* Marks events present under both configs (as a multiset of keys). */
static int match_events(struct ev_list *a, struct ev_list *b)
{
    struct ev_line **pa = by_key(a), **pb = by_key(b);
    size_t i = 0, j = 0;

    if (!pa || !pb) {
        free(pa);
        free(pb);
        return -1;
    }
    while (i < a->n && j < b->n) {
        int c = strcmp(pa[i]->key, pb[j]->key);
        if (c == 0)
            pa[i++]->matched = pb[j++]->matched = true;
        else if (c < 0)
            i++;
        else
            j++;
    }
    free(pa);
    free(pb);
    return 0;
}

/* Prints the unmatched events of both runs in time order: "- " first config only, "+ " second only. */
static void print_diff(const struct ev_list *a, const struct ev_list *b)
{
    size_t i = 0, j = 0;

    for (;;) {
        while (i < a->n && a->v[i].matched)
            i++;
        while (j < b->n && b->v[j].matched)
            j++;
        if (i == a->n && j == b->n)
            break;
        if (j == b->n || (i < a->n && a->v[i].wall_ms <= b->v[j].wall_ms))
            printf("- %s\n", a->v[i++].json);
        else
            printf("+ %s\n", b->v[j++].json);
    }
}

static int replay_diff(const struct replay_opts *o)
{
    struct ev_list a = {0}, b = {0};
    int rc = replay_under(o, o->config, &a);

    if (rc == EXIT_OK)
        rc = replay_under(o, o->diff, &b);
    if (rc == EXIT_OK && match_events(&a, &b) < 0) {
        fprintf(stderr, "vigilctl: out of memory\n");
        rc = EXIT_PROBLEM;
    }
    if (rc == EXIT_OK)
        print_diff(&a, &b);
    list_free(&a);
    list_free(&b);
    return rc;
}

/* Reads n decimal digits at *s; returns the value or -1. */
static int digits(const char **s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*s)++) {
        if (**s < '0' || **s > '9')
            return -1;
        v = v * 10 + (**s - '0');
    }
    return v;
}

/* Expects the literal character c at *s. */
static bool lit(const char **s, char c)
{
    return **s == c ? ((*s)++, true) : false;
}

/*
 * Parses an RFC 3339 UTC time ("2025-11-24T16:00:00Z", optional fraction,
 * "Z" or "+00:00") into epoch milliseconds. Returns 0 or -1.
 */
static int parse_ts(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int frac_ms = 0, scale = 100;
    int y = digits(&s, 4), mo = lit(&s, '-') ? digits(&s, 2) : -1, d = lit(&s, '-') ? digits(&s, 2) : -1;
    int h = lit(&s, 'T') ? digits(&s, 2) : -1, mi = lit(&s, ':') ? digits(&s, 2) : -1;
    int sec = lit(&s, ':') ? digits(&s, 2) : -1;

    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return -1;
    if (lit(&s, '.')) {
        if (*s < '0' || *s > '9')
            return -1;
        for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
            frac_ms += (*s - '0') * scale;
    }
    if (!(strcmp(s, "Z") == 0 || strcmp(s, "+00:00") == 0))
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = (int64_t)timegm(&tm) * 1000 + frac_ms;
    /* timegm() normalises 2025-02-30 to March: refuse dates that moved */
    return tm.tm_mday == d && tm.tm_mon == mo - 1 ? 0 : -1;
}

/* Parses replay's options into o; returns 0 or -1 (usage error, already reported). */
static int parse_replay(int argc, char **argv, struct replay_opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"profiles", required_argument, NULL, 'p'},
        {"from", required_argument, NULL, 'f'},   {"to", required_argument, NULL, 't'},
        {"diff", required_argument, NULL, 'd'},   {NULL, 0, NULL, 0}};
    int c;

    *o = (struct replay_opts){.from_ms = INT64_MIN, .to_ms = INT64_MAX};
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:p:f:t:d:", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'p': o->profiles = optarg; break;
        case 'd': o->diff = optarg; break;
        case 'f':
        case 't':
            if (parse_ts(optarg, c == 'f' ? &o->from_ms : &o->to_ms) < 0) {
                fprintf(stderr, "vigilctl: \"%s\" is not an RFC 3339 UTC time like 2025-11-24T16:00:00Z\n", optarg);
                return -1;
            }
            break;
        default: return -1;
        }
    }
    if (optind != argc - 1 || !o->config) {
        fprintf(stderr, "vigilctl: replay needs one journal and --config\n");
        return -1;
    }
    o->journal = argv[optind];
    return 0;
}

static int cmd_replay(int argc, char **argv)
{
    struct replay_opts o;

    if (parse_replay(argc, argv, &o) < 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    return o.diff ? replay_diff(&o) : replay_under(&o, o.config, NULL);
}

/* ---- watch ------------------------------------------------------------------- */

/*
 * vigilctl watch: a minimal central station. It subscribes to a site's
 * events, status and command results with a persistent MQTT session, keeps
 * the highest seq it has processed per site, drops duplicates, reports gaps
 * and prints each alarm for people (or, with --json, each new event as the
 * JSON line vigild published). docs/mqtt.md describes the rule it applies.
 *
 * paho's callbacks only copy what arrived into a bounded queue; the main
 * thread does everything else, so the dedup state has one owner.
 */
#define WATCH_FILTERS 3             /* events, status, cmd/result */
#define WATCH_SITES_MAX 256
#define WATCH_QUEUE_CAP 1024
#define WATCH_TOPIC_MAX 256
#define WATCH_PAYLOAD_MAX 4096
#define WATCH_WAIT_MS 200           /* longest sleep: deadlines and silence checks */
#define WATCH_DRAIN_MS 3000         /* how long a stop waits for the disconnect */
#define WATCH_RETRY_MAX_S 5         /* a station reconnects quickly */
#define WATCH_RESULTS_SEEN 64       /* command results remembered to drop repeats */
#define WATCH_GAPS_MAX 16           /* open gaps remembered per site, to take late events */

static volatile sig_atomic_t watch_stop;

struct watch_opts {
    const char *broker, *site, *prefix, *client_id, *state_path;
    bool json, utc;
    long count;                 /* stop after this many new events; 0: never */
    long timeout_s;             /* stop after this long; 0: never */
    long heartbeat_s;           /* for status payloads that do not carry heartbeat_s */
};

enum watch_kind { WATCH_MESSAGE, WATCH_CONNECTED, WATCH_LOST, WATCH_CONNECT_FAILED, WATCH_SUBSCRIBED,
                  WATCH_SUBSCRIBE_FAILED, WATCH_DISCONNECTED };

/* One thing that happened on a paho thread, copied for the main thread. */
struct watch_msg {
    enum watch_kind kind;
    bool too_long;              /* payload did not fit; len is the real length */
    size_t len;
    char topic[WATCH_TOPIC_MAX];
    char payload[WATCH_PAYLOAD_MAX];
};

/* Events first..last of a site have not arrived (yet). */
struct watch_gap {
    uint64_t first, last;
};

/* What the watcher knows about one site. */
struct watch_site {
    char id[CFG_ID_MAX];
    bool has_mark;
    uint64_t mark;              /* highest seq processed */
    struct watch_gap gaps[WATCH_GAPS_MAX];  /* oldest first */
    int n_gaps;
    int online;                 /* -1 unknown, 0 offline, 1 online */
    bool silent;                /* "SITE SILENT" printed, no status since */
    uint64_t last_status_ms;    /* monotonic arrival of the last status */
    long heartbeat_s;
};

struct watch {
    struct watch_opts o;
    struct queue q;
    MQTTAsync client;
    char filters[WATCH_FILTERS][WATCH_TOPIC_MAX];
    struct watch_site sites[WATCH_SITES_MAX];
    int n_sites;
    bool state_dirty;
    uint64_t events, duplicates, gaps, late;
    char results_seen[WATCH_RESULTS_SEEN][CFG_ID_MAX + CORE_CMD_ID_MAX];
    size_t results_next;
    struct watch_msg scratch;   /* the item the main thread is handling */
};

static void watch_on_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

/* Pushes a message-less notice from a paho thread. */
static void watch_push(struct watch *w, enum watch_kind kind, const char *text)
{
    struct watch_msg m = {.kind = kind};

    snprintf(m.payload, sizeof(m.payload), "%s", text ? text : "");
    queue_push(&w->q, &m);
}

/* paho's messageArrived: copies the message for the main thread (blocking while the queue is full). */
static int watch_on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct watch *w = ctx;
    struct watch_msg m = {.kind = WATCH_MESSAGE, .len = (size_t)msg->payloadlen};

    (void)topic_len;
    snprintf(m.topic, sizeof(m.topic), "%s", topic);
    m.too_long = m.len >= sizeof(m.payload);
    if (!m.too_long)
        memcpy(m.payload, msg->payload, m.len);
    queue_push(&w->q, &m);
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

/* What a paho failure callback says, for a notice. */
static const char *watch_failure_text(const MQTTAsync_failureData *resp)
{
    if (resp && resp->message)
        return resp->message;
    return MQTTAsync_strerror(resp ? resp->code : MQTTASYNC_FAILURE);
}

/* A subscription can be "granted" with 0x80, which is a refusal (an ACL). */
static void watch_on_subscribed(void *ctx, MQTTAsync_successData *resp)
{
    struct watch *w = ctx;

    for (int i = 0; i < WATCH_FILTERS; i++)
        if (resp && resp->alt.qosList && resp->alt.qosList[i] == 0x80) {
            watch_push(w, WATCH_SUBSCRIBE_FAILED, "the broker refused a subscription (ACL?)");
            return;
        }
    watch_push(w, WATCH_SUBSCRIBED, NULL);
}

static void watch_on_subscribe_failed(void *ctx, MQTTAsync_failureData *resp)
{
    watch_push(ctx, WATCH_SUBSCRIBE_FAILED, watch_failure_text(resp));
}

/* Every (re)connect: subscribe again, the broker may have lost the session. */
static void watch_on_connected(void *ctx, char *cause)
{
    struct watch *w = ctx;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    char *filters[WATCH_FILTERS] = {w->filters[0], w->filters[1], w->filters[2]};
    int qos[WATCH_FILTERS] = {1, 1, 1}, rc;

    (void)cause;
    watch_push(w, WATCH_CONNECTED, NULL);
    ro.onSuccess = watch_on_subscribed;
    ro.onFailure = watch_on_subscribe_failed;
    ro.context = w;
    rc = MQTTAsync_subscribeMany(w->client, WATCH_FILTERS, filters, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS)
        watch_push(w, WATCH_SUBSCRIBE_FAILED, MQTTAsync_strerror(rc));
}

static void watch_on_lost(void *ctx, char *cause)
{
    watch_push(ctx, WATCH_LOST, cause ? cause : "connection lost");
}

static void watch_on_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    watch_push(ctx, WATCH_CONNECT_FAILED, watch_failure_text(resp));
}

static void watch_on_disconnected(void *ctx, MQTTAsync_successData *resp)
{
    (void)resp;
    watch_push(ctx, WATCH_DISCONNECTED, NULL);
}

static void watch_on_disconnect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    (void)resp;
    watch_push(ctx, WATCH_DISCONNECTED, NULL);
}

/* Human notices: on stdout with the alarms, on stderr when stdout is JSON. */
static void watch_say(const struct watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void watch_say(const struct watch *w, const char *fmt, ...)
{
    FILE *out = w->o.json ? stderr : stdout;
    va_list ap;

    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
}

/* The site's entry, added on first sight; NULL (reported) if the table is full. */
static struct watch_site *watch_site(struct watch *w, const char *id)
{
    for (int i = 0; i < w->n_sites; i++)
        if (strcmp(w->sites[i].id, id) == 0)
            return &w->sites[i];
    if (w->n_sites == WATCH_SITES_MAX || strlen(id) >= CFG_ID_MAX) {
        fprintf(stderr, "vigilctl: site \"%s\" not tracked: more than %d sites or id too long\n", id,
                WATCH_SITES_MAX);
        return NULL;
    }
    w->sites[w->n_sites] = (struct watch_site){.online = -1, .heartbeat_s = w->o.heartbeat_s};
    snprintf(w->sites[w->n_sites].id, CFG_ID_MAX, "%s", id);
    return &w->sites[w->n_sites++];
}

/* Reads "site seq" lines written by watch_save_state(); a missing file is a first run. */
static int watch_load_state(struct watch *w)
{
    char id[CFG_ID_MAX + 1];
    unsigned long long seq;
    FILE *f = fopen(w->o.state_path, "r");
    struct watch_site *s;

    if (!f)
        return errno == ENOENT ? 0 : -1;
    while (fscanf(f, "%48s %llu", id, &seq) == 2)
        if ((s = watch_site(w, id)) != NULL) {
            s->has_mark = true;
            s->mark = seq;
        }
    fclose(f);
    return 0;
}

/* Replaces the state file atomically (write, fsync, rename): a crash leaves the old or the new one. */
static void watch_save_state(struct watch *w)
{
    char tmp[CFG_PATH_MAX + 8];
    FILE *f;
    int ok;

    if (!w->o.state_path || !w->state_dirty)
        return;
    snprintf(tmp, sizeof(tmp), "%s.tmp", w->o.state_path);
    f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "vigilctl: cannot write %s: %s\n", tmp, strerror(errno));
        return;
    }
    for (int i = 0; i < w->n_sites; i++)
        if (w->sites[i].has_mark)
            fprintf(f, "%s %" PRIu64 "\n", w->sites[i].id, w->sites[i].mark);
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, w->o.state_path) < 0)
        fprintf(stderr, "vigilctl: cannot save %s: %s\n", w->o.state_path, strerror(errno));
    else
        w->state_dirty = false;
}

/* "2026-11-25 10:00:00.123" in the watcher's time zone (or UTC); the raw text if ts does not parse. */
static void watch_format_ts(const struct watch *w, const char *ts, char *buf, size_t cap)
{
    int64_t ms;
    time_t t;
    struct tm tm;
    char day[32];

    if (!ts || parse_ts(ts, &ms) < 0) {
        snprintf(buf, cap, "%s", ts ? ts : "(no time)");
        return;
    }
    t = (time_t)(ms / 1000);
    if (w->o.utc)
        gmtime_r(&t, &tm);
    else
        localtime_r(&t, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%03d", day, (int)(ms % 1000));
}

/* The lifecycle state as a guard reads it. */
static const char *watch_state_words(const char *state)
{
    static const char *const names[][2] = {
        {"active_unacked", "ACTIVE (unacked)"}, {"active_acked", "ACTIVE (acked)"},
        {"rtn_unacked", "CLEARED (unacked)"},   {"normal", "NORMAL"},
        {"shelved", "SHELVED"},                 {"suppressed", "SUPPRESSED"},
        {"event", "EVENT"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(state, names[i][0]) == 0)
            return names[i][1];
    return state;
}

static const char *jget(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* One alarm line for people. */
static void watch_print_alarm(const struct watch *w, json_t *ev, uint64_t seq)
{
    char when[64], prio[16];
    const char *p = jget(ev, "priority");
    size_t i;

    watch_format_ts(w, json_string_value(json_object_get(ev, "ts")), when, sizeof(when));
    for (i = 0; p[i] && i + 1 < sizeof(prio); i++)
        prio[i] = (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 'a' + 'A' : p[i]);
    prio[i] = '\0';
    printf("%s  #%" PRIu64 "  %-8s  %-17s  %s  [%s]\n", when, seq, prio, watch_state_words(jget(ev, "state")),
           jget(ev, "text"), jget(ev, "alarm"));
    fflush(stdout);
}

/*
 * Notes events first..last as missing. With the table full the oldest gap
 * is forgotten: its events count as missing for good, and arriving later
 * they are dropped like duplicates.
 */
static void watch_open_gap(struct watch *w, struct watch_site *s, uint64_t first, uint64_t last)
{
    w->gaps++;
    watch_say(w, "GAP: site %s events %" PRIu64 "..%" PRIu64 " missing — ask the site to replay", s->id, first,
              last);
    if (s->n_gaps == WATCH_GAPS_MAX)
        memmove(s->gaps, s->gaps + 1, --s->n_gaps * sizeof(s->gaps[0]));
    s->gaps[s->n_gaps++] = (struct watch_gap){first, last};
}

/* Takes seq out of the site's open gaps; false if it is in none (a duplicate). */
static bool watch_fill_gap(struct watch_site *s, uint64_t seq)
{
    for (int i = 0; i < s->n_gaps; i++) {
        struct watch_gap *g = &s->gaps[i];

        if (seq < g->first || seq > g->last)
            continue;
        if (g->first == g->last)
            memmove(g, g + 1, (size_t)(--s->n_gaps - i) * sizeof(*g));
        else if (seq == g->first)
            g->first++;
        else if (seq == g->last)
            g->last--;
        else if (s->n_gaps < WATCH_GAPS_MAX) {
            memmove(g + 2, g + 1, (size_t)(s->n_gaps++ - i - 1) * sizeof(*g));
            g[1] = (struct watch_gap){seq + 1, g->last};
            g->last = seq - 1;
        } else {
            g->last = seq - 1;  /* no room to split: the upper part is forgotten, as in watch_open_gap */
        }
        return true;
    }
    return false;
}

/* Events still missing at a site. */
static uint64_t watch_missing(const struct watch_site *s)
{
    uint64_t n = 0;

    for (int i = 0; i < s->n_gaps; i++)
        n += s->gaps[i].last - s->gaps[i].first + 1;
    return n;
}

/*
 * The dedup rule of docs/mqtt.md: a seq above the site's mark is new (a
 * jump opens a gap); one at or below it is a duplicate unless it fills an
 * open gap, as an event delayed on another path does.
 */
static void watch_event(struct watch *w, struct watch_site *s, const struct watch_msg *m)
{
    json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
    json_t *jseq = json_object_get(ev, "seq");
    uint64_t seq = json_is_integer(jseq) && json_integer_value(jseq) > 0 ? (uint64_t)json_integer_value(jseq) : 0;

    if (seq == 0) {
        watch_say(w, "BAD EVENT from site %s (no seq, not processed): %.*s", s->id, (int)m->len, m->payload);
    } else if (s->has_mark && seq <= s->mark && !watch_fill_gap(s, seq)) {
        w->duplicates++;
    } else {
        if (s->has_mark && seq <= s->mark) {
            w->late++;
            watch_say(w, "LATE: site %s event %" PRIu64 " arrived after %" PRIu64, s->id, seq, s->mark);
        } else {
            if (s->has_mark && seq > s->mark + 1)
                watch_open_gap(w, s, s->mark + 1, seq - 1);
            s->has_mark = true;
            s->mark = seq;
            w->state_dirty = true;
        }
        w->events++;
        if (w->o.json)
            printf("%.*s\n", (int)m->len, m->payload);
        else
            watch_print_alarm(w, ev, seq);
        fflush(stdout);
    }
    json_decref(ev);
}

/* A retained or refreshed status: online/offline changes and the heartbeat clock. */
static void watch_status(struct watch *w, struct watch_site *s, const struct watch_msg *m)
{
    json_t *st = json_loadb(m->payload, m->len, 0, NULL);
    json_t *hb = json_object_get(st, "heartbeat_s");
    int online = strcmp(jget(st, "state"), "online") == 0;
    char started[64];

    if (!st) {
        watch_say(w, "BAD STATUS from site %s: %.*s", s->id, (int)m->len, m->payload);
        return;
    }
    if (json_is_integer(hb) && json_integer_value(hb) > 0)
        s->heartbeat_s = (long)json_integer_value(hb);
    s->last_status_ms = clock_mono_ms();
    if (online != s->online || s->silent) {
        watch_format_ts(w, json_string_value(json_object_get(st, "started")), started, sizeof(started));
        watch_say(w, "SITE %s %s (vigild %s started %s)", online ? "ONLINE" : "OFFLINE", s->id, jget(st, "version"),
                  started);
    }
    s->online = online;
    s->silent = false;
    json_decref(st);
}

/*
 * True if this site's command id was answered before: vigild re-publishes
 * the results of re-fed commands after a restart, as it does events.
 */
static bool watch_result_seen(struct watch *w, const struct watch_site *s, const char *id)
{
    char key[sizeof(w->results_seen[0])];

    if (!id[0])
        return false;
    snprintf(key, sizeof(key), "%s/%s", s->id, id);
    for (size_t i = 0; i < WATCH_RESULTS_SEEN; i++)
        if (strcmp(w->results_seen[i], key) == 0)
            return true;
    memcpy(w->results_seen[w->results_next], key, sizeof(key));
    w->results_next = (w->results_next + 1) % WATCH_RESULTS_SEEN;
    return false;
}

/* A command's outcome, once per command id. */
static void watch_result(struct watch *w, struct watch_site *s, const struct watch_msg *m)
{
    json_t *r = json_loadb(m->payload, m->len, 0, NULL);

    if (!r)
        watch_say(w, "BAD RESULT from site %s: %.*s", s->id, (int)m->len, m->payload);
    else if (watch_result_seen(w, s, jget(r, "id")))
        w->duplicates++;
    else if (json_is_true(json_object_get(r, "ok")))
        watch_say(w, "RESULT site %s command %s %s: ok", s->id, jget(r, "id"), jget(r, "op"));
    else
        watch_say(w, "RESULT site %s command %s %s: REFUSED: %s", s->id, jget(r, "id"), jget(r, "op"),
                  jget(r, "error"));
    json_decref(r);
}

/* Splits "<prefix>/<site>/<suffix>"; returns the suffix and copies the site, or NULL. */
static const char *watch_split(const struct watch *w, const char *topic, char *site, size_t cap)
{
    size_t plen = strlen(w->o.prefix);
    const char *s = topic + plen + 1, *slash;

    if (strncmp(topic, w->o.prefix, plen) != 0 || topic[plen] != '/' || !(slash = strchr(s, '/')))
        return NULL;
    if ((size_t)(slash - s) >= cap)
        return NULL;
    memcpy(site, s, (size_t)(slash - s));
    site[slash - s] = '\0';
    return slash + 1;
}

static void watch_message(struct watch *w, const struct watch_msg *m)
{
    char id[CFG_ID_MAX];
    const char *suffix = watch_split(w, m->topic, id, sizeof(id));
    struct watch_site *s = suffix ? watch_site(w, id) : NULL;

    if (!s)
        return;
    if (m->too_long) {
        watch_say(w, "BAD MESSAGE on %s: %zu bytes, more than %d: not processed", m->topic, m->len,
                  WATCH_PAYLOAD_MAX - 1);
        return;
    }
    if (strcmp(suffix, "events") == 0)
        watch_event(w, s, m);
    else if (strcmp(suffix, "status") == 0 && m->len > 0)
        watch_status(w, s, m);
    else if (strcmp(suffix, "cmd/result") == 0)
        watch_result(w, s, m);
}

/* Handles one queued item; returns true once the disconnect at a stop finished. */
static bool watch_handle(struct watch *w, const struct watch_msg *m)
{
    switch (m->kind) {
    case WATCH_MESSAGE: watch_message(w, m); break;
    case WATCH_CONNECTED: fprintf(stderr, "vigilctl: broker %s: connected\n", w->o.broker); break;
    case WATCH_LOST: fprintf(stderr, "vigilctl: broker %s: %s; reconnecting\n", w->o.broker, m->payload); break;
    case WATCH_CONNECT_FAILED:
        fprintf(stderr, "vigilctl: broker %s: connect failed: %s; retrying\n", w->o.broker, m->payload);
        break;
    case WATCH_SUBSCRIBED: fprintf(stderr, "vigilctl: subscribed to %s, %s, %s\n", w->filters[0], w->filters[1],
                                   w->filters[2]); break;
    case WATCH_SUBSCRIBE_FAILED: fprintf(stderr, "vigilctl: subscribe failed: %s\n", m->payload); break;
    case WATCH_DISCONNECTED: return true;
    }
    return false;
}

/* Prints "SITE SILENT" once for an online site whose status was not refreshed for 2 heartbeats. */
static void watch_check_silence(struct watch *w, uint64_t now_ms)
{
    for (int i = 0; i < w->n_sites; i++) {
        struct watch_site *s = &w->sites[i];
        uint64_t limit_ms = (uint64_t)s->heartbeat_s * 2000u;

        if (s->online != 1 || s->silent || now_ms - s->last_status_ms <= limit_ms)
            continue;
        s->silent = true;
        watch_say(w, "SITE SILENT %s: no status for %" PRIu64 " s (heartbeat %ld s): check the site and its link",
                  s->id, (now_ms - s->last_status_ms) / 1000, s->heartbeat_s);
    }
}

static int watch_connect(struct watch *w)
{
    MQTTAsync_connectOptions c = MQTTAsync_connectOptions_initializer;
    int rc = MQTTAsync_create(&w->client, w->o.broker, w->o.client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);

    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "vigilctl: cannot create an MQTT client for %s: %s\n", w->o.broker, MQTTAsync_strerror(rc));
        w->client = NULL;
        return -1;
    }
    MQTTAsync_setCallbacks(w->client, w, watch_on_lost, watch_on_message, NULL);
    MQTTAsync_setConnected(w->client, w, watch_on_connected);
    c.cleansession = 0;         /* the broker keeps what arrives while we are away */
    c.MQTTVersion = MQTTVERSION_3_1_1;
    c.keepAliveInterval = 10;
    c.automaticReconnect = 1;
    c.minRetryInterval = 1;
    c.maxRetryInterval = WATCH_RETRY_MAX_S;
    c.onFailure = watch_on_connect_failed;
    c.context = w;
    rc = MQTTAsync_connect(w->client, &c);
    if (rc != MQTTASYNC_SUCCESS)
        fprintf(stderr, "vigilctl: cannot connect to %s: %s\n", w->o.broker, MQTTAsync_strerror(rc));
    return rc == MQTTASYNC_SUCCESS ? 0 : -1;
}

/* Runs until a signal, --count or --timeout; returns true if --timeout ended it. */
static bool watch_loop(struct watch *w)
{
    struct watch_msg *m = &w->scratch;
    uint64_t deadline = w->o.timeout_s ? clock_mono_ms() + (uint64_t)w->o.timeout_s * 1000u : UINT64_MAX;
    bool timed_out = false;

    while (!watch_stop && !(w->o.count && w->events >= (uint64_t)w->o.count)) {
        if (clock_mono_ms() >= deadline) {
            timed_out = true;
            break;
        }
        if (queue_pop(&w->q, m, WATCH_WAIT_MS) == 1)
            watch_handle(w, m);
        if (queue_length(&w->q) == 0)
            watch_save_state(w);
        watch_check_silence(w, clock_mono_ms());
    }
    return timed_out;
}

/*
 * Disconnects, then processes what paho had already handed over: those
 * messages are acknowledged to the broker, so dropping them would lose them
 * for the next run of a persistent watcher.
 */
static void watch_finish(struct watch *w)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    struct watch_msg *m = &w->scratch;
    uint64_t deadline = clock_mono_ms() + WATCH_DRAIN_MS;
    bool done = false;

    d.timeout = 1000;
    d.onSuccess = watch_on_disconnected;
    d.onFailure = watch_on_disconnect_failed;
    d.context = w;
    if (!w->client || MQTTAsync_disconnect(w->client, &d) != MQTTASYNC_SUCCESS)
        done = true;
    while (!done && clock_mono_ms() < deadline)
        if (queue_pop(&w->q, m, WATCH_WAIT_MS) == 1)
            done = watch_handle(w, m);
    queue_close(&w->q);
    while (queue_pop(&w->q, m, 0) == 1)
        watch_handle(w, m);
    watch_save_state(w);
    if (w->client)
        MQTTAsync_destroy(&w->client);
}

static int watch_parse(int argc, char **argv, struct watch_opts *o)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},    {"site", required_argument, NULL, 's'},
        {"prefix", required_argument, NULL, 'p'},    {"client-id", required_argument, NULL, 'i'},
        {"state", required_argument, NULL, 'S'},     {"json", no_argument, NULL, 'j'},
        {"utc", no_argument, NULL, 'u'},             {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},   {"heartbeat-s", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0}};
    char *end;
    long *num;
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': o->broker = optarg; break;
        case 's': o->site = optarg; break;
        case 'p': o->prefix = optarg; break;
        case 'i': o->client_id = optarg; break;
        case 'S': o->state_path = optarg; break;
        case 'j': o->json = true; break;
        case 'u': o->utc = true; break;
        case 'n': case 't': case 'H':
            num = c == 'n' ? &o->count : c == 't' ? &o->timeout_s : &o->heartbeat_s;
            *num = strtol(optarg, &end, 10);
            if (*end || *num <= 0) {
                fprintf(stderr, "vigilctl: --%s wants a whole number above 0, not \"%s\"\n",
                        c == 'n' ? "count" : c == 't' ? "timeout" : "heartbeat-s", optarg);
                return -1;
            }
            break;
        default: return -1;
        }
    }
    if (!o->broker || !o->site || optind != argc || strpbrk(o->site, "/#") ||
        (o->state_path && strlen(o->state_path) >= CFG_PATH_MAX)) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/* Builds the three topic filters and the default client id. */
static int watch_init(struct watch *w, char *client_id, size_t cap)
{
    static const char *const suffix[WATCH_FILTERS] = {"events", "status", "cmd/result"};
    struct sigaction sa = {.sa_handler = watch_on_signal};

    for (int i = 0; i < WATCH_FILTERS; i++)
        if (snprintf(w->filters[i], WATCH_TOPIC_MAX, "%s/%s/%s", w->o.prefix, w->o.site, suffix[i]) >=
            WATCH_TOPIC_MAX) {
            fprintf(stderr, "vigilctl: --prefix and --site are too long\n");
            return -1;
        }
    if (!w->o.client_id) {
        snprintf(client_id, cap, "vigilctl-watch-%s", strcmp(w->o.site, "+") == 0 ? "all" : w->o.site);
        w->o.client_id = client_id;
    }
    if (w->o.state_path && watch_load_state(w) < 0) {
        fprintf(stderr, "vigilctl: cannot read %s: %s\n", w->o.state_path, strerror(errno));
        return -1;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return queue_init(&w->q, sizeof(struct watch_msg), WATCH_QUEUE_CAP);
}

static int cmd_watch(int argc, char **argv)
{
    static struct watch w;
    char client_id[128];
    uint64_t missing = 0;
    bool timed_out;

    w.o = (struct watch_opts){.prefix = "vigil", .heartbeat_s = 60};
    if (watch_parse(argc, argv, &w.o) < 0)
        return EXIT_USAGE;
    if (watch_init(&w, client_id, sizeof(client_id)) < 0)
        return EXIT_PROBLEM;
    if (watch_connect(&w) < 0) {
        watch_finish(&w);
        return EXIT_PROBLEM;
    }
    timed_out = watch_loop(&w);
    watch_finish(&w);
    for (int i = 0; i < w.n_sites; i++)
        missing += watch_missing(&w.sites[i]);
    fprintf(stderr, "vigilctl: watch: %" PRIu64 " events, %" PRIu64 " duplicates dropped, %" PRIu64 " gaps, %" PRIu64
            " late events, %" PRIu64 " events missing\n", w.events, w.duplicates, w.gaps, w.late, missing);
    queue_destroy(&w.q);
    return missing || (timed_out && w.o.count) ? EXIT_PROBLEM : EXIT_OK;
}

/* ---- status ------------------------------------------------------------------ */

/*
 * vigilctl status: the site's state from the retained topics vigild keeps
 * on its broker (status, devices/#, zones/#, alarms/#; docs/mqtt.md). A
 * clean session with a fresh client id subscribes to <prefix>/<site>/#; the
 * broker sends every retained message right after the subscription, so the
 * burst is over once STATUS_QUIET_MS pass without one (bounded by
 * --timeout). Live traffic (not retained) is ignored: it is not state.
 *
 * paho's callbacks only copy what arrives into a bounded queue; the main
 * thread parses, sorts and prints.
 */
#define STATUS_QUIET_MS 500
#define STATUS_QUEUE_CAP 256
#define STATUS_TOPIC_MAX 256
#define STATUS_PAYLOAD_MAX 4096
#define STATUS_TIMEOUT_S 5
#define STATUS_HEARTBEAT_S 60       /* vigild's default mqtt.heartbeat_s */

struct status_opts {
    const char *broker, *site, *prefix, *config, *profiles;
    const char *username, *password;
    long timeout_s;
    long heartbeat_s;               /* from --config, else the default; a status payload's wins */
};

enum status_kind { STATUS_CONNECTED, STATUS_CONNECT_FAILED, STATUS_SUBSCRIBED, STATUS_SUBSCRIBE_FAILED,
                   STATUS_RETAINED };

/* One thing that happened on a paho thread: a retained message, or a step of the session. */
struct status_item {
    enum status_kind kind;
    size_t len;
    char topic[STATUS_TOPIC_MAX];
    char payload[STATUS_PAYLOAD_MAX]; /* a failure's reason for the failure kinds */
};

/* The retained state of one site as collected; the arrays hold payload objects. */
struct site_view {
    json_t *status;                 /* NULL: no retained status */
    json_t *devices, *zones, *alarms;
    size_t unreadable;              /* retained payloads that were not JSON objects */
};

static void status_push(struct queue *q, enum status_kind kind, const char *why)
{
    struct status_item it = {.kind = kind};

    snprintf(it.payload, sizeof(it.payload), "%s", why ? why : "");
    queue_push(q, &it);
}

static int status_on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct status_item it = {.kind = STATUS_RETAINED};

    (void)topic_len;
    if (msg->retained && msg->payloadlen > 0) {
        snprintf(it.topic, sizeof(it.topic), "%s", topic);
        /* A payload cut to fit no longer parses and is counted as unreadable. */
        it.len = (size_t)msg->payloadlen < sizeof(it.payload) ? (size_t)msg->payloadlen : sizeof(it.payload);
        memcpy(it.payload, msg->payload, it.len);
        queue_push(ctx, &it);
    }
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void status_on_connected(void *ctx, MQTTAsync_successData *resp)
{
    (void)resp;
    status_push(ctx, STATUS_CONNECTED, NULL);
}

static void status_on_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    status_push(ctx, STATUS_CONNECT_FAILED,
                resp && resp->message ? resp->message : MQTTAsync_strerror(resp ? resp->code : -1));
}

static void status_on_subscribed(void *ctx, MQTTAsync_successData *resp)
{
    if (resp && resp->alt.qos == 0x80)
        status_push(ctx, STATUS_SUBSCRIBE_FAILED, "the broker refused the subscription (ACL?)");
    else
        status_push(ctx, STATUS_SUBSCRIBED, NULL);
}

static void status_on_subscribe_failed(void *ctx, MQTTAsync_failureData *resp)
{
    status_push(ctx, STATUS_SUBSCRIBE_FAILED,
                resp && resp->message ? resp->message : MQTTAsync_strerror(resp ? resp->code : -1));
}

/* Creates the client and starts connecting; the outcome arrives in q. Returns 0 or -1 with err. */
static int status_connect(MQTTAsync *client, const struct status_opts *o, struct queue *q, char *err, size_t errlen)
{
    MQTTAsync_connectOptions c = MQTTAsync_connectOptions_initializer;
    struct timespec now;
    char id[64];
    int rc;

    /* A fresh id per run: a clean session that never meets another client's. */
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(id, sizeof(id), "vigilctl-status-%ld-%lx", (long)getpid(), (unsigned long)now.tv_nsec);
    rc = MQTTAsync_create(client, o->broker, id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setCallbacks(*client, q, NULL, status_on_message, NULL);
    c.keepAliveInterval = 10;
    c.cleansession = 1;
    c.MQTTVersion = MQTTVERSION_3_1_1;
    c.connectTimeout = (int)o->timeout_s;
    c.username = o->username;
    c.password = o->password;
    c.onSuccess = status_on_connected;
    c.onFailure = status_on_connect_failed;
    c.context = q;
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_connect(*client, &c);
    if (rc != MQTTASYNC_SUCCESS)
        snprintf(err, errlen, "broker %s: %s", o->broker, MQTTAsync_strerror(rc));
    return rc == MQTTASYNC_SUCCESS ? 0 : -1;
}

static int status_subscribe(MQTTAsync client, const struct status_opts *o, struct queue *q, char *err, size_t errlen)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    char filter[STATUS_TOPIC_MAX];
    int rc;

    if (msg_topic(filter, sizeof(filter), o->prefix, o->site, "#") < 0) {
        snprintf(err, errlen, "prefix \"%s\" and site \"%s\" are too long", o->prefix, o->site);
        return -1;
    }
    ro.onSuccess = status_on_subscribed;
    ro.onFailure = status_on_subscribe_failed;
    ro.context = q;
    rc = MQTTAsync_subscribe(client, filter, 0, &ro);
    if (rc != MQTTASYNC_SUCCESS)
        snprintf(err, errlen, "subscribe %s: %s", filter, MQTTAsync_strerror(rc));
    return rc == MQTTASYNC_SUCCESS ? 0 : -1;
}

/* Files one retained payload under the site's status, devices, zones or alarms. */
static void view_add(struct site_view *v, const struct status_opts *o, const struct status_item *it)
{
    size_t skip = strlen(o->prefix) + strlen(o->site) + 2;
    const char *rest;
    json_t *obj;

    /* The subscription only matches "<prefix>/<site>/..."; what follows names the kind. */
    if (strlen(it->topic) <= skip)
        return;
    rest = it->topic + skip;
    obj = json_loadb(it->payload, it->len, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        v->unreadable++;
        return;
    }
    if (strcmp(rest, "status") == 0) {
        json_decref(v->status);
        v->status = obj;
    } else if (strncmp(rest, "devices/", 8) == 0) {
        json_array_append_new(v->devices, obj);
    } else if (strncmp(rest, "zones/", 6) == 0) {
        json_array_append_new(v->zones, obj);
    } else if (strncmp(rest, "alarms/", 7) == 0) {
        json_array_append_new(v->alarms, obj);
    } else {
        json_decref(obj);
    }
}

/*
 * Runs the session: connect, subscribe, then gather the retained burst until
 * it has been quiet for STATUS_QUIET_MS. Returns 0, or -1 with err when the
 * broker could not be reached or refused the subscription in time.
 */
static int status_collect(MQTTAsync client, const struct status_opts *o, struct queue *q, struct site_view *v,
                          char *err, size_t errlen)
{
    struct status_item it;
    uint64_t deadline = clock_mono_ms() + (uint64_t)o->timeout_s * 1000, quiet_at = UINT64_MAX, now;

    while ((now = clock_mono_ms()) < (quiet_at < deadline ? quiet_at : deadline)) {
        if (queue_pop(q, &it, (int)((quiet_at < deadline ? quiet_at : deadline) - now)) != 1)
            continue;
        if (it.kind == STATUS_CONNECT_FAILED || it.kind == STATUS_SUBSCRIBE_FAILED) {
            snprintf(err, errlen, "broker %s: %.200s", o->broker, it.payload);
            return -1;
        }
        if (it.kind == STATUS_CONNECTED && status_subscribe(client, o, q, err, errlen) < 0)
            return -1;
        if (it.kind == STATUS_RETAINED)
            view_add(v, o, &it);
        if (it.kind == STATUS_SUBSCRIBED || it.kind == STATUS_RETAINED)
            quiet_at = clock_mono_ms() + STATUS_QUIET_MS;
    }
    if (quiet_at == UINT64_MAX) {
        snprintf(err, errlen, "broker %s: no subscription within %ld s", o->broker, o->timeout_s);
        return -1;
    }
    if (quiet_at > deadline)
        fprintf(stderr, "vigilctl: retained messages still arriving after %ld s; the lists may be incomplete\n",
                o->timeout_s);
    return 0;
}

static const char *jstr_or(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? s : dflt;
}

/* Seconds from an RFC 3339 ts in obj to now, or -1 if it has none. */
static long age_s(const json_t *obj, const char *key, int64_t now_ms)
{
    int64_t ms;
    const char *ts = jstr_or(obj, key, NULL);

    if (!ts || parse_ts(ts, &ms) < 0)
        return -1;
    return now_ms > ms ? (long)((now_ms - ms) / 1000) : 0;
}

/* Prints the site line; returns 1 if the site needs attention (offline, silent or unknown). */
static int print_site(const struct site_view *v, const struct status_opts *o, int64_t now_ms)
{
    const json_t *st = v->status;
    json_int_t hb = json_integer_value(json_object_get(st, "heartbeat_s"));
    long heartbeat_s = hb > 0 ? (long)hb : o->heartbeat_s, age = age_s(st, "ts", now_ms);
    bool online = st && strcmp(jstr_or(st, "state", ""), "online") == 0;

    if (!st) {
        printf("site %s: UNKNOWN: no retained status on %s (vigild never connected, or another prefix)\n", o->site,
               o->broker);
        return 1;
    }
    printf("site %s: %s, vigild %s, started %s", o->site, online ? "online" : "OFFLINE", jstr_or(st, "version", "?"),
           jstr_or(st, "started", "?"));
    if (!online) {
        printf(", offline since %s\n", jstr_or(st, "ts", "?"));
        return 1;
    }
    if (age < 0) {
        printf(", heartbeat time unreadable\n");
        return 1;
    }
    /* docs/mqtt.md: a station calls a site silent after about 2.5 heartbeats without status. */
    if (age * 2 > heartbeat_s * 5) {
        printf(", last heartbeat %ld s ago: SILENT (heartbeat %ld s)\n", age, heartbeat_s);
        return 1;
    }
    printf(", last heartbeat %ld s ago\n", age);
    return 0;
}

static int by_id(const void *a, const void *b, const char *key)
{
    return strcmp(jstr_or(*(json_t *const *)a, key, ""), jstr_or(*(json_t *const *)b, key, ""));
}

static int by_device(const void *a, const void *b)
{
    return by_id(a, b, "device");
}

static int by_zone(const void *a, const void *b)
{
    return by_id(a, b, "zone");
}

static int priority_rank(const json_t *alarm)
{
    static const char *const names[] = {"critical", "high", "medium", "low"};
    const char *p = jstr_or(alarm, "priority", "");

    for (int i = 0; i < 4; i++)
        if (strcmp(p, names[i]) == 0)
            return i;
    return 4;
}

/* Most urgent first; the oldest first within a priority (RFC 3339 UTC sorts as text). */
static int by_priority(const void *a, const void *b)
{
    int ra = priority_rank(*(json_t *const *)a), rb = priority_rank(*(json_t *const *)b);

    return ra != rb ? ra - rb : by_id(a, b, "ts");
}

/* The array's objects sorted by cmp, for printing. Caller frees; NULL on OOM. */
static json_t **sorted(const json_t *arr, int (*cmp)(const void *, const void *))
{
    size_t n = json_array_size(arr);
    json_t **v = malloc((n ? n : 1) * sizeof(*v));

    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(arr, i);
    qsort(v, n, sizeof(*v), cmp);
    return v;
}

/* Prints the devices; returns how many are down. */
static int print_devices(const struct site_view *v)
{
    size_t n = json_array_size(v->devices);
    json_t **dev = sorted(v->devices, by_device);
    int down = dev ? 0 : 1;

    for (size_t i = 0; dev && i < n; i++)
        down += !json_is_true(json_object_get(dev[i], "up"));
    printf("devices: %zu, %d down\n", n, down);
    for (size_t i = 0; dev && i < n; i++) {
        const char *id = jstr_or(dev[i], "device", "?"), *name = jstr_or(dev[i], "name", "");
        json_t *rtt = json_object_get(dev[i], "rtt_ms");
        char rtt_text[32] = "-";

        if (json_is_integer(rtt))
            snprintf(rtt_text, sizeof(rtt_text), "%lld ms", (long long)json_integer_value(rtt));
        printf("  %-24s %-4s  rtt %-8s  polls %-8lld failed %-8lld%s%s\n", id,
               json_is_true(json_object_get(dev[i], "up")) ? "up" : "DOWN", rtt_text,
               (long long)json_integer_value(json_object_get(dev[i], "polls")),
               (long long)json_integer_value(json_object_get(dev[i], "failures")), strcmp(name, id) ? " " : "",
               strcmp(name, id) ? name : "");
    }
    free(dev);
    return down;
}

static void print_zones(const struct site_view *v)
{
    size_t n = json_array_size(v->zones);
    json_t **z = sorted(v->zones, by_zone);

    printf("zones: %zu\n", n);
    for (size_t i = 0; z && i < n; i++) {
        const char *by = jstr_or(z[i], "operator", NULL);

        printf("  %-24s %-9s since %s%s%s\n", jstr_or(z[i], "zone", "?"),
               json_is_true(json_object_get(z[i], "armed")) ? "armed" : "disarmed", jstr_or(z[i], "ts", "?"),
               by ? " by " : "", by ? by : "");
    }
    free(z);
}

/* Prints the alarms that need attention, most urgent first; returns how many. */
static int print_alarms(const struct site_view *v)
{
    size_t n = json_array_size(v->alarms);
    json_t **a = sorted(v->alarms, by_priority);

    printf("alarms not normal: %zu\n", n);
    for (size_t i = 0; a && i < n; i++)
        printf("  %-8s  %-14s  %s  %-32s  %s\n", jstr_or(a[i], "priority", "?"), jstr_or(a[i], "state", "?"),
               jstr_or(a[i], "ts", "?"), jstr_or(a[i], "alarm", "?"), jstr_or(a[i], "text", ""));
    free(a);
    return (int)n;
}

/* Prints the whole view and the verdict; returns EXIT_OK or EXIT_PROBLEM. */
static int print_view(const struct site_view *v, const struct status_opts *o)
{
    int site = print_site(v, o, clock_wall_ms());
    int down = print_devices(v);
    int alarms;

    print_zones(v);
    alarms = print_alarms(v);
    if (v->unreadable)
        printf("(%zu retained payloads were not JSON objects and are not shown)\n", v->unreadable);
    if (!site && !down && !alarms) {
        printf("status: all well\n");
        return EXIT_OK;
    }
    printf("status: needs attention:%s", site ? " site not online;" : "");
    printf(" %d device(s) down; %d alarm(s) not normal\n", down, alarms);
    return EXIT_PROBLEM;
}

/* Parses status's options into o; returns 0 or -1 (already reported). */
static int parse_status(int argc, char **argv, struct status_opts *o)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'}, {"site", required_argument, NULL, 's'},
        {"prefix", required_argument, NULL, 'P'}, {"config", required_argument, NULL, 'c'},
        {"profiles", required_argument, NULL, 'p'}, {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    char *end;
    int c;

    *o = (struct status_opts){.timeout_s = STATUS_TIMEOUT_S, .heartbeat_s = STATUS_HEARTBEAT_S};
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:s:P:c:p:t:", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': o->broker = optarg; break;
        case 's': o->site = optarg; break;
        case 'P': o->prefix = optarg; break;
        case 'c': o->config = optarg; break;
        case 'p': o->profiles = optarg; break;
        case 't':
            o->timeout_s = strtol(optarg, &end, 10);
            if (*end || end == optarg || o->timeout_s < 1 || o->timeout_s > 3600) {
                fprintf(stderr, "vigilctl: --timeout wants whole seconds from 1 to 3600, not \"%s\"\n", optarg);
                return -1;
            }
            break;
        default: return -1;
        }
    }
    if (optind != argc || (!o->config && (!o->broker || !o->site))) {
        fprintf(stderr, "vigilctl: status needs --broker and --site, or --config\n");
        return -1;
    }
    return 0;
}

/*
 * Fills what the command line left open from the site config: the first
 * broker with its credentials, the site id, the prefix and the heartbeat.
 * Returns the loaded site (the options point into it), or NULL (reported).
 */
static struct cfg_site *status_config(struct status_opts *o)
{
    static char err[16384];
    struct cfg_site *site = cfg_load(o->config, o->profiles, err, sizeof(err));
    const struct cfg_broker *b;

    if (!site) {
        fprintf(stderr, "%s", err);
        return NULL;
    }
    b = &site->mqtt.brokers[0];
    if (!o->broker) {
        o->broker = b->uri;
        o->username = b->username[0] ? b->username : NULL;
        o->password = b->password[0] ? b->password : NULL;
    }
    o->site = o->site ? o->site : site->id;
    o->prefix = o->prefix ? o->prefix : site->mqtt.prefix;
    o->heartbeat_s = site->mqtt.heartbeat_s;
    return site;
}

/* Connects, gathers the retained state and disconnects. Returns 0 or -1 with err. */
static int status_fetch(const struct status_opts *o, struct site_view *v, char *err, size_t errlen)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    MQTTAsync client = NULL;
    struct queue q;
    int rc;

    if (queue_init(&q, sizeof(struct status_item), STATUS_QUEUE_CAP) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = status_connect(&client, o, &q, err, errlen);
    if (rc == 0)
        rc = status_collect(client, o, &q, v, err, errlen);
    /* Closed first: a paho thread blocked on the full queue returns at once. */
    queue_close(&q);
    if (client) {
        d.timeout = 1000;
        MQTTAsync_disconnect(client, &d);
        MQTTAsync_destroy(&client);
    }
    queue_destroy(&q);
    return rc;
}

/* Fetches and prints the site's state; returns the exit code. */
static int status_run(const struct status_opts *o)
{
    struct site_view v = {.devices = json_array(), .zones = json_array(), .alarms = json_array()};
    char err[512];
    int rc = EXIT_USAGE;

    if (!v.devices || !v.zones || !v.alarms)
        fprintf(stderr, "vigilctl: out of memory\n");
    else if (status_fetch(o, &v, err, sizeof(err)) < 0)
        fprintf(stderr, "vigilctl: %s\n", err);
    else
        rc = print_view(&v, o);
    json_decref(v.status);
    json_decref(v.devices);
    json_decref(v.zones);
    json_decref(v.alarms);
    return rc;
}

static int cmd_status(int argc, char **argv)
{
    struct status_opts o;
    struct cfg_site *site = NULL;
    int rc;

    if (parse_status(argc, argv, &o) < 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (o.config && !(site = status_config(&o)))
        return EXIT_USAGE;
    if (!o.prefix)
        o.prefix = "vigil";
    rc = status_run(&o);
    cfg_free(site);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------ */

/* Finds the command named by argv[1] (and argv[2]); *words gets how many it used. */
static const struct command *find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const struct command *c = &commands[i];
        int n = c->words[1] ? 2 : 1;
        if (argc > n && strcmp(argv[1], c->words[0]) == 0 && (n == 1 || strcmp(argv[2], c->words[1]) == 0)) {
            *words = n;
            return c;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const struct command *c;
    int words = 0;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return EXIT_OK;
    }
    c = find_command(argc, argv, &words);
    if (!c) {
        usage(stderr);
        return EXIT_USAGE;
    }
    /* the command sees its last word as argv[0], its arguments after it */
    return c->run(argc - words, argv + words);
}
