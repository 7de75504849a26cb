/*
 * main.c - vigild: the shell around the pure event core.
 *
 * Threads and their one job each:
 *   - one poller thread per Modbus bus (poller.c) pushes samples and comm
 *     status into the input queue;
 *   - paho's callback threads (publish.c) push parsed operator commands into
 *     the same queue;
 *   - this main thread is the core thread: it owns the core and the journal,
 *     stamps time, feeds the core, makes its inputs durable and only then
 *     hands the resulting events to the publisher.
 *
 * The order inside one batch is the promise that no alarm is lost:
 *   pop inputs -> core_step -> journal append -> journal fsync -> publish.
 * If the process dies after the fsync, recovery re-feeds the journal and
 * re-publishes; if it dies before, the inputs are polled again.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "config.h"
#include "core.h"
#include "journal.h"
#include "log.h"
#include "message.h"
#include "poller.h"
#include "publish.h"
#include "queue.h"
#include "schedule.h"
#include "service.h"

#define VIGIL_VERSION "0.1.0"
#define INPUT_QUEUE_CAP 8192
#define BATCH_OUTPUTS 1024 /* outputs one batch may gather beyond one input's worst case */
#define IDLE_WAIT_MS 200 /* the longest the loop sleeps: heartbeats, watchdog, signals */
#define SNAPSHOT_EVERY_INPUTS 10000

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

struct options {
    const char *config_path;
    const char *profile_dir;
    const char *state_dir;
    bool check_only;
};

/* Everything the core thread owns. */
struct daemon {
    struct options opt;
    struct cfg_site *site;
    struct core *core;
    struct jrnl *journal;
    struct poll_set *pollers;
    struct pub *pub;
    struct queue inputs;
    struct core_output *outputs;  /* one batch of outputs, published after the fsync */
    size_t outputs_cap;
    struct svc_watchdog watchdog;
    struct sched sched;           /* zone arming schedules */
    char state_dir[CFG_PATH_MAX];
    uint64_t last_mono_ms;
    uint64_t mono_offset_ms;      /* keeps the core's clock going forward across reboots */
    uint64_t core_progress;
    uint64_t inputs_since_snapshot;
    int64_t started_wall_ms;
    uint64_t next_status_mono_ms;
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

/* Loads the site config; every error goes to stderr and logs as file:line. */
static struct cfg_site *load_site(const struct options *o)
{
    static char err[16384];
    struct cfg_site *site = cfg_load(o->config_path, o->profile_dir, err, sizeof(err));

