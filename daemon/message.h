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
#include "sink.h"

#define MSG_MAX 2048    /* room for any payload built here */
#define MSG_TOPIC_MAX 256
#define MSG_RECEIPT_SEQS 128 /* seqs one receipt message may confirm */
#define MSG_TS_LEN 24   /* "2026-11-25T10:00:00.123Z" */

/*
 * Bounds on what arrives from the broker, checked before any JSON parsing:
 * a command is a flat object of a few short strings, a receipt at most
 * MSG_RECEIPT_SEQS numbers (about 2.6 KB); anything far larger, nested
 * deeper, or not UTF-8 text without NUL bytes is refused with a reason.
 */
#define MSG_CMD_MAX_BYTES 4096
#define MSG_RECEIPT_MAX_BYTES 16384
#define MSG_JSON_DEPTH 4

/*
 * Formats wall_ms (UTC epoch milliseconds) as RFC 3339 with milliseconds
 * into ts (MSG_TS_LEN + 1 bytes). Times before 1970 are formatted as such;
 * times outside the years 0000..9999 are clamped to the nearest end, so a
 * wildly wrong clock still gives a valid timestamp instead of losing the
 * event that carries it.
 */
void msg_ts(int64_t wall_ms, char ts[MSG_TS_LEN + 1]);

/*
 * The one RFC 3339 reader of vigil and vigilctl: parses a date-time
 * ("2026-11-25T10:00:00.123Z", "2026-11-25T11:00:00+01:00") into UTC epoch
 * ms. Digits past milliseconds are cut; a leap second reads as the last
 * millisecond of its minute. False if s is anything else.
 */
bool msg_parse_ts(const char *s, int64_t *out_ms);

/*
 * Builds "<prefix>/<site>/<suffix>" (e.g. "vigil/depot-7/events").
 * Returns its length, or -1 if it does not fit.
 */
int msg_topic(char *buf, size_t cap, const char *prefix, const char *site, const char *suffix);

/*
 * The sentence a guard reads for ev of the alarm info, e.g. "Store 1 door:
 * intrusion (active, unacknowledged) in zone Ammunition store 1", built
 * from the config's names; system events carry the core's own text. The
 * core thread calls it once per event to fill in its record (record.h).
 */
void msg_event_text(const struct cfg_site *site, const struct core_alarm_info *info,
                    const struct core_event *ev, char *text, size_t cap);

/*
 * One alarm state change for vigil/<site>/events, from its record alone:
 *   {"seq","epoch","ts","site","alarm","type","priority","state","zone","point",
 *    "device","value","text"} and "operator" when a person caused it.
 * zone/point/device are config ids or null; value is a JSON real (1.0,
 * 23.1) or null when the point had no value. While the alarm needs
 * attention the same payload is retained on vigil/<site>/alarms/<alarm>;
 * once it is normal or suppressed an empty retained payload deletes that
 * topic, so the tree lists exactly the alarms that need attention.
 */
int msg_event(const char *site_id, const struct sink_record *rec, char *buf, size_t cap);

/* A zone's arm state for vigil/<site>/zones/<zone>: {"zone","armed","ts"} + "operator". */
int msg_zone(const struct sink_record *rec, char *buf, size_t cap);

/*
 * The retained vigil/<site>/outputs/<device>.<output> payload: a local
 * output (siren) the core switched, {"device","output","on","reason","ts"}.
 */
int msg_output(const struct sink_record *rec, char *buf, size_t cap);

/* The outcome of a command for vigil/<site>/cmd/result: {"id","op","ok"} + "error" when !ok. */
int msg_result(const struct sink_result *r, char *buf, size_t cap);

/* What a status payload says; the strings are borrowed for the call. */
struct msg_status {
    const char *site;           /* site id */
    const char *state;          /* "online" or "offline" */
    const char *version;        /* vigild's version */
    int64_t started_wall_ms;    /* when the process started */
    int64_t now_wall_ms;        /* when this status was built */
    int heartbeat_s;            /* refresh period: a station declares the site silent after missing it */
    uint64_t seq;               /* seq of the last event handed to the publisher; 0 before the first */
    uint64_t epoch;             /* the epoch that seq belongs to; 0 (null) before one is known */
};

/*
 * The retained vigil/<site>/status payload (and the MQTT Will):
 * {"site","state","version","started","ts","heartbeat_s","seq","epoch"}.
 */
