/*
 * test_message.c - the MQTT JSON contract, byte for byte.
 *
 * A small site (one door in a zone, a climate sensor outside any zone) is
 * loaded through config.c and turned into a core, so alarm ids and names are
 * the real ones; events are then built by hand and every payload compared
 * with the literal a central station would receive. The command parser is
 * driven by a table of good and bad commands with the exact reply text.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "core.h"
#include "harness.h"
#include "message.h"
#include "record.h"

#define T_WALL_MS 1795600800123LL /* 2026-11-25T10:00:00.123Z */
#define TS_ERROR "\"ts\" must be an RFC 3339 time such as \"2026-11-25T10:00:00Z\""

static const char site_conf[] =
    "site = { id = \"depot-7\"; name = \"Depot 7\"; };\n"
    "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; } ); };\n"
    "buses = ( { id = \"io-lan\"; type = \"tcp\"; host = \"127.0.0.1\"; } );\n"
    "devices = (\n"
    "  { id = \"store1-io\"; name = \"Store 1 I/O module\"; bus = \"io-lan\"; unit = 1; profile = \"din16\"; },\n"
    "  { id = \"store1-th\"; bus = \"io-lan\"; unit = 2; profile = \"th-rs485\"; }\n"
    ");\n"
    "zones = ( { id = \"store1\"; name = \"Ammunition store 1\"; },\n"
    "          { id = \"always\"; name = \"24-hour\"; always_armed = true; } );\n"
    "points = (\n"
    "  { id = \"store1-door\"; name = \"Store 1 door\"; device = \"store1-io\"; input = \"di1\";\n"
    "    kind = \"door\"; zone = \"store1\"; },\n"
    "  { id = \"store1-temp\"; name = \"Store 1 temperature\"; device = \"store1-th\";\n"
    "    input = \"temperature\"; kind = \"temperature\"; high = 30.0; }\n"
    ");\n";

static struct cfg_site *site;
static struct core *core;
static char buf[MSG_MAX];
static struct rec_buf rb;

/* Loads site_conf with the repository's profiles; NULL with the reason printed. */
static struct cfg_site *load_site(void)
{
    char path[] = "/tmp/vigil-test-message-XXXXXX", profiles[1024], err[4096] = "";
    const char *top = getenv("VIGIL_TOP") ? getenv("VIGIL_TOP") : ".";
    struct cfg_site *s;
    int fd = mkstemp(path);

    if (fd < 0 || write(fd, site_conf, sizeof(site_conf) - 1) != (ssize_t)(sizeof(site_conf) - 1)) {
        printf("# cannot write %s\n", path);
        return NULL;
    }
    close(fd);
    snprintf(profiles, sizeof(profiles), "%s/sensors/profiles", top);
    s = cfg_load(path, profiles, err, sizeof(err));
    unlink(path);
    if (!s)
        printf("# config: %s\n", err);
    return s;
}

/* An event of alarm id as the core would emit it; NaN value, no operator and
 * quality good for a point's alarm (none for others) unless set after. */
static struct core_event event(const char *alarm, enum core_alarm_type type, enum cfg_priority prio,
                               enum core_alarm_state state, double value)
{
    struct core_event ev = { .seq = 42, .epoch = 0x5f3a00c0ffee0001ULL, .wall_ms = T_WALL_MS, .type = type,
                             .priority = prio, .state = state, .value = value };

    ev.alarm = core_find_alarm(core, alarm);
    EXPECT(ev.alarm >= 0, "no alarm \"%s\" in the core", alarm);
    if (ev.alarm >= 0 && core_alarm_info(core, ev.alarm)->point >= 0)
        ev.quality = CORE_Q_GOOD;
    return ev;
}

static void expect_event(const struct core_event *ev, const char *want)
{
    int n = rec_event(&rb, site, core, ev);

    EXPECT_INT(n, (long long)strlen(want));
    EXPECT_STR(rb.json, want);
}

static void event_door_intrusion(void)
{
    struct core_event ev = event("store1-door.intrusion", CORE_T_INTRUSION, CFG_PRIO_CRITICAL,
                                 CORE_S_ACTIVE_UNACKED, 1.0);

    expect_event(&ev, "{\"seq\":42,\"epoch\":\"5f3a00c0ffee0001\",\"ts\":\"2026-11-25T10:00:00.123Z\",\"site\":\"depot-7\","
                      "\"alarm\":\"store1-door.intrusion\",\"type\":\"intrusion\",\"priority\":\"critical\","
                      "\"state\":\"active_unacked\",\"zone\":\"store1\",\"point\":\"store1-door\","
                      "\"device\":\"store1-io\",\"value\":1.0,\"quality\":\"good\","
                      "\"text\":\"Store 1 door: intrusion (active, unacknowledged) in zone Ammunition store 1\"}");
}

static void event_operator_only_when_set(void)
{
    struct core_event ev = event("store1-door.intrusion", CORE_T_INTRUSION, CFG_PRIO_CRITICAL,
                                 CORE_S_ACTIVE_ACKED, 0.0);

    snprintf(ev.operator_name, sizeof(ev.operator_name), "jsmith");
    expect_event(&ev, "{\"seq\":42,\"epoch\":\"5f3a00c0ffee0001\",\"ts\":\"2026-11-25T10:00:00.123Z\",\"site\":\"depot-7\","
                      "\"alarm\":\"store1-door.intrusion\",\"type\":\"intrusion\",\"priority\":\"critical\","
                      "\"state\":\"active_acked\",\"zone\":\"store1\",\"point\":\"store1-door\","
                      "\"device\":\"store1-io\",\"value\":0.0,\"quality\":\"good\","
                      "\"text\":\"Store 1 door: intrusion (active, acknowledged by jsmith) in zone Ammunition store 1\","
                      "\"operator\":\"jsmith\"}");
}

