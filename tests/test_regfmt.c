/*
 * test_regfmt.c - register formats: every format and word order decodes the
 * bytes a device sends into the number its manual promises, encodes back to
 * the same bytes (vigil-sim serves with the encoder), bit fields take only
 * their bits, and a float "no reading" reaches the caller as NaN.
 */
#include "regfmt.h"
#include "harness.h"

#include <math.h>
#include <string.h>

static struct cfg_input input(enum cfg_format fmt, enum cfg_word_order order)
{
    struct cfg_input in;

    memset(&in, 0, sizeof in);
    in.table = CFG_TABLE_INPUT;
    in.format = fmt;
    in.order = order;
    in.scale = 1;
    return in;
}

/* 0x11223344 as it arrives in each order: bytes A=11 B=22 C=33 D=44. */
static const struct {
    enum cfg_word_order order;
    uint16_t w[2];
} orders[] = {
    { CFG_ORDER_ABCD, { 0x1122, 0x3344 } },
    { CFG_ORDER_CDAB, { 0x3344, 0x1122 } },
    { CFG_ORDER_BADC, { 0x2211, 0x4433 } },
    { CFG_ORDER_DCBA, { 0x4433, 0x2211 } },
};

static void word_orders_round_trip(void)
{
    for (size_t i = 0; i < sizeof orders / sizeof *orders; i++) {
        uint16_t w[2];

        EXPECT(regfmt_get32(orders[i].w, orders[i].order) == 0x11223344u, "order %s decodes 0x%08X",
               regfmt_order_names[orders[i].order], (unsigned)regfmt_get32(orders[i].w, orders[i].order));
        regfmt_put32(0x11223344u, orders[i].order, w);
        EXPECT(w[0] == orders[i].w[0] && w[1] == orders[i].w[1], "order %s encodes %04X %04X",
               regfmt_order_names[orders[i].order], w[0], w[1]);
    }
}

static void u32_and_s32(void)
{
    struct cfg_input u = input(CFG_FMT_U32, CFG_ORDER_CDAB), s = input(CFG_FMT_S32, CFG_ORDER_ABCD);
    uint16_t big[2] = { 0xFFFF, 0x0000 };      /* CDAB: low word 0xFFFF, high 0 */
    uint16_t minus2[2] = { 0xFFFF, 0xFFFE };
    uint16_t top[2] = { 0xFFFF, 0xFFFF };

    EXPECT(regfmt_raw(&u, big, NULL) == 65535.0, "u32 CDAB low word first");
    EXPECT(regfmt_raw(&u, top, NULL) == 4294967295.0, "u32 max");
    EXPECT(regfmt_raw(&s, minus2, NULL) == -2.0, "s32 negative");
    EXPECT_INT(regfmt_width(CFG_FMT_U32), 2);
    EXPECT_INT(regfmt_width(CFG_FMT_U16), 1);
}

/* 21.5 is 0x41AC0000; the Vaisala manuals' example 30.56 is 0x41F47AE1. */
static void f32_each_order(void)
{
    for (size_t i = 0; i < sizeof orders / sizeof *orders; i++) {
        struct cfg_input f = input(CFG_FMT_F32, orders[i].order);
        uint16_t w[2];
        char err[128];

        regfmt_put32(0x41F47AE1u, orders[i].order, w);
        EXPECT(fabs(regfmt_raw(&f, w, NULL) - 30.56) < 1e-5, "order %s reads %g",
               regfmt_order_names[orders[i].order], regfmt_raw(&f, w, NULL));
        EXPECT_INT(regfmt_store(&f, 21.5, w, NULL, err, sizeof err), 0);
        EXPECT(regfmt_get32(w, orders[i].order) == 0x41AC0000u, "21.5 stored as 0x%08X",
               (unsigned)regfmt_get32(w, orders[i].order));
    }
}

