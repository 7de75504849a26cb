/*
 * config.h - the site model: typed, validated configuration of a vigil site.
 *
 * config.c parses a libconfig file (and the device profiles it names) into
 * these structs and validates everything before anything starts. The structs
 * are plain data with no libconfig types, so the pure event core, the poller
 * and the simulator can all read them.
 *
 * Ownership: cfg_load() allocates one struct cfg_site; cfg_free() releases it
 * and every array and string inside. Indexes (device, bus, zone, point) are
 * positions in the arrays below and are stable for the life of the struct.
 */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_ID_MAX 48    /* ids: [A-Za-z0-9_-], 1..47 chars (alarm ids add ".type") */
#define CFG_TEXT_MAX 128 /* human names, descriptions */
#define CFG_PATH_MAX 256
#define CFG_MAX_BROKERS 2   /* primary and secondary path */
#define CFG_MAX_VERIFY 4    /* points that can confirm a fence alarm */
#define CFG_MAX_SCHEDULE 8  /* entries in one zone's arming schedule */
#define CFG_MAX_SENTINELS 4 /* readings a sensor sends instead of a value ("no sensor", "overflow") */

enum cfg_bus_type { CFG_BUS_TCP, CFG_BUS_RTU };

/* Modbus tables: coils FC1, discrete inputs FC2, holding FC3, input FC4. */
enum cfg_table { CFG_TABLE_COIL, CFG_TABLE_DISCRETE, CFG_TABLE_HOLDING, CFG_TABLE_INPUT };

/* How a profile input decodes from its table. */
enum cfg_format {
    CFG_FMT_BIT,    /* coil or discrete input: 0/1 */
    CFG_FMT_U16,    /* one register, unsigned */
    CFG_FMT_S16,    /* one register, two's complement */
    CFG_FMT_REGBIT, /* one bit (bit 0..15) of a register: status words */
    CFG_FMT_FIELD,  /* (register & mask) >> shift: a multi-bit field of a register */
    CFG_FMT_U32,    /* two registers, unsigned, in `order` */
    CFG_FMT_S32,    /* two registers, two's complement, in `order` */
    CFG_FMT_F32,    /* two registers, IEEE-754 single precision, in `order` */
};

/*
 * Byte order of a 32-bit value over two registers, the letters naming the
 * bytes of the value from most (A) to least (D) significant as they arrive:
 * ABCD is the Modbus convention (high word first), CDAB low word first,
 * BADC and DCBA the byte-swapped variants some gateways produce.
 */
enum cfg_word_order { CFG_ORDER_ABCD, CFG_ORDER_CDAB, CFG_ORDER_BADC, CFG_ORDER_DCBA };

enum cfg_point_kind {
    CFG_KIND_DOOR,        /* door contact: intrusion when armed, door_held */
    CFG_KIND_FENCE,       /* perimeter detector zone: perimeter, verified_intrusion */
    CFG_KIND_MOTION,      /* PIR / volumetric detector: intrusion when armed */
    CFG_KIND_CCTV,        /* CCTV trigger output (motion/analytics): cctv */
    CFG_KIND_TAMPER,      /* tamper loop / camera tamper: tamper, 24-hour */
    CFG_KIND_FAULT,       /* equipment fault bit (PIDS fault, video loss): fault, 24-hour */
    CFG_KIND_TEMPERATURE, /* deg C: temperature_high / temperature_low */
    CFG_KIND_HUMIDITY,    /* % RH: humidity_high / humidity_low */
    CFG_KIND_DIGITAL,     /* generic 0/1 input: digital */
    CFG_KIND_ANALOG,      /* generic analog: analog_high / analog_low */
    CFG_KIND_EOL,         /* supervised end-of-line loop read as analog: intrusion + tamper */
};

enum cfg_priority { CFG_PRIO_CRITICAL, CFG_PRIO_HIGH, CFG_PRIO_MEDIUM, CFG_PRIO_LOW };

struct cfg_broker {
    char uri[CFG_PATH_MAX];       /* tcp://127.0.0.1:1883, ssl://host:8883 ... */
    char client_id[CFG_ID_MAX * 2];
    char username[CFG_ID_MAX];
    char password[CFG_TEXT_MAX];  /* given, or read from password_file; never logged */
    char password_file[CFG_PATH_MAX];
    int keepalive_s;              /* default 10 */
    /* TLS (ssl://, mqtts://, wss:// only; docs/mqtt.md "TLS"); absolute paths. */
    char ca_file[CFG_PATH_MAX], ca_dir[CFG_PATH_MAX];
    char cert_file[CFG_PATH_MAX], key_file[CFG_PATH_MAX];
    int tls_version;              /* minimum; index into cfg_tls_version_names, default tls1.2 */
    bool verify_hostname;         /* default true */
    int line; const char *file;   /* where it was defined; file is valid while the site lives */
};

