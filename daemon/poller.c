/*
 * poller.c - Modbus polling threads (see poller.h and docs/modbus.md).
 *
 * libmodbus is blocking and a context is not thread-safe, so each bus gets
 * one thread and one modbus_t, and talks to nobody but the input queue. A bus
 * thread keeps its devices ordered by due time: it picks the device whose
 * poll is due first, reads its plan (the few requests poll_plan() computed at
 * start-up), decodes every point and pushes what changed, then moves that
 * device's due time on by exactly one interval. Slots missed because the bus
 * was busy are skipped rather than caught up in a burst.
 *
 * Failures are classified by errno the way LIBRARIES.md describes for 3.1.6:
 *  - an exception (EMBX*) means the device answered: the link is fine;
 *  - a timeout or bad data means the line may still carry a late reply: on
 *    TCP the connection is closed and reopened at once (a late reply would
 *    desync every later read), on RTU the line is flushed;
 *  - an answer from another unit id or with another function code (checked
 *    by mbreq.c: libmodbus 3.1.6 does not look at a TCP answer's unit id)
 *    is bad data too: the poll fails, its values are never used;
 *  - anything else is a link failure: close, and reconnect with back-off
 *    (100 ms doubling to 5 s). While the link is down, every device that
 *    comes due counts a failure without I/O so it still goes down on time.
 * A device that is down on a shared bus is probed with a doubling interval
 * (up to 30 s): each probe costs a whole timeout of line time that the
 * healthy devices on the bus would otherwise lose.
 *
 * Outputs (poll_write()) are a small table of desired values shared by the
 * bus threads under out_lock: a bus thread writes the pending outputs of a
 * device right before that device's poll, on the connection the poll uses,
 * and marks them pending again whenever the device comes back up, so a
 * relay module that rebooted gets its outputs back. A write the device
 * refuses with an exception is logged and retried on later polls without
 * counting against the device's comm state (its inputs still read fine);
 * any other write failure is a failed poll like a failed read.
 *
 * Everything is allocated in poll_start(); the threads allocate nothing.
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
#include <time.h>

#include <modbus.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "mbreq.h"
#include "regfmt.h"

#define IDLE_SLEEP_MS 100      /* longest sleep: bounds how late a stop is noticed */
#define BACKOFF_MIN_MS 100     /* first reconnect delay after a link failure */
#define BACKOFF_MAX_MS 5000
#define QUARANTINE_MAX_MS 30000
/* A bus thread's stack. glibc gives every thread 8 MiB of address space by
 * default; a bus thread needs libmodbus's 260-byte frames, a log line and
 * getaddrinfo() (the deepest: name service modules) - well under this, with
 * room for ASan's larger frames. 100 buses then reserve 50 MiB, not 800. */
#define BUS_STACK_BYTES (512 * 1024)

enum dev_state { DEV_UNKNOWN, DEV_UP, DEV_DOWN };

/* Why a poll failed: the device misbehaved, or the link to the bus is down. */
enum fail_kind { FAIL_DEVICE, FAIL_LINK };

/* One request of a device's plan and where its answer lands. */
struct dev_block {
    struct poll_block req;
    uint16_t *words;           /* registers, or NULL for a bit table */
    uint8_t *bits;             /* bits, or NULL for a register table */
};

struct dev_point {
    int point;                 /* site point index */
    const struct cfg_point *cfg;
    const struct cfg_input *in;
    const uint16_t *word;      /* where its raw value lands after a read */
    const uint8_t *bit;
    double last;               /* last value sent to the core */
};

struct poll_bus;

struct poll_dev {
    int index;                 /* site device index */
    const struct cfg_device *cfg;
    struct poll_bus *bus;
    struct dev_block *blocks;
    int n_blocks;
    uint16_t *words;
    uint8_t *bits;
    struct dev_point *points;
    int n_points;
    enum dev_state state;
    int failures;              /* consecutive failed polls */
    uint64_t last_ok_ms;       /* last good answer, or the start */
    uint64_t next_due_ms;
    int interval_ms;           /* poll_ms, or longer in quarantine */
    struct log_complaint complaint;
    struct log_complaint write_complaint;
    struct mbreq_answer answer; /* what it answered when the unit or function did not match */
    struct poll_device_stats stats; /* guarded by poll_set.stats_lock */
};

