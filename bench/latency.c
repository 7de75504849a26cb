/*
 * bench/latency.c - end-to-end latency of vigild: a contact changes in the
 * simulator, how long until the station's MQTT subscriber has the event?
 *
 * bench/latency.sh starts mosquitto, vigil-sim and vigild on a generated
 * site whose points are named pt0000, pt0001, ... (kind digital, in an
 * always-armed zone, no debounce or delay) and then runs this program,
 * which is both the hand that flips the contacts and the station:
 *
 *   1. it subscribes to vigil/<site>/events and vigil/<site>/status, waits
 *      for the retained "online" status, then lets every device be polled
 *      for --warmup-s;
 *   2. idle window (--idle-s): no flips; vigild's CPU here is the cost of
 *      polling alone;
 *   3. flip window (--flip-s): flips random points at --rate per second
 *      (a Poisson process, so flips land at every phase of the poll cycle),
 *      writing "set ptNNNN 0|1" to the simulator's control FIFO. A point is
 *      flipped again only after its previous event arrived, so the poller
 *      can never see two flips as one, and not within REFLIP_MIN_NS;
 *   4. drain: waits for the last events, then reads vigild's peak RSS.
 *
 * Each flip is stamped with CLOCK_REALTIME just before the command is
 * written, so the simulator's own reaction time is inside the measured
 * path (conservative). Each arrival is stamped by mosquitto_sub as it
 * takes the message off its socket ("%U") and reaches this program through
 * a pipe: a subscriber that does nothing else, so the figures are vigild's
 * (the paho subscriber this program had delivered about one message in 90
 * some 90 ms late to its callback; bench/README.md). An event matches the
 * pending flip of its point if its state is the one the new contact value
 * must give (1: active_unacked, 0: normal).
 * The event's "ts" (stamped by vigild's core thread when it took the
 * sample from its input queue) splits each latency into the wait for the
 * next poll (and the queue) and vigild's own path: core, journal fsync,
 * MQTT publish, broker, subscriber.
 *
 * With --peer collectd or --peer nodered the same hand times another
 * gateway on the same site (bench/peers/run.sh): the station then reads
 * "<peer>/#", where the last topic level names the point (".../gauge-pt0007"
 * from collectd's mqtt plugin, ".../pt0007" from the Node-RED flow) and the
 * payload is "<epoch seconds>:<value>"; a value of 1 matches a flip to 1,
 * 0 a flip to 0. collectd publishes every value at every poll, so most of
 * its messages repeat a value and match nothing. The first message of any
 * point stands for vigild's "online".
 *
 * --broker-pid adds the broker's CPU over the flip window; the wake-ups
 * are the gateway's context switches (every thread's voluntary and
 * involuntary, /proc/PID/task/.../status) per second of the idle window,
 * a figure the load of other processes on the machine barely moves.
 *
 * Prints one line; exits 1 if a flip got no event or the setup failed.
 * Figures are printed, never asserted: the machine decides them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "queue.h"

#define ARRIVALS_CAP 65536
#define STATUS_WAIT_S 20
#define DRAIN_MIN_MS 3000
#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL
/* A point is flipped again no sooner than this after its last flip, so it
 * rises at most once a second: bench/latency.sh sets the chatter window to
 * 1 s with the default count of 3, and chatter detection never triggers. */
#define REFLIP_MIN_NS (600 * NS_PER_MS)

enum arrival_kind { ARR_ONLINE, ARR_ACTIVE, ARR_NORMAL, ARR_OTHER };

/* One message as the subscriber saw it; copied through the queue. */
struct arrival {
    enum arrival_kind kind;
    int point;           /* index of ptNNNN, or -1 */
    int64_t t_ns;        /* CLOCK_REALTIME on arrival */
    int64_t ts_ms;       /* the event's own "ts", or 0 */
};

/* Whose messages the station reads (see the top of the file). */
enum peer { PEER_VIGILD, PEER_COLLECTD, PEER_NODERED };

struct options {
    enum peer peer;
    int broker_port, broker_pid;
    const char *site_id;
    const char *control;
    int points;
    int vigild_pid;
    int poll_ms;
    double rate;
    double warmup_s, idle_s, flip_s;
    uint64_t seed;
};