/* How events travel when two brokers are configured (docs/mqtt.md). */
enum cfg_mqtt_mode {
    CFG_MQTT_BOTH,                /* every message to every path */
    CFG_MQTT_FAILOVER,            /* to the primary; also to the secondary while the primary is down */
};

struct cfg_mqtt {
    char prefix[CFG_ID_MAX];      /* default "vigil" */
    struct cfg_broker brokers[CFG_MAX_BROKERS];
    int n_brokers;                /* 1 or 2 */
    int heartbeat_s;              /* status refresh; default 60, min 20 */
    int max_buffered;             /* paho offline buffer per path, messages; default 50000, at most 60000 */
    enum cfg_mqtt_mode mode;      /* default both */
    int path_fault_s;             /* a path down this long raises path_fault; default 60, min 5 */
    int self_test_s;              /* periodic self_test event; default 86400, 0 off, else min 60 */
    int cmd_max_age_s;            /* commands with an older (or future) "ts" are refused; default 120 */
};

struct cfg_bus {
    char id[CFG_ID_MAX];
    enum cfg_bus_type type;
    /* TCP */
    char host[CFG_TEXT_MAX];
    int port;
    /* RTU */
    char device[CFG_PATH_MAX];
    int baud;
    char parity;                  /* 'N', 'E', 'O' */
    int data_bits, stop_bits;
    int line; const char *file;   /* where it was defined, for later messages */
};

/* One named input of a profile, e.g. "di3" or "temperature". */
struct cfg_input {
    char name[CFG_ID_MAX];
    enum cfg_table table;
    int address;                  /* 0-based PDU address */
    enum cfg_format format;
    int bit;                      /* CFG_FMT_REGBIT only */
    int mask;                     /* CFG_FMT_FIELD only: the field's bits, 1..0xFFFF */
    int shift;                    /* CFG_FMT_FIELD only: right shift, default the mask's lowest bit */
    enum cfg_word_order order;    /* 32-bit formats only; default ABCD */
    char unit[16];                /* engineering unit for people ("degC", "%RH"); may be empty */
    double scale;                 /* engineering = raw * scale + offset; default 1 */
    double offset;
};

struct cfg_profile {
    char name[CFG_ID_MAX];
    char description[CFG_TEXT_MAX];
    struct cfg_input *inputs;
    int n_inputs;
};

struct cfg_device {
    char id[CFG_ID_MAX];
    char name[CFG_TEXT_MAX];
    int bus;                      /* index into site->buses */
    int unit;                     /* Modbus unit id 0..247 (TCP gateways may use 255) */
    int profile;                  /* index into site->profiles */
    int poll_ms;                  /* default 100 */
    int timeout_ms;               /* response timeout, default 300 */
    int fail_count;               /* failures before comm_loss, default 3 */
    int fail_ms;                  /* or this long without an answer, default 2000 */
    enum cfg_priority comm_priority; /* priority of its comm_loss alarm, default high */
    int line; const char *file;
};

/* Windows of a supervised end-of-line loop, in the point's engineering unit. */
struct cfg_eol {
    double normal_lo, normal_hi;
    double alarm_lo, alarm_hi;
    double short_lo, short_hi;    /* wire_short: loop shorted */
    double cut_lo, cut_hi;        /* wire_cut: loop cut */
};

/* The limits of an analog point (temperature, humidity, analog). */
struct cfg_analog {
    double high, low, deadband;   /* thresholds; NAN means not set */
    /* readings outside [valid_min, valid_max] (NAN: no bound) or equal to a
     * sentinel are not values: they raise sensor_fault */
    double valid_min, valid_max;
    /* a new reading reaches the core (and the journal) only when it moved
     * this far from the last one reported, or crossed a limit; 0: every change */
    double report_deadband;
    double sentinels[CFG_MAX_SENTINELS];
    int n_sentinels;
};

/*
 * A site may have tens of thousands of points, most of them contacts: the
 * ids and names live in site->strings, and the limits and the loop windows
 * only the analog and eol kinds have are kept apart (site->analogs,
 * site->eols), so a contact takes 128 bytes.
 */