/* One output poll_write() asked for. */
struct poll_out {
    bool used;
    bool pending;              /* not written since it was asked for or since the device came up */
    int device;                /* site device index */
    int input;                 /* profile input index: a coil or a holding register */
    uint16_t value;
    unsigned gen;              /* moves on every poll_write(): a write of an older value leaves it pending */
};

struct poll_bus {
    struct poll_set *set;
    const struct cfg_bus *cfg;
    char where[CFG_PATH_MAX + 16]; /* "host:port" or the serial device */
    modbus_t *ctx;
    bool connected;
    uint64_t reconnect_at_ms;
    int backoff_ms;
    struct poll_dev **devs;
    int n_devs;
    atomic_uint_fast64_t loops;
    uint64_t loops_seen;       /* by poll_progress(), on the watchdog's thread */
    pthread_t thread;
    bool started;
    struct log_complaint complaint;
};

struct poll_set {
    const struct cfg_site *site;
    struct queue *inputs;
    struct poll_bus *buses;
    int n_buses;
    struct poll_dev *devs;     /* indexed like site->devices */
    int n_devs;
    struct poll_dev **dev_refs; /* storage behind every bus's devs */
    pthread_mutex_t stats_lock;
    pthread_mutex_t push_lock;
    pthread_mutex_t out_lock;  /* outs */
    struct poll_out outs[POLL_MAX_OUTPUTS];
    atomic_bool stop;
    uint64_t generation;       /* poll_progress(): rounds in which every bus moved */
};

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

