/*
 * message.c - the MQTT JSON payloads and command parser (see message.h and
 * docs/mqtt.md).
 *
 * Payloads are jansson objects whose keys are inserted in contract order
 * and dumped with JSON_PRESERVE_ORDER | JSON_COMPACT, so identical inputs
 * give identical bytes. Numbers are printed with 15 significant digits:
 * more than any sensor resolves, and few enough that 23.1 prints as 23.1
 * instead of 23.100000000000001. Values are always JSON reals ("1.0" for a
 * digital input) so a consumer never sees the type of "value" change.
 *
 * Nothing here reads a clock or does I/O; jansson allocates while a payload
 * is built and frees before returning.
 */
#include "lineage.h"
#include "message.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
#define TEXT_MAX 512             /* longest guard sentence: two names, phrases, operator */
#define SHELVE_MAX_S 86400.0
#define TS_MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define TS_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

/* What a guard reads for each alarm type, indexed by enum core_alarm_type. */
static const char *const type_phrase[CORE_T__COUNT] = {
    [CORE_T_INTRUSION] = "intrusion",
    [CORE_T_PERIMETER] = "perimeter alarm",
    [CORE_T_VERIFIED_INTRUSION] = "verified intrusion",
    [CORE_T_DOOR_HELD] = "door held open",
    [CORE_T_TAMPER] = "tamper",
    [CORE_T_FAULT] = "equipment fault",
    [CORE_T_CCTV] = "CCTV trigger",
    [CORE_T_TEMPERATURE_HIGH] = "temperature high",
    [CORE_T_TEMPERATURE_LOW] = "temperature low",
    [CORE_T_HUMIDITY_HIGH] = "humidity high",
    [CORE_T_HUMIDITY_LOW] = "humidity low",
    [CORE_T_DIGITAL] = "input active",
    [CORE_T_ANALOG_HIGH] = "value high",
    [CORE_T_ANALOG_LOW] = "value low",
    [CORE_T_SENSOR_FAULT] = "sensor fault",
    [CORE_T_COMM_LOSS] = "communication lost",
    [CORE_T_CHATTERING] = "chattering",
    [CORE_T_SPOOL_FULL] = "spool full",
    [CORE_T_PATH_FAULT] = "alarm path fault",
    [CORE_T_STORAGE_LOW] = "storage low",
    [CORE_T_COMMAND_REFUSED] = "command refused",
    [CORE_T_GATEWAY_RESTARTED] = "gateway restarted",
    [CORE_T_CONFIG_REJECTED] = "configuration rejected",
    [CORE_T_SELF_TEST] = "self test",
    [CORE_T_ZONE_ARMED] = "zone armed",
    [CORE_T_ZONE_DISARMED] = "zone disarmed",
    [CORE_T_WIRE_CUT] = "loop wire cut",
    [CORE_T_WIRE_SHORT] = "loop wire shorted",
    [CORE_T_ALARM_FLOOD] = "alarm flood",
    [CORE_T_DOOR_OPENED] = "opened",
    [CORE_T_DOOR_CLOSED] = "closed",
    [CORE_T_JOURNAL_FAULT] = "journal fault",
    [CORE_T_STATE_LOST] = "earlier state not found",
    [CORE_T_JOURNAL_DAMAGED] = "journal damaged",
};

/* The state in words, indexed by enum core_alarm_state; one-shot events have none. */
static const char *const state_phrase[] = {
    [CORE_S_NORMAL] = "back to normal",
    [CORE_S_ACTIVE_UNACKED] = "active, unacknowledged",
    [CORE_S_ACTIVE_ACKED] = "active, acknowledged",
    [CORE_S_RTN_UNACKED] = "cleared, unacknowledged",
    [CORE_S_SHELVED] = "shelved",
    [CORE_S_SUPPRESSED] = "suppressed",
    [CORE_S_EVENT] = NULL,
    [CORE_S_OUT_OF_SERVICE] = "out of service",
};

/* What a command did, as the guard reads it after "... by <operator>". */
static const char *const op_phrase[] = {
    [CORE_CMD_ACK] = "acknowledged",
    [CORE_CMD_SHELVE] = "shelved",
    [CORE_CMD_UNSHELVE] = "unshelved",
    [CORE_CMD_ARM] = "zone armed with the point open",
    [CORE_CMD_DISARM] = "zone disarmed",
    [CORE_CMD_OUT_OF_SERVICE] = "taken out of service",
    [CORE_CMD_IN_SERVICE] = "put back in service",
    [CORE_CMD_WALKTEST_START] = "walk test started",
    [CORE_CMD_WALKTEST_STOP] = "walk test stopped",
};

