/*
 * ctl_journal.c - vigilctl journal verify and vigilctl replay.
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
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core.h"
#include "ctl.h"
#include "journal.h"
#include "message.h"
#include "record.h"

/* Verifies the hash chain of argv[1]; prints the summary or the damage. */
int ctl_cmd_journal_verify(int argc, char **argv)
{
    struct jrnl_summary sum;
    char err[JRNL_ERR_MAX];

    if (argc != 2) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (jrnl_verify(argv[1], &sum, err, sizeof(err)) < 0) {
        printf("journal: %s\n", err);
        return CTL_EXIT_PROBLEM;
    }
    if (sum.note[0])
        printf("journal: note: %s; vigild drops it when it next starts\n", sum.note);
    printf("journal: %zu segments, %" PRIu64 " records, chain intact\n", sum.segments, sum.records);
    return CTL_EXIT_OK;
}

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

/*
 * Prints a local output the core switched (the siren of missed receipts),
 * so a replay shows why it went on: the events before it lacked receipts.
 */
static void print_local_output(const struct replay_ctx *c, const struct core_local_output *lo)
{
    static struct rec_buf rb;

    if (c->list || !c->site->receipts.local_output.enabled || lo->wall_ms < c->o->from_ms ||
        lo->wall_ms > c->o->to_ms)
        return;
    if (rec_local_output(&rb, c->site, lo) > 0)
        puts(rb.json);
}

/* Prints (or keeps, for --diff) every event inside the --from/--to window. */
static void on_replay_output(const struct core_output *o, void *arg)
{
    struct replay_ctx *c = arg;
    const struct core_event *ev = &o->u.event;
    static struct rec_buf rb;
    const char *json = rb.json;
    char key[CORE_ALARM_ID_MAX + 64];

    if (o->type == CORE_OUT_LOCAL)
        print_local_output(c, &o->u.local);
    if (o->type != CORE_OUT_EVENT || ev->wall_ms < c->o->from_ms || ev->wall_ms > c->o->to_ms)
        return;
    if (rec_event(&rb, c->site, c->core, ev) < 0) {
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
 * list. Returns CTL_EXIT_OK, or CTL_EXIT_PROBLEM (config invalid, journal damaged).
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
        return CTL_EXIT_PROBLEM;
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
    return n < 0 || info.problem[0] || ctx.failed ? CTL_EXIT_PROBLEM : CTL_EXIT_OK;
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

    if (rc == CTL_EXIT_OK)
        rc = replay_under(o, o->diff, &b);
    if (rc == CTL_EXIT_OK && match_events(&a, &b) < 0) {
        fprintf(stderr, "vigilctl: out of memory\n");
        rc = CTL_EXIT_PROBLEM;
    }
    if (rc == CTL_EXIT_OK)
        print_diff(&a, &b);
    list_free(&a);
    list_free(&b);
    return rc;
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
            if (!msg_parse_ts(optarg, c == 'f' ? &o->from_ms : &o->to_ms)) {
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

/* Replays the journal (under two configs with --diff) and prints its events. */
int ctl_cmd_replay(int argc, char **argv)
{
    struct replay_opts o;

    if (parse_replay(argc, argv, &o) < 0) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    return o.diff ? replay_diff(&o) : replay_under(&o, o.config, NULL);
}

