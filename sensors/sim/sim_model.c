/*
 * sim_model.c - the simulated devices: register maps, values, fault modes.
 *
 * Each device of the site gets its own modbus_mapping, sized to cover every
 * address its profile defines, so requests that read across unused
 * addresses (the poller's merged requests do) are answered like a real
 * module answers them. Several devices on one bus are told apart by the
 * unit id of the request.
 */
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "regfmt.h"

/* One past the highest address the profile uses in `table` (0 if none). */
static int table_size(const struct cfg_profile *prof, enum cfg_table table)
{
    int n = 0;

    for (int i = 0; i < prof->n_inputs; i++) {
        int end = prof->inputs[i].address + regfmt_width(prof->inputs[i].format);

        if (prof->inputs[i].table == table && end > n)
            n = end;
    }
    return n;
}

/* The value a point reads on a quiet site: closed contacts, a store at
 * 20 C and 50 % RH, supervised loops in the middle of their normal window.
 * A simulator that started every register at 0 would open with tamper and
 * low-temperature alarms nobody asked for. */
static double quiet_value(const struct cfg_point *p)
{
    switch (p->kind) {
    case CFG_KIND_TEMPERATURE: return 20.0;
    case CFG_KIND_HUMIDITY: return 50.0;
    case CFG_KIND_EOL: return (p->eol->normal_lo + p->eol->normal_hi) / 2;
    case CFG_KIND_ANALOG:
        if (!isnan(p->analog->low) && !isnan(p->analog->high))
            return (p->analog->low + p->analog->high) / 2;
        return isnan(p->analog->high) ? 0.0 : p->analog->high - 1.0;
    default: return p->invert ? 1.0 : 0.0;
    }
}

static int set_quiet_values(struct sim *s, char *err, size_t errlen)
{
    for (int i = 0; i < s->site->n_points; i++)
        if (sim_set_point(s, i, quiet_value(&s->site->points[i]), err, errlen) < 0)
            return -1;
    return 0;
}

int sim_devices_init(struct sim *s, char *err, size_t errlen)
{
    s->devs = calloc((size_t)s->site->n_devices + 1, sizeof(*s->devs));
    if (!s->devs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < s->site->n_devices; i++) {
        struct sim_dev *d = &s->devs[i];
        const struct cfg_profile *prof = &s->site->profiles[s->site->devices[i].profile];

        d->cfg = &s->site->devices[i];
        d->map = modbus_mapping_new(table_size(prof, CFG_TABLE_COIL), table_size(prof, CFG_TABLE_DISCRETE),
                                    table_size(prof, CFG_TABLE_HOLDING), table_size(prof, CFG_TABLE_INPUT));
        if (!d->map) {
            snprintf(err, errlen, "device \"%s\": cannot allocate its register map", d->cfg->id);
            return -1;
        }
    }
    return set_quiet_values(s, err, errlen);
}

void sim_devices_free(struct sim *s)
{
    for (int i = 0; s->devs && i < s->site->n_devices; i++)
        if (s->devs[i].map)
            modbus_mapping_free(s->devs[i].map);
    free(s->devs);
    s->devs = NULL;
}

struct sim_dev *sim_find_unit(struct sim *s, int bus, int unit)
{
    for (int i = 0; i < s->site->n_devices; i++)
        if (s->devs[i].cfg->bus == bus && s->devs[i].cfg->unit == unit)
            return &s->devs[i];
    return NULL;
}

/* True while some device of the bus is in `close` mode. */
bool sim_bus_closing(const struct sim *s, int bus)
{
    for (int i = 0; i < s->site->n_devices; i++)
        if (s->devs[i].cfg->bus == bus && s->devs[i].mode == SIM_CLOSE)
            return true;
    return false;
}

int sim_parse_mode(const char *name, enum sim_mode *mode)
{
    static const struct { const char *name; enum sim_mode mode; } modes[] = {
        { "ok", SIM_OK }, { "timeout", SIM_TIMEOUT }, { "exception", SIM_EXCEPTION },
        { "garbage", SIM_GARBAGE }, { "close", SIM_CLOSE }, { "wrong-unit", SIM_WRONG_UNIT },
        { "wrong-function", SIM_WRONG_FUNC }, { "slow", SIM_SLOW },
    };

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(name, modes[i].name) == 0) {
            *mode = modes[i].mode;
            return 0;
        }
    }
    return -1;
}

/* Stores a raw value into the map slot of a profile input, encoded as the
 * poller decodes it (regfmt: the same word order, the same bit layout). */
