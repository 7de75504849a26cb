/*
 * mbreq.h - one Modbus request sent raw and its answer checked in full.
 *
 * libmodbus 3.1.6 checks a TCP answer's transaction id, function code and
 * length, but not its unit id (the MBAP "unit identifier" byte is never
 * compared with the request's): a gateway that routes a request to the
 * wrong slave, or a device configured with another unit id, would have its
 * values taken as those of the device asked. So the poller sends its reads
 * and writes with modbus_send_raw_request() and reads the answer with
 * modbus_receive_confirmation(), which checks nothing, and checks the answer
 * with mbtcp_check_pdu(): unit id, function code (or an exception for it),
 * byte count or echo.
 * On RTU libmodbus already drops an answer from another slave (the receive
 * returns 0); that is reported the same way.
 *
 * The raw request always carries transaction id 0, so on TCP the socket is
 * flushed before each request: a late answer to an earlier request can
 * never be read as the answer to this one.
 *
 * Errors: 0 on success, else an errno value: libmodbus's own (ETIMEDOUT,
 * EMBBADCRC, ...) or what mbtcp_check_pdu() found wrong with the answer (an
 * exception, EMBBADDATA, MBTCP_EBADUNIT / MBTCP_EBADFUNC), with what the
 * device answered in *got for the log line.
 */
#ifndef VIGIL_MBREQ_H
#define VIGIL_MBREQ_H

#include <stdint.h>

#include <modbus.h>

#include "config.h"
#include "mbtcp.h"

/*
 * Reads n values of table from address addr of unit into words (registers)
 * or bits (coils, discrete inputs), which the caller owns (n entries).
 * Nothing is written to them unless the answer passes every check.
 */
int mbreq_read(modbus_t *ctx, int unit, enum cfg_table table, int addr, int n, uint16_t *words, uint8_t *bits,
               struct mbtcp_answer *got);

/* Writes one coil (FC5, value 0 or not) or holding register (FC6) and checks the echo. */
int mbreq_write(modbus_t *ctx, int unit, enum cfg_table table, int addr, uint16_t value, struct mbtcp_answer *got);

#endif
