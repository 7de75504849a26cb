/*
 * test_mbtcp.c - the Modbus TCP codec: a request goes on the wire as the
 * standard's bytes, and an answer's values are used only when it is the
 * answer to that request from that unit - a truncated, oversize, foreign
 * (other transaction, unit or function) or exception answer never yields
 * values, and says what came back for the log line.
 */
#include "mbtcp.h"
#include "harness.h"

#include <string.h>

/* Holding registers 40011-40012 of unit 7, transaction 0x1234. */
static struct mbtcp_req hr_req(void)
{
    struct mbtcp_req rq = mbtcp_read(7, CFG_TABLE_HOLDING, 10, 2);

    rq.tid = 0x1234;
    return rq;
}

/* The good answer to hr_req(): 0x0102 and 0xa0b0. */
static const uint8_t hr_ok[] = { 0x12, 0x34, 0, 0, 0, 7, 7, 3, 4, 0x01, 0x02, 0xa0, 0xb0 };

static void request_bytes_are_the_standards(void)
{
    static const uint8_t want_read[] = { 0x12, 0x34, 0, 0, 0, 6, 7, 3, 0, 10, 0, 2 };
    static const uint8_t want_coil[] = { 0, 9, 0, 0, 0, 6, 1, 5, 0x01, 0x00, 0xff, 0x00 };
    struct mbtcp_req rq = hr_req(), wr = mbtcp_write(1, CFG_TABLE_COIL, 256, 1);
    uint8_t buf[MBTCP_REQ_LEN];

    EXPECT_INT(mbtcp_encode(&rq, buf), sizeof want_read);
    EXPECT(memcmp(buf, want_read, sizeof want_read) == 0, "FC3 read ADU");
    wr.tid = 9;
    EXPECT_INT(mbtcp_encode(&wr, buf), sizeof want_coil);
    EXPECT(memcmp(buf, want_coil, sizeof want_coil) == 0, "FC5 coil on is 0xff00");
    EXPECT_INT(mbtcp_write(1, CFG_TABLE_HOLDING, 0, 0xbeef).count, 0xbeef);
    EXPECT_INT(mbtcp_read(1, CFG_TABLE_DISCRETE, 0, 1).function, MODBUS_FC_READ_DISCRETE_INPUTS);
}

static void good_answer_decodes(void)
{
    struct mbtcp_req rq = hr_req();
    struct mbtcp_answer got;
    uint16_t w[2] = { 0 };

    EXPECT_INT(mbtcp_frame_len(hr_ok, sizeof hr_ok), sizeof hr_ok);
    EXPECT_INT(mbtcp_decode(&rq, hr_ok, sizeof hr_ok, w, NULL, &got), 0);
    EXPECT(w[0] == 0x0102 && w[1] == 0xa0b0, "registers %04x %04x", w[0], w[1]);
}

static void bits_decode_lsb_first(void)
{
    static const uint8_t adu[] = { 0, 1, 0, 0, 0, 5, 2, 2, 2, 0x05, 0x01 };
    struct mbtcp_req rq = mbtcp_read(2, CFG_TABLE_DISCRETE, 0, 9);
    struct mbtcp_answer got;
    uint8_t bits[9];

    rq.tid = 1;
    EXPECT_INT(mbtcp_decode(&rq, adu, sizeof adu, NULL, bits, &got), 0);
    EXPECT(bits[0] == 1 && bits[1] == 0 && bits[2] == 1 && bits[3] == 0 && bits[8] == 1, "bits 1,0,1,0..1");
}

/* Framing: wait for the header, then the whole ADU; refuse what cannot be one. */
static void framing_waits_and_refuses(void)
{
    uint8_t bad[sizeof hr_ok];

    EXPECT_INT(mbtcp_frame_len(hr_ok, 6), 0);
    EXPECT_INT(mbtcp_frame_len(hr_ok, 7), sizeof hr_ok); /* the length is known before the bytes */
    memcpy(bad, hr_ok, sizeof bad);
    bad[2] = 1;                                           /* protocol id 0x0100: not Modbus */
    EXPECT_INT(mbtcp_frame_len(bad, sizeof bad), -1);
    memcpy(bad, hr_ok, sizeof bad);
    bad[4] = 1;                                           /* 0x107 bytes follow: more than an ADU holds */
    EXPECT_INT(mbtcp_frame_len(bad, sizeof bad), -1);
    bad[4] = 0;
    bad[5] = 1;                                           /* a unit id and no function code */
    EXPECT_INT(mbtcp_frame_len(bad, sizeof bad), -1);
}