int msg_status(const struct msg_status *st, char *buf, size_t cap);

/*
 * The retained vigil/<site>/devices/<device> payload:
 * {"device","name","up","rtt_ms","polls","failures","ts"}. rtt_ms is null
 * while down or before the first answer; polls and failures count poll
 * cycles since the poller started (vigild start or reload).
 */
int msg_device(const struct sink_record *rec, char *buf, size_t cap);

/* What msg_parse_cmd() could read from a rejected command. */
enum msg_cmd_parse {
    MSG_CMD_OK = 0,
    MSG_CMD_BAD = -1,       /* rejected; out->id holds the id if it was readable */
    MSG_CMD_BAD_ARGS = -2,  /* rejected; out->id as above and out->op is valid */
};

#define MSG_NO_TS INT64_MIN /* a command without "ts" */

/* What a command carries for the gate beyond struct core_cmd (docs/commands.md). */
struct msg_cmd_auth {
    int64_t ts_wall_ms;       /* "ts" as UTC epoch ms; MSG_NO_TS when absent */
    char ts[40];              /* "ts" byte for byte as sent: it is signed that way */
    char duration_s[32];      /* "duration_s" as a decimal number, "" when absent */
    char force[8];            /* "true", "false", or "" when absent */
    char comment[201];        /* "" when absent */
    char sig[100];            /* base64 Ed25519 signature, "" when unsigned */
};

/*
 * Parses a command from vigil/<site>/cmd:
 *   {"id":"c-1","op":"ack","alarm":"door-1.intrusion","operator":"jsmith",
 *    "ts":"2026-11-25T10:00:00Z","comment":"...","sig":"..."}
 * ops ack/shelve/unshelve/out_of_service/in_service name an "alarm",
 * arm/disarm/walktest_start/walktest_stop a "zone"; shelve and
 * walktest_start need "duration_s" (0 < n <= 86400), arm
 * accepts "force" (boolean). "ts", "comment" and "sig" are optional here;
 * the command gate (cmdgate.h) decides what a site requires, from *auth.
 * Unknown keys, wrong types and missing keys are rejected with a message
 * naming the problem in err, as are payloads over MSG_CMD_MAX_BYTES, nested
 * deeper than MSG_JSON_DEPTH, or with invalid UTF-8 or a NUL byte (unparsed:
 * no id). Returns MSG_CMD_OK with *out and *auth
 * filled, or a negative enum msg_cmd_parse value saying how much of *out
 * is usable for the reply.
 */
int msg_parse_cmd(const char *payload, size_t len, struct core_cmd *out, struct msg_cmd_auth *auth, char *err,
                  size_t errlen);

/*
 * Whether a command issued at ts_wall_ms may still run at now_wall_ms: a
 * command queued by the broker while vigild was offline must not arm or
 * disarm anything long after the operator gave up on it. Returns 0 if it
 * has no ts or is at most max_age_s old (and at most max_age_s in the
 * future: a console clock ahead of the site's); else -1 with the reason in
 * err ("command expired: issued at ..., older than 120 s").
 */
int msg_cmd_fresh(int64_t ts_wall_ms, int64_t now_wall_ms, int max_age_s, char *err, size_t errlen);

/*
 * The cmd/result reply to a command msg_parse_cmd() rejected with rc:
 * {"id","op","ok":false,"error"} where id is null if it was unreadable and
 * op is null unless rc is MSG_CMD_BAD_ARGS.
 */
int msg_cmd_rejected(const struct core_cmd *cmd, int rc, const char *error, char *buf, size_t cap);

/*
 * Parses a receipt from <prefix>/<site>/receipt: {"seq":N} or {"seqs":[N,...]}, optionally with
 * "station":"name" and "epoch":"<16 hex digits>" (the epoch of the events). Seqs are integers
 * >= 1. Writes up to cap seqs into out, the epoch into *epoch (0 if the receipt names none),
 * and returns how many seqs; -1 with a reason in err for anything else (not JSON, unknown
 * keys, both or neither of seq/seqs, more than cap seqs, an epoch that is not 16 hex digits,
 * over MSG_RECEIPT_MAX_BYTES, nested deeper than MSG_JSON_DEPTH, invalid UTF-8 or a NUL byte).
 */
int msg_parse_receipt(const void *payload, size_t len, uint64_t *out, size_t cap, uint64_t *epoch, char *err,
                      size_t errlen);

#endif
