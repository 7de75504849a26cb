/*
 * busload.h - the arithmetic of a Modbus RTU line: how long a character, a
 * frame and the silent gap between frames take at a baud rate, and how much
 * line time a device's read plan needs. `vigilctl scan` paces its requests
 * with it; the config diagnostics use it to find a line that cannot carry
 * its devices' polls. Pure functions.
 *
 * Modbus over serial line (V1.02, 2.5.1.1): frames are separated by at
 * least 3.5 character times; above 19200 baud a fixed 1750 us is used.
 */
#ifndef VIGIL_BUSLOAD_H
#define VIGIL_BUSLOAD_H

#include "config.h"
#include "poller.h"

/* Bits per character: start + data + parity (if any) + stop. */
int busload_char_bits(const struct cfg_bus *bus);

/* The silent interval between two frames, in microseconds. */
int busload_gap_us(const struct cfg_bus *bus);

/* Bytes of a read request and of its answer on RTU (address, function,
 * data and CRC). */
void busload_read_bytes(const struct poll_block *blk, int *req_bytes, int *rsp_bytes);

/*
 * Line time of one poll cycle of site device `device`: every request of its
 * plan and its answer, each followed by a gap, in microseconds. Writes the
 * number of requests and the bytes on the wire into *requests and *bytes
 * (may be NULL). Returns -1 on OOM.
 */
long busload_cycle_us(const struct cfg_site *site, int device, int *requests, int *bytes);

#endif