/* 231 * 0.1 is 23.100000000000001 in binary; the payload must still say 23.1. */
static void event_analog_value_and_no_zone(void)
{
    struct core_event ev = event("store1-temp.temperature_high", CORE_T_TEMPERATURE_HIGH, CFG_PRIO_HIGH,
                                 CORE_S_RTN_UNACKED, 231 * 0.1);

    expect_event(&ev, "{\"seq\":42,\"epoch\":\"5f3a00c0ffee0001\",\"ts\":\"2026-11-25T10:00:00.123Z\",\"site\":\"depot-7\","
                      "\"alarm\":\"store1-temp.temperature_high\",\"type\":\"temperature_high\","
                      "\"priority\":\"high\",\"state\":\"rtn_unacked\",\"zone\":null,\"point\":\"store1-temp\","
                      "\"device\":\"store1-th\",\"value\":23.1,\"quality\":\"good\","
                      "\"text\":\"Store 1 temperature: temperature high at 23.1 °C, limit 30 °C (cleared, unacknowledged)\"}");
}

static void event_nan_value_is_null(void)
{
    struct core_event ev = event("store1-th.comm_loss", CORE_T_COMM_LOSS, CFG_PRIO_HIGH,
                                 CORE_S_ACTIVE_UNACKED, NAN);

    expect_event(&ev, "{\"seq\":42,\"epoch\":\"5f3a00c0ffee0001\",\"ts\":\"2026-11-25T10:00:00.123Z\",\"site\":\"depot-7\","
                      "\"alarm\":\"store1-th.comm_loss\",\"type\":\"comm_loss\",\"priority\":\"high\","
                      "\"state\":\"active_unacked\",\"zone\":null,\"point\":null,\"device\":\"store1-th\","
                      "\"value\":null,\"quality\":null,\"text\":\"store1-th: communication lost (active, unacknowledged)\"}");
}

static void event_system_text_verbatim(void)
{
    struct core_event ev = event("system.config_rejected", CORE_T_CONFIG_REJECTED, CFG_PRIO_HIGH,
                                 CORE_S_EVENT, NAN);

    snprintf(ev.text, sizeof(ev.text), "site.conf:3: unknown key \"colour\"");
    expect_event(&ev, "{\"seq\":42,\"epoch\":\"5f3a00c0ffee0001\",\"ts\":\"2026-11-25T10:00:00.123Z\",\"site\":\"depot-7\","
                      "\"alarm\":\"system.config_rejected\",\"type\":\"config_rejected\",\"priority\":\"high\","
                      "\"state\":\"event\",\"zone\":null,\"point\":null,\"device\":null,\"value\":null,\"quality\":null,"
                      "\"text\":\"site.conf:3: unknown key \\\"colour\\\"\"}");
}

static void event_zone_disarmed_by_operator(void)
{
    struct core_event ev = event("store1.arming", CORE_T_ZONE_DISARMED, CFG_PRIO_LOW, CORE_S_EVENT, NAN);

    snprintf(ev.operator_name, sizeof(ev.operator_name), "jsmith");
    expect_event(&ev, "{\"seq\":42,\"epoch\":\"5f3a00c0ffee0001\",\"ts\":\"2026-11-25T10:00:00.123Z\",\"site\":\"depot-7\","
                      "\"alarm\":\"store1.arming\",\"type\":\"zone_disarmed\",\"priority\":\"low\","
                      "\"state\":\"event\",\"zone\":\"store1\",\"point\":null,\"device\":null,\"value\":null,\"quality\":null,"
                      "\"text\":\"Ammunition store 1: zone disarmed by jsmith\",\"operator\":\"jsmith\"}");
}

/* A text cut inside a UTF-8 character must not cost the event. */
static void event_invalid_utf8_text_survives(void)
{
    struct core_event ev = event("system.self_test", CORE_T_SELF_TEST, CFG_PRIO_LOW, CORE_S_EVENT, NAN);

    snprintf(ev.text, sizeof(ev.text), "cut \xc3");
    EXPECT(rec_event(&rb, site, core, &ev) > 0, "event with bad UTF-8 was not built");
    EXPECT(strstr(rb.json, "\"text\":\"cut ?\"") != NULL, "got %s", rb.json);
}

static void event_identical_inputs_identical_bytes(void)
{
    struct core_event ev = event("store1-door.intrusion", CORE_T_INTRUSION, CFG_PRIO_CRITICAL,
                                 CORE_S_ACTIVE_UNACKED, 1.0);
    char first[MSG_MAX];
    int n1 = rec_event(&rb, site, core, &ev);
    int n2;

    memcpy(first, rb.json, sizeof(first));
    n2 = rec_event(&rb, site, core, &ev);
    EXPECT(n1 > 0 && n1 == n2 && memcmp(first, rb.json, (size_t)n1) == 0, "two builds differ");
}

static void event_too_small_buffer_fails(void)
{
    struct core_event ev = event("store1-door.intrusion", CORE_T_INTRUSION, CFG_PRIO_CRITICAL,
                                 CORE_S_ACTIVE_UNACKED, 1.0);
    int n = rec_event(&rb, site, core, &ev);

    EXPECT_INT(msg_event(site->id, &rb.rec, buf, (size_t)n), -1);
    EXPECT_INT(msg_event(site->id, &rb.rec, buf, (size_t)n + 1), n);
}

/* The sentence of one event, built through msg_event; "" if it failed. */
static const char *sentence(const struct core_event *ev)
{
    static char text[MSG_MAX];
    json_t *root = rec_event(&rb, site, core, ev) > 0 ? json_loads(rb.json, 0, NULL) : NULL;

    snprintf(text, sizeof(text), "%s", root ? json_string_value(json_object_get(root, "text")) : "");
    json_decref(root);
    return text;
}

struct text_case {
    const char *alarm;
    enum core_alarm_type type;
    enum core_alarm_state state;
    enum core_quality quality;
    double value;
    enum core_cmd_op op;
    const char *oper;
    const char *want;
};

