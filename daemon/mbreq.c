/*
 * mbreq.c - raw Modbus requests with fully checked answers (see mbreq.h).
 */
#include "mbreq.h"

#include <errno.h>
#include <string.h>

#define RTU_HEADER_LEN 1
#define RTU_CRC_LEN 2

static const uint8_t read_fc[] = {
    [CFG_TABLE_COIL] = MODBUS_FC_READ_COILS,
    [CFG_TABLE_DISCRETE] = MODBUS_FC_READ_DISCRETE_INPUTS,
    [CFG_TABLE_HOLDING] = MODBUS_FC_READ_HOLDING_REGISTERS,
    [CFG_TABLE_INPUT] = MODBUS_FC_READ_INPUT_REGISTERS,
};

static int fail_errno(void)
{
    return errno ? errno : EIO;
}

/*
 * Sends req (unit, function, data: req_len bytes) and checks the answer's
 * unit and function. On success *data points at the answer's bytes after
 * the function code and *data_len says how many there are (CRC excluded).
 */
static int transact(modbus_t *ctx, const uint8_t *req, int req_len, uint8_t *rsp, const uint8_t **data,
                    int *data_len, struct mbreq_answer *got)
{
    int h = modbus_get_header_length(ctx), rc;
    bool rtu = h == RTU_HEADER_LEN;

    if (!rtu)
        (void)modbus_flush(ctx);
    errno = 0;
    if (modbus_send_raw_request(ctx, req, req_len) < 0)
        return fail_errno();
    errno = 0;
    rc = modbus_receive_confirmation(ctx, rsp);
    /* RTU: 0 means libmodbus saw another slave's address and skipped the CRC. */
    if (rc < 0 || (rc == 0 && !rtu))
        return fail_errno();
    got->unit = rsp[h - 1];
    got->function = rsp[h];
    if (got->unit != req[0])
        return MBREQ_EBADUNIT;
    if (got->function == (req[1] | 0x80)) {
        int code = rc > h + 1 ? rsp[h + 1] : 0;
        return code >= 1 && code <= EMBXGTAR - MODBUS_ENOBASE ? MODBUS_ENOBASE + code : EMBBADEXC;
    }
    if (got->function != req[1])
        return MBREQ_EBADFUNC;
    *data = rsp + h + 1;
    *data_len = rc - h - 1 - (rtu ? RTU_CRC_LEN : 0);
    return 0;
}

int mbreq_read(modbus_t *ctx, int unit, enum cfg_table table, int addr, int n, uint16_t *words, uint8_t *bits,
               struct mbreq_answer *got)
{
    uint8_t req[6] = {(uint8_t)unit, read_fc[table], (uint8_t)(addr >> 8), (uint8_t)addr, (uint8_t)(n >> 8),
                      (uint8_t)n};
    uint8_t rsp[MODBUS_MAX_ADU_LENGTH];
    const uint8_t *data;
    bool bit_table = table == CFG_TABLE_COIL || table == CFG_TABLE_DISCRETE;
    int len, want = bit_table ? (n + 7) / 8 : 2 * n;
    int err = transact(ctx, req, (int)sizeof(req), rsp, &data, &len, got);

    if (err)
        return err;
    if (len != 1 + want || data[0] != want)
        return EMBBADDATA;
    for (int i = 0; i < n; i++) {
        if (bit_table)
            bits[i] = (data[1 + i / 8] >> (i % 8)) & 1;
        else
            words[i] = (uint16_t)(data[1 + 2 * i] << 8 | data[2 + 2 * i]);
    }
    return 0;
}

int mbreq_write(modbus_t *ctx, int unit, enum cfg_table table, int addr, uint16_t value, struct mbreq_answer *got)
{
    bool coil = table == CFG_TABLE_COIL;
    uint16_t v = coil ? (value ? 0xff00 : 0) : value;
    uint8_t req[6] = {(uint8_t)unit, coil ? MODBUS_FC_WRITE_SINGLE_COIL : MODBUS_FC_WRITE_SINGLE_REGISTER,
                      (uint8_t)(addr >> 8), (uint8_t)addr, (uint8_t)(v >> 8), (uint8_t)v};
    uint8_t rsp[MODBUS_MAX_ADU_LENGTH];
    const uint8_t *data;
    int len;
    int err = transact(ctx, req, (int)sizeof(req), rsp, &data, &len, got);

    if (err)
        return err;
    /* FC5/FC6 answer with an echo of address and value. */
    return len == 4 && memcmp(data, req + 2, 4) == 0 ? 0 : EMBBADDATA;
}
