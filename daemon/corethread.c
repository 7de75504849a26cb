/*
 * corethread.c - the core thread (corethread.h): stamps inputs once, runs
 * the core, journals and syncs, and hands records to every sink.
 *
 * Nothing here knows a topic or a payload: outputs become records
 * (record.h) and sinks (sink.h) decide what to do with them.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cfgreload.h"
#include "clock.h"
#include "cmdgate.h"
#include "core.h"
#include "corethread.h"
#include "influx.h"
#include "journal.h"
#include "lineage.h"
#include "log.h"
#include "message.h"
#include "mqtt_sink.h"
#include "points_sink.h"
#include "poller.h"
#include "queue.h"
#include "receipt.h"
#include "record.h"
#include "schedule.h"
#include "service.h"
#include "statedir.h"

#define INPUT_QUEUE_CAP 8192 /* samples the input queue holds: a whole site's first readings at once */
#define BATCH_OUTPUTS 1024 /* outputs one batch may gather beyond one input's worst case */
#define IDLE_WAIT_MS 200 /* the longest the loop sleeps: heartbeats, watchdog, signals */
#define SNAPSHOT_EVERY_INPUTS 10000
#define SYS_PENDING_MAX 8 /* system inputs of the core thread itself, fed at the next batch */
#define STORAGE_CHECK_MS 10000 /* how often the state_dir budget is measured */
#define JOURNAL_RETRY_MS 10000 /* how often a journal that could not be opened is tried again */
#define RELOAD_TIMEOUT_MS 10000 /* the longest a reload may read its config; VIGIL_RELOAD_TIMEOUT_MS overrides */
#define RELOAD_DURABLE_WAIT_MS 3000 /* the longest a read config waits for the sinks to be durable */

/* A device's comm state as the core thread last saw it, for its device record. */
struct dev_state {
    bool known;                   /* a comm change reached the core since the pollers started */
    bool up;
    bool dirty;                   /* changed since its record was last delivered */
};

/* The parts that belong to one config and are swapped together on reload. */
struct config_set {
    struct cfg_site *site;
    struct core *core;
    struct core_output *outputs;  /* one batch of outputs, delivered after the fsync */
    size_t outputs_cap;
    struct dev_state *devs;
};

struct corethread {
    struct corethread_options opt;
    struct config_set cfg;
    struct core_input sys_pending[SYS_PENDING_MAX];
    int n_sys_pending;
    struct jrnl *journal;
    struct poll_set *pollers;
    struct sink_set sinks;
    struct cmdgate *gate;         /* every command source's way in (cmdgate.h) */
    void *mqtt;                   /* the MQTT sink, for the status line */
    struct queue inputs;
    struct svc_watchdog watchdog;
    struct sched sched;           /* zone arming schedules */
    struct rec_buf rec;           /* the record being delivered */
    bool output_on;               /* this process switched receipts.local_output on */
    char state_dir[CFG_PATH_MAX];
    int state_lock_fd;            /* holds <state_dir>/vigild.lock until the process ends */
    bool state_locked;            /* state_lock_fd holds the lock */
    bool journal_fault;           /* journal_fault is raised (or queued to be) */
    bool journal_failed;          /* an append of the current batch failed */
    uint64_t next_journal_retry_mono_ms; /* while journal is NULL: when to try to open it again */
    struct cfgreload *reload;     /* a config being read off this thread (SIGHUP); NULL for none */
    uint64_t reload_timeout_ms, reload_deadline_mono_ms;
    struct cfg_site *reload_ready; /* read and valid, waiting for the sinks to be durable; NULL for none */
    uint64_t reload_ready_deadline_mono_ms;
    struct statedir_budget budget; /* state_max_mb and whether storage_low is raised */
    uint64_t next_storage_mono_ms;
    uint64_t last_mono_ms;
    struct log_complaint journal_complaint;
    uint64_t mono_offset_ms;      /* keeps the core's clock going forward across reboots */
    uint64_t core_progress;
    uint64_t inputs_since_snapshot;
    uint64_t last_delivered_seq;  /* of the last event handed to the sinks by this process */
    uint64_t hwm_next_seq;        /* <state_dir>/seq.hwm: every seq handed to a sink is below it */
    bool journal_behind;          /* the journal misses inputs whose events went out (lineage.h) */
    struct log_complaint hwm_complaint;
    struct log_complaint epoch_complaint; /* receipts naming another epoch */
    uint64_t next_status_mono_ms;
    uint64_t next_devices_mono_ms; /* when every device record is refreshed next */
    uint64_t next_self_test_mono_ms; /* 0: not scheduled (self tests off, or not started yet) */
};

/* --- records to the sinks ----------------------------------------------- */

static void deliver(struct corethread *ct)
{
    sink_set_deliver(&ct->sinks, &ct->rec.rec);
}

/* --- the local output (siren) the core switches on missed receipts -------- */

/*
 * Writes receipts.local_output through the poller of its device, which
 * keeps the value and writes it again when the device comes back. The core
 * decided (CORE_OUT_LOCAL, journaled); this only carries it out. It
 * switches off only what this process switched on: an output found on at
 * start is left to the guard.
 */
static void write_local_output(struct corethread *ct, const struct core_local_output *o)
{
    const struct cfg_local_output *lo = &ct->cfg.site->receipts.local_output;
    const struct sink_output *out = &ct->rec.rec.u.output;

    if (!lo->enabled || (!o->on && !ct->output_on))
        return;
    ct->output_on = o->on;
    if (!ct->pollers || poll_write(ct->pollers, lo->device, lo->input, o->on ? (uint16_t)lo->on : 0) < 0) {
        log_err("receipt: local output device=\"%s\" output=\"%s\" cannot be queued for writing", out->device,
                out->output);
        return;
    }
    log_msg(o->on ? LOG_LVL_ERR : LOG_LVL_NOTICE, "receipt: local output device=\"%s\" output=\"%s\" %s: %s",
            out->device, out->output, o->on ? "on" : "off", out->reason);
}

/* The receipts settings of the running config (start, reload): a new poll
 * set knows no outputs yet, so one that is on is written again. */
static void configure_local_output(struct corethread *ct)
{
    const struct cfg_local_output *o = &ct->cfg.site->receipts.local_output;

    if (ct->output_on && !o->enabled) {
        log_warn("receipt: the local output was on and the config names none now; switch it off at the module");
        ct->output_on = false;
    }
    if (ct->output_on && ct->pollers)
        poll_write(ct->pollers, o->device, o->input, (uint16_t)o->on);
}

static void deliver_local_output(struct corethread *ct, const struct core_local_output *o)
{
    if (!ct->cfg.site->receipts.local_output.enabled)
        return;
    rec_local_output(&ct->rec, ct->cfg.site, o);
    write_local_output(ct, o);
    deliver(ct);
}

/* --- numbering: the seq high-water mark and the epoch (lineage.h) ------- */

/*
 * Moves the high-water mark past seq before seq reaches any sink, a block
 * at a time. A mark that cannot be written (full disk) is logged and the
 * event still goes out: an alarm held back is worse than a number that a
 * restart might repeat within the same epoch.
 */
