/*
 * config.c - parse a libconfig site file and its device profiles into the
 * typed site model of config.h, and validate everything before anything
 * starts.
 *
 * The shape follows Redis's config table rather than a strcmp chain: every
 * group of the file (site, mqtt, a broker, rules, a bus, a device, a zone, a
 * point, an eol block, a profile, a profile input) has one table of keys
 * giving name, type, where the value lands in the struct, its range and its
 * default. read_group() walks a libconfig group against such a table: it
 * applies the defaults, reads and range-checks every member, rejects members
 * the table does not name and reports required keys that are missing. What a
 * table cannot say (references between objects, rules that span keys, kind
 * dependent defaults) is checked by the small load_*() function of each
 * section afterwards.
 *
 * Errors never stop the walk: every problem is appended to the caller's
 * buffer as "file:line: context: what is wrong; what is expected", so one run
 * of `vigild --check-config` shows them all. Any error makes cfg_load()
 * return NULL and free everything.
 *
 * libconfig traps handled here (see LIBRARIES.md): it accepts unknown keys
 * silently (hence the tables), its lookup helpers cannot tell "missing" from
 * "wrong type" (hence member walks with explicit type checks), and the 1.5
 * scanner wraps a plain integer literal beyond 32 bits without a word
 * (5000000000 parses as 705032704), which no int64 read can undo. The raw
 * text of every file (and of every file it @includes) therefore goes through
 * cfgfile.c first: it refuses what libconfig must never open (a FIFO would
 * block it, a directory makes its scanner exit the process) and catches the
 * wrapped literals and NUL bytes; libconfig parses only what passed.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cfgfile.h"
#include "mqtt_tls.h"
#include "regfmt.h"

#define FNV64_BASIS 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL
#define DEFAULT_STATE_DIR "/var/lib/vigil"
/* Where `make install` put the profiles; the Makefile passes its PREFIX. */
#ifndef DEFAULT_PROFILE_DIR
#define DEFAULT_PROFILE_DIR "/usr/local/share/vigil/profiles"
#endif
#define ERROR_LINE_MAX 1024
#define CTX_MAX 160
#define INPUTS_SHOWN 6              /* valid input names quoted in an error */
#define COUNT_MAX 2000              /* inputs one profile line may expand to */
#define ZONEINFO_DIR "/usr/share/zoneinfo" /* glibc's tz database, unless TZDIR says otherwise */
#define ALL_DAYS 0x7fu

/* ------------------------------------------------------------------ */
/* Names of the enums, as written in files                             */
/* ------------------------------------------------------------------ */

static const char *const kind_names[] = {
    "door", "fence", "motion", "cctv", "tamper", "fault",
    "temperature", "humidity", "digital", "analog", "eol", NULL,
};
static const char *const priority_names[] = { "critical", "high", "medium", "low", NULL };
static const char *const bus_type_names[] = { "tcp", "rtu", NULL };
static const char *const parity_names[] = { "N", "E", "O", NULL };
static const char *const table_names[] = { "coil", "discrete", "holding", "input", NULL };
static const char *const *const format_names = regfmt_format_names; /* shared with the decoder */
/* In struct tm's tm_wday order: a schedule's day bit n is day_names[n]. */
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };
static const char *const mqtt_mode_names[] = { "both", "failover", NULL };
/* Only TLS 1.2 can be asked for: see mqtt_tls.h for why 1.3 cannot be enforced from here. */
static const char *const tls_version_names[] = { "tls1.2", NULL };
#define DAYS_HINT "mon, tue, wed, thu, fri, sat, sun"

_Static_assert(sizeof kind_names / sizeof *kind_names == CFG_KIND_EOL + 2, "kind names");
_Static_assert(sizeof priority_names / sizeof *priority_names == CFG_PRIO_LOW + 2, "priority names");
/* Enum fields are written through an int (see store_enum). */
_Static_assert(sizeof(enum cfg_point_kind) == sizeof(int), "enum size");

/* Priority of a point's main alarm when the config does not give one. */
static const enum cfg_priority kind_priority[] = {
    [CFG_KIND_DOOR] = CFG_PRIO_HIGH,        [CFG_KIND_FENCE] = CFG_PRIO_HIGH,
    [CFG_KIND_MOTION] = CFG_PRIO_HIGH,      [CFG_KIND_CCTV] = CFG_PRIO_LOW,
    [CFG_KIND_TAMPER] = CFG_PRIO_HIGH,      [CFG_KIND_FAULT] = CFG_PRIO_MEDIUM,
    [CFG_KIND_TEMPERATURE] = CFG_PRIO_MEDIUM, [CFG_KIND_HUMIDITY] = CFG_PRIO_LOW,
    [CFG_KIND_DIGITAL] = CFG_PRIO_MEDIUM,   [CFG_KIND_ANALOG] = CFG_PRIO_MEDIUM,
    [CFG_KIND_EOL] = CFG_PRIO_HIGH,
};

#define KIND(k) (1u << (k))
#define DIGITAL_KINDS (KIND(CFG_KIND_DOOR) | KIND(CFG_KIND_FENCE) | KIND(CFG_KIND_MOTION) | \
                       KIND(CFG_KIND_CCTV) | KIND(CFG_KIND_TAMPER) | KIND(CFG_KIND_FAULT) | \
                       KIND(CFG_KIND_DIGITAL))
#define THRESHOLD_KINDS (KIND(CFG_KIND_TEMPERATURE) | KIND(CFG_KIND_HUMIDITY) | KIND(CFG_KIND_ANALOG))

/*
 * Ammunition-storage climate limits applied where the config is silent:
 * propellant ages fast above 35 C, condensation starts near freezing, and
 * above 75 %RH corrosion and mould set in. The one-minute on-delay rides out
 * a door opened for a delivery.
 */
static const struct {
    enum cfg_point_kind kind;
    double high, low, deadband;
    int on_delay_ms;
} climate_defaults[] = {
    { CFG_KIND_TEMPERATURE, 35.0, -4.0, 1.0, 60000 },
    { CFG_KIND_HUMIDITY, 75.0, NAN, 2.0, 60000 },
};

/* Keys that only make sense for some kinds of point. */
static const struct {
    const char *key;
    unsigned kinds;
    const char *which;
} kind_keys[] = {
    { "held_open_s", KIND(CFG_KIND_DOOR), "door" },
    { "verify_with", KIND(CFG_KIND_FENCE), "fence" },
    { "verify_window_s", KIND(CFG_KIND_FENCE), "fence" },
    { "eol", KIND(CFG_KIND_EOL), "eol" },
    { "high", THRESHOLD_KINDS, "temperature, humidity and analog" },
    { "low", THRESHOLD_KINDS, "temperature, humidity and analog" },
    { "deadband", THRESHOLD_KINDS, "temperature, humidity and analog" },
    { "report_deadband", THRESHOLD_KINDS, "temperature, humidity and analog" },
    { "valid_min", THRESHOLD_KINDS, "temperature, humidity and analog" },
    { "valid_max", THRESHOLD_KINDS, "temperature, humidity and analog" },
    { "sentinels", THRESHOLD_KINDS, "temperature, humidity and analog" },
    { "entry_route", KIND(CFG_KIND_MOTION) | KIND(CFG_KIND_EOL), "motion and eol" },
    { "invert", DIGITAL_KINDS, "door, fence, motion, cctv, tamper, fault and digital" },
    { "debounce_ms", DIGITAL_KINDS, "door, fence, motion, cctv, tamper, fault and digital" },
};

/* Keys that only make sense on one type of bus; `required` ones must be there. */
static const struct {
    const char *key;
    enum cfg_bus_type type;
    bool required;
} bus_type_keys[] = {
    { "host", CFG_BUS_TCP, true },      { "port", CFG_BUS_TCP, false },
    { "device", CFG_BUS_RTU, true },    { "baud", CFG_BUS_RTU, false },
    { "parity", CFG_BUS_RTU, false },   { "data_bits", CFG_BUS_RTU, false },
    { "stop_bits", CFG_BUS_RTU, false },
};

static const int standard_bauds[] = { 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200 };
#define BAUD_HINT "one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200"

static const char *const uri_schemes[] = { "tcp://", "ssl://", "mqtt://", "mqtts://", "ws://", "wss://" };

/* ------------------------------------------------------------------ */
/* Key tables                                                          */
/* ------------------------------------------------------------------ */

enum key_type {
    K_ID,    /* id string: 1..47 of [A-Za-z0-9_-], stored in char[size] */
    K_STR,   /* text without control characters, stored in char[size] */
    K_INT,   /* integer, stored in int */
    K_SEC,   /* seconds (integer or float), stored in int milliseconds */
    K_DBL,   /* number, stored in double */
    K_BOOL,  /* stored in bool */
    K_ENUM,  /* one of names[]: index stored in an int, or its first char if size is 1 */
    K_RANGE, /* [lo, hi]: stored in two consecutive doubles */
    K_REF,   /* id of another object: type-checked here, resolved by the section */
    K_NEST,  /* group, list or array of type ctype, read by the section */
};

#define KEY_REQUIRED 1u
#define KEY_SECRET 2u   /* never shown in a message; its file must be private */
/* K_ID, K_STR: stored as a const char * (size is then the longest text + 1),
 * pointing into libconfig's tree until own_strings() copies it to site->strings */
#define KEY_POINTER 4u

/* One key of a group. Ranges (min..max, in the key's own unit) apply when
 * min < max. Numeric defaults are applied unconditionally, so an omitted
 * dflt means 0. */
struct key {
    const char *name;
    enum key_type type;
    unsigned flags;
    size_t off, size;
    double min, max;
    double dflt;              /* K_INT, K_SEC (seconds), K_DBL, K_BOOL, K_ENUM (index) */
    const char *sdflt;        /* K_ID, K_STR */
    const char *const *names; /* K_ENUM */
    int ctype;                /* K_NEST */
    const char *hint;         /* replaces the generated "expected ..." text */
};

struct section {
    const struct key *keys;
    size_t n;
};

#define AT(T, f) .off = offsetof(T, f), .size = sizeof(((T *)0)->f)
/* A KEY_POINTER text of at most cap - 1 characters. */
#define AT_TEXT(T, f, cap) .off = offsetof(T, f), .size = (cap)
#define SECTION(k) { k, sizeof(k) / sizeof(k[0]) }
#define SECS_DAY 86400

static const struct key top_keys[] = {
    { "site", K_NEST, KEY_REQUIRED, .ctype = CONFIG_TYPE_GROUP },
    { "mqtt", K_NEST, KEY_REQUIRED, .ctype = CONFIG_TYPE_GROUP },
    { "rules", K_NEST, 0, .ctype = CONFIG_TYPE_GROUP },
    { "buses", K_NEST, 0, .ctype = CONFIG_TYPE_LIST },
    { "devices", K_NEST, 0, .ctype = CONFIG_TYPE_LIST },
    { "zones", K_NEST, 0, .ctype = CONFIG_TYPE_LIST },
    { "points", K_NEST, 0, .ctype = CONFIG_TYPE_LIST },
    { "receipts", K_NEST, 0, .ctype = CONFIG_TYPE_GROUP },
    { "influx", K_NEST, 0, .ctype = CONFIG_TYPE_GROUP },
    { "operators", K_NEST, 0, .ctype = CONFIG_TYPE_LIST },
};

/* Index = enum cfg_role; "none" is refused in a config (load_operator). */
static const char *const role_names[] = { "none", "guard", "officer", "engineer", "auditor", NULL };

static const struct key operator_keys[] = {
    { "name", K_ID, KEY_REQUIRED, AT(struct cfg_operator, name) },
    { "role", K_ENUM, KEY_REQUIRED, AT(struct cfg_operator, role), .names = role_names,
      .hint = "guard, officer, engineer or auditor" },
    { "key", K_STR, KEY_REQUIRED, AT(struct cfg_operator, key_b64),
      .hint = "the operator's Ed25519 public key in base64, as `vigilctl key new` prints it" },
};

static const struct key site_keys[] = {
    { "id", K_ID, KEY_REQUIRED, AT(struct cfg_site, id) },
    { "name", K_STR, 0, AT(struct cfg_site, name) },
    { "timezone", K_STR, 0, AT(struct cfg_site, timezone), .sdflt = "UTC" },
    { "state_dir", K_STR, 0, AT(struct cfg_site, state_dir), .sdflt = DEFAULT_STATE_DIR },
    { "profile_dir", K_STR, 0, AT(struct cfg_site, profile_dir) },
    { "signing_key", K_STR, 0, AT(struct cfg_site, signing_key),
      .hint = "the path of the gateway's key file (vigilctl key new), readable by vigild only" },
    { "points_socket", K_STR, 0, AT(struct cfg_site, points_socket) },
    { "state_max_mb", K_INT, 0, AT(struct cfg_site, state_max_mb), .min = 0, .max = 16 << 20,
      .hint = "0 (no budget) or 16..16777216 MiB" },
    { "journal_retention_days", K_INT, 0, AT(struct cfg_site, journal_retention_days), .min = 30, .max = 3650,
      .dflt = 30 },
};

static const struct key mqtt_keys[] = {
    { "prefix", K_STR, 0, AT(struct cfg_mqtt, prefix), .sdflt = "vigil" },
    { "heartbeat_s", K_INT, 0, AT(struct cfg_mqtt, heartbeat_s), .min = 20, .max = SECS_DAY, .dflt = 60 },
    /* paho needs a 16-bit message id per buffered QoS 1 message; mqtt.c caps a path at 60000. */
    { "max_buffered", K_INT, 0, AT(struct cfg_mqtt, max_buffered), .min = 100, .max = 60000, .dflt = 50000 },
    { "mode", K_ENUM, 0, AT(struct cfg_mqtt, mode), .names = mqtt_mode_names, .dflt = CFG_MQTT_BOTH },
    { "path_fault_s", K_INT, 0, AT(struct cfg_mqtt, path_fault_s), .min = 5, .max = SECS_DAY, .dflt = 60 },
    { "self_test_s", K_INT, 0, AT(struct cfg_mqtt, self_test_s), .min = 0, .max = 30 * SECS_DAY,
      .dflt = SECS_DAY, .hint = "0 (off) or 60..2592000 seconds" },
    { "cmd_max_age_s", K_INT, 0, AT(struct cfg_mqtt, cmd_max_age_s), .min = 10, .max = SECS_DAY, .dflt = 120 },
    { "brokers", K_NEST, KEY_REQUIRED, .ctype = CONFIG_TYPE_LIST },
};

static const struct key broker_keys[] = {
    { "uri", K_STR, KEY_REQUIRED, AT(struct cfg_broker, uri), .hint = "a broker URI like \"tcp://host:1883\"" },
    { "client_id", K_STR, 0, AT(struct cfg_broker, client_id) },
    { "keepalive_s", K_INT, 0, AT(struct cfg_broker, keepalive_s), .min = 2, .max = 3600, .dflt = 10 },
    { "username", K_STR, 0, AT(struct cfg_broker, username) },
    { "password", K_STR, KEY_SECRET, AT(struct cfg_broker, password) },
    { "password_file", K_STR, 0, AT(struct cfg_broker, password_file) },
    /* TLS: load_broker_tls() checks what a table cannot (which keys a URI needs, the files) */
    { "ca_file", K_STR, 0, AT(struct cfg_broker, ca_file) },
    { "ca_dir", K_STR, 0, AT(struct cfg_broker, ca_dir) },
    { "cert_file", K_STR, 0, AT(struct cfg_broker, cert_file) },
    { "key_file", K_STR, 0, AT(struct cfg_broker, key_file) },
    { "tls_version", K_ENUM, 0, AT(struct cfg_broker, tls_version), .names = tls_version_names },
    { "verify_hostname", K_BOOL, 0, AT(struct cfg_broker, verify_hostname), .dflt = 1 },
};