/* Decodes a copy of hr_ok changed at byte `at` (or cut to len) and checks nothing was written. */
static int decode_changed(int at, uint8_t value, size_t len, struct mbtcp_answer *got)
{
    struct mbtcp_req rq = hr_req();
    uint8_t adu[sizeof hr_ok + 2] = { 0 };
    uint16_t w[2] = { 0x5555, 0x5555 };
    int err;

    memcpy(adu, hr_ok, sizeof hr_ok);
    if (at >= 0)
        adu[at] = value;
    err = mbtcp_decode(&rq, adu, len, w, NULL, got);
    EXPECT(err == 0 || (w[0] == 0x5555 && w[1] == 0x5555), "values written from a refused answer");
    return err;
}

static void foreign_answers_are_refused(void)
{
    struct mbtcp_answer got;

    EXPECT_INT(decode_changed(1, 0x35, sizeof hr_ok, &got), MBTCP_EBADTID);
    EXPECT_INT(got.tid, 0x1235);
    EXPECT_INT(decode_changed(6, 8, sizeof hr_ok, &got), MBTCP_EBADUNIT);
    EXPECT_INT(got.unit, 8);
    EXPECT_INT(decode_changed(7, 4, sizeof hr_ok, &got), MBTCP_EBADFUNC);
    EXPECT_INT(got.function, 4);
}

static void truncated_and_oversize_answers_are_bad_data(void)
{
    struct mbtcp_answer got;

    EXPECT_INT(decode_changed(-1, 0, sizeof hr_ok - 1, &got), EMBBADDATA);  /* short of its own length */
    EXPECT_INT(decode_changed(-1, 0, 3, &got), EMBBADDATA);                 /* not even a header */
    EXPECT_INT(decode_changed(5, 6, sizeof hr_ok - 1, &got), EMBBADDATA);   /* one register byte short */
    EXPECT_INT(decode_changed(8, 6, sizeof hr_ok, &got), EMBBADDATA);       /* byte count says 3 registers */
    EXPECT_INT(decode_changed(5, 9, sizeof hr_ok + 2, &got), EMBBADDATA);   /* 3 registers for 2 asked */
}

static void exceptions_carry_their_code(void)
{
    static const uint8_t exc[] = { 0x12, 0x34, 0, 0, 0, 3, 7, 0x83, 2 };
    static const uint8_t odd[] = { 0x12, 0x34, 0, 0, 0, 3, 7, 0x83, 0x40 };
    struct mbtcp_req rq = hr_req();
    struct mbtcp_answer got;
    uint16_t w[2];

    EXPECT_INT(mbtcp_decode(&rq, exc, sizeof exc, w, NULL, &got), EMBXILADD);
    EXPECT_INT(got.exception, 2);
    EXPECT_INT(mbtcp_decode(&rq, odd, sizeof odd, w, NULL, &got), EMBBADEXC);
    EXPECT_INT(got.exception, 0x40);
}

static void write_echo_is_checked(void)
{
    static const uint8_t echo[] = { 0, 9, 0, 0, 0, 6, 1, 6, 0, 3, 0xbe, 0xef };
    uint8_t wrong[sizeof echo];
    struct mbtcp_req rq = mbtcp_write(1, CFG_TABLE_HOLDING, 3, 0xbeef);
    struct mbtcp_answer got;

    rq.tid = 9;
    EXPECT_INT(mbtcp_decode(&rq, echo, sizeof echo, NULL, NULL, &got), 0);
    memcpy(wrong, echo, sizeof wrong);
    wrong[11] = 0xee;
    EXPECT_INT(mbtcp_decode(&rq, wrong, sizeof wrong, NULL, NULL, &got), EMBBADDATA);
}

int main(void)
{
    RUN(request_bytes_are_the_standards);
    RUN(good_answer_decodes);
    RUN(bits_decode_lsb_first);
    RUN(framing_waits_and_refuses);
    RUN(foreign_answers_are_refused);
    RUN(truncated_and_oversize_answers_are_bad_data);
    RUN(exceptions_carry_their_code);
    RUN(write_echo_is_checked);
    HARNESS_EXIT();
}
