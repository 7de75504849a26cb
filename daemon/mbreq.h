/*
 * mbreq.h - one Modbus RTU request through libmodbus, its answer checked in full.
 *
 * The RTU line threads (rtuthread.c) send their reads and writes with
 * modbus_send_raw_request() and read the answer with
 * modbus_receive_confirmation(), which checks only the CRC, and check the
 * answer with the same codec the TCP loop uses (mbtcp_check_pdu()): unit id,
 * function code (or an exception for it), byte count or echo. libmodbus
 * drops an RTU answer from another slave (the receive returns 0); that is
 * reported as MBTCP_EBADUNIT too.
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
