/*
 * mqtt_sink.h - MQTT as one sink of the core thread (sink.h).
 *
 * The sink turns records into the topics of docs/mqtt.md: every event on
 * events, the retained tree of alarms that need attention, zones and
 * devices, command results for commands that came over MQTT, and the
 * retained status with its heartbeat. It keeps the payloads of events the
 * station must receipt and re-sends one when the core says its receipt is
 * overdue (SINK_RETRY). Sending, failover, the store, inbound commands and
 * receipts, and supervision are the publisher's (mqtt.h).
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

struct mqtt_sink_options {
    struct pub_options pub;        /* the publisher's options (mqtt.h) */
};

/* Starts the publisher and the receipt tracker; NULL with a reason in err. */
void *mqtt_sink_start(const struct mqtt_sink_options *o, char *err, size_t errlen);

/* The publisher, for the core thread's status line and watchdog. */
struct pub *mqtt_sink_pub(void *self);

#endif
