/*
 * mqtt_topics.h - every topic of the MQTT contract (docs/mqtt.md), in one
 * place for vigild and vigilctl alike.
 *
 * A topic is "<prefix>/<site>/<suffix>" (msg_topic() joins them); these are
 * the suffixes. The retained per-item trees are a kind followed by the
 * item's id: MQTT_TOPIC_ALARMS "door.intrusion" is "alarms/door.intrusion".
 */
#ifndef VIGIL_MQTT_TOPICS_H
#define VIGIL_MQTT_TOPICS_H

#define MQTT_TOPIC_STATUS     "status"     /* retained online/offline and heartbeat; the Will */
#define MQTT_TOPIC_EVENTS     "events"     /* every alarm state change, in seq order */
#define MQTT_TOPIC_CMD        "cmd"        /* operator commands in */
#define MQTT_TOPIC_CMD_RESULT "cmd/result" /* their results out */
#define MQTT_TOPIC_RECEIPT    "receipt"    /* the station's receipts of events in */

/* Retained per-item trees: the kind, then the item's id. */
#define MQTT_TOPIC_ALARMS     "alarms/"
#define MQTT_TOPIC_ZONES      "zones/"
#define MQTT_TOPIC_DEVICES    "devices/"
#define MQTT_TOPIC_OUTPUTS    "outputs/"   /* then "<device>.<output>": a local output the core switched */

#endif