struct cfg_point {
    const char *id;               /* at most CFG_ID_MAX - 1 chars, in site->strings */
    const char *name;             /* at most CFG_TEXT_MAX - 1 chars, in site->strings; "" when none */
    int device;                   /* index into site->devices */
    int input;                    /* index into the device profile's inputs */
    enum cfg_point_kind kind;
    int zone;                     /* index into site->zones; -1 none */
    enum cfg_priority priority;   /* of its main alarm; default by kind */
    bool invert;                  /* digital: 1 means normal (normally-closed contact) */
    bool entry_route;             /* motion/eol: waits for the entry delay a door of its zone started */
    double scale, offset;         /* applied after the profile's */
    int debounce_ms;              /* digital: input must be stable this long; default 0 */
    int on_delay_ms;              /* condition must hold this long before alarm */
    int off_delay_ms;             /* condition must be gone this long before clear */
    int held_open_ms;             /* door: door_held after this long open; 0 off */
    struct cfg_analog *analog;    /* temperature, humidity, analog: in site->analogs; NULL for other kinds */
    struct cfg_eol *eol;          /* CFG_KIND_EOL: in site->eols; NULL for other kinds */
    int verify[CFG_MAX_VERIFY];   /* fence: point indexes that confirm it */
    int n_verify;
    int verify_window_ms;         /* default 30000 */
    int line; const char *file;
};

/*
 * One entry of a zone's arming schedule (see schedule.h). Times are minutes
 * after local midnight in site->timezone, -1 where the entry does not take
 * that action; each fires on the days in `days`.
 */
struct cfg_schedule {
    int arm_min;                  /* 0..1439 or -1 */
    int disarm_min;               /* 0..1439 or -1 */
    unsigned days;                /* bit n = weekday n, 0 = Sunday (as struct tm's tm_wday); default all */
    int line;
};

struct cfg_zone {
    char id[CFG_ID_MAX];
    char name[CFG_TEXT_MAX];
    bool armed;                   /* initial state on first start; default true */
    bool always_armed;            /* a 24-hour zone: cannot be disarmed */
    int entry_delay_ms;           /* door alarms wait this long for a disarm; default 0 */
    int exit_delay_ms;            /* after arming, activations wait this long; default 0 */
    int line; const char *file;
    struct cfg_schedule schedule[CFG_MAX_SCHEDULE]; /* arm/disarm by local time; none by default */
    int n_schedule;
};

struct cfg_rules {
    int chatter_count;            /* activations ... default 3 */
    int chatter_window_ms;        /* ... within this window flag chattering; default 60000 */
    int default_verify_window_ms; /* default 30000 */
    int flood_count;              /* more new alarms than this ... default 10 */
    int flood_window_ms;          /* ... within this window raise alarm_flood; default 600000 */
    int max_shelve_ms[4];         /* per enum cfg_priority: longest shelve; default 1 h, 4 h, 24 h, 24 h */
    bool comm_loss_latching;      /* comm_loss stays until acknowledged; default true */
};

/* The local output a missed receipt switches on: a siren or relay on site. */
struct cfg_local_output {
    bool enabled;                 /* receipts.local_output is present */
    int device;                   /* index into site->devices */
    int input;                    /* index into the device profile's inputs: a coil, or a u16/s16 holding register */
    int on;                       /* value written to switch it on (coil: 1); off writes 0 */
    unsigned priorities;          /* bit n: a missed receipt of priority n switches it on; default critical */
    int line; const char *file;
};

/* End-to-end acknowledgement by the central station (docs/mqtt.md, "Receipts"). */
struct cfg_receipts {
    bool enabled;                 /* the receipts group is present */
    unsigned priorities;          /* bit n (enum cfg_priority): events of priority n wait for a receipt */
    int timeout_ms;               /* timeout_s: re-publish when no receipt came this long; default 30 s */
    int max_retries;              /* re-publications per event; default 0: no limit */
    struct cfg_local_output local_output;
};

#define CFG_MAX_SHIFTS 8     /* guard shifts a day, for the influx "shift" tag */

enum cfg_influx_api { CFG_INFLUX_V1, CFG_INFLUX_V2 };

/* Telemetry to InfluxDB (docs/influx.md): the optional influx group. */
struct cfg_influx {
    bool enabled;                 /* the influx group is present */
    char url[CFG_PATH_MAX];       /* http://host:8086, without a path */
    enum cfg_influx_api api;      /* v1: /write (database, rp, user); v2: /api/v2/write (org, bucket, token) */
    char database[CFG_TEXT_MAX];  /* v1 */
    char retention_policy[CFG_TEXT_MAX]; /* v1; "" for the database's default */
    char username[CFG_TEXT_MAX];  /* v1; "" without authentication */
    char password[CFG_TEXT_MAX];  /* v1; secret: never logged */
    char org[CFG_TEXT_MAX];       /* v2 */
    char bucket[CFG_TEXT_MAX];    /* v2 */
    char token[CFG_PATH_MAX];     /* v2; secret: never logged */
    bool gzip;                    /* Content-Encoding: gzip; default true */
    int batch_lines;              /* a batch is sent at this many lines ... default 5000 */
    int batch_ms;                 /* ... or when its oldest line is this old; default 1 s */
    int max_lines;                /* buffered lines while InfluxDB is away; the oldest go beyond; default 200000 */
    int max_bytes;                /* ... and buffered bytes; default 32 MiB */
    int timeout_ms;               /* one HTTP request; default 15 s */
    double deadband;              /* analog points: a change smaller than this is not written ... */
    int refresh_ms;               /* ... unless the last write is this old; default 60 s */
    int health_ms;                /* gateway health period; default 10 s */
    int shift_min[CFG_MAX_SHIFTS]; /* guard shift starts, minutes after local midnight, ascending */
    int n_shifts;                 /* default 3: 06:00, 14:00, 22:00 */
    int line; const char *file;
};