/* An object under construction; any failed insertion (out of memory) fails the whole payload. */
struct obj {
    json_t *o;
    bool failed;
};

/* Adds key=v, taking ownership of v; a NULL v marks the object failed. */
static void put(struct obj *b, const char *key, json_t *v)
{
    if (!v || json_object_set_new(b->o, key, v) < 0)
        b->failed = true;
}

/* Dumps and frees the object. Returns the length written, or -1. */
static int finish(struct obj *b, char *buf, size_t cap)
{
    size_t n = 0;

    if (b->o && !b->failed)
        n = json_dumpb(b->o, buf, cap, DUMP_FLAGS);
    json_decref(b->o);
    if (n == 0 || n >= cap)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

/*
 * A JSON string for text that should be UTF-8 but might not be (a name cut
 * in the middle of a character): jansson refuses invalid UTF-8, so such a
 * string is sent with its non-ASCII bytes replaced by '?' rather than
 * losing the event that carries it.
 */
static json_t *jstr(const char *s)
{
    json_t *v = json_string(s);
    char copy[TEXT_MAX];

    if (v)
        return v;
    snprintf(copy, sizeof(copy), "%s", s);
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    return json_string(copy);
}

/* An id, or null when there is none. */
static json_t *ref(const char *id)
{
    return id && id[0] ? jstr(id) : json_null();
}

static json_t *jts(int64_t wall_ms)
{
    char ts[MSG_TS_LEN + 1];

    msg_ts(wall_ms, ts);
    return json_string(ts);
}

void msg_ts(int64_t wall_ms, char ts[MSG_TS_LEN + 1])
{
    int64_t ms = wall_ms < TS_MIN_MS ? TS_MIN_MS : wall_ms > TS_MAX_MS ? TS_MAX_MS : wall_ms;
    int64_t secs = ms / 1000, frac = ms % 1000;
    time_t t;
    struct tm tm;

    /* C division truncates toward zero; a time before 1970 needs the floor. */
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    t = (time_t)secs;
    gmtime_r(&t, &tm);
    /* The modulos only bound each field's width for the compiler; gmtime_r keeps them in range. */
    snprintf(ts, MSG_TS_LEN + 1, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
             (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u, (unsigned)frac % 1000u);
}

int msg_topic(char *buf, size_t cap, const char *prefix, const char *site, const char *suffix)
{
    int n = snprintf(buf, cap, "%s/%s/%s", prefix, site, suffix);

    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static const struct cfg_zone *site_zone(const struct cfg_site *s, int i)
{
    return i >= 0 && i < s->n_zones ? &s->zones[i] : NULL;
}

static const struct cfg_point *site_point(const struct cfg_site *s, int i)
{
    return i >= 0 && i < s->n_points ? &s->points[i] : NULL;
}

static const struct cfg_device *site_device(const struct cfg_site *s, int i)
{
    return i >= 0 && i < s->n_devices ? &s->devices[i] : NULL;
}

/* A thing's human name, or its id when the config gave it none. */
static const char *label(const char *name, const char *id)
{
    return name[0] ? name : id;
}

/* The unit shown after a value in the guard's text; NULL: the value is not shown. */
static const char *value_unit(enum core_alarm_type t)
{
    switch (t) {
    case CORE_T_TEMPERATURE_HIGH:
    case CORE_T_TEMPERATURE_LOW: return " °C";
    case CORE_T_HUMIDITY_HIGH:
    case CORE_T_HUMIDITY_LOW: return " %RH";
    case CORE_T_ANALOG_HIGH:
    case CORE_T_ANALOG_LOW: return "";
    default: return NULL;
    }
}

/* Appends formatted text to the NUL-terminated buf; TEXT_MAX leaves room for the longest sentence. */
static void append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

/* The limit a threshold alarm's value is measured against, or NaN. */
static double type_limit(const struct cfg_point *p, enum core_alarm_type t)
{
    if (!p || !p->analog)
        return NAN;
    if (t == CORE_T_TEMPERATURE_HIGH || t == CORE_T_HUMIDITY_HIGH || t == CORE_T_ANALOG_HIGH)
        return p->analog->high;
    return p->analog->low;
}

/* Why a point's value is not shown as current; NULL when it is good. */
static const char *quality_reason(enum core_quality q)
{
    switch (q) {
    case CORE_Q_UNKNOWN: return "unknown: communication lost";
    case CORE_Q_STALE: return "unknown: not read since communication returned";
    case CORE_Q_BAD: return "rejected: sensor fault";
    default: return NULL;
    }
}

/*
 * The value part of a point alarm's sentence: " at 36.2 °C, limit 35 °C"
 * for a threshold alarm with a good value, " (value unknown: communication
 * lost)" when the value is not current, " (reading -3276.8)" for a sensor
 * fault. A stale value is never written as if it were current.
 */
static void value_text(const struct cfg_point *p, const struct core_event *ev, char *text, size_t cap)
{
    const char *unit = value_unit(ev->type), *why = quality_reason(ev->quality);
    double limit = type_limit(p, ev->type);

    if (ev->type == CORE_T_SENSOR_FAULT && ev->quality == CORE_Q_BAD)
        append(text, cap, isfinite(ev->value) ? " (reading %.15g)" : " (no reading)", ev->value);
    else if (p && why)
        append(text, cap, " (%s %s)", unit ? "value" : "input", why);
    else if (unit && isfinite(ev->value))
        append(text, cap, isnan(limit) ? " at %.15g%s" : " at %.15g%s, limit %.15g%s", ev->value, unit, limit, unit);
}

/*
 * The state part, in parentheses: what the alarm is now and, when a person
 * caused it, what they did: "(active, acknowledged by jsmith)",
 * "(acknowledged by guard-ana, back to normal)", "(active, unacknowledged;
 * zone armed with the point open by o1)". A restored link says so instead
 * of "communication lost (normal)".
 */
static void state_text(const struct core_event *ev, char *text, size_t cap)
{
    const char *state = ev->state <= CORE_S_OUT_OF_SERVICE ? state_phrase[ev->state] : NULL;
    const char *who = ev->operator_name, *did = (unsigned)ev->op < CORE_CMD__COUNT ? op_phrase[ev->op] : "";
    bool comm = ev->type == CORE_T_COMM_LOSS;

    if (comm && ev->state == CORE_S_RTN_UNACKED)
        state = "loss unacknowledged";
    if (!state)
        return;
    if (!who[0])
        append(text, cap, comm && ev->state == CORE_S_NORMAL ? "" : " (%s)", state);
    else if (ev->op == CORE_CMD_ACK && ev->state == CORE_S_NORMAL)
        append(text, cap, comm ? " (loss acknowledged by %s)" : " (acknowledged by %s, back to normal)", who);
    else if (ev->state == CORE_S_ACTIVE_ACKED || ev->state == CORE_S_SHELVED || ev->state == CORE_S_OUT_OF_SERVICE)
        append(text, cap, " (%s by %s)", state, who);
    else
        append(text, cap, " (%s; %s by %s)", state, did, who);
}

/*
 * The sentence a guard reads, e.g. "Store 1 door: intrusion (active,
 * unacknowledged) in zone Ammunition store 1". It is about the point, else
 * the device, else the zone, else the site; system events carry the core's
 * own text instead.
 */
void msg_event_text(const struct cfg_site *site, const struct core_alarm_info *info,
                    const struct core_event *ev, char *text, size_t cap)
{
    const struct cfg_point *p = site_point(site, info ? info->point : -1);
    const struct cfg_device *d = site_device(site, info ? info->device : -1);
    const struct cfg_zone *z = site_zone(site, info ? info->zone : -1);
    const char *phrase = ev->type < CORE_T__COUNT ? type_phrase[ev->type] : NULL;
    char ts[MSG_TS_LEN + 1];

    text[0] = '\0';
    if (ev->text[0]) {
        append(text, cap, "%s", ev->text);
        return;
    }
    if (ev->type == CORE_T_COMM_LOSS && (ev->state == CORE_S_NORMAL || ev->state == CORE_S_RTN_UNACKED))
        phrase = "communication restored";
    append(text, cap, "%s: %s",
           p ? label(p->name, p->id) : d ? label(d->name, d->id) : z ? label(z->name, z->id)
                                                                     : label(site->name, site->id),
           phrase ? phrase : core_type_name(ev->type));
    value_text(p, ev, text, cap);
    state_text(ev, text, cap);
    if (ev->state == CORE_S_EVENT && (ev->type == CORE_T_DOOR_OPENED || ev->type == CORE_T_DOOR_CLOSED)) {
        msg_ts(ev->disarmed_wall_ms, ts);
        if (ev->disarmed_by[0])
            append(text, cap, " while disarmed by %s at %s", ev->disarmed_by, ts);
        else
            append(text, cap, " while disarmed (from the configuration)");
    } else if (ev->state == CORE_S_EVENT && ev->operator_name[0]) {
        append(text, cap, " by %s", ev->operator_name);
    }
    if (z && (p || d))
        append(text, cap, " in zone %s", label(z->name, z->id));
    if (ev->test)
        append(text, cap, " (walk test)");
}

/* An epoch as 16 lowercase hex digits (a JSON number would lose bits in JavaScript); null before one is set. */
static json_t *jepoch(uint64_t epoch)
{
    char hex[17];

    if (!epoch)
        return json_null();
    lin_epoch_hex(epoch, hex);
    return json_string(hex);
}

int msg_event(const char *site_id, const struct sink_record *rec, char *buf, size_t cap)
{
    const struct sink_event *ev = &rec->u.event;
    struct obj b = { json_object(), false };

    put(&b, "seq", json_integer((json_int_t)ev->seq));
    put(&b, "epoch", jepoch(ev->epoch));
    put(&b, "ts", jts(rec->wall_ms));
    put(&b, "site", jstr(site_id));
    put(&b, "alarm", ref(ev->alarm));
    put(&b, "type", json_string(core_type_name(ev->type)));
    put(&b, "priority", json_string(cfg_priority_name(ev->priority)));
    put(&b, "state", json_string(core_state_name(ev->state)));
    put(&b, "zone", ref(ev->zone));
    put(&b, "point", ref(ev->point));
    put(&b, "device", ref(ev->device));
    put(&b, "value", isfinite(ev->value) ? json_real(ev->value) : json_null());
    put(&b, "quality", core_quality_name(ev->quality) ? json_string(core_quality_name(ev->quality)) : json_null());
    put(&b, "text", jstr(ev->text));
    if (ev->operator_name[0])
        put(&b, "operator", jstr(ev->operator_name));
    if (ev->test)
        put(&b, "test", json_true());
    return finish(&b, buf, cap);
}

int msg_zone(const struct sink_record *rec, char *buf, size_t cap)
{
    const struct sink_zone *z = &rec->u.zone;
    struct obj b = { json_object(), false };

    put(&b, "zone", ref(z->zone));
    put(&b, "name", jstr(z->name));
    put(&b, "armed", json_boolean(z->armed));
    if (z->always_armed)
        put(&b, "always_armed", json_true());
    put(&b, "ts", jts(rec->wall_ms));
    if (z->operator_name[0])
        put(&b, "operator", jstr(z->operator_name));
    if (z->test) {
        put(&b, "test", json_true());
        put(&b, "test_until", jts(z->test_until_wall_ms));
    }
    return finish(&b, buf, cap);
}

int msg_output(const struct sink_record *rec, char *buf, size_t cap)
{
    const struct sink_output *o = &rec->u.output;
    struct obj b = { json_object(), false };

    put(&b, "device", jstr(o->device));
    put(&b, "output", jstr(o->output));
    put(&b, "on", json_boolean(o->on));
    put(&b, "reason", jstr(o->reason));
    put(&b, "ts", jts(rec->wall_ms));
    return finish(&b, buf, cap);
}

/* {"id","op","ok"} + "error": the one shape of every cmd/result payload. */
static int result_json(const char *id, const char *op, bool ok, const char *error, char *buf, size_t cap)
{
    struct obj b = { json_object(), false };

    put(&b, "id", ref(id));
    put(&b, "op", ref(op));
    put(&b, "ok", json_boolean(ok));
    if (!ok)
        put(&b, "error", jstr(error));
    return finish(&b, buf, cap);
}

int msg_result(const struct sink_result *r, char *buf, size_t cap)
{
    return result_json(r->id, core_op_name(r->op), r->ok, r->error, buf, cap);
}

int msg_cmd_rejected(const struct core_cmd *cmd, int rc, const char *error, char *buf, size_t cap)
{
    return result_json(cmd->id, rc == MSG_CMD_BAD_ARGS ? core_op_name(cmd->op) : NULL, false, error, buf,
                       cap);
}

int msg_status(const struct msg_status *st, char *buf, size_t cap)
{
    struct obj b = { json_object(), false };

    put(&b, "site", jstr(st->site));
    put(&b, "state", jstr(st->state));
    put(&b, "version", jstr(st->version));
    put(&b, "started", jts(st->started_wall_ms));
    put(&b, "ts", jts(st->now_wall_ms));
    put(&b, "heartbeat_s", json_integer(st->heartbeat_s));
    put(&b, "seq", json_integer((json_int_t)st->seq));
    put(&b, "epoch", jepoch(st->epoch));
    return finish(&b, buf, cap);
}

int msg_device(const struct sink_record *rec, char *buf, size_t cap)
{
    const struct sink_device *d = &rec->u.device;
    struct obj b = { json_object(), false };

    put(&b, "device", jstr(d->device));
    put(&b, "name", jstr(d->name));
    put(&b, "up", json_boolean(d->up));
    /* An old round trip on a dead link reads like a live one: none while down. */
    put(&b, "rtt_ms", d->up && d->rtt_ms >= 0 ? json_integer(d->rtt_ms) : json_null());
    put(&b, "polls", json_integer((json_int_t)d->polls));
    put(&b, "failures", json_integer((json_int_t)d->failures));
    put(&b, "ts", jts(rec->wall_ms));
    return finish(&b, buf, cap);
}

/* Writes the reason into err and returns MSG_CMD_BAD. */
static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return MSG_CMD_BAD;
}

/* --- hostile payloads ---------------------------------------------------------- */

/*
 * Length of the UTF-8 sequence starting at p (at most n bytes available),
 * or 0 if it is not a valid one: overlong forms, surrogates and code points
 * past U+10FFFF are refused (RFC 3629), as are NUL bytes, which a C string
 * would silently cut.
 */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0], min, len, cp;

    if (c >= 0x01 && c < 0x80)
        return 1;
    if (c >= 0xc2 && c < 0xe0)
        len = 2, min = 0x80, cp = c & 0x1f;
    else if (c >= 0xe0 && c < 0xf0)
        len = 3, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c < 0xf5)
        len = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (unsigned i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    return cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : len;
}

