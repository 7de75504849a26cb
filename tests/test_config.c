/*
 * test_config.c - the site config loader: shipped configs load, defaults
 * are the documented ones, and every kind of mistake is reported at the
 * right file and line with a hint at the fix.
 *
 * Bad configs are written from the strings below into a temporary
 * directory. In each, the line the error must point at carries the marker
 * comment "#<" (and "#1" marks a first definition), so the expected line
 * number is read from the text itself instead of being counted by hand.
 * Run from the repository top, or with VIGIL_TOP set to it.
 */
#include "cfgcheck.h"
#include "config.h"
#include "harness.h"

#include <grp.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERR_MAX 16384
#define PATH_MAX_T 1024
#define MAX_TEMP_FILES 128

static char top[PATH_MAX_T / 2];
static char profiles[PATH_MAX_T];
static char tmpdir[PATH_MAX_T / 2];
static char temp_files[MAX_TEMP_FILES][PATH_MAX_T];
static int n_temp_files;
static char err[ERR_MAX];

/* ---- fixtures --------------------------------------------------------- */

#define SITE "site = { id = \"t\"; };\n"
#define MQTT "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; } ); };\n"
#define BUS "buses = ( { id = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; port = 1502; } );\n"
#define DEVS                                                                        \
    "devices = ( { id = \"io\"; bus = \"lan\"; unit = 1; profile = \"din16\"; },\n" \
    "            { id = \"th\"; bus = \"lan\"; unit = 2; profile = \"th-rs485\"; },\n" \
    "            { id = \"ai\"; bus = \"lan\"; unit = 3; profile = \"ai8\"; } );\n"
#define ZONES "zones = ( { id = \"z1\"; } );\n"
#define HEAD SITE MQTT BUS DEVS ZONES
#define POINT(extra) "points = ( { id = \"door\"; device = \"io\"; input = \"di1\"; kind = \"door\";" extra

/* Registers `name` in the temp directory for removal at the end (a file,
 * FIFO or symlink, or an empty directory registered before its contents);
 * returns its path (static storage, valid until the end of the run). */
static const char *temp_path(const char *name)
{
    if (n_temp_files == MAX_TEMP_FILES) {
        fprintf(stderr, "too many temp files\n");
        exit(2);
    }
    char *path = temp_files[n_temp_files++];
    snprintf(path, PATH_MAX_T, "%s/%s", tmpdir, name);
    return path;
}

/* Writes len bytes (NULs included) to a temp file named `name`. */
static const char *write_temp_bytes(const char *name, const char *text, size_t len)
{
    const char *path = temp_path(name);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    return path;
}

static const char *write_temp(const char *name, const char *text)
{
    return write_temp_bytes(name, text, strlen(text));
}

/* The 1-based line of text holding `marker`, or 0 if there is none. */
static int marker_line(const char *text, const char *marker)
{
    const char *hit = strstr(text, marker);
    if (!hit)
        return 0;
    int line = 1;
    for (const char *p = text; p < hit; p++)
        line += *p == '\n';
    return line;
}

