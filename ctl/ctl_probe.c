/*
 * ctl_probe.c - `vigilctl probe`: talk to one device directly, as an
 * engineer commissioning it would with a generic Modbus poller, but with
 * vigil's own read plan and decoder, so what it shows is what vigild will
 * read.
 *
 *   vigilctl probe --bus SPEC --unit N [--profile P] [--profiles DIR]
 *                  [--raw TABLE:ADDR[:COUNT]]... [--timeout MS]
 *
 * With --profile every input of the profile is read, using the requests
 * poll_plan() would send for a device whose points use all of them, and
 * printed decoded (regfmt, as the poller decodes). --raw reads registers or
 * bits as they are. Each request's round-trip time is printed; a failure is
 * said in words (ctl_modbus.c). Exit: 0 everything answered, 1 the device
 * answered but not with the data (exception, wrong unit, garbled), 2 usage
 * or invalid profile, 3 no answer at all (no route, refused, timeout).
 */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_modbus.h"
#include "poller.h"
#include "regfmt.h"

#define MAX_RAW 8

struct raw_ref {
    enum cfg_table table;
    int address, count;
};

struct probe_opts {
    const char *bus_spec;
    int unit;
    const char *profile;
    const char *profiles_dir;
    struct raw_ref raw[MAX_RAW];
    int n_raw;
    int timeout_ms;
};

struct probe {
    struct probe_opts o;
    struct cfg_bus bus;
    modbus_t *ctx;
    int worst;           /* exit status so far */
};

