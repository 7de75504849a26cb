/*
 * ctl_modbus.h - what `vigilctl probe` and `vigilctl scan` share: a bus named
 * on the command line, one read request at a time with its round-trip time,
 * and the answer classified and told in plain words.
 *
 * Reads go out as raw requests (modbus_send_raw_request) so the answer's
 * unit id can be checked on TCP too: libmodbus 3.1.6 checks it only on RTU,
 * and a gateway forwarding to the wrong device is exactly what an engineer
 * needs to see.
 */
#ifndef VIGIL_CTL_MODBUS_H
#define VIGIL_CTL_MODBUS_H

#include <stddef.h>
#include <stdint.h>

#include <modbus.h>

#include "config.h"

/* Exit status when nothing answered at all (no route, refused, timeout). */
#define CTL_EXIT_NO_ANSWER 3

enum ctl_answer_kind {
    CTL_ANS_OK,          /* the data asked for */
    CTL_ANS_EXCEPTION,   /* a Modbus exception: the unit is there */
    CTL_ANS_WRONG_UNIT,  /* a well-formed answer from another unit id */
    CTL_ANS_BAD,         /* bytes that are not the answer (CRC, length, function) */
    CTL_ANS_TIMEOUT,     /* nothing within the timeout */
    CTL_ANS_LINK,        /* the connection or port failed (errno in err) */
};

struct ctl_answer {
    enum ctl_answer_kind kind;
    int exception;       /* CTL_ANS_EXCEPTION: the code, 1..255 */
    int unit;            /* CTL_ANS_WRONG_UNIT: who answered */
    int err;             /* CTL_ANS_LINK / CTL_ANS_BAD: errno or libmodbus code */
    double rtt_ms;       /* request sent to answer received (or given up) */
};

/* One read request. */
struct ctl_read {
    int unit;
    enum cfg_table table;
    int address;
    int count;
};

/*
 * Parses a bus as the config names one: "tcp:HOST:PORT" (PORT default 502)
 * or "rtu:DEVICE:BAUD:FORMAT" with FORMAT like 8N1 or 8E1 (BAUD default
 * 19200, FORMAT 8N1). Fills *bus (id "cli"); returns 0, or -1 with err.
 */
int ctl_bus_parse(const char *spec, struct cfg_bus *bus, char *err, size_t errlen);

/* "tcp:127.0.0.1:1502" or "rtu:/dev/ttyUSB0 19200 8N1", for headers. */
void ctl_bus_name(const struct cfg_bus *bus, char *buf, size_t len);

/*
 * Creates and connects a context with the given response timeout. Returns it
 * (free with modbus_close + modbus_free), or NULL with a plain-words
 * explanation in err.
 */
modbus_t *ctl_bus_open(const struct cfg_bus *bus, int timeout_ms, char *err, size_t errlen);

/*
 * Sends one read and waits for its answer. On CTL_ANS_OK the values land in
 * words (count registers) or bits (count bits), whichever the table needs.
 * After a timeout or garbled answer the link is made clean for the next
 * request (TCP: reconnect; RTU: flush), so a late reply cannot be taken for
 * the next one.
 */
void ctl_read(modbus_t *ctx, const struct cfg_bus *bus, const struct ctl_read *rq, uint16_t *words,
              uint8_t *bits, struct ctl_answer *ans);

/* What went wrong with request rq, in words for the engineer, with the fix. */
void ctl_answer_text(const struct ctl_answer *ans, const struct cfg_bus *bus, const struct ctl_read *rq,
                     int timeout_ms, char *buf, size_t len);

/* "holding register 40001" / "coil 00017": the manual's number of an address. */
const char *ctl_register_name(enum cfg_table table, int address, char *buf, size_t len);

/* Parses "TABLE:ADDR[:COUNT]" (coil, discrete, holding, input); count
 * defaults to 1. Returns 0 or -1. */
int ctl_parse_table_ref(const char *s, enum cfg_table *table, int *address, int *count);

#endif