/* True if err holds a line that starts with "file:line: " and contains want. */
static bool has_error(const char *errors, const char *file, int line, const char *want)
{
    char prefix[PATH_MAX_T + 32];
    snprintf(prefix, sizeof prefix, "%s:%d: ", file, line);
    for (const char *p = errors; *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char one[2048];
        snprintf(one, sizeof one, "%.*s", (int)len, p);
        if (strncmp(one, prefix, strlen(prefix)) == 0 && strstr(one, want))
            return true;
        p += len + (end != NULL);
    }
    return false;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Loads text as a config that must fail; returns its path. */
static const char *load_bad(const char *name, const char *text)
{
    const char *path = write_temp(name, text);
    struct cfg_site *s = cfg_load(path, profiles, err, sizeof err);
    EXPECT(s == NULL, "%s: loaded although it is invalid", name);
    cfg_free(s);
    return path;
}

/* ---- bad configs: one mistake each ------------------------------------ */

struct bad_case {
    const char *name;
    const char *text;  /* "#<" marks the line the error must name */
    const char *want;  /* substring of that error line */
};

static const struct bad_case bad_cases[] = {
    { "unknown key in a point",
      HEAD POINT("\n  held_open = 5; } );  #<\n"),
      "point \"door\": unknown key \"held_open\"; expected one of: id, name, device, input, kind" },
    { "unknown top-level key",
      HEAD POINT(" } );\nalarms = 5;  #<\n"),
      "unknown key \"alarms\"; expected one of: site, mqtt, rules, buses, devices, zones, points" },
    { "wrong type",
      SITE MQTT BUS
      "devices = ( { id = \"io\"; bus = \"lan\"; unit = 1; profile = \"din16\";\n"
      "  poll_ms = \"fast\"; } );  #<\n",
      "device \"io\": poll_ms is a string; expected an integer 10..3600000" },
    { "wrong type of a group",
      HEAD "rules = 5;  #<\n",
      "rules is an integer; expected a group { ... }" },
    { "dangling device",
      HEAD "points = ( { id = \"door\"; input = \"di1\"; kind = \"door\";\n"
      "  device = \"io9\"; } );  #<\n",
      "point \"door\": device \"io9\" does not exist; define it under devices or fix the name" },
    { "dangling bus",
      SITE MQTT BUS "devices = ( { id = \"io\"; unit = 1; profile = \"din16\";\n"
      "  bus = \"wan\"; } );  #<\n",
      "device \"io\": bus \"wan\" does not exist; define it under buses or fix the name" },
    { "dangling zone",
      HEAD POINT("\n  zone = \"z9\"; } );  #<\n"),
      "point \"door\": zone \"z9\" does not exist; define it under zones or fix the name" },
    { "dangling profile",
      SITE MQTT BUS "devices = ( { id = \"io\"; bus = \"lan\"; unit = 1;\n"
      "  profile = \"din99\"; } );  #<\n",
      "device \"io\": profile \"din99\" does not exist" },
    { "dangling input",
      HEAD "points = ( { id = \"door\"; device = \"io\"; kind = \"door\";\n"
      "  input = \"di17\"; } );  #<\n",
      "point \"door\": input \"di17\" is not an input of profile \"din16\" (device \"io\"); "
      "expected one of: di1, di2, di3" },
    { "dangling verify_with",
      HEAD "points = ( { id = \"f1\"; device = \"io\"; input = \"di1\"; kind = \"fence\";\n"
      "  verify_with = [ \"cam9\" ]; } );  #<\n",
      "point \"f1\": verify_with point \"cam9\" does not exist; define it under points or fix the name" },
    { "unit 300",
      SITE MQTT BUS "devices = ( { id = \"io\"; bus = \"lan\"; profile = \"din16\";\n"
      "  unit = 300; } );  #<\n",
      "device \"io\": unit 300 is out of range; expected 0..247" },
    { "unit 255 on an rtu bus",
      SITE MQTT "buses = ( { id = \"rs\"; type = \"rtu\"; device = \"/dev/ttyUSB0\"; } );\n"
      "devices = ( { id = \"io\"; bus = \"rs\"; profile = \"din16\";\n"
      "  unit = 255; } );  #<\n",
      "device \"io\": unit 255 is out of range; expected 0..247 (255 only on a tcp bus)" },
    { "poll_ms 0",
      SITE MQTT BUS "devices = ( { id = \"io\"; bus = \"lan\"; unit = 1; profile = \"din16\";\n"
      "  poll_ms = 0; } );  #<\n",
      "device \"io\": poll_ms 0 is out of range; expected 10..3600000" },
    { "bad parity",
      SITE MQTT "buses = ( { id = \"rs\"; type = \"rtu\"; device = \"/dev/ttyUSB0\";\n"
      "  parity = \"X\"; } );  #<\n",
      "bus \"rs\": parity \"X\" is not valid; expected one of: N, E, O" },
    { "non-standard baud",
      SITE MQTT "buses = ( { id = \"rs\"; type = \"rtu\"; device = \"/dev/ttyUSB0\";\n"
      "  baud = 9601; } );  #<\n",
      "bus \"rs\": baud 9601 is not a standard rate; expected one of 1200, 2400" },
    { "tcp key on an rtu bus",
      SITE MQTT "buses = ( { id = \"rs\"; type = \"rtu\"; device = \"/dev/ttyUSB0\";\n"
      "  port = 502; } );  #<\n",
      "bus \"rs\": port applies to tcp buses only; expected type = \"tcp\" or no port" },
    { "overlapping eol windows",
      HEAD "points = ( { id = \"loop\"; device = \"ai\"; input = \"ai1\"; kind = \"eol\";\n"
      "  eol = { normal = [ 900.0, 1100.0 ];\n"
      "          alarm = [ 1000.0, 2100.0 ];  #<\n"
      "          short = [ 0.0, 100.0 ]; cut = [ 5000.0, 65535.0 ]; }; } );\n",
      "point \"loop\": eol windows normal [900, 1100] and alarm [1000, 2100] overlap; "
      "expected disjoint windows" },
    { "eol window lo > hi",
      HEAD "points = ( { id = \"loop\"; device = \"ai\"; input = \"ai1\"; kind = \"eol\";\n"
      "  eol = { normal = [ 1100.0, 900.0 ];  #<\n"
      "          alarm = [ 1900.0, 2100.0 ]; short = [ 0.0, 100.0 ]; cut = [ 5000.0, 65535.0 ]; }; } );\n",
      "point \"loop\": normal [1100, 900] has lo > hi; expected [lo, hi] with lo <= hi" },
    { "missing required key",
      SITE MQTT BUS
      "devices = ( { id = \"io\"; bus = \"lan\"; profile = \"din16\"; } );  #<\n",
      "device \"io\": missing required key \"unit\"; expected unit = an integer 0..247" },
    { "missing broker",
      SITE "mqtt = { prefix = \"vigil\"; };  #<\n",
      "mqtt: missing required key \"brokers\"; expected brokers = a list ( ... )" },
    { "duplicate id",
      HEAD "points = ( { id = \"door\"; device = \"io\"; input = \"di1\"; kind = \"door\"; },  #1\n"
      "  { id = \"door\"; device = \"io\"; input = \"di2\"; kind = \"door\"; } );  #<\n",
      "point \"door\": duplicate point id \"door\", first defined at " },
    { "duplicate unit on a bus",
      SITE MQTT BUS "devices = ( { id = \"a\"; bus = \"lan\"; unit = 1; profile = \"din16\"; },  #1\n"
      "  { id = \"b\"; bus = \"lan\"; profile = \"din16\";\n"
      "    unit = 1; } );  #<\n",
      "device \"b\": unit 1 on bus \"lan\" is already used by device \"a\" (" },
    { "id with a dot",
      "site = { id = \"depot.north\"; };  #<\n" MQTT,
      "site: id \"depot.north\" is not a valid id; expected 1..47 characters of A-Z a-z 0-9 _ -" },
    { "heartbeat too short",
      SITE "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; } );\n"
      "  heartbeat_s = 5; };  #<\n",
      "mqtt: heartbeat_s 5 is out of range; expected 20..86400" },
    { "max_buffered beyond what the MQTT client can buffer",
      SITE "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; } );\n"
      "  max_buffered = 70000; };  #<\n",
      "mqtt: max_buffered 70000 is out of range; expected 100..60000" },
    { "unknown mqtt mode",
      SITE "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; } );\n"
      "  mode = \"sometimes\"; };  #<\n",
      "mqtt: mode \"sometimes\" is not valid; expected one of: both, failover" },
    { "TLS uri without a CA",
      SITE "mqtt = { brokers = ( { uri = \"ssl://cms.example.net:8883\"; } ); };  #<\n",
      "mqtt broker #1: uri \"ssl://cms.example.net:8883\" is TLS but the broker has no ca_file or ca_dir; expected "
      "ca_file = \"/etc/vigil/tls/ca.crt\"" },
    { "TLS keys on a plain uri",
      SITE "mqtt = { brokers = ( { uri = \"tcp://cms.example.net:1883\";\n"
      "  ca_file = \"/etc/vigil/tls/ca.crt\"; } ); };  #<\n",
      "mqtt broker #1: ca_file is set but uri \"tcp://cms.example.net:1883\" is not TLS; expected an ssl:// or "
      "mqtts:// uri, or no TLS keys" },
    { "client certificate without its key",
      SITE "mqtt = { brokers = ( { uri = \"mqtts://cms.example.net\"; ca_file = \"/nonexistent/ca.crt\";"
      " cert_file = \"/nonexistent/gw.crt\"; } ); };  #<\n",
      "mqtt broker #1: mqtt broker has cert_file without key_file; expected both" },
    { "password and password_file",
      SITE "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; username = \"gw\";\n"
      "  password = \"x\"; password_file = \"/nonexistent/pw\"; } ); };  #<\n",
      "mqtt broker #1: password and password_file are both set; expected password_file alone" },
    { "relative CA path",
      SITE "mqtt = { brokers = ( { uri = \"ssl://cms.example.net:8883\";\n"
      "  ca_file = \"tls/ca.crt\"; } ); };  #<\n",
      "mqtt broker #1: ca_file \"tls/ca.crt\" is relative; expected an absolute path" },
    { "tls_version below the floor",
      SITE "mqtt = { brokers = ( { uri = \"ssl://cms.example.net:8883\"; ca_file = \"/nonexistent/ca.crt\";\n"
      "  tls_version = \"tls1.1\"; } ); };  #<\n",
      "mqtt broker #1: tls_version \"tls1.1\" is not valid; expected one of: tls1.2" },
    { "path_fault_s too short",
      SITE "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; } );\n"
      "  path_fault_s = 1; };  #<\n",
      "mqtt: path_fault_s 1 is out of range; expected 5..86400" },
    { "self_test_s between off and a minute",
      SITE "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; } );\n"
      "  self_test_s = 30; };  #<\n",
      "mqtt: self_test_s 30 is out of range; expected 0 (off) or 60..2592000 seconds" },
    { "local output on an unknown device",
      HEAD "receipts = { priorities = [ \"critical\" ];\n"
      "  local_output = { output = \"do1\";\n"
      "    device = \"siren9\"; }; };  #<\n",
      "receipts.local_output: device \"siren9\" does not exist; define it under devices or fix the name" },
    { "operator key that is not an Ed25519 public key",
      HEAD "operators = ( { name = \"guard-ana\"; role = \"guard\";\n"
      "  key = \"c2hvcnQ=\"; } );  #<\n",
      "key of operator \"guard-ana\" is not a base64 Ed25519 public key (32 bytes); expected the line "
      "`vigilctl key new guard-ana` prints" },
    { "operator role that does not exist",
      HEAD "operators = ( { name = \"x\"; key = \"A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\";\n"
      "  role = \"admin\"; } );  #<\n",
      "role" },
    { "operator named twice",
      HEAD "operators = ( { name = \"x\"; role = \"guard\"; key = \"A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\"; },  #1\n"
      "  { name = \"x\"; role = \"officer\"; key = \"A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\"; } );  #<\n",
      "duplicate operator id \"x\", first defined at" },
    { "influx url that is not HTTP",
      HEAD "influx = { database = \"vigil\";\n"
      "  url = \"tcp://127.0.0.1:8086\"; };  #<\n",
      "influx: url \"tcp://127.0.0.1:8086\" is not an HTTP URL; expected \"http://host:8086\"" },
    { "broker uri with credentials",
      SITE "mqtt = { brokers = ( { uri = \"tcp://depot:pw@127.0.0.1:1883\"; } ); };  #<\n" BUS DEVS ZONES POINT(" } );\n"),
      "mqtt broker #1: uri has credentials in it; expected them in username and password, which are never logged" },
    { "influx url with credentials",
      HEAD "influx = { database = \"vigil\";\n"
      "  url = \"http://vigil:pw@127.0.0.1:8086\"; };  #<\n",
      "influx: url has credentials in it; expected them in username and password (v1) or token (v2)" },
    { "influx v1 without a database",
      HEAD "influx = {  #<\n"
      "  url = \"http://127.0.0.1:8086\"; username = \"vigil\"; };\n",
      "influx: missing database; expected database = \"...\" (the InfluxDB 1.x database)" },
    { "influx token under api v1",
      HEAD "influx = { url = \"http://127.0.0.1:8086\"; database = \"vigil\";\n"
      "  token = \"abc\"; };  #<\n",
      "influx: token is for api = \"v2\"; expected it removed or api changed" },
    { "influx shifts out of order",
      HEAD "influx = { url = \"http://127.0.0.1:8086\"; database = \"vigil\";\n"
      "  shifts = [ \"14:00\", \"06:00\" ]; };  #<\n",
      "influx: shifts entry 2 (06:00) is not after the one before; expected start times in ascending order" },
    { "negative delay",
      HEAD POINT("\n  on_delay_s = -1; } );  #<\n"),
      "point \"door\": on_delay_s -1 is out of range; expected 0..86400" },
    { "analog kind on a bit input",
      HEAD "points = ( { id = \"t\"; device = \"io\"; kind = \"temperature\";\n"
      "  input = \"di1\"; } );  #<\n",
      "point \"t\": kind \"temperature\" needs an analog input but input \"di1\" of profile \"din16\" "
      "is a single bit; expected a u16, s16, field, u32, s32 or f32 register input" },
    { "digital kind on a register input",
      HEAD "points = ( { id = \"d\"; device = \"ai\"; kind = \"door\";\n"
      "  input = \"ai1\"; } );  #<\n",
      "point \"d\": kind \"door\" needs a bit input but input \"ai1\" of profile \"ai8\" is a u16 register" },
    { "held_open_s on a fence",
      HEAD "points = ( { id = \"f\"; device = \"io\"; input = \"di1\"; kind = \"fence\";\n"
      "  held_open_s = 60; } );  #<\n",
      "point \"f\": held_open_s does not apply to a fence point; expected it only on door points" },
    { "verify_with on a door",
      HEAD "points = ( { id = \"c\"; device = \"io\"; input = \"di2\"; kind = \"cctv\"; },\n"
      "  { id = \"d\"; device = \"io\"; input = \"di1\"; kind = \"door\";\n"
      "    verify_with = [ \"c\" ]; } );  #<\n",
      "point \"d\": verify_with does not apply to a door point; expected it only on fence points" },
    { "high not above low",
      HEAD "points = ( { id = \"t\"; device = \"th\"; input = \"temperature\"; kind = \"temperature\";\n"
      "  high = 10.0; low = 20.0; } );  #<\n",
      "point \"t\": high 10 is not above low 20; expected high > low" },
    { "negative deadband",
      HEAD "points = ( { id = \"t\"; device = \"th\"; input = \"temperature\"; kind = \"temperature\";\n"
      "  deadband = -1.0; } );  #<\n",
      "point \"t\": deadband -1 is out of range; expected 0..1e+09" },
    { "valid range upside down",
      HEAD "points = ( { id = \"t\"; device = \"th\"; input = \"temperature\"; kind = \"temperature\";\n"
      "  valid_min = 85.0;\n  valid_max = -40.0; } );  #<\n",
      "point \"t\": valid_max -40 is not above valid_min 85; expected valid_max > valid_min" },
    { "sentinel not a number",
      HEAD "points = ( { id = \"t\"; device = \"th\"; input = \"temperature\"; kind = \"temperature\";\n"
      "  sentinels = [ \"none\" ]; } );  #<\n",
      "point \"t\": sentinels entry 1 is not a number; expected readings in the point's unit" },
    { "entry_route on a door",
      HEAD "points = ( { id = \"d\"; device = \"io\"; input = \"di1\"; kind = \"door\";\n"
      "  entry_route = true; } );  #<\n",
      "point \"d\": entry_route does not apply to a door point; expected it only on motion and eol points" },
    { "integer too big for libconfig",
      SITE MQTT BUS "devices = ( { id = \"io\"; bus = \"lan\"; unit = 1; profile = \"din16\";\n"
      "  poll_ms = 4294967396; } );  #<\n",
      "integer 4294967396 does not fit in 32 bits and would be silently wrapped; expected" },
    { "two brokers with the same uri and client id",
      SITE "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; client_id = \"gw\"; },  #1\n"
      "  { uri = \"tcp://127.0.0.1:1883\"; client_id = \"gw\"; } ); };  #<\n" BUS DEVS ZONES,
      "mqtt broker #2 has the same uri \"tcp://127.0.0.1:1883\" and client_id \"gw\" as broker #1" },
    { "broker port 0",
      SITE "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:0\"; } ); };  #<\n" BUS DEVS ZONES,
      "uri \"tcp://127.0.0.1:0\" has a port out of range; expected a port 1..65535" },
    { "broker port 99999",
      SITE "mqtt = { brokers = ( { uri = \"ssl://[::1]:99999/x\"; } ); };  #<\n" BUS DEVS ZONES,
      "uri \"ssl://[::1]:99999/x\" has a port out of range; expected a port 1..65535" },
    { "state_dir empty",
      "site = { id = \"t\"; state_dir = \"\"; };  #<\n" MQTT BUS DEVS ZONES,
      "site: state_dir is empty; expected an absolute directory path" },
    { "state_dir relative",
      "site = { id = \"t\"; state_dir = \"var/vigil\"; };  #<\n" MQTT BUS DEVS ZONES,
      "site: state_dir \"var/vigil\" is relative; expected an absolute path" },
    { "points_socket relative",
      "site = { id = \"t\"; points_socket = \"points.sock\"; };  #<\n" MQTT BUS DEVS ZONES,
      "site: points_socket \"points.sock\" is not absolute; expected an absolute path" },
    { "points_socket too long for a UNIX socket",
      "site = { id = \"t\"; points_socket = \"/" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "\"; };  #<\n" MQTT BUS DEVS ZONES,
      "is 112 bytes long; expected an absolute path of at most 107 bytes" },
    { "state_dir not a directory",
      "site = { id = \"t\"; state_dir = \"/dev/null\"; };  #<\n" MQTT BUS DEVS ZONES,
      "site: state_dir \"/dev/null\" exists and is not a directory; expected a directory" },
    { "two points on one input",
      HEAD "points = ( { id = \"door\"; device = \"io\"; input = \"di1\"; kind = \"door\"; },  #1\n"
      "  { id = \"door2\"; device = \"io\"; input = \"di1\"; kind = \"door\"; } );  #<\n",
      "point \"door2\": input \"di1\" of device \"io\" is already read by point \"door\"" },
    { "name not UTF-8",
      SITE MQTT BUS DEVS "zones = ( { id = \"z2\"; name = \"Skladi\xb9te\"; } );  #<\n",
      "zone \"z2\": name is not valid UTF-8 (byte 0xb9 at position 6); expected UTF-8 text" },
    { "parse error",
      HEAD "points = ( { id = \"door\"; device = \"io\"; input = \"di1\";\n"
      "  kind = ; } );  #<\n",
      "syntax error; expected valid libconfig syntax" },
};

/* Every bad config fails, and its error names the marked line of the file
 * and says what is expected. */
static void bad_configs_report_file_line_and_fix(void)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const struct bad_case *c = &bad_cases[i];
        char name[32];
        snprintf(name, sizeof name, "bad%zu.conf", i);
        int line = marker_line(c->text, "#<");
        int first = marker_line(c->text, "#1");
        const char *path = load_bad(name, c->text);
        EXPECT(line > 0, "%s: fixture has no #< marker", c->name);
        EXPECT(has_error(err, path, line, c->want), "%s: want \"%s:%d: ...%s\", got:\n%s", c->name, path,
               line, c->want, err);
        if (first) {
            char where[PATH_MAX_T + 16];
            snprintf(where, sizeof where, "%s:%d", path, first);
            EXPECT(strstr(err, where) != NULL, "%s: first definition %s not named in:\n%s", c->name, where,
                   err);
        }
    }
}

