/*
 * test_influx_line.c - InfluxDB line protocol encoding: exact escaping of
 * hostile names and the line each sink record becomes. tests/test_influx.c
 * writes the same hostile names to a real influxd and reads them back.
 */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "influx_line.h"

static char buf[ILP_LINE_MAX];

/* The line a builder call sequence gives, without its trailing newline. */
static const char *finish(struct ilp *l, int64_t ts)
{
    size_t n = ilp_finish(l, ts);
    if (n == 0)
        return "(none)";
    buf[n - 1] = '\0';
    return buf;
}

static void measurement_escapes_comma_and_space_only(void)
{
    struct ilp l;
    ilp_start(&l, buf, sizeof buf, "store 1,a=b\"c");
    ilp_int(&l, "v", 1);
    EXPECT_STR(finish(&l, 5), "store\\ 1\\,a=b\"c v=1i 5");
}

static void tags_escape_comma_equals_space(void)
{
    struct ilp l;
    ilp_start(&l, buf, sizeof buf, "m");
    ilp_tag(&l, "zone name", "Store 7, bay=3");
    ilp_tag(&l, "quote", "say \"hi\"");
    ilp_tag(&l, "utf8", "Munitionslager Süd ü");
    ilp_float(&l, "value", 21.5);
    EXPECT_STR(finish(&l, 1700000000123),
               "m,zone\\ name=Store\\ 7\\,\\ bay\\=3,quote=say\\ \"hi\",utf8=Munitionslager\\ Süd\\ ü "
               "value=21.5 1700000000123");
}

static void empty_tag_values_are_left_out(void)
{
    struct ilp l;
    ilp_start(&l, buf, sizeof buf, "m");
    ilp_tag(&l, "zone", "");
    ilp_tag(&l, "site", "depot");
    ilp_bool(&l, "up", true);
    EXPECT_STR(finish(&l, 1), "m,site=depot up=true 1");
}

static void backslashes_stay_literal_unless_they_would_escape(void)
{
    struct ilp l;
    ilp_start(&l, buf, sizeof buf, "m");
    ilp_tag(&l, "a", "x\\y");      /* literal: InfluxDB keeps it */
    ilp_tag(&l, "b", "end\\");     /* would escape the ',' after it */
    ilp_tag(&l, "c", "p\\ q");     /* would be read as an escaped space */
    ilp_int(&l, "f", 1);
    EXPECT_STR(finish(&l, 1), "m,a=x\\y,b=end/,c=p/\\ q f=1i 1");
}

static void string_fields_quote_and_backslash(void)
{
    struct ilp l;
    ilp_start(&l, buf, sizeof buf, "m");
    ilp_str(&l, "text", "Door \"north\" C:\\gate, open=1");
    ilp_str(&l, "empty", "");
    EXPECT_STR(finish(&l, 1), "m text=\"Door \\\"north\\\" C:\\\\gate, open=1\",empty=\"\" 1");
}

static void newlines_never_end_a_line(void)
{
    struct ilp l;
    ilp_start(&l, buf, sizeof buf, "m\nx");
    ilp_tag(&l, "t", "a\r\nb");
    ilp_str(&l, "s", "one\ntwo");
    EXPECT_STR(finish(&l, 1), "m\\ x,t=a\\ \\ b s=\"one two\" 1");
}

static void integers_get_i_and_floats_round_trip(void)
{
    struct ilp l;
    ilp_start(&l, buf, sizeof buf, "m");
    ilp_int(&l, "n", -42);
    ilp_float(&l, "a", 0.1);
    ilp_float(&l, "b", 1.0 / 3.0);
    ilp_float(&l, "c", 20);
    EXPECT_STR(finish(&l, 1), "m n=-42i,a=0.1,b=0.33333333333333331,c=20 1");
}

static void nan_and_infinity_are_never_written(void)
{
    struct ilp l;
    ilp_start(&l, buf, sizeof buf, "m");
    ilp_float(&l, "a", NAN);
    ilp_float(&l, "b", INFINITY);
    ilp_float(&l, "c", 1.5);
    EXPECT_STR(finish(&l, 1), "m c=1.5 1");
    ilp_start(&l, buf, sizeof buf, "m");
    ilp_float(&l, "a", -INFINITY);
    EXPECT_STR(finish(&l, 1), "(none)");
}

static void a_line_that_does_not_fit_is_not_written(void)
{
    char small[24];
    struct ilp l;
    ilp_start(&l, small, sizeof small, "measurement");
    ilp_str(&l, "text", "a sentence too long for the buffer");
    EXPECT_INT(ilp_finish(&l, 1), 0);
}