/*
 * How deep the JSON text nests objects and arrays (brackets inside strings
 * do not count). Stops counting past MSG_JSON_DEPTH: the answer only has to
 * say "too deep".
 */
static int json_depth(const char *p, size_t len)
{
    int depth = 0, max = 0;
    bool in_string = false;

    for (size_t i = 0; i < len && max <= MSG_JSON_DEPTH; i++) {
        if (in_string) {
            if (p[i] == '\\')
                i++;
            else if (p[i] == '"')
                in_string = false;
        } else if (p[i] == '"') {
            in_string = true;
        } else if (p[i] == '{' || p[i] == '[') {
            max = ++depth > max ? depth : max;
        } else if (p[i] == '}' || p[i] == ']') {
            depth--;
        }
    }
    return max;
}

/*
 * Refuses, before the JSON parser sees it, a payload no honest console or
 * station sends: larger than max bytes, with a NUL byte or invalid UTF-8
 * (names and ids end up in logs, journal and payloads), or nested deeper
 * than MSG_JSON_DEPTH. 0, or MSG_CMD_BAD with the reason in err.
 */
static int check_payload(const char *p, size_t len, size_t max, char *err, size_t errlen)
{
    size_t n;

    if (len > max)
        return fail(err, errlen, "payload is %zu bytes; at most %zu accepted", len, max);
    for (size_t i = 0; i < len; i += n)
        if ((n = utf8_len((const unsigned char *)p + i, len - i)) == 0)
            return fail(err, errlen, "payload has %s at byte %zu; expected UTF-8 text without NUL bytes",
                        p[i] ? "invalid UTF-8" : "a NUL byte", i + 1);
    if (json_depth(p, len) > MSG_JSON_DEPTH)
        return fail(err, errlen, "payload nests JSON deeper than %d levels", MSG_JSON_DEPTH);
    return 0;
}