/* A file that cannot be read is named with the system's reason. */
static void missing_file_is_reported(void)
{
    char path[PATH_MAX_T];
    snprintf(path, sizeof path, "%s/no-such-site.conf", tmpdir);
    struct cfg_site *s = cfg_load(path, profiles, err, sizeof err);
    char want[PATH_MAX_T + 128];
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory; expected a readable regular "
             "config file\n", path);
    EXPECT(s == NULL, "loaded a missing file");
    EXPECT_STR(err, want);
}

/* One load reports every mistake, not just the first. */
static void all_errors_in_one_load(void)
{
    static const char text[] =
        SITE MQTT BUS
        "devices = ( { id = \"io\"; bus = \"lan\"; profile = \"din16\";\n"
        "  unit = 300; } );  #unit\n"
        "zones = ( { id = \"z1\";\n"
        "  entry_delay = 5; } );  #zone\n"
        "points = ( { id = \"door\"; device = \"io\"; input = \"di1\";\n"
        "  kind = \"doors\"; } );  #kind\n";
    const char *path = load_bad("multi.conf", text);
    EXPECT(has_error(err, path, marker_line(text, "#unit"), "unit 300 is out of range"), "%s", err);
    EXPECT(has_error(err, path, marker_line(text, "#zone"), "unknown key \"entry_delay\""), "%s", err);
    EXPECT(has_error(err, path, marker_line(text, "#kind"), "kind \"doors\" is not valid; expected one of: "
                     "door, fence"), "%s", err);
    EXPECT_INT(count_lines(err), 3);
}