static void a_sample_is_a_point_line(void)
{
    struct sink_sample s = {.point = "t-store7", .device = "climate-1", .zone = "store-7",
                            .kind = CFG_KIND_TEMPERATURE, .value = 21.5};
    size_t n = ilp_sample(buf, sizeof buf, "depot-north", &s, 25, NAN, 1700000000000);
    EXPECT_STR(buf, "vigil_point,device=climate-1,kind=temperature,point=t-store7,site=depot-north,zone=store-7 "
                    "quality=\"good\",value=21.5,high=25 1700000000000\n");
    EXPECT_INT(n, strlen(buf));
    s.value = NAN;
    s.zone[0] = '\0';
    ilp_sample(buf, sizeof buf, "depot-north", &s, NAN, NAN, 1700000000000);
    EXPECT_STR(buf, "vigil_point,device=climate-1,kind=temperature,point=t-store7,site=depot-north "
                    "quality=\"unreadable\" 1700000000000\n");
}

static void an_alarm_keeps_seq_operator_and_text_out_of_the_tags(void)
{
    struct sink_event e = {.seq = 812, .epoch = 0x5f3a00c0ffee0001ULL, .alarm = "door-7.intrusion", .type = CORE_T_INTRUSION,
                           .priority = CFG_PRIO_CRITICAL, .state = CORE_S_ACTIVE_ACKED, .needs_attention = true,
                           .zone = "store-7", .point = "door-7", .device = "io-1", .value = NAN,
                           .operator_name = "sgt-miller", .text = "Intrusion, store 7: \"door\" open"};
    struct ilp_alarm_extra x = {.ack_s = 42.5, .shift = "22:00"};
    ilp_event(buf, sizeof buf, "depot-north", &e, &x, 1700000000000);
    EXPECT_STR(buf, "vigil_alarm,device=io-1,point=door-7,priority=critical,shift=22:00,site=depot-north,"
                    "state=active_acked,type=intrusion,zone=store-7 seq=812i,epoch=\"5f3a00c0ffee0001\",alarm=\"door-7.intrusion\","
                    "attention=1i,unacked=0i,operator=\"sgt-miller\",text=\"Intrusion, store 7: \\\"door\\\" open\","
                    "ack_s=42.5 1700000000000\n");
    /* "A temperature read before the sensor went silent is not drawn as today's." */
    e.type = CORE_T_TEMPERATURE_HIGH;
    e.value = 38.5;
    e.quality = CORE_Q_UNKNOWN;
    ilp_event(buf, sizeof buf, "depot-north", &e, &x, 1700000000000);
    EXPECT(strstr(buf, "quality=\"unknown\"") && !strstr(buf, "value=38.5"), "stale value written: %s", buf);
    e.quality = CORE_Q_GOOD;
    ilp_event(buf, sizeof buf, "depot-north", &e, &x, 1700000000000);
    EXPECT(strstr(buf, "quality=\"good\",value=38.5"), "good value missing: %s", buf);
}

static void zone_device_and_dropped_lines(void)
{
    struct sink_zone z = {.zone = "store-7", .name = "Store 7", .armed = true, .operator_name = "schedule"};
    ilp_zone(buf, sizeof buf, "depot", &z, 5);
    EXPECT_STR(buf, "vigil_zone,site=depot,zone=store-7 armed=1i,name=\"Store 7\",operator=\"schedule\" 5\n");
    struct sink_device d = {.device = "io-1", .name = "I/O 1", .up = false, .rtt_ms = -1, .polls = 10,
                            .failures = 3};
    ilp_device(buf, sizeof buf, "depot", &d, NAN, 6);
    EXPECT_STR(buf, "vigil_device,device=io-1,site=depot up=0i,polls=10i,failures=3i,name=\"I/O 1\" 6\n");
    d.up = true;
    d.rtt_ms = 4;
    ilp_device(buf, sizeof buf, "depot", &d, 10, 7);
    EXPECT_STR(buf, "vigil_device,device=io-1,site=depot up=1i,polls=10i,failures=3i,rtt_ms=4i,"
                    "requests_per_s=10,name=\"I/O 1\" 7\n");
    ilp_dropped(buf, sizeof buf, "depot", 1234, 8);
    EXPECT_STR(buf, "vigil_influx_dropped,site=depot dropped=1234i 8\n");
}

int main(void)
{
    RUN(measurement_escapes_comma_and_space_only);
    RUN(tags_escape_comma_equals_space);
    RUN(empty_tag_values_are_left_out);
    RUN(backslashes_stay_literal_unless_they_would_escape);
    RUN(string_fields_quote_and_backslash);
    RUN(newlines_never_end_a_line);
    RUN(integers_get_i_and_floats_round_trip);
    RUN(nan_and_infinity_are_never_written);
    RUN(a_line_that_does_not_fit_is_not_written);
    RUN(a_sample_is_a_point_line);
    RUN(an_alarm_keeps_seq_operator_and_text_out_of_the_tags);
    RUN(zone_device_and_dropped_lines);
    HARNESS_EXIT();
}