/* Reads the required string key into dst (1 .. cap-1 bytes). */
static int get_string(json_t *root, const char *key, char *dst, size_t cap, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    size_t n;

    if (!v)
        return fail(err, errlen, "missing \"%s\"", key);
    if (!json_is_string(v))
        return fail(err, errlen, "\"%s\" must be a string", key);
    n = json_string_length(v);
    if (n == 0 || n >= cap)
        return fail(err, errlen, "\"%s\" must be 1 to %zu bytes long", key, cap - 1);
    memcpy(dst, json_string_value(v), n + 1);
    return 0;
}

/* Rejects keys that are not part of the command format: a typo must not be silently ignored. */
static int check_keys(json_t *root, char *err, size_t errlen)
{
    static const char *const known[] = { "id", "op", "alarm", "zone", "operator", "duration_s", "force", "ts",
                                         "comment", "sig" };
    const char *key;
    json_t *v;

    json_object_foreach(root, key, v) {
        size_t i = 0;

        while (i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]) != 0)
            i++;
        if (i == sizeof(known) / sizeof(known[0]))
            return fail(err, errlen,
                        "unknown key \"%s\"; expected id, op, alarm, zone, operator, duration_s, force, ts, "
                        "comment or sig",
                        key);
    }
    return 0;
}

