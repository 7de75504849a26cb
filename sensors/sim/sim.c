/*
 * sim.c - vigil-sim: serves every Modbus device of a site config.
 *
 *   vigil-sim --config SITE.conf [--profiles DIR] [--control PATH] [--wire-time]
 *
 * Loads the same site config as vigild and answers for every device: TCP
 * buses listen on their host:port, RTU buses get a pseudo-terminal that the
 * configured device path links to. Tests and the demo drive it with line
 * commands on stdin, or on a FIFO given with --control (opened read-write so
 * it never sees end-of-file); each command gets one answer line on stdout:
 *
 *   set POINT VALUE     engineering value of a point      -> ok
 *   fail DEVICE MODE    ok|timeout|exception|garbage|close|wrong-unit|wrong-function -> ok
 *   stats DEVICE        requests received for the device  -> ok requests=N
 *   line BUS            --wire-time: requests, and those sent inside the gap
 *                       -> ok requests=N early=M shortest_gap_us=X
 *   get DEVICE TABLE ADDR  raw value in coil|discrete|holding|input -> ok VALUE
 *   get DEVICE INPUT    raw value of a profile input (do1) -> ok VALUE
 *   quit                                                  -> ok, then exit 0
 *
 * --wire-time makes every RTU answer take the time a real line would take
 * (sim_wire.c): benchmarks measure a poller against the line's limit.
 *
 * "ready" is printed once every listener and pty is up. One thread, one
 * select loop over listeners, clients, pty masters and the control input.
 * SIGTERM/SIGINT exit cleanly and remove the pty symlinks.
 */
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define CONTROL_LINE_MAX 512

