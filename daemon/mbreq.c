/*
 * mbreq.c - raw Modbus RTU requests with fully checked answers (see mbreq.h).
 */
#include "mbreq.h"

#include <errno.h>

#define RTU_HEADER_LEN 1
#define RTU_CRC_LEN 2

static int fail_errno(void)
{
    return errno ? errno : EIO;
}

/*
 * Sends rq and checks the answer in full (mbtcp_check_pdu()); a read's
 * values land in words or bits.
 */
static int transact(modbus_t *ctx, const struct mbtcp_req *rq, uint16_t *words, uint8_t *bits,
                    struct mbtcp_answer *got)
{
    uint8_t req[MBTCP_RAW_LEN], rsp[MODBUS_MAX_ADU_LENGTH];
    int rc;

    errno = 0;
    if (modbus_send_raw_request(ctx, req, mbtcp_encode_raw(rq, req)) < 0)
        return fail_errno();
    errno = 0;
    rc = modbus_receive_confirmation(ctx, rsp);
    /* 0 means libmodbus saw another slave's address and skipped the CRC. */
    if (rc == 0) {
        got->unit = rsp[0];
        got->function = rsp[1];
        return MBTCP_EBADUNIT;
    }
    if (rc < 0)
        return fail_errno();
    if (rc < RTU_HEADER_LEN + 1 + RTU_CRC_LEN)
        return EMBBADDATA;
    return mbtcp_check_pdu(rq, rsp[0], rsp + RTU_HEADER_LEN, (size_t)(rc - RTU_HEADER_LEN - RTU_CRC_LEN), words,
                           bits, got);
}

int mbreq_read(modbus_t *ctx, int unit, enum cfg_table table, int addr, int n, uint16_t *words, uint8_t *bits,
               struct mbtcp_answer *got)
{
    struct mbtcp_req rq = mbtcp_read(unit, table, addr, n);

    return transact(ctx, &rq, words, bits, got);
}

int mbreq_write(modbus_t *ctx, int unit, enum cfg_table table, int addr, uint16_t value, struct mbtcp_answer *got)
{
    struct mbtcp_req rq = mbtcp_write(unit, table, addr, value);

    return transact(ctx, &rq, NULL, NULL, got);
}