static int get_op(json_t *root, enum core_cmd_op *op, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "op");

    if (!v)
        return fail(err, errlen, "missing \"op\"");
    if (!json_is_string(v))
        return fail(err, errlen, "\"op\" must be a string");
    for (int i = CORE_CMD_ACK; i < CORE_CMD__COUNT; i++) {
        if (strcmp(json_string_value(v), core_op_name((enum core_cmd_op)i)) == 0) {
            *op = (enum core_cmd_op)i;
            return 0;
        }
    }
    return fail(err, errlen,
                "unknown op \"%s\"; expected ack, shelve, unshelve, out_of_service, in_service, arm, disarm, "
                "walktest_start or walktest_stop",
                json_string_value(v));
}

/* ack/shelve/unshelve name an alarm, arm/disarm/walktest_* a zone, and never the other. */
static int get_target(json_t *root, struct core_cmd *out, char *err, size_t errlen)
{
    bool zone = core_op_targets_zone(out->op);
    const char *key = zone ? "zone" : "alarm", *other = zone ? "alarm" : "zone";

    if (json_object_get(root, other))
        return fail(err, errlen, "\"%s\" is not allowed with op \"%s\"", other, core_op_name(out->op));
    return get_string(root, key, out->target, zone ? CFG_ID_MAX : CORE_ALARM_ID_MAX, err, errlen);
}