/* What a guard must read, including the sentences that used to mislead:
 * "communication lost (normal)", "intrusion (normal by guard-ana)",
 * "temperature high at 34 °C" with a 35 °C limit, "unacknowledged by o1"
 * after a force-arm, and a stale temperature shown as current. */
static const struct text_case text_cases[] = {
    {"store1-th.comm_loss", CORE_T_COMM_LOSS, CORE_S_NORMAL, CORE_Q_NONE, NAN, CORE_CMD_ACK, "",
     "store1-th: communication restored"},
    {"store1-th.comm_loss", CORE_T_COMM_LOSS, CORE_S_RTN_UNACKED, CORE_Q_NONE, NAN, CORE_CMD_ACK, "",
     "store1-th: communication restored (loss unacknowledged)"},
    {"store1-th.comm_loss", CORE_T_COMM_LOSS, CORE_S_NORMAL, CORE_Q_NONE, NAN, CORE_CMD_ACK, "o1",
     "store1-th: communication restored (loss acknowledged by o1)"},
    {"store1-door.intrusion", CORE_T_INTRUSION, CORE_S_NORMAL, CORE_Q_GOOD, 0, CORE_CMD_ACK, "guard-ana",
     "Store 1 door: intrusion (acknowledged by guard-ana, back to normal) in zone Ammunition store 1"},
    {"store1-door.intrusion", CORE_T_INTRUSION, CORE_S_NORMAL, CORE_Q_GOOD, 0, CORE_CMD_ACK, "",
     "Store 1 door: intrusion (back to normal) in zone Ammunition store 1"},
    {"store1-temp.temperature_high", CORE_T_TEMPERATURE_HIGH, CORE_S_ACTIVE_UNACKED, CORE_Q_GOOD, 30.4, CORE_CMD_ACK,
     "", "Store 1 temperature: temperature high at 30.4 °C, limit 30 °C (active, unacknowledged)"},
    {"store1-temp.temperature_high", CORE_T_TEMPERATURE_HIGH, CORE_S_ACTIVE_ACKED, CORE_Q_UNKNOWN, 38.5, CORE_CMD_ACK,
     "guard1",
     "Store 1 temperature: temperature high (value unknown: communication lost) (active, acknowledged by guard1)"},
    {"store1-temp.temperature_high", CORE_T_TEMPERATURE_HIGH, CORE_S_ACTIVE_ACKED, CORE_Q_STALE, 38.5, CORE_CMD_ACK,
     "", "Store 1 temperature: temperature high (value unknown: not read since communication returned) "
         "(active, acknowledged)"},
    {"store1-temp.temperature_low", CORE_T_TEMPERATURE_LOW, CORE_S_ACTIVE_UNACKED, CORE_Q_GOOD, -4.5, CORE_CMD_ACK, "",
     "Store 1 temperature: temperature low at -4.5 °C, limit -4 °C (active, unacknowledged)"},
    {"store1-temp.sensor_fault", CORE_T_SENSOR_FAULT, CORE_S_ACTIVE_UNACKED, CORE_Q_BAD, -3276.8, CORE_CMD_ACK, "",
     "Store 1 temperature: sensor fault (reading -3276.8) (active, unacknowledged)"},
    {"store1-door.intrusion", CORE_T_INTRUSION, CORE_S_ACTIVE_UNACKED, CORE_Q_GOOD, 1, CORE_CMD_ARM, "o1",
     "Store 1 door: intrusion (active, unacknowledged; zone armed with the point open by o1) in zone Ammunition store 1"},
    {"store1-door.intrusion", CORE_T_INTRUSION, CORE_S_ACTIVE_UNACKED, CORE_Q_UNKNOWN, 1, CORE_CMD_ACK, "",
     "Store 1 door: intrusion (input unknown: communication lost) (active, unacknowledged) in zone Ammunition store 1"},
    {"store1-door.intrusion", CORE_T_INTRUSION, CORE_S_OUT_OF_SERVICE, CORE_Q_GOOD, 0, CORE_CMD_OUT_OF_SERVICE, "tech",
     "Store 1 door: intrusion (out of service by tech) in zone Ammunition store 1"},
    {"store1-door.intrusion", CORE_T_INTRUSION, CORE_S_NORMAL, CORE_Q_GOOD, 0, CORE_CMD_IN_SERVICE, "tech",
     "Store 1 door: intrusion (back to normal; put back in service by tech) in zone Ammunition store 1"},
    {"store1-door.intrusion", CORE_T_WIRE_SHORT, CORE_S_ACTIVE_UNACKED, CORE_Q_GOOD, 100, CORE_CMD_ACK, "",
     "Store 1 door: loop wire shorted (active, unacknowledged) in zone Ammunition store 1"},
    {"store1-door.intrusion", CORE_T_WIRE_CUT, CORE_S_RTN_UNACKED, CORE_Q_GOOD, 2200, CORE_CMD_ACK, "",
     "Store 1 door: loop wire cut (cleared, unacknowledged) in zone Ammunition store 1"},
    {"store1-door.chattering", CORE_T_CHATTERING, CORE_S_ACTIVE_UNACKED, CORE_Q_GOOD, 3, CORE_CMD_ACK, "",
     "Store 1 door: chattering (active, unacknowledged) in zone Ammunition store 1"},
    {"system.alarm_flood", CORE_T_ALARM_FLOOD, CORE_S_ACTIVE_UNACKED, CORE_Q_GOOD, 11, CORE_CMD_ACK, "",
     "Depot 7: alarm flood (active, unacknowledged)"},
};

static void texts_say_what_a_guard_must_know(void)
{
    for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
        const struct text_case *t = &text_cases[i];
        struct core_event ev = event(t->alarm, t->type, CFG_PRIO_HIGH, t->state, t->value);

        ev.quality = t->quality;
        ev.op = t->op;
        snprintf(ev.operator_name, sizeof(ev.operator_name), "%s", t->oper);
        EXPECT_STR(sentence(&ev), t->want);
    }
}

