/*
 * ctl_modbus.c - one Modbus read at a time for probe and scan, and what its
 * failure means in words (see ctl_modbus.h).
 */
#include "ctl_modbus.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mbtcp.h"

static const char *const table_names[] = { "coil", "discrete", "holding", "input" };
static const char *const table_words[] = { "coil", "discrete input", "holding register", "input register" };
static const int table_ref[] = { 0, 1, 4, 3 }; /* leading digit of the manuals' numbers */

static bool is_bits(enum cfg_table t)
{
    return t == CFG_TABLE_COIL || t == CFG_TABLE_DISCRETE;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Parses "8N1" into the bus; false if it is not one. */
static bool parse_frame(const char *s, struct cfg_bus *bus)
{
    if (strlen(s) != 3 || s[0] < '5' || s[0] > '8' || !strchr("NEO", s[1]) || (s[2] != '1' && s[2] != '2'))
        return false;
    bus->data_bits = s[0] - '0';
    bus->parity = s[1];
    bus->stop_bits = s[2] - '0';
    return true;
}

/* Reads a decimal integer in lo..hi from the whole of s. */
static bool parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static int parse_tcp(char *rest, struct cfg_bus *bus, char *err, size_t errlen)
{
    char *colon = strrchr(rest, ':');

    bus->type = CFG_BUS_TCP;
    bus->port = 502;
    if (colon) {
        *colon = '\0';
        if (!parse_int(colon + 1, 1, 65535, &bus->port)) {
            snprintf(err, errlen, "port \"%s\" is not a number 1..65535", colon + 1);
            return -1;
        }
    }
    if (!*rest || strlen(rest) >= sizeof bus->host) {
        snprintf(err, errlen, "no host; expected tcp:HOST:PORT, e.g. tcp:10.20.0.10:502");
        return -1;
    }
    memcpy(bus->host, rest, strlen(rest) + 1); /* length checked above */
    return 0;
}

static int parse_rtu(char *rest, struct cfg_bus *bus, char *err, size_t errlen)
{
    char *baud = strchr(rest, ':'), *frame = NULL;

    bus->type = CFG_BUS_RTU;
    bus->baud = 19200;
    bus->parity = 'N';
    bus->data_bits = 8;
    bus->stop_bits = 1;
    if (baud) {
        *baud++ = '\0';
        if ((frame = strchr(baud, ':')))
            *frame++ = '\0';
        if (!parse_int(baud, 300, 4000000, &bus->baud)) {
            snprintf(err, errlen, "baud rate \"%s\" is not a number; expected e.g. 9600 or 19200", baud);
            return -1;
        }
    }
    if (frame && !parse_frame(frame, bus)) {
        snprintf(err, errlen, "character format \"%s\" is not data bits, parity, stop bits; expected e.g. 8N1 "
                 "or 8E1", frame);
        return -1;
    }
    if (!*rest || strlen(rest) >= sizeof bus->device) {
        snprintf(err, errlen, "no serial device; expected rtu:DEVICE:BAUD:8N1, e.g. rtu:/dev/ttyUSB0:19200:8N1");
        return -1;
    }
    memcpy(bus->device, rest, strlen(rest) + 1); /* length checked above */
    return 0;
}

int ctl_bus_parse(const char *spec, struct cfg_bus *bus, char *err, size_t errlen)
{
    char copy[CFG_PATH_MAX + 32];

    memset(bus, 0, sizeof *bus);
    snprintf(bus->id, sizeof bus->id, "cli");
    if (strlen(spec) >= sizeof copy) {
        snprintf(err, errlen, "bus \"%.40s...\" is too long", spec);
        return -1;
    }
    snprintf(copy, sizeof copy, "%s", spec);
    if (strncmp(copy, "tcp:", 4) == 0)
        return parse_tcp(copy + 4, bus, err, errlen);
    if (strncmp(copy, "rtu:", 4) == 0)
        return parse_rtu(copy + 4, bus, err, errlen);
    snprintf(err, errlen, "bus \"%s\" is neither tcp:HOST:PORT nor rtu:DEVICE:BAUD:8N1", spec);
    return -1;
}

void ctl_bus_name(const struct cfg_bus *bus, char *buf, size_t len)
{
    if (bus->type == CFG_BUS_TCP)
        snprintf(buf, len, "tcp:%s:%d", bus->host, bus->port);
    else
        snprintf(buf, len, "rtu:%s %d %d%c%d", bus->device, bus->baud, bus->data_bits, bus->parity,
                 bus->stop_bits);
}

static void set_timeout(modbus_t *ctx, int timeout_ms)
{
    uint32_t s = (uint32_t)timeout_ms / 1000, us = (uint32_t)(timeout_ms % 1000) * 1000;

    modbus_set_response_timeout(ctx, s, us);
    modbus_set_byte_timeout(ctx, s, us);
}

/* Why a connect or open failed, in words. */
static void open_failed(const struct cfg_bus *bus, int e, int timeout_ms, char *err, size_t errlen)
{
    char where[CFG_PATH_MAX + 32];

    ctl_bus_name(bus, where, sizeof where);
    if (e == ECONNREFUSED)
        snprintf(err, errlen, "%s: connection refused: the host is there but nothing listens on port %d "
                 "(wrong port, or the device's Modbus/TCP server is off)", where, bus->port);
    else if (e == EHOSTUNREACH || e == ENETUNREACH)
        snprintf(err, errlen, "%s: no route to host %s: check the address, the cabling and this machine's "
                 "network settings", where, bus->host);
    else if (e == ETIMEDOUT || e == EINPROGRESS)
        snprintf(err, errlen, "%s: no answer to the connection within %d ms: the host is down or a firewall "
                 "drops the traffic", where, timeout_ms);
    else if (e == ENOENT)
        snprintf(err, errlen, "%s: no such serial device: check the adapter is plugged in (ls /dev/ttyUSB*)",
                 where);
    else if (e == EACCES)
        snprintf(err, errlen, "%s: permission denied: add yourself to the dialout group", where);
    else
        snprintf(err, errlen, "%s: cannot connect: %s", where, modbus_strerror(e));
}

modbus_t *ctl_bus_open(const struct cfg_bus *bus, int timeout_ms, char *err, size_t errlen)
{
    char port[16];
    modbus_t *ctx;

    snprintf(port, sizeof port, "%d", bus->port);
    ctx = bus->type == CFG_BUS_TCP ? modbus_new_tcp_pi(bus->host, port)
                                   : modbus_new_rtu(bus->device, bus->baud, bus->parity, bus->data_bits,
                                                    bus->stop_bits);
    if (!ctx) {
        open_failed(bus, errno, timeout_ms, err, errlen);
        return NULL;
    }
    modbus_set_error_recovery(ctx, MODBUS_ERROR_RECOVERY_NONE);
    set_timeout(ctx, timeout_ms);
    if (modbus_connect(ctx) != 0) {
        open_failed(bus, errno, timeout_ms, err, errlen);
        modbus_free(ctx);
        return NULL;
    }
    if (bus->type == CFG_BUS_RTU)
        (void)modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485); /* refused by ptys and auto-direction adapters */
    return ctx;
}