static void reserve_seq(struct corethread *ct, uint64_t seq)
{
    char err[1200];

    if (seq < ct->hwm_next_seq)
        return;
    if (lin_hwm_write(ct->state_dir, seq + 1 + LIN_HWM_BLOCK, ct->journal_behind, err, sizeof(err)) < 0) {
        log_complain(&ct->hwm_complaint, clock_mono_ms(), LOG_LVL_ERR,
                     "state: seq high-water mark not written: %s; a restart may number from below seq=%llu", err,
                     (unsigned long long)seq);
        return;
    }
    log_release(&ct->hwm_complaint, LOG_LVL_NOTICE, "state: seq high-water mark written again");
    ct->hwm_next_seq = seq + 1 + LIN_HWM_BLOCK;
}

/*
 * An append or sync failed (or recovery met damage): the journal's next
 * seq may now fall short of what the sinks got, so the mark is renamed to
 * say a restart must number on from it. A rename needs no free blocks.
 * The next snapshot that can be written makes the journal complete again.
 */
static void journal_fell_behind(struct corethread *ct)
{
    char err[1200];

    ct->inputs_since_snapshot = SNAPSHOT_EVERY_INPUTS;
    if (ct->journal_behind)
        return;
    ct->journal_behind = true;
    if (lin_hwm_set_behind(ct->state_dir, true, err, sizeof(err)) == 0)
        return;
    /* No mark yet: nothing was handed out beyond the journal's next seq. */
    if (ct->hwm_next_seq == 0 &&
        lin_hwm_write(ct->state_dir, core_next_seq(ct->cfg.core) + LIN_HWM_BLOCK, true, err, sizeof(err)) == 0) {
        ct->hwm_next_seq = core_next_seq(ct->cfg.core) + LIN_HWM_BLOCK;
        return;
    }
    log_err("state: %s; a restart may number from below events already sent", err);
}

/* A snapshot was written: the journal knows the core's next seq again. */
static void journal_caught_up(struct corethread *ct)
{
    char err[1200];

    if (!ct->journal_behind)
        return;
    if (lin_hwm_set_behind(ct->state_dir, false, err, sizeof(err)) < 0) {
        log_warn("state: %s; the next restart numbers from the mark (a gap, no reuse)", err);
        return;
    }
    ct->journal_behind = false;
    log_notice("journal: complete again at next_seq=%llu", (unsigned long long)core_next_seq(ct->cfg.core));
}

static void deliver_event(struct corethread *ct, const struct core_event *ev)
{
    reserve_seq(ct, ev->seq);
    if (rec_event(&ct->rec, ct->cfg.site, ct->cfg.core, ev) < 0)
        log_err("core: event seq=%llu does not fit the message buffer; sinks get it without a payload",
                (unsigned long long)ev->seq);
    ct->last_delivered_seq = ev->seq;
    deliver(ct);
}

static void deliver_zone(struct corethread *ct, const struct core_zone_change *zc)
{
    rec_zone(&ct->rec, ct->cfg.site, zc);
    deliver(ct);
}

static void deliver_output(struct corethread *ct, const struct core_output *o)
{
    switch (o->type) {
    case CORE_OUT_EVENT: deliver_event(ct, &o->u.event); break;
    case CORE_OUT_ZONE: deliver_zone(ct, &o->u.zone); break;
    case CORE_OUT_RESULT:
        rec_result(&ct->rec, &o->u.result, clock_wall_ms());
        if (o->u.result.source == CORE_SRC_SCHEDULE && !o->u.result.ok)
            log_warn("schedule: command id=%s failed: %s", o->u.result.id, o->u.result.error);
        deliver(ct);
        break;
    case CORE_OUT_RETRY:
        rec_retry(&ct->rec, &o->u.retry, clock_wall_ms());
        deliver(ct);
        break;
    case CORE_OUT_LOCAL: deliver_local_output(ct, &o->u.local); break;
    case CORE_OUT_TESTED:
        rec_tested(&ct->rec, ct->cfg.site, o->u.tested.point, o->u.tested.wall_ms);
        deliver(ct);
        break;
    }
}

/* Every zone's arm and walk test state: at start and for zones a reload added, so a late subscriber sees them. */
static void deliver_zones(struct corethread *ct, const struct cfg_site *only_new_of)
{
    const struct cfg_site *site = ct->cfg.site;

    for (int z = 0; z < site->n_zones; z++) {
        struct core_zone_change zc;

        core_zone_test(ct->cfg.core, z, &zc);
        zc.wall_ms = clock_wall_ms();
        if (!only_new_of || cfg_find_zone(only_new_of, site->zones[z].id) < 0)
            deliver_zone(ct, &zc);
    }
}

/* Every point's last walk test date the core keeps, at start and after a reload. */
static void deliver_tested(struct corethread *ct)
{
    for (int p = 0; p < ct->cfg.site->n_points; p++) {
        int64_t ms = core_point_tested_ms(ct->cfg.core, p);

        if (ms != 0) {
            rec_tested(&ct->rec, ct->cfg.site, p, ms);
            deliver(ct);
        }
    }
}

static void deliver_device(struct corethread *ct, int device)
{
    struct poll_device_stats st;

    poll_get_stats(ct->pollers, device, &st);
    rec_device(&ct->rec, ct->cfg.site, device, &st, ct->cfg.devs[device].up, ct->cfg.devs[device].dirty,
               clock_wall_ms());
    ct->cfg.devs[device].dirty = false;
    deliver(ct);
}

/*
 * A device record when its comm state changed, and every known device's
 * once per heartbeat: round trip and counters change on every poll, and a
 * record for each would flood the sinks. Devices have no record until
 * their first comm change after the pollers start, so a restart or reload
 * shows no device as down that is not.
 */
static void deliver_devices(struct corethread *ct, uint64_t now_ms)
{
    bool refresh = now_ms >= ct->next_devices_mono_ms;

    if (refresh)
        ct->next_devices_mono_ms = now_ms + (uint64_t)ct->cfg.site->mqtt.heartbeat_s * 1000;
    for (int i = 0; i < ct->cfg.site->n_devices; i++)
        if (ct->cfg.devs[i].known && (ct->cfg.devs[i].dirty || refresh))
            deliver_device(ct, i);
}

/*
 * Notes a comm change on its way into the core. The core thread sees each
 * one in the same order as the comm_loss events, so the device record
 * never contradicts the alarm stream.
 */
static void note_comm(struct corethread *ct, int device, bool up)
{
    struct dev_state *t;

    if (device < 0 || device >= ct->cfg.site->n_devices)
        return;
    t = &ct->cfg.devs[device];
    t->dirty |= !t->known || t->up != up;
    t->known = true;
    t->up = up;
}

/* Says, before the core forgets them, which receipts were on time and which late. */
static void log_receipts(const struct corethread *ct, const struct core_input *in)
{
    for (unsigned i = 0; i < in->u.receipt.n; i++) {
        unsigned long long seq = (unsigned long long)in->u.receipt.seqs[i];
        int pending = core_receipt_pending(ct->cfg.core, in->u.receipt.seqs[i]);

        if (pending == RCPT_LATE)
            log_notice("receipt: event seq=%llu receipted late", seq);
        else
            log_debug("receipt: event seq=%llu %s", seq,
                      pending == RCPT_ON_TIME ? "receipted" : "was not waiting for a receipt");
    }
}

/*
 * A receipt that names an epoch other than the core's is for events of an
 * earlier lineage (the state was lost since): its seqs mean other events
 * now, and taking it would end the retries and the siren of an alarm the
 * station never got. It is logged and never reaches the core or journal.
 */