/* Creates the bus's libmodbus context (not yet connected). */
static int bus_build(struct poll_set *ps, int index, char *err, size_t errlen)
{
    struct poll_bus *b = &ps->buses[index];
    const struct cfg_bus *cfg = &ps->site->buses[index];
    char port[16];

    b->set = ps;
    b->cfg = cfg;
    b->backoff_ms = BACKOFF_MIN_MS;
    atomic_init(&b->loops, 0);
    if (cfg->type == CFG_BUS_TCP) {
        snprintf(port, sizeof(port), "%d", cfg->port);
        snprintf(b->where, sizeof(b->where), "%s:%d", cfg->host, cfg->port);
        b->ctx = modbus_new_tcp_pi(cfg->host, port);
    } else {
        snprintf(b->where, sizeof(b->where), "%s", cfg->device);
        b->ctx = modbus_new_rtu(cfg->device, cfg->baud, cfg->parity, cfg->data_bits, cfg->stop_bits);
    }
    if (!b->ctx) {
        snprintf(err, errlen, "modbus: bus \"%s\" %s: cannot create context: %s", cfg->id, b->where,
                 strerror(errno));
        return -1;
    }
    modbus_set_error_recovery(b->ctx, MODBUS_ERROR_RECOVERY_NONE);
    return 0;
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

/* Thread-safe text for an errno or a libmodbus error code. */
static const char *err_text(int err, char *buf, size_t len)
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
 * Why d's last request failed, for its log line. An answer from the wrong
 * unit or with the wrong function code names what came back: a gateway
 * routing to the wrong slave or a device set to another unit id.
 */
static const char *fail_reason(const struct poll_dev *d, int err, char *buf, size_t len)
{
    if (err == MBREQ_EBADUNIT)
        snprintf(buf, len, "answered as unit %d, expected %d", d->answer.unit, d->cfg->unit);
    else if (err == MBREQ_EBADFUNC)
        snprintf(buf, len, "answered with function code 0x%02x to another request", d->answer.function);
    else
        return err_text(err, buf, len);
    return buf;
}

static bool is_exception(int err)
{
    return err >= EMBXILFUN && err <= EMBXGTAR;
}

/* Errors after which a late or broken reply may still be on the line. */
static bool is_protocol_error(int err)
{
    return err == ETIMEDOUT || err == EMBBADCRC || err == EMBBADDATA || err == EMBBADEXC ||
           err == EMBUNKEXC || err == EMBMDATA || err == EMBBADSLAVE || err == MBREQ_EBADUNIT ||
           err == MBREQ_EBADFUNC;
}

static void set_timeouts(modbus_t *ctx, int timeout_ms)
{
    uint32_t sec = (uint32_t)timeout_ms / 1000, usec = (uint32_t)(timeout_ms % 1000) * 1000;

    modbus_set_response_timeout(ctx, sec, usec);
    modbus_set_byte_timeout(ctx, sec, usec);
}

/* Closes the link; the next poll reconnects at reconnect_at_ms. */
static void bus_disconnect(struct poll_bus *b, uint64_t reconnect_at_ms)
{
    modbus_close(b->ctx);
    b->connected = false;
    b->reconnect_at_ms = reconnect_at_ms;
}

/* A link failure: close and wait the back-off, which doubles up to 5 s. */
static void bus_link_failed(struct poll_bus *b, uint64_t now)
{
    bus_disconnect(b, now + (uint64_t)b->backoff_ms);
    b->backoff_ms = b->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b->backoff_ms * 2;
}

/*
 * Makes sure the bus is connected before polling d. Returns 0 when it is;
 * -1 when the back-off has not elapsed (no I/O) or the connect failed. The
 * connect uses d's timeout (libmodbus uses the response timeout for it).
 */
static int bus_connect(struct poll_bus *b, const struct poll_dev *d, uint64_t now)
{
    char buf[128];

    if (b->connected)
        return 0;
    if (now < b->reconnect_at_ms)
        return -1;
    modbus_close(b->ctx); /* 3.1.6 leaks the old fd if connect comes first */
    set_timeouts(b->ctx, d->cfg->timeout_ms);
    if (modbus_connect(b->ctx) != 0) {
        int e = errno;

        log_complain(&b->complaint, now, LOG_LVL_WARN, "modbus: bus \"%s\" %s: connect failed: %s",
                     b->cfg->id, b->where, err_text(e, buf, sizeof(buf)));
        bus_link_failed(b, clock_mono_ms());
        return -1;
    }
    /* RS-485 direction control where the port supports it; a pty or an
     * adapter with automatic direction control refuses the ioctl, which is fine. */
    if (b->cfg->type == CFG_BUS_RTU)
        (void)modbus_rtu_set_serial_mode(b->ctx, MODBUS_RTU_RS485);
    log_release(&b->complaint, LOG_LVL_NOTICE, "modbus: bus \"%s\" %s: connected", b->cfg->id, b->where);
    b->connected = true;
    return 0;
}

/* Recovers the link after a failed read and says whose fault it was. */
static enum fail_kind bus_recover(struct poll_bus *b, int err, uint64_t now)
{
    if (is_exception(err))
        return FAIL_DEVICE;
    if (is_protocol_error(err)) {
        if (b->cfg->type == CFG_BUS_RTU)
            modbus_flush(b->ctx);
        else
            bus_disconnect(b, now);
        return FAIL_DEVICE;
    }
    bus_link_failed(b, now);
    return FAIL_LINK;
}

/* ------------------------------------------------------------------------ */
/* Outputs                                                                  */

/* Copies device's pending outputs into todo; returns how many. */
static int outputs_pending(struct poll_set *ps, int device, struct poll_out *todo)
{
    int n = 0;

    pthread_mutex_lock(&ps->out_lock);
    for (int i = 0; i < POLL_MAX_OUTPUTS; i++)
        if (ps->outs[i].used && ps->outs[i].pending && ps->outs[i].device == device)
            todo[n++] = ps->outs[i];
    pthread_mutex_unlock(&ps->out_lock);
    return n;
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

/* A device that came (back) up gets every output it holds written again. */
static void outputs_reassert(struct poll_set *ps, int device)
{
    pthread_mutex_lock(&ps->out_lock);
    for (int i = 0; i < POLL_MAX_OUTPUTS; i++)
        if (ps->outs[i].used && ps->outs[i].device == device)
            ps->outs[i].pending = true;
    pthread_mutex_unlock(&ps->out_lock);
}

/* One FC5/FC6 write; 0 or the errno. */
static int output_write(struct poll_bus *b, struct poll_dev *d, const struct cfg_input *in, uint16_t value)
{
    modbus_set_slave(b->ctx, d->cfg->unit);
    set_timeouts(b->ctx, d->cfg->timeout_ms);
    return mbreq_write(b->ctx, d->cfg->unit, in->table, in->address, value, &d->answer);
}

/*
 * Writes d's pending outputs before its poll. Returns 0 (written, or
 * refused with an exception: logged, retried on the next poll), or the
 * errno of a failure that makes this poll fail.
 */
static int dev_write_outputs(struct poll_bus *b, struct poll_dev *d, uint64_t *requests)
{
    struct poll_out todo[POLL_MAX_OUTPUTS];
    const struct cfg_profile *prof = &b->set->site->profiles[d->cfg->profile];
    int n = outputs_pending(b->set, d->index, todo);
    char buf[128];

    for (int i = 0; i < n; i++) {
        const struct cfg_input *in = &prof->inputs[todo[i].input];
        int err = output_write(b, d, in, todo[i].value);

        (*requests)++;
        if (err != 0) {
            log_complain(&d->write_complaint, clock_mono_ms(), LOG_LVL_ERR,
                         "modbus: device \"%s\" bus \"%s\" %s: write of output \"%s\" = %u failed: %s; retrying",
                         d->cfg->id, b->cfg->id, b->where, in->name, (unsigned)todo[i].value,
                         fail_reason(d, err, buf, sizeof(buf)));
            if (is_exception(err))
                continue;
            return err;
        }
        output_done(b->set, &todo[i]);
        log_release(&d->write_complaint, LOG_LVL_NOTICE, "modbus: device \"%s\": outputs can be written again",
                    d->cfg->id);
        log_notice("modbus: device \"%s\" bus \"%s\" %s: output \"%s\" set to %u", d->cfg->id, b->cfg->id,
                   b->where, in->name, (unsigned)todo[i].value);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Polling one device                                                       */

/* Sends the requests of d's plan. Returns 0 or the errno of the first failure. */
static int dev_read(struct poll_bus *b, struct poll_dev *d, uint64_t *requests)
{
    modbus_set_slave(b->ctx, d->cfg->unit);
    set_timeouts(b->ctx, d->cfg->timeout_ms);
    for (int i = 0; i < d->n_blocks; i++) {
        const struct dev_block *blk = &d->blocks[i];
        int err = mbreq_read(b->ctx, d->cfg->unit, blk->req.table, blk->req.address, blk->req.count, blk->words,
                             blk->bits, &d->answer);

        (*requests)++;
        if (err)
            return err;
    }
    return 0;
}

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
 * Counts a finished poll cycle. Called before its inputs are pushed, so a
 * consumer that sees a sample also sees the cycle that produced it counted.
 */
static void dev_count(struct poll_set *ps, struct poll_dev *d, uint64_t requests, bool ok, uint64_t start,
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
static void dev_set_state(struct poll_set *ps, struct poll_dev *d, enum dev_state state)
{
    d->state = state;
    pthread_mutex_lock(&ps->stats_lock);
    d->stats.up = state == DEV_UP;
    pthread_mutex_unlock(&ps->stats_lock);
}

/*
 * Pushes one input (the core thread stamps it when it feeds it),
 * serialised with the other bus threads. Returns false when the queue is
 * closed, which stops every bus thread.
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
 * A good answer: comm up if it was not, then the points. After a (re)start
 * every point is sent, since the core holds no value for a down device;
 * otherwise only the ones whose value changed.
 */
static void dev_answered(struct poll_bus *b, struct poll_dev *d, uint64_t now)
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
 * A failed poll (err 0: skipped because the link is down). The device goes
 * down once, after fail_count failures in a row or fail_ms without a good
 * answer; on a shared bus a device that keeps failing is quarantined.
 */
static void dev_failed(struct poll_bus *b, struct poll_dev *d, enum fail_kind kind, int err, uint64_t now)
{
    char buf[128];

    d->failures++;
    if (err != 0)
        log_complain(&d->complaint, now, LOG_LVL_WARN, "modbus: device \"%s\" bus \"%s\" %s: read failed: %s",
                     d->cfg->id, b->cfg->id, b->where, fail_reason(d, err, buf, sizeof(buf)));
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

/* One poll cycle of d: connect if needed, write pending outputs, read its plan, report. */
static void dev_poll(struct poll_bus *b, struct poll_dev *d)
{
    uint64_t start = clock_mono_ms(), requests = 0, end;
    int err, werr;

    if (bus_connect(b, d, start) != 0) {
        end = clock_mono_ms();
        dev_count(b->set, d, 0, false, start, end);
        dev_failed(b, d, FAIL_LINK, 0, end);
        return;
    }
    werr = dev_write_outputs(b, d, &requests);
    errno = 0;
    err = werr ? werr : dev_read(b, d, &requests);
    end = clock_mono_ms();
    dev_count(b->set, d, requests, err == 0, start, end);
    if (err == 0)
        dev_answered(b, d, end);
    else /* a failed write was logged already: no second line calling it a read */
        dev_failed(b, d, bus_recover(b, err, end), werr ? 0 : err, end);
}

/* Moves d's due time on by one interval, skipping the slots already missed. */
static void dev_schedule(struct poll_dev *d, uint64_t now)
{
    uint64_t iv = (uint64_t)d->interval_ms;

    d->next_due_ms += iv;
    if (d->next_due_ms <= now)
        d->next_due_ms += ((now - d->next_due_ms) / iv + 1) * iv;
}

/* ------------------------------------------------------------------------ */
/* Bus threads                                                              */

static struct poll_dev *bus_next_device(const struct poll_bus *b)
{
    struct poll_dev *next = b->devs[0];

    for (int i = 1; i < b->n_devs; i++)
        if (b->devs[i]->next_due_ms < next->next_due_ms)
            next = b->devs[i];
    return next;
}

static void sleep_until_ms(uint64_t when_ms)
{
    struct timespec ts = { .tv_sec = (time_t)(when_ms / 1000), .tv_nsec = (long)(when_ms % 1000) * 1000000L };

    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* The bus thread: poll whichever device is due, sleep in short steps. */
static void *bus_main(void *arg)
{
    struct poll_bus *b = arg;

    while (!atomic_load(&b->set->stop)) {
        uint64_t now = clock_mono_ms();
        struct poll_dev *d;

        atomic_fetch_add(&b->loops, 1);
        if (b->n_devs == 0) {
            sleep_until_ms(now + IDLE_SLEEP_MS);
            continue;
        }
        d = bus_next_device(b);
        if (d->next_due_ms > now) {
            sleep_until_ms(d->next_due_ms < now + IDLE_SLEEP_MS ? d->next_due_ms : now + IDLE_SLEEP_MS);
            continue;
        }
        dev_poll(b, d);
        dev_schedule(d, clock_mono_ms());
    }
    modbus_close(b->ctx);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

struct poll_set *poll_start(const struct cfg_site *site, struct queue *inputs, char *err, size_t errlen)
{
    struct poll_set *ps = calloc(1, sizeof(*ps));
    uint64_t now = clock_mono_ms();
    pthread_attr_t attr;

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
        if (bus_build(ps, i, err, errlen) != 0)
            goto fail;
    for (int i = 0; i < ps->n_devs; i++)
        if (dev_build(ps, i, now) != 0)
            goto oom;
    if (assign_devices(ps) != 0)
        goto oom;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, BUS_STACK_BYTES);
    for (int i = 0; i < ps->n_buses; i++) {
        int rc = pthread_create(&ps->buses[i].thread, &attr, bus_main, &ps->buses[i]);

        if (rc != 0) {
            pthread_attr_destroy(&attr);
            snprintf(err, errlen, "modbus: bus \"%s\": cannot start thread: %s", site->buses[i].id, strerror(rc));
            goto fail;
        }
        ps->buses[i].started = true;
    }
    pthread_attr_destroy(&attr);
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
    for (int i = 0; i < ps->n_buses; i++) {
        if (ps->buses[i].started)
            pthread_join(ps->buses[i].thread, NULL);
        if (ps->buses[i].ctx)
            modbus_free(ps->buses[i].ctx);
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
    /* A new generation only once every bus thread has looped since the
     * last one: a single hung thread freezes it, whatever the others do. */
    for (int i = 0; i < ps->n_buses; i++)
        if (atomic_load(&ps->buses[i].loops) == ps->buses[i].loops_seen)
            return ps->generation;
    for (int i = 0; i < ps->n_buses; i++)
        ps->buses[i].loops_seen = atomic_load(&ps->buses[i].loops);
    return ++ps->generation;
}