/* The temp directory's profiles/ subdirectory, created on first use. */
static void profile_dir(char *dir, size_t n)
{
    snprintf(dir, n, "%s/profiles", tmpdir);
    EXPECT(mkdir(dir, 0700) == 0 || access(dir, F_OK) == 0, "mkdir %s", dir);
}

/* Profiles are validated with the same file:line messages. */
static void bad_profile_is_reported_in_its_file(void)
{
    char dir[PATH_MAX_T];
    profile_dir(dir, sizeof dir);
    static const char profile[] =
        "profile = { name = \"wrong\";  #name\n"
        "  inputs = ( { name = \"di\"; table = \"discrete\"; address = 0; count = 4;\n"
        "               format = \"u16\"; },  #format\n"
        "             { name = \"x\"; table = \"input\"; address = 9; signed = true; } );  #unknown\n"
        "};\n";
    char rel[64];
    snprintf(rel, sizeof rel, "profiles/odd.conf");
    const char *ppath = write_temp(rel, profile);
    static const char site[] = SITE MQTT BUS
        "devices = ( { id = \"io\"; bus = \"lan\"; unit = 1; profile = \"odd\"; } );\n";
    const char *path = write_temp("uses-odd.conf", site);
    struct cfg_site *s = cfg_load(path, dir, err, sizeof err);
    EXPECT(s == NULL, "loaded a bad profile");
    cfg_free(s);
    EXPECT(has_error(err, ppath, marker_line(profile, "#name"),
                     "name \"wrong\" does not match the file name odd.conf; expected name = \"odd\""), "%s", err);
    EXPECT(has_error(err, ppath, marker_line(profile, "#format"),
                     "format \"u16\" needs a register table; expected \"bit\" for table \"discrete\""), "%s", err);
    EXPECT(has_error(err, ppath, marker_line(profile, "#unknown"),
                     "profile \"odd\" input \"x\": unknown key \"signed\"; expected one of: name, table"), "%s",
           err);
}

/* The register-format keys: each misuse named at its line, and a valid
 * profile expands 32-bit channels two registers apart with the field's
 * shift defaulted from its mask. Loaded alone, as `vigilctl probe` does. */
static void format_keys_are_validated(void)
{
    char dir[PATH_MAX_T];
    profile_dir(dir, sizeof dir);
    static const char bad[] =
        "profile = { name = \"fmt\"; inputs = (\n"
        "  { name = \"a\"; table = \"input\"; address = 0; order = \"CDAB\"; },  #order\n"
        "  { name = \"b\"; table = \"input\"; address = 1; format = \"field\"; },  #nomask\n"
        "  { name = \"c\"; table = \"input\"; address = 2; format = \"field\"; mask = 0x0F00;\n"
        "    shift = 9; },  #shift\n"
        "  { name = \"d\"; table = \"input\"; address = 65535; format = \"f32\"; },  #end\n"
        "  { name = \"e\"; table = \"input\"; address = 3; mask = 3; } ); };  #mask\n";
    const char *ppath = write_temp("profiles/fmt.conf", bad);
    struct cfg_profile *p = cfg_load_profile(dir, "fmt", err, sizeof err);
    EXPECT(p == NULL, "loaded a bad profile");
    cfg_free_profile(p);
    EXPECT(has_error(err, ppath, marker_line(bad, "#order"), "order applies to the 32-bit formats only"), "%s", err);
    EXPECT(has_error(err, ppath, marker_line(bad, "#nomask"), "format \"field\" needs a mask; expected mask = "),
           "%s", err);
    EXPECT(has_error(err, ppath, marker_line(bad, "#shift"), "shift 9 drops set bits of mask 0x0F00"), "%s", err);
    EXPECT(has_error(err, ppath, marker_line(bad, "#end"), "input \"d\" lands at address 65536; expected "
                     "addresses within 0..65535"), "%s", err);
    EXPECT(has_error(err, ppath, marker_line(bad, "#mask"), "mask and shift apply to format \"field\" only"), "%s",
           err);

    static const char good[] =
        "profile = { name = \"fmtok\"; inputs = (\n"
        "  { name = \"cnt\"; table = \"input\"; address = 16; format = \"u32\"; order = \"CDAB\"; count = 3; },\n"
        "  { name = \"state\"; table = \"holding\"; address = 0; format = \"field\"; mask = 0x0F00; } ); };\n";
    write_temp("profiles/fmtok.conf", good);
    p = cfg_load_profile(dir, "fmtok", err, sizeof err);
    EXPECT(p != NULL, "%s", err);
    if (!p)
        return;
    EXPECT_INT(p->n_inputs, 4);
    EXPECT_STR(p->inputs[2].name, "cnt3");
    EXPECT_INT(p->inputs[2].address, 20);
    EXPECT_INT(p->inputs[2].order, CFG_ORDER_CDAB);
    EXPECT_INT(p->inputs[3].shift, 8);
    cfg_free_profile(p);
}

