/*
 * influx_line.h - InfluxDB line protocol: encoding, and the lines a sink
 * record becomes (docs/influx.md has the schema).
 *
 * Pure: no clock, no I/O, no allocation. The caller owns every buffer; a
 * line that does not fit is not written (length 0), never cut short, so a
 * half line can never reach InfluxDB and poison a batch.
 *
 * Escaping follows InfluxDB 1.x and 2.x exactly:
 *   - measurement: ',' and ' ' get a backslash;
 *   - tag keys, tag values, field keys: ',', '=' and ' ' get a backslash;
 *   - string field values: in double quotes, '"' and '\' get a backslash;
 * and everywhere a newline or carriage return becomes a space (a raw one
 * ends the line). Things InfluxDB refuses are never written: an empty tag
 * value drops the tag, NaN and infinities drop the field, and a line with
 * no field left is not written at all. In names and tags InfluxDB 1.x
 * keeps a backslash literally except before ',', '=' or ' ' (checked on
 * 1.6.7: a\b is stored as a\b, and a doubled backslash stays two), so a
 * backslash that precedes one of those or ends a name cannot be written
 * exactly: it becomes '/'. vigil's ids have no backslash; this only keeps
 * a hostile name from breaking the line.
 */
#ifndef VIGIL_INFLUX_LINE_H
#define VIGIL_INFLUX_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"

#define ILP_LINE_MAX 2048 /* the longest line a record gives: a full alarm text, escaped */

/* A line being built in a caller's buffer: ilp_start, tags, fields, ilp_finish. */
struct ilp {
    char *buf;
    size_t cap, len;
    bool overflow;   /* something did not fit: ilp_finish gives 0 */
    bool in_fields;  /* a field was written: no more tags */
    int fields;
};

void ilp_start(struct ilp *l, char *buf, size_t cap, const char *measurement);
/* A tag; an empty value writes nothing. All tags come before the first field. */
void ilp_tag(struct ilp *l, const char *key, const char *value);
/* A float field; NaN or an infinity writes nothing. */
void ilp_float(struct ilp *l, const char *key, double v);
void ilp_int(struct ilp *l, const char *key, int64_t v);
void ilp_bool(struct ilp *l, const char *key, bool v);
void ilp_str(struct ilp *l, const char *key, const char *v);
/*
 * Ends the line with the millisecond timestamp and '\n'. Returns its length
 * (newline included), or 0 if it had no field or did not fit in cap.
 */
size_t ilp_finish(struct ilp *l, int64_t ts_ms);

/* How the sink tracked an alarm when its state changed. */
struct ilp_alarm_extra {
    double ack_s;        /* raise to acknowledgement, seconds; NaN unless this change is the ack */
    const char *shift;   /* the guard shift the change fell in ("06:00"); "" for none */
};

/*
 * One line per record kind. site is the site id (a tag on every line).
 * Each returns the line's length, 0 when it has nothing to write or did
 * not fit in cap (ILP_LINE_MAX always fits).
 */
/* vigil_point: a point's value; quality "good", or "unreadable" with no value for NaN; the
 * configured alarm limits high and low as fields (NaN: none), for dashboards to draw. */
size_t ilp_sample(char *buf, size_t cap, const char *site, const struct sink_sample *s, double high, double low,
                  int64_t ts_ms);
/* vigil_alarm: an alarm state change or one-shot event. */
size_t ilp_event(char *buf, size_t cap, const char *site, const struct sink_event *e,
                 const struct ilp_alarm_extra *x, int64_t ts_ms);
/* vigil_zone: a zone's arm state. */
size_t ilp_zone(char *buf, size_t cap, const char *site, const struct sink_zone *z, int64_t ts_ms);
/* vigil_device: comm state and poll counters; requests_per_s NaN when not yet known. */
size_t ilp_device(char *buf, size_t cap, const char *site, const struct sink_device *d, double requests_per_s,
                  int64_t ts_ms);
/* vigil_influx_dropped: lines this sink shed so far (a running total). */
size_t ilp_dropped(char *buf, size_t cap, const char *site, uint64_t dropped_total, int64_t ts_ms);

#endif