static const struct key rules_keys[] = {
    { "chatter_count", K_INT, 0, AT(struct cfg_rules, chatter_count), .min = 2, .max = 1000, .dflt = 3 },
    { "chatter_window_s", K_SEC, 0, AT(struct cfg_rules, chatter_window_ms), .min = 1, .max = SECS_DAY,
      .dflt = 60 },
    { "verify_window_s", K_SEC, 0, AT(struct cfg_rules, default_verify_window_ms), .min = 1, .max = 3600,
      .dflt = 30 },
    /* ISA-18.2 / EEMUA 191: more than 10 new alarms in 10 minutes is a flood */
    { "flood_count", K_INT, 0, AT(struct cfg_rules, flood_count), .min = 1, .max = 10000, .dflt = 10 },
    { "flood_window_s", K_SEC, 0, AT(struct cfg_rules, flood_window_ms), .min = 1, .max = SECS_DAY, .dflt = 600 },
    { "max_shelve_critical_s", K_SEC, 0, .off = offsetof(struct cfg_rules, max_shelve_ms[CFG_PRIO_CRITICAL]),
      .size = sizeof(int), .min = 1, .max = SECS_DAY, .dflt = 3600 },
    { "max_shelve_high_s", K_SEC, 0, .off = offsetof(struct cfg_rules, max_shelve_ms[CFG_PRIO_HIGH]),
      .size = sizeof(int), .min = 1, .max = SECS_DAY, .dflt = 4 * 3600 },
    { "max_shelve_medium_s", K_SEC, 0, .off = offsetof(struct cfg_rules, max_shelve_ms[CFG_PRIO_MEDIUM]),
      .size = sizeof(int), .min = 1, .max = SECS_DAY, .dflt = SECS_DAY },
    { "max_shelve_low_s", K_SEC, 0, .off = offsetof(struct cfg_rules, max_shelve_ms[CFG_PRIO_LOW]),
      .size = sizeof(int), .min = 1, .max = SECS_DAY, .dflt = SECS_DAY },
    { "comm_loss_latching", K_BOOL, 0, AT(struct cfg_rules, comm_loss_latching), .dflt = 1 },
};

static const struct key receipts_keys[] = {
    { "priorities", K_NEST, KEY_REQUIRED, .ctype = CONFIG_TYPE_ARRAY },
    { "timeout_s", K_SEC, 0, AT(struct cfg_receipts, timeout_ms), .min = 1, .max = 3600, .dflt = 30 },
    { "max_retries", K_INT, 0, AT(struct cfg_receipts, max_retries), .min = 0, .max = 1000000, .dflt = 0,
      .hint = "0 (no limit) or 1..1000000 re-publications" },
    { "local_output", K_NEST, 0, .ctype = CONFIG_TYPE_GROUP },
};

static const struct key local_output_keys[] = {
    { "device", K_REF, KEY_REQUIRED, .hint = "the id of a device" },
    { "output", K_REF, KEY_REQUIRED, .hint = "a coil or holding register input of the device's profile" },
    { "on", K_INT, 0, AT(struct cfg_local_output, on), .min = 1, .max = 65535, .dflt = 1 },
    { "priorities", K_NEST, 0, .ctype = CONFIG_TYPE_ARRAY },
};

static const char *const influx_api_names[] = { "v1", "v2", NULL };

static const struct key influx_keys[] = {
    { "url", K_STR, KEY_REQUIRED, AT(struct cfg_influx, url), .hint = "an InfluxDB URL like \"http://host:8086\"" },
    { "api", K_ENUM, 0, AT(struct cfg_influx, api), .names = influx_api_names, .dflt = CFG_INFLUX_V1 },
    { "database", K_STR, 0, AT(struct cfg_influx, database) },
    { "retention_policy", K_STR, 0, AT(struct cfg_influx, retention_policy) },
    { "username", K_STR, 0, AT(struct cfg_influx, username) },
    { "password", K_STR, KEY_SECRET, AT(struct cfg_influx, password) },
    { "org", K_STR, 0, AT(struct cfg_influx, org) },
    { "bucket", K_STR, 0, AT(struct cfg_influx, bucket) },
    { "token", K_STR, KEY_SECRET, AT(struct cfg_influx, token) },
    { "gzip", K_BOOL, 0, AT(struct cfg_influx, gzip), .dflt = 1 },
    { "batch_lines", K_INT, 0, AT(struct cfg_influx, batch_lines), .min = 1, .max = 100000, .dflt = 5000 },
    { "batch_age_s", K_SEC, 0, AT(struct cfg_influx, batch_ms), .min = 0.01, .max = 60, .dflt = 1 },
    { "max_lines", K_INT, 0, AT(struct cfg_influx, max_lines), .min = 100, .max = 10000000, .dflt = 200000 },
    { "max_bytes", K_INT, 0, AT(struct cfg_influx, max_bytes), .min = 65536, .max = 1073741824,
      .dflt = 32 << 20 },
    { "timeout_s", K_SEC, 0, AT(struct cfg_influx, timeout_ms), .min = 1, .max = 300, .dflt = 15 },
    { "deadband", K_DBL, 0, AT(struct cfg_influx, deadband), .min = 0, .max = 1e9, .dflt = 0.1 },
    { "refresh_s", K_SEC, 0, AT(struct cfg_influx, refresh_ms), .min = 1, .max = SECS_DAY, .dflt = 60 },
    { "health_s", K_SEC, 0, AT(struct cfg_influx, health_ms), .min = 1, .max = SECS_DAY, .dflt = 10 },
    { "shifts", K_NEST, 0, .ctype = CONFIG_TYPE_ARRAY },
};

static const struct key bus_keys[] = {
    { "id", K_ID, KEY_REQUIRED, AT(struct cfg_bus, id) },
    { "type", K_ENUM, KEY_REQUIRED, AT(struct cfg_bus, type), .names = bus_type_names },
    { "host", K_STR, 0, AT(struct cfg_bus, host) },
    { "port", K_INT, 0, AT(struct cfg_bus, port), .min = 1, .max = 65535, .dflt = 502 },
    { "device", K_STR, 0, AT(struct cfg_bus, device) },
    { "baud", K_INT, 0, AT(struct cfg_bus, baud), .min = 1200, .max = 115200, .dflt = 9600 },
    { "parity", K_ENUM, 0, AT(struct cfg_bus, parity), .names = parity_names },
    { "data_bits", K_INT, 0, AT(struct cfg_bus, data_bits), .min = 7, .max = 8, .dflt = 8 },
    { "stop_bits", K_INT, 0, AT(struct cfg_bus, stop_bits), .min = 1, .max = 2, .dflt = 1 },
};

#define UNIT_HINT "0..247 (255 only on a tcp bus)"

static const struct key device_keys[] = {
    { "id", K_ID, KEY_REQUIRED, AT(struct cfg_device, id) },
    { "name", K_STR, 0, AT(struct cfg_device, name) },
    { "bus", K_REF, KEY_REQUIRED, .hint = "the id of a bus" },
    { "unit", K_INT, KEY_REQUIRED, AT(struct cfg_device, unit), .min = 0, .max = 255, .hint = UNIT_HINT },
    { "profile", K_REF, KEY_REQUIRED, .hint = "a profile name (<name>.conf in the profile directory)" },
    { "poll_ms", K_INT, 0, AT(struct cfg_device, poll_ms), .min = 10, .max = 3600000, .dflt = 100 },
    { "timeout_ms", K_INT, 0, AT(struct cfg_device, timeout_ms), .min = 10, .max = 10000, .dflt = 300 },
    { "fail_count", K_INT, 0, AT(struct cfg_device, fail_count), .min = 1, .max = 1000, .dflt = 3 },
    { "fail_ms", K_INT, 0, AT(struct cfg_device, fail_ms), .min = 100, .max = 3600000, .dflt = 2000 },
    { "comm_priority", K_ENUM, 0, AT(struct cfg_device, comm_priority), .names = priority_names,
      .dflt = CFG_PRIO_HIGH },
};

static const struct key zone_keys[] = {
    { "id", K_ID, KEY_REQUIRED, AT(struct cfg_zone, id) },
    { "name", K_STR, 0, AT(struct cfg_zone, name) },
    { "armed", K_BOOL, 0, AT(struct cfg_zone, armed), .dflt = 1 },
    { "always_armed", K_BOOL, 0, AT(struct cfg_zone, always_armed) },
    { "entry_delay_s", K_SEC, 0, AT(struct cfg_zone, entry_delay_ms), .min = 0, .max = 3600 },
    { "exit_delay_s", K_SEC, 0, AT(struct cfg_zone, exit_delay_ms), .min = 0, .max = 3600 },
    { "schedule", K_NEST, 0, .ctype = CONFIG_TYPE_LIST },
};

/* One schedule entry as written, before its times are parsed. */
struct schedule_spec {
    char arm[16];
    char disarm[16];
};

#define TIME_HINT "a local time \"HH:MM\" from 00:00 to 23:59"

static const struct key schedule_keys[] = {
    { "arm", K_STR, 0, AT(struct schedule_spec, arm), .hint = TIME_HINT },
    { "disarm", K_STR, 0, AT(struct schedule_spec, disarm), .hint = TIME_HINT },
    { "days", K_NEST, 0, .ctype = CONFIG_TYPE_ARRAY },
};

/* A point as its group is read: the point, and the parts only some kinds
 * keep, which keep_point_parts() moves to site->analogs and site->eols. */
struct point_load {
    struct cfg_point p;
    struct cfg_analog analog;
    struct cfg_eol eol;
};

static const struct key point_keys[] = {
    { "id", K_ID, KEY_REQUIRED | KEY_POINTER, AT_TEXT(struct point_load, p.id, CFG_ID_MAX) },
    { "name", K_STR, KEY_POINTER, AT_TEXT(struct point_load, p.name, CFG_TEXT_MAX) },
    { "device", K_REF, KEY_REQUIRED, .hint = "the id of a device" },
    { "input", K_REF, KEY_REQUIRED, .hint = "an input name of the device's profile" },
    { "kind", K_ENUM, KEY_REQUIRED, AT(struct point_load, p.kind), .names = kind_names },
    { "zone", K_REF, 0, .hint = "the id of a zone" },
    { "priority", K_ENUM, 0, AT(struct point_load, p.priority), .names = priority_names },
    { "invert", K_BOOL, 0, AT(struct point_load, p.invert) },
    { "scale", K_DBL, 0, AT(struct point_load, p.scale), .dflt = 1 },
    { "offset", K_DBL, 0, AT(struct point_load, p.offset) },
    { "debounce_ms", K_INT, 0, AT(struct point_load, p.debounce_ms), .min = 0, .max = 60000 },
    { "on_delay_s", K_SEC, 0, AT(struct point_load, p.on_delay_ms), .min = 0, .max = SECS_DAY },
    { "off_delay_s", K_SEC, 0, AT(struct point_load, p.off_delay_ms), .min = 0, .max = SECS_DAY },
    { "high", K_DBL, 0, AT(struct point_load, analog.high), .dflt = NAN },
    { "low", K_DBL, 0, AT(struct point_load, analog.low), .dflt = NAN },
    { "deadband", K_DBL, 0, AT(struct point_load, analog.deadband), .min = 0, .max = 1e9, .dflt = NAN },
    { "report_deadband", K_DBL, 0, AT(struct point_load, analog.report_deadband), .min = 0, .max = 1e9, .dflt = 0 },
    { "valid_min", K_DBL, 0, AT(struct point_load, analog.valid_min), .dflt = NAN },
    { "valid_max", K_DBL, 0, AT(struct point_load, analog.valid_max), .dflt = NAN },
    { "sentinels", K_NEST, 0, .ctype = CONFIG_TYPE_ARRAY },
    { "entry_route", K_BOOL, 0, AT(struct point_load, p.entry_route) },
    { "held_open_s", K_SEC, 0, AT(struct point_load, p.held_open_ms), .min = 0, .max = SECS_DAY },
    { "verify_with", K_NEST, 0, .ctype = CONFIG_TYPE_ARRAY },
    { "verify_window_s", K_SEC, 0, AT(struct point_load, p.verify_window_ms), .min = 1, .max = 3600 },
    { "eol", K_NEST, 0, .ctype = CONFIG_TYPE_GROUP },
};

_Static_assert(offsetof(struct cfg_eol, normal_hi) == offsetof(struct cfg_eol, normal_lo) + sizeof(double) &&
               offsetof(struct cfg_eol, alarm_hi) == offsetof(struct cfg_eol, alarm_lo) + sizeof(double) &&
               offsetof(struct cfg_eol, short_hi) == offsetof(struct cfg_eol, short_lo) + sizeof(double) &&
               offsetof(struct cfg_eol, cut_hi) == offsetof(struct cfg_eol, cut_lo) + sizeof(double),
               "K_RANGE stores lo and hi next to each other");

static const struct key eol_keys[] = {
    { "normal", K_RANGE, KEY_REQUIRED, .off = offsetof(struct cfg_eol, normal_lo) },
    { "alarm", K_RANGE, KEY_REQUIRED, .off = offsetof(struct cfg_eol, alarm_lo) },
    { "short", K_RANGE, KEY_REQUIRED, .off = offsetof(struct cfg_eol, short_lo) },
    { "cut", K_RANGE, KEY_REQUIRED, .off = offsetof(struct cfg_eol, cut_lo) },
};

static const struct key profile_file_keys[] = {
    { "profile", K_NEST, KEY_REQUIRED, .ctype = CONFIG_TYPE_GROUP },
};

static const struct key profile_keys[] = {
    { "name", K_REF, KEY_REQUIRED, .hint = "the profile's file name without .conf" },
    { "description", K_STR, 0, AT(struct cfg_profile, description) },
    { "inputs", K_NEST, KEY_REQUIRED, .ctype = CONFIG_TYPE_LIST },
};

/* One line of a profile's inputs list before it is expanded by count. */
struct input_spec {
    struct cfg_input in;
    char tmpl[CFG_ID_MAX]; /* name; "{n}" stands for the channel number */
    int count;
};