struct point {
    int value;           /* the contact as last set */
    int64_t flip_ns;     /* when it was set; 0 once its event arrived */
    int64_t last_ns;     /* when it was last set */
};

struct run {
    struct options opt;
    struct queue arrivals;
    pid_t sub_pid;       /* mosquitto_sub, the station's ear */
    FILE *sub_out;
    pthread_t sub_thread;
    bool sub_running;
    int ctl_fd;
    struct point *pts;
    double *lat_ms;      /* flip -> arrival, one per matched flip */
    double *path_ms;     /* event ts -> arrival */
    size_t cap, n_flips, n_matched;
    size_t n_other, n_unmatched, n_skipped, n_pending;
    uint64_t rng;
};

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static uint64_t rnd(struct run *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng;
}

/* Uniform in (0, 1]: never 0, so its log is finite. */
static double rnd_unit(struct run *r)
{
    return ((double)(rnd(r) >> 11) + 1.0) / 9007199254740992.0;
}

static const char *peer_name(enum peer p)
{
    return p == PEER_COLLECTD ? "collectd" : p == PEER_NODERED ? "nodered" : "vigild";
}

/* --- the subscriber (mosquitto_sub and its reader thread) ---------------- */

/* "2025-01-02T03:04:05.678Z" in ms since the epoch, or 0. */
static int64_t parse_ts_ms(const char *s)
{
    struct tm tm;
    int ms = 0;
    const char *rest;

    memset(&tm, 0, sizeof(tm));
    rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!rest || sscanf(rest, ".%3dZ", &ms) != 1)
        return 0;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Classifies an event payload: which point, which state, its ts. */
static void classify_event(const char *payload, int len, struct arrival *a)
{
    json_t *o = json_loadb(payload, (size_t)len, 0, NULL);
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *state = json_string_value(json_object_get(o, "state"));
    const char *point = json_string_value(json_object_get(o, "point"));
    int idx;

    a->kind = ARR_OTHER;
    if (o && type && state && point && strcmp(type, "digital") == 0 && sscanf(point, "pt%d", &idx) == 1) {
        a->point = idx;
        a->ts_ms = parse_ts_ms(json_string_value(json_object_get(o, "ts")));
        if (strcmp(state, "active_unacked") == 0)
            a->kind = ARR_ACTIVE;
        else if (strcmp(state, "normal") == 0)
            a->kind = ARR_NORMAL;
    }
    json_decref(o);
}

/* Classifies a peer's "<epoch s>:<value>" on a topic whose last level ends in ptNNNN. */
static void classify_value(const char *topic, int topic_len, const char *payload, int len, struct arrival *a)
{
    char buf[64], name[96];
    size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    const char *last = memrchr(topic, '/', tl), *pt;
    double t_s, v;
    int idx;

    last = last ? last + 1 : topic;
    snprintf(name, sizeof(name), "%.*s", (int)(topic + tl - last), last);
    snprintf(buf, sizeof(buf), "%.*s", len, payload);
    a->kind = ARR_OTHER;
    if (!(pt = strstr(name, "pt")) || sscanf(pt, "pt%d", &idx) != 1 || sscanf(buf, "%lf:%lf", &t_s, &v) != 2)
        return;
    a->point = idx;
    a->ts_ms = (int64_t)(t_s * 1000.0);
    a->kind = v != 0 ? ARR_ACTIVE : ARR_NORMAL;
}

/* True if the topic ends with suffix. */
static bool topic_ends(const char *topic, const char *suffix)
{
    size_t tl = strlen(topic), sl = strlen(suffix);

    return tl >= sl && memcmp(topic + tl - sl, suffix, sl) == 0;
}

/*
 * One "%U %t %p" line of mosquitto_sub: its own arrival stamp (epoch
 * seconds with microseconds), the topic, the payload. Classifies and
 * queues it; the main thread matches. A status other than online (the
 * offline Will at the end) is not queued.
 */
