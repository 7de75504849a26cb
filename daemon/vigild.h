/*
 * vigild.h - vigild as a function: arguments, signals, the first config
 * load, the core thread until SIGTERM, shutdown.
 */
#ifndef VIGIL_VIGILD_H
#define VIGIL_VIGILD_H

#include "sink.h"

/*
 * Runs vigild with argv (see usage()). extra_sinks, already started, are
 * added after the built-in ones and owned by vigild from then on (a test's
 * recording sink); vigild's own main passes none. Returns the exit status.
 */
int vigild_main(int argc, char **argv, const struct sink *extra_sinks, int n_extra_sinks);

#endif
