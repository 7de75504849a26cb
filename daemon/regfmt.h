/*
 * regfmt.h - register formats: how a profile input's raw Modbus words or bit
 * become a number, and back.
 *
 * One codec shared by everything that touches registers: the poller decodes
 * its reads with it, `vigilctl probe` decodes what it reads the same way, and
 * vigil-sim encodes the values it serves with the inverse, so a word order
 * mistake cannot hide in one of them. Pure functions, no I/O, no allocation.
 *
 * A 32-bit value spans two consecutive registers. Its word order names the
 * bytes of the value from most (A) to least (D) significant in the order
 * they arrive on the wire: registers are big-endian, so ABCD is register 0
 * = AB, register 1 = CD (the Modbus convention), CDAB puts the low word
 * first, BADC and DCBA swap the bytes inside each register.
 */
#ifndef VIGIL_REGFMT_H
#define VIGIL_REGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Registers (or bits, for CFG_FMT_BIT) one input occupies: 1 or 2. */
int regfmt_width(enum cfg_format fmt);

/* The 32-bit value held by w[0], w[1] in `order`. */
uint32_t regfmt_get32(const uint16_t w[2], enum cfg_word_order order);

/* Stores v into w[0], w[1] in `order`; the inverse of regfmt_get32. */
void regfmt_put32(uint32_t v, enum cfg_word_order order, uint16_t w[2]);

/*
 * The raw number of an input, before scale and offset: 0/1 for bits, the
 * integer of a register or field, the float of an f32 (NaN stays NaN: a
 * device reporting "no reading" must reach the core as a sensor fault).
 * words points at the input's first register (two for 32-bit formats), bit
 * at its bit; the one the format does not use may be NULL.
 */
double regfmt_raw(const struct cfg_input *in, const uint16_t *words, const uint8_t *bit);

/* raw * scale + offset of the input (the profile's half of the scaling). */
double regfmt_scaled(const struct cfg_input *in, double raw);

/*
 * The inverse of regfmt_raw: stores raw into the input's words or bit,
 * leaving the other bits of a shared register (regbit, field) alone.
 * Integers are rounded to nearest. Returns 0, or -1 with an explanation in
 * err if raw does not fit the format (NaN is accepted by f32 only).
 */
int regfmt_store(const struct cfg_input *in, double raw, uint16_t *words, uint8_t *bit, char *err, size_t errlen);

/* Names as written in profile files, indexed by the enums, NULL-terminated
 * (config.c reads the keys "format" and "order" against them). */
extern const char *const regfmt_format_names[];
extern const char *const regfmt_order_names[];

/* True for formats that read a number (not a single bit). */
bool regfmt_is_numeric(enum cfg_format fmt);

#endif