static void on_line(struct run *r, char *line)
{
    struct arrival a = {.kind = ARR_OTHER, .point = -1};
    char *topic, *payload, *end;
    long long sec, usec;

    line[strcspn(line, "\n")] = '\0';
    if (sscanf(line, "%lld.%6lld", &sec, &usec) != 2 || !(topic = strchr(line, ' ')))
        return;
    a.t_ns = sec * NS_PER_S + usec * 1000;
    topic++;
    if (!(end = strchr(topic, ' ')))
        return;
    *end = '\0';
    payload = end + 1;
    if (r->opt.peer != PEER_VIGILD) {
        classify_value(topic, (int)strlen(topic), payload, (int)strlen(payload), &a);
        queue_push(&r->arrivals, &a);
    } else if (topic_ends(topic, "/events")) {
        classify_event(payload, (int)strlen(payload), &a);
        queue_push(&r->arrivals, &a);
    } else if (strstr(payload, "\"state\":\"online\"")) {
        a.kind = ARR_ONLINE;
        queue_push(&r->arrivals, &a);
    }
}

/* The reader thread: mosquitto_sub's lines until it exits. */
static void *sub_reader(void *arg)
{
    struct run *r = arg;
    char *line = NULL;
    size_t cap = 0;

    while (getline(&line, &cap, r->sub_out) >= 0)
        on_line(r, line);
    free(line);
    return NULL;
}