/* ---- warnings ---------------------------------------------------------- */

/* A site that loads but holds each thing --check-config warns about: each
 * warning names the line to change and what to change it to. */
static void warnings_name_file_line_and_fix(void)
{
    static const char text[] = SITE MQTT
        "buses = ( { id = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; port = 1502; },\n"
        "  { id = \"line\"; type = \"rtu\"; device = \"/dev/ttyUSB0\"; baud = 1200; } );  #line\n"
        "devices = ( { id = \"io\"; bus = \"lan\"; unit = 1; profile = \"din16\"; poll_ms = 200; },\n"
        "  { id = \"th1\"; bus = \"line\"; unit = 1; profile = \"th-rs485\"; poll_ms = 50; },\n"
        "  { id = \"th2\"; bus = \"line\"; unit = 2; profile = \"th-rs485\"; poll_ms = 50; } );\n"
        "zones = ( { id = \"z1\"; },\n"
        "  { id = \"empty\"; } );  #empty\n"
        "points = ( { id = \"door\"; device = \"io\"; input = \"di1\"; kind = \"door\"; zone = \"z1\";\n"
        "  debounce_ms = 50; },  #debounce\n"
        "  { id = \"pir\"; device = \"io\"; input = \"di2\"; kind = \"motion\"; },  #nozone\n"
        "  { id = \"t1\"; device = \"th1\"; input = \"temperature\"; kind = \"temperature\"; zone = \"z1\"; },\n"
        "  { id = \"t2\"; device = \"th2\"; input = \"temperature\"; kind = \"temperature\"; zone = \"z1\"; } );\n";
    const char *path = write_temp("warn.conf", text);
    struct cfg_site *s = cfg_load(path, profiles, err, sizeof err);
    char out[ERR_MAX];
    EXPECT(s != NULL, "%s", err);
    if (!s)
        return;
    EXPECT_INT(cfgcheck_warnings(s, out, sizeof out), 4);
    EXPECT(has_error(out, path, marker_line(text, "#nozone"), "warning: point \"pir\" is in no zone, so no zone "
                     "can arm, disarm or name it; add zone = \"ID\""), "%s", out);
    EXPECT(has_error(out, path, marker_line(text, "#empty"), "warning: zone \"empty\" has no points; give "
                     "points zone = \"empty\" or remove the zone"), "%s", out);
    EXPECT(has_error(out, path, marker_line(text, "#debounce") - 1, "warning: point \"door\": debounce_ms 50 is "
                     "shorter than device \"io\"'s poll_ms 200, so it cannot filter anything; set poll_ms <= 50 on "
                     "the device or debounce_ms >= 200"), "%s", out);
    /* 1200 baud 8N1: request 8 + answer 7 bytes x 10 bits = 125 ms, + 2 gaps of 3.5 x 10 bits
     * (29.17 ms) = 183.3 ms of line time every 50 ms, for each of two devices. */
    EXPECT(has_error(out, path, marker_line(text, "#line"), "warning: RTU bus \"line\" needs 733% of its line "
                     "time at 1200 baud: \"th1\" 15 bytes x 10 bits / 1200 baud + 2 gaps x 29.17 ms = 183.3 ms "
                     "every 50 ms, \"th2\" 15 bytes x 10 bits / 1200 baud + 2 gaps x 29.17 ms = 183.3 ms every "
                     "50 ms; raise poll_ms, raise the baud rate or split the devices over more lines"), "%s", out);
    cfg_free(s);
}

/* ---- good configs ------------------------------------------------------ */

static uint64_t hash_file_into(uint64_t h, const char *path)
{
    char buf[4096];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        h = cfg_hash_bytes(h, buf, n);
    fclose(f);
    return h;
}

static const struct cfg_input *point_input(const struct cfg_site *s, const char *point)
{
    const struct cfg_point *p = &s->points[cfg_find_point(s, point)];
    return &s->profiles[s->devices[p->device].profile].inputs[p->input];
}

/* The demo site loads, its references resolve and its hash covers the
 * config and the profiles it uses. */
static void demo_site_loads(void)
{
    char path[PATH_MAX_T];
    snprintf(path, sizeof path, "%s/config/demo-site.conf", top);
    struct cfg_site *s = cfg_load(path, profiles, err, sizeof err);
    EXPECT(s != NULL, "demo-site.conf failed:\n%s", err);
    if (!s)
        return;
    EXPECT_STR(s->id, "demo-depot");
    EXPECT_STR(s->state_dir, "/tmp/vigil-demo/state");
    EXPECT_INT(s->n_devices, 5);
    EXPECT_INT(s->n_zones, 3);
    EXPECT_INT(s->n_points, 16);
    int f1 = cfg_find_point(s, "fence-z1");
    EXPECT(f1 >= 0, "fence-z1 missing");
    if (f1 >= 0) {
        EXPECT_INT(s->points[f1].n_verify, 1);
        EXPECT_INT(s->points[f1].verify[0], cfg_find_point(s, "cam1-motion"));
        EXPECT_INT(s->points[f1].zone, cfg_find_zone(s, "perimeter"));
    }
    const struct cfg_input *z3 = point_input(s, "fence-z3");
    EXPECT_STR(z3->name, "zone3_alarm");
    EXPECT_INT(z3->format, CFG_FMT_REGBIT);
    EXPECT_INT(z3->address, 0);
    EXPECT_INT(z3->bit, 2);
    const struct cfg_input *cab = point_input(s, "pids-cabinet");
    EXPECT_INT(cab->address, 3);
    EXPECT_INT(cab->bit, 0);
    const struct cfg_input *vl = point_input(s, "cam1-video-loss");
    EXPECT_INT(vl->table, CFG_TABLE_DISCRETE);
    EXPECT_INT(vl->address, 8);
    const struct cfg_input *t = point_input(s, "store1-temp");
    EXPECT_INT(t->format, CFG_FMT_S16);
    EXPECT(t->scale == 0.1, "temperature scale %g", t->scale);
    int zone = cfg_find_zone(s, "store1");
    EXPECT_INT(s->zones[zone].entry_delay_ms, 10000);
    EXPECT(s->zones[cfg_find_zone(s, "site-24h")].always_armed, "site-24h not always armed");
    const struct cfg_point *loop = &s->points[cfg_find_point(s, "store1-loop")];
    EXPECT(loop->eol && loop->eol->alarm_lo == 1900.0 && loop->eol->cut_hi == 65535.0, "eol windows not read");
    EXPECT(!loop->analog, "an eol loop has no analog limits");
    EXPECT_INT(s->points[cfg_find_point(s, "store1-door")].held_open_ms, 60000);
    EXPECT(strstr(s->points[0].file, "demo-site.conf") != NULL, "file %s", s->points[0].file);

    uint64_t h = hash_file_into(0xcbf29ce484222325ULL, path);
    for (int i = 0; i < s->n_profiles; i++) {
        char pp[PATH_MAX_T * 2];
        snprintf(pp, sizeof pp, "%s/%s.conf", profiles, s->profiles[i].name);
        h = hash_file_into(h, pp);
    }
    EXPECT(s->hash == h, "hash %016llx, want %016llx", (unsigned long long)s->hash, (unsigned long long)h);
    cfg_free(s);
}

