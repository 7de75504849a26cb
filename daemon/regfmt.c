/*
 * regfmt.c - register formats and the one 32-bit word-order codec (see
 * regfmt.h and docs/modbus.md, "Register formats").
 */
#include "regfmt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const regfmt_format_names[] = { "bit", "u16", "s16", "regbit", "field", "u32", "s32", "f32", NULL };
const char *const regfmt_order_names[] = { "ABCD", "CDAB", "BADC", "DCBA", NULL };

_Static_assert(sizeof regfmt_format_names / sizeof *regfmt_format_names == CFG_FMT_F32 + 2, "format names");
_Static_assert(sizeof regfmt_order_names / sizeof *regfmt_order_names == CFG_ORDER_DCBA + 2, "order names");

int regfmt_width(enum cfg_format fmt)
{
    return fmt == CFG_FMT_U32 || fmt == CFG_FMT_S32 || fmt == CFG_FMT_F32 ? 2 : 1;
}

bool regfmt_is_numeric(enum cfg_format fmt)
{
    return fmt != CFG_FMT_BIT && fmt != CFG_FMT_REGBIT;
}

static uint16_t swap_bytes(uint16_t w)
{
    return (uint16_t)((w << 8) | (w >> 8));
}

/* The four orders are two independent choices: which register holds the
 * high half (ABCD, BADC: the first) and whether each register's bytes are
 * swapped (BADC, DCBA). */
static bool high_word_first(enum cfg_word_order o)
{
    return o == CFG_ORDER_ABCD || o == CFG_ORDER_BADC;
}

static bool bytes_swapped(enum cfg_word_order o)
{
    return o == CFG_ORDER_BADC || o == CFG_ORDER_DCBA;
}

uint32_t regfmt_get32(const uint16_t w[2], enum cfg_word_order order)
{
    uint16_t first = bytes_swapped(order) ? swap_bytes(w[0]) : w[0];
    uint16_t second = bytes_swapped(order) ? swap_bytes(w[1]) : w[1];
    uint16_t hi = high_word_first(order) ? first : second;
    uint16_t lo = high_word_first(order) ? second : first;

    return ((uint32_t)hi << 16) | lo;
}

void regfmt_put32(uint32_t v, enum cfg_word_order order, uint16_t w[2])
{
    uint16_t hi = (uint16_t)(v >> 16), lo = (uint16_t)v;
    uint16_t first = high_word_first(order) ? hi : lo;
    uint16_t second = high_word_first(order) ? lo : hi;

    w[0] = bytes_swapped(order) ? swap_bytes(first) : first;
    w[1] = bytes_swapped(order) ? swap_bytes(second) : second;
}

static float float_of(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof f);
    return f;
}

double regfmt_raw(const struct cfg_input *in, const uint16_t *words, const uint8_t *bit)
{
    switch (in->format) {
    case CFG_FMT_BIT: return *bit ? 1.0 : 0.0;
    case CFG_FMT_S16: return (double)(int16_t)words[0];
    case CFG_FMT_REGBIT: return (double)((words[0] >> in->bit) & 1u);
    case CFG_FMT_FIELD: return (double)(((unsigned)words[0] & (unsigned)in->mask) >> in->shift);
    case CFG_FMT_U32: return (double)regfmt_get32(words, in->order);
    case CFG_FMT_S32: return (double)(int32_t)regfmt_get32(words, in->order);
    case CFG_FMT_F32: return (double)float_of(regfmt_get32(words, in->order));
    default: return (double)words[0];
    }
}

double regfmt_scaled(const struct cfg_input *in, double raw)
{
    return raw * in->scale + in->offset;
}

/* Stores an integer into a single-register format; -1 if out of range. */
static int store_word(const struct cfg_input *in, double raw, uint16_t *w, char *err, size_t errlen)
{
    double r = round(raw);
    long long lo = in->format == CFG_FMT_S16 ? INT16_MIN : 0;
    long long hi = in->format == CFG_FMT_S16    ? INT16_MAX
                   : in->format == CFG_FMT_REGBIT ? 1
                   : in->format == CFG_FMT_FIELD  ? (long long)((unsigned)in->mask >> in->shift)
                                                  : UINT16_MAX;

    long long v;

    if (!(r >= (double)lo && r <= (double)hi)) {
        snprintf(err, errlen, "raw value %g does not fit %s (%lld..%lld)", raw, regfmt_format_names[in->format],
                 lo, hi);
        return -1;
    }
    v = (long long)r;
    if (in->format == CFG_FMT_REGBIT)
        *w = (uint16_t)((*w & ~(1u << in->bit)) | ((unsigned)v << in->bit));
    else if (in->format == CFG_FMT_FIELD)
        *w = (uint16_t)((*w & ~(unsigned)in->mask) | (((unsigned)v << in->shift) & (unsigned)in->mask));
    else
        *w = (uint16_t)v;
    return 0;
}

/* Stores a 32-bit format; -1 if raw does not fit it. */
static int store_32(const struct cfg_input *in, double raw, uint16_t *w, char *err, size_t errlen)
{
    double lo = in->format == CFG_FMT_S32 ? INT32_MIN : 0, hi = in->format == CFG_FMT_S32 ? INT32_MAX : UINT32_MAX;
    double r = round(raw);
    uint32_t u;

    if (in->format == CFG_FMT_F32) {
        float f = (float)raw;

        memcpy(&u, &f, sizeof u);
    } else if (!(r >= lo && r <= hi)) {
        snprintf(err, errlen, "raw value %g does not fit %s", raw, regfmt_format_names[in->format]);
        return -1;
    } else {
        u = in->format == CFG_FMT_S32 ? (uint32_t)(int32_t)(long long)r : (uint32_t)(long long)r;
    }
    regfmt_put32(u, in->order, w);
    return 0;
}

int regfmt_store(const struct cfg_input *in, double raw, uint16_t *words, uint8_t *bit, char *err, size_t errlen)
{
    if (regfmt_width(in->format) == 2)
        return store_32(in, raw, words, err, errlen);
    if (!isfinite(raw)) {
        snprintf(err, errlen, "raw value %g does not fit %s", raw, regfmt_format_names[in->format]);
        return -1;
    }
    if (in->format != CFG_FMT_BIT)
        return store_word(in, raw, words, err, errlen);
    if (raw != 0 && raw != 1) {
        snprintf(err, errlen, "raw value %g is not 0 or 1", raw);
        return -1;
    }
    *bit = (uint8_t)raw;
    return 0;
}
