/*
 * ctl_walktest.c - vigilctl walktest: put a zone in walk test, end it, and
 * report which points were seen to change.
 *
 *   vigilctl walktest start ZONE [--for 30m] [--operator NAME] [--sign-key FILE]
 *                           (--config SITE.conf | --broker URI --site ID)
 *   vigilctl walktest stop ZONE ...
 *   vigilctl walktest report ZONE [--socket PATH | --config SITE.conf]
 *
 * start and stop are commands to vigild (ops walktest_start and
 * walktest_stop, role engineer in docs/commands.md) sent on
 * <prefix>/<site>/cmd like every operator command (ctl_cmd.h), signed with
 * --sign-key; the answer on cmd/result is printed. report reads
 * vigild's points socket (ctl_points.h): the zone's points with the date
 * each changed during the current or last test, and those never seen.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "ctl.h"
#include "ctl_cmd.h"
#include "ctl_mqtt.h"
#include "ctl_points.h"
#include "message.h"
#include "mqtt_topics.h"

#define WALKTEST_DEFAULT_S (30 * 60)
#define WALKTEST_MAX_S 86400
#define WALKTEST_TIMEOUT_S 10

struct walktest_opts {
    const char *action, *zone, *operator_name;
    const char *config, *profiles, *broker, *site, *prefix, *socket;
    const char *sign_key;
    long duration_s, timeout_s;
};

/* "90s", "30m", "2h" or plain seconds; -1 if it is none of them or out of range. */
static long parse_duration(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10), unit = 1;

    if (end == s || v <= 0)
        return -1;
    if (*end == 'm')
        unit = 60;
    else if (*end == 'h')
        unit = 3600;
    else if (*end != 's' && *end != '\0')
        return -1;
    if (*end && end[1])
        return -1;
    return v <= WALKTEST_MAX_S / unit ? v * unit : -1;
}

static int parse_walktest(int argc, char **argv, struct walktest_opts *o)
{
    static const struct option longopts[] = {
        {"for", required_argument, NULL, 'f'}, {"operator", required_argument, NULL, 'o'},
        {"config", required_argument, NULL, 'c'}, {"profiles", required_argument, NULL, 'p'},
        {"broker", required_argument, NULL, 'b'}, {"site", required_argument, NULL, 's'},
        {"prefix", required_argument, NULL, 'P'}, {"socket", required_argument, NULL, 'S'},
        {"timeout", required_argument, NULL, 't'}, {"sign-key", required_argument, NULL, 'k'}, {NULL, 0, NULL, 0}};
    int c;

    *o = (struct walktest_opts){.duration_s = WALKTEST_DEFAULT_S, .timeout_s = WALKTEST_TIMEOUT_S,
                                .operator_name = getenv("USER"), .prefix = "vigil"};
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:c:p:b:s:P:S:t:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if ((o->duration_s = parse_duration(optarg)) < 0) {
                fprintf(stderr, "vigilctl: --for wants a duration such as 30m, 2h or 90s, at most 24h; not \"%s\"\n",
                        optarg);
                return -1;
            }
            break;
        case 'o': o->operator_name = optarg; break;
        case 'c': o->config = optarg; break;
        case 'p': o->profiles = optarg; break;
        case 'b': o->broker = optarg; break;
        case 's': o->site = optarg; break;
        case 'P': o->prefix = optarg; break;
        case 'S': o->socket = optarg; break;
        case 'k': o->sign_key = optarg; break;
        case 't': o->timeout_s = parse_duration(optarg); break;
        default: return -1;
        }
    }
    if (argc - optind != 2 || o->timeout_s < 1) {
        fprintf(stderr, "vigilctl: walktest wants an action (start, stop, report) and a zone\n");
        return -1;
    }
    o->action = argv[optind];
    o->zone = argv[optind + 1];
    return 0;
}

/* --- start and stop: a command over MQTT --------------------------------- */

/* Broker, credentials, site and prefix from the config where the command line left them open. */
static struct cfg_site *broker_from_config(struct walktest_opts *o)
{
    static char err[16384];
    struct cfg_site *site;

    if (!o->config)
        return NULL;
    site = cfg_load(o->config, o->profiles, err, sizeof(err));
    if (!site) {
        fprintf(stderr, "%s", err);
        return NULL;
    }
    o->broker = o->broker ? o->broker : site->mqtt.brokers[0].uri;
    o->site = o->site ? o->site : site->id;
    o->prefix = site->mqtt.prefix;
    return site;
}

