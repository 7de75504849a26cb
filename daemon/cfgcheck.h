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
 * cfgcheck_warnings() is pure: it reads the site, writes text.
 * cfgcheck_files() looks at the file system: the TLS and password files a
 * broker names that are not there yet. config.c refuses those that are
 * there but unreadable or too open; a missing one is only a warning, so a
 * config can be checked before its certificates are installed (and the
 * shipped example, whose paths are under /etc/vigil/tls/, checks clean).
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

/* Warns, in the same form, about every file a broker names that does not exist. */
int cfgcheck_files(const struct cfg_site *site, char *out, size_t outlen);

#endif
