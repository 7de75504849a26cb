/*
 * lecodec.h - the one little-endian codec of vigil's own byte formats: the
 * journal's records and the core's snapshots (docs/journal.md). Modbus is
 * big-endian and has its own (regfmt.h).
 */
#ifndef VIGIL_LECODEC_H
#define VIGIL_LECODEC_H

#include <stdint.h>

/* Writes the low `bytes` (1..8) bytes of v at p, least significant first. */
void le_store(uint8_t *p, uint64_t v, int bytes);

/* Reads `bytes` (1..8) bytes at p, least significant first. */
uint64_t le_load(const uint8_t *p, int bytes);

#endif