static const struct key input_keys[] = {
    { "name", K_STR, KEY_REQUIRED, AT(struct input_spec, tmpl) },
    { "table", K_ENUM, KEY_REQUIRED, AT(struct input_spec, in.table), .names = table_names },
    { "address", K_INT, KEY_REQUIRED, AT(struct input_spec, in.address), .min = 0, .max = 65535 },
    { "format", K_ENUM, 0, AT(struct input_spec, in.format), .names = format_names },
    { "bit", K_INT, 0, AT(struct input_spec, in.bit), .min = 0, .max = 15 },
    { "mask", K_INT, 0, AT(struct input_spec, in.mask), .min = 1, .max = 65535 },
    { "shift", K_INT, 0, AT(struct input_spec, in.shift), .min = 0, .max = 15 },
    { "order", K_ENUM, 0, AT(struct input_spec, in.order), .names = regfmt_order_names },
    { "unit", K_STR, 0, AT(struct input_spec, in.unit) },
    { "scale", K_DBL, 0, AT(struct input_spec, in.scale), .dflt = 1 },
    { "offset", K_DBL, 0, AT(struct input_spec, in.offset) },
    { "count", K_INT, 0, AT(struct input_spec, count), .min = 1, .max = COUNT_MAX, .dflt = 1 },
};

static const struct section top_section = SECTION(top_keys);
static const struct section site_section = SECTION(site_keys);
static const struct section mqtt_section = SECTION(mqtt_keys);
static const struct section broker_section = SECTION(broker_keys);
static const struct section rules_section = SECTION(rules_keys);
static const struct section receipts_section = SECTION(receipts_keys);
static const struct section local_output_section = SECTION(local_output_keys);
static const struct section influx_section = SECTION(influx_keys);
static const struct section bus_section = SECTION(bus_keys);
static const struct section device_section = SECTION(device_keys);
static const struct section zone_section = SECTION(zone_keys);
static const struct section schedule_section = SECTION(schedule_keys);
static const struct section point_section = SECTION(point_keys);
static const struct section eol_section = SECTION(eol_keys);
static const struct section profile_file_section = SECTION(profile_file_keys);
static const struct section profile_section = SECTION(profile_keys);
static const struct section input_section = SECTION(input_keys);
static const struct section operator_section = SECTION(operator_keys);

/* ------------------------------------------------------------------ */
/* Loader state and error reporting                                    */
/* ------------------------------------------------------------------ */

struct loader {
    struct cfg_site *site;
    const char *path;         /* the site file, for errors without a setting */
    char *err;                /* caller's buffer, may be NULL */
    size_t errlen, used;
    int n_errors;
    char ctx[CTX_MAX];        /* what the next errors are about: point "x" */
    bool *profile_bad;        /* parallel to site->profiles: failed to load */
    uint64_t hash;
};

/* Appends one error line to the caller's buffer; lines that no longer fit
 * are dropped whole so the buffer never ends in half a message. */
static void append_error(struct loader *L, const char *line)
{
    L->n_errors++;
    if (!L->err || L->errlen == 0)
        return;
    size_t n = strlen(line);
    if (L->used + n + 2 > L->errlen)
        return;
    memcpy(L->err + L->used, line, n);
    L->used += n;
    L->err[L->used++] = '\n';
    L->err[L->used] = '\0';
}

/* Reports "file:line: context: message". */
static void vfail_at(struct loader *L, const char *file, unsigned line, const char *fmt, va_list ap)
{
    char msg[ERROR_LINE_MAX];
    int n = snprintf(msg, sizeof msg, "%s:%u: %s%s", file ? file : L->path, line ? line : 1, L->ctx,
                     L->ctx[0] ? ": " : "");
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    append_error(L, msg);
}

__attribute__((format(printf, 4, 5)))
static void fail_at(struct loader *L, const char *file, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(L, file, line, fmt, ap);
    va_end(ap);
}

/* Reports an error at the place a setting was defined. */
__attribute__((format(printf, 3, 4)))
static void fail(struct loader *L, const config_setting_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(L, s ? config_setting_source_file(s) : NULL, s ? config_setting_source_line(s) : 0, fmt, ap);
    va_end(ap);
}

/* Reports an error that has no place in a file (unreadable file, memory). */
__attribute__((format(printf, 2, 3)))
static void fail_plain(struct loader *L, const char *fmt, ...)
{
    char msg[ERROR_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    append_error(L, msg);
}

__attribute__((format(printf, 2, 3)))
static void set_ctx(struct loader *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->ctx, sizeof L->ctx, fmt, ap);
    va_end(ap);
}

/* cfgfile's reports, in the loader's format: file:line, or the file alone. */
static void report_text(void *arg, const char *file, unsigned line, const char *msg)
{
    struct loader *L = arg;
    if (line)
        fail_at(L, file, line, "%s", msg);
    else
        fail_plain(L, "%s: %s", file, msg);
}

/* Copies a user string for an error message: at most 40 characters, control
 * characters replaced, so one error stays one line. */
static const char *shown(const char *s, char *buf, size_t n)
{
    size_t i = 0;
    for (; s[i] && i < n - 1 && i < 40; i++)
        buf[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static bool id_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* Ids go into MQTT topics and alarm ids "<point>.<type>": 1..47 characters
 * without '.', '/', '+', '#' or spaces. */
static bool id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CFG_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!id_char(s[i]))
            return false;
    return true;
}

/* Offset of the first byte that breaks UTF-8 in s (overlong forms,
 * surrogates and code points past U+10FFFF included), or -1 if s is valid. */
static long utf8_invalid_at(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; p[i];) {
        unsigned c = p[i];
        int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0)
            return (long)i;
        uint32_t cp = n == 0 ? c : c & (0x3fu >> n);
        for (int k = 1; k <= n; k++) {
            if ((p[i + (size_t)k] & 0xc0) != 0x80)
                return (long)i;
            cp = cp << 6 | (p[i + (size_t)k] & 0x3fu);
        }
        static const uint32_t min_cp[] = { 0, 0x80, 0x800, 0x10000 };
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return (long)i;
        i += (size_t)n + 1;
    }
    return -1;
}

static bool has(const config_setting_t *g, const char *key)
{
    return config_setting_get_member(g, key) != NULL;
}

/* A LIST may stand where the table asks for an ARRAY (verify_with = ( ... )). */
static bool type_matches(int want, int got)
{
    return got == want || (want == CONFIG_TYPE_ARRAY && got == CONFIG_TYPE_LIST);
}

/* Returns member `key` of g if it has the type the key table wants; a wrong
 * type has already been reported by read_group(). */
static config_setting_t *nested(const config_setting_t *g, const char *key, int type)
{
    config_setting_t *m = g ? config_setting_get_member(g, key) : NULL;
    return m && type_matches(type, config_setting_type(m)) ? m : NULL;
}

static const char *type_name(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "an unknown type";
    }
}

/* Reads a numeric setting; false if it is not a number. */
static bool number_of(const config_setting_t *s, double *v)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: *v = (double)config_setting_get_int64(s); return true;
    case CONFIG_TYPE_FLOAT: *v = config_setting_get_float(s); return true;
    default: return false;
    }
}

/* Writes a comma-separated list of names (at most `max` of them, then how
 * many there are) into buf. */
static const char *join_names(const char *const *names, size_t n, size_t max, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < max && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
    if (n > max && used < len)
        snprintf(buf + used, len - used, ", ... (%zu in all)", n);
    return buf;
}

static size_t count_names(const char *const *names)
{
    size_t n = 0;
    while (names[n])
        n++;
    return n;
}

/* The allowed values of a numeric key: its hint or "min..max". */
static const char *range_text(const struct key *k, char *buf, size_t n)
{
    if (k->hint)
        return k->hint;
    if (k->type == K_INT)
        snprintf(buf, n, "%.0f..%.0f", k->min, k->max);
    else
        snprintf(buf, n, "%g..%g", k->min, k->max);
    return buf;
}

/* Describes what a valid value of key k looks like, for error messages. */
static const char *expected_text(const struct key *k, char *buf, size_t n)
{
    char names[256], range[128];
    if (k->type == K_INT) {
        snprintf(buf, n, "an integer %s", range_text(k, range, sizeof range));
        return buf;
    }
    if (k->hint)
        return k->hint;
    switch (k->type) {
    case K_INT:
    case K_ID:
    case K_REF: return "an id of 1..47 characters A-Z a-z 0-9 _ -";
    case K_STR: snprintf(buf, n, "a string of at most %zu characters", k->size - 1); break;
    case K_SEC:
        snprintf(buf, n, "a number of seconds %g..%g", k->min, k->max);
        break;
    case K_DBL:
        if (k->min < k->max)
            snprintf(buf, n, "a number %g..%g", k->min, k->max);
        else
            snprintf(buf, n, "a number");
        break;
    case K_BOOL: return "true or false";
    case K_ENUM:
        snprintf(buf, n, "one of: %s",
                 join_names(k->names, count_names(k->names), SIZE_MAX, names, sizeof names));
        break;
    case K_RANGE: return "[lo, hi], two numbers with lo <= hi";
    case K_NEST:
        return k->ctype == CONFIG_TYPE_GROUP ? "a group { ... }"
             : k->ctype == CONFIG_TYPE_LIST ? "a list ( ... )" : "an array [ ... ]";
    }
    return buf;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directory part of path: "." for a bare file name. */
static void dir_of(const char *path, char *out, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, n, ".");
    else if (slash == path)
        snprintf(out, n, "/");
    else
        snprintf(out, n, "%.*s", (int)(slash - path), path);
}

/* ------------------------------------------------------------------ */
/* The table-driven group reader                                       */
/* ------------------------------------------------------------------ */

static void store_enum(const struct key *k, void *obj, int index)
{
    char *dst = (char *)obj + k->off;
    if (k->size == 1)
        *dst = k->names[index][0];
    else
        memcpy(dst, &index, sizeof index);
}

/* Writes every key's default into obj. */
/* Stores text v (already checked to fit) into a K_ID or K_STR field. */
static void store_text(const struct key *k, char *dst, const char *v)
{
    if (k->flags & KEY_POINTER)
        *(const char **)(void *)dst = v;
    else
        snprintf(dst, k->size, "%s", v);
}

static void apply_defaults(const struct section *sec, void *obj)
{
    for (size_t i = 0; i < sec->n; i++) {
        const struct key *k = &sec->keys[i];
        char *dst = (char *)obj + k->off;
        switch (k->type) {
        case K_ID:
        case K_STR: store_text(k, dst, k->sdflt ? k->sdflt : ""); break;
        case K_INT: *(int *)(void *)dst = (int)k->dflt; break;
        case K_SEC: *(int *)(void *)dst = (int)llround(k->dflt * 1000.0); break;
        case K_DBL: *(double *)(void *)dst = k->dflt; break;
        case K_BOOL: *(bool *)dst = k->dflt != 0; break;
        case K_ENUM: store_enum(k, obj, (int)k->dflt); break;
        case K_RANGE:
        case K_REF:
        case K_NEST: break;
        }
    }
}

static void fail_type(struct loader *L, const struct key *k, const config_setting_t *s)
{
    char buf[256];
    fail(L, s, "%s is %s; expected %s", k->name, type_name(s), expected_text(k, buf, sizeof buf));
}

static void fail_range(struct loader *L, const struct key *k, const config_setting_t *s, const char *value)
{
    char buf[256];
    fail(L, s, "%s %s is out of range; expected %s", k->name, value, range_text(k, buf, sizeof buf));
}

/* ---- secrets ------------------------------------------------------------ */

/*
 * Refuses a secret (a KEY_SECRET key) kept in a file that users other than
 * its owner and vigild's own group can open: anyone who reads the broker
 * password can publish as the site. Files without secrets may stay
 * world-readable (docs/config.md, "Secrets").
 */
static void check_secret_file(struct loader *L, const config_setting_t *s, const char *what)
{
    const char *file = config_setting_source_file(s);
    const struct group *gr;
    char dir[CFG_PATH_MAX], path[2 * CFG_PATH_MAX];
    struct stat st;

    if (!file || !config_setting_get_string(s)[0])
        return;
    /* libconfig names an include as written: relative to the site file's directory */
    dir_of(L->path, dir, sizeof dir);
    snprintf(path, sizeof path, "%s%s%s", file[0] == '/' ? "" : dir, file[0] == '/' ? "" : "/", file);
    if (stat(path, &st) < 0)
        return; /* a file just read that vanished: the next load says so */
    if (!(st.st_mode & S_IRWXO) && (!(st.st_mode & S_IRWXG) || st.st_gid == getegid()))
        return;
    gr = getgrgid(getegid());
    fail(L, s, "%s is a secret, but this file is open to %s (mode %04o); expected chmod 600 %s (or chmod 640 and group %s)",
         what, st.st_mode & S_IRWXO ? "every user" : "another group", (unsigned)(st.st_mode & 07777), path,
         gr ? gr->gr_name : "of vigild");
}

/* K_ID, K_REF, K_STR: a string, checked and (unless K_REF) copied. */
static void read_string_key(struct loader *L, const struct key *k, const config_setting_t *s, void *obj)
{
    char buf[64];
    const char *v = config_setting_get_string(s);
    if (!v) {
        fail_type(L, k, s);
        return;
    }
    if (k->type != K_STR && !id_valid(v)) {
        fail(L, s, "%s \"%s\" is not a valid id; expected 1..47 characters of A-Z a-z 0-9 _ -",
             k->name, shown(v, buf, sizeof buf));
        return;
    }
    for (const char *c = v; *c; c++) {
        if (iscntrl((unsigned char)*c)) {
            fail(L, s, "%s contains a control character; expected plain text", k->name);
            return;
        }
    }
    long bad = utf8_invalid_at(v);
    if (bad >= 0) {
        fail(L, s, "%s is not valid UTF-8 (byte 0x%02x at position %ld); expected UTF-8 text (names reach "
             "the station as JSON)", k->name, (unsigned char)v[bad], bad);
        return;
    }
    if (k->type == K_REF)
        return;
    if (strlen(v) >= k->size && (k->flags & KEY_SECRET)) {
        fail(L, s, "%s is too long; expected at most %zu characters", k->name, k->size - 1);
        return;
    }
    if (strlen(v) >= k->size) {
        fail(L, s, "%s \"%s...\" is too long; expected at most %zu characters", k->name,
             shown(v, buf, sizeof buf), k->size - 1);
        return;
    }
    store_text(k, (char *)obj + k->off, v);
    if (k->flags & KEY_SECRET)
        check_secret_file(L, s, k->name);
}

/* K_INT, K_SEC, K_DBL: a number, range-checked. */
static void read_number_key(struct loader *L, const struct key *k, const config_setting_t *s, void *obj)
{
    char value[64];
    double v;
    bool integer = config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64;
    if (!number_of(s, &v) || (k->type == K_INT && !integer)) {
        fail_type(L, k, s);
        return;
    }
    if (integer)
        snprintf(value, sizeof value, "%lld", config_setting_get_int64(s));
    else
        snprintf(value, sizeof value, "%g", v);
    if (!isfinite(v) || (k->min < k->max && (v < k->min || v > k->max))) {
        fail_range(L, k, s, value);
        return;
    }
    char *dst = (char *)obj + k->off;
    if (k->type == K_INT)
        *(int *)(void *)dst = (int)v;
    else if (k->type == K_SEC)
        *(int *)(void *)dst = (int)llround(v * 1000.0);
    else
        *(double *)(void *)dst = v;
}

/* K_ENUM: a string naming one of the key's values. */
static void read_enum_key(struct loader *L, const struct key *k, const config_setting_t *s, void *obj)
{
    char buf[256], shown_buf[64];
    const char *v = config_setting_get_string(s);
    if (!v) {
        fail_type(L, k, s);
        return;
    }
    for (int i = 0; k->names[i]; i++) {
        if (strcmp(k->names[i], v) == 0) {
            store_enum(k, obj, i);
            return;
        }
    }
    fail(L, s, "%s \"%s\" is not valid; expected %s", k->name, shown(v, shown_buf, sizeof shown_buf),
         expected_text(k, buf, sizeof buf));
}