static int get_duration(json_t *root, struct core_cmd *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "duration_s");
    double s;

    if (out->op != CORE_CMD_SHELVE && out->op != CORE_CMD_WALKTEST_START)
        return v ? fail(err, errlen, "\"duration_s\" is only allowed with ops \"shelve\" and \"walktest_start\"") : 0;
    if (!v)
        return fail(err, errlen, "missing \"duration_s\"");
    s = json_is_number(v) ? json_number_value(v) : -1;
    if (!(s > 0 && s <= SHELVE_MAX_S))
        return fail(err, errlen, "\"duration_s\" must be a number of seconds above 0 and at most 86400");
    out->duration_ms = llround(s * 1000.0);
    return 0;
}

static int get_force(json_t *root, struct core_cmd *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "force");

    if (!v)
        return 0;
    if (out->op != CORE_CMD_ARM)
        return fail(err, errlen, "\"force\" is only allowed with op \"arm\"");
    if (!json_is_boolean(v))
        return fail(err, errlen, "\"force\" must be true or false");
    out->force = json_is_true(v);
    return 0;
}

/* Reads n decimal digits at *p into *v and moves *p past them. */
static bool read_digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        *v = *v * 10 + (**p - '0');
    }
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* The offset part of an RFC 3339 time: Z, or +hh:mm / -hh:mm, in ms east of UTC; false if malformed. */
static bool read_offset(const char **p, int64_t *offset_ms)
{
    int sign, hh, mm;

    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *offset_ms = 0;
        return true;
    }
    if (**p != '+' && **p != '-')
        return false;
    sign = *(*p)++ == '-' ? -1 : 1;
    if (!read_digits(p, 2, &hh) || *(*p)++ != ':' || !read_digits(p, 2, &mm) || hh > 23 || mm > 59)
        return false;
    *offset_ms = sign * ((int64_t)hh * 3600 + mm * 60) * 1000;
    return true;
}

