/*
 * vigild.c - vigild's process set-up and shutdown (vigild.h).
 *
 * Arguments, signals and the first config load are here; everything that
 * runs afterwards is the core thread's (corethread.h), which the main
 * thread becomes until SIGTERM.
 */
#include <errno.h>
#include <malloc.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "cfgcheck.h"
#include "config.h"
#include "corethread.h"
#include "log.h"
#include "vigild.h"

#define VIGIL_VERSION "0.1.0"
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

struct options {
    const char *config_path;
    const char *profile_dir;
    const char *state_dir;
    bool check_only;
};

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vigild --config FILE [--profiles DIR] [--state-dir DIR]\n"
            "       vigild --check-config FILE [--profiles DIR]\n"
            "              [--log-level error|warning|notice|info|debug] [--version]\n");
}

static int parse_log_level(const char *s)
{
    static const char *names[] = {"error", "warning", "notice", "info", "debug"};

    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return LOG_LVL_ERR + i;
    return -1;
}

/* Parses argv; returns 0 to run, 1 to exit 0 (help, version), -1 on misuse. */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},   {"check-config", no_argument, NULL, 't'},
        {"profiles", required_argument, NULL, 'p'}, {"state-dir", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'l'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    int c, lvl;

    while ((c = getopt_long(argc, argv, "c:tp:s:l:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config_path = optarg; break;
        case 't': o->check_only = true; break;
        case 'p': o->profile_dir = optarg; break;
        case 's': o->state_dir = optarg; break;
        case 'l':
            if ((lvl = parse_log_level(optarg)) < 0) {
                fprintf(stderr, "vigild: unknown log level \"%s\"\n", optarg);
                return -1;
            }
            log_set_level((enum log_level)lvl);
            break;
        case 'V': printf("vigild %s\n", VIGIL_VERSION); return 1;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    /* "vigild --check-config FILE" as well as "--config FILE --check-config" */
    if (o->check_only && !o->config_path && optind + 1 == argc)
        o->config_path = argv[optind++];
    if (!o->config_path || optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/*
 * What is legal but probably wrong (cfgcheck.h), as file:line warnings:
 * printed by --check-config, logged at start so a site that runs on such a
 * config says so in its log too.
 */
static void print_warnings(const struct cfg_site *site, bool to_log)
{
    static char warnings[16384];
    size_t used;

    cfgcheck_warnings(site, warnings, sizeof(warnings));
    used = strlen(warnings);
    cfgcheck_files(site, warnings + used, sizeof(warnings) - used);
    if (!to_log) {
        fputs(warnings, stdout);
        return;
    }
    for (const char *line = warnings; *line;) {
        size_t n = strcspn(line, "\n");

        log_warn("config: %.*s", (int)n, line);
        line += n + (line[n] == '\n');
    }
}

/*
 * Keeps the secrets out of core dumps. The MQTT and InfluxDB passwords and
 * token are copied into paho's, libcurl's and the TLS library's own memory,
 * where MADV_DONTDUMP on vigil's buffers cannot follow them, so the whole
 * process is made non-dumpable, before the config is read: no core file, and
 * no ptrace or /proc/PID/mem reading by other processes of the vigil user.
 * A crash is still logged (journald records the signal); the journal, not a
 * core, is what reconstructs what vigild was doing.
 */
static void protect_secrets(void)
{
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        log_warn("vigild: cannot turn core dumps off (%s); a core file could hold the broker password",
                 strerror(errno));
}

/*
 * glibc gives each thread that allocates an arena of its own (up to eight
 * per core), each reserving 64 MiB of address space and keeping its own
 * free pages resident. vigild's threads allocate little and rarely (the
 * core thread builds its tables at start), so two arenas are plenty.
 */
static void tune_malloc(void)
{
    mallopt(M_ARENA_MAX, 2);
}

/*
 * libconfig builds a tree of the whole file (at 10,000 points some 80,000
 * small blocks, 7 MB) that cfg_load() frees once the site is read. Those
 * pages stay resident in the heap unless handed back, and the tables built
 * next do not need them all: hand them back after every parse.
 */
static void release_parse_memory(void)
{
    malloc_trim(0);
}

/* Loads the site config; every error goes to stderr and logs as file:line. */
static struct cfg_site *load_site(const struct options *o)
{
    static char err[16384];
    struct cfg_site *site = cfg_load(o->config_path, o->profile_dir, err, sizeof(err));

    if (!site)
        fprintf(stderr, "%s", err);
    return site;
}

/* The core thread's loop until SIGTERM; 0, or -1 if a reload left no pollers. */
static int run(struct corethread *ct)
{
    while (!stop_requested) {
        if (reload_requested) {
            reload_requested = 0;
            ct_reload(ct);
            release_parse_memory();
        }
        if (ct_round(ct) < 0)
            return -1;
    }
    return 0;
}

int vigild_main(int argc, char **argv, const struct sink *extra_sinks, int n_extra_sinks)
{
    struct options opt = {0};
    struct corethread_options co = {.version = VIGIL_VERSION, .extra_sinks = extra_sinks,
                                    .n_extra_sinks = n_extra_sinks};
    struct corethread *ct;
    struct cfg_site *site;
    int rc = parse_args(argc, argv, &opt);

    if (rc != 0)
        return rc < 0 ? 2 : 0;
    protect_secrets();
    tune_malloc();
    site = load_site(&opt);
    if (!site)
        return 1;
    release_parse_memory();
    if (opt.check_only) {
        print_warnings(site, false);
        printf("%s: OK: site \"%s\", %d buses, %d devices, %d zones, %d points\n", opt.config_path, site->id,
               site->n_buses, site->n_devices, site->n_zones, site->n_points);
        cfg_free(site);
        return 0;
    }
    print_warnings(site, true);
    install_signals();
    co.config_path = opt.config_path;
    co.profile_dir = opt.profile_dir;
    co.state_dir = opt.state_dir;
    ct = ct_start(site, &co);
    if (!ct)
        return 1;
    /* A non-zero exit tells systemd the stop was a failure: Restart= applies. */
    rc = run(ct) < 0 ? 1 : 0;
    ct_stop(ct);
    return rc;
}