/* Classifies an answer the codec checked (err: mbtcp_check_pdu()'s result). */
static void classify(int err, const struct mbtcp_answer *got, struct ctl_answer *ans)
{
    if (err == 0) {
        ans->kind = CTL_ANS_OK;
    } else if (got->exception > 0) {
        ans->kind = CTL_ANS_EXCEPTION;
        ans->exception = got->exception;
    } else if (err == MBTCP_EBADUNIT) {
        ans->kind = CTL_ANS_WRONG_UNIT;
        ans->unit = got->unit;
    } else {
        ans->kind = CTL_ANS_BAD;
        ans->err = EMBBADDATA;
    }
}

/* After a timeout or a garbled answer: make sure a late reply is not read
 * as the answer to the next request. */
static void recover(modbus_t *ctx, const struct cfg_bus *bus)
{
    if (bus->type == CFG_BUS_RTU) {
        modbus_flush(ctx);
        return;
    }
    modbus_close(ctx);
    (void)modbus_connect(ctx); /* a failure shows on the next request */
}

void ctl_read(modbus_t *ctx, const struct cfg_bus *bus, const struct ctl_read *rq, uint16_t *words,
              uint8_t *bits, struct ctl_answer *ans)
{
    struct mbtcp_req req = mbtcp_read(rq->unit, rq->table, rq->address, rq->count);
    struct mbtcp_answer got;
    uint8_t raw[MBTCP_RAW_LEN], rsp[MODBUS_TCP_MAX_ADU_LENGTH];
    int hdr = bus->type == CFG_BUS_TCP ? MBTCP_MBAP_LEN : 1, crc = bus->type == CFG_BUS_TCP ? 0 : 2, n;
    double start = now_ms();

    memset(ans, 0, sizeof *ans);
    modbus_set_slave(ctx, rq->unit); /* RTU: libmodbus filters answers by it */
    errno = 0;
    n = modbus_send_raw_request(ctx, raw, mbtcp_encode_raw(&req, raw)) < 0 ? -1
                                                                            : modbus_receive_confirmation(ctx, rsp);
    ans->rtt_ms = now_ms() - start;
    if (n == 0 && bus->type == CFG_BUS_RTU) {
        /* libmodbus 3.1.6 hands back an RTU frame from another unit as length 0 */
        ans->kind = CTL_ANS_WRONG_UNIT;
        ans->unit = rsp[0];
    } else if (n < 0) {
        ans->err = errno ? errno : EIO;
        ans->kind = ans->err == ETIMEDOUT                               ? CTL_ANS_TIMEOUT
                    : ans->err == EMBBADCRC || ans->err == EMBBADDATA ? CTL_ANS_BAD
                                                                      : CTL_ANS_LINK;
    } else if (n < hdr + 1 + crc) {
        ans->kind = CTL_ANS_BAD;
        ans->err = EMBBADDATA;
    } else {
        classify(mbtcp_check_pdu(&req, rsp[hdr - 1], rsp + hdr, (size_t)(n - hdr - crc), words, bits, &got), &got,
                 ans);
    }
    if (ans->kind == CTL_ANS_TIMEOUT || ans->kind == CTL_ANS_BAD || ans->kind == CTL_ANS_WRONG_UNIT)
        recover(ctx, bus);
}