/* The optional ".fff..." of an RFC 3339 time as milliseconds; digits beyond them are cut. */
static bool read_fraction(const char **p, int *ms)
{
    int n = 0;

    *ms = 0;
    if (**p != '.')
        return true;
    for ((*p)++; **p >= '0' && **p <= '9'; (*p)++, n++)
        if (n < 3)
            *ms = *ms * 10 + (**p - '0');
    for (int i = n; i < 3; i++)
        *ms *= 10;
    return n > 0;
}

bool msg_parse_ts(const char *s, int64_t *out_ms)
{
    int y, mo, d, h, mi, sec, ms;
    int64_t offset_ms;
    const char *p = s;

    if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
        !read_digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
        return false;
    p++;
    if (!read_digits(&p, 2, &h) || *p++ != ':' || !read_digits(&p, 2, &mi) || *p++ != ':' ||
        !read_digits(&p, 2, &sec) || !read_fraction(&p, &ms) || !read_offset(&p, &offset_ms) || *p != '\0')
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return false;
    if (sec == 60) {
        sec = 59;
        ms = 999;
    }
    *out_ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + sec * 1000 + ms - offset_ms;
    return true;
}

static int get_ts(json_t *root, struct msg_cmd_auth *auth, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "ts");

    auth->ts_wall_ms = MSG_NO_TS;
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= sizeof(auth->ts) ||
        !msg_parse_ts(json_string_value(v), &auth->ts_wall_ms))
        return fail(err, errlen, "\"ts\" must be an RFC 3339 time such as \"2026-11-25T10:00:00Z\"");
    snprintf(auth->ts, sizeof(auth->ts), "%s", json_string_value(v));
    return 0;
}

