/*
 * clock.h - the shell's only two clock reads.
 *
 * The event core never reads a clock; the shell stamps each input with
 * these two values. clock_mono_ms() drives every timer and never goes back;
 * clock_wall_ms() is UTC for the event "ts" people and databases read.
 */
#ifndef VIGIL_CLOCK_H
#define VIGIL_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_ms(void);
int64_t clock_wall_ms(void);

#endif
