/*
 * ctl_status.c - vigilctl status: the site's state from its broker.
 *
 *   vigilctl status --broker URI --site ID [--prefix P] [--timeout S]
 *   vigilctl status --config SITE.conf [--profiles DIR] [--timeout S]
 *
 * Prints status and heartbeat age, devices, zones and the alarms not normal
 * from the retained topics vigild keeps on its broker (status, devices/#,
 * zones/#, alarms/#; docs/mqtt.md). Exit 0 all is well, 1 something needs
 * attention, 2 usage error, invalid config or broker unreachable.
 *
 * A clean session with a fresh client id subscribes to <prefix>/<site>/#;
 * the broker sends every retained message right after the subscription, so
 * the burst is over once STATUS_QUIET_MS pass without one (bounded by
 * --timeout). Live traffic (not retained) is ignored: it is not state.
 *
 * ctl_mqtt's callbacks only copy what arrives into a bounded queue; the
 * main thread parses, sorts and prints.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "ctl_mqtt.h"
#include "message.h"
#include "mqtt_topics.h"
#include "paysign.h"

#define STATUS_QUIET_MS 500
#define STATUS_QUEUE_CAP 256
#define STATUS_TIMEOUT_S 5
#define STATUS_HEARTBEAT_S 60       /* vigild's default mqtt.heartbeat_s */
#define STATUS_MAX_HEARTBEAT_S 3600 /* a status claiming longer is judged by this: a forged one cannot buy days */

struct status_opts {
    const char *broker, *site, *prefix, *config, *profiles;
    struct ctl_mqtt_auth auth;      /* from the command line, or from --config's first broker */
    long timeout_s;
    long heartbeat_s;               /* from --config, else the default; a status payload's wins */
    bool check_signatures;          /* --site-key, or the signing key of --config */
    unsigned char site_pk[32];
};

/* The retained state of one site as collected; the arrays hold payload objects. */
struct site_view {
    json_t *status;                 /* NULL: no retained status */
    json_t *devices, *zones, *alarms;
    size_t unreadable;              /* retained payloads that were not JSON objects */
    size_t forged;                  /* payloads not signed by the site, or naming another site: left out */
};

/*
 * Starts a clean session under a fresh client id that subscribes to
 * <prefix>/<site>/# into filter (CTL_MQTT_TOPIC_MAX bytes, kept by the
 * caller while the client lives). Returns 0 or -1 with err.
 */
static int status_connect(struct ctl_mqtt *m, const struct status_opts *o, char *filter, char *err, size_t errlen)
{
    struct ctl_mqtt_opts mo = {.broker = o->broker, .filters = {filter}, .n_filters = 1, .qos = 0,
                               .connect_timeout_s = (int)o->timeout_s, .retained_only = true};
    struct timespec now;
    char id[64], why[128];

    if (msg_topic(filter, CTL_MQTT_TOPIC_MAX, o->prefix, o->site, "#") < 0) {
        snprintf(err, errlen, "prefix \"%s\" and site \"%s\" are too long", o->prefix, o->site);
        return -1;
    }
    /* A fresh id per run: a clean session that never meets another client's. */
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(id, sizeof(id), "vigilctl-status-%ld-%lx", (long)getpid(), (unsigned long)now.tv_nsec);
    mo.client_id = id;
    ctl_mqtt_auth_apply(&o->auth, &mo);
    if (ctl_mqtt_connect(m, &mo, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "broker %s: %s", o->broker, why);
        return -1;
    }
    return 0;
}

/*
 * With the site's public key, only what the site signed counts: a forged
 * retained status, alarm or zone is reported and left out of the view.
 */