/* Without a profile_dir argument, a config in a source tree finds
 * sensors/profiles next to its own directory. */
static void example_site_loads_with_default_profile_dir(void)
{
    char path[PATH_MAX_T];
    snprintf(path, sizeof path, "%s/config/example-site.conf", top);
    struct cfg_site *s = cfg_load(path, NULL, err, sizeof err);
    EXPECT(s != NULL, "example-site.conf failed:\n%s", err);
    if (!s)
        return;
    EXPECT_INT(s->n_buses, 2);
    EXPECT_INT(s->buses[1].type, CFG_BUS_RTU);
    EXPECT_INT(s->buses[1].parity, 'N');
    EXPECT_INT(s->mqtt.n_brokers, 2);
    EXPECT_STR(s->mqtt.brokers[1].client_id, "vigil-depot-north-2");
    EXPECT(strstr(s->profile_dir, "sensors/profiles") != NULL, "profile_dir %s", s->profile_dir);
    cfg_free(s);
}

/* What we ship to copy from is free of warnings: an engineer starts from good practice. */
static void shipped_configs_have_no_warnings(void)
{
    static const char *names[] = {"example-site.conf", "demo-site.conf"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[PATH_MAX_T], warnings[4096] = "";
        struct cfg_site *s;

        snprintf(path, sizeof path, "%s/config/%s", top, names[i]);
        s = cfg_load(path, NULL, err, sizeof err);
        EXPECT(s != NULL, "%s failed:\n%s", names[i], err);
        if (!s)
            continue;
        cfgcheck_warnings(s, warnings, sizeof(warnings));
        EXPECT_STR(warnings, "");
        cfg_free(s);
    }
}

/* Loads path after chmod(mode); true if it loaded. err holds the refusal. */
static bool loads_with_mode(const char *path, mode_t mode)
{
    struct cfg_site *s;

    chmod(path, mode);
    err[0] = '\0';
    s = cfg_load(path, profiles, err, sizeof err);
    cfg_free(s);
    return s != NULL;
}

/*
 * A file holding a secret (MQTT password, InfluxDB password or token), the
 * site file or an include, must be private: refused with the chmod that fixes
 * it while other users, or a group that is not vigild's, can open it. A
 * config without secrets may stay world-readable.
 */
static void secrets_need_private_files(void)
{
    const char *plain = write_temp("nosecret.conf", HEAD POINT(" } );\n"));
    const char *secret = write_temp("secret.conf",
        SITE "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; username = \"u\"; password = \"hunter2\"; } ); };\n"
        BUS DEVS ZONES POINT(" } );\n"));
    const char *inc = write_temp("influx-secret.inc", "influx = { url = \"http://127.0.0.1:8086\"; api = \"v2\";\n"
                                                      "  org = \"o\"; bucket = \"b\"; token = \"tok-123\"; };\n");
    const char *site = write_temp("site-inc.conf", HEAD POINT(" } );\n") "@include \"influx-secret.inc\"\n");
    char want[PATH_MAX_T * 2];

    EXPECT(loads_with_mode(plain, 0644), "a config without secrets, mode 0644, refused:\n%s", err);
    EXPECT(!loads_with_mode(secret, 0644), "a password in a world-readable file loaded");
    snprintf(want, sizeof want,
             "%s:2: mqtt broker #1: password is a secret, but this file is open to every user (mode 0644); expected chmod 600 %s "
             "(or chmod 640 and group %s)",
             secret, secret, getgrgid(getegid()) ? getgrgid(getegid())->gr_name : "of vigild");
    EXPECT(strstr(err, want) != NULL, "got:\n%s\nwant:\n%s", err, want);
    EXPECT(strstr(err, "hunter2") == NULL, "the refusal shows the password:\n%s", err);
    EXPECT(loads_with_mode(secret, 0600), "mode 0600 refused:\n%s", err);
    EXPECT(loads_with_mode(secret, 0640), "mode 0640 in vigild's own group refused:\n%s", err);
    if (geteuid() == 0 && chown(secret, (uid_t)-1, getegid() + 1) == 0)
        EXPECT(!loads_with_mode(secret, 0640) && strstr(err, "open to another group (mode 0640)"),
               "mode 0640 in another group: %s", err);
    chmod(inc, 0604);
    EXPECT(!loads_with_mode(site, 0604), "a token in a world-readable include loaded");
    EXPECT(strstr(err, "influx-secret.inc:2: influx: token is a secret") != NULL, "%s", err);
    EXPECT(strstr(err, "tok-123") == NULL, "the refusal shows the token:\n%s", err);
    chmod(inc, 0600);
    EXPECT(loads_with_mode(site, 0644), "a world-readable site with its token in a private include refused:\n%s",
           err);
    secret = write_temp("long-secret.conf", SITE "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; password = \""
        "hunter2-hunter2-hunter2-hunter2-hunter2-hunter2-hunter2-hunter2-hunter2-hunter2-hunter2-hunter2-hunter2-"
        "hunter2-hunter2-hunter2-hunter2\"; } ); };\n" BUS DEVS ZONES POINT(" } );\n"));
    EXPECT(!loads_with_mode(secret, 0600), "a 135-character password loaded");
    EXPECT(strstr(err, "password is too long; expected at most 127 characters") && !strstr(err, "hunter2"),
           "an overlong password is refused without showing it: %s", err);
}

