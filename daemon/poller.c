/*
 * poller.c - Modbus polling: the read plan, the poll set and what every
 * worker shares (see poller.h, poll_internal.h and docs/modbus.md).
 *
 * The workers that move the bytes are rtuthread.c (one libmodbus thread per
 * RTU line) and tcploop.c (one event loop for every Modbus TCP bus). Here is
 * what a poll cycle means whichever carried it: decoding the points and
 * pushing what changed, the comm state (down after fail_count failures or
 * fail_ms without a good answer), quarantine, reconnect back-off, and the
 * table of outputs poll_write() asked for.
 *
 * A device that is down on a shared bus is probed with a doubling interval
 * (up to 30 s): each probe costs a whole timeout of bus time that the
 * healthy devices on the bus would otherwise lose.
 *
 * Outputs (poll_write()) are a small table of desired values shared by the
 * workers under out_lock: a worker writes the pending outputs of a device
 * right before that device's poll, on the connection the poll uses, and
 * marks them pending again whenever the device comes back up, so a relay
 * module that rebooted gets its outputs back. A write the device refuses
 * with an exception is logged and retried on later polls without counting
 * against the device's comm state (its inputs still read fine); any other
 * write failure is a failed poll like a failed read.
 *
 * Everything is allocated in poll_start(); the workers allocate nothing.
 */
#include "poller.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "poll_internal.h"
#include "regfmt.h"

#define BACKOFF_MIN_MS 100     /* first reconnect delay after a link failure */
#define BACKOFF_MAX_MS 5000
#define QUARANTINE_MAX_MS 30000

/* ------------------------------------------------------------------------ */
/* Read plan                                                                */

static bool table_is_bits(enum cfg_table t)
{
    return t == CFG_TABLE_COIL || t == CFG_TABLE_DISCRETE;
}

/* Addresses an input occupies: one, or two for a 32-bit value. */
struct span {
    int address;
    int count;
};

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;

    if (x->address != y->address)
        return (x->address > y->address) - (x->address < y->address);
    return (x->count > y->count) - (x->count < y->count);
}

static struct span span_of(const struct cfg_input *in)
{
    return (struct span){ in->address, regfmt_width(in->format) };
}

static bool device_has_points(const struct cfg_site *site, int device)
{
    for (int i = 0; i < site->n_points; i++)
        if (site->points[i].device == device)
            return true;
    return false;
}

/*
 * Writes the spans of `table` that the device's points use into spans (room
 * for n_points + 1), sorted by address, and returns how many there are.
 * Duplicates are harmless: merging covers them.
 */
static int used_spans(const struct cfg_site *site, int device, enum cfg_table table, struct span *spans)
{
    const struct cfg_profile *prof = &site->profiles[site->devices[device].profile];
    int n = 0;

    for (int i = 0; i < site->n_points; i++) {
        const struct cfg_input *in;

        if (site->points[i].device != device)
            continue;
        in = &prof->inputs[site->points[i].input];
        if (in->table == table)
            spans[n++] = span_of(in);
    }
    if (!device_has_points(site, device) && prof->n_inputs > 0 && prof->inputs[0].table == table)
        spans[n++] = span_of(&prof->inputs[0]);
    qsort(spans, (size_t)n, sizeof(*spans), cmp_span);
    return n;
}

static int emit_block(struct poll_block *out, int cap, int nb, const struct poll_block *b)
{
    if (nb < cap)
        out[nb] = *b;
    return nb + 1;
}

/*
 * Greedily merges sorted spans of one table into requests. Extending a
 * request as far as the gap and size limits allow gives the fewest requests:
 * any request that stopped earlier only leaves more addresses for the next.
 * A span is never split: both registers of a 32-bit value come from one
 * answer, so a value cannot be torn between two reads.
 */