static int parse_probe(int argc, char **argv, struct probe_opts *o)
{
    static const struct option longopts[] = {
        { "bus", required_argument, NULL, 'b' },     { "unit", required_argument, NULL, 'u' },
        { "profile", required_argument, NULL, 'p' }, { "profiles", required_argument, NULL, 'd' },
        { "raw", required_argument, NULL, 'r' },     { "timeout", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(o, 0, sizeof *o);
    o->unit = -1;
    o->timeout_ms = 1000;
    o->profiles_dir = cfg_default_profile_dir();
    while ((c = getopt_long(argc, argv, "b:u:p:d:r:t:", longopts, NULL)) != -1) {
        struct raw_ref *r = &o->raw[o->n_raw];

        switch (c) {
        case 'b': o->bus_spec = optarg; break;
        case 'u': o->unit = atoi(optarg); break;
        case 'p': o->profile = optarg; break;
        case 'd': o->profiles_dir = optarg; break;
        case 't': o->timeout_ms = atoi(optarg); break;
        case 'r':
            if (o->n_raw == MAX_RAW || ctl_parse_table_ref(optarg, &r->table, &r->address, &r->count) < 0) {
                fprintf(stderr, "vigilctl probe: --raw \"%s\": expected TABLE:ADDRESS[:COUNT] with TABLE coil, "
                        "discrete, holding or input, a 0-based address, at most 125 registers or 2000 bits "
                        "(and at most %d --raw)\n", optarg, MAX_RAW);
                return -1;
            }
            o->n_raw++;
            break;
        default: return -1;
        }
    }
    if (!o->bus_spec || o->unit < 0 || o->unit > 255 || (!o->profile && o->n_raw == 0) || optind != argc ||
        o->timeout_ms < 1 || o->timeout_ms > 60000) {
        fprintf(stderr, "vigilctl probe: needs --bus, --unit 0..255, and --profile or --raw (--timeout 1..60000 ms)\n");
        return -1;
    }
    return 0;
}

/* One request: read, print its round trip, or say what went wrong. Returns
 * true on data. */
static bool probe_read(struct probe *pr, const struct ctl_read *rq, uint16_t *words, uint8_t *bits)
{
    struct ctl_answer ans;
    char what[48], text[512];

    ctl_read(pr->ctx, &pr->bus, rq, words, bits, &ans);
    ctl_register_name(rq->table, rq->address, what, sizeof what);
    if (ans.kind == CTL_ANS_OK) {
        printf("read %s, %d %s: %.1f ms\n", what, rq->count,
               rq->table <= CFG_TABLE_DISCRETE ? "bits" : "registers", ans.rtt_ms);
        return true;
    }
    ctl_answer_text(&ans, &pr->bus, rq, pr->o.timeout_ms, text, sizeof text);
    printf("read %s, %d: FAILED after %.1f ms: %s\n", what, rq->count, ans.rtt_ms, text);
    if (ans.kind == CTL_ANS_TIMEOUT || ans.kind == CTL_ANS_LINK)
        pr->worst = CTL_EXIT_NO_ANSWER;
    else if (pr->worst == CTL_EXIT_OK)
        pr->worst = CTL_EXIT_PROBLEM;
    return false;
}

static void print_raw(const struct raw_ref *r, const uint16_t *words, const uint8_t *bits)
{
    char name[48];

    for (int i = 0; i < r->count; i++) {
        ctl_register_name(r->table, r->address + i, name, sizeof name);
        if (r->table <= CFG_TABLE_DISCRETE)
            printf("  %-24s address %-5d %u\n", name, r->address + i, (unsigned)bits[i]);
        else
            printf("  %-24s address %-5d 0x%04X %6u %6d\n", name, r->address + i, (unsigned)words[i],
                   (unsigned)words[i], (int)(int16_t)words[i]);
    }
}

static void probe_raw(struct probe *pr)
{
    for (int i = 0; i < pr->o.n_raw && pr->worst != CTL_EXIT_NO_ANSWER; i++) {
        const struct raw_ref *r = &pr->o.raw[i];
        struct ctl_read rq = { pr->o.unit, r->table, r->address, r->count };
        uint16_t words[125];
        uint8_t bits[2000];

        if (probe_read(pr, &rq, words, bits))
            print_raw(r, words, bits);
    }
}

/* Prints one decoded input from the block that holds it. */
static void print_input(const struct cfg_input *in, const struct poll_block *b, const uint16_t *words,
                        const uint8_t *bits)
{
    int off = in->address - b->address;
    double raw = regfmt_raw(in, words + off, bits + off), v = regfmt_scaled(in, raw);
    char where[48], rawtext[32], value[64];

    ctl_register_name(in->table, in->address, where, sizeof where);
    if (regfmt_width(in->format) == 2)
        snprintf(rawtext, sizeof rawtext, "0x%04X 0x%04X", (unsigned)words[off], (unsigned)words[off + 1]);
    else if (in->table <= CFG_TABLE_DISCRETE)
        snprintf(rawtext, sizeof rawtext, "%u", (unsigned)bits[off]);
    else
        snprintf(rawtext, sizeof rawtext, "0x%04X", (unsigned)words[off]);
    if (isnan(v))
        snprintf(value, sizeof value, "NaN (no reading: a sensor fault in vigild)");
    else
        snprintf(value, sizeof value, "%g%s%s", v, in->unit[0] ? " " : "", in->unit);
    printf("  %-16s %-24s %-6s %-14s %s\n", in->name, where, regfmt_format_names[in->format], rawtext, value);
}

static void print_block_inputs(const struct cfg_profile *p, const struct poll_block *b, const uint16_t *words,
                               const uint8_t *bits)
{
    for (int i = 0; i < p->n_inputs; i++) {
        const struct cfg_input *in = &p->inputs[i];

        if (in->table == b->table && in->address >= b->address &&
            in->address + regfmt_width(in->format) <= b->address + b->count)
            print_input(in, b, words, bits);
    }
}

/*
 * The plan vigild would read for a device whose points use every input of
 * the profile: a one-device site with one point per input, so the plan is
 * poll_plan()'s own. Returns the number of blocks (caller frees *out) or -1.
 */
static int profile_plan(const struct cfg_profile *p, struct poll_block **out)
{
    struct cfg_site site;
    struct cfg_device dev;
    struct cfg_point *points = calloc((size_t)p->n_inputs + 1, sizeof *points);
    int n;

    memset(&site, 0, sizeof site);
    memset(&dev, 0, sizeof dev);
    site.profiles = (struct cfg_profile *)p;
    site.n_profiles = 1;
    site.devices = &dev;
    site.n_devices = 1;
    site.points = points;
    site.n_points = p->n_inputs;
    for (int i = 0; points && i < p->n_inputs; i++)
        points[i].input = i;
    n = points ? poll_plan(&site, 0, NULL, 0) : -1;
    *out = n >= 0 ? calloc((size_t)n + 1, sizeof **out) : NULL;
    if (*out)
        poll_plan(&site, 0, *out, n);
    free(points);
    return *out ? n : -1;
}

static void probe_profile(struct probe *pr, const struct cfg_profile *p)
{
    struct poll_block *plan;
    int n = profile_plan(p, &plan);

    printf("profile %s: %s (%d inputs, %d requests)\n", p->name, p->description, p->n_inputs, n);
    for (int i = 0; i < n && pr->worst != CTL_EXIT_NO_ANSWER; i++) {
        struct ctl_read rq = { pr->o.unit, plan[i].table, plan[i].address, plan[i].count };
        uint16_t words[POLL_MAX_REGS];
        uint8_t bits[POLL_MAX_BITS];

        if (probe_read(pr, &rq, words, bits))
            print_block_inputs(p, &plan[i], words, bits);
    }
    free(plan);
}

int ctl_cmd_probe(int argc, char **argv)
{
    struct probe pr;
    struct cfg_profile *prof = NULL;
    char err[4096], name[CFG_PATH_MAX + 32];

    memset(&pr, 0, sizeof pr);
    if (parse_probe(argc, argv, &pr.o) < 0)
        return CTL_EXIT_USAGE;
    if (ctl_bus_parse(pr.o.bus_spec, &pr.bus, err, sizeof err) < 0) {
        fprintf(stderr, "vigilctl probe: --bus: %s\n", err);
        return CTL_EXIT_USAGE;
    }
    if (pr.o.profile && !(prof = cfg_load_profile(pr.o.profiles_dir, pr.o.profile, err, sizeof err))) {
        fprintf(stderr, "%s", err);
        return CTL_EXIT_USAGE;
    }
    ctl_bus_name(&pr.bus, name, sizeof name);
    printf("probe %s unit %d, timeout %d ms\n", name, pr.o.unit, pr.o.timeout_ms);
    if (!(pr.ctx = ctl_bus_open(&pr.bus, pr.o.timeout_ms, err, sizeof err))) {
        printf("FAILED: %s\n", err);
        cfg_free_profile(prof);
        return CTL_EXIT_NO_ANSWER;
    }
    if (prof)
        probe_profile(&pr, prof);
    probe_raw(&pr);
    modbus_close(pr.ctx);
    modbus_free(pr.ctx);
    cfg_free_profile(prof);
    return pr.worst;
}