static bool receipt_of_this_epoch(struct corethread *ct, const struct core_input *in)
{
    uint64_t epoch = core_epoch(ct->cfg.core);
    char got[17], want[17];

    if (!in->u.receipt.epoch || in->u.receipt.epoch == epoch)
        return true;
    lin_epoch_hex(in->u.receipt.epoch, got);
    lin_epoch_hex(epoch, want);
    log_complain(&ct->epoch_complaint, clock_mono_ms(), LOG_LVL_WARN,
                 "receipt: %u seqs from %llu ignored: they name epoch %s; this site numbers its events in epoch %s",
                 (unsigned)in->u.receipt.n, (unsigned long long)in->u.receipt.seqs[0], got, want);
    return false;
}

/* --- the core loop ------------------------------------------------------ */

/* The core's monotonic clock: this boot's CLOCK_MONOTONIC moved past the
 * last time the journal recorded, so timers restored after a reboot still
 * see time going forward. */
static uint64_t core_now_ms(const struct corethread *ct)
{
    return clock_mono_ms() + ct->mono_offset_ms;
}

/*
 * The one place an input gets its time: on entry to the core, in the order
 * inputs are fed, so the core's clock never goes back whichever thread
 * produced them, and the journal records the moment the core saw each.
 */
static void stamp(struct corethread *ct, struct core_input *in)
{
    uint64_t now = core_now_ms(ct);

    in->mono_ms = now > ct->last_mono_ms ? now : ct->last_mono_ms;
    in->wall_ms = clock_wall_ms();
    ct->last_mono_ms = in->mono_ms;
}

/*
 * Journals one input. A failure marks the batch: journal_sync_batch()
 * raises journal_fault for it. Without a journal (journal_fault is up,
 * retry_journal() tries to open it) the input is applied only.
 */
static void journal_append(struct corethread *ct, const struct core_input *in)
{
    if (!ct->journal)
        return;
    /* Rate-limited: on a full disk every input would fail and flood the log. */
    if (jrnl_append_input(ct->journal, ct->cfg.site, in) < 0) {
        log_complain(&ct->journal_complaint, clock_mono_ms(), LOG_LVL_ERR,
                     "journal: append failed: %s; the input was applied but is not durable",
                     jrnl_error(ct->journal));
        ct->journal_failed = true;
        journal_fell_behind(ct);
    } else {
        log_release(&ct->journal_complaint, LOG_LVL_NOTICE, "journal: appends work again");
    }
}

/*
 * Feeds one input to the core and journals it. Outputs are appended at
 * pending[*n_pending]; they are delivered only after the batch is synced.
 * A sample's record goes to the sinks at once: telemetry, not an alarm.
 */
static void feed(struct corethread *ct, struct core_input *in, size_t *n_pending)
{
    size_t n;

    if (in->type == CORE_IN_RECEIPT && !receipt_of_this_epoch(ct, in))
        return;
    stamp(ct, in);
    if (in->type == CORE_IN_COMM)
        note_comm(ct, in->u.comm.device, in->u.comm.up);
    if (in->type == CORE_IN_RECEIPT)
        log_receipts(ct, in);
    n = core_step(ct->cfg.core, in, ct->cfg.outputs + *n_pending);
    *n_pending += n;
    ct->inputs_since_snapshot++;
    journal_append(ct, in);
    if (in->type == CORE_IN_SAMPLE) {
        rec_sample(&ct->rec, ct->cfg.site, in->u.sample.point, in->u.sample.value, in->u.sample.raw, in->wall_ms);
        deliver(ct);
    }
}

static void make_tick(struct core_input *in)
{
    memset(in, 0, sizeof(*in));
    in->type = CORE_IN_TICK;
}

/* How long the loop may wait for the next input before a timer is due. */
static int wait_budget_ms(const struct corethread *ct)
{
    uint64_t now = core_now_ms(ct), due = core_next_deadline(ct->cfg.core);

    if (due <= now)
        return 0;
    return due - now < IDLE_WAIT_MS ? (int)(due - now) : IDLE_WAIT_MS;
}

/* Sets the process time zone (before the pollers start: TZ is process
 * wide) and starts the zone schedules from the last journaled input, so an
 * action missed while vigild was stopped still runs (schedule.h). */
static void start_schedule(struct corethread *ct)
{
    uint64_t last_mono = 0;
    int64_t last_wall = 0;

    /* without a journal, as after a first start: nothing was missed that anyone knows of */
    if (ct->journal)
        jrnl_last_clocks(ct->journal, &last_mono, &last_wall);
    sched_init(&ct->sched, ct->cfg.site, last_wall);
}

/*
 * Feeds the zone schedules' due arm and disarm commands into the batch like
 * operator commands: journaled, then published. Stops while the output
 * buffer could not take one more input's worst case; what is left stays
 * due for the next round. Returns how many it fed.
 */
