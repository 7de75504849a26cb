/*
 * cfgcheck.h - diagnostics of a valid site config: things that load and run
 * but are probably not what the engineer meant (`vigild --check-config`
 * prints them as warnings and still exits 0).
 *
 *  - a point in no zone, a zone with no points;
 *  - a point whose debounce or on-delay is shorter than its device's poll
 *    interval (the delay cannot work at that sampling rate);
 *  - an RTU line whose devices' read plans need more line time than their
 *    poll intervals leave (busload.c), with the arithmetic.
 *
 * Pure: reads the site, writes text.
 */
#ifndef VIGIL_CFGCHECK_H
#define VIGIL_CFGCHECK_H

#include <stddef.h>

#include "config.h"

/*
 * Writes one line per warning into out, "file:line: warning: what; what to
 * do" (lines that no longer fit are dropped whole), and returns how many
 * warnings there are.
 */
int cfgcheck_warnings(const struct cfg_site *site, char *out, size_t outlen);

#endif