/* K_RANGE: [lo, hi] with lo <= hi. */
static void read_range_key(struct loader *L, const struct key *k, const config_setting_t *s, void *obj)
{
    double lo, hi;
    bool pair = (config_setting_type(s) == CONFIG_TYPE_ARRAY || config_setting_type(s) == CONFIG_TYPE_LIST) &&
                config_setting_length(s) == 2;
    if (!pair || !number_of(config_setting_get_elem(s, 0), &lo) ||
        !number_of(config_setting_get_elem(s, 1), &hi)) {
        fail(L, s, "%s is not a pair of numbers; expected [lo, hi]", k->name);
        return;
    }
    if (!(lo <= hi)) {
        fail(L, s, "%s [%g, %g] has lo > hi; expected [lo, hi] with lo <= hi", k->name, lo, hi);
        return;
    }
    double *dst = (double *)(void *)((char *)obj + k->off);
    dst[0] = lo;
    dst[1] = hi;
}

static void read_key(struct loader *L, const struct key *k, const config_setting_t *s, void *obj)
{
    switch (k->type) {
    case K_ID:
    case K_STR:
    case K_REF: read_string_key(L, k, s, obj); break;
    case K_INT:
    case K_SEC:
    case K_DBL: read_number_key(L, k, s, obj); break;
    case K_BOOL:
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
            fail_type(L, k, s);
        else
            *(bool *)((char *)obj + k->off) = config_setting_get_bool(s);
        break;
    case K_ENUM: read_enum_key(L, k, s, obj); break;
    case K_RANGE: read_range_key(L, k, s, obj); break;
    case K_NEST:
        if (!type_matches(k->ctype, config_setting_type(s)))
            fail_type(L, k, s);
        break;
    }
}

static const struct key *find_key(const struct section *sec, const char *name)
{
    for (size_t i = 0; i < sec->n; i++)
        if (strcmp(sec->keys[i].name, name) == 0)
            return &sec->keys[i];
    return NULL;
}

static void fail_unknown(struct loader *L, const struct section *sec, const config_setting_t *m)
{
    const char *names[64];
    char list[ERROR_LINE_MAX / 2];
    size_t n = 0;
    for (; n < sec->n && n < sizeof names / sizeof *names; n++)
        names[n] = sec->keys[n].name;
    fail(L, m, "unknown key \"%s\"; expected one of: %s", config_setting_name(m),
         join_names(names, n, SIZE_MAX, list, sizeof list));
}

/*
 * Reads group g into obj through a key table: applies every default, then
 * reads each member (reporting unknown keys and bad values), then reports
 * the required keys that are missing. obj may be NULL for tables of K_NEST
 * and K_REF keys only.
 */
static void read_group(struct loader *L, const config_setting_t *g, const struct section *sec, void *obj)
{
    char buf[256];
    if (obj)
        apply_defaults(sec, obj);
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const struct key *k = find_key(sec, config_setting_name(m));
        if (!k)
            fail_unknown(L, sec, m);
        else
            read_key(L, k, m, obj);
    }
    for (size_t i = 0; i < sec->n; i++) {
        const struct key *k = &sec->keys[i];
        if ((k->flags & KEY_REQUIRED) && !has(g, k->name))
            fail(L, g, "missing required key \"%s\"; expected %s = %s", k->name, k->name,
                 expected_text(k, buf, sizeof buf));
    }
}

/* Reads optional group `name` of parent (or applies the defaults when it is
 * absent); returns the group or NULL. */
static config_setting_t *read_optional(struct loader *L, const config_setting_t *parent, const char *name,
                                       const struct section *sec, void *obj)
{
    config_setting_t *g = nested(parent, name, CONFIG_TYPE_GROUP);
    set_ctx(L, "%s", name);
    if (g)
        read_group(L, g, sec, obj);
    else
        apply_defaults(sec, obj);
    return g;
}

/* Points the error context at list entry g (number i): `what "<id>"`, or
 * `what #n` when it has no usable id. */
static void element_ctx(struct loader *L, const config_setting_t *g, int i, const char *what,
                        const char *id_key)
{
    char buf[64];
    const config_setting_t *id = config_setting_type(g) == CONFIG_TYPE_GROUP ?
                                 config_setting_get_member(g, id_key) : NULL;
    const char *v = id ? config_setting_get_string(id) : NULL;
    if (v)
        set_ctx(L, "%s \"%s\"", what, shown(v, buf, sizeof buf));
    else
        set_ctx(L, "%s #%d", what, i + 1);
}

/* Returns element i of a list if it is a group (reporting it otherwise),
 * with the error context pointing at it. */
static config_setting_t *element(struct loader *L, const config_setting_t *list, int i, const char *what,
                                 const char *id_key)
{
    config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
    element_ctx(L, g, i, what, id_key);
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        fail(L, g, "entry is %s; expected a group { id = ...; }", type_name(g));
        return NULL;
    }
    return g;
}

/* Allocates one zeroed slot per entry of list; NULL for an empty or absent
 * list (and on OOM, reported). */
static void *alloc_slots(struct loader *L, const config_setting_t *list, size_t size)
{
    int n = list ? config_setting_length(list) : 0;
    if (n == 0)
        return NULL;
    void *p = calloc((size_t)n, size);
    if (!p)
        fail(L, list, "out of memory for %d entries", n);
    return p;
}

/* Runs load() on every group of list, one slot of array each, counting the
 * slots into *count as it goes so load() can look back at earlier ones. */
static void load_elements(struct loader *L, const config_setting_t *list, const char *what, void *array,
                          size_t size, int *count, void (*load)(struct loader *, config_setting_t *, void *))
{
    int n = list && array ? config_setting_length(list) : 0;
    for (int i = 0; i < n; i++) {
        config_setting_t *g = element(L, list, i, what, "id");
        if (g)
            load(L, g, (char *)array + (size_t)i * size);
        (*count)++;
    }
}

/* Resolves reference `key` of g with find(); reports a dangling one.
 * Returns the index, or -1 if absent, invalid or dangling. */
static int resolve(struct loader *L, const config_setting_t *g, const char *key,
                   int (*find)(const struct cfg_site *, const char *), const char *section)
{
    const config_setting_t *m = config_setting_get_member(g, key);
    const char *v = m ? config_setting_get_string(m) : NULL;
    if (!v || !id_valid(v))
        return -1;
    int i = find(L->site, v);
    if (i < 0)
        fail(L, m, "%s \"%s\" does not exist; define it under %s or fix the name", key, v, section);
    return i;
}

static void fail_duplicate(struct loader *L, const config_setting_t *g, const char *what, const char *id,
                           const char *first_file, int first_line)
{
    fail(L, g, "duplicate %s id \"%s\", first defined at %s:%d; expected each %s id once", what, id,
         first_file, first_line, what);
}

static void set_origin(const config_setting_t *g, int *line, const char **file)
{
    *line = (int)config_setting_source_line(g);
    *file = config_setting_source_file(g);
}

/* ------------------------------------------------------------------ */
/* Site, MQTT, rules                                                   */
/* ------------------------------------------------------------------ */

/*
 * Whether a URL carries user:password@ before its host: that would put a
 * secret into every log line that names the server, so brokers and InfluxDB
 * take them in their own keys (KEY_SECRET) instead.
 */
static bool url_has_credentials(const char *url)
{
    const char *host = strstr(url, "://");

    return host && strcspn(host + 3, "/") > strcspn(host + 3, "@");
}

static bool uri_valid(const char *uri)
{
    for (size_t i = 0; i < sizeof uri_schemes / sizeof *uri_schemes; i++) {
        size_t n = strlen(uri_schemes[i]);
        if (strncmp(uri, uri_schemes[i], n) == 0)
            return uri[n] != '\0' && uri[n] != ':' && !strchr(uri + n, ' ');
    }
    return false;
}

/*
 * A port given in a broker URI must be 1..65535: paho would otherwise
 * connect to some other port, or to none. No port at all is fine (the
 * scheme's default); "host:" with an empty port is not.
 */
static bool uri_port_valid(const char *uri)
{
    const char *host = strstr(uri, "://") + 3;
    const char *end = host + strcspn(host, "/"), *colon = NULL;
    if (*host == '[') {                       /* [IPv6]:port */
        const char *close = memchr(host, ']', (size_t)(end - host));
        colon = close && close + 1 < end && close[1] == ':' ? close + 1 : NULL;
    } else {
        for (const char *c = host; c < end; c++)
            colon = *c == ':' ? c : colon;
    }
    if (!colon)
        return true;
    long v = 0;
    for (const char *c = colon + 1; c < end; c++) {
        if (!isdigit((unsigned char)*c) || v > 65535)
            return false;
        v = v * 10 + (*c - '0');
    }
    return v >= 1 && v <= 65535;
}

/* The topic prefix: a topic path without wildcards or empty levels. */
static bool prefix_valid(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || p[0] == '/' || p[n - 1] == '/' || strstr(p, "//"))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!id_char(p[i]) && p[i] != '/')
            return false;
    return true;
}

/* A client id of [A-Za-z0-9_-]; may be longer than an object id. */
static bool client_id_valid(const char *s)
{
    for (; *s; s++)
        if (!id_char(*s))
            return false;
    return true;
}

/* The broker keys that only make sense on a TLS connection. */
static const char *const tls_only_keys[] = { "ca_file", "ca_dir", "cert_file", "key_file", "tls_version",
                                             "verify_hostname" };

/*
 * One file a broker names. It must be absolute (vigild runs from /); a file
 * that is there must be readable, and a secret one (a key, a password)
 * private to its owner. A file that is not there yet is no error here: a
 * config is often checked before its certificates are installed, so
 * cfgcheck_files() warns and the path reports the failure when it connects.
 * Returns an open descriptor of a file that is there and passed, else -1.
 */
static int open_broker_file(struct loader *L, const config_setting_t *g, const char *key, const char *path,
                            bool secret)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    struct stat st;
    int fd;

    if (path[0] != '/') {
        fail(L, s, "%s \"%s\" is relative; expected an absolute path (vigild runs from /)", key, path);
        return -1;
    }
    if (stat(path, &st) < 0 && errno == ENOENT)
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(L, s, "%s %s cannot be read: %s; expected a file the vigil user can read", key, path, strerror(errno));
        return -1;
    }
    if (secret && (st.st_mode & 077)) {
        fail(L, s, "%s %s can be read by group or others (mode %04o); expected it private to its owner: "
             "chmod 600 %s", key, path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads the password from the first line of password_file, if the file is there. */
static void read_password_file(struct loader *L, const config_setting_t *g, struct cfg_broker *b)
{
    int fd = open_broker_file(L, g, "password_file", b->password_file, true);
    ssize_t n;

    if (fd < 0)
        return;
    n = read(fd, b->password, sizeof(b->password) - 1);
    close(fd);
    b->password[n > 0 ? n : 0] = '\0';
    b->password[strcspn(b->password, "\r\n")] = '\0';
    if (n == (ssize_t)sizeof(b->password) - 1 || !b->password[0])
        fail(L, config_setting_get_member(g, "password_file"), "password_file %s holds %s; expected one line "
             "of 1..%zu characters", b->password_file, b->password[0] ? "too long a password" : "no password",
             sizeof(b->password) - 2);
}

/* Checks the readable ones among the TLS files a broker names. */
static void check_tls_files(struct loader *L, const config_setting_t *g, const struct cfg_broker *b)
{
    const struct { const char *key, *path; bool secret; } files[] = {
        { "ca_file", b->ca_file, false }, { "ca_dir", b->ca_dir, false },
        { "cert_file", b->cert_file, false }, { "key_file", b->key_file, true },
    };

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int fd = files[i].path[0] ? open_broker_file(L, g, files[i].key, files[i].path, files[i].secret) : -1;

        if (fd >= 0)
            close(fd);
    }
}

/*
 * What the key table cannot say about a broker's security: a TLS URI needs
 * a CA to verify the broker against (paho would otherwise fail every
 * connect); a plain URI with TLS keys is a config that believes it is
 * encrypted and is not; a certificate needs its key; a password comes from
 * one place only.
 */
static void load_broker_security(struct loader *L, const config_setting_t *g, struct cfg_broker *b)
{
    bool tls = mqtt_tls_uri(b->uri);

    for (size_t i = 0; i < sizeof(tls_only_keys) / sizeof(tls_only_keys[0]) && !tls; i++)
        if (config_setting_get_member(g, tls_only_keys[i]))
            fail(L, config_setting_get_member(g, tls_only_keys[i]), "%s is set but uri \"%s\" is not TLS; "
                 "expected an ssl:// or mqtts:// uri, or no TLS keys", tls_only_keys[i], b->uri);
    if (tls && !b->ca_file[0] && !b->ca_dir[0])
        fail(L, config_setting_get_member(g, "uri"), "uri \"%s\" is TLS but the broker has no ca_file or ca_dir; "
             "expected ca_file = \"/etc/vigil/tls/ca.crt\", the CA that signed the broker's certificate", b->uri);
    if (!b->cert_file[0] != !b->key_file[0])
        fail(L, g, "mqtt broker has %s without %s; expected both (a client certificate and its key) or neither",
             b->cert_file[0] ? "cert_file" : "key_file", b->cert_file[0] ? "key_file" : "cert_file");
    if (b->password[0] && b->password_file[0])
        fail(L, config_setting_get_member(g, "password"), "password and password_file are both set; expected "
             "password_file alone (a file only the vigil user can read)");
    else if ((b->password[0] || b->password_file[0]) && !b->username[0])
        fail(L, g, "mqtt broker has a password but no username; expected both or neither");
    if (tls)
        check_tls_files(L, g, b);
    if (b->password_file[0])
        read_password_file(L, g, b);
}

static void load_broker(struct loader *L, const config_setting_t *g, struct cfg_broker *b, int index)
{
    read_group(L, g, &broker_section, b);
    set_origin(g, &b->line, &b->file);
    load_broker_security(L, g, b);
    const config_setting_t *uri = config_setting_get_member(g, "uri");
    if (uri && url_has_credentials(b->uri))
        fail(L, uri, "uri has credentials in it; expected them in username and password, which are never logged");
    else if (uri && b->uri[0] && !uri_valid(b->uri))
        fail(L, uri, "uri \"%s\" is not a broker URI; expected tcp://host:port, ssl://host:port, "
             "ws://... or wss://...", b->uri);
    else if (uri && b->uri[0] && !uri_port_valid(b->uri))
        fail(L, uri, "uri \"%s\" has a port out of range; expected a port 1..65535 (or none for the "
             "scheme's default)", b->uri);
    if (!b->client_id[0])
        snprintf(b->client_id, sizeof b->client_id, "vigil-%s%s", L->site->id, index ? "-2" : "");
    else if (!client_id_valid(b->client_id))
        fail(L, config_setting_get_member(g, "client_id"),
             "client_id \"%s\" has characters outside A-Z a-z 0-9 _ -; expected a plain client id",
             b->client_id);
}

static void load_mqtt(struct loader *L, const config_setting_t *root)
{
    struct cfg_mqtt *m = &L->site->mqtt;
    config_setting_t *g = read_optional(L, root, "mqtt", &mqtt_section, m);
    if (!g)
        return;
    if (!prefix_valid(m->prefix))
        fail(L, config_setting_get_member(g, "prefix"),
             "prefix \"%s\" is not a topic prefix; expected levels of A-Z a-z 0-9 _ - separated by '/'",
             m->prefix);
    /* The table's range lets 0 through for "off"; a test every few seconds would flood the station. */
    if (m->self_test_s > 0 && m->self_test_s < 60)
        fail(L, config_setting_get_member(g, "self_test_s"),
             "self_test_s %d is out of range; expected 0 (off) or 60..2592000 seconds", m->self_test_s);
    const config_setting_t *list = nested(g, "brokers", CONFIG_TYPE_LIST);
    int n = list ? config_setting_length(list) : 0;
    if (list && (n < 1 || n > CFG_MAX_BROKERS))
        fail(L, list, "brokers has %d entries; expected 1 (primary) or 2 (primary, secondary)", n);
    for (int i = 0; i < n && i < CFG_MAX_BROKERS; i++) {
        config_setting_t *b = element(L, list, i, "mqtt broker", "id"); /* brokers have no id: "#n" */
        if (b)
            load_broker(L, b, &m->brokers[i], i);
        m->n_brokers++;
    }
    /* The same client id on the same broker: each connection would take
     * over the other's, and the two paths would be one. */
    if (m->n_brokers == 2 && m->brokers[0].uri[0] && strcmp(m->brokers[0].uri, m->brokers[1].uri) == 0 &&
        strcmp(m->brokers[0].client_id, m->brokers[1].client_id) == 0)
        fail(L, config_setting_get_elem(list, 1), "mqtt broker #2 has the same uri \"%s\" and client_id "
             "\"%s\" as broker #1 (%s:%u); expected a second path: another broker, or another client_id",
             m->brokers[1].uri, m->brokers[1].client_id, config_setting_source_file(config_setting_get_elem(list, 0)),
             config_setting_source_line(config_setting_get_elem(list, 0)));
}

/* Picks the profile directory: the caller's argument, else the config's
 * key (relative to the config's directory), else sensors/profiles next to
 * the config's directory in a source tree, else the installed one. */
static void resolve_profile_dir(struct loader *L, const config_setting_t *site_group, const char *cfg_dir,
                                const char *arg)
{
    char *out = L->site->profile_dir;
    char tmp[CFG_PATH_MAX * 2];
    const config_setting_t *key = site_group ? config_setting_get_member(site_group, "profile_dir") : NULL;
    if (arg)
        snprintf(tmp, sizeof tmp, "%s", arg);
    else if (out[0] && out[0] != '/')
        snprintf(tmp, sizeof tmp, "%s/%s", cfg_dir, out);
    else if (out[0])
        snprintf(tmp, sizeof tmp, "%s", out);
    else {
        snprintf(tmp, sizeof tmp, "%s/../sensors/profiles", cfg_dir);
        if (!is_dir(tmp))
            snprintf(tmp, sizeof tmp, "%s", DEFAULT_PROFILE_DIR);
    }
    if (strlen(tmp) >= sizeof L->site->profile_dir) {
        set_ctx(L, "site");
        if (key && !arg)
            fail(L, key, "profile_dir resolves to a path that is too long; expected at most %d characters",
                 CFG_PATH_MAX - 1);
        else
            fail_plain(L, "%s: profile directory \"%.60s...\" is too long; expected at most %d characters",
                       L->path, tmp, CFG_PATH_MAX - 1);
        return;
    }
    memcpy(out, tmp, strlen(tmp) + 1);
}

/*
 * True if glibc can load time zone tz: "UTC" (built in, also without a tz
 * database) or a TZif file under $TZDIR or /usr/share/zoneinfo. A misspelt
 * name must be an error here: glibc would silently run on UTC and every
 * zone schedule would fire hours off.
 */
static bool timezone_known(const char *tz)
{
    char path[CFG_PATH_MAX + CFG_ID_MAX];
    char magic[4];
    const char *dir = getenv("TZDIR");
    if (strcmp(tz, "UTC") == 0)
        return true;
    if (!tz[0] || tz[0] == '/' || strstr(tz, ".."))
        return false;
    for (const char *c = tz; *c; c++)
        if (!id_char(*c) && *c != '/' && *c != '+')
            return false;
    snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : ZONEINFO_DIR, tz);
    FILE *f = fopen(path, "rb");
    bool ok = f && fread(magic, 1, sizeof magic, f) == sizeof magic && memcmp(magic, "TZif", 4) == 0;
    if (f)
        fclose(f);
    return ok;
}