/* Starts mosquitto_sub on the site's topics, its stdout a pipe to the reader thread. */
static int sub_start(struct run *r)
{
    char port[16], events[160], status[160], peer[32];
    char *args[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-F", "%U %t %p",
                    "-t", events, "-t", status, NULL};
    int fds[2];

    snprintf(port, sizeof(port), "%d", r->opt.broker_port);
    snprintf(events, sizeof(events), "vigil/%s/events", r->opt.site_id);
    snprintf(status, sizeof(status), "vigil/%s/status", r->opt.site_id);
    snprintf(peer, sizeof(peer), "%s/#", peer_name(r->opt.peer)); /* the peers' topic prefix */
    if (r->opt.peer != PEER_VIGILD) {
        args[10] = peer;
        args[11] = NULL;
    }
    if (pipe2(fds, O_CLOEXEC) < 0 || (r->sub_pid = fork()) < 0)
        return -1;
    if (r->sub_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlives the probe, however it ends */
        dup2(fds[1], STDOUT_FILENO);
        execvp(args[0], args);
        fprintf(stderr, "latency: mosquitto_sub: %s\n", strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    if (!(r->sub_out = fdopen(fds[0], "r")) || pthread_create(&r->sub_thread, NULL, sub_reader, r) != 0)
        return -1;
    r->sub_running = true;
    return 0;
}

/* Stops mosquitto_sub by its PID and joins the reader. */
static void sub_stop(struct run *r)
{
    if (r->sub_pid > 0) {
        kill(r->sub_pid, SIGTERM);
        waitpid(r->sub_pid, NULL, 0);
    }
    queue_close(&r->arrivals);
    if (r->sub_running)
        pthread_join(r->sub_thread, NULL);
}

/* --- vigild as /proc sees it --------------------------------------------- */

/* utime + stime of a process, in clock ticks, or -1. */
static long long proc_cpu_ticks(int pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut, st;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields count from the last ')'. */
    if (!(p = strrchr(buf, ')')) ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* The number after "KEY:" in a /proc file of "KEY: N [kB]" lines, or -1. */
static long proc_field(const char *path, const char *key)
{
    char line[256];
    size_t klen = strlen(key);
    long v = -1;
    FILE *f;

    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* A "KEY:  N kB" line of /proc/PID/FILE (status, smaps_rollup), in kB, or -1. */
static long proc_kb(int pid, const char *file, const char *key)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
    return proc_field(path, key);
}

/* Context switches of every thread of pid (voluntary and involuntary), or -1. */
static long long proc_switches(int pid)
{
    char path[64], sub[400];
    struct dirent *e;
    long long sum = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    if (!(d = opendir(path)))
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(sub, sizeof(sub), "%s/%s/status", path, e->d_name);
            long v = proc_field(sub, "voluntary_ctxt_switches"), n = proc_field(sub, "nonvoluntary_ctxt_switches");
            sum += (v > 0 ? v : 0) + (n > 0 ? n : 0);
        }
    closedir(d);
    return sum;
}

/* CPU% of one core between two tick readings taken wall_ns apart. */
static double cpu_percent(long long t0, long long t1, int64_t wall_ns)
{
    if (t0 < 0 || t1 < 0 || wall_ns <= 0)
        return NAN;
    return 100.0 * (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK) / ((double)wall_ns / NS_PER_S);
}

/* --- flipping and matching ---------------------------------------------- */

/* Matches one arrival to its point's pending flip. */
static void match(struct run *r, const struct arrival *a)
{
    struct point *p;
    enum arrival_kind want;

    if (a->kind == ARR_ONLINE)
        return;
    if (a->kind == ARR_OTHER || a->point < 0 || a->point >= r->opt.points) {
        r->n_other++;
        return;
    }
    p = &r->pts[a->point];
    want = p->value ? ARR_ACTIVE : ARR_NORMAL;
    if (p->flip_ns == 0 || a->kind != want) {
        r->n_unmatched++;
        return;
    }
    r->lat_ms[r->n_matched] = (double)(a->t_ns - p->flip_ns) / NS_PER_MS;
    r->path_ms[r->n_matched] = a->ts_ms ? (double)(a->t_ns / NS_PER_MS - a->ts_ms) : NAN;
    r->n_matched++;
    r->n_pending--;
    p->flip_ns = 0;
}

/* Matches arrivals until deadline_ns (CLOCK_REALTIME); stops early once
 * nothing is pending if until_clear is set. */
static void drain_until(struct run *r, int64_t deadline_ns, bool until_clear)
{
    struct arrival a;
    int64_t now;

    while ((now = now_ns()) < deadline_ns) {
        if (until_clear && r->n_pending == 0)
            return;
        int wait_ms = (int)((deadline_ns - now + NS_PER_MS - 1) / NS_PER_MS);
        if (queue_pop(&r->arrivals, &a, wait_ms) == 1)
            match(r, &a);
    }
}

/* A random point with no flip in flight and none too recent, or -1. */
static int pick_point(struct run *r, int64_t now)
{
    int n = r->opt.points, start = (int)(rnd(r) % (uint64_t)n);

    for (int k = 0; k < n; k++) {
        int i = (start + k) % n;
        if (r->pts[i].flip_ns == 0 && (r->pts[i].last_ns == 0 || now - r->pts[i].last_ns >= REFLIP_MIN_NS))
            return i;
    }
    return -1;
}

/* Flips one point in the simulator, stamping the time just before the write. */
static int flip(struct run *r)
{
    char cmd[64];
    int i = pick_point(r, now_ns()), len;
    struct point *p;

    if (i < 0 || r->n_flips == r->cap) {
        r->n_skipped++;
        return 0;
    }
    p = &r->pts[i];
    p->value = !p->value;
    len = snprintf(cmd, sizeof(cmd), "set pt%04d %d\n", i, p->value);
    p->flip_ns = p->last_ns = now_ns();
    if (write(r->ctl_fd, cmd, (size_t)len) != len) {
        fprintf(stderr, "latency: write to %s: %s\n", r->opt.control, strerror(errno));
        return -1;
    }
    r->n_flips++;
    r->n_pending++;
    return 0;
}

/* The flip window: Poisson arrivals at opt.rate per second for opt.flip_s. */
static int flip_window(struct run *r)
{
    int64_t t = now_ns(), end = t + (int64_t)(r->opt.flip_s * NS_PER_S);

    while (t < end) {
        t += (int64_t)(-log(rnd_unit(r)) / r->opt.rate * NS_PER_S);
        drain_until(r, t < end ? t : end, false);
        if (t < end && flip(r) < 0)
            return -1;
    }
    return 0;
}

/* Waits for the retained online status, then for the warm-up. */
static int wait_online(struct run *r)
{
    int64_t deadline = now_ns() + STATUS_WAIT_S * NS_PER_S;
    struct arrival a;
    bool online = false;

    while (!online && now_ns() < deadline)
        online = queue_pop(&r->arrivals, &a, 100) == 1 &&
                 (a.kind == ARR_ONLINE || (r->opt.peer != PEER_VIGILD && a.kind != ARR_OTHER));
    if (!online) {
        fprintf(stderr, "latency: %s did not report online within %d s\n", peer_name(r->opt.peer), STATUS_WAIT_S);
        return -1;
    }
    drain_until(r, now_ns() + (int64_t)(r->opt.warmup_s * NS_PER_S), false);
    r->n_other = r->n_unmatched = 0; /* gateway_restarted and start-up state are not the benchmark */
    return 0;
}

/* --- report ------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile q (0..100) of n sorted values. */
static double percentile(const double *v, size_t n, double q)
{
    size_t rank;

    if (n == 0)
        return NAN;
    rank = (size_t)ceil(q / 100.0 * (double)n);
    return v[rank == 0 ? 0 : rank - 1];
}

/* Sorts the path figures, dropping the ones with no ts (NaN); returns the count kept. */
static size_t sort_finite(double *v, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i]))
            v[k++] = v[i];
    qsort(v, k, sizeof(*v), cmp_double);
    return k;
}