    if (!site)
        fprintf(stderr, "%s", err);
    return site;
}

/* --state-dir, then systemd's $STATE_DIRECTORY, then the config's. */
static int prepare_state_dir(struct daemon *d)
{
    const char *dir = d->opt.state_dir ? d->opt.state_dir : getenv("STATE_DIRECTORY");

    if (!dir)
        dir = d->site->state_dir;
    snprintf(d->state_dir, sizeof(d->state_dir), "%s", dir);
    if (mkdir(d->state_dir, 0700) < 0 && errno != EEXIST) {
        log_err("state: cannot create directory \"%s\": %s", d->state_dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* --- publishing core outputs ------------------------------------------- */

static void publish_event(struct daemon *d, const struct core_event *ev)
{
    char json[2048], suffix[CORE_ALARM_ID_MAX + 16];
    const struct core_alarm_info *info = core_alarm_info(d->core, ev->alarm);
    int n = msg_event(d->site, d->core, ev, json, sizeof(json));

    if (n < 0) {
        log_err("core: event seq=%llu does not fit the message buffer", (unsigned long long)ev->seq);
        return;
    }
    pub_publish(d->pub, "events", json, (size_t)n, 1, false);
    if (ev->state == CORE_S_EVENT)
        return;
    /* The retained topic holds every alarm that is not normal; an empty
     * retained payload removes it once the alarm is back to normal. */
    snprintf(suffix, sizeof(suffix), "alarms/%s", info->id);
    if (ev->state == CORE_S_NORMAL || ev->state == CORE_S_SUPPRESSED)
        pub_publish(d->pub, suffix, "", 0, 1, true);
    else
        pub_publish(d->pub, suffix, json, (size_t)n, 1, true);
}

static void publish_zone(struct daemon *d, const struct core_zone_change *z)
{
    char json[512], suffix[CFG_ID_MAX + 8];
    int n = msg_zone(d->site, z, json, sizeof(json));

    if (n < 0)
        return;
    snprintf(suffix, sizeof(suffix), "zones/%s", d->site->zones[z->zone].id);
    pub_publish(d->pub, suffix, json, (size_t)n, 1, true);
}

static void publish_result(struct daemon *d, const struct core_result *r)
{
    char json[512];
    int n = msg_result(r, json, sizeof(json));

    if (n >= 0)
        pub_publish(d->pub, "cmd/result", json, (size_t)n, 1, false);
}

static void publish_output(struct daemon *d, const struct core_output *o)
{
    switch (o->type) {
    case CORE_OUT_EVENT: publish_event(d, &o->u.event); break;
    case CORE_OUT_ZONE: publish_zone(d, &o->u.zone); break;
    case CORE_OUT_RESULT: publish_result(d, &o->u.result); break;
    }
}

/* Retained zone state for a console that connects later. */
static void publish_all_zones(struct daemon *d, int64_t wall_ms)
{
    for (int z = 0; z < d->site->n_zones; z++) {
        struct core_zone_change zc = {.zone = z, .armed = core_zone_armed(d->core, z), .wall_ms = wall_ms};
        publish_zone(d, &zc);
    }
}

/* --- the core loop ------------------------------------------------------ */

/* The core's monotonic clock: this boot's CLOCK_MONOTONIC moved past the
 * last time the journal recorded, so timers restored after a reboot still
 * see time going forward. */
static uint64_t core_now_ms(const struct daemon *d)
{
    return clock_mono_ms() + d->mono_offset_ms;
}

/* Stamps an input with a mono time that never goes back: inputs from
 * different poller threads may reach the queue slightly out of order. */
static void stamp_monotonic(struct daemon *d, struct core_input *in)
{
    in->mono_ms += d->mono_offset_ms;
    if (in->mono_ms < d->last_mono_ms)
        in->mono_ms = d->last_mono_ms;
    d->last_mono_ms = in->mono_ms;
}

/*
 * Feeds one input to the core and journals it. Outputs are appended at
 * pending[*n_pending]; they are published only after the batch is synced.
 */
static void feed(struct daemon *d, struct core_input *in, struct core_output *pending, size_t *n_pending)
{
    size_t n;

    stamp_monotonic(d, in);
    n = core_step(d->core, in, pending + *n_pending);
    *n_pending += n;
    d->inputs_since_snapshot++;
    if (jrnl_append_input(d->journal, d->site, in) < 0)
        log_err("journal: append failed; the input was applied but is not durable");
}

static void make_tick(struct core_input *in, uint64_t mono_ms)
{
    memset(in, 0, sizeof(*in));
    in->type = CORE_IN_TICK;
    in->mono_ms = mono_ms;
    in->wall_ms = clock_wall_ms();
}

/* How long the loop may wait for the next input before a timer is due. */
static int wait_budget_ms(const struct daemon *d)
{
    uint64_t now = core_now_ms(d), due = core_next_deadline(d->core);

    if (due <= now)
        return 0;
    return due - now < IDLE_WAIT_MS ? (int)(due - now) : IDLE_WAIT_MS;
}

/* Sets the process time zone (before the pollers start: TZ is process
 * wide) and starts the zone schedules from the last journaled input, so an
 * action missed while vigild was stopped still runs (schedule.h). */
static void start_schedule(struct daemon *d)
{
    uint64_t last_mono;
    int64_t last_wall;

    jrnl_last_clocks(d->journal, &last_mono, &last_wall);
    sched_init(&d->sched, d->site, last_wall);
}

/*
 * Feeds the zone schedules' due arm and disarm commands into the batch like
 * operator commands: journaled, then published. Stops while the output
 * buffer could not take one more input's worst case; what is left stays
 * due for the next round. Returns how many it fed.
 */
static size_t feed_schedule(struct daemon *d, size_t *n_pending, size_t room)
{
    struct sched_action act;
    struct core_input in;
    size_t fed = 0;

    while (*n_pending <= room && sched_poll(&d->sched, d->site, clock_wall_ms(), &act) == 1) {
        sched_command(d->site, &act, &in);
        in.mono_ms = clock_mono_ms();
        in.wall_ms = clock_wall_ms();
        log_notice("schedule: zone \"%s\": %s due_ms=%lld late_ms=%lld", d->site->zones[act.zone].id,
                   act.op == SCHED_ARM ? "arm" : "disarm", (long long)act.due_wall_ms,
                   (long long)(in.wall_ms - act.due_wall_ms));
        feed(d, &in, d->outputs, n_pending);
        fed++;
    }
    return fed;
}

/*
 * One round of the core thread: wait for inputs or the next timer, feed a
 * batch, make it durable, then publish what it produced. The batch ends
 * when the queue is empty or when the output buffer could not take the
 * worst case of one more input, so no output is ever dropped.
 */
static void run_batch(struct daemon *d)
{
    struct core_input in;
    size_t n_pending = 0, fed = 0, room = d->outputs_cap - core_max_outputs(d->core);
    int got = queue_pop(&d->inputs, &in, wait_budget_ms(d));

    while (got == 1) {
        feed(d, &in, d->outputs, &n_pending);
        fed++;
        got = n_pending <= room ? queue_pop(&d->inputs, &in, 0) : 0;
    }
    fed += feed_schedule(d, &n_pending, room);
    if (n_pending <= room && core_next_deadline(d->core) <= core_now_ms(d)) {
        make_tick(&in, clock_mono_ms());
        feed(d, &in, d->outputs, &n_pending);
        fed++;
    }
    if (fed == 0)
        return;
    if (jrnl_sync(d->journal) < 0)
        log_err("journal: fsync failed: events are published but may not survive a power cut");
    for (size_t i = 0; i < n_pending; i++)
        publish_output(d, &d->outputs[i]);
}

/*
 * Recovery re-feeds the journal after its newest snapshot and re-publishes
 * what that produces, so a new snapshot bounds both recovery time and the
 * duplicates a restart sends. It is written only when the broker has
 * acknowledged everything published: events still waiting in the MQTT
 * client's buffer (whose files are not fsynced) stay covered by the journal.
 */
static void maybe_snapshot(struct daemon *d)
{
    struct pub_stats ps;

    jrnl_maybe_rotate(d->journal, d->site, d->opt.config_path, d->core, clock_wall_ms());
    if (d->inputs_since_snapshot < SNAPSHOT_EVERY_INPUTS)
        return;
    pub_get_stats(d->pub, &ps);
    if (ps.pending > 0)
        return;
    if (jrnl_begin(d->journal, d->site, d->opt.config_path, d->core) == 0)
        d->inputs_since_snapshot = 0;
}

/* A one-line summary for systemctl status, refreshed every few seconds. */
static void report_status(struct daemon *d, uint64_t now_ms)
{
    int up = 0, active = 0;
    struct poll_device_stats st;
    struct pub_stats ps;

    if (now_ms < d->next_status_mono_ms)
        return;
    d->next_status_mono_ms = now_ms + 5000;
    for (int i = 0; i < d->site->n_devices; i++) {
        poll_get_stats(d->pollers, i, &st);
        up += st.up;
    }
    for (size_t a = 0; a < core_alarm_count(d->core); a++) {
        enum core_alarm_state s = core_alarm_state(d->core, (int)a);
        active += s == CORE_S_ACTIVE_UNACKED || s == CORE_S_ACTIVE_ACKED || s == CORE_S_RTN_UNACKED;
    }
    pub_get_stats(d->pub, &ps);
    svc_status("devices %d/%d up, %d alarms not normal, broker %s", up, d->site->n_devices, active,
               ps.connected[0] ? "connected" : "disconnected");
}

/*
 * Pings systemd's watchdog only while the bus threads and this loop both
 * cycle. The publisher is left out on purpose: its progress stalls during a
 * broker outage, and restarting vigild then would help nobody.
 */
static void feed_watchdog(struct daemon *d)
{
    uint64_t progress[2] = {poll_progress(d->pollers), ++d->core_progress};

    svc_watchdog_feed(&d->watchdog, clock_mono_ms(), progress, 2);
}

/* Feeds a system input (restart, rejected config) through the normal path. */
static void feed_system(struct daemon *d, enum core_sys_kind kind, const char *text)
{
    struct core_input in;

    memset(&in, 0, sizeof(in));
    in.type = CORE_IN_SYSTEM;
    in.mono_ms = clock_mono_ms();
    in.wall_ms = clock_wall_ms();
    in.u.sys.kind = kind;
    in.u.sys.active = true;
    snprintf(in.u.sys.text, sizeof(in.u.sys.text), "%s", text);
    queue_push(&d->inputs, &in);
}

/* --- start, reload, stop -------------------------------------------------- */

static int alloc_outputs(struct daemon *d)
{
    free(d->outputs);
    d->outputs_cap = core_max_outputs(d->core) + BATCH_OUTPUTS;
    d->outputs = calloc(d->outputs_cap, sizeof(*d->outputs));
    return d->outputs ? 0 : -1;
}

static void republish_recovered(const struct core_output *o, void *arg)
{
    publish_output(arg, o);
}

static int open_journal(struct daemon *d)
{
    char dir[CFG_PATH_MAX + 16], err[512];
    struct jrnl_options jo = {.dir = dir, .segment_bytes = 8u << 20, .retention_days = 30};
    long replayed;
    uint64_t last_mono;
    int64_t last_wall;

    snprintf(dir, sizeof(dir), "%s/journal", d->state_dir);
    /* Recovery replays what the journal holds after its newest snapshot and
     * re-publishes it: at-least-once, the station drops duplicates by seq. */
    replayed = jrnl_recover(dir, d->site, d->core, republish_recovered, d, err, sizeof(err));
    if (replayed < 0) {
        log_err("journal: recovery failed: %s", err);
        return -1;
    }
    if (replayed > 0)
        log_notice("journal: recovered state from %s inputs=%ld next_seq=%llu", dir, replayed,
                   (unsigned long long)core_next_seq(d->core));
    d->journal = jrnl_open(&jo, err, sizeof(err));
    if (!d->journal) {
        log_err("journal: %s", err);
        return -1;
    }
    jrnl_last_clocks(d->journal, &last_mono, &last_wall);
    if (last_mono > clock_mono_ms())
        d->mono_offset_ms = last_mono - clock_mono_ms();
    d->last_mono_ms = last_mono;
    return jrnl_begin(d->journal, d->site, d->opt.config_path, d->core);
}

static int start_publisher(struct daemon *d)
{
    char err[512];
    struct pub_options po = {.site = d->site, .state_dir = d->state_dir, .version = VIGIL_VERSION,
                             .inputs = &d->inputs};

    d->pub = pub_start(&po, err, sizeof(err));
    if (!d->pub)
        log_err("mqtt: %s", err);
    return d->pub ? 0 : -1;
}

static int start_pollers(struct daemon *d)
{
    char err[512];

    d->pollers = poll_start(d->site, &d->inputs, err, sizeof(err));
    if (!d->pollers)
        log_err("modbus: %s", err);
    return d->pollers ? 0 : -1;
}

static int start(struct daemon *d)
{
    d->started_wall_ms = clock_wall_ms();
    d->last_mono_ms = clock_mono_ms();
    if (prepare_state_dir(d) < 0 || queue_init(&d->inputs, sizeof(struct core_input), INPUT_QUEUE_CAP) < 0)
        return -1;
    d->core = core_new(d->site);
    if (!d->core || alloc_outputs(d) < 0 || start_publisher(d) < 0 || open_journal(d) < 0)
        return -1;
    start_schedule(d);
    publish_all_zones(d, d->started_wall_ms);
    feed_system(d, CORE_SYS_GATEWAY_RESTARTED, "vigild " VIGIL_VERSION " started");
    if (start_pollers(d) < 0)
        return -1;
    svc_watchdog_init(&d->watchdog);
    svc_ready("started");
    log_notice("vigild: started site=%s devices=%d points=%d zones=%d state_dir=%s", d->site->id,
               d->site->n_devices, d->site->n_points, d->site->n_zones, d->state_dir);
    return 0;
}

/*
 * SIGHUP: parse and validate the new config into a fresh site; only if it
 * is valid, move the core's state over by id and switch. A rejected config
 * keeps the daemon on the old one and raises a config_rejected event.
 */
static void reload(struct daemon *d)
{
    struct cfg_site *site;
    struct core *core;
    size_t len;
    void *snap;

    svc_reloading();
    site = load_site(&d->opt);
    if (!site) {
        log_err("reload: config \"%s\" rejected; still running on the previous one", d->opt.config_path);
        feed_system(d, CORE_SYS_CONFIG_REJECTED, "new configuration rejected; see the log for file:line");
        svc_ready("reload rejected");
        return;
    }
    core = core_new(site);
    len = core_snapshot(d->core, NULL, 0);
    snap = malloc(len);
    if (!core || !snap || core_snapshot(d->core, snap, len) != len || core_restore(core, snap, len) < 0) {
        log_err("reload: cannot move state to the new config; still running on the previous one");
        free(snap);
        core_free(core);
        cfg_free(site);
        svc_ready("reload failed");
        return;
    }
    free(snap);
    poll_stop(d->pollers);
    core_free(d->core);
    cfg_free(d->site);
    d->site = site;
    d->core = core;
    alloc_outputs(d);
    jrnl_begin(d->journal, d->site, d->opt.config_path, d->core);
    start_pollers(d);
    log_notice("reload: config \"%s\" loaded points=%d", d->opt.config_path, d->site->n_points);
    svc_ready("reloaded");
}

static void shutdown_daemon(struct daemon *d)
{
    svc_stopping();
    /* Closed first: a poller blocked on a full queue then returns at once. */
    queue_close(&d->inputs);
    if (d->pollers)
        poll_stop(d->pollers);
    if (d->pub)
        pub_stop(d->pub);
    if (d->journal) {
        /* A final snapshot: the next start re-feeds nothing. What the broker
         * had not acknowledged stays in the MQTT client's store. */
        if (d->core)
            jrnl_begin(d->journal, d->site, d->opt.config_path, d->core);
        jrnl_sync(d->journal);
        jrnl_close(d->journal);
    }
    core_free(d->core);
    free(d->outputs);
    queue_destroy(&d->inputs);
    cfg_free(d->site);
    log_notice("vigild: stopped");
}

static void run(struct daemon *d)
{
    while (!stop_requested) {
        if (reload_requested) {
            reload_requested = 0;
            reload(d);
        }
        run_batch(d);
        maybe_snapshot(d);
        pub_heartbeat(d->pub);
        feed_watchdog(d);
        report_status(d, clock_mono_ms());
    }
}

int main(int argc, char **argv)
{
    static struct daemon d;
    int rc = parse_args(argc, argv, &d.opt);

    if (rc != 0)
        return rc < 0 ? 2 : 0;
    d.site = load_site(&d.opt);
    if (!d.site)
        return 1;
    if (d.opt.check_only) {
        printf("%s: OK: site \"%s\", %d buses, %d devices, %d zones, %d points\n", d.opt.config_path,
               d.site->id, d.site->n_buses, d.site->n_devices, d.site->n_zones, d.site->n_points);
        cfg_free(d.site);
        return 0;
    }
    install_signals();
    if (start(&d) < 0) {
        shutdown_daemon(&d);
        return 1;
    }
    run(&d);
    shutdown_daemon(&d);
    return 0;
}