static void check_timezone(struct loader *L, const config_setting_t *site_group)
{
    char buf[64];
    const config_setting_t *m = site_group ? config_setting_get_member(site_group, "timezone") : NULL;
    const char *v = m ? config_setting_get_string(m) : NULL;
    if (!v || strcmp(v, L->site->timezone) != 0 || timezone_known(v))
        return; /* absent, or a bad string already reported */
    fail(L, m, "timezone \"%s\" is not in the time zone database; expected an IANA name such as "
         "\"Europe/Sarajevo\" or \"UTC\"", shown(v, buf, sizeof buf));
}

/* state_dir must name a directory absolutely: a relative one would follow
 * the working directory ("/" under systemd), and /dev/null or a file can
 * never hold the journal. A missing directory is fine (vigild creates it). */
static void check_state_dir(struct loader *L, const config_setting_t *site_group)
{
    char buf[64];
    struct stat st;
    const config_setting_t *m = site_group ? config_setting_get_member(site_group, "state_dir") : NULL;
    const char *v = m ? config_setting_get_string(m) : NULL;
    if (!v || strcmp(v, L->site->state_dir) != 0)
        return; /* absent, or a bad string already reported */
    if (!v[0])
        fail(L, m, "state_dir is empty; expected an absolute directory path such as \"/var/lib/vigil\"");
    else if (v[0] != '/')
        fail(L, m, "state_dir \"%s\" is relative; expected an absolute path (a relative one would depend on "
             "the working directory, \"/\" under systemd)", shown(v, buf, sizeof buf));
    else if (stat(v, &st) == 0 && !S_ISDIR(st.st_mode))
        fail(L, m, "state_dir \"%s\" exists and is not a directory; expected a directory, or a path vigild "
             "can create one at", shown(v, buf, sizeof buf));
}

/* site.signing_key names a regular file nobody but its owner can read: it signs what the site publishes. */
static void check_signing_key(struct loader *L, const config_setting_t *g)
{
    const char *path = L->site->signing_key;
    const config_setting_t *m;
    struct stat st;

    if (!path[0])
        return; /* also when the site group is missing: g is NULL then */
    m = config_setting_get_member(g, "signing_key");
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        fail(L, m, "signing_key %s is not a readable file; expected the key file `vigilctl key new` writes", path);
    else if (st.st_mode & 077)
        fail(L, m, "signing_key %s can be read by others; chmod 600 %s", path, path);
}

/* points_socket is a UNIX socket path: sun_path holds 107 bytes and a terminator. */
static void check_points_socket(struct loader *L, const config_setting_t *site_group)
{
    char buf[64];
    const config_setting_t *m = site_group ? config_setting_get_member(site_group, "points_socket") : NULL;
    size_t n = strlen(L->site->points_socket);

    if (m && n > 107)
        fail(L, m, "points_socket \"%s\" is %zu bytes long; expected an absolute path of at most 107 bytes "
             "(a UNIX socket's limit)", shown(L->site->points_socket, buf, sizeof buf), n);
    else if (m && L->site->points_socket[0] != '/')
        fail(L, m, "points_socket \"%s\" is not absolute; expected an absolute path such as "
             "\"/run/vigil/points.sock\"", shown(L->site->points_socket, buf, sizeof buf));
}

static void load_site_group(struct loader *L, const config_setting_t *root, const char *cfg_dir,
                            const char *profile_dir)
{
    config_setting_t *g = read_optional(L, root, "site", &site_section, L->site);
    resolve_profile_dir(L, g, cfg_dir, profile_dir);
    set_ctx(L, "site");
    check_timezone(L, g);
    check_state_dir(L, g);
    check_signing_key(L, g);
    check_points_socket(L, g);
    /* The table's range lets 0 through for "no budget"; a few MiB cannot hold one journal segment. */
    if (L->site->state_max_mb > 0 && L->site->state_max_mb < 16)
        fail(L, config_setting_get_member(g, "state_max_mb"), "state_max_mb %d is out of range; expected 0 (no "
             "budget) or 16..16777216 MiB", L->site->state_max_mb);
}

/* ------------------------------------------------------------------ */
/* Profiles                                                            */
/* ------------------------------------------------------------------ */

static int find_input(const struct cfg_profile *p, const char *name)
{
    for (int i = 0; i < p->n_inputs; i++)
        if (strcmp(p->inputs[i].name, name) == 0)
            return i;
    return -1;
}

static bool format_is_bit_table(enum cfg_table t)
{
    return t == CFG_TABLE_COIL || t == CFG_TABLE_DISCRETE;
}

/* A name template: id characters with at most one "{n}". */
static bool template_valid(const char *t)
{
    const char *ph = strstr(t, "{n}");
    if (ph && strstr(ph + 3, "{n}"))
        return false;
    for (const char *c = t; *c; c++) {
        if (c == ph)
            c += 2;
        else if (!id_char(*c))
            return false;
    }
    return t[0] != '\0';
}

/* Checks the keys of the multi-register and bit-field formats (order, mask,
 * shift) and fills the field's default shift: the mask's lowest set bit, so
 * mask = 0x0F00 reads bits 8..11 as 0..15. */
static void check_format_keys(struct loader *L, const config_setting_t *g, struct cfg_input *in)
{
    if (has(g, "order") && regfmt_width(in->format) != 2)
        fail(L, config_setting_get_member(g, "order"), "order applies to the 32-bit formats only; expected "
             "format = \"u32\", \"s32\" or \"f32\", or no order");
    if ((has(g, "mask") || has(g, "shift")) && in->format != CFG_FMT_FIELD)
        fail(L, config_setting_get_member(g, has(g, "mask") ? "mask" : "shift"), "mask and shift apply to "
             "format \"field\" only; expected format = \"field\" or neither key");
    if (in->format != CFG_FMT_FIELD)
        return;
    if (!has(g, "mask")) {
        fail(L, g, "format \"field\" needs a mask; expected mask = 0x00F0 (the field's bits)");
        return;
    }
    if (!has(g, "shift"))
        for (in->shift = 0; !((unsigned)in->mask >> in->shift & 1u); in->shift++)
            ;
    else if (((unsigned)in->mask >> in->shift) << in->shift != (unsigned)in->mask)
        fail(L, config_setting_get_member(g, "shift"), "shift %d drops set bits of mask 0x%04X; expected a "
             "shift no larger than the mask's lowest set bit", in->shift, (unsigned)in->mask);
}

/* Checks one inputs line of a profile after its table read and fills the
 * format default; returns false if it cannot be expanded. */
static bool check_input_spec(struct loader *L, const config_setting_t *g, struct input_spec *sp)
{
    int before = L->n_errors;
    struct cfg_input *in = &sp->in;
    bool bit_table = format_is_bit_table(in->table);
    const config_setting_t *fmt = config_setting_get_member(g, "format");
    if (!template_valid(sp->tmpl))
        fail(L, config_setting_get_member(g, "name"), "name \"%s\" is not a valid input name; expected "
             "A-Z a-z 0-9 _ - with at most one {n} for the channel number", sp->tmpl);
    else if (strstr(sp->tmpl, "{n}") && !has(g, "count"))
        fail(L, config_setting_get_member(g, "name"), "name \"%s\" has {n} but no count; expected count = N",
             sp->tmpl);
    if (!fmt)
        in->format = bit_table ? CFG_FMT_BIT : CFG_FMT_U16;
    else if (bit_table && in->format != CFG_FMT_BIT)
        fail(L, fmt, "format \"%s\" needs a register table; expected \"bit\" for table \"%s\"",
             format_names[in->format], table_names[in->table]);
    else if (!bit_table && in->format == CFG_FMT_BIT)
        fail(L, fmt, "format \"bit\" needs a coil or discrete table; expected u16, s16, regbit, field, u32, "
             "s32 or f32 for table \"%s\"", table_names[in->table]);
    if (has(g, "bit") && in->format != CFG_FMT_REGBIT)
        fail(L, config_setting_get_member(g, "bit"), "bit applies to format \"regbit\" only; expected "
             "format = \"regbit\" or no bit");
    check_format_keys(L, g, in);
    if (in->scale == 0)
        fail(L, config_setting_get_member(g, "scale"), "scale 0 makes every reading 0; expected a non-zero "
             "scale");
    if (!has(g, "count"))
        sp->count = 0; /* not numbered: the name is used as it is */
    return L->n_errors == before;
}

/* Expands channel j (0-based) of spec into *in; false if its name or
 * address is not valid (reported). */
static bool expand_input(struct loader *L, const config_setting_t *g, const struct input_spec *sp, int j,
                         struct cfg_input *in)
{
    *in = sp->in;
    const char *ph = strstr(sp->tmpl, "{n}");
    int len;
    if (sp->count == 0)
        len = snprintf(in->name, sizeof in->name, "%s", sp->tmpl);
    else if (ph)
        len = snprintf(in->name, sizeof in->name, "%.*s%d%s", (int)(ph - sp->tmpl), sp->tmpl, j + 1, ph + 3);
    else
        len = snprintf(in->name, sizeof in->name, "%s%d", sp->tmpl, j + 1);
    if (len < 0 || (size_t)len >= sizeof in->name || !id_valid(in->name)) {
        fail(L, g, "input name for channel %d is too long; expected at most %d characters", j + 1,
             CFG_ID_MAX - 1);
        return false;
    }
    if (sp->in.format == CFG_FMT_REGBIT) {
        in->address = sp->in.address + (sp->in.bit + j) / 16;
        in->bit = (sp->in.bit + j) % 16;
    } else {
        in->address = sp->in.address + j * regfmt_width(sp->in.format);
    }
    if (in->address + regfmt_width(in->format) - 1 > 65535) {
        fail(L, g, "input \"%s\" lands at address %d; expected addresses within 0..65535", in->name,
             in->address + regfmt_width(in->format) - 1);
        return false;
    }
    return true;
}