static size_t feed_schedule(struct corethread *ct, size_t *n_pending, size_t room)
{
    struct sched_action act;
    struct core_input in;
    size_t fed = 0;

    while (*n_pending <= room && sched_poll(&ct->sched, ct->cfg.site, clock_wall_ms(), &act) == 1) {
        sched_command(ct->cfg.site, &act, &in);
        log_notice("schedule: zone \"%s\": %s due_ms=%lld late_ms=%lld", ct->cfg.site->zones[act.zone].id,
                   act.op == SCHED_ARM ? "arm" : "disarm", (long long)act.due_wall_ms,
                   (long long)(clock_wall_ms() - act.due_wall_ms));
        feed(ct, &in, n_pending);
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
static struct core_input *feed_system(struct corethread *ct, enum core_sys_kind kind, bool active,
                                      const char *text)
{
    struct core_input *in = &ct->sys_pending[ct->n_sys_pending];

    if (ct->n_sys_pending == SYS_PENDING_MAX) {
        log_err("core: %d system inputs already waiting; \"%s\" not raised", SYS_PENDING_MAX, text);
        return NULL;
    }
    ct->n_sys_pending++;
    core_system_input(in, kind, active, text, 0, 0); /* stamped when fed */
    return in;
}

/* Feeds the system inputs feed_system() kept, while the batch has room. */
static size_t feed_pending_system(struct corethread *ct, size_t *n_pending, size_t room)
{
    size_t fed = 0;

    for (; fed < (size_t)ct->n_sys_pending && *n_pending <= room; fed++)
        feed(ct, &ct->sys_pending[fed], n_pending);
    memmove(ct->sys_pending, ct->sys_pending + fed, (ct->n_sys_pending - fed) * sizeof(ct->sys_pending[0]));
    ct->n_sys_pending -= (int)fed;
    return fed;
}

/* --- numbering: where this run's events start (lineage.h) ------------- */

/*
 * Queues a system input that carries the numbering: epoch (0 keeps the
 * core's) and the high-water mark as the floor of the next seq. Journaled
 * with the input, so a replay numbers as this run does.
 */
static void feed_numbered_system(struct corethread *ct, enum core_sys_kind kind, const char *text, uint64_t epoch)
{
    struct core_input *in = feed_system(ct, kind, true, text);

    if (in) {
        in->u.sys.epoch = epoch;
        in->u.sys.seq_floor = ct->journal_behind ? ct->hwm_next_seq : 0;
    }
}

/* "journal-0000000000000003.vj offset 4096" out of a reader's problem "DIR/FILE offset N: why". */
static void damage_place(const char *problem, char *out, size_t cap)
{
    const char *base = strrchr(problem, '/');

    base = base ? base + 1 : problem;
    snprintf(out, cap, "%.*s", (int)strcspn(base, ":"), base);
}

/*
 * Decides, after recovery, whether this run continues the numbering or
 * starts a new epoch, and queues the input that says so ahead of
 * gateway_restarted: state_lost when nothing was recovered (a first start
 * looks the same as a deleted state directory from inside it),
 * journal_damaged when recovery stopped at damage, a bare epoch for a
 * journal written before epochs. hwm_ok false: the mark was unreadable, so
 * no number handed out before can be ruled out.
 */
static void begin_numbering(struct corethread *ct, const struct jrnl_replay_info *info, bool hwm_ok)
{
    char text[CORE_ERROR_MAX], hex[17], place[64], when[MSG_TS_LEN + 1];
    uint64_t epoch = lin_new_epoch();

    lin_epoch_hex(epoch, hex);
    if (info->problem[0]) {
        journal_fell_behind(ct);
        damage_place(info->problem, place, sizeof(place));
        msg_ts(info->last_wall_ms, when);
        snprintf(text, sizeof(text), "journal damaged at %s: inputs after %s lost; new epoch %s", place,
                 info->last_wall_ms ? when : "its start", hex);
        feed_numbered_system(ct, CORE_SYS_JOURNAL_DAMAGED, text, epoch);
    } else if (!info->restored || !hwm_ok) {
        snprintf(text, sizeof(text), "%s: events before this one are unknown to the gateway; new epoch %s",
                 hwm_ok ? "no earlier state (first start, or the state directory was lost)"
                        : "seq high-water mark unreadable", hex);
        feed_numbered_system(ct, CORE_SYS_STATE_LOST, text, epoch);
    } else if (core_epoch(ct->cfg.core) == 0) {
        feed_numbered_system(ct, CORE_SYS_GATEWAY_RESTARTED, "journal from before epochs: numbering goes on", epoch);
        return;
    } else {
        return;
    }
    log_err("state: %s", text);
}

/*
 * Reads the high-water mark before recovery re-delivers anything. A mark
 * left behind asks for a snapshot soon: it makes the journal complete.
 * Returns false if it is unreadable.
 */
static bool load_hwm(struct corethread *ct)
{
    char err[1200];

    if (lin_hwm_read(ct->state_dir, &ct->hwm_next_seq, &ct->journal_behind, err, sizeof(err)) >= 0) {
        if (ct->journal_behind)
            ct->inputs_since_snapshot = SNAPSHOT_EVERY_INPUTS;
        return true;
    }
    log_err("state: %s; a new epoch starts", err);
    return false;
}

/*
 * Raises or clears journal_fault, on a change only. The core thread keeps
 * polling, evaluating and publishing without a working journal
 * (docs/operations.md); what is lost is recovery after a restart, and the
 * station must know that.
 */
static void set_journal_fault(struct corethread *ct, bool active, const char *text)
{
    if (ct->journal_fault == active)
        return;
    ct->journal_fault = active;
    if (active)
        log_err("journal: journal_fault: %s", text);
    else
        log_notice("journal: journal_fault cleared: %s", text);
    feed_system(ct, CORE_SYS_JOURNAL_FAULT, active, text);
}

/*
 * Syncs the batch before its outputs are delivered, and judges it: a batch
 * whose appends or sync failed raises journal_fault, the first batch
 * written whole clears it (one change per batch at most, so a disk that
 * fails now and then cannot flood the station).
 */
static void journal_sync_batch(struct corethread *ct)
{
    char text[1024]; /* the core cuts it to CORE_ERROR_MAX; the log keeps it whole */

    if (!ct->journal)
        return;
    if (jrnl_sync(ct->journal) < 0) {
        log_err("journal: %s; events are delivered but may not survive a power cut", jrnl_error(ct->journal));
        ct->journal_failed = true;
        journal_fell_behind(ct);
    }
    if (ct->journal_failed != ct->journal_fault) {
        if (ct->journal_failed)
            snprintf(text, sizeof(text), "journal in %s cannot be written: %s; alarms go out but would not "
                     "survive a restart", ct->state_dir, jrnl_error(ct->journal));
        else
            snprintf(text, sizeof(text), "journal in %s written again", ct->state_dir);
        set_journal_fault(ct, ct->journal_failed, text);
    }
    ct->journal_failed = false;
}

/*
 * One batch of the core thread: wait for inputs or the next timer, feed a
 * batch, make it durable, then deliver what it produced. The batch ends
 * when the queue is empty or when the output buffer could not take the
 * worst case of one more input, so no output is ever dropped.
 */
static void run_batch(struct corethread *ct)
{
    struct core_input in;
    size_t n_pending = 0, fed = 0, room = ct->cfg.outputs_cap - core_max_outputs(ct->cfg.core);
    int got = queue_pop(&ct->inputs, &in, ct->n_sys_pending ? 0 : wait_budget_ms(ct));

    fed += feed_pending_system(ct, &n_pending, room);
    while (got == 1) {
        feed(ct, &in, &n_pending);
        fed++;
        got = n_pending <= room ? queue_pop(&ct->inputs, &in, 0) : 0;
    }
    fed += feed_schedule(ct, &n_pending, room);
    if (n_pending <= room && core_next_deadline(ct->cfg.core) <= core_now_ms(ct)) {
        make_tick(&in);
        feed(ct, &in, &n_pending);
        fed++;
    }
    if (fed == 0)
        return;
    journal_sync_batch(ct);
    for (size_t i = 0; i < n_pending; i++)
        deliver_output(ct, &ct->cfg.outputs[i]);
}

/* True when every lossless sink has made durable every event this process delivered. */
static bool sinks_durable(const struct corethread *ct)
{
    return sink_set_durable_seq(&ct->sinks) >= ct->last_delivered_seq;
}

/*
 * Recovery re-feeds the journal after its newest snapshot and re-delivers
 * what that produces, so a new snapshot bounds both recovery time and the
 * duplicates a restart sends. It is written only when every lossless sink
 * has made durable every event delivered: events still waiting in a sink's
 * buffer stay covered by the journal.
 */
static void maybe_snapshot(struct corethread *ct)
{
    if (!ct->journal || !sinks_durable(ct))
        return;
    /* A rotation starts its segment with a snapshot too: same rule. */
    jrnl_maybe_rotate(ct->journal, ct->cfg.site, ct->opt.config_path, ct->cfg.core, clock_wall_ms());
    if (ct->inputs_since_snapshot < SNAPSHOT_EVERY_INPUTS)
        return;
    if (jrnl_begin(ct->journal, ct->cfg.site, ct->opt.config_path, ct->cfg.core) == 0) {
        ct->inputs_since_snapshot = 0;
        journal_caught_up(ct);
    }
}

/* A one-line summary for systemctl status, refreshed every few seconds. */
static void report_status(struct corethread *ct, uint64_t now_ms)
{
    int up = 0, active = 0;
    struct poll_device_stats st;
    struct pub_stats ps;

    if (now_ms < ct->next_status_mono_ms)
        return;
    ct->next_status_mono_ms = now_ms + 5000;
    for (int i = 0; i < ct->cfg.site->n_devices; i++) {
        poll_get_stats(ct->pollers, i, &st);
        up += st.up;
    }
    for (size_t a = 0; a < core_alarm_count(ct->cfg.core); a++) {
        enum core_alarm_state s = core_alarm_state(ct->cfg.core, (int)a);
        active += s == CORE_S_ACTIVE_UNACKED || s == CORE_S_ACTIVE_ACKED || s == CORE_S_RTN_UNACKED;
    }
    pub_get_stats(mqtt_sink_pub(ct->mqtt), &ps);
    svc_status("devices %d/%d up, %d alarms not normal, broker %s", up, ct->cfg.site->n_devices, active,
               ps.connected[0] ? "connected" : "disconnected");
}

/*
 * Pings systemd's watchdog only while the poll workers and this loop both
 * cycle. The publisher is left out on purpose: its progress stalls during a
 * broker outage, and restarting vigild then would help nobody.
 */
static void feed_watchdog(struct corethread *ct)
{
    uint64_t progress[2] = {poll_progress(ct->pollers), ++ct->core_progress};

    svc_watchdog_feed(&ct->watchdog, clock_mono_ms(), progress, 2);
}

/*
 * Feeds the periodic self_test event every mqtt.self_test_s, the first one
 * that long after start. It travels the whole chain (core, journal, every
 * path) like an alarm panel's periodic test report, so a station that
 * misses it knows the chain is broken even while heartbeats still arrive.
 */
static void self_test(struct corethread *ct, uint64_t now_ms)
{
    uint64_t period_ms = (uint64_t)ct->cfg.site->mqtt.self_test_s * 1000u;

    if (period_ms == 0 || ct->next_self_test_mono_ms == 0) {
        ct->next_self_test_mono_ms = period_ms ? now_ms + period_ms : 0;
        return;
    }
    if (now_ms < ct->next_self_test_mono_ms)
        return;
    /* From now, not from the due time: a stalled loop must not fire a burst of tests. */
    ct->next_self_test_mono_ms = now_ms + period_ms;
    feed_system(ct, CORE_SYS_SELF_TEST, true, "periodic self-test");
}

/*
 * Keeps state_dir inside site.state_max_mb: the journal is trimmed oldest
 * first, never from the segment recovery starts in (a snapshot is written
 * only when every lossless sink has made durable what came before it:
 * maybe_snapshot()), and storage_low is raised at 90 % of the budget and
 * cleared below 80 %.
 */
static void check_storage(struct corethread *ct, uint64_t now_ms)
{
    char text[160];
    int change;

    if (now_ms < ct->next_storage_mono_ms)
        return;
    ct->next_storage_mono_ms = now_ms + STORAGE_CHECK_MS;
    ct->budget.max_bytes = (uint64_t)ct->cfg.site->state_max_mb << 20;
    change = statedir_enforce(&ct->budget, ct->state_dir, ct->journal,
                              ct->journal ? jrnl_snapshot_segment(ct->journal) : 0, text, sizeof(text));
    if (change > 0)
        log_warn("state: storage_low: %s", text);
    else if (change < 0)
        log_notice("state: storage_low cleared: %s", text);
    if (change)
        feed_system(ct, CORE_SYS_STORAGE_LOW, change > 0, text);
}

/* --- start, reload, stop -------------------------------------------------- */

/*
 * The bytes of an input that mean something: the header and the member of
 * the union its type uses. A sample is 48 of the 272 bytes a command needs,
 * and samples are nearly everything queued, so the queue carries only these.
 */
static size_t input_len(const void *item)
{
    const struct core_input *in = item;
    size_t head = offsetof(struct core_input, u);

    switch (in->type) {
    case CORE_IN_SAMPLE: return head + sizeof(in->u.sample);
    case CORE_IN_COMM: return head + sizeof(in->u.comm);
    case CORE_IN_TICK: return head;
    case CORE_IN_RECEIPT: return head + sizeof(in->u.receipt);
    case CORE_IN_CMD:
    case CORE_IN_SYSTEM: break;
    }
    return sizeof(*in);
}

/* The input queue: room for INPUT_QUEUE_CAP samples, or fewer larger inputs. */
static int init_inputs(struct queue *q)
{
    struct core_input sample = {.type = CORE_IN_SAMPLE};

    return queue_init_varlen(q, sizeof(struct core_input), INPUT_QUEUE_CAP * queue_item_bytes(input_len(&sample)),
                             input_len);
}

/* An output buffer for one batch of core c; *cap gets its size. NULL on OOM. */
static struct core_output *new_outputs(const struct core *c, size_t *cap)
{
    *cap = core_max_outputs(c) + BATCH_OUTPUTS;
    return calloc(*cap, sizeof(struct core_output));
}

/* Builds what a config needs beside its site: core, output batch, device states. 0, or -1 on OOM. */
static int build_set(struct config_set *c, struct cfg_site *site)
{
    *c = (struct config_set){.site = site, .core = core_new(site)};
    c->devs = calloc((size_t)site->n_devices + 1, sizeof(struct dev_state));
    if (c->core)
        c->outputs = new_outputs(c->core, &c->outputs_cap);
    return c->core && c->outputs && c->devs ? 0 : -1;
}

static void free_set(struct config_set *c)
{
    core_free(c->core);
    cfg_free(c->site);
    free(c->outputs);
    free(c->devs);
    memset(c, 0, sizeof(*c));
}

/* --state-dir, then systemd's $STATE_DIRECTORY, then the config's. */
static void choose_state_dir(struct corethread *ct)
{
    const char *dir = ct->opt.state_dir ? ct->opt.state_dir : getenv("STATE_DIRECTORY");

    snprintf(ct->state_dir, sizeof(ct->state_dir), "%s", dir ? dir : ct->cfg.site->state_dir);
}

/*
 * Creates the state directory if it is missing; 0, or -1 with the reason
 * in err. A missing parent or a read-only file system is no reason to stop
 * watching: the caller runs without a journal and tries again later.
 */
static int make_state_dir(const struct corethread *ct, char *err, size_t errlen)
{
    if (mkdir(ct->state_dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create directory %s: %s", ct->state_dir, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * One vigild per state directory: a second one exits here, before it opens
 * the journal or connects to a broker, so the first is not disturbed.
 * Returns 0 with the lock held, 1 if it cannot be taken here (a missing or
 * read-only directory: logged at start, tried again with the journal), -1
 * if another process holds it.
 */
static int lock_state_dir(struct corethread *ct, bool quiet)
{
    char err[1024];
    int rc = statedir_lock(ct->state_dir, &ct->state_lock_fd, err, sizeof(err));

    ct->state_locked = rc == 0;
    if (rc == 1)
        log_err("vigild: %s", err);
    else if (rc < 0 && !quiet)
        log_warn("state: %s; a second vigild on this directory would not be stopped", err);
    return rc == 1 ? -1 : rc < 0;
}

/* Gauges of the gateway health line, read on the InfluxDB writer's thread. */
static uint64_t gauge_input_queue(void *arg)
{
    struct corethread *ct = arg;
    return queue_length(&ct->inputs);
}

static uint64_t gauge_mqtt_pending(void *arg)
{
    struct corethread *ct = arg;
    struct pub_stats ps;
    pub_get_stats(mqtt_sink_pub(ct->mqtt), &ps);
    return ps.pending;
}

/* The InfluxDB sink, when the config has an influx group (docs/influx.md). */
static int start_influx(struct corethread *ct)
{
    char err[512] = "";
    struct influx_options io = {
        .site = ct->cfg.site,
        .state_dir = ct->state_dir,
        .gauges = {{"input_queue", gauge_input_queue, ct}, {"mqtt_pending", gauge_mqtt_pending, ct}},
        .n_gauges = 2,
    };
    struct influx *ix;

    if (!ct->cfg.site->influx.enabled)
        return 0;
    ix = influx_start(&io, err, sizeof(err));
    if (!ix) {
        log_err("%s", err);
        return -1;
    }
    sink_set_add(&ct->sinks, &influx_sink_ops, ix);
    return 0;
}

/* Every start of a site without operators says what that means (docs/commands.md). */
static void warn_unsigned(const struct cfg_site *site)
{
    if (site->n_operators == 0)
        log_warn("commands: no operators configured: commands are not signed, and anyone who can publish to "
                 "the broker can disarm a store; add an operators list (docs/commands.md)");
}

/* The live points view for vigilctl points and walktest report. */
static int start_points(struct corethread *ct)
{
    char err[512];
    void *p = points_sink_start(ct->cfg.site, ct->state_dir, err, sizeof(err));

    /* An engineer's view: without it (a read-only state directory) the site is still watched. */
    if (!p) {
        log_err("%s; vigilctl points and walktest report are unavailable", err);
        return 0;
    }
    sink_set_add(&ct->sinks, &points_sink_ops, p);
    return 0;
}

/* The built-in sinks (MQTT, InfluxDB, the points view), then the caller's. */
static int start_sinks(struct corethread *ct)
{
    char err[512];
    struct mqtt_sink_options mo = {
        .pub = {.site = ct->cfg.site, .state_dir = ct->state_dir, .version = ct->opt.version,
                .inputs = &ct->inputs, .gate = ct->gate},
    };

    ct->mqtt = mqtt_sink_start(&mo, err, sizeof(err));
    if (!ct->mqtt) {
        log_err("mqtt: %s", err);
        return -1;
    }
    sink_set_add(&ct->sinks, &mqtt_sink_ops, ct->mqtt);
    if (start_influx(ct) < 0 || start_points(ct) < 0)
        return -1;
    for (int i = 0; i < ct->opt.n_extra_sinks; i++)
        if (sink_set_add(&ct->sinks, ct->opt.extra_sinks[i].ops, ct->opt.extra_sinks[i].self) < 0) {
            log_err("core: more than %d sinks", SINK_MAX);
            return -1;
        }
    return 0;
}

static void deliver_recovered(const struct core_output *o, void *arg)
{
    deliver_output(arg, o);
}

/* Tells every sink where numbering resumes (the last seq an earlier process handed out). */
static void deliver_resume(struct corethread *ct)
{
    memset(&ct->rec.rec, 0, sizeof(ct->rec.rec));
    ct->rec.rec.kind = SINK_RESUME;
    ct->rec.rec.wall_ms = clock_wall_ms();
    ct->rec.rec.u.resume.next_seq = core_next_seq(ct->cfg.core);
    ct->rec.rec.u.resume.epoch = core_epoch(ct->cfg.core);
    deliver(ct);
}

/* Opens the journal for writing in <state_dir>/journal; NULL with the reason in err. */
static struct jrnl *open_journal_writer(const struct corethread *ct, char *err, size_t errlen)
{
    char dir[CFG_PATH_MAX + 16];
    uint64_t budget = (uint64_t)ct->cfg.site->state_max_mb << 20;
    struct jrnl_options jo = {.dir = dir, .segment_bytes = statedir_segment_bytes(budget),
                              .retention_days = ct->cfg.site->journal_retention_days};

    snprintf(dir, sizeof(dir), "%s/journal", ct->state_dir);
    return jrnl_open(&jo, err, errlen);
}

/*
 * Start without a journal: the directory is missing, read-only or
 * unwritable. vigild polls, evaluates and publishes all the same, raises
 * journal_fault and tries again every JOURNAL_RETRY_MS (retry_journal()).
 */
static void run_without_journal(struct corethread *ct, const char *why)
{
    char text[1024];

    snprintf(text, sizeof(text), "journal cannot be opened: %s; alarms go out but would not survive a restart",
             why);
    set_journal_fault(ct, true, text);
    ct->next_journal_retry_mono_ms = clock_mono_ms() + JOURNAL_RETRY_MS;
}

/*
 * Recovers the core from the journal (a read-only directory can still be
 * read) and opens it for writing. Returns -1 only if recovery fails; a
 * journal that cannot be opened for writing means running without one.
 */
static int open_journal(struct corethread *ct, bool dir_ok, const char *dir_err)
{
    char dir[CFG_PATH_MAX + 16], err[512];
    struct jrnl_replay_info info;
    bool hwm_ok = load_hwm(ct);
    long replayed;
    uint64_t last_mono;
    int64_t last_wall;

    snprintf(dir, sizeof(dir), "%s/journal", ct->state_dir);
    /* Recovery replays what the journal holds after its newest snapshot and
     * re-delivers it: at-least-once, a station drops duplicates by (epoch, seq). */
    replayed = jrnl_recover(dir, ct->cfg.site, ct->cfg.core, deliver_recovered, ct, &info, err, sizeof(err));
    if (replayed < 0) {
        log_err("journal: recovery failed: %s", err);
        return -1;
    }
    begin_numbering(ct, &info, hwm_ok);
    if (replayed > 0)
        log_notice("journal: recovered state from %s inputs=%ld next_seq=%llu", dir, replayed,
                   (unsigned long long)core_next_seq(ct->cfg.core));
    ct->journal = dir_ok ? open_journal_writer(ct, err, sizeof(err)) : NULL;
    if (!ct->journal) {
        run_without_journal(ct, dir_ok ? err : dir_err);
        return 0;
    }
    jrnl_last_clocks(ct->journal, &last_mono, &last_wall);
    if (last_mono > clock_mono_ms())
        ct->mono_offset_ms = last_mono - clock_mono_ms();
    ct->last_mono_ms = last_mono;
    /* The events recovery just re-delivered may sit in a sink's buffer,
     * not yet durable: a snapshot now would drop them from the next
     * recovery. maybe_snapshot() writes it once every sink is durable. */
    if (replayed > 0) {
        ct->inputs_since_snapshot = SNAPSHOT_EVERY_INPUTS;
        return 0;
    }
    /* a journal that opens but cannot take its first snapshot (a full disk) is a fault, not a reason to stop */
    if (jrnl_begin(ct->journal, ct->cfg.site, ct->opt.config_path, ct->cfg.core) < 0)
        ct->journal_failed = true;
    return 0;
}

static int start_pollers(struct corethread *ct)
{
    char err[512];

    ct->pollers = poll_start(ct->cfg.site, &ct->inputs, err, sizeof(err));
    if (!ct->pollers)
        log_err("modbus: %s", err);
    return ct->pollers ? 0 : -1;
}

static int start(struct corethread *ct)
{
    char text[64];

    char dir_err[256] = "";
    bool dir_ok;

    ct->last_mono_ms = clock_mono_ms();
    choose_state_dir(ct);
    dir_ok = make_state_dir(ct, dir_err, sizeof(dir_err)) == 0;
    if (!dir_ok)
        log_err("state: %s; running without a journal", dir_err);
    if ((dir_ok && lock_state_dir(ct, false) < 0) ||
        init_inputs(&ct->inputs) < 0)
        return -1;
    ct->gate = cmdgate_new(ct->cfg.site);
    if (!ct->gate)
        return -1;
    warn_unsigned(ct->cfg.site);
    if (build_set(&ct->cfg, ct->cfg.site) < 0 || start_sinks(ct) < 0 || open_journal(ct, dir_ok, dir_err) < 0)
        return -1;
    deliver_resume(ct);
    start_schedule(ct);
    deliver_zones(ct, NULL);
    deliver_tested(ct);
    snprintf(text, sizeof(text), "vigild %s started", ct->opt.version);
    feed_numbered_system(ct, CORE_SYS_GATEWAY_RESTARTED, text, 0);
    if (start_pollers(ct) < 0)
        return -1;
    svc_watchdog_init(&ct->watchdog);
    svc_ready("started");
    log_notice("vigild: started site=%s devices=%d points=%d zones=%d state_dir=%s", ct->cfg.site->id,
               ct->cfg.site->n_devices, ct->cfg.site->n_points, ct->cfg.site->n_zones, ct->state_dir);
    return 0;
}

struct corethread *ct_start(struct cfg_site *site, const struct corethread_options *o)
{
    struct corethread *ct = calloc(1, sizeof(*ct));

    if (!ct) {
        cfg_free(site);
        log_err("vigild: out of memory");
        return NULL;
    }
    ct->opt = *o;
    ct->cfg.site = site;
    if (start(ct) < 0) {
        ct_stop(ct);
        return NULL;
    }
    return ct;
}

/*
 * While vigild runs without a journal: every JOURNAL_RETRY_MS, creates the
 * state directory, takes its lock and opens the journal. Once it opens, it
 * starts with a snapshot of the core as it is now (what happened meanwhile
 * was published, not journaled) and journal_fault clears. Another vigild
 * that took the directory meanwhile keeps this one without a journal.
 */
static void retry_journal(struct corethread *ct, uint64_t now_ms)
{
    char err[1024];

    if (ct->journal || now_ms < ct->next_journal_retry_mono_ms)
        return;
    ct->next_journal_retry_mono_ms = now_ms + JOURNAL_RETRY_MS;
    if (make_state_dir(ct, err, sizeof(err)) < 0)
        return;
    if (!ct->state_locked && lock_state_dir(ct, true) < 0)
        return;
    ct->journal = open_journal_writer(ct, err, sizeof(err));
    if (!ct->journal)
        return;
    if (jrnl_begin(ct->journal, ct->cfg.site, ct->opt.config_path, ct->cfg.core) < 0) {
        jrnl_close(ct->journal);
        ct->journal = NULL;
        return;
    }
    ct->inputs_since_snapshot = 0;
    snprintf(err, sizeof(err), "journal open in %s/journal, starting from the current state", ct->state_dir);
    set_journal_fault(ct, false, err);
}

/*
 * Stops the pollers with everything they queued fed to the running core: a
 * queued sample or comm change names its point or device by the running
 * config's index, so none may reach a core built from another config.
 * Draining before the stop as well keeps a poller from blocking on a full
 * queue that nobody empties while poll_stop() waits for it.
 */
static void stop_pollers_drained(struct corethread *ct)
{
    while (queue_length(&ct->inputs) > 0)
        run_batch(ct);
    poll_stop(ct->pollers);
    ct->pollers = NULL;
    while (queue_length(&ct->inputs) > 0)
        run_batch(ct);
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
static void reject_config(struct corethread *ct, const char *err)
{
    char text[CORE_ERROR_MAX];
    int errors = 0;

    for (const char *line = err; *line; errors++) {
        size_t n = strcspn(line, "\n");

        log_err("reload: %.*s", (int)n, line);
        line += n + (line[n] == '\n');
    }
    log_err("reload: config=%s rejected errors=%d; still running on the previous one", ct->opt.config_path,
            errors);
    rejection_text(err, text, sizeof(text));
    feed_system(ct, CORE_SYS_CONFIG_REJECTED, true, text);
    svc_ready("reload rejected");
}

/*
 * Builds everything site needs into c (which owns site from here on) and
 * moves the running core's state over by id: alarms, zones and points that
 * keep their id keep their state, so an acknowledged alarm stays
 * acknowledged and raises no new event. Returns 0, or -1 with c to free.
 */
static int build_config(struct corethread *ct, struct cfg_site *site, struct config_set *c)
{
    size_t len = core_snapshot(ct->cfg.core, NULL, 0);
    void *snap = malloc(len);
    int rc = -1;

    if (build_set(c, site) == 0 && snap && core_snapshot(ct->cfg.core, snap, len) == len &&
        core_restore(c->core, snap, len) == 0)
        rc = 0;
    free(snap);
    return rc;
}

static void swap_config(struct corethread *ct, struct config_set *c)
{
    struct config_set running = ct->cfg;

    ct->cfg = *c;
    *c = running;
}

static void deliver_retire(struct corethread *ct, enum sink_object object, const char *id)
{
    rec_retire(&ct->rec, object, id, clock_wall_ms());
    deliver(ct);
}

/*
 * After a switch from old: retires the alarms that needed attention, the
 * devices and the zones the new config no longer has, and delivers the
 * zones it adds, so every sink's view matches the running config. A
 * removed alarm gets no event: no core knows it any more.
 */
static void retire_removed(struct corethread *ct, const struct config_set *old)
{
    for (size_t a = 0; a < core_alarm_count(old->core); a++) {
        enum core_alarm_state s = core_alarm_state(old->core, (int)a);
        const char *id = core_alarm_info(old->core, (int)a)->id;

        if (s != CORE_S_NORMAL && s != CORE_S_SUPPRESSED && s != CORE_S_EVENT &&
            core_find_alarm(ct->cfg.core, id) < 0)
            deliver_retire(ct, SINK_OBJ_ALARM, id);
    }
    for (int i = 0; i < old->site->n_devices; i++)
        if (cfg_find_device(ct->cfg.site, old->site->devices[i].id) < 0)
            deliver_retire(ct, SINK_OBJ_DEVICE, old->site->devices[i].id);
    for (int z = 0; z < old->site->n_zones; z++)
        if (cfg_find_zone(ct->cfg.site, old->site->zones[z].id) < 0)
            deliver_retire(ct, SINK_OBJ_ZONE, old->site->zones[z].id);
    deliver_zones(ct, old->site);
}

/* The switch to c succeeded: tell the sinks, journal the new config. */
static void applied(struct corethread *ct, struct config_set *old)
{
    cmdgate_configure(ct->gate, ct->cfg.site);
    warn_unsigned(ct->cfg.site);
    sink_set_reconfigure(&ct->sinks, ct->cfg.site);
    configure_local_output(ct);
    retire_removed(ct, old);
    deliver_tested(ct);
    free_set(old);
    if (ct->journal)
        jrnl_begin(ct->journal, ct->cfg.site, ct->opt.config_path, ct->cfg.core);
    log_notice("reload: config=%s loaded devices=%d zones=%d points=%d next_seq=%llu", ct->opt.config_path,
               ct->cfg.site->n_devices, ct->cfg.site->n_zones, ct->cfg.site->n_points,
               (unsigned long long)core_next_seq(ct->cfg.core));
    svc_ready("reloaded");
}

/*
 * Switches to a new, valid site: stop the pollers (their queued inputs go
 * to the old core), move the core's state over by id, switch, and start
 * the pollers on the new config. If they cannot start, the old config is
 * put back. Returns -1 only if the pollers of neither config start.
 */
static int apply_reload(struct corethread *ct, struct cfg_site *site)
{
    struct config_set c;

    stop_pollers_drained(ct);
    if (build_config(ct, site, &c) == 0) {
        swap_config(ct, &c);
        if (start_pollers(ct) == 0) {
            applied(ct, &c);
            return 0;
        }
        swap_config(ct, &c);
    }
    free_set(&c);
    if (start_pollers(ct) < 0) {
        log_err("reload: cannot restart the pollers of the previous config; stopping");
        return -1;
    }
    reject_config(ct, "the new configuration is valid but could not be applied; see the log");
    return 0;
}

/* The reload time bound: RELOAD_TIMEOUT_MS, or $VIGIL_RELOAD_TIMEOUT_MS (ms, > 0) for slow storage and tests. */
static uint64_t reload_timeout_ms(void)
{
    const char *env = getenv("VIGIL_RELOAD_TIMEOUT_MS");
    char *end;
    unsigned long long ms = env ? strtoull(env, &end, 10) : 0;

    return env && *env && !*end && ms > 0 ? ms : RELOAD_TIMEOUT_MS;
}

/*
 * SIGHUP: starts reading the config off the core thread (cfgreload.h);
 * check_reload() takes the result. A signal while a read is running is
 * refused with config_rejected, as is a read that cannot start.
 */
void ct_reload(struct corethread *ct)
{
    char err[256];

    if (ct->reload || ct->reload_ready) {
        log_notice("reload: config=%s is still being read or applied; this request is ignored",
                   ct->opt.config_path);
        return;
    }
    svc_reloading();
    ct->reload = cfgreload_start(ct->opt.config_path, ct->opt.profile_dir, err, sizeof(err));
    if (!ct->reload) {
        reject_config(ct, err);
        return;
    }
    ct->reload_timeout_ms = reload_timeout_ms();
    ct->reload_deadline_mono_ms = clock_mono_ms() + ct->reload_timeout_ms;
}

/* Rejects a reload that took longer than the bound (abandoned, or finished late). */
static void reject_slow_reload(struct corethread *ct)
{
    uint64_t ms = ct->reload_timeout_ms;
    char err[CFG_PATH_MAX + 128];

    snprintf(err, sizeof(err), "%s: reading the configuration took longer than %llu %s; a file system may be "
             "stalled", ct->opt.config_path, (unsigned long long)(ms % 1000 ? ms : ms / 1000), ms % 1000 ? "ms" : "s");
    reject_config(ct, err);
}

/*
 * The switch writes a journal snapshot of the new config, after which
 * recovery re-feeds nothing older: an event a sink still held in memory
 * alone would not be sent again after a crash. So a read config waits for
 * every lossless sink to be durable (the broker usually acknowledges within
 * milliseconds), at most RELOAD_DURABLE_WAIT_MS: an engineer fixing the
 * broker address during an outage must still be able to reload.
 */
static int apply_when_durable(struct corethread *ct, uint64_t now_ms)
{
    struct cfg_site *site = ct->reload_ready;
    bool durable = !ct->journal || sinks_durable(ct);

    if (!durable && now_ms < ct->reload_ready_deadline_mono_ms)
        return 0;
    if (!durable)
        log_warn("reload: the station has not acknowledged the events after seq %llu (up to %llu) within %d s; "
                 "switching anyway: until the broker takes them they are kept by the MQTT client, no longer "
                 "by the journal's recovery",
                 (unsigned long long)sink_set_durable_seq(&ct->sinks),
                 (unsigned long long)ct->last_delivered_seq, RELOAD_DURABLE_WAIT_MS / 1000);
    ct->reload_ready = NULL;
    return apply_reload(ct, site);
}

/* A valid config was read: switched to at once, or once the sinks are durable. */
static int reload_read(struct corethread *ct, struct cfg_site *site, uint64_t now_ms)
{
    ct->reload_ready = site;
    ct->reload_ready_deadline_mono_ms = now_ms + RELOAD_DURABLE_WAIT_MS;
    if (ct->journal && !sinks_durable(ct)) {
        log_info("reload: config=%s is valid; switching once the station has acknowledged the events up to "
                 "seq %llu", ct->opt.config_path, (unsigned long long)ct->last_delivered_seq);
        return 0;
    }
    return apply_when_durable(ct, now_ms);
}

/*
 * Each round while a config is being read: a valid one is switched to, an
 * invalid one changes nothing and raises config_rejected, and one that
 * took longer than the time bound is abandoned (or, finished but late,
 * dropped) with config_rejected: a stalled file system must not keep the
 * site on a reload forever, and the running config goes on. Returns -1
 * only if apply_reload() does.
 */
static int check_reload(struct corethread *ct, uint64_t now_ms)
{
    static char err[16384];
    struct cfg_site *site;
    uint64_t took_ms;

    if (ct->reload_ready)
        return apply_when_durable(ct, now_ms);
    if (!ct->reload)
        return 0;
    if (cfgreload_poll(ct->reload, &site, &took_ms, err, sizeof(err)) == 1) {
        ct->reload = NULL;
        if (took_ms > ct->reload_timeout_ms) {
            cfg_free(site);
            reject_slow_reload(ct);
        } else if (site) {
            return reload_read(ct, site, now_ms);
        } else {
            reject_config(ct, err);
        }
        return 0;
    }
    if (now_ms >= ct->reload_deadline_mono_ms) {
        cfgreload_abandon(ct->reload);
        ct->reload = NULL;
        reject_slow_reload(ct);
    }
    return 0;
}

int ct_round(struct corethread *ct)
{
    uint64_t now_ms;

    run_batch(ct);
    maybe_snapshot(ct);
    now_ms = clock_mono_ms();
    self_test(ct, now_ms);
    feed_watchdog(ct);
    report_status(ct, now_ms);
    deliver_devices(ct, now_ms);
    check_storage(ct, now_ms);
    retry_journal(ct, now_ms);
    sink_set_tick(&ct->sinks, now_ms, clock_wall_ms());
    return check_reload(ct, now_ms);
}

void ct_stop(struct corethread *ct)
{
    bool durable;

    svc_stopping();
    if (ct->reload)
        cfgreload_abandon(ct->reload);
    cfg_free(ct->reload_ready);
    /* Closed first: a poller blocked on a full queue then returns at once. */
    queue_close(&ct->inputs);
    if (ct->pollers)
        poll_stop(ct->pollers);
    durable = sinks_durable(ct);
    sink_set_stop(&ct->sinks);
    cmdgate_free(ct->gate); /* after the MQTT sink: its callbacks use the gate until it stops */
    if (ct->journal) {
        /* A final snapshot: the next start re-feeds nothing. What a broker
         * had not acknowledged stays in the MQTT client's store; only what
         * a sink held in memory alone is not there, and then the next
         * start re-delivers from the journal instead. */
        if (ct->cfg.core && durable &&
            jrnl_begin(ct->journal, ct->cfg.site, ct->opt.config_path, ct->cfg.core) == 0)
            journal_caught_up(ct);
        jrnl_sync(ct->journal);
        jrnl_close(ct->journal);
    }
    free_set(&ct->cfg);
    queue_destroy(&ct->inputs);
    free(ct);
    log_notice("vigild: stopped");
}