static bool genuine(struct site_view *v, const struct status_opts *o, const char *suffix,
                    const struct ctl_mqtt_item *it)
{
    size_t plain;
    enum psig_verdict r;

    if (!o->check_signatures || it->len > sizeof(it->payload))
        return !o->check_signatures;
    r = psig_verify(o->site_pk, o->site, suffix, it->payload, it->len, &plain);
    if (r == PSIG_GOOD)
        return true;
    printf("FORGED: %s is %s; left out\n", it->topic, r == PSIG_UNSIGNED ? "not signed by the site" : "signed wrongly");
    v->forged++;
    return false;
}

/* Files one retained payload under the site's status, devices, zones or alarms. */
static void view_add(struct site_view *v, const struct status_opts *o, const struct ctl_mqtt_item *it)
{
    size_t skip = strlen(o->prefix) + strlen(o->site) + 2;
    const char *rest;
    json_t *obj;

    /* The subscription only matches "<prefix>/<site>/..."; what follows names the kind. */
    if (strlen(it->topic) <= skip)
        return;
    rest = it->topic + skip;
    /* A payload cut to fit no longer parses and is counted as unreadable. */
    if (!genuine(v, o, rest, it))
        return;
    obj = json_loadb(it->payload, it->len < sizeof(it->payload) ? it->len : sizeof(it->payload), 0, NULL);
    if (json_is_object(obj) && json_object_get(obj, "site") &&
        strcmp(ctl_jstr(obj, "site", ""), o->site) != 0) {
        printf("FORGED: %s names site \"%s\"; left out\n", it->topic, ctl_jstr(obj, "site", ""));
        v->forged++;
        json_decref(obj);
        return;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        v->unreadable++;
        return;
    }
    if (strcmp(rest, MQTT_TOPIC_STATUS) == 0) {
        json_decref(v->status);
        v->status = obj;
    } else if (strncmp(rest, MQTT_TOPIC_DEVICES, strlen(MQTT_TOPIC_DEVICES)) == 0) {
        json_array_append_new(v->devices, obj);
    } else if (strncmp(rest, MQTT_TOPIC_ZONES, strlen(MQTT_TOPIC_ZONES)) == 0) {
        json_array_append_new(v->zones, obj);
    } else if (strncmp(rest, MQTT_TOPIC_ALARMS, strlen(MQTT_TOPIC_ALARMS)) == 0) {
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
static int status_collect(struct ctl_mqtt *m, const struct status_opts *o, struct site_view *v, char *err,
                          size_t errlen)
{
    struct ctl_mqtt_item it;
    uint64_t deadline = clock_mono_ms() + (uint64_t)o->timeout_s * 1000, quiet_at = UINT64_MAX, now;

    while ((now = clock_mono_ms()) < (quiet_at < deadline ? quiet_at : deadline)) {
        if (ctl_mqtt_next(m, &it, (int)((quiet_at < deadline ? quiet_at : deadline) - now)) != 1)
            continue;
        if (it.kind == CTL_MQTT_SUBSCRIBE_FAILED && it.refused_locally) {
            snprintf(err, errlen, "subscribe %s: %.200s", m->o.filters[0], it.payload);
            return -1;
        }
        if (it.kind == CTL_MQTT_CONNECT_FAILED || it.kind == CTL_MQTT_SUBSCRIBE_FAILED) {
            char why[512];

            snprintf(err, errlen, "broker %s: %.400s", o->broker,
                     it.kind == CTL_MQTT_CONNECT_FAILED ? ctl_mqtt_failure(m, it.payload, why, sizeof(why))
                                                        : it.payload);
            return -1;
        }
        if (it.kind == CTL_MQTT_MESSAGE)
            view_add(v, o, &it);
        if (it.kind == CTL_MQTT_SUBSCRIBED || it.kind == CTL_MQTT_MESSAGE)
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

/* Seconds from an RFC 3339 ts in obj to now, or -1 if it has none. */
static long age_s(const json_t *obj, const char *key, int64_t now_ms)
{
    int64_t ms;
    const char *ts = ctl_jstr(obj, key, NULL);

    if (!ts || !msg_parse_ts(ts, &ms))
        return -1;
    return now_ms > ms ? (long)((now_ms - ms) / 1000) : 0;
}

/* Prints the site line; returns 1 if the site needs attention (offline, silent or unknown). */
static int print_site(const struct site_view *v, const struct status_opts *o, int64_t now_ms)
{
    const json_t *st = v->status;
    json_int_t hb = json_integer_value(json_object_get(st, "heartbeat_s"));
    long heartbeat_s = hb > 0 ? (long)hb : o->heartbeat_s, age = age_s(st, "ts", now_ms);

    if (heartbeat_s > STATUS_MAX_HEARTBEAT_S) {
        printf("status claims a heartbeat of %ld s; judged by %d s\n", heartbeat_s, STATUS_MAX_HEARTBEAT_S);
        heartbeat_s = STATUS_MAX_HEARTBEAT_S;
    }
    bool online = st && strcmp(ctl_jstr(st, "state", ""), "online") == 0;

    if (!st) {
        printf("site %s: UNKNOWN: no retained status on %s (vigild never connected, or another prefix)\n", o->site,
               o->broker);
        return 1;
    }
    printf("site %s: %s, vigild %s, started %s", o->site, online ? "online" : "OFFLINE", ctl_jstr(st, "version", "?"),
           ctl_jstr(st, "started", "?"));
    if (!online) {
        printf(", offline since %s\n", ctl_jstr(st, "ts", "?"));
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
    return strcmp(ctl_jstr(*(json_t *const *)a, key, ""), ctl_jstr(*(json_t *const *)b, key, ""));
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
    const char *p = ctl_jstr(alarm, "priority", "");

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
        const char *id = ctl_jstr(dev[i], "device", "?"), *name = ctl_jstr(dev[i], "name", "");
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
        const char *by = ctl_jstr(z[i], "operator", NULL);

        printf("  %-24s %-9s since %s%s%s\n", ctl_jstr(z[i], "zone", "?"),
               json_is_true(json_object_get(z[i], "armed")) ? "armed" : "disarmed", ctl_jstr(z[i], "ts", "?"),
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
        printf("  %-8s  %-14s  %s  %-32s  %s\n", ctl_jstr(a[i], "priority", "?"), ctl_jstr(a[i], "state", "?"),
               ctl_jstr(a[i], "ts", "?"), ctl_jstr(a[i], "alarm", "?"), ctl_jstr(a[i], "text", ""));
    free(a);
    return (int)n;
}

/* Prints the whole view and the verdict; returns CTL_EXIT_OK or CTL_EXIT_PROBLEM. */
static int print_view(const struct site_view *v, const struct status_opts *o)
{
    int site = print_site(v, o, clock_wall_ms());
    int down = print_devices(v);
    int alarms;

    print_zones(v);
    alarms = print_alarms(v);
    if (v->unreadable)
        printf("(%zu retained payloads were not JSON objects and are not shown)\n", v->unreadable);
    if (!site && !down && !alarms && !v->forged) {
        printf("status: all well\n");
        return CTL_EXIT_OK;
    }
    printf("status: needs attention:%s%s", site ? " site not online;" : "",
           v->forged ? " messages not from the site on its topics;" : "");
    printf(" %d device(s) down; %d alarm(s) not normal\n", down, alarms);
    return CTL_EXIT_PROBLEM;
}

/* Parses status's options into o; returns 0 or -1 (already reported). */
static int parse_status(int argc, char **argv, struct status_opts *o)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'}, {"site", required_argument, NULL, 's'},
        {"prefix", required_argument, NULL, 'P'}, {"config", required_argument, NULL, 'c'},
        {"profiles", required_argument, NULL, 'p'}, {"timeout", required_argument, NULL, 't'},
        {"site-key", required_argument, NULL, 'k'}, CTL_MQTT_AUTH_LONGOPTS, {NULL, 0, NULL, 0}};
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
        case 'k':
            if (ctl_site_key(optarg, o->site_pk) < 0)
                return -1;
            o->check_signatures = true;
            break;
        case 't':
            o->timeout_s = strtol(optarg, &end, 10);
            if (*end || end == optarg || o->timeout_s < 1 || o->timeout_s > 3600) {
                fprintf(stderr, "vigilctl: --timeout wants whole seconds from 1 to 3600, not \"%s\"\n", optarg);
                return -1;
            }
            break;
        default:
            if (ctl_mqtt_auth_option(&o->auth, c, optarg) != 1)
                return -1;
        }
    }
    if (optind != argc || (!o->config && (!o->broker || !o->site))) {
        fprintf(stderr, "vigilctl: status needs --broker and --site, or --config\n");
        return -1;
    }
    return 0;
}

/* The config's first broker with its credentials and TLS settings (vigilctl runs on the site, as vigild does). */
static void status_config_broker(struct status_opts *o, const struct cfg_broker *b)
{
    o->broker = b->uri;
    o->auth.username = b->username[0] ? b->username : NULL;
    o->auth.tls = mqtt_tls_of_broker(b);
    snprintf(o->auth.password, sizeof(o->auth.password), "%s", b->password);
}

/*
 * Fills what the command line left open from the site config: the first
 * broker with its credentials, the site id, the prefix and the heartbeat.
 * Returns the loaded site (the options point into it), or NULL (reported).
 */
/* On the gateway, the site's own key file gives its public key: check what the broker holds against it. */
static void use_signing_key(struct status_opts *o, const struct cfg_site *site)
{
    struct psig_key k;
    char err[256];

    if (o->check_signatures || !site->signing_key[0])
        return;
    if (psig_load(&k, site->signing_key, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl: %s; signatures not checked\n", err);
        return;
    }
    memcpy(o->site_pk, k.sk + 32, sizeof(o->site_pk));
    sodium_memzero(&k, sizeof(k));
    o->check_signatures = true;
}

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
    if (!o->broker)
        status_config_broker(o, b);
    o->site = o->site ? o->site : site->id;
    o->prefix = o->prefix ? o->prefix : site->mqtt.prefix;
    o->heartbeat_s = site->mqtt.heartbeat_s;
    use_signing_key(o, site);
    return site;
}

/* Connects, gathers the retained state and disconnects. Returns 0 or -1 with err. */
static int status_fetch(const struct status_opts *o, struct site_view *v, char *err, size_t errlen)
{
    struct ctl_mqtt m;
    char filter[CTL_MQTT_TOPIC_MAX];
    int rc;

    if (ctl_mqtt_init(&m, STATUS_QUEUE_CAP) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = status_connect(&m, o, filter, err, errlen);
    if (rc == 0)
        rc = status_collect(&m, o, v, err, errlen);
    /* Closed first: a paho thread blocked on the full queue returns at once. */
    ctl_mqtt_close(&m);
    ctl_mqtt_disconnect(&m);
    ctl_mqtt_destroy(&m);
    return rc;
}

/* Fetches and prints the site's state; returns the exit code. */
static int status_run(const struct status_opts *o)
{
    struct site_view v = {.devices = json_array(), .zones = json_array(), .alarms = json_array()};
    char err[512];
    int rc = CTL_EXIT_USAGE;

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

/* Prints the site's state from its broker; exit 1 if it needs attention. */
int ctl_cmd_status(int argc, char **argv)
{
    struct status_opts o;
    struct cfg_site *site = NULL;
    int rc;

    if (parse_status(argc, argv, &o) < 0) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    /* --broker's credentials and TLS come from the command line, the config's broker's from the config */
    if (o.broker && ctl_mqtt_auth_ready(&o.auth, o.broker) < 0)
        return CTL_EXIT_USAGE;
    if (o.config && !(site = status_config(&o)))
        return CTL_EXIT_USAGE;
    if (!o.prefix)
        o.prefix = "vigil";
    rc = status_run(&o);
    cfg_free(site);
    return rc;
}