/* A minimal config gets every documented default. */
static void minimal_config_gets_defaults(void)
{
    static const char text[] =
        SITE MQTT BUS DEVS ZONES
        "points = ( { id = \"door\"; device = \"io\"; input = \"di1\"; kind = \"door\"; },\n"
        "  { id = \"cam\"; device = \"io\"; input = \"di2\"; kind = \"cctv\"; },\n"
        "  { id = \"fence\"; device = \"io\"; input = \"di3\"; kind = \"fence\"; verify_with = [ \"cam\" ]; },\n"
        "  { id = \"temp\"; device = \"th\"; input = \"temperature\"; kind = \"temperature\"; },\n"
        "  { id = \"hum\"; device = \"th\"; input = \"humidity\"; kind = \"humidity\"; },\n"
        "  { id = \"raw\"; device = \"ai\"; input = \"ai2\"; kind = \"analog\"; on_delay_s = 0.5; } );\n";
    const char *path = write_temp("minimal.conf", text);
    struct cfg_site *s = cfg_load(path, profiles, err, sizeof err);
    EXPECT(s != NULL, "minimal config failed:\n%s", err);
    if (!s)
        return;
    EXPECT_STR(s->timezone, "UTC");
    EXPECT_STR(s->state_dir, "/var/lib/vigil");
    EXPECT_STR(s->mqtt.prefix, "vigil");
    EXPECT_INT(s->mqtt.heartbeat_s, 60);
    EXPECT_INT(s->mqtt.max_buffered, 50000);
    EXPECT_INT(s->mqtt.mode, CFG_MQTT_BOTH);
    EXPECT_INT(s->mqtt.path_fault_s, 60);
    EXPECT_INT(s->mqtt.self_test_s, 86400);
    EXPECT_INT(s->mqtt.cmd_max_age_s, 120);
    EXPECT(!s->receipts.enabled && !s->receipts.local_output.enabled, "receipts on without a receipts group");
    EXPECT_INT(s->mqtt.n_brokers, 1);
    EXPECT_INT(s->mqtt.brokers[0].keepalive_s, 10);
    EXPECT_STR(s->mqtt.brokers[0].client_id, "vigil-t");
    EXPECT_INT(s->rules.chatter_count, 3);
    EXPECT_INT(s->rules.chatter_window_ms, 60000);
    EXPECT_INT(s->rules.default_verify_window_ms, 30000);
    EXPECT_INT(s->rules.flood_count, 10);
    EXPECT_INT(s->rules.flood_window_ms, 600000);
    EXPECT(s->rules.max_shelve_ms[CFG_PRIO_CRITICAL] == 3600000 && s->rules.max_shelve_ms[CFG_PRIO_HIGH] == 14400000 &&
               s->rules.max_shelve_ms[CFG_PRIO_MEDIUM] == 86400000 && s->rules.max_shelve_ms[CFG_PRIO_LOW] == 86400000,
           "max shelve by priority");
    EXPECT(s->rules.comm_loss_latching, "comm_loss latches by default");
    const struct cfg_device *d = &s->devices[0];
    EXPECT_INT(d->poll_ms, 100);
    EXPECT_INT(d->timeout_ms, 300);
    EXPECT_INT(d->fail_count, 3);
    EXPECT_INT(d->fail_ms, 2000);
    EXPECT_INT(d->comm_priority, CFG_PRIO_HIGH);
    EXPECT(s->zones[0].armed && !s->zones[0].always_armed, "zone arm defaults");
    EXPECT_INT(s->zones[0].entry_delay_ms, 0);
    EXPECT_INT(s->zones[0].exit_delay_ms, 0);

    const struct cfg_point *door = &s->points[cfg_find_point(s, "door")];
    EXPECT_INT(door->priority, CFG_PRIO_HIGH);
    EXPECT_INT(door->zone, -1);
    EXPECT(door->scale == 1.0 && door->offset == 0.0, "scale/offset");
    EXPECT(!door->analog && !door->eol, "a door keeps analog limits or loop windows");
    EXPECT_INT(door->on_delay_ms, 0);
    EXPECT_INT(door->debounce_ms, 0);
    EXPECT_INT(s->points[cfg_find_point(s, "cam")].priority, CFG_PRIO_LOW);
    const struct cfg_point *fence = &s->points[cfg_find_point(s, "fence")];
    EXPECT_INT(fence->priority, CFG_PRIO_HIGH);
    EXPECT_INT(fence->verify_window_ms, 30000);

    const struct cfg_point *temp = &s->points[cfg_find_point(s, "temp")];
    const struct cfg_analog *ta = temp->analog;
    EXPECT(ta && ta->high == 35.0 && ta->low == -4.0 && ta->deadband == 1.0, "temperature %g/%g/%g",
           ta ? ta->high : 0, ta ? ta->low : 0, ta ? ta->deadband : 0);
    EXPECT_INT(temp->on_delay_ms, 60000);
    EXPECT_INT(temp->priority, CFG_PRIO_MEDIUM);
    const struct cfg_point *hum = &s->points[cfg_find_point(s, "hum")];
    const struct cfg_analog *ha = hum->analog;
    EXPECT(ha && ha->high == 75.0 && isnan(ha->low) && ha->deadband == 2.0, "humidity %g/%g/%g",
           ha ? ha->high : 0, ha ? ha->low : 0, ha ? ha->deadband : 0);
    EXPECT_INT(hum->priority, CFG_PRIO_LOW);
    const struct cfg_point *raw = &s->points[cfg_find_point(s, "raw")];
    EXPECT_INT(raw->on_delay_ms, 500);
    EXPECT_INT(raw->priority, CFG_PRIO_MEDIUM);
    const struct cfg_analog *ra = raw->analog;
    EXPECT(ra && isnan(ra->high), "analog high defaulted");
    EXPECT(ra && isnan(ra->valid_min) && isnan(ra->valid_max) && ra->n_sentinels == 0, "no valid range by default");
    EXPECT_STR(err, "");
    cfg_free(s);
}

/* ---- files libconfig must never open ---------------------------------- */

/* Loads path, which must fail with an error at file:line containing want.
 * SIGALRM ends the whole run should the load block (a FIFO opened for
 * reading waits for a writer forever). */