const char *ctl_register_name(enum cfg_table table, int address, char *buf, size_t len)
{
    /* The manuals count from 1 with the table's digit in front: 5 digits
     * up to 9999, 6 digits above (400001..465536). */
    if (address < 9999)
        snprintf(buf, len, "%s %d%04d", table_words[table], table_ref[table], address + 1);
    else
        snprintf(buf, len, "%s %d%05d", table_words[table], table_ref[table], address + 1);
    return buf;
}

int ctl_parse_table_ref(const char *s, enum cfg_table *table, int *address, int *count)
{
    char name[16], addr[16], cnt[16] = "1";
    int max;

    if (sscanf(s, "%15[a-z]:%15[0-9]:%15[0-9]", name, addr, cnt) < 2)
        return -1;
    for (*table = CFG_TABLE_COIL; *table <= CFG_TABLE_INPUT; (*table)++)
        if (strcmp(name, table_names[*table]) == 0)
            break;
    max = is_bits(*table) ? 2000 : 125;
    if (*table > CFG_TABLE_INPUT || !parse_int(addr, 0, 65535, address) || !parse_int(cnt, 1, max, count) ||
        *address + *count > 65536)
        return -1;
    return 0;
}

static const char *exception_name(int code)
{
    static const char *const names[] = {
        [1] = "illegal function", [2] = "illegal data address", [3] = "illegal data value",
        [4] = "server device failure", [5] = "acknowledge", [6] = "server device busy",
        [8] = "memory parity error", [10] = "gateway path unavailable",
        [11] = "gateway target device failed to respond",
    };

    return code > 0 && code < (int)(sizeof names / sizeof *names) && names[code] ? names[code] : "unknown exception";
}

/* The words for an exception answer, naming what was asked. */
static void exception_text(const struct ctl_answer *a, const struct ctl_read *rq, char *buf, size_t len)
{
    char first[48], last[48];

    ctl_register_name(rq->table, rq->address, first, sizeof first);
    ctl_register_name(rq->table, rq->address + rq->count - 1, last, sizeof last);
    if (a->exception == 1)
        snprintf(buf, len, "illegal function: unit %d does not support reading %ss (function code %d): the "
                 "device has no such table; read another table (check the manual)", rq->unit, table_words[rq->table],
                 mbtcp_read(rq->unit, rq->table, rq->address, rq->count).function);
    else if (a->exception == 2)
        snprintf(buf, len, "illegal data address: unit %d has no %s (address %d%s%s, %d %s); check the "
                 "address against the device manual (vigil addresses are 0-based: %s is address %d)",
                 rq->unit, first, rq->address, rq->count > 1 ? ", up to " : "", rq->count > 1 ? last : "",
                 rq->count, is_bits(rq->table) ? (rq->count == 1 ? "bit" : "bits") : (rq->count == 1 ? "register" : "registers"),
                 first, rq->address);
    else if (a->exception == 10 || a->exception == 11)
        snprintf(buf, len, "the gateway answered that unit %d cannot be reached (exception %d, %s): check the "
                 "unit id and the serial line behind the gateway", rq->unit, a->exception,
                 exception_name(a->exception));
    else
        snprintf(buf, len, "unit %d answered with exception %d (%s)", rq->unit, a->exception,
                 exception_name(a->exception));
}

void ctl_answer_text(const struct ctl_answer *a, const struct cfg_bus *bus, const struct ctl_read *rq,
                     int timeout_ms, char *buf, size_t len)
{
    switch (a->kind) {
    case CTL_ANS_OK: snprintf(buf, len, "ok"); break;
    case CTL_ANS_EXCEPTION: exception_text(a, rq, buf, len); break;
    case CTL_ANS_WRONG_UNIT:
        snprintf(buf, len, "wrong unit id: asked unit %d, the answer came from unit %d; use --unit %d, or set "
                 "the device's address to %d", rq->unit, a->unit, a->unit, rq->unit);
        break;
    case CTL_ANS_TIMEOUT:
        snprintf(buf, len, "timeout: unit %d did not answer within %d ms (%s)", rq->unit, timeout_ms,
                 bus->type == CFG_BUS_RTU ? "wrong unit id, device without power, or wrong baud rate, parity "
                                            "or A/B wiring"
                                          : "wrong unit id behind a gateway, or the device is busy");
        break;
    case CTL_ANS_BAD:
        snprintf(buf, len, "garbled answer from unit %d (%s)%s", rq->unit, modbus_strerror(a->err),
                 bus->type == CFG_BUS_RTU ? ": check baud rate, parity, termination and that only one master "
                                            "is on the line"
                                          : ": the device does not speak Modbus/TCP as expected");
        break;
    default:
        snprintf(buf, len, "the link failed: %s", modbus_strerror(a->err));
        break;
    }
}
