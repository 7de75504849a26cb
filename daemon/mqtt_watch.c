/*
 * mqtt_watch.c - the publisher's supervision thread: commands into the
 * core's input queue, overflow rings into paho, and the core's system
 * alarms about the paths.
 *
 * Every WATCH_MS it forwards the commands mqtt_inbound.c queued (never
 * blocking: while the core's queue is full they wait in the ring, then with
 * paho) and drains the paths' overflow rings as paho makes room; every
 * CHECK_MS it measures the paths and raises, through the inputs queue,
 * path_fault while a path has been down for mqtt.path_fault_s and
 * spool_full while a path's spool is at 90 % of max_buffered (cleared below
 * 50 % on every path) or its store's file system is nearly full or cannot
 * be written.
 */
#include "mqtt_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "clock.h"

#define WATCH_MS 100               /* the supervision thread's period: drains, commands */
#define CHECK_MS 500               /* spool levels, disk space and path states */
#define SPOOL_HIGH_PCT 90          /* spool_full at this fill level of a path ... */
#define SPOOL_LOW_PCT 50           /* ... cleared below this one on every path */
#define MIN_FREE_INODES 256        /* paho writes one file per message */
#define TLS_DIAGNOSE_MS 2000       /* bound on each step of a TLS diagnosis */

/* Pushes a system alarm change to the core; false once the queue is closed. */
static bool push_system(struct pub *p, enum core_sys_kind kind, bool active, const char *text)
{
    struct core_input in;

    core_system_input(&in, kind, active, text, 0, 0); /* the core thread stamps it */
    return queue_push(p->inputs, &in) == 0;
}