/* "Every opening of a disarmed store is on record: who disarmed it and when." */
static void door_record_names_who_disarmed(void)
{
    struct core_event ev = event("store1-door.access", CORE_T_DOOR_OPENED, CFG_PRIO_LOW, CORE_S_EVENT, 1.0);

    snprintf(ev.disarmed_by, sizeof(ev.disarmed_by), "sgt-kovac");
    ev.disarmed_wall_ms = T_WALL_MS;
    EXPECT_STR(sentence(&ev), "Store 1 door: opened while disarmed by sgt-kovac at 2026-11-25T10:00:00.123Z "
                              "in zone Ammunition store 1");
    ev.type = CORE_T_DOOR_CLOSED;
    ev.disarmed_by[0] = '\0';
    EXPECT_STR(sentence(&ev), "Store 1 door: closed while disarmed (from the configuration) in zone Ammunition store 1");
}

/* Every type in every state, by no one and after every command, with a
 * good and an unknown value: no sentence says "(normal", "lost (back",
 * "unacknowledged by", or shows a value that is not current as current. */
static void every_type_and_state_reads_right(void)
{
    static const char *const bad[] = {"(normal", "lost (back", "unacknowledged by", "(null)"};
    int checked = 0;

    for (int t = 0; t < CORE_T__COUNT; t++)
        for (int st = 0; st <= CORE_S_OUT_OF_SERVICE; st++)
            for (int op = -1; op <= CORE_CMD_IN_SERVICE; op++)
                for (int q = CORE_Q_GOOD; q <= CORE_Q_UNKNOWN; q += CORE_Q_UNKNOWN - CORE_Q_GOOD) {
                    struct core_event ev = event("store1-temp.temperature_high", (enum core_alarm_type)t, CFG_PRIO_HIGH,
                                                 (enum core_alarm_state)st, 38.5);
                    const char *text;
                    ev.quality = (enum core_quality)q;
                    ev.op = op < 0 ? CORE_CMD_ACK : (enum core_cmd_op)op;
                    snprintf(ev.operator_name, sizeof(ev.operator_name), "%s", op < 0 ? "" : "o1");
                    text = sentence(&ev);
                    EXPECT(strncmp(text, "Store 1 temperature: ", 21) == 0, "%d/%d/%d: \"%s\"", t, st, op, text);
                    for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++)
                        EXPECT(!strstr(text, bad[b]), "%d/%d/%d: \"%s\" says \"%s\"", t, st, op, text, bad[b]);
                    EXPECT(q == CORE_Q_GOOD || !strstr(text, "38.5"), "%d/%d/%d: stale value shown: \"%s\"", t, st, op,
                           text);
                    checked++;
                }
    EXPECT(checked > 1000, "%d combinations", checked);
}

/* A normal or suppressed alarm leaves the list of alarms needing attention (its retained
 * topic is cleared); a shelved one stays on it. */
static void alarm_state_clears_when_normal(void)
{
    struct core_event ev = event("store1-door.intrusion", CORE_T_INTRUSION, CFG_PRIO_CRITICAL,
                                 CORE_S_NORMAL, 0.0);

    rec_event(&rb, site, core, &ev);
    EXPECT(!rb.rec.u.event.needs_attention, "a normal alarm needs attention");
    ev.state = CORE_S_SUPPRESSED;
    rec_event(&rb, site, core, &ev);
    EXPECT(!rb.rec.u.event.needs_attention, "a suppressed alarm needs attention");
    ev.state = CORE_S_SHELVED;
    rec_event(&rb, site, core, &ev);
    EXPECT(rb.rec.u.event.needs_attention, "a shelved alarm left the list");
}

static void zone_payloads(void)
{
    struct core_zone_change zc = { .zone = cfg_find_zone(site, "store1"), .armed = false, .wall_ms = T_WALL_MS };

    rec_zone(&rb, site, &zc);
    EXPECT_STR(rb.json, "{\"zone\":\"store1\",\"name\":\"Ammunition store 1\",\"armed\":false,"
                        "\"ts\":\"2026-11-25T10:00:00.123Z\"}");
    zc.armed = true;
    snprintf(zc.operator_name, sizeof(zc.operator_name), "jsmith");
    rec_zone(&rb, site, &zc);
    EXPECT_STR(rb.json, "{\"zone\":\"store1\",\"name\":\"Ammunition store 1\",\"armed\":true,"
                        "\"ts\":\"2026-11-25T10:00:00.123Z\",\"operator\":\"jsmith\"}");
    /* a 24-hour zone says so: a console must not offer to disarm it */
    zc = (struct core_zone_change){ .zone = cfg_find_zone(site, "always"), .armed = true, .wall_ms = T_WALL_MS };
    rec_zone(&rb, site, &zc);
    EXPECT(strstr(rb.json, "\"always_armed\":true") != NULL, "24-hour zone payload: %s", rb.json);
}

static void result_payloads(void)
{
    struct core_result ok = { .id = "c-1", .op = CORE_CMD_ACK, .ok = true };
    struct core_result bad = { .id = "c-2", .op = CORE_CMD_DISARM, .ok = false, .error = "zone \"x\" is not configured" };

    rec_result(&rb, &ok, T_WALL_MS);
    EXPECT_STR(rb.json, "{\"id\":\"c-1\",\"op\":\"ack\",\"ok\":true}");
    rec_result(&rb, &bad, T_WALL_MS);
    EXPECT_STR(rb.json, "{\"id\":\"c-2\",\"op\":\"disarm\",\"ok\":false,\"error\":\"zone \\\"x\\\" is not configured\"}");
}

/* The status tells a station how often to expect it and which event was the last one. */
static void status_payload(void)
{
    struct msg_status st = { .site = "depot-7", .state = "online", .version = "1.2.3",
                             .started_wall_ms = T_WALL_MS, .now_wall_ms = T_WALL_MS + 60000,
                             .heartbeat_s = 20, .seq = 42, .epoch = 0x5f3a00c0ffee0001ULL };
    int n = msg_status(&st, buf, sizeof(buf));

    EXPECT(n > 0, "status not built");
    EXPECT_STR(buf, "{\"site\":\"depot-7\",\"state\":\"online\",\"version\":\"1.2.3\","
                    "\"started\":\"2026-11-25T10:00:00.123Z\",\"ts\":\"2026-11-25T10:01:00.123Z\","
                    "\"heartbeat_s\":20,\"seq\":42,\"epoch\":\"5f3a00c0ffee0001\"}");
}

