/*
 * points_sink.h - the live points view as one sink of the core thread
 * (sink.h), for `vigilctl points` and `vigilctl walktest report`.
 *
 * The sink keeps a table of every configured point (raw and scaled value,
 * quality, its last alarm state, zone, last change, last walk test date)
 * and every zone's walk test, built from the records it is handed, and
 * serves it on a local UNIX stream socket (site.points_socket, default
 * <state_dir>/points.sock, mode 0660): a client gets the whole table on
 * connect, then one line for each change. The values come from vigild's
 * own pollers: the view never polls a device a second time.
 *
 * Lines are JSON objects (docs/commissioning.md):
 *   {"type":"zone","zone","armed","test","test_started","test_until"}
 *   {"type":"point","point","zone","device","kind","raw","value","quality",
 *    "alarm","state","changed","tested"}
 *   {"type":"end"}  once, after the table sent on connect
 *
 * Lossy and never blocking: writes are non-blocking into a bounded buffer
 * per client; a client that falls behind by a whole buffer is dropped with
 * a log line (it reconnects and gets the table again).
 */
#ifndef VIGIL_POINTS_SINK_H
#define VIGIL_POINTS_SINK_H

#include <stddef.h>

#include "config.h"
#include "sink.h"

extern const struct sink_ops points_sink_ops;

/* Where the socket of site goes: site.points_socket, or <state_dir>/points.sock. */
void points_socket_path(const struct cfg_site *site, const char *state_dir, char *path, size_t cap);

/* Binds the socket (replacing a stale one) and builds the table for site;
 * NULL with a reason in err. The caller adds it to its sink set. */
void *points_sink_start(const struct cfg_site *site, const char *state_dir, char *err, size_t errlen);

#endif
