/*
 * influx.h - the InfluxDB sink: telemetry for dashboards (docs/influx.md).
 *
 * A lossy sink (sink.h): the core thread's deliver() turns a record into a
 * line of line protocol (influx_line.h) and appends it to a bounded buffer;
 * a writer thread of its own sends the buffer in batches over one
 * keep-alive libcurl handle, gzipped. While InfluxDB is away the buffer
 * fills; past its bound the oldest lines are dropped, counted, logged once
 * per health period and written as a vigil_influx_dropped point. Nothing
 * the writer does (a slow or dead server, a retry, a back-off) can block
 * deliver(): the two share a mutex held only to copy bytes.
 *
 * The writer also samples the gateway's health every influx.health_s
 * (/proc/self, the journal's size, the caller's gauges) and writes it as
 * vigil_gateway, so that file and /proc reads never run on the core thread.
 */
#ifndef VIGIL_INFLUX_H
#define VIGIL_INFLUX_H

#include <stdint.h>

#include "config.h"
#include "sink.h"

/* A number the gateway health line reports (queue depths, MQTT buffer).
 * read is called on the writer thread: it must be thread-safe. */
struct influx_gauge {
    const char *field;               /* a field key of vigil_gateway, e.g. "input_queue" */
    uint64_t (*read)(void *arg);
    void *arg;
};

#define INFLUX_MAX_GAUGES 8

/* Counters since start; a snapshot. */
struct influx_stats {
    uint64_t queued;                 /* lines deliver() and the writer buffered */
    uint64_t written;                /* lines InfluxDB accepted */
    uint64_t rejected;               /* lines InfluxDB refused (400) and that were dropped */
    uint64_t dropped;                /* lines shed: buffer full, or still unsent at stop */
    uint64_t buffered_lines, buffered_bytes;
    uint64_t requests, failures;     /* HTTP requests; those not answered 204 */
};

struct influx_options {
    const struct cfg_site *site;     /* site->influx must be enabled; copied */
    const char *state_dir;           /* where the journal is (its size is reported); NULL: site->state_dir */
    struct influx_gauge gauges[INFLUX_MAX_GAUGES]; /* their functions and args must outlive the sink */
    int n_gauges;
};

/*
 * Starts the sink: allocates the buffer, opens the HTTP handle and starts
 * the writer thread. Call it before other threads use libcurl (it runs
 * curl_global_init()). Returns NULL with a reason in err. Add it to the
 * core thread's set with sink_set_add(set, &influx_sink_ops, ix).
 */
struct influx *influx_start(const struct influx_options *o, char *err, size_t errlen);

extern const struct sink_ops influx_sink_ops;

void influx_get_stats(struct influx *ix, struct influx_stats *out);

#endif