/* A device's retained comm state: the name falls back to the id, and no round trip while down. */
static void device_payloads(void)
{
    struct poll_device_stats up = { .up = true, .polls = 1200, .failures = 3, .last_rtt_ms = 12,
                                    .last_ok_mono_ms = 5000 };
    struct poll_device_stats down = { .up = false, .polls = 40, .failures = 40, .last_rtt_ms = 9,
                                      .last_ok_mono_ms = 0 };

    rec_device(&rb, site, cfg_find_device(site, "store1-io"), &up, up.up, false, T_WALL_MS);
    EXPECT_STR(rb.json, "{\"device\":\"store1-io\",\"name\":\"Store 1 I/O module\",\"up\":true,\"rtt_ms\":12,"
                    "\"polls\":1200,\"failures\":3,\"ts\":\"2026-11-25T10:00:00.123Z\"}");
    rec_device(&rb, site, cfg_find_device(site, "store1-th"), &down, down.up, false, T_WALL_MS);
    EXPECT_STR(rb.json, "{\"device\":\"store1-th\",\"name\":\"store1-th\",\"up\":false,\"rtt_ms\":null,"
                    "\"polls\":40,\"failures\":40,\"ts\":\"2026-11-25T10:00:00.123Z\"}");
    down.last_ok_mono_ms = 5000;
    rec_device(&rb, site, cfg_find_device(site, "store1-th"), &down, down.up, false, T_WALL_MS);
    EXPECT(strstr(rb.json, "\"rtt_ms\":null") != NULL, "a down device shows an old round trip: %s", rb.json);
}

static void ts_formats(void)
{
    static const struct { int64_t ms; const char *want; } cases[] = {
        { 0, "1970-01-01T00:00:00.000Z" },
        { 1, "1970-01-01T00:00:00.001Z" },
        { -1, "1969-12-31T23:59:59.999Z" },            /* before 1970: floor, not truncate */
        { -86400000LL - 500, "1969-12-30T23:59:59.500Z" },
        { 951782400000LL, "2000-02-29T00:00:00.000Z" },  /* leap year divisible by 400 */
        { 1835481599999LL, "2028-02-29T23:59:59.999Z" },
        { 4107542400000LL, "2100-03-01T00:00:00.000Z" }, /* 2100 is not a leap year */
        { INT64_MIN, "0000-01-01T00:00:00.000Z" },       /* a broken clock still gives a valid ts */
        { INT64_MAX, "9999-12-31T23:59:59.999Z" },
    };
    char ts[MSG_TS_LEN + 1];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msg_ts(cases[i].ms, ts);
        EXPECT_STR(ts, cases[i].want);
    }
}

static void topic_build_and_overflow(void)
{
    char small[16];

    EXPECT_INT(msg_topic(buf, sizeof(buf), "vigil", "depot-7", "alarms/store1-door.intrusion"), 42);
    EXPECT_STR(buf, "vigil/depot-7/alarms/store1-door.intrusion");
    EXPECT_INT(msg_topic(small, sizeof(small), "vigil", "depot-7", "events"), -1);
}

static void parse_good_commands(void)
{
    static const char *const good[] = {
        "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"store1-door.intrusion\",\"operator\":\"jsmith\"}",
        "{\"id\":\"c-2\",\"op\":\"shelve\",\"alarm\":\"store1-temp.temperature_high\",\"operator\":\"jsmith\","
        "\"duration_s\":1.5}",
        "{\"operator\":\"jsmith\",\"zone\":\"store1\",\"op\":\"arm\",\"force\":true,\"id\":\"c-3\"}",
        "{\"id\":\"c-4\",\"op\":\"disarm\",\"zone\":\"store1\",\"operator\":\"jsmith\"}",
        "{\"id\":\"c-5\",\"op\":\"unshelve\",\"alarm\":\"store1-temp.temperature_high\",\"operator\":\"jsmith\"}",
        "{\"id\":\"c-6\",\"op\":\"out_of_service\",\"alarm\":\"store1-door.intrusion\",\"operator\":\"tech\"}",
        "{\"id\":\"c-7\",\"op\":\"in_service\",\"alarm\":\"store1-door.intrusion\",\"operator\":\"tech\"}",
    };
    struct core_cmd cmd[7];
    char err[CORE_ERROR_MAX];
    struct msg_cmd_auth auth;

    for (int i = 0; i < 7; i++) {
        EXPECT(msg_parse_cmd(good[i], strlen(good[i]), &cmd[i], &auth, err, sizeof(err)) == MSG_CMD_OK,
               "%s: %s", good[i], err);
        EXPECT(auth.ts_wall_ms == MSG_NO_TS, "%s: a ts without \"ts\"", good[i]);
    }
    EXPECT(cmd[0].op == CORE_CMD_ACK, "op");
    EXPECT_STR(cmd[0].id, "c-1");
    EXPECT_STR(cmd[0].target, "store1-door.intrusion");
    EXPECT_STR(cmd[0].operator_name, "jsmith");
    EXPECT(cmd[1].op == CORE_CMD_SHELVE, "op");
    EXPECT_INT(cmd[1].duration_ms, 1500);
    EXPECT(cmd[2].op == CORE_CMD_ARM && cmd[2].force, "arm with force");
    EXPECT_STR(cmd[2].target, "store1");
    EXPECT(cmd[3].op == CORE_CMD_DISARM && !cmd[3].force, "disarm");
    EXPECT(cmd[4].op == CORE_CMD_UNSHELVE && cmd[4].duration_ms == 0, "unshelve");
    EXPECT(cmd[5].op == CORE_CMD_OUT_OF_SERVICE && strcmp(cmd[5].target, "store1-door.intrusion") == 0, "out_of_service");
    EXPECT(cmd[6].op == CORE_CMD_IN_SERVICE, "in_service");
}