/* The process figures: CPU over both windows, the broker's over the flip
 * window, wake-ups per second of the idle window, peak RSS, and now RSS and
 * PSS (shared library pages divided among their users). */
struct figs {
    double cpu_idle, cpu_flip, broker_cpu, wakeups_s;
    long hwm_kb, rss_kb, pss_kb;
};

static void report(struct run *r, const struct figs *m)
{
    size_t n = r->n_matched, np;

    qsort(r->lat_ms, n, sizeof(*r->lat_ms), cmp_double);
    np = sort_finite(r->path_ms, n);
    printf("latency N=%d P=%dms flips=%zu lost=%zu  p50=%.1fms p99=%.1fms max=%.1fms  "
           "(%s path p50=%.0fms p99=%.0fms max=%.0fms)  cpu=%.2f%% (idle %.2f%%)  "
           "rss_peak=%.1fMiB (now rss %.1fMiB pss %.1fMiB)  wakeups=%.0f/s",
           r->opt.points, r->opt.poll_ms, r->n_flips, r->n_pending, percentile(r->lat_ms, n, 50),
           percentile(r->lat_ms, n, 99), n ? r->lat_ms[n - 1] : NAN, peer_name(r->opt.peer),
           percentile(r->path_ms, np, 50), percentile(r->path_ms, np, 99), np ? r->path_ms[np - 1] : NAN,
           m->cpu_flip, m->cpu_idle, (double)m->hwm_kb / 1024.0, (double)m->rss_kb / 1024.0,
           (double)m->pss_kb / 1024.0, m->wakeups_s);
    if (r->opt.broker_pid > 0)
        printf("  broker_cpu=%.1f%%", m->broker_cpu);
    if (r->opt.peer == PEER_VIGILD && (r->n_other || r->n_unmatched || r->n_skipped))
        printf("  other_events=%zu unmatched=%zu skipped=%zu", r->n_other, r->n_unmatched, r->n_skipped);
    printf("\n");
    fflush(stdout);
}

/* --- setup -------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: latency --broker-port PORT --site ID --control FIFO --points N --pid VIGILD_PID\n"
                    "               --poll-ms P [--rate PER_S] [--warmup-s S] [--idle-s S] [--flip-s S]"
                    " [--seed N]\n"
                    "               [--peer vigild|collectd|nodered] [--broker-pid PID]\n");
}

/* Parses argv into o; returns 0, or -1 on misuse. */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"broker-port", required_argument, NULL, 'b'}, {"site", required_argument, NULL, 's'},
        {"control", required_argument, NULL, 'c'},     {"points", required_argument, NULL, 'n'},
        {"pid", required_argument, NULL, 'p'},         {"poll-ms", required_argument, NULL, 'P'},
        {"rate", required_argument, NULL, 'r'},        {"warmup-s", required_argument, NULL, 'w'},
        {"idle-s", required_argument, NULL, 'i'},      {"flip-s", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 'S'},        {"peer", required_argument, NULL, 'g'},
        {"broker-pid", required_argument, NULL, 'B'},  {NULL, 0, NULL, 0}};
    int c;

    *o = (struct options){.rate = 20, .warmup_s = 3, .idle_s = 15, .flip_s = 60, .seed = 1};
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': o->broker_port = atoi(optarg); break;
        case 's': o->site_id = optarg; break;
        case 'c': o->control = optarg; break;
        case 'n': o->points = atoi(optarg); break;
        case 'p': o->vigild_pid = atoi(optarg); break;
        case 'P': o->poll_ms = atoi(optarg); break;
        case 'r': o->rate = atof(optarg); break;
        case 'w': o->warmup_s = atof(optarg); break;
        case 'i': o->idle_s = atof(optarg); break;
        case 'f': o->flip_s = atof(optarg); break;
        case 'S': o->seed = strtoull(optarg, NULL, 10); break;
        case 'B': o->broker_pid = atoi(optarg); break;
        case 'g':
            if (strcmp(optarg, "collectd") == 0)
                o->peer = PEER_COLLECTD;
            else if (strcmp(optarg, "nodered") == 0)
                o->peer = PEER_NODERED;
            else if (strcmp(optarg, "vigild") != 0)
                return -1;
            break;
        default: return -1;
        }
    }
    if (optind != argc || o->broker_port <= 0 || !o->site_id || !o->control || o->points <= 0 ||
        o->points > 10000 || o->vigild_pid <= 0 || o->poll_ms <= 0 || !(o->rate > 0) || o->flip_s < 0 ||
        o->idle_s < 0 || o->warmup_s < 0)
        return -1;
    return 0;
}

