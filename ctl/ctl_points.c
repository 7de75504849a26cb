/*
 * ctl_points.c - vigilctl points: every configured point, live, like top.
 *
 *   vigilctl points [--socket PATH | --config SITE.conf [--profiles DIR]] [--zone Z] [--once]
 *
 * The values come from vigild's points socket (ctl_points.h), never from
 * the devices: one poller per bus is all an RS-485 line can take. --once
 * prints the table once, sorted by zone then point, for scripts and tests;
 * otherwise the screen is redrawn (plain ANSI, no curses) whenever a line
 * arrives, at most five times a second, and a row that changed in the last
 * few seconds is shown in reverse video. Ctrl-C or q ends it.
 */
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "ctl_points.h"

#define POINTS_TIMEOUT_MS 5000
#define REDRAW_MS 200
#define HIGHLIGHT_MS 3000

struct points_opts {
    const char *socket, *config, *profiles, *zone;
    bool once;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* A number as the table shows it: "-" for none. */
static void number(char *buf, size_t cap, double v)
{
    if (isnan(v))
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.6g", v);
}

static const char *or_dash(const char *s)
{
    return s[0] ? s : "-";
}

static void print_header(FILE *out)
{
    fprintf(out, "%-14s %-18s %-11s %8s %10s %-8s %-28s %-24s %s\n", "ZONE", "POINT", "KIND", "RAW", "VALUE",
            "QUALITY", "STATE", "CHANGED", "TESTED");
}

static void print_row(FILE *out, const struct ctl_point *r)
{
    char raw[24], value[24], state[64];

    number(raw, sizeof(raw), r->raw);
    number(value, sizeof(value), r->value);
    if (r->state[0])
        snprintf(state, sizeof(state), "%s %s", r->alarm, r->state);
    else
        snprintf(state, sizeof(state), "-");
    fprintf(out, "%-14s %-18s %-11s %8s %10s %-8s %-28s %-24s %s\n", or_dash(r->zone), r->point, r->kind, raw,
            value, or_dash(r->quality), state, or_dash(r->changed), or_dash(r->tested));
}

static bool shown(const struct points_opts *o, const struct ctl_point *r)
{
    return !o->zone || strcmp(o->zone, r->zone) == 0;
}

/* The zones in walk test, one line each, above the table. */
static void print_tests(FILE *out, const struct ctl_points *t)
{
    for (size_t i = 0; i < t->n_zones; i++)
        if (t->zones[i].test)
            fprintf(out, "zone %s in walk test until %s\n", t->zones[i].zone, t->zones[i].test_until);
}

static void print_table(FILE *out, struct ctl_points *t, const struct points_opts *o, uint64_t now_ms,
                        bool highlight)
{
    ctl_points_sort(t);
    print_tests(out, t);
    print_header(out);
    for (size_t i = 0; i < t->n_rows; i++) {
        const struct ctl_point *r = &t->rows[i];
        bool recent = highlight && r->seen_mono_ms && now_ms - r->seen_mono_ms < HIGHLIGHT_MS;

        if (!shown(o, r))
            continue;
        if (recent)
            fputs("\033[7m", out);
        print_row(out, r);
        if (recent)
            fputs("\033[0m", out);
    }
}

/* Home, clear, table: one write per frame so the terminal does not flicker. */
static void redraw(struct ctl_points *t, const struct points_opts *o)
{
    fputs("\033[H\033[2J", stdout);
    printf("vigilctl points: %zu points; changes in reverse video; q or Ctrl-C quits\n\n", t->n_rows);
    print_table(stdout, t, o, clock_mono_ms(), true);
    fflush(stdout);
}

/* Keys without Enter, no echo; restored on the way out. */
static bool raw_terminal(struct termios *saved)
{
    struct termios t;

    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, saved) < 0)
        return false;
    t = *saved;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
    return true;
}

static bool quit_key(void)
{
    char c;

    return read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q');
}

/* Follows the socket until Ctrl-C, q, or vigild goes away. */
static int live(struct ctl_points *t, const struct points_opts *o)
{
    struct termios saved;
    bool tty = raw_terminal(&saved);
    int rc = CTL_EXIT_OK;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop_requested) {
        struct pollfd pfd[2] = {{.fd = t->fd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
        int got;

        /* every round, not only on a change: highlights fade with time */
        redraw(t, o);
        if (poll(pfd, tty ? 2 : 1, REDRAW_MS) < 0)
            continue;
        if (tty && (pfd[1].revents & POLLIN) && quit_key())
            break;
        if (!(pfd[0].revents & (POLLIN | POLLHUP)))
            continue;
        got = ctl_points_read(t, clock_mono_ms());
        if (got < 0) {
            fprintf(stderr, "vigilctl: vigild closed the points socket (stopped or reloaded)\n");
            rc = CTL_EXIT_PROBLEM;
            break;
        }
    }
    if (tty)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    return rc;
}

static int parse_points(int argc, char **argv, struct points_opts *o)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 'S'}, {"config", required_argument, NULL, 'c'},
        {"profiles", required_argument, NULL, 'p'}, {"zone", required_argument, NULL, 'z'},
        {"once", no_argument, NULL, '1'}, {NULL, 0, NULL, 0}};
    int c;

    *o = (struct points_opts){0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "S:c:p:z:1", longopts, NULL)) != -1) {
        switch (c) {
        case 'S': o->socket = optarg; break;
        case 'c': o->config = optarg; break;
        case 'p': o->profiles = optarg; break;
        case 'z': o->zone = optarg; break;
        case '1': o->once = true; break;
        default: return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "vigilctl: points takes no argument \"%s\"\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* Connects to the socket the options name; prints why not. */
int ctl_points_connect(struct ctl_points *t, const char *socket, const char *config, const char *profiles)
{
    static char err[16384];
    char path[CFG_PATH_MAX + 16];

    memset(t, 0, sizeof(*t));
    t->fd = -1;
    if (ctl_points_path(socket, config, profiles, path, sizeof(path), err, sizeof(err)) < 0 ||
        ctl_points_open(t, path, POINTS_TIMEOUT_MS, err, sizeof(err)) < 0) {
        fprintf(stderr, "vigilctl: %s\n", err);
        return -1;
    }
    return 0;
}

int ctl_cmd_points(int argc, char **argv)
{
    struct points_opts o;
    struct ctl_points t;
    int rc;

    if (parse_points(argc, argv, &o) < 0) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (ctl_points_connect(&t, o.socket, o.config, o.profiles) < 0) {
        ctl_points_close(&t);
        return CTL_EXIT_PROBLEM;
    }
    if (o.once) {
        print_table(stdout, &t, &o, 0, false);
        rc = CTL_EXIT_OK;
    } else {
        rc = live(&t, &o);
    }
    ctl_points_close(&t);
    return rc;
}