static void parse_bad_commands(void)
{
    static const struct { const char *payload; int rc; const char *id, *error; } bad[] = {
        { "", MSG_CMD_BAD, "", "payload is not JSON: unexpected token near end of file at column 0" },
        { "ack door", MSG_CMD_BAD, "", "payload is not JSON: invalid token near 'ack' at column 3" },
        { "{\"id\":\"c-1\"} x", MSG_CMD_BAD, "", "payload is not JSON: end of file expected near 'x' at column 14" },
        { "{\"id\":\"a\",\"id\":\"b\"}", MSG_CMD_BAD, "", "payload is not JSON: duplicate object key near '\"id\"' at column 14" },
        { "[\"ack\"]", MSG_CMD_BAD, "", "payload is not a JSON object" },
        { "{\"op\":\"ack\",\"alarm\":\"a.b\",\"operator\":\"o\"}", MSG_CMD_BAD, "", "missing \"id\"" },
        { "{\"id\":7,\"op\":\"ack\"}", MSG_CMD_BAD, "", "\"id\" must be a string" },
        { "{\"id\":\"\",\"op\":\"ack\"}", MSG_CMD_BAD, "", "\"id\" must be 1 to 63 bytes long" },
        { "{\"id\":\"0123456789012345678901234567890123456789012345678901234567890123\"}", MSG_CMD_BAD, "",
          "\"id\" must be 1 to 63 bytes long" },
        { "{\"id\":\"c-1\",\"alarm\":\"a.b\"}", MSG_CMD_BAD, "c-1", "missing \"op\"" },
        { "{\"id\":\"c-1\",\"op\":1}", MSG_CMD_BAD, "c-1", "\"op\" must be a string" },
        { "{\"id\":\"c-1\",\"op\":\"explode\",\"alarm\":\"a.b\",\"operator\":\"o\"}", MSG_CMD_BAD, "c-1",
          "unknown op \"explode\"; expected ack, shelve, unshelve, out_of_service, in_service, arm, disarm, "
          "walktest_start or walktest_stop" },
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"a.b\",\"operator\":\"o\",\"colour\":\"red\"}", MSG_CMD_BAD_ARGS,
          "c-1", "unknown key \"colour\"; expected id, op, alarm, zone, operator, duration_s, force, ts, comment or sig" },
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"a.b\"}", MSG_CMD_BAD_ARGS, "c-1", "missing \"operator\"" },
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"a.b\",\"operator\":true}", MSG_CMD_BAD_ARGS, "c-1",
          "\"operator\" must be a string" },
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"operator\":\"o\"}", MSG_CMD_BAD_ARGS, "c-1", "missing \"alarm\"" },
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"zone\":\"store1\",\"operator\":\"o\"}", MSG_CMD_BAD_ARGS, "c-1",
          "\"zone\" is not allowed with op \"ack\"" },
        { "{\"id\":\"c-1\",\"op\":\"arm\",\"alarm\":\"a.b\",\"zone\":\"store1\",\"operator\":\"o\"}", MSG_CMD_BAD_ARGS,
          "c-1", "\"alarm\" is not allowed with op \"arm\"" },
        { "{\"id\":\"c-1\",\"op\":\"disarm\",\"operator\":\"o\"}", MSG_CMD_BAD_ARGS, "c-1", "missing \"zone\"" },
        { "{\"id\":\"c-1\",\"op\":\"shelve\",\"alarm\":\"a.b\",\"operator\":\"o\"}", MSG_CMD_BAD_ARGS, "c-1",
          "missing \"duration_s\"" },
        { "{\"id\":\"c-1\",\"op\":\"shelve\",\"alarm\":\"a.b\",\"operator\":\"o\",\"duration_s\":0}", MSG_CMD_BAD_ARGS,
          "c-1", "\"duration_s\" must be a number of seconds above 0 and at most 86400" },
        { "{\"id\":\"c-1\",\"op\":\"shelve\",\"alarm\":\"a.b\",\"operator\":\"o\",\"duration_s\":86401}",
          MSG_CMD_BAD_ARGS, "c-1", "\"duration_s\" must be a number of seconds above 0 and at most 86400" },
        { "{\"id\":\"c-1\",\"op\":\"shelve\",\"alarm\":\"a.b\",\"operator\":\"o\",\"duration_s\":\"60\"}",
          MSG_CMD_BAD_ARGS, "c-1", "\"duration_s\" must be a number of seconds above 0 and at most 86400" },
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"a.b\",\"operator\":\"o\",\"duration_s\":60}", MSG_CMD_BAD_ARGS,
          "c-1", "\"duration_s\" is only allowed with ops \"shelve\" and \"walktest_start\"" },
        { "{\"id\":\"c-1\",\"op\":\"disarm\",\"zone\":\"store1\",\"operator\":\"o\",\"force\":true}", MSG_CMD_BAD_ARGS,
          "c-1", "\"force\" is only allowed with op \"arm\"" },
        { "{\"id\":\"c-1\",\"op\":\"arm\",\"zone\":\"store1\",\"operator\":\"o\",\"force\":\"yes\"}", MSG_CMD_BAD_ARGS,
          "c-1", "\"force\" must be true or false" },
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"a.b\",\"operator\":\"o\",\"ts\":1795600800}", MSG_CMD_BAD_ARGS,
          "c-1", TS_ERROR },
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"a.b\",\"operator\":\"o\",\"ts\":\"2026-11-25 10:00:00Z\"}",
          MSG_CMD_BAD_ARGS, "c-1", TS_ERROR },
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"a.b\",\"operator\":\"o\",\"ts\":\"2026-11-25T10:00:00\"}",
          MSG_CMD_BAD_ARGS, "c-1", TS_ERROR },
    };
    struct core_cmd cmd;
    char err[CORE_ERROR_MAX];
    struct msg_cmd_auth auth;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc;

        err[0] = '\0';
        rc = msg_parse_cmd(bad[i].payload, strlen(bad[i].payload), &cmd, &auth, err, sizeof(err));
        EXPECT(rc == bad[i].rc, "%s: rc %d, want %d", bad[i].payload, rc, bad[i].rc);
        EXPECT_STR(cmd.id, bad[i].id);
        EXPECT_STR(err, bad[i].error);
    }
}