struct control {
    int fd;                  /* -1 once stdin has ended */
    char buf[CONTROL_LINE_MAX];
    size_t len;
    bool made_fifo;          /* we created the FIFO and remove it at exit */
    const char *path;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void usage(void)
{
    fprintf(stderr, "usage: vigil-sim --config SITE.conf [--profiles DIR] [--control PATH] [--wire-time]\n");
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints one answer line and flushes it: the controller waits for it. */
static void reply(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void cmd_set(struct sim *s, const char *point, const char *value)
{
    char err[160], *end;
    int p = cfg_find_point(s->site, point);
    double v = strtod(value, &end);

    if (p < 0) {
        reply("error unknown point \"%s\"", point);
        return;
    }
    if (end == value || *end != '\0') {
        reply("error \"%s\" is not a number", value);
        return;
    }
    if (sim_set_point(s, p, v, err, sizeof(err)) != 0) {
        reply("error %s", err);
        return;
    }
    reply("ok");
}

static void cmd_fail(struct sim *s, const char *device, const char *mode_name)
{
    int d = cfg_find_device(s->site, device);
    enum sim_mode mode;

    if (d < 0) {
        reply("error unknown device \"%s\"", device);
        return;
    }
    if (sim_parse_mode(mode_name, &mode) != 0) {
        reply("error unknown mode \"%s\"; expected ok, timeout, exception, garbage, close, "
              "wrong-unit, wrong-function or slow", mode_name);
        return;
    }
    s->devs[d].mode = mode;
    if (mode == SIM_CLOSE && s->buses[s->devs[d].cfg->bus].cfg->type == CFG_BUS_TCP)
        sim_bus_drop_clients(&s->buses[s->devs[d].cfg->bus]);
    reply("ok");
}

static void cmd_stats(struct sim *s, const char *device)
{
    int d = cfg_find_device(s->site, device);

    if (d < 0) {
        reply("error unknown device \"%s\"", device);
        return;
    }
    reply("ok requests=%llu", (unsigned long long)s->devs[d].requests);
}

/* The line's request counts of an RTU bus under --wire-time (sim_wire.c). */
static void cmd_line(struct sim *s, const char *bus)
{
    for (int i = 0; i < s->site->n_buses; i++) {
        const struct sim_bus *b = &s->buses[i];

        if (strcmp(b->cfg->id, bus) != 0)
            continue;
        if (!b->wire) {
            reply("error bus \"%s\" is not an RTU line under --wire-time", bus);
            return;
        }
        reply("ok requests=%llu early=%llu shortest_gap_us=%.0f", (unsigned long long)b->frames,
              (unsigned long long)b->early, b->frames > 1 ? b->shortest_gap_ns / 1000.0 : 0.0);
        return;
    }
    reply("error unknown bus \"%s\"", bus);
}

/* Answers the raw value at one address of a device's map. */
static void get_raw(struct sim *s, int d, enum cfg_table table, int address)
{
    char err[160];
    unsigned v;

    if (sim_get(s, d, table, address, &v, err, sizeof(err)) != 0)
        reply("error %s", err);
    else
        reply("ok %u", v);
}

/* get DEVICE TABLE ADDR, or get DEVICE INPUT (table and address from the profile). */
static void cmd_get(struct sim *s, const char *device, const char *what, const char *addr)
{
    static const char *const tables[] = { "coil", "discrete", "holding", "input" };
    int d = cfg_find_device(s->site, device);
    const struct cfg_profile *prof;
    char *end;
    long a;

    if (d < 0) {
        reply("error unknown device \"%s\"", device);
        return;
    }
    prof = &s->site->profiles[s->site->devices[d].profile];
    if (!addr) {
        for (int i = 0; i < prof->n_inputs; i++)
            if (strcmp(prof->inputs[i].name, what) == 0) {
                get_raw(s, d, prof->inputs[i].table, prof->inputs[i].address);
                return;
            }
        reply("error \"%s\" is not an input of profile \"%s\"", what, prof->name);
        return;
    }
    a = strtol(addr, &end, 10);
    for (int t = 0; t < 4; t++)
        if (strcmp(tables[t], what) == 0 && end != addr && *end == '\0' && a >= 0 && a <= 65535) {
            get_raw(s, d, (enum cfg_table)t, (int)a);
            return;
        }
    reply("error expected: get DEVICE coil|discrete|holding|input ADDRESS, or get DEVICE INPUT");
}

/* Runs one command line; returns true for quit. */
static bool run_command(struct sim *s, char *line)
{
    char *save = NULL;
    char *verb = strtok_r(line, " \t\r", &save);
    char *a = strtok_r(NULL, " \t\r", &save);
    char *b = strtok_r(NULL, " \t\r", &save);
    char *c = strtok_r(NULL, " \t\r", &save);
    char *extra = strtok_r(NULL, " \t\r", &save);

    if (!verb)
        return false;
    if (strcmp(verb, "quit") == 0 && !a) {
        reply("ok");
        return true;
    }
    if (strcmp(verb, "set") == 0 && b && !c)
        cmd_set(s, a, b);
    else if (strcmp(verb, "fail") == 0 && b && !c)
        cmd_fail(s, a, b);
    else if (strcmp(verb, "stats") == 0 && a && !b)
        cmd_stats(s, a);
    else if (strcmp(verb, "line") == 0 && a && !b)
        cmd_line(s, a);
    else if (strcmp(verb, "get") == 0 && b && !extra)
        cmd_get(s, a, b, c);
    else
        reply("error expected: set POINT VALUE | fail DEVICE MODE | stats DEVICE | line BUS | "
              "get DEVICE TABLE ADDR | get DEVICE INPUT | quit");
    return false;
}

/* Reads what the control input has and runs each complete line; true for quit. */
static bool control_read(struct sim *s, struct control *c)
{
    ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
    char *nl;

    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        c->fd = -1; /* stdin ended: keep serving until a signal */
        return false;
    }
    if (n < 0)
        return false;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    while ((nl = strchr(c->buf, '\n'))) {
        *nl = '\0';
        if (run_command(s, c->buf))
            return true;
        c->len -= (size_t)(nl + 1 - c->buf);
        memmove(c->buf, nl + 1, c->len + 1);
    }
    if (c->len == sizeof(c->buf) - 1) {
        reply("error line too long");
        c->len = 0;
    }
    return false;
}

static int control_open(struct control *c, const char *path)
{
    c->fd = STDIN_FILENO;
    c->path = path;
    if (!path)
        return 0;
    if (mkfifo(path, 0600) == 0)
        c->made_fifo = true;
    else if (errno != EEXIST)
        return -1;
    c->fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    return c->fd < 0 ? -1 : 0;
}

/*
 * How long pselect() may wait: until the next answer held for its wire time
 * (--wire-time) or deferred by a slow device, whichever is first; NULL for
 * no limit.
 */
static struct timespec *next_wait(const struct sim *s, struct timespec *ts)
{
    struct timespec wire, *w = sim_links_timeout(s, &wire);
    long slow_ms = sim_next_answer_ms(s, clock_mono_ms());

    if (slow_ms >= 0 && (!w || slow_ms < w->tv_sec * 1000 + w->tv_nsec / 1000000)) {
        ts->tv_sec = slow_ms / 1000;
        ts->tv_nsec = slow_ms % 1000 * 1000000L;
        return ts;
    }
    if (!w)
        return NULL;
    *ts = wire;
    return ts;
}

/* Serves until quit or a signal. Signals are blocked except inside pselect. */
static void serve(struct sim *s, struct control *c, const sigset_t *wait_mask)
{
    while (!stop_signal) {
        struct timespec wait;
        fd_set ready;
        int maxfd = -1;

        FD_ZERO(&ready);
        if (c->fd >= 0) {
            FD_SET(c->fd, &ready);
            maxfd = c->fd;
        }
        maxfd = sim_links_fdset(s, &ready, maxfd);
        if (pselect(maxfd + 1, &ready, NULL, NULL, next_wait(s, &wait), wait_mask) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "vigil-sim: select: %s\n", strerror(errno));
            return;
        }
        if (c->fd >= 0 && FD_ISSET(c->fd, &ready) && control_read(s, c))
            return;
        sim_links_serve(s, &ready);
        sim_answer_due(s, clock_mono_ms());
    }
}

static int parse_args(int argc, char **argv, const char **config, const char **profiles, const char **control,
                      bool *wire_time)
{
    for (int i = 1; i < argc; i++) {
        const char **dst;

        if (strcmp(argv[i], "--wire-time") == 0) {
            *wire_time = true;
            continue;
        }
        dst = strcmp(argv[i], "--config") == 0     ? config
              : strcmp(argv[i], "--profiles") == 0 ? profiles
              : strcmp(argv[i], "--control") == 0  ? control
                                                   : NULL;
        if (!dst || i + 1 == argc)
            return -1;
        *dst = argv[++i];
    }
    return *config ? 0 : -1;
}

/* Blocks the stop signals (pselect unblocks them) and installs their handler. */
static void setup_signals(sigset_t *wait_mask)
{
    struct sigaction sa;
    sigset_t block;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, wait_mask);
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGINT);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *profiles = NULL, *control_path = NULL;
    struct control control = { .fd = -1 };
    struct sim s = { 0 };
    sigset_t wait_mask;
    char err[4096];
    int rc = 1;

    if (parse_args(argc, argv, &config, &profiles, &control_path, &s.wire_time) != 0) {
        usage();
        return 2;
    }
    setup_signals(&wait_mask);
    s.site = cfg_load(config, profiles, err, sizeof(err));
    if (!s.site) {
        fprintf(stderr, "vigil-sim: %s\n", err);
        return 1;
    }
    if (sim_devices_init(&s, err, sizeof(err)) != 0 || sim_links_open(&s, err, sizeof(err)) != 0) {
        fprintf(stderr, "vigil-sim: %s\n", err);
    } else if (control_open(&control, control_path) != 0) {
        fprintf(stderr, "vigil-sim: control %s: %s\n", control_path, strerror(errno));
    } else {
        reply("ready");
        serve(&s, &control, &wait_mask);
        rc = 0;
    }
    if (control.path && control.fd >= 0)
        close(control.fd);
    if (control.made_fifo)
        unlink(control.path);
    sim_links_close(&s);
    sim_devices_free(&s);
    cfg_free(s.site);
    return rc;
}