/* Moves queued commands to the core's queue; blocks while that is full. */
/* Returns true if commands had to stay in the ring because the queue is full. */
static bool forward_commands(struct pub *p)
{
    int rc = 1;

    /* Never blocks: while the core's queue is full the commands wait in the
     * ring (and then with paho), and this thread goes on draining the
     * message rings and watching the paths. */
    pthread_mutex_lock(&p->lock);
    while (p->cmd_count > 0 && rc != 0) {
        rc = queue_try_push(p->inputs, &p->cmds[p->cmd_head]);
        if (rc < 0)
            log_warn("mqtt: command id=\"%s\" arrived during shutdown; not executed",
                     p->cmds[p->cmd_head].u.cmd.id);
        if (rc != 0) {
            p->cmd_head = (p->cmd_head + 1) % CMD_RING;
            p->cmd_count--;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return rc == 0;
}

/*
 * Moves receipted seqs to the core's queue as CORE_IN_RECEIPT inputs of up
 * to CORE_RECEIPT_SEQS each of one epoch, oldest first; never blocks.
 * Returns true if some had to stay in the ring because the queue is full.
 */
static bool forward_receipts(struct pub *p)
{
    int rc = 1;

    pthread_mutex_lock(&p->lock);
    while (p->rcpt_count > 0 && rc > 0) {
        struct core_input in = {.type = CORE_IN_RECEIPT};
        const struct rcpt_seq *r = &p->rcpts[p->rcpt_head];

        in.u.receipt.epoch = r->epoch;
        for (size_t i = 0; i < CORE_RECEIPT_SEQS && i < p->rcpt_count && r->epoch == in.u.receipt.epoch; i++) {
            in.u.receipt.seqs[in.u.receipt.n++] = r->seq;
            r = &p->rcpts[(p->rcpt_head + i + 1) % RCPT_RING];
        }
        rc = queue_try_push(p->inputs, &in);
        if (rc != 0) { /* taken, or shutting down: either way they leave the ring */
            p->rcpt_head = (p->rcpt_head + in.u.receipt.n) % RCPT_RING;
            p->rcpt_count -= in.u.receipt.n;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return rc == 0;
}

/*
 * Whether the file system of the path's store is nearly full, with
 * hysteresis: low below min_free_bytes (or MIN_FREE_INODES), fine again
 * from twice that. paho does not report a failed write of its store (the
 * message stays in memory and is still sent), so this is the only warning.
 */
static bool check_disk(struct pub_path *path, uint64_t *free_bytes)
{
    uint64_t min_free = path->pub->min_free_bytes;
    struct statvfs st;
    bool inodes_low;

    /* a path without a store has no disk to watch: journal_fault already tells the station */
    if (path->in_memory || statvfs(path->store, &st) < 0)
        return path->disk_low;
    *free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
    inodes_low = st.f_files > 0 && st.f_favail < (path->disk_low ? 2 : 1) * MIN_FREE_INODES;
    path->disk_low = *free_bytes < (path->disk_low ? 2 : 1) * min_free || inodes_low;
    if (path->disk_low)
        atomic_store(&path->suspect, true);
    return path->disk_low;
}

/* One path's spool as the supervision thread measured it. */
struct spool_reading {
    uint64_t level;             /* accepted, not acknowledged: paho's pending plus the overflow ring */
    uint64_t free_bytes;        /* on the store's file system */
    bool disk_low;
    int write_errno;            /* the store cannot be written; 0 if it can */
};

/*
 * Measures one path. A path stops being suspect (messages in paho's memory
 * only) once its store works and the broker has acknowledged everything.
 */
static void read_spool(struct pub_path *path, struct spool_reading *r)
{
    uint64_t pending = mqtt_path_pending(path);

    r->free_bytes = 0;
    r->disk_low = check_disk(path, &r->free_bytes);
    if (atomic_load(&path->write_errno) && !r->disk_low)
        mqtt_store_probe(path);
    r->write_errno = atomic_load(&path->write_errno);
    r->level = pending + mqtt_ring_count(path);
    if (!r->disk_low && !r->write_errno && pending == 0)
        atomic_store(&path->suspect, false);
}

/* Whether a reading calls for spool_full, with the reason in text. */
static bool spool_high(const struct pub_path *path, const struct spool_reading *r, char *text, size_t cap)
{
    int bound = path->pub->bound;

    if (r->write_errno)
        snprintf(text, cap, "MQTT spool disk cannot be written (%s) in %s on path %d", strerror(r->write_errno),
                 path->store, path->n);
    else if (r->disk_low)
        snprintf(text, cap, "MQTT spool disk nearly full: %" PRIu64 " KiB free for %s on path %d",
                 r->free_bytes / 1024, path->store, path->n);
    else if (r->level * 100 >= (uint64_t)bound * SPOOL_HIGH_PCT)
        snprintf(text, cap, "MQTT spool at %" PRIu64 "%% of %d messages on path %d", r->level * 100 / (uint64_t)bound,
                 bound, path->n);
    else
        return false;
    return true;
}

/*
 * Measures every path and says whether any is above the low mark; *high
 * whether any calls for spool_full, the first one's reason in text.
 */
static bool spool_state(struct pub *p, bool *high, char *text, size_t cap)
{
    bool above_low = false;

    *high = false;
    for (int i = 0; i < p->n_paths; i++) {
        struct spool_reading r;

        read_spool(&p->paths[i], &r);
        above_low |= r.disk_low || r.write_errno || r.level * 100 >= (uint64_t)p->bound * SPOOL_LOW_PCT;
        if (!*high)
            *high = spool_high(&p->paths[i], &r, text, cap);
    }
    return above_low;
}

/* Raises spool_full at the high mark (or a low disk) and clears it below the low mark on every path. */
static void check_spool(struct pub *p)
{
    char text[CORE_ERROR_MAX] = "MQTT spool below 50% on every path";
    bool high, above_low = spool_state(p, &high, text, sizeof(text));
    int want = high ? 1 : above_low ? p->spool_alarm : 0;

    /* Unknown at start (-1): the core may still hold the alarm from before a restart. */
    if (want < 0)
        want = 0;
    if (want == p->spool_alarm)
        return;
    if (want)
        log_err("mqtt: spool_full: %s", text);
    else if (p->spool_alarm == 1)
        log_notice("mqtt: spool_full cleared: %s", text);
    if (push_system(p, CORE_SYS_SPOOL_FULL, want == 1, want ? text : ""))
        p->spool_alarm = want;
}

/*
 * Lists the paths down for path_fault_s in text; *all_up says whether
 * every path is connected. Returns how many are down that long.
 */
static int paths_down(struct pub *p, uint64_t now_ms, bool *all_up, char *text, size_t cap)
{
    uint64_t limit_ms = (uint64_t)p->mqtt.path_fault_s * 1000u;
    size_t used = 0;
    int down = 0;

    *all_up = true;
    text[0] = '\0';
    for (int i = 0; i < p->n_paths; i++) {
        struct pub_path *path = &p->paths[i];
        char since[MSG_TS_LEN + 1];

        if (atomic_load(&path->connected))
            continue;
        *all_up = false;
        if (now_ms - atomic_load(&path->down_since_ms) < limit_ms)
            continue;
        msg_ts(atomic_load(&path->down_since_wall_ms), since);
        if (used < cap)
            used += (size_t)snprintf(text + used, cap - used, "%spath %d %s down since %s%s%s", down ? "; " : "",
                                     path->n, path->broker.uri, since, path->tls_why[0] ? ": TLS: " : "",
                                     path->tls_why);
        down++;
    }
    return down;
}

/*
 * Once per outage of a TLS path whose connects fail, repeats the handshake
 * with OpenSSL to name the reason (mqtt_tls.h): logged, and added to the
 * path_fault text so the station reads it too. Blocks this thread for at
 * most a few TLS_DIAGNOSE_MS, once per outage.
 */
static void diagnose_tls(struct pub_path *path)
{
    if (atomic_load(&path->connected)) {
        path->tls_diagnosed = false;
        path->tls_why[0] = '\0';
        return;
    }
    if (path->tls_diagnosed || !atomic_exchange(&path->tls_failed, false))
        return;
    path->tls_diagnosed = true;
    if (mqtt_tls_diagnose(path->broker.uri, &path->tls, TLS_DIAGNOSE_MS, path->tls_why,
                          sizeof(path->tls_why)) == 1)
        log_err("mqtt: path=%d broker=%s: TLS refused: %s", path->n, path->broker.uri, path->tls_why);
    else
        path->tls_why[0] = '\0';
}

/*
 * Raises path_fault once a path has been down for path_fault_s and clears
 * it when every path is up again. The core has one path_fault alarm: its
 * text names the paths down when it was raised. With a single broker the
 * event waits in that path's buffer; the station sees the silent site by
 * the missing heartbeat first.
 */
static void check_paths(struct pub *p, uint64_t now_ms)
{
    char text[CORE_ERROR_MAX];
    bool all_up;
    int down = paths_down(p, now_ms, &all_up, text, sizeof(text));
    int want = down > 0 ? 1 : all_up ? 0 : p->path_alarm;

    /* Until a path has decided (up, or down long enough) the state stays untold. */
    if (want < 0 || want == p->path_alarm)
        return;
    if (want)
        log_err("mqtt: path_fault: %s", text);
    else if (p->path_alarm == 1)
        log_notice("mqtt: path_fault cleared: every path is connected");
    if (push_system(p, CORE_SYS_PATH_FAULT, want == 1, want ? text : ""))
        p->path_alarm = want;
}

/* Drains every path's ring as far as paho takes it, and settles failover roles. */
static void drain_paths(struct pub *p)
{
    for (int i = 0; i < p->n_paths; i++) {
        pthread_mutex_lock(&p->paths[i].lock);
        mqtt_path_settle(&p->paths[i], clock_mono_ms());
        pthread_mutex_unlock(&p->paths[i].lock);
    }
}

/* Waits up to WATCH_MS, or less when a command or the stop arrives; the full
 * WATCH_MS while commands wait for room in the core's queue (no busy loop). */
static void watch_wait(struct pub *p, bool cmds_blocked)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += WATCH_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    if ((p->cmd_count == 0 || cmds_blocked) && !atomic_load(&p->stopping))
        pthread_cond_timedwait(&p->wake, &p->lock, &until);
    pthread_mutex_unlock(&p->lock);
}

/* The supervision thread: commands to the core, rings to paho, alarms about paths and spool. */
void *mqtt_watch_main(void *arg)
{
    struct pub *p = arg;

    while (!atomic_load(&p->stopping)) {
        uint64_t now_ms;
        /* Both run every round: | rather than ||. */
        bool cmds_blocked = forward_commands(p) | forward_receipts(p);

        drain_paths(p);
        now_ms = clock_mono_ms();
        if (now_ms >= p->next_check_ms) {
            p->next_check_ms = now_ms + CHECK_MS;
            check_spool(p);
            for (int i = 0; i < p->n_paths; i++)
                diagnose_tls(&p->paths[i]);
            check_paths(p, now_ms);
        }
        watch_wait(p, cmds_blocked);
    }
    return NULL;
}