static void expect_refused(const char *what, const char *path, const char *file, int line, const char *want)
{
    alarm(10);
    struct cfg_site *s = cfg_load(path, profiles, err, sizeof err);
    alarm(0);
    EXPECT(s == NULL, "%s: loaded", what);
    cfg_free(s);
    char prefix[PATH_MAX_T + 16];
    if (line)
        snprintf(prefix, sizeof prefix, "%s:%d: ", file, line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", file);
    EXPECT(strncmp(err, prefix, strlen(prefix)) == 0 && strstr(err, want), "%s: want \"%s...%s\", got:\n%s",
           what, prefix, want, err);
}

/* ---- TLS files ------------------------------------------------------------ */

/*
 * The files a TLS broker names: a key or password file that group or
 * others can read is refused with the chmod that fixes it; a password
 * file that is private is read; a file that is not there yet loads (it is
 * a warning of --check-config, cfgcheck_files()).
 */
static void tls_files_are_checked(void)
{
    char text[4096];
    const char *ca = write_temp("ca.crt", "not checked here\n");
    const char *key = write_temp("gw.key", "secret\n");
    const char *pw = write_temp("gw.pw", "s3cret\n");
    const char *path;
    struct cfg_site *s;

    chmod(key, 0640);
    chmod(pw, 0600);
    snprintf(text, sizeof text, SITE "mqtt = { brokers = ( { uri = \"ssl://cms.example.net:8883\";\n"
             "  ca_file = \"%s\"; cert_file = \"%s\";\n  key_file = \"%s\"; } ); };  #<\n", ca, ca, key);
    path = write_temp("open-key.conf", text);
    snprintf(text, sizeof text, "key_file %s can be read by group or others (mode 0640); expected it private to "
             "its owner: chmod 600 %s", key, key);
    expect_refused("group-readable key", path, path, 4, text);

    chmod(key, 0600);
    snprintf(text, sizeof text, SITE "mqtt = { brokers = ( { uri = \"ssl://cms.example.net:8883\";\n"
             "  ca_file = \"%s\"; cert_file = \"%s\"; key_file = \"%s\";\n"
             "  username = \"gw\"; password_file = \"%s\"; },\n"
             "  { uri = \"ssl://b.example.net\"; ca_file = \"%s/not-there-yet.crt\"; } ); };\n",
             ca, ca, key, pw, tmpdir);
    path = write_temp("tls-ok.conf", text);
    s = cfg_load(path, profiles, err, sizeof err);
    EXPECT(s != NULL, "%s", err);
    if (!s)
        return;
    EXPECT_STR(s->mqtt.brokers[0].password, "s3cret");
    EXPECT(s->mqtt.brokers[0].verify_hostname, "verify_hostname defaults to true");
    EXPECT_INT(cfgcheck_files(s, err, sizeof err), 1);
    EXPECT(strstr(err, "warning: mqtt broker #2: ca_file") && strstr(err, "not-there-yet.crt does not exist"),
           "%s", err);
    cfg_free(s);
}

#define INC_HEAD HEAD POINT(" } );\n")

/*
 * An @include of a directory made libconfig's scanner exit(2) the process;
 * one of a FIFO blocked it in open(). Both, and includes leading out of
 * the config's directory, are refused at the include line before libconfig
 * opens anything. A regular include inside the directory still works.
 */
static void includes_must_be_regular_files_inside(void)
{
    char sub[PATH_MAX_T];
    snprintf(sub, sizeof sub, "%s/inc", tmpdir);
    temp_path("inc");
    EXPECT(mkdir(sub, 0700) == 0, "mkdir %s", sub);
    const char *zones_d = temp_path("inc/zones.d");
    EXPECT(mkdir(zones_d, 0700) == 0, "mkdir");
    EXPECT(mkfifo(temp_path("inc/pipe.conf"), 0600) == 0, "mkfifo");
    write_temp("outside.conf", "rules = { chatter_count = 5; };\n");
    EXPECT(symlink("../outside.conf", temp_path("inc/link.conf")) == 0, "symlink");
    write_temp("inc/rules.conf", "rules = { chatter_count = 7; };\n");

    static const struct { const char *name, *include, *want; } cases[] = {
        { "directory", "zones.d", "zones.d is a directory, not a regular file; expected a regular file" },
        { "FIFO", "pipe.conf", "pipe.conf is a FIFO, not a regular file; expected a regular file" },
        { "parent", "../outside.conf", "outside.conf, outside the config's directory" },
        { "symlink out", "link.conf", "outside.conf, outside the config's directory" },
        { "missing", "nope.conf", "No such file or directory; expected an existing file in" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[2048], name[64];
        snprintf(text, sizeof text, INC_HEAD "  @include \"%s\"  #<\n", cases[i].include);
        snprintf(name, sizeof name, "inc/main%zu.conf", i);
        const char *path = write_temp(name, text);
        expect_refused(cases[i].name, path, path, marker_line(text, "#<"), cases[i].want);
        EXPECT(strstr(err, cases[i].include) != NULL, "%s: include name not in %s", cases[i].name, err);
    }

    const char *ok = write_temp("inc/ok.conf", INC_HEAD "@include \"rules.conf\"\n");
    struct cfg_site *s = cfg_load(ok, profiles, err, sizeof err);
    EXPECT(s != NULL && s->rules.chatter_count == 7, "a regular include in the directory: %s", err);
    cfg_free(s);
}

/* The main config path itself: a FIFO or a directory is refused at once. */
static void main_file_must_be_regular(void)
{
    const char *fifo = temp_path("site.fifo");
    EXPECT(mkfifo(fifo, 0600) == 0, "mkfifo");
    expect_refused("FIFO as the main file", fifo, fifo, 0, "is a FIFO, not a regular file; expected a readable "
                   "regular config file");
    expect_refused("directory as the main file", tmpdir, tmpdir, 0, "is a directory, not a regular file");
}

/*
 * The 32-bit wrap check covers @included files and the text after a NUL
 * byte (it used to stop at the first NUL: 4294967301 read as 5), and a NUL
 * byte itself is refused: it cuts a name short.
 */
static void wrap_check_covers_includes_and_nul(void)
{
    write_temp("inc2-big.conf", "\nrules = { chatter_count = 4294967301; };\n");
    const char *path = write_temp("inc2-main.conf", INC_HEAD "@include \"inc2-big.conf\"\n");
    char inc[PATH_MAX_T + 32];
    snprintf(inc, sizeof inc, "%s/inc2-big.conf", tmpdir);
    expect_refused("wrap in an include", path, inc, 2, "integer 4294967301 does not fit in 32 bits");

    static const char nul_text[] = INC_HEAD "# note \0 after a NUL\nrules = { chatter_count = 4294967301; };\n";
    const char *nul = write_temp_bytes("nul.conf", nul_text, sizeof nul_text - 1);
    int nul_line = count_lines(INC_HEAD) + 1;
    struct cfg_site *s = cfg_load(nul, profiles, err, sizeof err);
    EXPECT(s == NULL, "NUL file loaded");
    cfg_free(s);
    EXPECT(has_error(err, nul, nul_line, "NUL byte in the file; expected plain text"), "NUL at line %d not "
           "reported:\n%s", nul_line, err);
    EXPECT(has_error(err, nul, nul_line + 1, "integer 4294967301 does not fit in 32 bits"), "wrap after the "
           "NUL not reported:\n%s", err);
}

/* Names and lookups used by other modules. */
static void names_and_lookups(void)
{
    EXPECT_STR(cfg_kind_name(CFG_KIND_FENCE), "fence");
    EXPECT_STR(cfg_kind_name(CFG_KIND_EOL), "eol");
    EXPECT_STR(cfg_priority_name(CFG_PRIO_CRITICAL), "critical");
    EXPECT_STR(cfg_priority_name(CFG_PRIO_LOW), "low");
    /* FNV-1a 64 test vectors */
    EXPECT(cfg_hash_bytes(0xcbf29ce484222325ULL, "", 0) == 0xcbf29ce484222325ULL, "empty");
    EXPECT(cfg_hash_bytes(0xcbf29ce484222325ULL, "a", 1) == 0xaf63dc4c8601ec8cULL, "\"a\"");
    EXPECT(cfg_hash_bytes(0xcbf29ce484222325ULL, "foobar", 6) == 0x85944171f73967e8ULL, "\"foobar\"");
}

/* Errors past the end of a small buffer are dropped whole; the buffer
 * stays terminated. */
static void small_error_buffer_stays_terminated(void)
{
    char small[40];
    memset(small, 'x', sizeof small);
    char path[PATH_MAX_T];
    snprintf(path, sizeof path, "%s/does-not-exist-with-a-long-name.conf", tmpdir);
    EXPECT(cfg_load(path, profiles, small, sizeof small) == NULL, "loaded");
    EXPECT(memchr(small, '\0', sizeof small) != NULL, "not terminated");
}

int main(void)
{
    const char *env = getenv("VIGIL_TOP");
    snprintf(top, sizeof top, "%s", env && *env ? env : ".");
    snprintf(profiles, sizeof profiles, "%s/sensors/profiles", top);
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/vigil-test-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }

    RUN(demo_site_loads);
    RUN(example_site_loads_with_default_profile_dir);
    RUN(shipped_configs_have_no_warnings);
    RUN(minimal_config_gets_defaults);
    RUN(bad_configs_report_file_line_and_fix);
    RUN(missing_file_is_reported);
    RUN(all_errors_in_one_load);
    RUN(bad_profile_is_reported_in_its_file);
    RUN(format_keys_are_validated);
    RUN(warnings_name_file_line_and_fix);
    RUN(includes_must_be_regular_files_inside);
    RUN(main_file_must_be_regular);
    RUN(wrap_check_covers_includes_and_nul);
    RUN(names_and_lookups);
    RUN(tls_files_are_checked);
    RUN(small_error_buffer_stays_terminated);
    RUN(secrets_need_private_files);

    for (int i = n_temp_files - 1; i >= 0; i--)
        if (unlink(temp_files[i]) < 0)
            rmdir(temp_files[i]);
    char dir[PATH_MAX_T + 16];
    snprintf(dir, sizeof dir, "%s/profiles", tmpdir);
    rmdir(dir);
    rmdir(tmpdir);
    HARNESS_EXIT();
}