/* start or stop, sent like every operator command (ctl_cmd.h); the exit code. */
static int send_command(const struct walktest_opts *o, const struct cfg_site *site)
{
    struct ctl_command c = {.broker = o->broker, .site = o->site, .prefix = o->prefix,
                            .operator_name = o->operator_name, .sign_key = o->sign_key, .timeout_s = (int)o->timeout_s};
    bool start = strcmp(o->action, "start") == 0, ok;
    char why[256];
    int rc;

    c.cmd.op = start ? CORE_CMD_WALKTEST_START : CORE_CMD_WALKTEST_STOP;
    snprintf(c.cmd.target, sizeof(c.cmd.target), "%s", o->zone);
    if (start)
        snprintf(c.a.duration_s, sizeof(c.a.duration_s), "%ld", o->duration_s);
    if (site) {
        const struct cfg_broker *b = &site->mqtt.brokers[0];

        c.auth.username = b->username[0] ? b->username : NULL;
        snprintf(c.auth.password, sizeof(c.auth.password), "%s", b->password);
        c.auth.tls = mqtt_tls_of_broker(b);
    }
    rc = ctl_command_send(&c, &ok, why, sizeof(why));
    if (rc != CTL_EXIT_OK)
        return rc == EXIT_NO_ANSWER ? CTL_EXIT_PROBLEM : rc;
    if (ok)
        printf("walk test of zone %s %s\n", o->zone, start ? "started" : "stopped");
    else
        fprintf(stderr, "vigilctl: vigild refused: %s\n", why);
    return ok ? CTL_EXIT_OK : CTL_EXIT_PROBLEM;
}

/* --- report: from the points socket --------------------------------------- */

static void print_report(const struct ctl_points *t, const struct ctl_zone *z, const char *zone)
{
    size_t seen = 0, never = 0;

    if (!z->test_started[0])
        printf("zone %s has never been walk tested\n", zone);
    else
        printf("zone %s walk test started %s, %s%s\n", zone, z->test_started, z->test ? "running until " : "ended",
               z->test ? z->test_until : "");
    printf("seen to change:\n");
    for (size_t i = 0; i < t->n_rows; i++)
        if (strcmp(t->rows[i].zone, zone) == 0 && z->test_started[0] && t->rows[i].tested[0] &&
            strcmp(t->rows[i].tested, z->test_started) >= 0) {
            printf("  %-20s tested %s\n", t->rows[i].point, t->rows[i].tested);
            seen++;
        }
    printf("never seen:\n");
    for (size_t i = 0; i < t->n_rows; i++)
        if (strcmp(t->rows[i].zone, zone) == 0 && !(z->test_started[0] && t->rows[i].tested[0] &&
                                                    strcmp(t->rows[i].tested, z->test_started) >= 0)) {
            printf("  %-20s last tested %s\n", t->rows[i].point, t->rows[i].tested[0] ? t->rows[i].tested : "never");
            never++;
        }
    printf("%zu seen, %zu never seen\n", seen, never);
}

static int report(const struct walktest_opts *o)
{
    struct ctl_points t;
    const struct ctl_zone *z;
    int rc = CTL_EXIT_PROBLEM;

    if (ctl_points_connect(&t, o->socket, o->config, o->profiles) == 0) {
        ctl_points_sort(&t);
        z = ctl_points_zone(&t, o->zone);
        if (!z)
            fprintf(stderr, "vigilctl: vigild has no zone \"%s\"\n", o->zone);
        else
            print_report(&t, z, o->zone);
        rc = z ? CTL_EXIT_OK : CTL_EXIT_PROBLEM;
    }
    ctl_points_close(&t);
    return rc;
}

int ctl_cmd_walktest(int argc, char **argv)
{
    struct walktest_opts o;
    struct cfg_site *site = NULL;
    int rc;

    if (parse_walktest(argc, argv, &o) < 0) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(o.action, "report") == 0)
        return report(&o);
    if (strcmp(o.action, "start") != 0 && strcmp(o.action, "stop") != 0) {
        fprintf(stderr, "vigilctl: walktest action \"%s\"; expected start, stop or report\n", o.action);
        return CTL_EXIT_USAGE;
    }
    if (o.config && !(site = broker_from_config(&o)))
        return CTL_EXIT_PROBLEM;
    if (!o.broker || !o.site) {
        fprintf(stderr, "vigilctl: walktest %s needs --config, or --broker and --site\n", o.action);
        rc = CTL_EXIT_USAGE;
    } else {
        rc = send_command(&o, site);
    }
    cfg_free(site);
    return rc;
}
