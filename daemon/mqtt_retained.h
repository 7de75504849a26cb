/*
 * mqtt_retained.h - the retained tree the MQTT sink has published, kept so
 * it can publish it again (docs/mqtt.md, "Restore on reconnect").
 *
 * A broker that restarts without its database has forgotten every retained
 * message; a console that subscribes afterwards would see no zones, no
 * devices and none of the alarms that need attention. The sink therefore
 * keeps the last payload of every retained topic it publishes (keyed by
 * the topic suffix, e.g. "alarms/store1-door.intrusion") and re-publishes
 * the lot when a path (re)connects.
 *
 * The table is allocated at start and at a reload, sized from the site
 * (every alarm, zone, device and the local output), and never grows in
 * between: the steady state allocates nothing. An entry is never removed,
 * only emptied (an alarm back to normal, a retired zone); a reload rebuilds
 * the table from the entries that still hold a payload.
 *
 * Not thread-safe: the core thread owns it.
 */
#ifndef VIGIL_MQTT_RETAINED_H
#define VIGIL_MQTT_RETAINED_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct retained;

/* Room for every retained topic of site plus extra entries; NULL on OOM. Free with retained_free(). */
struct retained *retained_new(const struct cfg_site *site, size_t extra);
void retained_free(struct retained *t);

/*
 * Keeps json (len bytes, copied) as suffix's payload; len 0 empties the
 * entry (nothing to restore). False if the table has no room for a new
 * suffix or the payload is too long: the caller logs it.
 */
bool retained_set(struct retained *t, const char *suffix, const char *json, size_t len);

/* Entries that hold a payload. */
size_t retained_live(const struct retained *t);

/* Calls fn for every entry that holds a payload, in the order they were first set. */
void retained_each(const struct retained *t,
                   void (*fn)(void *ctx, const char *suffix, const char *json, size_t len), void *ctx);

/* Copies every entry of from that holds a payload into to; false if one did not fit. */
bool retained_copy(struct retained *to, const struct retained *from);

#endif