static int store_raw(modbus_mapping_t *map, const struct cfg_input *in, double raw, char *err, size_t errlen)
{
    uint16_t *words = in->table == CFG_TABLE_HOLDING ? map->tab_registers : map->tab_input_registers;
    uint8_t *bits = in->table == CFG_TABLE_COIL ? map->tab_bits : map->tab_input_bits;

    return regfmt_store(in, raw, words + in->address, bits + in->address, err, errlen);
}

/*
 * Sets a point to an engineering value: inverts the point's and then the
 * profile's scale/offset into the raw register or bit the poller will read.
 */
int sim_set_point(struct sim *s, int point, double value, char *err, size_t errlen)
{
    const struct cfg_point *p = &s->site->points[point];
    const struct sim_dev *d = &s->devs[p->device];
    const struct cfg_input *in = &s->site->profiles[d->cfg->profile].inputs[p->input];
    double raw;

    if (p->scale == 0.0 || in->scale == 0.0 || isinf(value)) {
        snprintf(err, errlen, "cannot invert the scale of point \"%s\"", p->id);
        return -1;
    }
    /* NaN passes through the inversion: a float input then serves the
     * "no reading" a real transmitter reports; other formats refuse it. */
    raw = ((value - p->offset) / p->scale - in->offset) / in->scale;
    if (isinf(raw)) {
        snprintf(err, errlen, "value out of range");
        return -1;
    }
    return store_raw(d->map, in, raw, err, errlen);
}

int sim_get(const struct sim *s, int device, enum cfg_table table, int address, unsigned *value, char *err,
            size_t errlen)
{
    const modbus_mapping_t *map = s->devs[device].map;
    static const char *const names[] = { "coil", "discrete", "holding", "input" };
    int size = table == CFG_TABLE_COIL       ? map->nb_bits
               : table == CFG_TABLE_DISCRETE ? map->nb_input_bits
               : table == CFG_TABLE_HOLDING  ? map->nb_registers
                                             : map->nb_input_registers;

    if (address < 0 || address >= size) {
        snprintf(err, errlen, "%s address %d is outside the device's map (0..%d)", names[table], address, size - 1);
        return -1;
    }
    switch (table) {
    case CFG_TABLE_COIL: *value = map->tab_bits[address]; break;
    case CFG_TABLE_DISCRETE: *value = map->tab_input_bits[address]; break;
    case CFG_TABLE_HOLDING: *value = map->tab_registers[address]; break;
    default: *value = map->tab_input_registers[address]; break;
    }
    return 0;
}

/* Writes bytes that frame like a response but are not a valid one. */
static void answer_garbage(const struct sim_bus *b, const uint8_t *req, int fd)
{
    uint8_t out[9];
    size_t n;

    if (b->cfg->type == CFG_BUS_TCP) {
        /* The request's MBAP header, then a read answer with byte count 0:
         * well framed, but the length never matches what was asked. */
        memcpy(out, req, 4);
        out[4] = 0;
        out[5] = 3;
        out[6] = req[6];
        out[7] = req[7];
        out[8] = 0;
        n = 9;
    } else {
        /* An RTU answer with byte count 0 and a wrong CRC. */
        out[0] = req[0];
        out[1] = req[1];
        out[2] = 0;
        out[3] = 0xDE;
        out[4] = 0xAD;
        n = 5;
    }
    if (write(fd, out, n) < 0 && errno != EAGAIN)
        fprintf(stderr, "vigil-sim: bus \"%s\": write: %s\n", b->cfg->id, strerror(errno));
}

/*
 * False for a read or write of a table the device's profile does not have:
 * a real module without holding registers answers FC3 with "illegal
 * function", not with "illegal address" (libmodbus' reply would say the
 * latter). Other function codes are left to modbus_reply.
 */
static bool table_present(const modbus_mapping_t *map, int function)
{
    switch (function) {
    case MODBUS_FC_READ_COILS:
    case MODBUS_FC_WRITE_SINGLE_COIL:
    case MODBUS_FC_WRITE_MULTIPLE_COILS: return map->nb_bits > 0;
    case MODBUS_FC_READ_DISCRETE_INPUTS: return map->nb_input_bits > 0;
    case MODBUS_FC_READ_HOLDING_REGISTERS:
    case MODBUS_FC_WRITE_SINGLE_REGISTER:
    case MODBUS_FC_WRITE_MULTIPLE_REGISTERS: return map->nb_registers > 0;
    case MODBUS_FC_READ_INPUT_REGISTERS: return map->nb_input_registers > 0;
    default: return true;
    }
}