/* An optional string member into dst, at most cap - 1 bytes. */
static int get_optional_string(json_t *root, const char *key, char *dst, size_t cap, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);

    dst[0] = '\0';
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= cap || strlen(json_string_value(v)) != json_string_length(v))
        return fail(err, errlen, "\"%s\" must be a string of at most %zu bytes", key, cap - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* What a signature covers besides the command (docs/commands.md): the
 * arguments as sent, the comment and the signature itself. */
static int get_auth(json_t *root, struct msg_cmd_auth *auth, char *err, size_t errlen)
{
    json_t *d = json_object_get(root, "duration_s"), *f = json_object_get(root, "force");

    if (json_is_integer(d))
        snprintf(auth->duration_s, sizeof(auth->duration_s), "%lld", (long long)json_integer_value(d));
    else if (json_is_real(d))
        snprintf(auth->duration_s, sizeof(auth->duration_s), "%.15g", json_real_value(d));
    if (json_is_boolean(f))
        snprintf(auth->force, sizeof(auth->force), "%s", json_is_true(f) ? "true" : "false");
    if (get_optional_string(root, "comment", auth->comment, sizeof(auth->comment), err, errlen) < 0 ||
        get_optional_string(root, "sig", auth->sig, sizeof(auth->sig), err, errlen) < 0)
        return -1;
    return get_ts(root, auth, err, errlen);
}

/* Validates a parsed command object in a fixed order so the first problem is the one reported. */
static int check_cmd(json_t *root, struct core_cmd *out, struct msg_cmd_auth *auth, char *err, size_t errlen)
{
    if (get_string(root, "id", out->id, sizeof(out->id), err, errlen) < 0 || get_op(root, &out->op, err, errlen) < 0)
        return MSG_CMD_BAD;
    if (check_keys(root, err, errlen) < 0 ||
        get_string(root, "operator", out->operator_name, sizeof(out->operator_name), err, errlen) < 0 ||
        get_target(root, out, err, errlen) < 0 || get_duration(root, out, err, errlen) < 0 ||
        get_force(root, out, err, errlen) < 0 || get_auth(root, auth, err, errlen) < 0)
        return MSG_CMD_BAD_ARGS;
    return MSG_CMD_OK;
}

int msg_cmd_fresh(int64_t ts_wall_ms, int64_t now_wall_ms, int max_age_s, char *err, size_t errlen)
{
    int64_t max_ms = (int64_t)max_age_s * 1000;
    char ts[MSG_TS_LEN + 1];

    if (ts_wall_ms == MSG_NO_TS)
        return 0;
    msg_ts(ts_wall_ms, ts);
    /* Compared as differences that cannot overflow: both times are within msg_ts's clamp or the parser's years. */
    if (now_wall_ms - ts_wall_ms > max_ms) {
        snprintf(err, errlen, "command expired: issued at %s, older than %d s", ts, max_age_s);
        return -1;
    }
    if (ts_wall_ms - now_wall_ms > max_ms) {
        snprintf(err, errlen, "command issued at %s, more than %d s in the future; check the clocks", ts,
                 max_age_s);
        return -1;
    }
    return 0;
}

int msg_parse_cmd(const char *payload, size_t len, struct core_cmd *out, struct msg_cmd_auth *auth, char *err,
                  size_t errlen)
{
    json_error_t jerr;
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(auth, 0, sizeof(*auth));
    auth->ts_wall_ms = MSG_NO_TS;
    if (check_payload(payload, len, MSG_CMD_MAX_BYTES, err, errlen) < 0)
        return MSG_CMD_BAD;
    root = json_loadb(payload, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(err, errlen, "payload is not JSON: %s at column %d", jerr.text, jerr.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return fail(err, errlen, "payload is not a JSON object");
    }
    rc = check_cmd(root, out, auth, err, errlen);
    json_decref(root);
    return rc;
}

/* --- receipts from the station ---------------------------------------------- */

/* A seq as the station sends it: a JSON integer >= 1. */
static int receipt_seq(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int receipt_seqs(const json_t *arr, uint64_t *out, size_t cap, char *err, size_t errlen)
{
    size_t n = json_array_size(arr);

    if (!json_is_array(arr) || n == 0)
        return fail(err, errlen, "\"seqs\" must be a non-empty array of event seqs");
    if (n > cap)
        return fail(err, errlen, "\"seqs\" has %zu entries; at most %zu per receipt", n, cap);
    for (size_t i = 0; i < n; i++)
        if (receipt_seq(json_array_get(arr, i), &out[i]) < 0)
            return fail(err, errlen, "\"seqs\" entry %zu is not an event seq (an integer >= 1)", i + 1);
    return (int)n;
}

/* Checks the keys of a receipt object; the seqs are read by the caller. */
static int receipt_keys(json_t *root, char *err, size_t errlen)
{
    const char *key;
    json_t *v;

    json_object_foreach(root, key, v) {
        if (strcmp(key, "station") == 0 && !json_is_string(v))
            return fail(err, errlen, "\"station\" must be a string");
        if (strcmp(key, "epoch") == 0 && !lin_epoch_parse(json_string_value(v)))
            return fail(err, errlen, "\"epoch\" must be the events' epoch, 16 hex digits as they carry it");
        if (strcmp(key, "seq") != 0 && strcmp(key, "seqs") != 0 && strcmp(key, "station") != 0 &&
            strcmp(key, "epoch") != 0)
            return fail(err, errlen, "unknown key \"%.40s\"; expected seq or seqs, station and epoch", key);
    }
    if (!json_object_get(root, "seq") == !json_object_get(root, "seqs"))
        return fail(err, errlen, "expected exactly one of \"seq\" and \"seqs\"");
    return 0;
}

int msg_parse_receipt(const void *payload, size_t len, uint64_t *out, size_t cap, uint64_t *epoch, char *err,
                      size_t errlen)
{
    json_error_t jerr;
    json_t *root;
    int rc;

    if (check_payload(payload, len, MSG_RECEIPT_MAX_BYTES, err, errlen) < 0)
        return -1;
    root = json_loadb(payload, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(err, errlen, "payload is not JSON: %s at column %d", jerr.text, jerr.column);
    if (!json_is_object(root))
        rc = fail(err, errlen, "payload is not a JSON object");
    else if ((rc = receipt_keys(root, err, errlen)) == 0 && json_object_get(root, "seq"))
        rc = receipt_seq(json_object_get(root, "seq"), out) == 0 && cap > 0
                 ? 1
                 : fail(err, errlen, "\"seq\" must be an event seq (an integer >= 1)");
    else if (rc == 0)
        rc = receipt_seqs(json_object_get(root, "seqs"), out, cap, err, errlen);
    *epoch = rc > 0 ? lin_epoch_parse(json_string_value(json_object_get(root, "epoch"))) : 0;
    json_decref(root);
    return rc;
}
