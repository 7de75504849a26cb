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
#include "receipt.h"
#include "schedule.h"
#include "service.h"
#include "statedir.h"

#define VIGIL_VERSION "0.1.0"
#define INPUT_QUEUE_CAP 8192
#define BATCH_OUTPUTS 1024 /* outputs one batch may gather beyond one input's worst case */
#define IDLE_WAIT_MS 200 /* the longest the loop sleeps: heartbeats, watchdog, signals */
#define SNAPSHOT_EVERY_INPUTS 10000
#define STORAGE_CHECK_MS 10000 /* how often the state_dir budget is measured */

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

struct options {
    const char *config_path;
    const char *profile_dir;
    const char *state_dir;
    bool check_only;
};

/* Everything the core thread owns. */
#define SYS_PENDING_MAX 8 /* system inputs of the core thread itself, fed at the next batch */

struct daemon {
    struct core_input sys_pending[SYS_PENDING_MAX];
    int n_sys_pending;
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
    struct rcpt receipts;         /* events waiting for the station's receipt */
    bool output_on;               /* this process switched receipts.local_output on */
    char state_dir[CFG_PATH_MAX];
    int state_lock_fd;            /* holds <state_dir>/vigild.lock until the process ends */
    uint64_t last_mono_ms;
    struct log_complaint journal_complaint;
    uint64_t mono_offset_ms;      /* keeps the core's clock going forward across reboots */
    uint64_t core_progress;
    uint64_t inputs_since_snapshot;
    int64_t started_wall_ms;
    uint64_t next_status_mono_ms;
    struct dev_topic *dev_topics; /* per site device: what devices/<id> should say */
    uint64_t next_devices_mono_ms; /* when every device topic is refreshed next */
    uint64_t next_self_test_mono_ms; /* 0: not scheduled (self tests off, or not started yet) */
    struct statedir_budget budget;   /* state_max_mb and whether storage_low is raised */
    uint64_t next_storage_mono_ms;
};

