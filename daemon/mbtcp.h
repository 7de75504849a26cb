/*
 * mbtcp.h - the Modbus request and answer codec: pure functions on bytes.
 *
 * What a vigil Modbus request is (FC1-4 reads, FC5/FC6 single writes), how it
 * is framed for Modbus TCP (the 7-byte MBAP header: transaction id, protocol
 * id 0, length, unit id), and how an answer is checked against the request
 * in full: transaction id, unit id, function code (or an exception for it),
 * byte count or echo. The TCP event loop (tcploop.c) frames and checks its
 * ADUs here; the RTU line threads (mbreq.c, through libmodbus) and vigilctl
 * (ctl_modbus.c) check their answers' PDUs with the same mbtcp_check_pdu().
 *
 * libmodbus 3.1.6 does not compare a TCP answer's unit id with the request's:
 * a gateway routing to the wrong slave, or a device set to another unit id,
 * would have its values taken as those of the device asked. Here it is
 * compared, always.
 *
 * Errors are errno-style, in libmodbus's code space so that one error text
 * serves both transports: MODBUS_ENOBASE + code for an exception answer
 * (EMBXILFUN..EMBXGTAR), EMBBADEXC for an exception code outside 1..11,
 * EMBBADDATA for an answer of the wrong shape, and the three below with what
 * the device answered in struct mbtcp_answer for the log line.
 * Nothing here allocates, reads a clock or touches a socket.
 */
#ifndef VIGIL_MBTCP_H
#define VIGIL_MBTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modbus.h>

#include "config.h"

#define MBTCP_EBADUNIT (MODBUS_ENOBASE + 64) /* answered as another unit */
#define MBTCP_EBADFUNC (MODBUS_ENOBASE + 65) /* answered with another function code */
#define MBTCP_EBADTID (MODBUS_ENOBASE + 66)  /* answered another transaction */

#define MBTCP_MBAP_LEN 7         /* transaction id, protocol id, length, unit id */
#define MBTCP_MAX_ADU 260        /* MBAP + the largest PDU (253 bytes) */
#define MBTCP_RAW_LEN 6          /* unit, function, address, count or value */
#define MBTCP_REQ_LEN 12         /* MBAP + function, address, count or value */

/* One request: what it asks and of whom. */
struct mbtcp_req {
    uint16_t tid;                /* TCP only: echoed by the answer */
    uint8_t unit;
    uint8_t function;            /* MODBUS_FC_* */
    uint16_t address;            /* 0-based PDU address */
    uint16_t count;              /* reads: registers or bits; writes: the value on the wire */
};

/* What a device answered, for the log line of a mismatch. */
struct mbtcp_answer {
    int tid;
    int unit;
    int function;
    int exception;               /* an exception answer's code (1..255), else 0 */
};

/* A read of n values of table at address addr of unit (n within the FC's limit). */
struct mbtcp_req mbtcp_read(int unit, enum cfg_table table, int addr, int n);

/* A write of one coil (FC5: value 0 or not) or holding register (FC6). */
struct mbtcp_req mbtcp_write(int unit, enum cfg_table table, int addr, uint16_t value);

/* Writes the request's unit id and PDU (MBTCP_RAW_LEN bytes), the frame
 * libmodbus's modbus_send_raw_request() takes; returns the length. */
int mbtcp_encode_raw(const struct mbtcp_req *rq, uint8_t *out);

/* Writes the request as a Modbus TCP ADU into out (MBTCP_REQ_LEN bytes); returns the length. */
int mbtcp_encode(const struct mbtcp_req *rq, uint8_t *out);

/*
 * How long the ADU starting at buf is, given the len bytes received so far:
 * its length once the MBAP header is in (it may not all be there yet), 0 if
 * fewer than MBTCP_MBAP_LEN bytes are in, or -1 if the header cannot start an
 * answer (protocol id not 0, length field 0 or longer than MBTCP_MAX_ADU allows).
 */
int mbtcp_frame_len(const uint8_t *buf, size_t len);

/*
 * Checks a complete Modbus TCP answer (adu, len bytes, as framed by
 * mbtcp_frame_len()) against rq and, for a read, decodes its values into
 * words (registers) or bits (coils, discrete inputs), which the caller owns
 * (rq->count entries); nothing is written to them unless every check passes.
 * Returns 0 or an error (see the top of this file); got says who answered.
 */
int mbtcp_decode(const struct mbtcp_req *rq, const uint8_t *adu, size_t len, uint16_t *words, uint8_t *bits,
                 struct mbtcp_answer *got);

/*
 * The same checks on an answer's unit id and PDU alone (unit, then pdu_len
 * bytes from the function code on, CRC excluded): what an RTU frame or a
 * libmodbus raw confirmation carries.
 */
int mbtcp_check_pdu(const struct mbtcp_req *rq, int unit, const uint8_t *pdu, size_t pdu_len, uint16_t *words,
                    uint8_t *bits, struct mbtcp_answer *got);

#endif