/* The reply to a rejected command carries the id and op when they could be read. */
static void rejection_payloads(void)
{
    struct core_cmd cmd = { .id = "c-9", .op = CORE_CMD_ACK };
    struct core_cmd none = { .id = "" };

    msg_cmd_rejected(&cmd, MSG_CMD_BAD_ARGS, "missing \"operator\"", buf, sizeof(buf));
    EXPECT_STR(buf, "{\"id\":\"c-9\",\"op\":\"ack\",\"ok\":false,\"error\":\"missing \\\"operator\\\"\"}");
    msg_cmd_rejected(&cmd, MSG_CMD_BAD, "unknown op \"x\"", buf, sizeof(buf));
    EXPECT_STR(buf, "{\"id\":\"c-9\",\"op\":null,\"ok\":false,\"error\":\"unknown op \\\"x\\\"\"}");
    msg_cmd_rejected(&none, MSG_CMD_BAD, "payload is not a JSON object", buf, sizeof(buf));
    EXPECT_STR(buf, "{\"id\":null,\"op\":null,\"ok\":false,\"error\":\"payload is not a JSON object\"}");
}

/* "ts" in the forms a console sends, and the ones that are not RFC 3339 times. */
static void parse_command_ts(void)
{
    static const struct { const char *ts; int64_t want_ms; } cases[] = {
        { "2026-11-25T10:00:00Z", T_WALL_MS - 123 },
        { "2026-11-25T10:00:00.123Z", T_WALL_MS },
        { "2026-11-25t10:00:00.1234567z", T_WALL_MS },           /* beyond ms: cut */
        { "2026-11-25T11:00:00.123+01:00", T_WALL_MS },
        { "2026-11-25T04:30:00.123-05:30", T_WALL_MS },
        { "2028-02-29T00:00:00Z", 1835395200000LL },             /* a leap day */
        { "2016-12-31T23:59:60Z", 1483228799999LL },             /* a leap second: its minute's end */
        { "1970-01-01T00:00:00Z", 0 },
        { "2026-02-29T00:00:00Z", INT64_MAX },                   /* no leap day in 2026 */
        { "2026-13-01T00:00:00Z", INT64_MAX },
        { "2026-11-25T24:00:00Z", INT64_MAX },
        { "2026-11-25T10:00:00.Z", INT64_MAX },
        { "2026-11-25T10:00:00+0100", INT64_MAX },
        { "2026-11-25T10:00:00Z ", INT64_MAX },
        { "26-11-25T10:00:00Z", INT64_MAX },
    };
    char payload[256], err[CORE_ERROR_MAX];
    struct core_cmd cmd;
    struct msg_cmd_auth auth;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = snprintf(payload, sizeof(payload),
                         "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"a.b\",\"operator\":\"o\",\"ts\":\"%s\"}",
                         cases[i].ts);
        int rc = msg_parse_cmd(payload, (size_t)n, &cmd, &auth, err, sizeof(err));

        if (cases[i].want_ms == INT64_MAX) {
            EXPECT(rc == MSG_CMD_BAD_ARGS, "%s accepted", cases[i].ts);
            continue;
        }
        EXPECT(rc == MSG_CMD_OK, "%s: %s", cases[i].ts, err);
        EXPECT(auth.ts_wall_ms == cases[i].want_ms, "%s: %lld, want %lld", cases[i].ts, (long long)auth.ts_wall_ms,
               (long long)cases[i].want_ms);
    }
}

/* A command the broker kept while vigild was away is refused once older than the limit, or from the future. */
static void command_freshness(void)
{
    char err[CORE_ERROR_MAX] = "";

    EXPECT_INT(msg_cmd_fresh(MSG_NO_TS, T_WALL_MS, 120, err, sizeof(err)), 0);
    EXPECT_INT(msg_cmd_fresh(T_WALL_MS - 120000, T_WALL_MS, 120, err, sizeof(err)), 0);
    EXPECT_INT(msg_cmd_fresh(T_WALL_MS + 120000, T_WALL_MS, 120, err, sizeof(err)), 0);
    EXPECT_INT(msg_cmd_fresh(T_WALL_MS - 120001, T_WALL_MS, 120, err, sizeof(err)), -1);
    EXPECT_STR(err, "command expired: issued at 2026-11-25T09:58:00.122Z, older than 120 s");
    EXPECT_INT(msg_cmd_fresh(T_WALL_MS + 3600000, T_WALL_MS, 120, err, sizeof(err)), -1);
    EXPECT_STR(err, "command issued at 2026-11-25T11:00:00.123Z, more than 120 s in the future; check the clocks");
}

/* Fills buf (cap > 64) with a command of exactly len bytes: a valid ack padded inside its "alarm". */
static size_t padded_command(char *pbuf, size_t len)
{
    int head = snprintf(pbuf, len, "{\"id\":\"c-1\",\"op\":\"ack\",\"operator\":\"o\",\"alarm\":\"");

    memset(pbuf + head, 'a', len - (size_t)head - 2);
    memcpy(pbuf + len - 2, "\"}", 2);
    return len;
}

/*
 * What no honest console sends is refused before it is parsed, with a reason
 * the cmd/result reply carries: more than 4 KiB, JSON nested deeper than a
 * flat command needs, invalid UTF-8, a NUL byte. Ids are never read from it.
 */