/* Allocates everything the run needs up front: points, result arrays, queue. */
static int run_init(struct run *r)
{
    r->cap = (size_t)(r->opt.rate * r->opt.flip_s * 2) + 64;
    r->rng = r->opt.seed ? r->opt.seed : 1;
    r->pts = calloc((size_t)r->opt.points, sizeof(*r->pts));
    r->lat_ms = calloc(r->cap, sizeof(*r->lat_ms));
    r->path_ms = calloc(r->cap, sizeof(*r->path_ms));
    r->ctl_fd = open(r->opt.control, O_WRONLY | O_CLOEXEC);
    if (!r->pts || !r->lat_ms || !r->path_ms || queue_init(&r->arrivals, sizeof(struct arrival), ARRIVALS_CAP) < 0)
        return -1;
    if (r->ctl_fd < 0) {
        fprintf(stderr, "latency: open %s: %s\n", r->opt.control, strerror(errno));
        return -1;
    }
    return 0;
}

/* Idle window, flip window, drain; then the report. Returns the exit status. */
static int measure(struct run *r)
{
    int pid = r->opt.vigild_pid;
    long long c0, c1, c2, b1, b2, w0, w1;
    int64_t t0, t1, t2;
    struct figs m;

    t0 = now_ns();
    c0 = proc_cpu_ticks(pid);
    w0 = proc_switches(pid);
    drain_until(r, t0 + (int64_t)(r->opt.idle_s * NS_PER_S), false);
    t1 = now_ns();
    c1 = proc_cpu_ticks(pid);
    w1 = proc_switches(pid);
    b1 = r->opt.broker_pid > 0 ? proc_cpu_ticks(r->opt.broker_pid) : -1;
    if (flip_window(r) < 0)
        return 1;
    t2 = now_ns();
    c2 = proc_cpu_ticks(pid);
    b2 = r->opt.broker_pid > 0 ? proc_cpu_ticks(r->opt.broker_pid) : -1;
    drain_until(r, t2 + (DRAIN_MIN_MS + 10LL * r->opt.poll_ms) * NS_PER_MS, true);
    m.cpu_idle = cpu_percent(c0, c1, t1 - t0);
    m.cpu_flip = cpu_percent(c1, c2, t2 - t1);
    m.broker_cpu = cpu_percent(b1, b2, t2 - t1);
    m.wakeups_s = w0 >= 0 && w1 >= 0 && t1 > t0 ? (double)(w1 - w0) / ((double)(t1 - t0) / NS_PER_S) : NAN;
    m.hwm_kb = proc_kb(r->opt.vigild_pid, "status", "VmHWM");
    m.rss_kb = proc_kb(r->opt.vigild_pid, "status", "VmRSS");
    m.pss_kb = proc_kb(r->opt.vigild_pid, "smaps_rollup", "Pss");
    report(r, &m);
    return r->n_pending == 0 && r->n_flips > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    static struct run r;
    int status;

    if (parse_args(argc, argv, &r.opt) < 0) {
        usage();
        return 2;
    }
    if (run_init(&r) < 0) {
        fprintf(stderr, "latency: setup failed\n");
        return 1;
    }
    if (sub_start(&r) < 0) {
        fprintf(stderr, "latency: cannot start mosquitto_sub: %s\n", strerror(errno));
        sub_stop(&r);
        return 1;
    }
    status = wait_online(&r) < 0 ? 1 : measure(&r);
    sub_stop(&r);
    return status;
}
