/*
 * message.h - the MQTT JSON contract: payloads vigil publishes and the
 * operator commands it accepts.
 *
 * Every function here is pure: no I/O, no clock, no locks. Time comes in as
 * wall-clock milliseconds, names come from the site config, and the output
 * goes into a buffer the caller owns. The same inputs always give the same
 * bytes (compact JSON, keys in a fixed order), so journal replay and tests
 * can compare payloads byte for byte. docs/mqtt.md describes the topics and
 * payloads for the people who write central-station software.
 *
 * Builders return the payload length (the buffer is NUL-terminated too), or
 * -1 when it does not fit in cap. MSG_MAX always fits.
 */
#ifndef VIGIL_MESSAGE_H
#define VIGIL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core.h"

#define MSG_MAX 2048    /* room for any payload built here */
#define MSG_TOPIC_MAX 256
#define MSG_TS_LEN 24   /* "2026-11-25T10:00:00.123Z" */

/*
 * Formats wall_ms (UTC epoch milliseconds) as RFC 3339 with milliseconds
 * into ts (MSG_TS_LEN + 1 bytes). Times before 1970 are formatted as such;
 * times outside the years 0000..9999 are clamped to the nearest end, so a
 * wildly wrong clock still gives a valid timestamp instead of losing the
 * event that carries it.
 */
void msg_ts(int64_t wall_ms, char ts[MSG_TS_LEN + 1]);

/*
 * Builds "<prefix>/<site>/<suffix>" (e.g. "vigil/depot-7/events").
 * Returns its length, or -1 if it does not fit.
 */
int msg_topic(char *buf, size_t cap, const char *prefix, const char *site, const char *suffix);

/*
 * One alarm state change for vigil/<site>/events:
 *   {"seq","ts","site","alarm","type","priority","state","zone","point",
 *    "device","value","text"} and "operator" when a person caused it.
 * zone/point/device are config ids or null; value is a JSON real (1.0,
 * 23.1) or null when the point had no value; text is a sentence for guards
 * built from config names, or the core's text for system events.
 */
int msg_event(const struct cfg_site *site, const struct core *core, const struct core_event *ev,
              char *buf, size_t cap);

/*
 * The retained payload of vigil/<site>/alarms/<alarm> after ev: the event
 * itself while the alarm needs attention, and an empty payload (return 0)
 * once it is NORMAL or SUPPRESSED (its zone disarmed), which deletes the
 * retained message so the topic tree lists exactly the alarms that need
 * attention. One-shot events (state "event") have no alarm topic; do not
 * call this for them.
 */
int msg_alarm_state(const struct cfg_site *site, const struct core *core, const struct core_event *ev,
                    char *buf, size_t cap);

/* A zone's arm state for vigil/<site>/zones/<zone>: {"zone","armed","ts"} + "operator". */
int msg_zone(const struct cfg_site *site, const struct core_zone_change *zc, char *buf, size_t cap);

/* The outcome of a command for vigil/<site>/cmd/result: {"id","op","ok"} + "error" when !ok. */
int msg_result(const struct core_result *r, char *buf, size_t cap);

/*
 * The retained vigil/<site>/status payload (and the MQTT Will):
 * {"site","state","version","started","ts"}; state is "online" or "offline".
 */
int msg_status(const struct cfg_site *site, const char *state, const char *version,
               int64_t started_wall_ms, int64_t now_wall_ms, char *buf, size_t cap);

/* What msg_parse_cmd() could read from a rejected command. */
enum msg_cmd_parse {
    MSG_CMD_OK = 0,
    MSG_CMD_BAD = -1,       /* rejected; out->id holds the id if it was readable */
    MSG_CMD_BAD_ARGS = -2,  /* rejected; out->id as above and out->op is valid */
};

/*
 * Parses a command from vigil/<site>/cmd:
 *   {"id":"c-1","op":"ack","alarm":"door-1.intrusion","operator":"jsmith"}
 * ops ack/shelve/unshelve name an "alarm", arm/disarm a "zone"; shelve needs
 * "duration_s" (0 < n <= 86400), arm accepts "force" (boolean). Unknown keys,
 * wrong types and missing keys are rejected with a message naming the
 * problem in err. Returns MSG_CMD_OK with *out filled, or a negative
 * enum msg_cmd_parse value saying how much of *out is usable for the reply.
 */
int msg_parse_cmd(const char *payload, size_t len, struct core_cmd *out, char *err, size_t errlen);

/*
 * The cmd/result reply to a command msg_parse_cmd() rejected with rc:
 * {"id","op","ok":false,"error"} where id is null if it was unreadable and
 * op is null unless rc is MSG_CMD_BAD_ARGS.
 */
int msg_cmd_rejected(const struct core_cmd *cmd, int rc, const char *error, char *buf, size_t cap);

#endif