static int merge_table(enum cfg_table table, const struct span *spans, int n, struct poll_block *out, int cap,
                       int nb)
{
    const int max = table_is_bits(table) ? POLL_MAX_BITS : POLL_MAX_REGS;
    const int gap = table_is_bits(table) ? POLL_GAP_BITS : POLL_GAP_REGS;
    struct poll_block cur = { table, 0, 0 };

    for (int i = 0; i < n; i++) {
        int end = spans[i].address + spans[i].count;

        if (cur.count > 0 && spans[i].address - (cur.address + cur.count) <= gap && end - cur.address <= max) {
            if (end - cur.address > cur.count)
                cur.count = end - cur.address;
            continue;
        }
        if (cur.count > 0)
            nb = emit_block(out, cap, nb, &cur);
        cur.address = spans[i].address;
        cur.count = spans[i].count;
    }
    if (cur.count > 0)
        nb = emit_block(out, cap, nb, &cur);
    return nb;
}

int poll_plan(const struct cfg_site *site, int device, struct poll_block *out, int cap)
{
    static const enum cfg_table tables[] = { CFG_TABLE_COIL, CFG_TABLE_DISCRETE, CFG_TABLE_HOLDING,
                                             CFG_TABLE_INPUT };
    struct span *spans = malloc(((size_t)site->n_points + 1) * sizeof(*spans));
    int nb = 0;

    if (!spans)
        return -1;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        int n = used_spans(site, device, tables[t], spans);

        nb = merge_table(tables[t], spans, n, out, cap, nb);
    }
    free(spans);
    return nb;
}

/* ------------------------------------------------------------------------ */
/* Start-up: devices and buses                                              */

/* Allocates the device's blocks and their answer buffers from its plan. */
static int dev_build_blocks(const struct cfg_site *site, struct poll_dev *d)
{
    int n = poll_plan(site, d->index, NULL, 0);
    struct poll_block *plan;
    int n_words = 0, n_bits = 0;

    if (n < 0 || !(plan = calloc((size_t)n + 1, sizeof(*plan))))
        return -1;
    poll_plan(site, d->index, plan, n);
    for (int i = 0; i < n; i++)
        *(table_is_bits(plan[i].table) ? &n_bits : &n_words) += plan[i].count;
    d->blocks = calloc((size_t)n + 1, sizeof(*d->blocks));
    d->words = calloc((size_t)n_words + 1, sizeof(*d->words));
    d->bits = calloc((size_t)n_bits + 1, sizeof(*d->bits));
    if (!d->blocks || !d->words || !d->bits) {
        free(plan);
        return -1;
    }
    n_words = n_bits = 0;
    for (int i = 0; i < n; i++) {
        d->blocks[i].req = plan[i];
        if (table_is_bits(plan[i].table)) {
            d->blocks[i].bits = d->bits + n_bits;
            n_bits += plan[i].count;
        } else {
            d->blocks[i].words = d->words + n_words;
            n_words += plan[i].count;
        }
    }
    d->n_blocks = n;
    free(plan);
    return 0;
}

/* Points a point at the slot of the block that reads its input. */
static void point_locate(const struct poll_dev *d, struct dev_point *p)
{
    for (int i = 0; i < d->n_blocks; i++) {
        const struct dev_block *b = &d->blocks[i];
        int off = p->in->address - b->req.address;

        if (b->req.table != p->in->table || off < 0 || off + regfmt_width(p->in->format) > b->req.count)
            continue;
        if (b->bits)
            p->bit = b->bits + off;
        else
            p->word = b->words + off;
        return;
    }
}

/* Builds the device's point list; every point's input is in some block. */
static int dev_build_points(const struct cfg_site *site, struct poll_dev *d)
{
    const struct cfg_profile *prof = &site->profiles[d->cfg->profile];
    int n = 0;

    for (int i = 0; i < site->n_points; i++)
        n += site->points[i].device == d->index;
    d->points = calloc((size_t)n + 1, sizeof(*d->points));
    if (!d->points)
        return -1;
    for (int i = 0; i < site->n_points; i++) {
        struct dev_point *p;

        if (site->points[i].device != d->index)
            continue;
        p = &d->points[d->n_points++];
        p->point = i;
        p->cfg = &site->points[i];
        p->in = &prof->inputs[p->cfg->input];
        p->last = NAN;
        point_locate(d, p);
        assert(p->bit || p->word); /* the plan covers every used input */
    }
    return 0;
}