/* Expands every inputs line of a profile into p->inputs. */
static void load_inputs(struct loader *L, const config_setting_t *list, struct cfg_profile *p, const char *what)
{
    int n = config_setting_length(list);
    struct input_spec *spec = alloc_slots(L, list, sizeof *spec);
    int total = 0;
    if (n == 0)
        fail(L, list, "inputs is empty; expected at least one input");
    for (int i = 0; spec && i < n; i++) {
        config_setting_t *g = element(L, list, i, what, "name");
        if (g) {
            read_group(L, g, &input_section, &spec[i]);
            if (!check_input_spec(L, g, &spec[i]))
                spec[i].count = -1;
        } else {
            spec[i].count = -1;
        }
        total += spec[i].count < 0 ? 0 : spec[i].count ? spec[i].count : 1;
    }
    p->inputs = total ? calloc((size_t)total, sizeof *p->inputs) : NULL;
    for (int i = 0; p->inputs && i < n; i++) {
        config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        for (int j = 0; spec[i].count >= 0 && j < (spec[i].count ? spec[i].count : 1); j++) {
            struct cfg_input *in = &p->inputs[p->n_inputs];
            if (!expand_input(L, g, &spec[i], j, in))
                break;
            if (find_input(p, in->name) >= 0)
                fail(L, g, "input \"%s\" is defined twice; expected unique input names", in->name);
            p->n_inputs++;
        }
    }
    free(spec);
}

/* Validates a parsed profile file into p (whose name is already set from
 * the file name). */
static void parse_profile(struct loader *L, const config_setting_t *root, struct cfg_profile *p)
{
    char what[CTX_MAX];
    set_ctx(L, "profile \"%s\"", p->name);
    read_group(L, root, &profile_file_section, NULL);
    config_setting_t *g = nested(root, "profile", CONFIG_TYPE_GROUP);
    if (!g)
        return;
    read_group(L, g, &profile_section, p);
    const config_setting_t *name = config_setting_get_member(g, "name");
    const char *v = name ? config_setting_get_string(name) : NULL;
    if (v && strcmp(v, p->name) != 0)
        fail(L, name, "name \"%s\" does not match the file name %s.conf; expected name = \"%s\"",
             v, p->name, p->name);
    const config_setting_t *inputs = nested(g, "inputs", CONFIG_TYPE_LIST);
    snprintf(what, sizeof what, "profile \"%s\" input", p->name);
    if (inputs)
        load_inputs(L, inputs, p, what);
}

/* Reads, hashes and validates <profile_dir>/<name>.conf into p. `ref` is
 * the device setting that named it, for a missing file. Returns false on
 * any error (all reported). */
static bool load_profile_file(struct loader *L, const config_setting_t *ref, struct cfg_profile *p)
{
    char path[CFG_PATH_MAX + CFG_ID_MAX + 8];
    size_t len;
    int before = L->n_errors;
    snprintf(path, sizeof path, "%s/%s.conf", L->site->profile_dir, p->name);
    char why[256];
    char *text = cfgfile_read(path, &len, why, sizeof why);
    if (!text) {
        if (errno == ENOENT)
            fail(L, ref, "profile \"%s\" does not exist (no %s); expected the name of a profile file in %s "
                 "or fix the name", p->name, path, L->site->profile_dir);
        else
            fail(L, ref, "profile \"%s\": %s %s; expected a readable profile file", p->name, path, why);
        return false;
    }
    char saved[CTX_MAX];
    memcpy(saved, L->ctx, sizeof saved);
    L->ctx[0] = '\0';
    int checked = cfgfile_check(path, text, len, L->site->profile_dir, &L->hash, report_text, L);
    free(text);
    if (checked < 0) {
        memcpy(L->ctx, saved, sizeof saved);
        return false;
    }
    config_t c;
    config_init(&c);
    config_set_auto_convert(&c, 1);
    config_set_include_dir(&c, L->site->profile_dir);
    if (!config_read_file(&c, path))
        fail_at(L, config_error_file(&c) ? config_error_file(&c) : path, (unsigned)config_error_line(&c),
                "%s; expected valid libconfig syntax", config_error_text(&c));
    else
        parse_profile(L, config_root_setting(&c), p);
    config_destroy(&c);
    memcpy(L->ctx, saved, sizeof saved);
    return L->n_errors == before;
}

/* Returns the index of profile `name`, loading it on first use; -1 if it
 * cannot be used (already reported, once). */
static int use_profile(struct loader *L, const config_setting_t *ref, const char *name)
{
    struct cfg_site *s = L->site;
    for (int i = 0; i < s->n_profiles; i++)
        if (strcmp(s->profiles[i].name, name) == 0)
            return L->profile_bad[i] ? -1 : i;
    int i = s->n_profiles++;
    snprintf(s->profiles[i].name, sizeof s->profiles[i].name, "%s", name);
    L->profile_bad[i] = !load_profile_file(L, ref, &s->profiles[i]);
    return L->profile_bad[i] ? -1 : i;
}

/* ------------------------------------------------------------------ */
/* Buses, devices, zones                                               */
/* ------------------------------------------------------------------ */

static int find_bus(const struct cfg_site *s, const char *id)
{
    for (int i = 0; i < s->n_buses; i++)
        if (strcmp(s->buses[i].id, id) == 0)
            return i;
    return -1;
}

static bool baud_standard(int baud)
{
    for (size_t i = 0; i < sizeof standard_bauds / sizeof *standard_bauds; i++)
        if (standard_bauds[i] == baud)
            return true;
    return false;
}

/* Checks the keys that belong to one bus type only. */
static void check_bus_type_keys(struct loader *L, const config_setting_t *g, const struct cfg_bus *b)
{
    for (size_t i = 0; i < sizeof bus_type_keys / sizeof *bus_type_keys; i++) {
        const config_setting_t *m = config_setting_get_member(g, bus_type_keys[i].key);
        const char *type = bus_type_names[bus_type_keys[i].type];
        if (m && bus_type_keys[i].type != b->type)
            fail(L, m, "%s applies to %s buses only; expected type = \"%s\" or no %s", bus_type_keys[i].key,
                 type, type, bus_type_keys[i].key);
        else if (!m && bus_type_keys[i].required && bus_type_keys[i].type == b->type)
            fail(L, g, "missing required key \"%s\"; a %s bus needs %s", bus_type_keys[i].key, type,
                 bus_type_keys[i].key);
    }
}

static void load_bus(struct loader *L, config_setting_t *g, void *elem)
{
    struct cfg_bus *b = elem;
    struct cfg_site *s = L->site;
    read_group(L, g, &bus_section, b);
    set_origin(g, &b->line, &b->file);
    int prev = b->id[0] ? find_bus(s, b->id) : -1;
    if (prev >= 0)
        fail_duplicate(L, g, "bus", b->id, s->buses[prev].file, s->buses[prev].line);
    if (!has(g, "type"))
        return;
    check_bus_type_keys(L, g, b);
    const config_setting_t *baud = config_setting_get_member(g, "baud");
    if (baud && b->type == CFG_BUS_RTU && !baud_standard(b->baud))
        fail(L, baud, "baud %d is not a standard rate; expected " BAUD_HINT, b->baud);
    for (int i = 0; b->type == CFG_BUS_RTU && b->device[0] && i < s->n_buses; i++)
        if (s->buses[i].type == CFG_BUS_RTU && strcmp(s->buses[i].device, b->device) == 0)
            fail(L, g, "serial device %s is already used by bus \"%s\" (%s:%d); expected one bus per "
                 "serial port", b->device, s->buses[i].id, s->buses[i].file, s->buses[i].line);
}

static void load_device(struct loader *L, config_setting_t *g, void *elem)
{
    struct cfg_device *d = elem;
    struct cfg_site *s = L->site;
    read_group(L, g, &device_section, d);
    set_origin(g, &d->line, &d->file);
    int prev = d->id[0] ? cfg_find_device(s, d->id) : -1;
    if (prev >= 0)
        fail_duplicate(L, g, "device", d->id, s->devices[prev].file, s->devices[prev].line);
    d->bus = resolve(L, g, "bus", find_bus, "buses");
    const config_setting_t *unit = config_setting_get_member(g, "unit");
    bool tcp_gateway = d->unit == 255 && d->bus >= 0 && s->buses[d->bus].type == CFG_BUS_TCP;
    if (unit && d->unit > 247 && !tcp_gateway)
        fail(L, unit, "unit %d is out of range; expected " UNIT_HINT, d->unit);
    bool unit_ok = unit && config_setting_type(unit) == CONFIG_TYPE_INT &&
                   config_setting_get_int64(unit) == d->unit;
    for (int i = 0; unit_ok && d->bus >= 0 && i < s->n_devices; i++)
        if (s->devices[i].bus == d->bus && s->devices[i].unit == d->unit)
            fail(L, unit, "unit %d on bus \"%s\" is already used by device \"%s\" (%s:%d); expected one "
                 "device per unit on a bus", d->unit, s->buses[d->bus].id, s->devices[i].id,
                 s->devices[i].file, s->devices[i].line);
    const config_setting_t *prof = config_setting_get_member(g, "profile");
    const char *name = prof ? config_setting_get_string(prof) : NULL;
    d->profile = name && id_valid(name) ? use_profile(L, prof, name) : -1;
}

/* Parses "H:MM" or "HH:MM" (24-hour clock) into minutes after midnight;
 * -1 if it is not a time of day. */