static void hostile_commands_refused(void)
{
    static const struct { const char *payload; size_t len; const char *error; } cases[] = {
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":[[[[[\"a\"]]]]],\"operator\":\"o\"}", 0,
          "payload nests JSON deeper than 4 levels" },
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"a\xff.b\",\"operator\":\"o\"}", 0,
          "payload has invalid UTF-8 at byte 34; expected UTF-8 text without NUL bytes" },
        { "{\"id\":\"c-\xc0\xaf\",\"op\":\"ack\",\"alarm\":\"a.b\",\"operator\":\"o\"}", 0, /* overlong "/" */
          "payload has invalid UTF-8 at byte 10; expected UTF-8 text without NUL bytes" },
        { "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"a\0.b\",\"operator\":\"o\"}", 53,
          "payload has a NUL byte at byte 34; expected UTF-8 text without NUL bytes" },
    };
    static const char utf8_names[] = /* welcome: "c-é" by "€" */
        "{\"id\":\"c-\xc3\xa9\",\"op\":\"ack\",\"alarm\":\"a.b\",\"operator\":\"\xe2\x82\xac\"}";
    static char big[MSG_CMD_MAX_BYTES + 2];
    struct core_cmd cmd;
    char err[CORE_ERROR_MAX];
    struct msg_cmd_auth auth;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].payload);

        EXPECT_INT(msg_parse_cmd(cases[i].payload, len, &cmd, &auth, err, sizeof(err)), MSG_CMD_BAD);
        EXPECT_STR(err, cases[i].error);
        EXPECT_STR(cmd.id, "");
    }
    EXPECT_INT(msg_parse_cmd(big, padded_command(big, MSG_CMD_MAX_BYTES), &cmd, &auth, err, sizeof(err)),
               MSG_CMD_BAD_ARGS); /* 4 KiB passes the bound; the alarm id is then too long */
    EXPECT_INT(msg_parse_cmd(big, padded_command(big, MSG_CMD_MAX_BYTES + 1), &cmd, &auth, err, sizeof(err)),
               MSG_CMD_BAD);
    EXPECT_STR(err, "payload is 4097 bytes; at most 4096 accepted");
    msg_cmd_rejected(&cmd, MSG_CMD_BAD, err, buf, sizeof(buf));
    EXPECT_STR(buf, "{\"id\":null,\"op\":null,\"ok\":false,\"error\":\"payload is 4097 bytes; at most 4096 accepted\"}");
    EXPECT_INT(msg_parse_cmd(utf8_names, strlen(utf8_names), &cmd, &auth, err, sizeof(err)), MSG_CMD_OK);
}

/* Receipts: the same refusals before parsing, at 16 KiB. */
static void hostile_receipts_refused(void)
{
    static char big[MSG_RECEIPT_MAX_BYTES + 1];
    uint64_t seqs[MSG_RECEIPT_SEQS], epoch;
    char err[160];
    int n = snprintf(big, sizeof(big), "{\"seq\":1,\"station\":\"");

    memset(big + n, 's', sizeof(big) - (size_t)n - 2);
    memcpy(big + sizeof(big) - 2, "\"}", 2);
    EXPECT_INT(msg_parse_receipt(big, sizeof(big), seqs, MSG_RECEIPT_SEQS, &epoch, err, sizeof(err)), -1);
    EXPECT_STR(err, "payload is 16385 bytes; at most 16384 accepted");
    EXPECT_INT(msg_parse_receipt(big + 1, sizeof(big) - 1, seqs, MSG_RECEIPT_SEQS, &epoch, err, sizeof(err)), -1);
    EXPECT(strstr(err, "not JSON") != NULL, "16 KiB passes the bound, then the parser: %s", err);
    EXPECT_INT(msg_parse_receipt("{\"seqs\":[[[[1]]]]}", 18, seqs, MSG_RECEIPT_SEQS, &epoch, err, sizeof(err)), -1);
    EXPECT_STR(err, "payload nests JSON deeper than 4 levels");
    EXPECT_INT(msg_parse_receipt("{\"seq\":1,\"station\":\"\xed\xa0\x80\"}", 25, seqs, MSG_RECEIPT_SEQS, &epoch, err,
                                 sizeof(err)),
               -1); /* a UTF-16 surrogate encoded as UTF-8 */
    EXPECT_STR(err, "payload has invalid UTF-8 at byte 21; expected UTF-8 text without NUL bytes");
    EXPECT_INT(msg_parse_receipt("{\"seq\":7,\"station\":\"[{\\\"}\"}", 27, seqs, MSG_RECEIPT_SEQS, &epoch, err,
                                 sizeof(err)),
               1); /* brackets and escaped quotes inside strings are not nesting */
}

int main(void)
{
    site = load_site();
    core = site ? core_new(site) : NULL;
    if (!core) {
        printf("not ok - setup: no site or core\n");
        return 1;
    }
    RUN(event_door_intrusion);
    RUN(event_operator_only_when_set);
    RUN(event_analog_value_and_no_zone);
    RUN(event_nan_value_is_null);
    RUN(event_system_text_verbatim);
    RUN(event_zone_disarmed_by_operator);
    RUN(event_invalid_utf8_text_survives);
    RUN(event_identical_inputs_identical_bytes);
    RUN(event_too_small_buffer_fails);
    RUN(texts_say_what_a_guard_must_know);
    RUN(door_record_names_who_disarmed);
    RUN(every_type_and_state_reads_right);
    RUN(alarm_state_clears_when_normal);
    RUN(zone_payloads);
    RUN(result_payloads);
    RUN(status_payload);
    RUN(device_payloads);
    RUN(ts_formats);
    RUN(topic_build_and_overflow);
    RUN(parse_good_commands);
    RUN(parse_bad_commands);
    RUN(rejection_payloads);
    RUN(parse_command_ts);
    RUN(command_freshness);
    RUN(hostile_commands_refused);
    RUN(hostile_receipts_refused);
    core_free(core);
    cfg_free(site);
    HARNESS_EXIT();
}