/* A device's comm state as the core thread last saw it, for devices/<id>. */
struct dev_topic {
    bool known;                   /* a comm change reached the core since the pollers started */
    bool up;
    bool dirty;                   /* changed since it was last published */
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

/*
 * One vigild per state directory: a second one exits here, before it opens
 * the journal or connects to a broker, so the first is not disturbed. A
 * lock file that cannot be created (read-only directory) is logged and
 * start-up goes on: the journal and the MQTT stores report that directory.
 */
static int lock_state_dir(struct daemon *d)
{
    char err[1024];
    int rc = statedir_lock(d->state_dir, &d->state_lock_fd, err, sizeof(err));

    if (rc == 1)
        log_err("vigild: %s", err);
    else if (rc < 0)
        log_warn("state: %s; a second vigild on this directory would not be stopped", err);
    return rc == 1 ? -1 : 0;
}

/* --- receipts from the station (docs/mqtt.md, "Receipts") --------------- */

/*
 * Brings receipts.local_output to `on` through the poller of its device,
 * which keeps the value and writes it again when the device comes back.
 * Only a change is written, and only after this process switched it on is
 * it ever switched off: an output found on at start is left to the guard.
 */
static void set_local_output(struct daemon *d, bool on)
{
    const struct cfg_local_output *o = &d->site->receipts.local_output;
    const char *dev, *out;

    if (!o->enabled || on == d->output_on || !d->pollers)
        return;
    dev = d->site->devices[o->device].id;
    out = d->site->profiles[d->site->devices[o->device].profile].inputs[o->input].name;
    if (poll_write(d->pollers, o->device, o->input, on ? (uint16_t)o->on : 0) < 0) {
        log_err("receipt: local output device=\"%s\" output=\"%s\" cannot be queued for writing", dev, out);
        return;
    }
    d->output_on = on;
    if (on)
        log_err("receipt: local output device=\"%s\" output=\"%s\" on: events=%zu without receipt", dev, out,
                rcpt_missing(&d->receipts));
    else
        log_notice("receipt: local output device=\"%s\" output=\"%s\" off: every escalating event receipted",
                   dev, out);
}

/* Applies the receipts settings of the running config (start, reload); a
 * new poll set knows no outputs yet, so one that is on is written again. */
static void configure_receipts(struct daemon *d)
{
    const struct cfg_local_output *o = &d->site->receipts.local_output;
    struct rcpt_settings set;

    rcpt_settings_of(d->site, &set);
    rcpt_configure(&d->receipts, &set);
    if (d->output_on && !o->enabled) {
        log_warn("receipt: the local output was on and the config names none now; switch it off at the module");
        d->output_on = false;
    }
    if (d->output_on && d->pollers)
        poll_write(d->pollers, o->device, o->input, (uint16_t)o->on);
}

static int start_receipts(struct daemon *d)
{
    if (rcpt_init(&d->receipts, RCPT_MAX_TRACKED) < 0)
        return -1;
    configure_receipts(d);
    return 0;
}

/* Starts waiting for the receipt of an event just published, if its priority asks for one. */
static void track_receipt(struct daemon *d, const struct core_event *ev, const char *json, size_t len)
{
    struct rcpt_dropped gone;

    if (!rcpt_wanted(&d->receipts, ev->priority) ||
        rcpt_track(&d->receipts, ev->seq, ev->priority, clock_mono_ms(), json, len, &gone) != 1)
        return;
    log_err("receipt: %d events await a receipt; the oldest, seq=%llu priority=%s, is no longer tracked%s",
            RCPT_MAX_TRACKED, (unsigned long long)gone.seq, cfg_priority_name(gone.priority),
            gone.escalating ? "; it holds the local output on until every tracked event is receipted" : "");
}

/* Hands the station's receipts to the tracker. */
static void take_receipts(struct daemon *d)
{
    uint64_t seqs[64];
    size_t n;

    while ((n = pub_take_receipts(d->pub, seqs, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            enum rcpt_outcome r = rcpt_receipt(&d->receipts, seqs[i]);

            if (r == RCPT_LATE)
                log_notice("receipt: event seq=%llu receipted late", (unsigned long long)seqs[i]);
            else
                log_debug("receipt: event seq=%llu %s", (unsigned long long)seqs[i],
                          r == RCPT_ON_TIME ? "receipted" : "was not waiting for a receipt");
        }
    }
}

/* Re-publishes one event whose receipt is overdue, byte for byte, or gives up on it. */
static void retry_event(struct daemon *d, const struct rcpt_due *r)
{
    unsigned long long seq = (unsigned long long)r->seq;
    const char *prio = cfg_priority_name(r->priority);

    if (r->give_up) {
        log_err("receipt: event seq=%llu priority=%s: still no receipt after %d retries; no more retries",
                seq, prio, d->receipts.set.max_retries);
        return;
    }
    if (r->first_miss)
        log_msg(r->escalating ? LOG_LVL_ERR : LOG_LVL_WARN,
                "receipt: event seq=%llu priority=%s: no receipt within %llu ms; re-publishing%s", seq, prio,
                (unsigned long long)d->receipts.set.timeout_ms, r->escalating ? ", local output on" : "");
    else
        log_info("receipt: event seq=%llu priority=%s: re-publishing retry=%d", seq, prio, r->retry);
    pub_publish(d->pub, "events", r->payload, r->len, 1, false);
}

/* One round of the receipt protocol: receipts in, overdue events out, the output to match. */
static void check_receipts(struct daemon *d, uint64_t now_ms)
{
    struct rcpt_due due[16];
    size_t n;

    take_receipts(d);
    do {
        n = rcpt_due(&d->receipts, now_ms, due, 16);
        for (size_t i = 0; i < n; i++)
            retry_event(d, &due[i]);
    } while (n == 16);
    set_local_output(d, rcpt_output_wanted(&d->receipts));
}

/* --- publishing core outputs ------------------------------------------- */

/* Publishes an event on events and, unless it is one-shot, its alarm's retained state. */
static void publish_event(struct daemon *d, const struct core_event *ev)
{
    char json[MSG_MAX], suffix[CORE_ALARM_ID_MAX + 16];
    const struct core_alarm_info *info = core_alarm_info(d->core, ev->alarm);
    int n = msg_event(d->site, d->core, ev, json, sizeof(json));

    if (n < 0) {
        log_err("core: event seq=%llu does not fit the message buffer", (unsigned long long)ev->seq);
        return;
    }
    pub_publish(d->pub, "events", json, (size_t)n, 1, false);
    pub_set_last_seq(d->pub, ev->seq);
    track_receipt(d, ev, json, (size_t)n);
    if (ev->state == CORE_S_EVENT)
        return;
    /* msg_alarm_state() decides which states stay retained; empty deletes the topic. */
    n = msg_alarm_state(d->site, d->core, ev, json, sizeof(json));
    if (n < 0) {
        log_err("core: alarm=%s seq=%llu state does not fit the message buffer", info->id,
                (unsigned long long)ev->seq);
        return;
    }
    snprintf(suffix, sizeof(suffix), "alarms/%s", info->id);
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

/* Per-device state for the device topics, all unknown; NULL on OOM. */
static struct dev_topic *new_dev_topics(const struct cfg_site *site)
{
    return calloc((size_t)site->n_devices + 1, sizeof(struct dev_topic));
}

/*
 * Notes a comm change on its way into the core. The core thread sees each
 * one in the same order as the comm_loss events, so the device topic never
 * contradicts the alarm stream.
 */
static void note_comm(struct daemon *d, int device, bool up)
{
    struct dev_topic *t;

    if (device < 0 || device >= d->site->n_devices)
        return;
    t = &d->dev_topics[device];
    t->dirty |= !t->known || t->up != up;
    t->known = true;
    t->up = up;
}

static void publish_device(struct daemon *d, int device)
{
    char json[512], suffix[CFG_ID_MAX + 16];
    struct poll_device_stats st;
    int n;

    poll_get_stats(d->pollers, device, &st);
    st.up = d->dev_topics[device].up;
    n = msg_device(d->site, device, &st, clock_wall_ms(), json, sizeof(json));
    if (n < 0)
        return;
    snprintf(suffix, sizeof(suffix), "devices/%s", d->site->devices[device].id);
    pub_publish(d->pub, suffix, json, (size_t)n, 1, true);
    d->dev_topics[device].dirty = false;
}

/*
 * Publishes a device's retained topic when its comm state changed, and
 * every known device's once per heartbeat: round trip and counters change
 * on every poll, and publishing each of them would flood the broker.
 * Devices stay unpublished until their first comm change after the pollers
 * start, so a restart or reload shows no device as down that is not.
 */
static void publish_devices(struct daemon *d, uint64_t now_ms)
{
    bool refresh = now_ms >= d->next_devices_mono_ms;

    if (refresh)
        d->next_devices_mono_ms = now_ms + (uint64_t)d->site->mqtt.heartbeat_s * 1000;
    for (int i = 0; i < d->site->n_devices; i++)
        if (d->dev_topics[i].known && (d->dev_topics[i].dirty || refresh))
            publish_device(d, i);
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
    if (in->type == CORE_IN_COMM)
        note_comm(d, in->u.comm.device, in->u.comm.up);
    n = core_step(d->core, in, pending + *n_pending);
    *n_pending += n;
    d->inputs_since_snapshot++;
    /* Rate-limited: on a full disk every input would fail and flood the log. */
    if (jrnl_append_input(d->journal, d->site, in) < 0)
        log_complain(&d->journal_complaint, clock_mono_ms(), LOG_LVL_ERR,
                     "journal: append failed: %s; the input was applied but is not durable",
                     jrnl_error(d->journal));
    else
        log_release(&d->journal_complaint, LOG_LVL_NOTICE, "journal: appends work again");
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
 * Queues a system input the core thread raises itself (restart, rejected
 * config, self-test) for the next batch. Not through the input queue: the
 * core thread is the only one that empties it, so a blocking push there
 * would deadlock it whenever the pollers had filled the queue.
 */
static void feed_system(struct daemon *d, enum core_sys_kind kind, bool active, const char *text)
{
    if (d->n_sys_pending == SYS_PENDING_MAX) {
        log_err("core: %d system inputs already waiting; \"%s\" not raised", SYS_PENDING_MAX, text);
        return;
    }
    core_system_input(&d->sys_pending[d->n_sys_pending++], kind, active, text, clock_mono_ms(), clock_wall_ms());
}

/* Feeds the system inputs feed_system() kept, while the batch has room. */
static size_t feed_pending_system(struct daemon *d, size_t *n_pending, size_t room)
{
    size_t fed = 0;

    for (; fed < (size_t)d->n_sys_pending && *n_pending <= room; fed++)
        feed(d, &d->sys_pending[fed], d->outputs, n_pending);
    memmove(d->sys_pending, d->sys_pending + fed, (d->n_sys_pending - fed) * sizeof(d->sys_pending[0]));
    d->n_sys_pending -= (int)fed;
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
    int got = queue_pop(&d->inputs, &in, d->n_sys_pending ? 0 : wait_budget_ms(d));

    fed += feed_pending_system(d, &n_pending, room);
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
        log_err("journal: %s; events are published but may not survive a power cut", jrnl_error(d->journal));
    for (size_t i = 0; i < n_pending; i++)
        publish_output(d, &d->outputs[i]);
}

/*
 * Recovery re-feeds the journal after its newest snapshot and re-publishes
 * what that produces, so a new snapshot bounds both recovery time and the
 * duplicates a restart sends. It is written only when the broker has
 * acknowledged everything published: events still waiting in the MQTT
 * client's buffer (whose files are not fsynced) stay covered by the journal,
 * and so do events the publisher refused or holds in memory only.
 */
static void maybe_snapshot(struct daemon *d)
{
    struct pub_stats ps;

    pub_get_stats(d->pub, &ps);
    if (ps.pending > 0 || !pub_durable(d->pub))
        return;
    /* A rotation starts its segment with a snapshot too: same rule. */
    jrnl_maybe_rotate(d->journal, d->site, d->opt.config_path, d->core, clock_wall_ms());
    if (d->inputs_since_snapshot < SNAPSHOT_EVERY_INPUTS)
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


/*
 * Feeds the periodic self_test event every mqtt.self_test_s, the first one
 * that long after start. It travels the whole chain (core, journal, every
 * path) like an alarm panel's periodic test report, so a station that
 * misses it knows the chain is broken even while heartbeats still arrive.
 */
static void self_test(struct daemon *d, uint64_t now_ms)
{
    uint64_t period_ms = (uint64_t)d->site->mqtt.self_test_s * 1000u;

    if (period_ms == 0 || d->next_self_test_mono_ms == 0) {
        d->next_self_test_mono_ms = period_ms ? now_ms + period_ms : 0;
        return;
    }
    if (now_ms < d->next_self_test_mono_ms)
        return;
    /* From now, not from the due time: a stalled loop must not fire a burst of tests. */
    d->next_self_test_mono_ms = now_ms + period_ms;
    feed_system(d, CORE_SYS_SELF_TEST, true, "periodic self-test");
}

/*
 * Keeps state_dir inside site.state_max_mb: the journal is trimmed oldest
 * first, never from the segment recovery starts in (every event before that
 * snapshot was acknowledged by the broker: maybe_snapshot()'s rule), and
 * storage_low is raised at 90 % of the budget and cleared below 80 %.
 */
static void check_storage(struct daemon *d, uint64_t now_ms)
{
    char text[160];
    int change;

    if (now_ms < d->next_storage_mono_ms)
        return;
    d->next_storage_mono_ms = now_ms + STORAGE_CHECK_MS;
    d->budget.max_bytes = (uint64_t)d->site->state_max_mb << 20;
    change = statedir_enforce(&d->budget, d->state_dir, d->journal,
                              d->journal ? jrnl_snapshot_segment(d->journal) : 0, text, sizeof(text));
    if (change > 0)
        log_warn("state: storage_low: %s", text);
    else if (change < 0)
        log_notice("state: storage_low cleared: %s", text);
    if (change)
        feed_system(d, CORE_SYS_STORAGE_LOW, change > 0, text);
}

/* --- start, reload, stop -------------------------------------------------- */

/* An output buffer for one batch of core c; *cap gets its size. NULL on OOM. */
static struct core_output *new_outputs(const struct core *c, size_t *cap)
{
    *cap = core_max_outputs(c) + BATCH_OUTPUTS;
    return calloc(*cap, sizeof(struct core_output));
}

/* What the running config needs beside its core: a batch of outputs and the device topics. */
static int alloc_buffers(struct daemon *d)
{
    d->outputs = new_outputs(d->core, &d->outputs_cap);
    d->dev_topics = new_dev_topics(d->site);
    return d->outputs && d->dev_topics ? 0 : -1;
}

static void republish_recovered(const struct core_output *o, void *arg)
{
    publish_output(arg, o);
}

static int open_journal(struct daemon *d)
{
    char dir[CFG_PATH_MAX + 16], err[512];
    uint64_t budget = (uint64_t)d->site->state_max_mb << 20;
    struct jrnl_options jo = {.dir = dir, .segment_bytes = statedir_segment_bytes(budget),
                              .retention_days = d->site->journal_retention_days};
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
    /* The events recovery just re-published sit in the MQTT client's
     * buffer, not yet at the broker: a snapshot now would drop them from
     * the next recovery. maybe_snapshot() writes it once they are delivered. */
    if (replayed > 0) {
        d->inputs_since_snapshot = SNAPSHOT_EVERY_INPUTS;
        return 0;
    }
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
    if (prepare_state_dir(d) < 0 || queue_init(&d->inputs, sizeof(struct core_input), INPUT_QUEUE_CAP) < 0 ||
        start_receipts(d) < 0 || lock_state_dir(d) < 0)
        return -1;
    d->core = core_new(d->site);
    if (!d->core || alloc_buffers(d) < 0 || start_publisher(d) < 0 || open_journal(d) < 0)
        return -1;
    pub_set_last_seq(d->pub, core_next_seq(d->core) - 1);
    start_schedule(d);
    publish_all_zones(d, d->started_wall_ms);
    feed_system(d, CORE_SYS_GATEWAY_RESTARTED, true, "vigild " VIGIL_VERSION " started");
    if (start_pollers(d) < 0)
        return -1;
    svc_watchdog_init(&d->watchdog);
    svc_ready("started");
    log_notice("vigild: started site=%s devices=%d points=%d zones=%d state_dir=%s", d->site->id,
               d->site->n_devices, d->site->n_points, d->site->n_zones, d->state_dir);
    return 0;
}

/* The parts of the daemon that belong to one config and are swapped together on reload. */
struct config_set {
    struct cfg_site *site;
    struct core *core;
    struct core_output *outputs;
    size_t outputs_cap;
    struct dev_topic *dev_topics;
};

static void swap_config(struct daemon *d, struct config_set *c)
{
    struct config_set running = {d->site, d->core, d->outputs, d->outputs_cap, d->dev_topics};

    d->site = c->site;
    d->core = c->core;
    d->outputs = c->outputs;
    d->outputs_cap = c->outputs_cap;
    d->dev_topics = c->dev_topics;
    *c = running;
}

static void free_config(struct config_set *c)
{
    core_free(c->core);
    cfg_free(c->site);
    free(c->outputs);
    free(c->dev_topics);
}

/*
 * Builds everything site needs into c (which owns site from here on) and
 * moves the running core's state over by id: alarms, zones and points that
 * keep their id keep their state, so an acknowledged alarm stays
 * acknowledged and raises no new event. Returns 0, or -1 with c to free.
 */
static int build_config(struct daemon *d, struct cfg_site *site, struct config_set *c)
{
    size_t len = core_snapshot(d->core, NULL, 0);
    void *snap = malloc(len);
    int rc = -1;

    *c = (struct config_set){.site = site, .core = core_new(site), .dev_topics = new_dev_topics(site)};
    if (c->core)
        c->outputs = new_outputs(c->core, &c->outputs_cap);
    if (snap && c->outputs && c->dev_topics && core_snapshot(d->core, snap, len) == len &&
        core_restore(c->core, snap, len) == 0)
        rc = 0;
    free(snap);
    return rc;
}

/*
 * Stops the pollers with everything they queued fed to the running core: a
 * queued sample or comm change names its point or device by the running
 * config's index, so none may reach a core built from another config.
 * Draining before the stop as well keeps a poller from blocking on a full
 * queue that nobody empties while poll_stop() waits for it.
 */
static void stop_pollers_drained(struct daemon *d)
{
    while (queue_length(&d->inputs) > 0)
        run_batch(d);
    poll_stop(d->pollers);
    d->pollers = NULL;
    while (queue_length(&d->inputs) > 0)
        run_batch(d);
}

/*
 * The event text of a rejected config: cfg_load()'s first error line
 * ("file:line: what is wrong; what is expected"), cut at a character
 * boundary to fit the core's text, and how many more the log holds.
 */
static void rejection_text(const char *err, char *text, size_t cap)
{
    size_t first = strcspn(err, "\n"), more = 0, room;
    char tail[48] = "";

    for (const char *p = err + first; *p; p++)
        more += p[0] == '\n' && p[1] != '\0';
    if (more)
        snprintf(tail, sizeof(tail), " (+%zu more in the log)", more);
    room = cap - 1 - strlen(tail);
    if (first <= room) {
        snprintf(text, cap, "%.*s%s", (int)first, err, tail);
        return;
    }
    first = room - 3;
    while (first > 0 && ((unsigned char)err[first] & 0xC0) == 0x80)
        first--;
    snprintf(text, cap, "%.*s...%s", (int)first, err, tail);
}

/* Keeps the running config: logs every error line and raises config_rejected with the first. */
static void reject_config(struct daemon *d, const char *err)
{
    char text[CORE_ERROR_MAX];
    int errors = 0;

    for (const char *line = err; *line; errors++) {
        size_t n = strcspn(line, "\n");

        log_err("reload: %.*s", (int)n, line);
        line += n + (line[n] == '\n');
    }
    log_err("reload: config=%s rejected errors=%d; still running on the previous one", d->opt.config_path,
            errors);
    rejection_text(err, text, sizeof(text));
    feed_system(d, CORE_SYS_CONFIG_REJECTED, true, text);
    svc_ready("reload rejected");
}

/* Publishes an empty retained payload on <kind>/<id>, which deletes the retained message. */
static void clear_retained(struct daemon *d, const char *kind, const char *id)
{
    char suffix[CORE_ALARM_ID_MAX + 16];

    snprintf(suffix, sizeof(suffix), "%s/%s", kind, id);
    pub_publish(d->pub, suffix, "", 0, 1, true);
    log_notice("reload: topic=%s cleared: no longer configured", suffix);
}

/*
 * After a switch from old: deletes the retained topics of the alarms that
 * needed attention, the devices and the zones the new config no longer
 * has, and publishes the zones it adds, so the retained tree matches the
 * running config. A removed alarm gets no event: no core knows it any more.
 */
static void retire_removed(struct daemon *d, const struct config_set *old)
{
    for (size_t a = 0; a < core_alarm_count(old->core); a++) {
        enum core_alarm_state s = core_alarm_state(old->core, (int)a);
        const char *id = core_alarm_info(old->core, (int)a)->id;

        if (s != CORE_S_NORMAL && s != CORE_S_SUPPRESSED && s != CORE_S_EVENT && core_find_alarm(d->core, id) < 0)
            clear_retained(d, "alarms", id);
    }
    for (int i = 0; i < old->site->n_devices; i++)
        if (cfg_find_device(d->site, old->site->devices[i].id) < 0)
            clear_retained(d, "devices", old->site->devices[i].id);
    for (int z = 0; z < old->site->n_zones; z++)
        if (cfg_find_zone(d->site, old->site->zones[z].id) < 0)
            clear_retained(d, "zones", old->site->zones[z].id);
    for (int z = 0; z < d->site->n_zones; z++) {
        struct core_zone_change zc = {.zone = z, .armed = core_zone_armed(d->core, z), .wall_ms = clock_wall_ms()};

        if (cfg_find_zone(old->site, d->site->zones[z].id) < 0)
            publish_zone(d, &zc);
    }
}

/* The publisher copied its settings at start: a reload cannot change them, so say so. */
static void warn_mqtt_unchanged(struct daemon *d)
{
    char what[64];

    if (pub_config_differs(d->pub, d->site, what, sizeof(what)))
        log_warn("reload: mqtt settings changed (first: %s); they take effect only after a restart of vigild",
                 what);
}

/*
 * SIGHUP: parse and validate the new config into a fresh site while the
 * old one keeps running; a rejected config changes nothing and raises a
 * config_rejected event. A valid one: stop the pollers (their queued inputs
 * go to the old core), move the core's state over by id, switch, and start
 * the pollers on the new config. If they cannot start, the old config is
 * put back; if even that fails, d->pollers stays NULL and the caller stops
 * vigild (systemd restarts it) rather than run blind.
 */
static void reload(struct daemon *d)
{
    static char err[16384];
    struct cfg_site *site;
    struct config_set c;

    svc_reloading();
    site = cfg_load(d->opt.config_path, d->opt.profile_dir, err, sizeof(err));
    if (!site) {
        reject_config(d, err);
        return;
    }
    stop_pollers_drained(d);
    if (build_config(d, site, &c) == 0) {
        swap_config(d, &c);
        if (start_pollers(d) == 0) {
            retire_removed(d, &c);
            free_config(&c);
            warn_mqtt_unchanged(d);
            jrnl_begin(d->journal, d->site, d->opt.config_path, d->core);
            log_notice("reload: config=%s loaded devices=%d zones=%d points=%d next_seq=%llu", d->opt.config_path,
                       d->site->n_devices, d->site->n_zones, d->site->n_points,
                       (unsigned long long)core_next_seq(d->core));
            svc_ready("reloaded");
            return;
        }
        swap_config(d, &c);
    }
    free_config(&c);
    if (start_pollers(d) < 0) {
        log_err("reload: cannot restart the pollers of the previous config; stopping");
        return;
    }
    reject_config(d, "the new configuration is valid but could not be applied; see the log");
}

static void shutdown_daemon(struct daemon *d)
{
    bool durable;

    svc_stopping();
    /* Closed first: a poller blocked on a full queue then returns at once. */
    queue_close(&d->inputs);
    if (d->pollers)
        poll_stop(d->pollers);
    durable = !d->pub || pub_durable(d->pub);
    if (d->pub)
        pub_stop(d->pub);
    if (d->journal) {
        /* A final snapshot: the next start re-feeds nothing. What the broker
         * had not acknowledged stays in the MQTT client's store; only what
         * the publisher refused or held in memory alone is not there, and
         * then the next start re-publishes from the journal instead. */
        if (d->core && durable)
            jrnl_begin(d->journal, d->site, d->opt.config_path, d->core);
        jrnl_sync(d->journal);
        jrnl_close(d->journal);
    }
    core_free(d->core);
    free(d->outputs);
    free(d->dev_topics);
    queue_destroy(&d->inputs);
    rcpt_free(&d->receipts);
    cfg_free(d->site);
    log_notice("vigild: stopped");
}

/* The core thread's loop until SIGTERM; 0, or -1 if a reload left no pollers. */
static int run(struct daemon *d)
{
    while (!stop_requested) {
        if (reload_requested) {
            reload_requested = 0;
            reload(d);
            configure_receipts(d);
            if (!d->pollers)
                return -1;
        }
        run_batch(d);
        maybe_snapshot(d);
        pub_heartbeat(d->pub);
        self_test(d, clock_mono_ms());
        feed_watchdog(d);
        report_status(d, clock_mono_ms());
        publish_devices(d, clock_mono_ms());
        check_receipts(d, clock_mono_ms());
        check_storage(d, clock_mono_ms());
    }
    return 0;
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
    /* A non-zero exit tells systemd the stop was a failure: Restart= applies. */
    rc = run(&d) < 0 ? 1 : 0;
    shutdown_daemon(&d);
    return rc;
}
