/*
 * ctl_watch.c - vigilctl watch: a minimal central station.
 *
 *   vigilctl watch --broker URI --site ID|+ [--prefix P] [--client-id ID]
 *                  [--state FILE] [--json] [--utc] [--count N] [--timeout S]
 *                  [--heartbeat-s S]
 *
 * It subscribes to a site's events, status, command results and retained
 * alarm states with a persistent MQTT session, prints the alarms that need
 * attention as the broker holds them (so a guard starting it sees them before
 * any live event), keeps the epoch and the highest seq it has processed per
 * site, drops duplicates by (epoch, seq), reports a new epoch as lost site
 * history, gaps and silent sites, and prints each alarm for
 * people (or, with --json, each new event as the JSON line vigild
 * published). docs/mqtt.md describes the rule it applies.
 *
 * ctl_mqtt's callbacks only copy what arrived into a bounded queue; the main
 * thread does everything else, so the dedup state has one owner.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "config.h"
#include "core.h"
#include "ctl.h"
#include "lineage.h"
#include "message.h"
#include "ctl_mqtt.h"
#include "mqtt_topics.h"
#include "paysign.h"

#define WATCH_FILTERS 4             /* events, status, cmd/result, alarms/# */
#define WATCH_SITES_MAX 256
#define WATCH_QUEUE_CAP 1024
#define WATCH_WAIT_MS 200           /* longest sleep: deadlines and silence checks */
#define WATCH_DRAIN_MS 3000         /* how long a stop waits for the disconnect */
#define WATCH_RETRY_MAX_S 5         /* a station reconnects quickly */
#define WATCH_RESULTS_SEEN 64       /* command results remembered to drop repeats */
#define WATCH_GAPS_MAX 16           /* open gaps remembered per site, to take late events */

#define WATCH_MAX_HEARTBEAT_S 3600  /* a status claiming longer is judged by this */
#define WATCH_SEQ_JUMP_MAX 1000000  /* a seq further ahead is shown but not trusted as the mark */

static volatile sig_atomic_t watch_stop;

struct watch_opts {
    const char *broker, *site, *prefix, *client_id, *state_path;
    struct ctl_mqtt_auth auth;
    bool json, utc;
    long count;                 /* stop after this many new events; 0: never */
    long timeout_s;             /* stop after this long; 0: never */
    long heartbeat_s;           /* for status payloads that do not carry heartbeat_s */
    bool check_signatures;      /* --site-key: only what the site signed counts */
    unsigned char site_pk[32];
};

/* Events first..last of a site have not arrived (yet). */
struct watch_gap {
    uint64_t first, last;
};

/* What the watcher knows about one site. */
struct watch_site {
    char id[CFG_ID_MAX];
    bool has_mark;
    uint64_t mark;              /* highest seq processed ... */
    uint64_t epoch;             /* ... in this epoch (0: not known, e.g. a state file from before epochs) */
    uint64_t old_epoch;         /* the epoch before it: its late copies are duplicates, not a new lineage */
    struct watch_gap gaps[WATCH_GAPS_MAX];  /* oldest first */
    int n_gaps;
    int online;                 /* -1 unknown, 0 offline, 1 online */
    bool silent;                /* "SITE SILENT" printed, no status since */
    uint64_t last_status_ms;    /* monotonic arrival of the last status */
    long heartbeat_s;
};

struct watch {
    struct watch_opts o;
    struct ctl_mqtt mqtt;
    char filters[WATCH_FILTERS][CTL_MQTT_TOPIC_MAX];
    struct watch_site sites[WATCH_SITES_MAX];
    int n_sites;
    bool state_dirty;
    uint64_t events, duplicates, gaps, late;
    char results_seen[WATCH_RESULTS_SEEN][CFG_ID_MAX + CORE_CMD_ID_MAX];
    size_t results_next;
    struct ctl_mqtt_item scratch;   /* the item the main thread is handling */
    bool diagnosed;                 /* this outage's connect failure is explained */
    char failure[512];
};

static void watch_on_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
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

/* Reads "site seq epoch" lines written by watch_save_state() ("site seq" from before epochs);
 * a missing file is a first run. */