static int dev_build(struct poll_set *ps, int index, uint64_t now)
{
    struct poll_dev *d = &ps->devs[index];

    d->index = index;
    d->cfg = &ps->site->devices[index];
    d->bus = &ps->buses[d->cfg->bus];
    d->state = DEV_UNKNOWN;
    d->last_ok_ms = now;
    d->next_due_ms = now;
    d->interval_ms = d->cfg->poll_ms > 0 ? d->cfg->poll_ms : 1;
    if (dev_build_blocks(ps->site, d) != 0 || dev_build_points(ps->site, d) != 0)
        return -1;
    return 0;
}

/* Names the bus for log lines; its worker makes the rest when it starts. */
static void bus_build(struct poll_set *ps, int index)
{
    struct poll_bus *b = &ps->buses[index];
    const struct cfg_bus *cfg = &ps->site->buses[index];

    b->set = ps;
    b->cfg = cfg;
    b->backoff_ms = BACKOFF_MIN_MS;
    atomic_init(&b->loops, 0);
    if (cfg->type == CFG_BUS_TCP)
        snprintf(b->where, sizeof(b->where), "%s:%d", cfg->host, cfg->port);
    else
        snprintf(b->where, sizeof(b->where), "%s", cfg->device);
}

/* Gives each bus the list of its devices, in site order. */
static int assign_devices(struct poll_set *ps)
{
    struct poll_dev **next;

    ps->dev_refs = calloc((size_t)ps->n_devs + 1, sizeof(*ps->dev_refs));
    if (!ps->dev_refs)
        return -1;
    next = ps->dev_refs;
    for (int b = 0; b < ps->n_buses; b++) {
        ps->buses[b].devs = next;
        for (int i = 0; i < ps->n_devs; i++)
            if (ps->devs[i].cfg->bus == b)
                ps->buses[b].devs[ps->buses[b].n_devs++] = &ps->devs[i];
        next += ps->buses[b].n_devs;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Errors and the link                                                      */

const char *poll_err_text(int err, char *buf, size_t len)
{
    static const char *const modbus_text[] = {
        [1] = "Illegal function",
        [2] = "Illegal data address",
        [3] = "Illegal data value",
        [4] = "Slave device or server failure",
        [5] = "Acknowledge",
        [6] = "Slave device or server is busy",
        [7] = "Negative acknowledge",
        [8] = "Memory parity error",
        [9] = "Undefined exception",
        [10] = "Gateway path unavailable",
        [11] = "Target device failed to respond",
        [12] = "Invalid CRC",
        [13] = "Invalid data",
        [14] = "Invalid exception code",
        [15] = "Unknown exception code",
        [16] = "Too many data",
        [17] = "Response not from requested slave",
    };

    if (err > MODBUS_ENOBASE && err <= EMBBADSLAVE && modbus_text[err - MODBUS_ENOBASE])
        return modbus_text[err - MODBUS_ENOBASE];
    return strerror_r(err, buf, len);
}

/*
 * An answer from the wrong unit, with the wrong function code or to another
 * transaction names what came back: a gateway routing to the wrong slave, a
 * device set to another unit id, or a server that mixes up its answers.
 */
const char *poll_fail_reason(const struct poll_dev *d, int err, char *buf, size_t len)
{
    if (err == MBTCP_EBADUNIT)
        snprintf(buf, len, "answered as unit %d, expected %d", d->answer.unit, d->cfg->unit);
    else if (err == MBTCP_EBADFUNC)
        snprintf(buf, len, "answered with function code 0x%02x to another request", d->answer.function);
    else if (err == MBTCP_EBADTID)
        snprintf(buf, len, "answered transaction %d to another request", d->answer.tid);
    else
        return poll_err_text(err, buf, len);
    return buf;
}

bool poll_is_exception(int err)
{
    return err >= EMBXILFUN && err <= EMBXGTAR;
}

bool poll_is_protocol_error(int err)
{
    return err == ETIMEDOUT || err == EMBBADCRC || err == EMBBADDATA || err == EMBBADEXC ||
           err == EMBUNKEXC || err == EMBMDATA || err == EMBBADSLAVE || err == MBTCP_EBADUNIT ||
           err == MBTCP_EBADFUNC || err == MBTCP_EBADTID;
}

void poll_bus_link_failed(struct poll_bus *b, uint64_t now)
{
    b->connected = false;
    b->reconnect_at_ms = now + (uint64_t)b->backoff_ms;
    b->backoff_ms = b->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b->backoff_ms * 2;
}

void poll_bus_connect_failed(struct poll_bus *b, int err, uint64_t now)
{
    char buf[128];

    log_complain(&b->complaint, now, LOG_LVL_WARN, "modbus: bus \"%s\" %s: connect failed: %s", b->cfg->id,
                 b->where, poll_err_text(err, buf, sizeof(buf)));
    poll_bus_link_failed(b, now);
}

void poll_bus_connected(struct poll_bus *b)
{
    log_release(&b->complaint, LOG_LVL_NOTICE, "modbus: bus \"%s\" %s: connected", b->cfg->id, b->where);
    b->connected = true;
}

/* ------------------------------------------------------------------------ */
/* Outputs                                                                  */

int poll_outputs_pending(struct poll_set *ps, int device, struct poll_out *todo)
{
    int n = 0;

    pthread_mutex_lock(&ps->out_lock);
    for (int i = 0; i < POLL_MAX_OUTPUTS; i++)
        if (ps->outs[i].used && ps->outs[i].pending && ps->outs[i].device == device)
            todo[n++] = ps->outs[i];
    pthread_mutex_unlock(&ps->out_lock);
    return n;
}

const struct cfg_input *poll_output_input(const struct poll_set *ps, const struct poll_out *o)
{
    const struct cfg_site *site = ps->site;

    return &site->profiles[site->devices[o->device].profile].inputs[o->input];
}

/* Marks an output written, unless poll_write() asked for another value meanwhile. */
static void output_done(struct poll_set *ps, const struct poll_out *o)
{
    pthread_mutex_lock(&ps->out_lock);
    for (int i = 0; i < POLL_MAX_OUTPUTS; i++)
        if (ps->outs[i].used && ps->outs[i].device == o->device && ps->outs[i].input == o->input &&
            ps->outs[i].gen == o->gen)
            ps->outs[i].pending = false;
    pthread_mutex_unlock(&ps->out_lock);
}

void poll_output_written(struct poll_bus *b, struct poll_dev *d, const struct poll_out *o)
{
    output_done(b->set, o);
    log_release(&d->write_complaint, LOG_LVL_NOTICE, "modbus: device \"%s\": outputs can be written again",
                d->cfg->id);
    log_notice("modbus: device \"%s\" bus \"%s\" %s: output \"%s\" set to %u", d->cfg->id, b->cfg->id, b->where,
               poll_output_input(b->set, o)->name, (unsigned)o->value);
}

void poll_output_failed(struct poll_bus *b, struct poll_dev *d, const struct poll_out *o, int err)
{
    char buf[128];

    log_complain(&d->write_complaint, clock_mono_ms(), LOG_LVL_ERR,
                 "modbus: device \"%s\" bus \"%s\" %s: write of output \"%s\" = %u failed: %s; retrying",
                 d->cfg->id, b->cfg->id, b->where, poll_output_input(b->set, o)->name, (unsigned)o->value,
                 poll_fail_reason(d, err, buf, sizeof(buf)));
}

/* A device that came (back) up gets every output it holds written again. */
static void outputs_reassert(struct poll_set *ps, int device)
{
    pthread_mutex_lock(&ps->out_lock);
    for (int i = 0; i < POLL_MAX_OUTPUTS; i++)
        if (ps->outs[i].used && ps->outs[i].device == device)
            ps->outs[i].pending = true;
    pthread_mutex_unlock(&ps->out_lock);
}

/* ------------------------------------------------------------------------ */
/* The end of a poll cycle                                                  */

/* The engineering value of a point from the last read; NaN if impossible
 * (a float register reporting NaN or infinity included). */
static double point_value(const struct dev_point *p, double raw)
{
    double v = regfmt_scaled(p->in, raw) * p->cfg->scale + p->cfg->offset;

    return isfinite(v) ? v : NAN;
}

/* Whether the move from last to v crosses limit (NAN: no limit). */
static bool crosses(double last, double v, double limit)
{
    return !isnan(limit) && (last < limit) != (v < limit);
}

static bool is_sentinel(const struct cfg_analog *a, double v)
{
    for (int i = 0; i < a->n_sentinels; i++)
        if (v == a->sentinels[i])
            return true;
    return false;
}

/*
 * Whether a reading is news for the core: any change, or for an analog
 * point with a report_deadband, a move at least that far — except that a
 * move across any limit the core judges by (high and low, their clear
 * levels, the valid range) or to or from a sentinel is always reported:
 * sensor noise must not become one journal record per poll, and a
 * deadband must never hide an alarm.
 */
static bool value_changed(const struct cfg_point *c, double last, double v)
{
    const struct cfg_analog *a = c->analog; /* NULL: not an analog point, no report_deadband */

    if (isnan(last) || isnan(v))
        return isnan(last) != isnan(v);
    if (last == v)
        return false;
    if (!a || a->report_deadband <= 0 || fabs(v - last) >= a->report_deadband)
        return true;
    double db = isnan(a->deadband) ? 0 : a->deadband;
    return crosses(last, v, a->high) || crosses(last, v, a->high - db) || crosses(last, v, a->low) ||
           crosses(last, v, a->low + db) || crosses(last, v, a->valid_min) || crosses(last, v, a->valid_max) ||
           is_sentinel(a, v) || is_sentinel(a, last);
}

/*
 * Called before a cycle's inputs are pushed, so a consumer that sees a
 * sample also sees the cycle that produced it counted.
 */
void poll_dev_count(struct poll_set *ps, struct poll_dev *d, uint64_t requests, bool ok, uint64_t start,
                      uint64_t end)
{
    pthread_mutex_lock(&ps->stats_lock);
    d->stats.polls++;
    d->stats.requests += requests;
    if (ok) {
        d->stats.last_rtt_ms = (uint32_t)(end - start);
        d->stats.last_ok_mono_ms = end;
    } else {
        d->stats.failures++;
    }
    pthread_mutex_unlock(&ps->stats_lock);
}

/* Changes a device's comm state; stats readers see it through the lock. */
static void dev_set_state(struct poll_set *ps, struct poll_dev *d, enum poll_dev_state state)
{
    d->state = state;
    pthread_mutex_lock(&ps->stats_lock);
    d->stats.up = state == DEV_UP;
    pthread_mutex_unlock(&ps->stats_lock);
}

/*
 * Pushes one input (the core thread stamps it when it feeds it),
 * serialised with the other workers. Returns false when the queue is
 * closed, which stops every worker.
 */
static bool push_input(struct poll_set *ps, struct core_input *in)
{
    int rc;

    pthread_mutex_lock(&ps->push_lock);
    rc = queue_push(ps->inputs, in);
    pthread_mutex_unlock(&ps->push_lock);
    if (rc != 0)
        atomic_store(&ps->stop, true);
    return rc == 0;
}

static bool push_comm(struct poll_set *ps, int device, bool up)
{
    struct core_input in;

    memset(&in, 0, sizeof(in));
    in.type = CORE_IN_COMM;
    in.u.comm.device = device;
    in.u.comm.up = up;
    return push_input(ps, &in);
}

static bool push_sample(struct poll_set *ps, int point, double value, double raw)
{
    struct core_input in;

    memset(&in, 0, sizeof(in));
    in.type = CORE_IN_SAMPLE;
    in.u.sample.point = point;
    in.u.sample.value = value;
    in.u.sample.raw = raw;
    return push_input(ps, &in);
}

/*
 * After a (re)start every point is sent, since the core holds no value for
 * a down device; otherwise only the ones whose value changed.
 */
void poll_dev_answered(struct poll_bus *b, struct poll_dev *d, uint64_t now)
{
    bool fresh = d->state != DEV_UP;

    d->failures = 0;
    d->last_ok_ms = now;
    d->interval_ms = d->cfg->poll_ms;
    b->backoff_ms = BACKOFF_MIN_MS;
    if (fresh) {
        outputs_reassert(b->set, d->index);
        log_release(&d->complaint, LOG_LVL_NOTICE, "modbus: device \"%s\" bus \"%s\" %s: answering again",
                    d->cfg->id, b->cfg->id, b->where);
        log_info("modbus: device \"%s\" bus \"%s\" %s: comm up", d->cfg->id, b->cfg->id, b->where);
        dev_set_state(b->set, d, DEV_UP);
        if (!push_comm(b->set, d->index, true))
            return;
    }
    for (int i = 0; i < d->n_points; i++) {
        struct dev_point *p = &d->points[i];
        double raw = regfmt_raw(p->in, p->word, p->bit), v = point_value(p, raw);

        if (!fresh && !value_changed(p->cfg, p->last, v))
            continue;
        p->last = v;
        if (!push_sample(b->set, p->point, v, raw))
            return;
    }
}

/*
 * Doubles a down device's probe interval, up to 30 s (or poll_ms if longer).
 * The interval starts at no less than twice the timeout, so even the first
 * probes, which cost a whole timeout each, leave the line free at least half
 * of the time.
 */
static void dev_quarantine(struct poll_dev *d)
{
    long cap = d->cfg->poll_ms > QUARANTINE_MAX_MS ? d->cfg->poll_ms : QUARANTINE_MAX_MS;
    long base = d->interval_ms > d->cfg->timeout_ms ? d->interval_ms : d->cfg->timeout_ms;
    long next = base * 2;

    d->interval_ms = (int)(next > cap ? cap : next);
}

/*
 * The device goes down once, after fail_count failures in a row or fail_ms
 * without a good answer; on a shared bus a device that keeps failing is
 * quarantined.
 */
void poll_dev_failed(struct poll_bus *b, struct poll_dev *d, enum poll_fail_kind kind, int err, uint64_t now)
{
    char buf[128];

    d->failures++;
    if (err != 0)
        log_complain(&d->complaint, now, LOG_LVL_WARN, "modbus: device \"%s\" bus \"%s\" %s: read failed: %s",
                     d->cfg->id, b->cfg->id, b->where, poll_fail_reason(d, err, buf, sizeof(buf)));
    if (d->state != DEV_DOWN && (d->failures >= d->cfg->fail_count || now - d->last_ok_ms >= (uint64_t)d->cfg->fail_ms)) {
        log_warn("modbus: device \"%s\" bus \"%s\" %s: comm lost failures=%d", d->cfg->id, b->cfg->id, b->where,
                 d->failures);
        dev_set_state(b->set, d, DEV_DOWN);
        if (!push_comm(b->set, d->index, false))
            return;
    }
    if (d->state == DEV_DOWN && kind == FAIL_DEVICE && b->n_devs > 1)
        dev_quarantine(d);
}

void poll_dev_schedule(struct poll_dev *d, uint64_t now)
{
    uint64_t iv = (uint64_t)d->interval_ms;

    d->next_due_ms += iv;
    if (d->next_due_ms <= now)
        d->next_due_ms += ((now - d->next_due_ms) / iv + 1) * iv;
}

struct poll_dev *poll_bus_next_device(const struct poll_bus *b)
{
    struct poll_dev *next = b->devs[0];

    for (int i = 1; i < b->n_devs; i++)
        if (b->devs[i]->next_due_ms < next->next_due_ms)
            next = b->devs[i];
    return next;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

struct poll_set *poll_start(const struct cfg_site *site, struct queue *inputs, char *err, size_t errlen)
{
    struct poll_set *ps = calloc(1, sizeof(*ps));
    uint64_t now = clock_mono_ms();

    if (!ps) {
        snprintf(err, errlen, "modbus: out of memory");
        return NULL;
    }
    ps->site = site;
    ps->inputs = inputs;
    pthread_mutex_init(&ps->stats_lock, NULL);
    pthread_mutex_init(&ps->push_lock, NULL);
    pthread_mutex_init(&ps->out_lock, NULL);
    atomic_init(&ps->stop, false);
    ps->buses = calloc((size_t)site->n_buses + 1, sizeof(*ps->buses));
    ps->devs = calloc((size_t)site->n_devices + 1, sizeof(*ps->devs));
    if (!ps->buses || !ps->devs)
        goto oom;
    ps->n_buses = site->n_buses;
    ps->n_devs = site->n_devices;
    for (int i = 0; i < ps->n_buses; i++)
        bus_build(ps, i);
    for (int i = 0; i < ps->n_devs; i++)
        if (dev_build(ps, i, now) != 0)
            goto oom;
    if (assign_devices(ps) != 0)
        goto oom;
    if (rtu_start(ps, err, errlen) != 0 || tcploop_start(ps, err, errlen) != 0)
        goto fail;
    return ps;
oom:
    snprintf(err, errlen, "modbus: out of memory");
fail:
    poll_stop(ps);
    return NULL;
}

void poll_stop(struct poll_set *ps)
{
    if (!ps)
        return;
    atomic_store(&ps->stop, true);
    if (ps->buses) {
        rtu_stop(ps);
        tcploop_stop(ps);
    }
    for (int i = 0; ps->devs && i < ps->n_devs; i++) {
        free(ps->devs[i].blocks);
        free(ps->devs[i].words);
        free(ps->devs[i].bits);
        free(ps->devs[i].points);
    }
    free(ps->dev_refs);
    free(ps->devs);
    free(ps->buses);
    pthread_mutex_destroy(&ps->stats_lock);
    pthread_mutex_destroy(&ps->push_lock);
    pthread_mutex_destroy(&ps->out_lock);
    free(ps);
}

/* The slot of (device, input): its own, else a free one; NULL when full. Under out_lock. */
static struct poll_out *output_slot(struct poll_set *ps, int device, int input)
{
    struct poll_out *free_one = NULL;

    for (int i = 0; i < POLL_MAX_OUTPUTS; i++) {
        struct poll_out *o = &ps->outs[i];

        if (o->used && o->device == device && o->input == input)
            return o;
        if (!o->used && !free_one)
            free_one = o;
    }
    return free_one;
}

int poll_write(struct poll_set *ps, int device, int input, uint16_t value)
{
    const struct cfg_profile *prof;
    struct poll_out *o;

    if (device < 0 || device >= ps->n_devs)
        return -1;
    prof = &ps->site->profiles[ps->site->devices[device].profile];
    if (input < 0 || input >= prof->n_inputs ||
        (prof->inputs[input].table != CFG_TABLE_COIL && prof->inputs[input].table != CFG_TABLE_HOLDING))
        return -1;
    pthread_mutex_lock(&ps->out_lock);
    o = output_slot(ps, device, input);
    if (o)
        *o = (struct poll_out){.used = true, .pending = true, .device = device, .input = input, .value = value,
                               .gen = o->gen + 1};
    pthread_mutex_unlock(&ps->out_lock);
    return o ? 0 : -1;
}

void poll_get_stats(struct poll_set *ps, int device, struct poll_device_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (device < 0 || device >= ps->n_devs)
        return;
    pthread_mutex_lock(&ps->stats_lock);
    *out = ps->devs[device].stats;
    pthread_mutex_unlock(&ps->stats_lock);
}

uint64_t poll_progress(struct poll_set *ps)
{
    /* A new generation only once every bus has turned since the last one:
     * a single hung worker freezes it, whatever the others do. */
    for (int i = 0; i < ps->n_buses; i++)
        if (atomic_load(&ps->buses[i].loops) == ps->buses[i].loops_seen)
            return ps->generation;
    for (int i = 0; i < ps->n_buses; i++)
        ps->buses[i].loops_seen = atomic_load(&ps->buses[i].loops);
    return ++ps->generation;
}