/* Who may command the site (docs/commands.md). */
/* NONE: a command of a site without operators, or of the site's own schedule: no role applies. */
enum cfg_role { CFG_ROLE_NONE, CFG_ROLE_GUARD, CFG_ROLE_OFFICER, CFG_ROLE_ENGINEER, CFG_ROLE_AUDITOR };

#define CFG_KEY_BYTES 32          /* an Ed25519 public key */

struct cfg_operator {
    char name[CFG_ID_MAX];
    enum cfg_role role;
    char key_b64[64];             /* as written in the config */
    unsigned char key[CFG_KEY_BYTES];
    int line; const char *file;
};

struct cfg_site {
    char id[CFG_ID_MAX];          /* site id, used in topics */
    char name[CFG_TEXT_MAX];
    char timezone[CFG_ID_MAX];    /* IANA name, default "UTC"; checked against the tz database */
    char state_dir[CFG_PATH_MAX]; /* seq, journal, MQTT store; default /var/lib/vigil */
    int state_max_mb;             /* size budget of state_dir (journal + MQTT stores), MiB; 0: none */
    char points_socket[CFG_PATH_MAX]; /* the live points view (points_sink.h); "": <state_dir>/points.sock */
    int journal_retention_days;   /* journal segments older than this go; default and minimum 30 */
    char profile_dir[CFG_PATH_MAX];
    char signing_key[CFG_PATH_MAX]; /* the gateway's Ed25519 secret key file; "": payloads unsigned */
    struct cfg_mqtt mqtt;
    struct cfg_rules rules;
    struct cfg_receipts receipts;
    struct cfg_influx influx;
    struct cfg_bus *buses;       int n_buses;
    struct cfg_profile *profiles; int n_profiles;
    struct cfg_device *devices;  int n_devices;
    struct cfg_zone *zones;      int n_zones;
    struct cfg_point *points;    int n_points;
    struct cfg_analog *analogs;  int n_analogs; /* the points' analog limits, in point order */
    struct cfg_eol *eols;        int n_eols;    /* the eol points' windows, in point order */
    struct cfg_operator *operators; int n_operators; /* none: unsigned commands are accepted */
    char *strings;               /* owns the file names, point ids and point names the structs point to */
    uint64_t hash;               /* cfg_hash_bytes of the config file and its profiles */
};

/*
 * Loads and validates a site config. On success returns the site (free it
 * with cfg_free). On failure returns NULL and writes every error, one per
 * line as "file:line: what is wrong; what is expected", into err (truncated
 * to errlen). profile_dir overrides the config's profile_dir when non-NULL.
 */
struct cfg_site *cfg_load(const char *path, const char *profile_dir, char *err, size_t errlen);

/* "guard", "officer", "engineer", "auditor"; "none" for CFG_ROLE_NONE. */
const char *cfg_role_name(enum cfg_role r);

/* Index of the operator named name, or -1. */
int cfg_find_operator(const struct cfg_site *s, const char *name);

/* Where the installed profiles live (PREFIX/share/vigil/profiles, fixed at build time). */
const char *cfg_default_profile_dir(void);
void cfg_free(struct cfg_site *site);

/*
 * Loads and validates one device profile, <dir>/<name>.conf, on its own (for
 * `vigilctl probe --profile`). Returns the profile (free it with
 * cfg_free_profile) or NULL with every error in err, as cfg_load does.
 */
struct cfg_profile *cfg_load_profile(const char *dir, const char *name, char *err, size_t errlen);
void cfg_free_profile(struct cfg_profile *p);

/* Lookups by id; return the index or -1. */
int cfg_find_point(const struct cfg_site *s, const char *id);
int cfg_find_zone(const struct cfg_site *s, const char *id);
int cfg_find_device(const struct cfg_site *s, const char *id);

/* Names for enums, as written in config files and JSON. */
const char *cfg_kind_name(enum cfg_point_kind k);
const char *cfg_priority_name(enum cfg_priority p);

/*
 * A 64-bit FNV-1a hash of the file's bytes and its profiles', so a journal
 * can name the config it was recorded under. Pure: hashes the given bytes.
 */
uint64_t cfg_hash_bytes(uint64_t h, const void *data, size_t len);

#endif
