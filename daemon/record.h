/*
 * record.h - core outputs turned into self-describing sink records.
 *
 * The core thread builds each record once: ids and names are copied out of
 * the config and the core, the guard's sentence is written, and the JSON
 * payload (docs/mqtt.md) is rendered into the record's own buffer. Sinks
 * then need neither the core nor the config (sink.h).
 *
 * Every builder fills b->rec, renders b->json and points rec.json at it.
 * It returns the payload's length, or -1 when the payload could not be
 * rendered (then rec.json is NULL and the caller logs it); kinds without a
 * payload (samples, retires) return 0.
 */
#ifndef VIGIL_RECORD_H
#define VIGIL_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "core.h"
#include "message.h"
#include "poller.h"
#include "sink.h"

struct rec_buf {
    struct sink_record rec;
    char json[MSG_MAX];
};

int rec_event(struct rec_buf *b, const struct cfg_site *site, const struct core *core, const struct core_event *ev);
int rec_zone(struct rec_buf *b, const struct cfg_site *site, const struct core_zone_change *zc);
int rec_result(struct rec_buf *b, const struct core_result *r, int64_t wall_ms);

/* st: the poller's counters (NULL: none yet); up is the comm state the core last saw. */
int rec_device(struct rec_buf *b, const struct cfg_site *site, int device, const struct poll_device_stats *st,
               bool up, bool changed, int64_t wall_ms);
int rec_sample(struct rec_buf *b, const struct cfg_site *site, int point, double value, double raw, int64_t wall_ms);
/* The point's last successful walk test date (core_point_tested). */
int rec_tested(struct rec_buf *b, const struct cfg_site *site, int point, int64_t tested_wall_ms);
int rec_retire(struct rec_buf *b, enum sink_object object, const char *id, int64_t wall_ms);
int rec_retry(struct rec_buf *b, const struct core_retry *r, int64_t wall_ms);

/* The local output of the site's receipts group switched (docs/mqtt.md, "Receipts"). */
int rec_local_output(struct rec_buf *b, const struct cfg_site *site, const struct core_local_output *o);

#endif
