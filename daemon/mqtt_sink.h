/*
 * mqtt_sink.h - MQTT as one sink of the core thread (sink.h).
 *
 * The sink turns records into the topics of docs/mqtt.md: every event on
 * events, the retained tree of alarms that need attention, zones and
 * devices, command results for commands that came over MQTT, and the
 * retained status with its heartbeat. It also runs the station's receipt
 * protocol (receipt.h): events of the tracked priorities are re-published
 * until the station confirms them. Sending, failover, the store, inbound
 * commands and supervision are the publisher's (mqtt.h).
 *
 * The sink is lossless: its durable seq is the last event seq handed to the
 * publisher at a moment when the broker had acknowledged everything and
 * nothing was held in memory only.
 */
#ifndef VIGIL_MQTT_SINK_H
#define VIGIL_MQTT_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "mqtt.h"
#include "sink.h"

extern const struct sink_ops mqtt_sink_ops;

/*
 * Called on the core thread every round with whether the station's missed
 * receipts want the site's local output (siren) on; missing is how many
 * events wait. The callee acts on changes only.
 */
typedef void (*mqtt_escalate_fn)(void *ctx, bool on, size_t missing);

struct mqtt_sink_options {
    struct pub_options pub;        /* the publisher's options (mqtt.h) */
    mqtt_escalate_fn escalate;     /* NULL: no local output */
    void *escalate_ctx;
};

/* Starts the publisher and the receipt tracker; NULL with a reason in err. */
void *mqtt_sink_start(const struct mqtt_sink_options *o, char *err, size_t errlen);

/* The publisher, for the core thread's status line and watchdog. */
struct pub *mqtt_sink_pub(void *self);

#endif
