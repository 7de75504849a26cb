/*
 * ctl_scan.c - `vigilctl scan`: which unit ids answer on a bus.
 *
 *   vigilctl scan --bus SPEC [--units A-B] [--timeout MS] [--read TABLE:ADDR]
 *
 * Politely, as a shared RS-485 line needs: one request at a time, each
 * followed by the line's inter-frame gap (3.5 characters at its baud rate,
 * busload.c) before the next, every unit given the same timeout, so the
 * whole scan takes at most units x (timeout + gap), printed before it
 * starts. Any valid Modbus answer means a device is there, an exception
 * included (a unit that has no register 0 still answers "illegal data
 * address"); only a gateway's "target did not respond" (exception 10/11)
 * says it is not. Progress is shown only when stdout is a terminal.
 * Exit: 0 some unit answered, 1 none did, 2 usage, 3 the bus could not be
 * opened or failed during the scan.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "busload.h"
#include "ctl.h"
#include "ctl_modbus.h"

struct scan_opts {
    const char *bus_spec;
    int first, last;
    int timeout_ms;
    struct ctl_read rq;  /* unit filled in per request */
};

static int parse_units(const char *s, int *first, int *last)
{
    char tail;

    if (sscanf(s, "%d-%d%c", first, last, &tail) == 2)
        return *first >= 0 && *first <= *last && *last <= 255 ? 0 : -1;
    if (sscanf(s, "%d%c", first, &tail) == 1 && *first >= 0 && *first <= 255) {
        *last = *first;
        return 0;
    }
    return -1;
}

static int parse_scan(int argc, char **argv, struct scan_opts *o)
{
    static const struct option longopts[] = {
        { "bus", required_argument, NULL, 'b' },  { "units", required_argument, NULL, 'u' },
        { "timeout", required_argument, NULL, 't' }, { "read", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(o, 0, sizeof *o);
    o->first = 1;
    o->last = 247;
    o->timeout_ms = 200;
    o->rq = (struct ctl_read){ 0, CFG_TABLE_HOLDING, 0, 1 };
    while ((c = getopt_long(argc, argv, "b:u:t:r:", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': o->bus_spec = optarg; break;
        case 'u':
            if (parse_units(optarg, &o->first, &o->last) < 0) {
                fprintf(stderr, "vigilctl scan: --units \"%s\": expected A-B within 0..255, e.g. 1-247\n", optarg);
                return -1;
            }
            break;
        case 't': o->timeout_ms = atoi(optarg); break;
        case 'r':
            if (ctl_parse_table_ref(optarg, &o->rq.table, &o->rq.address, &o->rq.count) < 0) {
                fprintf(stderr, "vigilctl scan: --read \"%s\": expected TABLE:ADDRESS, e.g. holding:0\n", optarg);
                return -1;
            }
            break;
        default: return -1;
        }
    }
    if (!o->bus_spec || optind != argc || o->timeout_ms < 1 || o->timeout_ms > 10000) {
        fprintf(stderr, "vigilctl scan: needs --bus (and --timeout 1..10000 ms)\n");
        return -1;
    }
    return 0;
}

static void sleep_us(int us)
{
    struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

    nanosleep(&ts, NULL);
}

/* One unit's line of the report, if it is there. Returns true if present. */
static bool report_unit(int unit, const struct ctl_answer *a, const struct cfg_bus *bus,
                        const struct ctl_read *rq, int timeout_ms)
{
    char text[512];

    if (a->kind == CTL_ANS_TIMEOUT ||
        (a->kind == CTL_ANS_EXCEPTION && (a->exception == 10 || a->exception == 11)))
        return false;
    if (a->kind == CTL_ANS_OK) {
        printf("unit %3d: present, answered in %.1f ms\n", unit, a->rtt_ms);
        return true;
    }
    ctl_answer_text(a, bus, rq, timeout_ms, text, sizeof text);
    printf("unit %3d: present, answered in %.1f ms: %s\n", unit, a->rtt_ms, text);
    return true;
}

/* The upper bound printed before the scan: every unit times out. */
static void print_plan(const struct scan_opts *o, const struct cfg_bus *bus, int gap_us)
{
    char name[CFG_PATH_MAX + 32];
    int n = o->last - o->first + 1;

    ctl_bus_name(bus, name, sizeof name);
    printf("scan %s units %d-%d: one request at a time, timeout %d ms, gap %.2f ms; at most %d x (%d ms + %.2f "
           "ms) = %.1f s\n", name, o->first, o->last, o->timeout_ms, gap_us / 1000.0, n, o->timeout_ms,
           gap_us / 1000.0, n * (o->timeout_ms + gap_us / 1000.0) / 1000.0);
}

int ctl_cmd_scan(int argc, char **argv)
{
    struct scan_opts o;
    struct cfg_bus bus;
    char err[512];
    modbus_t *ctx;
    int found = 0, gap_us;
    bool tty = isatty(STDOUT_FILENO);

    if (parse_scan(argc, argv, &o) < 0)
        return CTL_EXIT_USAGE;
    if (ctl_bus_parse(o.bus_spec, &bus, err, sizeof err) < 0) {
        fprintf(stderr, "vigilctl scan: --bus: %s\n", err);
        return CTL_EXIT_USAGE;
    }
    gap_us = bus.type == CFG_BUS_RTU ? busload_gap_us(&bus) : 0;
    print_plan(&o, &bus, gap_us);
    fflush(stdout);
    if (!(ctx = ctl_bus_open(&bus, o.timeout_ms, err, sizeof err))) {
        printf("FAILED: %s\n", err);
        return CTL_EXIT_NO_ANSWER;
    }
    for (int unit = o.first; unit <= o.last; unit++) {
        struct ctl_answer a;
        uint16_t words[1];
        uint8_t bits[1];

        if (tty)
            printf("\rscanning unit %d of %d-%d... ", unit, o.first, o.last);
        fflush(stdout);
        o.rq.unit = unit;
        ctl_read(ctx, &bus, &o.rq, words, bits, &a);
        if (tty)
            printf("\r\033[K");
        if (a.kind == CTL_ANS_LINK) {
            ctl_answer_text(&a, &bus, &o.rq, o.timeout_ms, err, sizeof err);
            printf("FAILED at unit %d: %s\n", unit, err);
            modbus_close(ctx);
            modbus_free(ctx);
            return CTL_EXIT_NO_ANSWER;
        }
        found += report_unit(unit, &a, &bus, &o.rq, o.timeout_ms);
        sleep_us(gap_us);
    }
    modbus_close(ctx);
    modbus_free(ctx);
    if (found)
        printf("%d unit%s answered\n", found, found == 1 ? "" : "s");
    else
        printf("no unit answered\n");
    return found ? CTL_EXIT_OK : CTL_EXIT_PROBLEM;
}