static int watch_load_state(struct watch *w)
{
    char line[256], id[CFG_ID_MAX + 1], epoch[17] = "";
    unsigned long long seq;
    FILE *f = fopen(w->o.state_path, "r");
    struct watch_site *s;

    if (!f)
        return errno == ENOENT ? 0 : -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "%48s %llu %16s", id, &seq, epoch) >= 2 && (s = watch_site(w, id)) != NULL) {
            s->has_mark = true;
            s->mark = seq;
            s->epoch = lin_epoch_parse(epoch);
            epoch[0] = '\0';
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
            fprintf(f, "%s %" PRIu64 " %016" PRIx64 "\n", w->sites[i].id, w->sites[i].mark, w->sites[i].epoch);
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

    if (!ts || !msg_parse_ts(ts, &ms)) {
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
        {"event", "EVENT"},                     {"out_of_service", "OUT OF SERVICE"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(state, names[i][0]) == 0)
            return names[i][1];
    return state;
}

/* One alarm line for people; LEAD (may be "") comes first. */
static void watch_print_alarm(const struct watch *w, const char *lead, json_t *ev, uint64_t seq)
{
    char when[64], prio[16];
    const char *p = ctl_jstr(ev, "priority", "");
    size_t i;

    watch_format_ts(w, json_string_value(json_object_get(ev, "ts")), when, sizeof(when));
    for (i = 0; p[i] && i + 1 < sizeof(prio); i++)
        prio[i] = (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 'a' + 'A' : p[i]);
    prio[i] = '\0';
    printf("%s%s  #%" PRIu64 "  %-8s  %-17s  %s  [%s]\n", lead, when, seq, prio, watch_state_words(ctl_jstr(ev, "state", "")),
           ctl_jstr(ev, "text", ""), ctl_jstr(ev, "alarm", ""));
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
 * A new epoch: the site lost its history (state directory lost, journal
 * damaged), so its numbering starts a new lineage. The mark and the open
 * gaps of the old epoch mean nothing in it; the watcher re-bases on the
 * event in hand. An event without an epoch, or the first epoch after a
 * state file from before epochs that simply numbers on, is no news.
 */
static void watch_new_epoch(struct watch *w, struct watch_site *s, json_t *ev, uint64_t epoch, uint64_t seq)
{
    char when[64];

    if (s->has_mark && (s->epoch != 0 || seq <= s->mark)) {
        watch_format_ts(w, json_string_value(json_object_get(ev, "ts")), when, sizeof(when));
        watch_say(w, "HISTORY LOST: site %s history lost at %s; re-synced from retained state "
                  "(new epoch %016" PRIx64 ", numbering from #%" PRIu64 ")", s->id, when, epoch, seq);
        s->has_mark = false;
        s->n_gaps = 0;
    }
    s->old_epoch = s->epoch;
    s->epoch = epoch;
    w->state_dirty = true;
}

/*
 * The dedup rule of docs/mqtt.md, by (epoch, seq): an event of a new epoch
 * starts the site's numbering again; a seq above the site's mark is new (a
 * jump opens a gap); one at or below it is a duplicate unless it fills an
 * open gap, as an event delayed on another path does. Late copies of the
 * epoch before are duplicates.
 */
static void watch_event(struct watch *w, struct watch_site *s, const struct ctl_mqtt_item *m)
{
    json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
    json_t *jseq = json_object_get(ev, "seq");
    uint64_t seq = json_is_integer(jseq) && json_integer_value(jseq) > 0 ? (uint64_t)json_integer_value(jseq) : 0;
    uint64_t epoch = lin_epoch_parse(json_string_value(json_object_get(ev, "epoch")));

    if (seq != 0 && epoch != 0 && epoch != s->epoch && epoch != s->old_epoch)
        watch_new_epoch(w, s, ev, epoch, seq);
    if (seq == 0) {
        watch_say(w, "BAD EVENT from site %s (no seq, not processed): %.*s", s->id, (int)m->len, m->payload);
    } else if (epoch != 0 && epoch == s->old_epoch) {
        w->duplicates++;
    } else if (s->has_mark && seq <= s->mark && !watch_fill_gap(s, seq)) {
        w->duplicates++;
    } else {
        if (s->has_mark && seq <= s->mark) {
            w->late++;
            watch_say(w, "LATE: site %s event %" PRIu64 " arrived after %" PRIu64, s->id, seq, s->mark);
        } else if (s->has_mark && seq > s->mark + WATCH_SEQ_JUMP_MAX) {
            /* A forged huge seq would make every later real event a "duplicate": not taken as the mark. */
            watch_say(w, "SUSPICIOUS: site %s event %" PRIu64 " is far beyond %" PRIu64 "; shown, not trusted", s->id,
                      seq, s->mark);
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
            watch_print_alarm(w, "", ev, seq);
        fflush(stdout);
    }
    json_decref(ev);
}

/* A retained or refreshed status: online/offline changes and the heartbeat clock. */
static void watch_status(struct watch *w, struct watch_site *s, const struct ctl_mqtt_item *m)
{
    json_t *st = json_loadb(m->payload, m->len, 0, NULL);
    json_t *hb = json_object_get(st, "heartbeat_s");
    int online = strcmp(ctl_jstr(st, "state", ""), "online") == 0;
    char started[64];

    if (!st) {
        watch_say(w, "BAD STATUS from site %s: %.*s", s->id, (int)m->len, m->payload);
        return;
    }
    if (json_is_integer(hb) && json_integer_value(hb) > 0)
        s->heartbeat_s = json_integer_value(hb) < WATCH_MAX_HEARTBEAT_S ? (long)json_integer_value(hb)
                                                                      : WATCH_MAX_HEARTBEAT_S;
    s->last_status_ms = clock_mono_ms();
    if (online != s->online || s->silent) {
        watch_format_ts(w, json_string_value(json_object_get(st, "started")), started, sizeof(started));
        watch_say(w, "SITE %s %s (vigild %s started %s)", online ? "ONLINE" : "OFFLINE", s->id, ctl_jstr(st, "version", ""),
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
static void watch_result(struct watch *w, struct watch_site *s, const struct ctl_mqtt_item *m)
{
    json_t *r = json_loadb(m->payload, m->len, 0, NULL);

    if (!r)
        watch_say(w, "BAD RESULT from site %s: %.*s", s->id, (int)m->len, m->payload);
    else if (watch_result_seen(w, s, ctl_jstr(r, "id", "")))
        w->duplicates++;
    else if (json_is_true(json_object_get(r, "ok")))
        watch_say(w, "RESULT site %s command %s %s: ok", s->id, ctl_jstr(r, "id", ""), ctl_jstr(r, "op", ""));
    else
        watch_say(w, "RESULT site %s command %s %s: REFUSED: %s", s->id, ctl_jstr(r, "id", ""), ctl_jstr(r, "op", ""),
                  ctl_jstr(r, "error", ""));
    json_decref(r);
}

/*
 * A retained alarms/<alarm> state: an alarm that needs attention now. The
 * broker hands these over on every subscribe, before anything live, so they
 * are what a guard starting the watcher sees first. Live copies (and the
 * empty payloads that clear them) are left to the events stream, which
 * carries the same changes with their seq; with --json the line goes to
 * stderr, as stdout carries only events.
 */
static void watch_retained_alarm(struct watch *w, const struct ctl_mqtt_item *m)
{
    json_t *ev;
    json_t *jseq;

    if (!m->retained || m->len == 0)
        return;
    ev = json_loadb(m->payload, m->len, 0, NULL);
    jseq = json_object_get(ev, "seq");
    if (!json_is_object(ev))
        watch_say(w, "BAD ALARM STATE on %s: %.*s", m->topic, (int)m->len, m->payload);
    else if (w->o.json)
        fprintf(stderr, "NEEDS ATTENTION: %.*s\n", (int)m->len, m->payload);
    else
        watch_print_alarm(w, "NEEDS ATTENTION  ", ev, json_is_integer(jseq) ? (uint64_t)json_integer_value(jseq) : 0);
    json_decref(ev);
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

/*
 * With --site-key only what the site signed counts (docs/mqtt.md, "Signed
 * payloads"): anything else on its topics is an alarm of its own. A cleared
 * retained topic (empty) cannot carry a signature.
 */
static bool watch_genuine(struct watch *w, const struct ctl_mqtt_item *m, const char *site, const char *suffix)
{
    size_t plain;
    enum psig_verdict v;

    if (!w->o.check_signatures || m->len == 0)
        return true;
    v = psig_verify(w->o.site_pk, site, suffix, m->payload, m->len, &plain);
    if (v == PSIG_GOOD)
        return true;
    watch_say(w, "FORGED: message on %s is %s; ignored", m->topic,
              v == PSIG_UNSIGNED ? "not signed by the site" : "signed wrongly");
    return false;
}

/* Routes a message to its site by topic: events, status or a command result. */
static void watch_message(struct watch *w, const struct ctl_mqtt_item *m)
{
    char id[CFG_ID_MAX];
    const char *suffix = watch_split(w, m->topic, id, sizeof(id));
    struct watch_site *s = suffix ? watch_site(w, id) : NULL;

    if (!s)
        return;
    if (m->len >= CTL_MQTT_PAYLOAD_MAX) {
        watch_say(w, "BAD MESSAGE on %s: %zu bytes, more than %d: not processed", m->topic, m->len,
                  CTL_MQTT_PAYLOAD_MAX - 1);
        return;
    }
    if (!watch_genuine(w, m, id, suffix))
        return;
    if (strcmp(suffix, MQTT_TOPIC_EVENTS) == 0)
        watch_event(w, s, m);
    else if (strcmp(suffix, MQTT_TOPIC_STATUS) == 0 && m->len > 0)
        watch_status(w, s, m);
    else if (strcmp(suffix, MQTT_TOPIC_CMD_RESULT) == 0)
        watch_result(w, s, m);
    else if (strncmp(suffix, MQTT_TOPIC_ALARMS, strlen(MQTT_TOPIC_ALARMS)) == 0)
        watch_retained_alarm(w, m);
}

/*
 * paho retries every few seconds and says the same each time; a TLS
 * refusal is diagnosed on the first failure after a success only, so a
 * station that cannot connect does not repeat the handshake twice a retry.
 */
static const char *watch_failure(struct watch *w, const char *paho_text)
{
    if (w->diagnosed)
        return paho_text;
    w->diagnosed = true;
    return ctl_mqtt_failure(&w->mqtt, paho_text, w->failure, sizeof(w->failure));
}

/* Handles one queued item; returns true once the disconnect at a stop finished. */
static bool watch_handle(struct watch *w, const struct ctl_mqtt_item *m)
{
    switch (m->kind) {
    case CTL_MQTT_MESSAGE: watch_message(w, m); break;
    case CTL_MQTT_CONNECTED:
        w->diagnosed = false;
        fprintf(stderr, "vigilctl: broker %s: connected\n", w->o.broker);
        break;
    case CTL_MQTT_LOST: fprintf(stderr, "vigilctl: broker %s: %s; reconnecting\n", w->o.broker, m->payload); break;
    case CTL_MQTT_CONNECT_FAILED:
        fprintf(stderr, "vigilctl: broker %s: connect failed: %s; retrying\n", w->o.broker,
                watch_failure(w, m->payload));
        break;
    case CTL_MQTT_SUBSCRIBED: fprintf(stderr, "vigilctl: subscribed to %s, %s, %s, %s\n", w->filters[0],
                                   w->filters[1], w->filters[2], w->filters[3]); break;
    case CTL_MQTT_SUBSCRIBE_FAILED: fprintf(stderr, "vigilctl: subscribe failed: %s\n", m->payload); break;
    case CTL_MQTT_DISCONNECTED: return true;
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

/* Starts the persistent session: the broker keeps what arrives while we are away. */
static int watch_connect(struct watch *w)
{
    struct ctl_mqtt_opts mo = {
        .broker = w->o.broker, .client_id = w->o.client_id,
        .filters = {w->filters[0], w->filters[1], w->filters[2], w->filters[3]}, .n_filters = WATCH_FILTERS, .qos = 1,
        .persistent = true, .reconnect_max_s = WATCH_RETRY_MAX_S,
    };
    char err[256];
    int rc;

    ctl_mqtt_auth_apply(&w->o.auth, &mo);
    rc = ctl_mqtt_connect(&w->mqtt, &mo, err, sizeof(err));

    if (rc == CTL_MQTT_ECREATE)
        fprintf(stderr, "vigilctl: cannot create an MQTT client for %s: %s\n", w->o.broker, err);
    else if (rc < 0)
        fprintf(stderr, "vigilctl: cannot connect to %s: %s\n", w->o.broker, err);
    return rc < 0 ? -1 : 0;
}

/* Runs until a signal, --count or --timeout; returns true if --timeout ended it. */
static bool watch_loop(struct watch *w)
{
    struct ctl_mqtt_item *m = &w->scratch;
    uint64_t deadline = w->o.timeout_s ? clock_mono_ms() + (uint64_t)w->o.timeout_s * 1000u : UINT64_MAX;
    bool timed_out = false;

    while (!watch_stop && !(w->o.count && w->events >= (uint64_t)w->o.count)) {
        if (clock_mono_ms() >= deadline) {
            timed_out = true;
            break;
        }
        if (ctl_mqtt_next(&w->mqtt, m, WATCH_WAIT_MS) == 1)
            watch_handle(w, m);
        if (ctl_mqtt_pending(&w->mqtt) == 0)
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
    struct ctl_mqtt_item *m = &w->scratch;
    uint64_t deadline = clock_mono_ms() + WATCH_DRAIN_MS;
    bool done = ctl_mqtt_disconnect(&w->mqtt) < 0;

    while (!done && clock_mono_ms() < deadline)
        if (ctl_mqtt_next(&w->mqtt, m, WATCH_WAIT_MS) == 1)
            done = watch_handle(w, m);
    ctl_mqtt_close(&w->mqtt);
    while (ctl_mqtt_next(&w->mqtt, m, 0) == 1)
        watch_handle(w, m);
    watch_save_state(w);
    ctl_mqtt_destroy(&w->mqtt);
}

/* Parses watch's options into o; returns 0 or -1 (already reported). */
static int watch_parse(int argc, char **argv, struct watch_opts *o)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},    {"site", required_argument, NULL, 's'},
        {"prefix", required_argument, NULL, 'p'},    {"client-id", required_argument, NULL, 'i'},
        {"state", required_argument, NULL, 'S'},     {"json", no_argument, NULL, 'j'},
        {"utc", no_argument, NULL, 'u'},             {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},   {"heartbeat-s", required_argument, NULL, 'H'},
        {"site-key", required_argument, NULL, 'k'},  CTL_MQTT_AUTH_LONGOPTS,
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
        case 'k':
            if (ctl_site_key(optarg, o->site_pk) < 0)
                return -1;
            o->check_signatures = true;
            break;
        case 'n': case 't': case 'H':
            num = c == 'n' ? &o->count : c == 't' ? &o->timeout_s : &o->heartbeat_s;
            *num = strtol(optarg, &end, 10);
            if (*end || *num <= 0) {
                fprintf(stderr, "vigilctl: --%s wants a whole number above 0, not \"%s\"\n",
                        c == 'n' ? "count" : c == 't' ? "timeout" : "heartbeat-s", optarg);
                return -1;
            }
            break;
        default:
            if (ctl_mqtt_auth_option(&o->auth, c, optarg) != 1)
                return -1;
        }
    }
    if (o->broker && ctl_mqtt_auth_ready(&o->auth, o->broker) < 0)
        return -1;
    if (!o->broker || !o->site || optind != argc || strpbrk(o->site, "/#") ||
        (o->state_path && strlen(o->state_path) >= CFG_PATH_MAX)) {
        ctl_usage(stderr);
        return -1;
    }
    return 0;
}

/* Builds the four topic filters and the default client id, loads --state, catches SIGINT and SIGTERM. */
static int watch_init(struct watch *w, char *client_id, size_t cap)
{
    static const char *const suffix[WATCH_FILTERS] = {MQTT_TOPIC_EVENTS, MQTT_TOPIC_STATUS, MQTT_TOPIC_CMD_RESULT,
                                                      MQTT_TOPIC_ALARMS "#"};
    struct sigaction sa = {.sa_handler = watch_on_signal};

    for (int i = 0; i < WATCH_FILTERS; i++)
        if (snprintf(w->filters[i], CTL_MQTT_TOPIC_MAX, "%s/%s/%s", w->o.prefix, w->o.site, suffix[i]) >=
            CTL_MQTT_TOPIC_MAX) {
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
    return ctl_mqtt_init(&w->mqtt, WATCH_QUEUE_CAP);
}

/* Watches until a signal, --count or --timeout; exit 1 if events are missing or --count was not reached. */
int ctl_cmd_watch(int argc, char **argv)
{
    static struct watch w;
    char client_id[128];
    uint64_t missing = 0;
    bool timed_out;

    w.o = (struct watch_opts){.prefix = "vigil", .heartbeat_s = 60};
    if (watch_parse(argc, argv, &w.o) < 0)
        return CTL_EXIT_USAGE;
    if (watch_init(&w, client_id, sizeof(client_id)) < 0)
        return CTL_EXIT_PROBLEM;
    if (watch_connect(&w) < 0) {
        watch_finish(&w);
        return CTL_EXIT_PROBLEM;
    }
    timed_out = watch_loop(&w);
    watch_finish(&w);
    for (int i = 0; i < w.n_sites; i++)
        missing += watch_missing(&w.sites[i]);
    fprintf(stderr, "vigilctl: watch: %" PRIu64 " events, %" PRIu64 " duplicates dropped, %" PRIu64 " gaps, %" PRIu64
            " late events, %" PRIu64 " events missing\n", w.events, w.duplicates, w.gaps, w.late, missing);
    return missing || (timed_out && w.o.count) ? CTL_EXIT_PROBLEM : CTL_EXIT_OK;
}