static int parse_time_of_day(const char *s)
{
    int h = 0, n = 0;
    while (n < 2 && isdigit((unsigned char)s[n]))
        h = h * 10 + (s[n++] - '0');
    if (n == 0 || s[n] != ':' || !isdigit((unsigned char)s[n + 1]) || !isdigit((unsigned char)s[n + 2]) ||
        s[n + 3] != '\0')
        return -1;
    int m = (s[n + 1] - '0') * 10 + (s[n + 2] - '0');
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

/* The minute of schedule time `key` of entry g (its text already copied
 * into text by the key table); -1 if absent or invalid (reported). */
static int schedule_time(struct loader *L, const config_setting_t *g, const char *key, const char *text)
{
    char buf[64];
    const config_setting_t *m = config_setting_get_member(g, key);
    const char *v = m ? config_setting_get_string(m) : NULL;
    if (!v || strcmp(v, text) != 0)
        return -1; /* absent, or not a string or too long: already reported */
    int min = parse_time_of_day(text);
    if (min < 0)
        fail(L, m, "%s \"%s\" is not a time of day; expected " TIME_HINT " (24-hour clock, local time in "
             "site.timezone)", key, shown(text, buf, sizeof buf));
    return min;
}

static int day_index(const char *name)
{
    for (int i = 0; day_names[i]; i++)
        if (strcmp(day_names[i], name) == 0)
            return i;
    return -1;
}

/* Reads an entry's days into a weekday bit set: all days if absent, 0 if
 * the list is wrong (reported). */
static unsigned read_days(struct loader *L, const config_setting_t *g)
{
    char buf[64];
    const config_setting_t *v = nested(g, "days", CONFIG_TYPE_ARRAY);
    if (!v)
        return has(g, "days") ? 0 : ALL_DAYS;
    int n = config_setting_length(v);
    unsigned days = 0;
    if (n == 0)
        fail(L, v, "days is empty; expected one or more of: " DAYS_HINT);
    for (int i = 0; i < n; i++) {
        const char *d = config_setting_get_string_elem(v, (unsigned)i);
        int k = d ? day_index(d) : -1;
        if (k < 0)
            fail(L, v, "days entry %d (%s%s%s) is not a day; expected one of: " DAYS_HINT, i + 1, d ? "\"" : "",
                 d ? shown(d, buf, sizeof buf) : "not a string", d ? "\"" : "");
        else if (days & (1u << k))
            fail(L, v, "day \"%s\" is listed twice; expected each day once", d);
        else
            days |= 1u << k;
    }
    return days;
}

static void load_schedule_entry(struct loader *L, const config_setting_t *g, struct cfg_schedule *e)
{
    struct schedule_spec spec;
    read_group(L, g, &schedule_section, &spec);
    e->line = (int)config_setting_source_line(g);
    e->arm_min = schedule_time(L, g, "arm", spec.arm);
    e->disarm_min = schedule_time(L, g, "disarm", spec.disarm);
    e->days = read_days(L, g);
    if (!has(g, "arm") && !has(g, "disarm"))
        fail(L, g, "entry has neither arm nor disarm; expected arm = \"HH:MM\", disarm = \"HH:MM\" or both");
}

/* An arm and a disarm of one zone at the same minute of a common day would
 * leave the zone's state to the order they happen to run in: reject them. */
static void check_schedule_conflicts(struct loader *L, const config_setting_t *list, const struct cfg_zone *z)
{
    for (int i = 0; i < z->n_schedule; i++) {
        const struct cfg_schedule *a = &z->schedule[i];
        for (int j = 0; j < z->n_schedule; j++) {
            const struct cfg_schedule *d = &z->schedule[j];
            if (a->arm_min >= 0 && a->arm_min == d->disarm_min && (a->days & d->days))
                fail(L, config_setting_get_elem(list, (unsigned)i), "arm at %02d:%02d and the disarm of entry "
                     "#%d are at the same time on a common day; expected different times", a->arm_min / 60,
                     a->arm_min % 60, j + 1);
        }
    }
}

/* Reads a zone's optional schedule list. */
static void load_schedule(struct loader *L, const config_setting_t *g, struct cfg_zone *z)
{
    char what[CTX_MAX + 16];
    const config_setting_t *list = nested(g, "schedule", CONFIG_TYPE_LIST);
    int n = list ? config_setting_length(list) : 0;
    if (!list)
        return;
    if (z->always_armed) {
        fail(L, list, "a 24-hour zone (always_armed) cannot have a schedule; expected no schedule or "
             "always_armed = false");
        return;
    }
    if (n < 1 || n > CFG_MAX_SCHEDULE) {
        fail(L, list, "schedule has %d entries; expected 1..%d", n, CFG_MAX_SCHEDULE);
        return;
    }
    snprintf(what, sizeof what, "%s schedule", L->ctx);
    for (int i = 0; i < n; i++) {
        config_setting_t *e = element(L, list, i, what, "id"); /* entries have no id: "#n" */
        if (e)
            load_schedule_entry(L, e, &z->schedule[i]);
        z->n_schedule++;
    }
    check_schedule_conflicts(L, list, z);
}

static void load_zone(struct loader *L, config_setting_t *g, void *elem)
{
    struct cfg_zone *z = elem;
    struct cfg_site *s = L->site;
    read_group(L, g, &zone_section, z);
    set_origin(g, &z->line, &z->file);
    int prev = z->id[0] ? cfg_find_zone(s, z->id) : -1;
    if (prev >= 0)
        fail_duplicate(L, g, "zone", z->id, s->zones[prev].file, s->zones[prev].line);
    if (z->always_armed && has(g, "armed") && !z->armed)
        fail(L, config_setting_get_member(g, "armed"), "a 24-hour zone (always_armed) cannot start "
             "disarmed; expected armed = true or no armed key");
    if (z->always_armed)
        z->armed = true;
    load_schedule(L, g, z);
}

/* ------------------------------------------------------------------ */
/* Points                                                              */
/* ------------------------------------------------------------------ */

static bool kind_is_analog(enum cfg_point_kind k)
{
    return !(DIGITAL_KINDS & KIND(k));
}

/* Resolves point.input in the device's profile; -1 if it is not there
 * (reported with a few valid names). */
static int resolve_input(struct loader *L, const config_setting_t *g, const struct cfg_point *p)
{
    const config_setting_t *m = config_setting_get_member(g, "input");
    const char *v = m ? config_setting_get_string(m) : NULL;
    int prof = p->device >= 0 ? L->site->devices[p->device].profile : -1;
    if (!v || !id_valid(v) || prof < 0)
        return -1;
    const struct cfg_profile *pr = &L->site->profiles[prof];
    int i = find_input(pr, v);
    if (i >= 0)
        return i;
    const char *names[INPUTS_SHOWN];
    char list[512];
    for (int j = 0; j < pr->n_inputs && j < INPUTS_SHOWN; j++)
        names[j] = pr->inputs[j].name;
    fail(L, m, "input \"%s\" is not an input of profile \"%s\" (device \"%s\"); expected one of: %s", v,
         pr->name, L->site->devices[p->device].id,
         join_names(names, (size_t)pr->n_inputs, INPUTS_SHOWN, list, sizeof list));
    return -1;
}

/* A kind reads either a bit or a number: temperature on a discrete input
 * or a door on a raw register cannot work. */
static void check_input_format(struct loader *L, const config_setting_t *g, const struct cfg_point *p)
{
    if (p->input < 0)
        return;
    const struct cfg_profile *pr = &L->site->profiles[L->site->devices[p->device].profile];
    const struct cfg_input *in = &pr->inputs[p->input];
    const config_setting_t *m = config_setting_get_member(g, "input");
    if (kind_is_analog(p->kind) && !regfmt_is_numeric(in->format))
        fail(L, m, "kind \"%s\" needs an analog input but input \"%s\" of profile \"%s\" is a single bit; "
             "expected a u16, s16, field, u32, s32 or f32 register input", kind_names[p->kind], in->name,
             pr->name);
    else if (!kind_is_analog(p->kind) && regfmt_is_numeric(in->format))
        fail(L, m, "kind \"%s\" needs a bit input but input \"%s\" of profile \"%s\" is a %s register; "
             "expected a coil, discrete or regbit input", kind_names[p->kind], in->name, pr->name,
             format_names[in->format]);
}

/* Rejects keys that do nothing for this kind of point. */
static void check_kind_keys(struct loader *L, const config_setting_t *g, const struct cfg_point *p)
{
    for (size_t i = 0; i < sizeof kind_keys / sizeof *kind_keys; i++) {
        const config_setting_t *m = config_setting_get_member(g, kind_keys[i].key);
        if (m && !(kind_keys[i].kinds & KIND(p->kind)))
            fail(L, m, "%s does not apply to a %s point; expected it only on %s points", kind_keys[i].key,
                 kind_names[p->kind], kind_keys[i].which);
    }
}

/* Fills what the config left unset and depends on the kind: priority,
 * climate limits, the verify window. */
static void point_defaults(struct loader *L, const config_setting_t *g, struct point_load *pl)
{
    struct cfg_point *p = &pl->p;
    if (!has(g, "priority"))
        p->priority = kind_priority[p->kind];
    if (!has(g, "verify_window_s"))
        p->verify_window_ms = L->site->rules.default_verify_window_ms;
    for (size_t i = 0; i < sizeof climate_defaults / sizeof *climate_defaults; i++) {
        if (climate_defaults[i].kind != p->kind)
            continue;
        if (!has(g, "high"))
            pl->analog.high = climate_defaults[i].high;
        if (!has(g, "low"))
            pl->analog.low = climate_defaults[i].low;
        if (!has(g, "deadband"))
            pl->analog.deadband = climate_defaults[i].deadband;
        if (!has(g, "on_delay_s"))
            p->on_delay_ms = climate_defaults[i].on_delay_ms;
    }
}

/* Reads the eol windows and rejects overlapping ones: a reading must map to
 * exactly one loop state. */
static void load_eol(struct loader *L, const config_setting_t *g, struct cfg_eol *eol)
{
    static const char *const names[] = { "normal", "alarm", "short", "cut" };
    const config_setting_t *e = nested(g, "eol", CONFIG_TYPE_GROUP);
    if (!e) {
        if (!has(g, "eol"))
            fail(L, g, "missing required key \"eol\"; expected eol = { normal = [lo, hi]; alarm = [lo, hi]; "
                 "short = [lo, hi]; cut = [lo, hi]; }");
        return;
    }
    int before = L->n_errors;
    read_group(L, e, &eol_section, eol);
    if (L->n_errors != before)
        return;
    const double *w = &eol->normal_lo; /* four [lo, hi] pairs in a row */
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (w[2 * i] <= w[2 * j + 1] && w[2 * j] <= w[2 * i + 1])
                fail(L, config_setting_get_member(e, names[j]), "eol windows %s [%g, %g] and %s [%g, %g] "
                     "overlap; expected disjoint windows", names[i], w[2 * i], w[2 * i + 1], names[j],
                     w[2 * j], w[2 * j + 1]);
}

_Static_assert(offsetof(struct cfg_eol, alarm_lo) == offsetof(struct cfg_eol, normal_lo) + 2 * sizeof(double) &&
               offsetof(struct cfg_eol, short_lo) == offsetof(struct cfg_eol, normal_lo) + 4 * sizeof(double) &&
               offsetof(struct cfg_eol, cut_lo) == offsetof(struct cfg_eol, normal_lo) + 6 * sizeof(double),
               "load_eol walks the windows as an array");

/* Reads sentinels = [ -3276.8, 6553.5 ]: readings that mean "no value". */
static void load_sentinels(struct loader *L, const config_setting_t *g, struct cfg_analog *a)
{
    const config_setting_t *v = nested(g, "sentinels", CONFIG_TYPE_ARRAY);
    int n = v ? config_setting_length(v) : 0;

    if (v && (n < 1 || n > CFG_MAX_SENTINELS)) {
        fail(L, v, "sentinels has %d values; expected 1..%d", n, CFG_MAX_SENTINELS);
        return;
    }
    for (int i = 0; i < n; i++)
        if (!number_of(config_setting_get_elem(v, (unsigned)i), &a->sentinels[a->n_sentinels++]))
            fail(L, v, "sentinels entry %d is not a number; expected readings in the point's unit", i + 1);
}

/* Reads point group g into pl and checks it. */
static void read_point(struct loader *L, config_setting_t *g, struct point_load *pl)
{
    struct cfg_point *p = &pl->p;
    struct cfg_analog *a = &pl->analog;
    struct cfg_site *s = L->site;
    read_group(L, g, &point_section, pl);
    set_origin(g, &p->line, &p->file);
    int prev = p->id[0] ? cfg_find_point(s, p->id) : -1;
    if (prev >= 0)
        fail_duplicate(L, g, "point", p->id, s->points[prev].file, s->points[prev].line);
    p->zone = resolve(L, g, "zone", cfg_find_zone, "zones");
    p->device = resolve(L, g, "device", cfg_find_device, "devices");
    p->input = resolve_input(L, g, p);
    for (int i = 0; p->input >= 0 && i < s->n_points; i++)
        if (s->points[i].device == p->device && s->points[i].input == p->input)
            fail(L, config_setting_get_member(g, "input"), "input \"%s\" of device \"%s\" is already read by "
                 "point \"%s\" (%s:%d); expected one point per input", config_setting_get_string(
                 config_setting_get_member(g, "input")), s->devices[p->device].id, s->points[i].id,
                 s->points[i].file, s->points[i].line);
    if (!has(g, "kind"))
        return;
    check_input_format(L, g, p);
    check_kind_keys(L, g, p);
    point_defaults(L, g, pl);
    const config_setting_t *high = config_setting_get_member(g, "high");
    if (!isnan(a->high) && !isnan(a->low) && a->high <= a->low)
        fail(L, high ? high : g, "high %g is not above low %g; expected high > low", a->high, a->low);
    if (p->scale == 0)
        fail(L, config_setting_get_member(g, "scale"), "scale 0 makes every reading 0; expected a non-zero "
             "scale");
    if (p->kind == CFG_KIND_EOL)
        load_eol(L, g, &pl->eol);
    if (!isnan(a->valid_min) && !isnan(a->valid_max) && a->valid_max <= a->valid_min)
        fail(L, config_setting_get_member(g, "valid_max"), "valid_max %g is not above valid_min %g; expected "
             "valid_max > valid_min", a->valid_max, a->valid_min);
    load_sentinels(L, g, a);
}

/* Keeps the parts of pl its kind has: analog limits in site->analogs, eol
 * windows in site->eols (both allocated for every point, filled in order). */
static void keep_point_parts(struct loader *L, struct cfg_point *p, const struct point_load *pl)
{
    struct cfg_site *s = L->site;
    if (KIND(p->kind) & THRESHOLD_KINDS) {
        s->analogs[s->n_analogs] = pl->analog;
        p->analog = &s->analogs[s->n_analogs++];
    } else if (p->kind == CFG_KIND_EOL) {
        s->eols[s->n_eols] = pl->eol;
        p->eol = &s->eols[s->n_eols++];
    }
}

static void load_point(struct loader *L, config_setting_t *g, void *elem)
{
    struct point_load pl;
    memset(&pl, 0, sizeof pl);
    read_point(L, g, &pl);
    *(struct cfg_point *)elem = pl.p;
    keep_point_parts(L, elem, &pl);
}

/* Resolves a fence point's verify_with list once every point is known. */
static void load_verify(struct loader *L, const config_setting_t *g, struct cfg_point *p)
{
    char buf[64];
    const config_setting_t *v = nested(g, "verify_with", CONFIG_TYPE_ARRAY);
    if (!v || p->kind != CFG_KIND_FENCE)
        return;
    int n = config_setting_length(v);
    if (n < 1 || n > CFG_MAX_VERIFY) {
        fail(L, v, "verify_with has %d points; expected 1..%d", n, CFG_MAX_VERIFY);
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *id = config_setting_get_string_elem(v, (unsigned)i);
        int k = id ? cfg_find_point(L->site, id) : -1;
        if (!id)
            fail(L, v, "verify_with entry %d is not a string; expected point ids", i + 1);
        else if (k < 0)
            fail(L, v, "verify_with point \"%s\" does not exist; define it under points or fix the name",
                 shown(id, buf, sizeof buf));
        else if (&L->site->points[k] == p)
            fail(L, v, "verify_with names the point itself; expected another point (a camera or detector)");
        else if (kind_is_analog(L->site->points[k].kind))
            fail(L, v, "verify_with point \"%s\" is a %s point; expected a digital point (cctv, motion, ...)",
                 id, kind_names[L->site->points[k].kind]);
        else
            p->verify[p->n_verify++] = k;
    }
}

/* ------------------------------------------------------------------ */
/* Receipts and the local output                                       */
/* ------------------------------------------------------------------ */

/* Reads a priorities array (["critical", "high"]) of g into a bit set, bit
 * n for enum cfg_priority n; 0 if it is wrong (reported). */
static unsigned read_priorities(struct loader *L, const config_setting_t *g)
{
    char buf[64];
    const config_setting_t *v = nested(g, "priorities", CONFIG_TYPE_ARRAY);
    int n = v ? config_setting_length(v) : 0;
    unsigned set = 0;
    if (v && n == 0)
        fail(L, v, "priorities is empty; expected one or more of: critical, high, medium, low");
    for (int i = 0; i < n; i++) {
        const char *name = config_setting_get_string_elem(v, (unsigned)i);
        int k = -1;
        for (int j = 0; name && priority_names[j]; j++)
            if (strcmp(priority_names[j], name) == 0)
                k = j;
        if (k < 0)
            fail(L, v, "priorities entry %d (%s%s%s) is not a priority; expected one of: critical, high, "
                 "medium, low", i + 1, name ? "\"" : "", name ? shown(name, buf, sizeof buf) : "not a string",
                 name ? "\"" : "");
        else if (set & (1u << k))
            fail(L, v, "priority \"%s\" is listed twice; expected each priority once", name);
        else
            set |= 1u << k;
    }
    return set;
}

/* Resolves local_output.output: a coil (written with FC5) or a whole u16/s16
 * holding register (FC6) of the device's profile; -1 if not (reported). */
static int resolve_output(struct loader *L, const config_setting_t *g, const struct cfg_local_output *o)
{
    const config_setting_t *m = config_setting_get_member(g, "output");
    const char *v = m ? config_setting_get_string(m) : NULL;
    int prof = o->device >= 0 ? L->site->devices[o->device].profile : -1;
    if (!v || !id_valid(v) || prof < 0)
        return -1;
    const struct cfg_profile *pr = &L->site->profiles[prof];
    int i = find_input(pr, v);
    if (i < 0) {
        fail(L, m, "output \"%s\" is not an input of profile \"%s\" (device \"%s\"); expected a coil or "
             "holding register input of it", v, pr->name, L->site->devices[o->device].id);
        return -1;
    }
    const struct cfg_input *in = &pr->inputs[i];
    if (in->table == CFG_TABLE_COIL || (in->table == CFG_TABLE_HOLDING && in->format != CFG_FMT_REGBIT))
        return i;
    static const char *const what[] = { "a coil", "a discrete input", "one bit of a holding register",
                                        "an input register" };
    fail(L, m, "output \"%s\" of profile \"%s\" is %s, which cannot be written; expected a coil or a u16/s16 "
         "holding register", v, pr->name, what[in->table]);
    return -1;
}

static void load_local_output(struct loader *L, const config_setting_t *g, struct cfg_receipts *r)
{
    struct cfg_local_output *o = &r->local_output;
    set_ctx(L, "receipts.local_output");
    read_group(L, g, &local_output_section, o);
    o->enabled = true;
    set_origin(g, &o->line, &o->file);
    o->priorities = has(g, "priorities") ? read_priorities(L, g) : 1u << CFG_PRIO_CRITICAL;
    if (o->priorities & ~r->priorities)
        fail(L, has(g, "priorities") ? config_setting_get_member(g, "priorities") : g,
             "priorities include one that receipts.priorities does not track; expected a subset of "
             "receipts.priorities (an event that waits for no receipt cannot miss one)");
    o->device = resolve(L, g, "device", cfg_find_device, "devices");
    o->input = resolve_output(L, g, o);
    if (o->input >= 0 && o->on != 1 &&
        L->site->profiles[L->site->devices[o->device].profile].inputs[o->input].table == CFG_TABLE_COIL)
        fail(L, config_setting_get_member(g, "on"), "on %d for coil output; expected on = 1 (a coil is 0 or 1)",
             o->on);
}

/* The optional receipts group; needs the devices loaded. */
static void load_receipts(struct loader *L, const config_setting_t *root)
{
    struct cfg_receipts *r = &L->site->receipts;
    config_setting_t *g = read_optional(L, root, "receipts", &receipts_section, r);
    if (!g)
        return;
    r->enabled = true;
    r->priorities = read_priorities(L, g);
    config_setting_t *lo = nested(g, "local_output", CONFIG_TYPE_GROUP);
    if (lo)
        load_local_output(L, lo, r);
}

/* ------------------------------------------------------------------ */
/* Operators who may sign commands (docs/commands.md)                 */
/* ------------------------------------------------------------------ */

static void load_operator(struct loader *L, config_setting_t *g, struct cfg_operator *o, int n_before)
{
    size_t len = 0;

    read_group(L, g, &operator_section, o);
    set_origin(g, &o->line, &o->file);
    if (o->role == CFG_ROLE_NONE && has(g, "role"))
        fail(L, config_setting_get_member(g, "role"), "role \"none\" for operator \"%s\"; expected guard, officer, "
             "engineer or auditor", o->name);
    for (int i = 0; i < n_before; i++)
        if (o->name[0] && strcmp(L->site->operators[i].name, o->name) == 0)
            fail_duplicate(L, g, "operator", o->name, L->site->operators[i].file, L->site->operators[i].line);
    if (o->key_b64[0] && (sodium_base642bin(o->key, sizeof(o->key), o->key_b64, strlen(o->key_b64), NULL, &len,
                                            NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
                          len != sizeof(o->key)))
        fail(L, config_setting_get_member(g, "key"), "key of operator \"%s\" is not a base64 Ed25519 public "
             "key (32 bytes); expected the line `vigilctl key new %s` prints", o->name, o->name);
}

/* The optional operators list: with it, every command must be signed by one of them. */
static void load_operators(struct loader *L, const config_setting_t *root)
{
    config_setting_t *list = nested(root, "operators", CONFIG_TYPE_LIST);
    struct cfg_site *s = L->site;

    s->operators = alloc_slots(L, list, sizeof(*s->operators));
    for (int i = 0; s->operators && i < config_setting_length(list); i++) {
        config_setting_t *g = element(L, list, i, "operator", "name");

        if (g)
            load_operator(L, g, &s->operators[i], i);
        s->n_operators++;
    }
}

const char *cfg_role_name(enum cfg_role r)
{
    return r <= CFG_ROLE_AUDITOR ? role_names[r] : "none";
}

int cfg_find_operator(const struct cfg_site *s, const char *name)
{
    for (int i = 0; i < s->n_operators; i++)
        if (strcmp(s->operators[i].name, name) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------ */
/* Telemetry to InfluxDB                                               */
/* ------------------------------------------------------------------ */

/* Reads influx.shifts (["06:00", "14:00", "22:00"], ascending) into minutes
 * after local midnight; keeps the default when absent. */
static void load_influx_shifts(struct loader *L, const config_setting_t *g, struct cfg_influx *x)
{
    static const int dflt[] = { 6 * 60, 14 * 60, 22 * 60 };
    char buf[64];
    const config_setting_t *v = nested(g, "shifts", CONFIG_TYPE_ARRAY);
    int n = v ? config_setting_length(v) : 0;
    if (!v) {
        memcpy(x->shift_min, dflt, sizeof dflt);
        x->n_shifts = 3;
        return;
    }
    if (n < 1 || n > CFG_MAX_SHIFTS) {
        fail(L, v, "shifts has %d entries; expected 1..%d shift start times", n, CFG_MAX_SHIFTS);
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *t = config_setting_get_string_elem(v, (unsigned)i);
        int min = t ? parse_time_of_day(t) : -1;
        if (min < 0)
            fail(L, v, "shifts entry %d (%s) is not a time of day; expected " TIME_HINT, i + 1,
                 t ? shown(t, buf, sizeof buf) : "not a string");
        else if (i > 0 && min <= x->shift_min[i - 1])
            fail(L, v, "shifts entry %d (%s) is not after the one before; expected start times in ascending order",
                 i + 1, t);
        x->shift_min[i] = min;
    }
    x->n_shifts = n;
}

/* Keys of the other API are refused: a token under api = "v1" is a
 * config that does not do what its author thinks. */
static void influx_refuse_key(struct loader *L, const config_setting_t *g, const char *key, const char *why)
{
    const config_setting_t *m = config_setting_get_member(g, key);
    if (m)
        fail(L, m, "%s %s; expected it removed or api changed", key, why);
}

static void influx_require_key(struct loader *L, const config_setting_t *g, const char *key, const char *value,
                               const char *what)
{
    if (!value[0])
        fail(L, g, "missing %s; expected %s = \"...\" (%s)", key, key, what);
}

/* The optional influx group (docs/influx.md). */
static void load_influx(struct loader *L, const config_setting_t *root)
{
    struct cfg_influx *x = &L->site->influx;
    config_setting_t *g = read_optional(L, root, "influx", &influx_section, x);
    if (!g)
        return;
    x->enabled = true;
    set_origin(g, &x->line, &x->file);
    if (strncmp(x->url, "http://", 7) != 0 && strncmp(x->url, "https://", 8) != 0)
        fail(L, config_setting_get_member(g, "url"), "url \"%s\" is not an HTTP URL; expected "
             "\"http://host:8086\" or \"https://host:8086\"", x->url);
    if (url_has_credentials(x->url))
        fail(L, config_setting_get_member(g, "url"), "url has credentials in it; expected them in username and "
             "password (v1) or token (v2), which are never logged");
    size_t n = strlen(x->url);
    while (n > 0 && x->url[n - 1] == '/')
        x->url[--n] = '\0';
    if (x->api == CFG_INFLUX_V1) {
        influx_require_key(L, g, "database", x->database, "the InfluxDB 1.x database");
        if (x->password[0] && !x->username[0])
            fail(L, config_setting_get_member(g, "password"), "password without username; expected both or neither");
        influx_refuse_key(L, g, "org", "is for api = \"v2\"");
        influx_refuse_key(L, g, "bucket", "is for api = \"v2\"");
        influx_refuse_key(L, g, "token", "is for api = \"v2\"");
    } else {
        influx_require_key(L, g, "org", x->org, "the InfluxDB 2.x organisation");
        influx_require_key(L, g, "bucket", x->bucket, "the InfluxDB 2.x bucket");
        influx_require_key(L, g, "token", x->token, "an API token with write access to the bucket");
        influx_refuse_key(L, g, "database", "is for api = \"v1\"");
        influx_refuse_key(L, g, "retention_policy", "is for api = \"v1\"");
        influx_refuse_key(L, g, "username", "is for api = \"v1\"");
        influx_refuse_key(L, g, "password", "is for api = \"v1\"");
    }
    load_influx_shifts(L, g, x);
}

/* ------------------------------------------------------------------ */
/* The whole site                                                      */
/* ------------------------------------------------------------------ */

static void load_sections(struct loader *L, const config_setting_t *root)
{
    struct cfg_site *s = L->site;
    config_setting_t *list = nested(root, "buses", CONFIG_TYPE_LIST);
    s->buses = alloc_slots(L, list, sizeof *s->buses);
    load_elements(L, list, "bus", s->buses, sizeof *s->buses, &s->n_buses, load_bus);

    list = nested(root, "devices", CONFIG_TYPE_LIST);
    s->devices = alloc_slots(L, list, sizeof *s->devices);
    s->profiles = alloc_slots(L, list, sizeof *s->profiles);
    L->profile_bad = alloc_slots(L, list, sizeof *L->profile_bad);
    if (s->profiles && L->profile_bad)
        load_elements(L, list, "device", s->devices, sizeof *s->devices, &s->n_devices, load_device);

    list = nested(root, "zones", CONFIG_TYPE_LIST);
    s->zones = alloc_slots(L, list, sizeof *s->zones);
    load_elements(L, list, "zone", s->zones, sizeof *s->zones, &s->n_zones, load_zone);

    list = nested(root, "points", CONFIG_TYPE_LIST);
    s->points = alloc_slots(L, list, sizeof *s->points);
    s->analogs = alloc_slots(L, list, sizeof *s->analogs);
    s->eols = alloc_slots(L, list, sizeof *s->eols);
    /* an entry that is not a group is never loaded: give it the texts a loaded one has by default */
    for (int i = 0; s->points && i < config_setting_length(list); i++)
        s->points[i].id = s->points[i].name = "";
    load_elements(L, list, "point", s->points, sizeof *s->points, &s->n_points, load_point);
    for (int i = 0; i < s->n_points; i++) {
        config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
            continue;
        element_ctx(L, g, i, "point", "id");
        load_verify(L, g, &s->points[i]);
    }
}

static void load_root(struct loader *L, const config_setting_t *root, const char *cfg_dir, const char *profile_dir)
{
    L->ctx[0] = '\0';
    read_group(L, root, &top_section, NULL);
    load_site_group(L, root, cfg_dir, profile_dir);
    load_mqtt(L, root);
    read_optional(L, root, "rules", &rules_section, &L->site->rules);
    load_sections(L, root);
    load_receipts(L, root);
    load_influx(L, root);
    load_operators(L, root);
    L->ctx[0] = '\0';
}

/* Points *file at the copy of the same name in strings (a copy of every
 * file name libconfig read, in its order). */
static void own_file_name(const config_t *c, const char *strings, const char **file)
{
    const char *copy = strings;
    for (unsigned i = 0; i < c->num_filenames; i++) {
        if (c->filenames[i] == *file || strcmp(c->filenames[i], *file) == 0) {
            *file = copy;
            return;
        }
        copy += strlen(copy) + 1;
    }
}

/* Copies text to *w, moves *w past the copy, and returns the copy. */
static const char *own_text(char **w, const char *text)
{
    char *copy = *w;
    *w = stpcpy(copy, text) + 1;
    return copy;
}

/*
 * The structs name their files, and points their ids and names, with
 * pointers into libconfig's memory; copy them into site->strings (file
 * names first, then each point's id and name) so they outlive
 * config_destroy(), in one block of their exact size.
 */
static int own_strings(struct cfg_site *s, const config_t *c)
{
    size_t total = 1;
    for (unsigned i = 0; i < c->num_filenames; i++)
        total += strlen(c->filenames[i]) + 1;
    for (int i = 0; i < s->n_points; i++)
        total += strlen(s->points[i].id) + 1 + strlen(s->points[i].name) + 1;
    s->strings = malloc(total);
    if (!s->strings)
        return -1;
    char *w = s->strings;
    for (unsigned i = 0; i < c->num_filenames; i++)
        own_text(&w, c->filenames[i]);
    for (int i = 0; i < s->n_points; i++) {
        s->points[i].id = own_text(&w, s->points[i].id);
        s->points[i].name = own_text(&w, s->points[i].name);
    }
    for (int i = 0; i < s->n_buses; i++)
        own_file_name(c, s->strings, &s->buses[i].file);
    for (int i = 0; i < s->n_devices; i++)
        own_file_name(c, s->strings, &s->devices[i].file);
    for (int i = 0; i < s->n_zones; i++)
        own_file_name(c, s->strings, &s->zones[i].file);
    for (int i = 0; i < s->n_points; i++)
        own_file_name(c, s->strings, &s->points[i].file);
    if (s->receipts.local_output.file)
        own_file_name(c, s->strings, &s->receipts.local_output.file);
    if (s->influx.file)
        own_file_name(c, s->strings, &s->influx.file);
    for (int i = 0; i < s->mqtt.n_brokers; i++)
        if (s->mqtt.brokers[i].file)
            own_file_name(c, s->strings, &s->mqtt.brokers[i].file);
    return 0;
}

/* Parses the file and loads it into L->site; errors go to L. */
static void parse_and_load(struct loader *L, const char *path, const char *profile_dir)
{
    char dir[CFG_PATH_MAX], why[256];
    size_t len;
    char *text = cfgfile_read(path, &len, why, sizeof why);
    if (!text) {
        fail_plain(L, "%s: %s; expected a readable regular config file", path, why);
        return;
    }
    dir_of(path, dir, sizeof dir);
    L->hash = FNV64_BASIS;
    int checked = cfgfile_check(path, text, len, dir, &L->hash, report_text, L);
    free(text);
    if (checked < 0)
        return; /* an include libconfig must not open: reported */
    config_t c;
    config_init(&c);
    config_set_auto_convert(&c, 1);
    config_set_include_dir(&c, dir);
    if (!config_read_file(&c, path)) {
        if (config_error_type(&c) == CONFIG_ERR_FILE_IO)
            fail_plain(L, "%s: cannot read: %s", path, strerror(errno));
        else
            fail_at(L, config_error_file(&c) ? config_error_file(&c) : path, (unsigned)config_error_line(&c),
                    "%s; expected valid libconfig syntax", config_error_text(&c));
    } else {
        load_root(L, config_root_setting(&c), dir, profile_dir);
        if (L->n_errors == 0 && own_strings(L->site, &c) < 0)
            fail_plain(L, "%s: out of memory", path);
    }
    config_destroy(&c);
}

struct cfg_site *cfg_load(const char *path, const char *profile_dir, char *err, size_t errlen)
{
    struct loader L = { .path = path, .err = err, .errlen = errlen };
    if (err && errlen)
        err[0] = '\0';
    L.site = calloc(1, sizeof *L.site);
    if (!L.site) {
        fail_plain(&L, "%s: out of memory", path);
        return NULL;
    }
    parse_and_load(&L, path, profile_dir);
    free(L.profile_bad);
    if (L.n_errors) {
        cfg_free(L.site);
        return NULL;
    }
    L.site->hash = L.hash;
    return L.site;
}

void cfg_free(struct cfg_site *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_profiles; i++)
        free(s->profiles[i].inputs);
    free(s->buses);
    free(s->profiles);
    free(s->devices);
    free(s->zones);
    free(s->points);
    free(s->analogs);
    free(s->eols);
    free(s->operators);
    free(s->strings);
    free(s);
}

int cfg_find_point(const struct cfg_site *s, const char *id)
{
    for (int i = 0; i < s->n_points; i++)
        if (strcmp(s->points[i].id, id) == 0)
            return i;
    return -1;
}

int cfg_find_zone(const struct cfg_site *s, const char *id)
{
    for (int i = 0; i < s->n_zones; i++)
        if (strcmp(s->zones[i].id, id) == 0)
            return i;
    return -1;
}

int cfg_find_device(const struct cfg_site *s, const char *id)
{
    for (int i = 0; i < s->n_devices; i++)
        if (strcmp(s->devices[i].id, id) == 0)
            return i;
    return -1;
}

const char *cfg_kind_name(enum cfg_point_kind k)
{
    return (unsigned)k <= CFG_KIND_EOL ? kind_names[k] : "unknown";
}

const char *cfg_priority_name(enum cfg_priority p)
{
    return (unsigned)p <= CFG_PRIO_LOW ? priority_names[p] : "unknown";
}

/* FNV-1a, 64 bit. A site hash starts from the FNV offset basis and runs over
 * the config file's bytes, then each used profile's, in order of first use. */
uint64_t cfg_hash_bytes(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV64_PRIME;
    }
    return h;
}

struct cfg_profile *cfg_load_profile(const char *dir, const char *name, char *err, size_t errlen)
{
    struct cfg_site site = { 0 };
    struct cfg_profile *p = calloc(1, sizeof *p);
    char path[CFG_PATH_MAX + CFG_ID_MAX + 8];
    struct loader L = { .site = &site, .path = path, .err = err, .errlen = errlen };

    if (err && errlen)
        err[0] = '\0';
    snprintf(path, sizeof path, "%s/%s.conf", dir, name);
    snprintf(site.profile_dir, sizeof site.profile_dir, "%s", dir);
    if (!p || !id_valid(name)) {
        fail_plain(&L, p ? "profile name \"%s\" is not valid; expected A-Z a-z 0-9 _ -" : "out of memory", name);
        free(p);
        return NULL;
    }
    snprintf(p->name, sizeof p->name, "%s", name);
    if (!load_profile_file(&L, NULL, p)) {
        cfg_free_profile(p);
        return NULL;
    }
    return p;
}

void cfg_free_profile(struct cfg_profile *p)
{
    if (!p)
        return;
    free(p->inputs);
    free(p);
}

const char *cfg_default_profile_dir(void)
{
    return DEFAULT_PROFILE_DIR;
}