/*
 * Answers a copy of req altered the way mode says: libmodbus builds its
 * answer from the request's unit and function, so the answer is well
 * formed (CRC included) and wrong in exactly that one field.
 */
static void answer_altered(struct sim_bus *b, struct sim_dev *d, const uint8_t *req, int len)
{
    uint8_t alt[MODBUS_MAX_ADU_LENGTH];
    int h = b->cfg->type == CFG_BUS_TCP ? 6 : 0;

    if (len > (int)sizeof(alt))
        return;
    memcpy(alt, req, (size_t)len);
    if (d->mode == SIM_WRONG_UNIT)
        alt[h] = (uint8_t)(req[h] % 247 + 1);
    else if (req[h + 1] >= MODBUS_FC_READ_COILS && req[h + 1] <= MODBUS_FC_READ_INPUT_REGISTERS)
        alt[h + 1] = (uint8_t)(req[h + 1] ^ (req[h + 1] <= MODBUS_FC_READ_DISCRETE_INPUTS ? 3 : 7));
    modbus_reply(b->ctx, alt, len, d->map);
}

/* Holds a request back for SIM_SLOW_MS; with every slot taken it goes unanswered, like a timeout. */
static void defer_answer(struct sim_bus *b, const uint8_t *req, int len, int fd)
{
    for (int i = 0; i < SIM_MAX_DEFERRED; i++) {
        struct sim_deferred *q = &b->deferred[i];

        if (q->used || len > (int)sizeof(q->req))
            continue;
        *q = (struct sim_deferred){ .used = true, .fd = fd, .due_ms = clock_mono_ms() + SIM_SLOW_MS, .len = len };
        memcpy(q->req, req, (size_t)len);
        return;
    }
}

void sim_answer_due(struct sim *s, uint64_t now_ms)
{
    for (int i = 0; i < s->site->n_buses; i++) {
        struct sim_bus *b = &s->buses[i];

        for (int k = 0; k < SIM_MAX_DEFERRED; k++) {
            struct sim_deferred *q = &b->deferred[k];
            struct sim_dev *d;

            if (!q->used || q->due_ms > now_ms)
                continue;
            q->used = false;
            d = sim_find_unit(s, i, q->req[b->cfg->type == CFG_BUS_TCP ? 6 : 0]);
            modbus_set_socket(b->ctx, q->fd);
            if (d)
                modbus_reply(b->ctx, q->req, q->len, d->map);
        }
    }
}

long sim_next_answer_ms(const struct sim *s, uint64_t now_ms)
{
    long next = -1;

    for (int i = 0; i < s->site->n_buses; i++)
        for (int k = 0; k < SIM_MAX_DEFERRED; k++) {
            const struct sim_deferred *q = &s->buses[i].deferred[k];
            long wait = q->due_ms > now_ms ? (long)(q->due_ms - now_ms) : 0;

            if (q->used && (next < 0 || wait < next))
                next = wait;
        }
    return next;
}

/*
 * Answers one complete request (an ADU as libmodbus frames it for the bus
 * type) on fd, as the unit it addresses would in its current mode.
 */
void sim_answer(struct sim *s, struct sim_bus *b, const uint8_t *req, int len, int fd)
{
    int unit = req[b->cfg->type == CFG_BUS_TCP ? 6 : 0];
    struct sim_dev *d = sim_find_unit(s, b->index, unit);

    modbus_set_socket(b->ctx, fd);
    if (!d) {
        /* A gateway says so for a unit nobody answers for; on a serial line
         * an absent unit is simply silent. */
        if (b->cfg->type == CFG_BUS_TCP)
            modbus_reply_exception(b->ctx, req, MODBUS_EXCEPTION_GATEWAY_TARGET);
        return;
    }
    d->requests++;
    if (d->mode == SIM_OK && !table_present(d->map, req[b->cfg->type == CFG_BUS_TCP ? 7 : 1])) {
        modbus_reply_exception(b->ctx, req, MODBUS_EXCEPTION_ILLEGAL_FUNCTION);
        return;
    }
    switch (d->mode) {
    case SIM_OK: modbus_reply(b->ctx, req, len, d->map); break;
    case SIM_EXCEPTION: modbus_reply_exception(b->ctx, req, MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE); break;
    case SIM_GARBAGE: answer_garbage(b, req, fd); break;
    case SIM_WRONG_UNIT:
    case SIM_WRONG_FUNC: answer_altered(b, d, req, len); break;
    case SIM_SLOW: defer_answer(b, req, len, fd); break;
    default: break; /* timeout, and close on a line that cannot be closed */
    }
}
