/*
 * mbtcp.c - the Modbus request and answer codec (see mbtcp.h).
 */
#include "mbtcp.h"

#include <errno.h>
#include <string.h>

static const uint8_t read_fc[] = {
    [CFG_TABLE_COIL] = MODBUS_FC_READ_COILS,
    [CFG_TABLE_DISCRETE] = MODBUS_FC_READ_DISCRETE_INPUTS,
    [CFG_TABLE_HOLDING] = MODBUS_FC_READ_HOLDING_REGISTERS,
    [CFG_TABLE_INPUT] = MODBUS_FC_READ_INPUT_REGISTERS,
};

static bool fc_reads_bits(int fc)
{
    return fc == MODBUS_FC_READ_COILS || fc == MODBUS_FC_READ_DISCRETE_INPUTS;
}

static bool fc_is_write(int fc)
{
    return fc == MODBUS_FC_WRITE_SINGLE_COIL || fc == MODBUS_FC_WRITE_SINGLE_REGISTER;
}

struct mbtcp_req mbtcp_read(int unit, enum cfg_table table, int addr, int n)
{
    return (struct mbtcp_req){ .unit = (uint8_t)unit, .function = read_fc[table], .address = (uint16_t)addr,
                               .count = (uint16_t)n };
}

struct mbtcp_req mbtcp_write(int unit, enum cfg_table table, int addr, uint16_t value)
{
    bool coil = table == CFG_TABLE_COIL;

    /* FC5 puts 0xff00 on the wire for "on"; any other non-zero is illegal. */
    return (struct mbtcp_req){ .unit = (uint8_t)unit,
                               .function = coil ? MODBUS_FC_WRITE_SINGLE_COIL : MODBUS_FC_WRITE_SINGLE_REGISTER,
                               .address = (uint16_t)addr,
                               .count = coil ? (value ? 0xff00 : 0) : value };
}

int mbtcp_encode_raw(const struct mbtcp_req *rq, uint8_t *out)
{
    out[0] = rq->unit;
    out[1] = rq->function;
    out[2] = (uint8_t)(rq->address >> 8);
    out[3] = (uint8_t)rq->address;
    out[4] = (uint8_t)(rq->count >> 8);
    out[5] = (uint8_t)rq->count;
    return MBTCP_RAW_LEN;
}

int mbtcp_encode(const struct mbtcp_req *rq, uint8_t *out)
{
    out[0] = (uint8_t)(rq->tid >> 8);
    out[1] = (uint8_t)rq->tid;
    out[2] = out[3] = 0;                    /* protocol id: Modbus */
    out[4] = 0;
    out[5] = MBTCP_RAW_LEN;                 /* unit + PDU */
    mbtcp_encode_raw(rq, out + MBTCP_MBAP_LEN - 1);
    return MBTCP_REQ_LEN;
}

int mbtcp_frame_len(const uint8_t *buf, size_t len)
{
    int follow;

    if (len < MBTCP_MBAP_LEN)
        return 0;
    follow = buf[4] << 8 | buf[5];          /* unit id + PDU */
    if (buf[2] != 0 || buf[3] != 0 || follow < 2 || follow > MBTCP_MAX_ADU - MBTCP_MBAP_LEN + 1)
        return -1;
    return MBTCP_MBAP_LEN - 1 + follow;
}

/* An exception answer's error: its code in libmodbus's space, or EMBBADEXC (0: no code). */
static int exception_err(int code)
{
    return code >= 1 && code <= EMBXGTAR - MODBUS_ENOBASE ? MODBUS_ENOBASE + code : EMBBADEXC;
}

/* A read's data: a byte count, then exactly that many bytes. */
static int decode_read(const struct mbtcp_req *rq, const uint8_t *pdu, size_t pdu_len, uint16_t *words,
                       uint8_t *bits)
{
    bool bit_table = fc_reads_bits(rq->function);
    size_t want = bit_table ? (rq->count + 7u) / 8u : 2u * rq->count;

    if (pdu_len != 2 + want || pdu[1] != want)
        return EMBBADDATA;
    for (int i = 0; i < rq->count; i++) {
        if (bit_table)
            bits[i] = (pdu[2 + i / 8] >> (i % 8)) & 1;
        else
            words[i] = (uint16_t)(pdu[2 + 2 * i] << 8 | pdu[3 + 2 * i]);
    }
    return 0;
}

int mbtcp_check_pdu(const struct mbtcp_req *rq, int unit, const uint8_t *pdu, size_t pdu_len, uint16_t *words,
                    uint8_t *bits, struct mbtcp_answer *got)
{
    uint8_t echo[MBTCP_RAW_LEN];

    got->unit = unit;
    got->function = pdu_len > 0 ? pdu[0] : -1;
    got->exception = 0;
    if (unit != rq->unit)
        return MBTCP_EBADUNIT;
    if (pdu_len == 0)
        return EMBBADDATA;
    if (pdu[0] == (rq->function | 0x80)) {
        got->exception = pdu_len == 2 ? pdu[1] : 0;
        return exception_err(got->exception);
    }
    if (pdu[0] != rq->function)
        return MBTCP_EBADFUNC;
    if (!fc_is_write(rq->function))
        return decode_read(rq, pdu, pdu_len, words, bits);
    /* FC5/FC6 answer with an echo of address and value. */
    mbtcp_encode_raw(rq, echo);
    return pdu_len == 5 && memcmp(pdu + 1, echo + 2, 4) == 0 ? 0 : EMBBADDATA;
}

int mbtcp_decode(const struct mbtcp_req *rq, const uint8_t *adu, size_t len, uint16_t *words, uint8_t *bits,
                 struct mbtcp_answer *got)
{
    int frame = mbtcp_frame_len(adu, len);

    got->tid = len >= 2 ? adu[0] << 8 | adu[1] : -1;
    got->unit = len >= MBTCP_MBAP_LEN ? adu[MBTCP_MBAP_LEN - 1] : -1;
    got->function = len > MBTCP_MBAP_LEN ? adu[MBTCP_MBAP_LEN] : -1;
    if (frame <= 0 || (size_t)frame != len)
        return EMBBADDATA;
    if (got->tid != rq->tid)
        return MBTCP_EBADTID;
    return mbtcp_check_pdu(rq, got->unit, adu + MBTCP_MBAP_LEN, len - MBTCP_MBAP_LEN, words, bits, got);
}