/* A transmitter without a reading sends a quiet NaN (0x7FC00000) or all
 * ones: the value must stay NaN so the core raises sensor_fault. */
static void f32_nan_stays_nan(void)
{
    struct cfg_input f = input(CFG_FMT_F32, CFG_ORDER_CDAB);
    uint16_t ones[2] = { 0xFFFF, 0xFFFF }, quiet[2] = { 0x0000, 0x7FC0 }, w[2];
    char err[128];

    EXPECT(isnan(regfmt_raw(&f, ones, NULL)), "0xFFFF 0xFFFF is NaN");
    EXPECT(isnan(regfmt_raw(&f, quiet, NULL)), "quiet NaN, low word first, is NaN");
    EXPECT(isnan(regfmt_scaled(&f, regfmt_raw(&f, ones, NULL))), "scaling keeps NaN");
    EXPECT_INT(regfmt_store(&f, NAN, w, NULL, err, sizeof err), 0);
    EXPECT(isnan(regfmt_raw(&f, w, NULL)), "a stored NaN reads back as NaN");
}

static void bit_fields(void)
{
    struct cfg_input rb = input(CFG_FMT_REGBIT, CFG_ORDER_ABCD), fld = input(CFG_FMT_FIELD, CFG_ORDER_ABCD);
    uint16_t w[1] = { 0x0A05 };
    char err[128];

    rb.bit = 2;
    EXPECT(regfmt_raw(&rb, w, NULL) == 1.0, "bit 2 of 0x0A05");
    rb.bit = 1;
    EXPECT(regfmt_raw(&rb, w, NULL) == 0.0, "bit 1 of 0x0A05");
    fld.mask = 0x0F00;
    fld.shift = 8;
    EXPECT(regfmt_raw(&fld, w, NULL) == 10.0, "bits 8..11 of 0x0A05");
    EXPECT_INT(regfmt_store(&fld, 3, w, NULL, err, sizeof err), 0);
    EXPECT(w[0] == 0x0305, "field store keeps the other bits: %04X", w[0]);
    EXPECT_INT(regfmt_store(&fld, 16, w, NULL, err, sizeof err), -1);
    EXPECT(strstr(err, "does not fit field (0..15)") != NULL, "%s", err);
    EXPECT_INT(regfmt_store(&rb, 1, w, NULL, err, sizeof err), 0);
    EXPECT(w[0] == 0x0307, "regbit store sets only its bit: %04X", w[0]);
}

static void sixteen_bit_and_bits(void)
{
    struct cfg_input s = input(CFG_FMT_S16, CFG_ORDER_ABCD), u = input(CFG_FMT_U16, CFG_ORDER_ABCD);
    struct cfg_input b = input(CFG_FMT_BIT, CFG_ORDER_ABCD);
    uint16_t w[1] = { 0xFF38 };
    uint8_t bit = 1;
    char err[128];

    s.scale = 0.1;
    EXPECT(fabs(regfmt_scaled(&s, regfmt_raw(&s, w, NULL)) + 20.0) < 1e-9, "s16 -200 x 0.1");
    EXPECT(regfmt_raw(&u, w, NULL) == 65336.0, "u16");
    EXPECT(regfmt_raw(&b, NULL, &bit) == 1.0, "bit");
    EXPECT_INT(regfmt_store(&u, -1, w, NULL, err, sizeof err), -1);
    EXPECT(strstr(err, "does not fit u16") != NULL, "%s", err);
    EXPECT_INT(regfmt_store(&b, 2, NULL, &bit, err, sizeof err), -1);
    EXPECT_INT(regfmt_store(&u, NAN, w, NULL, err, sizeof err), -1);
}

int main(void)
{
    RUN(word_orders_round_trip);
    RUN(u32_and_s32);
    RUN(f32_each_order);
    RUN(f32_nan_stays_nan);
    RUN(bit_fields);
    RUN(sixteen_bit_and_bits);
    HARNESS_EXIT();
}
