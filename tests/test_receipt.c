/*
 * test_receipt.c - the tracker of events awaiting the station's receipt,
 * the receipt payload parser, and the receipts group of the config.
 *
 * The tracker takes time as an argument, so every case is a small script of
 * "published at t, receipt at t, what is due at t" against one table. The
 * config cases load real files with the shipped profiles (din16 has the
 * coils do1..do4). Run from the repository top, or with VIGIL_TOP set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"
#include "message.h"
#include "receipt.h"

#define CRIT (1u << CFG_PRIO_CRITICAL)
#define HIGH (1u << CFG_PRIO_HIGH)
#define T_MS 2000u

static char profiles[512];
static char tmpdir[] = "/tmp/vigil-test-receipt.XXXXXX";

/* A tracker of cap entries for critical and high, timeout 2 s, critical escalating. */
static void setup(struct rcpt *t, size_t cap, int max_retries)
{
    struct rcpt_settings set = {.track = CRIT | HIGH, .escalate = CRIT, .timeout_ms = T_MS,
                                .max_retries = max_retries};

    if (rcpt_init(t, cap) != 0) {
        perror("rcpt_init");
        exit(1);
    }
    rcpt_configure(t, &set);
}

static int track(struct rcpt *t, uint64_t seq, enum cfg_priority p, uint64_t now_ms)
{
    struct rcpt_dropped gone;

    return rcpt_track(t, seq, p, now_ms, &gone);
}

static void only_listed_priorities_wait(void)
{
    struct rcpt t;

    setup(&t, 8, 0);
    EXPECT(rcpt_wanted(&t, CFG_PRIO_CRITICAL) && rcpt_wanted(&t, CFG_PRIO_HIGH), "critical and high wanted");
    EXPECT(!rcpt_wanted(&t, CFG_PRIO_MEDIUM) && !rcpt_wanted(&t, CFG_PRIO_LOW), "medium or low wanted");
    EXPECT_INT(track(&t, 1, CFG_PRIO_LOW, 0), -1);
    EXPECT_INT(rcpt_waiting(&t), 0);
    EXPECT_INT(rcpt_due(&t, 1000000, (struct rcpt_due[4]){0}, 4), 0);
    rcpt_free(&t);
}

static void prompt_receipt_means_no_retry(void)
{
    struct rcpt t;
    struct rcpt_due due[4];

    setup(&t, 8, 0);
    EXPECT_INT(track(&t, 5, CFG_PRIO_CRITICAL, 0), 0);
    EXPECT_INT(rcpt_receipt(&t, 5) == RCPT_ON_TIME, 1);
    EXPECT_INT(rcpt_receipt(&t, 5) == RCPT_UNKNOWN, 1); /* the copy from the second path */
    EXPECT_INT(rcpt_due(&t, 60000, due, 4), 0);
    EXPECT(!rcpt_output_wanted(&t), "output wanted");
    rcpt_free(&t);
}

static void missed_receipt_is_retried_every_timeout(void)
{
    struct rcpt t;
    struct rcpt_due due[4];

    setup(&t, 8, 0);
    track(&t, 7, CFG_PRIO_CRITICAL, 1000);
    EXPECT_INT(rcpt_next_due(&t), 1000 + T_MS);
    EXPECT_INT(rcpt_due(&t, 1000 + T_MS - 1, due, 4), 0);
    EXPECT(!rcpt_output_wanted(&t), "output wanted before the timeout");
    EXPECT_INT(rcpt_due(&t, 1000 + T_MS, due, 4), 1);
    EXPECT_INT(due[0].seq, 7);
    EXPECT(due[0].first_miss && !due[0].give_up && due[0].escalating, "first miss of an escalating event");
    EXPECT_INT(due[0].retry, 1);
    EXPECT(rcpt_output_wanted(&t), "output not wanted after a critical miss");
    EXPECT_INT(rcpt_due(&t, 1000 + T_MS, due, 4), 0); /* not twice for one timeout */
    EXPECT_INT(rcpt_due(&t, 1000 + 2 * T_MS, due, 4), 1);
    EXPECT(!due[0].first_miss, "second miss flagged first");
    EXPECT_INT(due[0].retry, 2);
    EXPECT_INT(rcpt_missing(&t), 1);
    EXPECT_INT(rcpt_receipt(&t, 7) == RCPT_LATE, 1);
    EXPECT(!rcpt_output_wanted(&t), "output still wanted after the late receipt");
    rcpt_free(&t);
}

static void retries_stop_at_max_and_the_event_stays_missing(void)
{
    struct rcpt t;
    struct rcpt_due due[4];

    setup(&t, 8, 2);
    track(&t, 3, CFG_PRIO_CRITICAL, 0);
    EXPECT_INT(rcpt_due(&t, T_MS, due, 4), 1);
    EXPECT_INT(due[0].retry, 1);
    EXPECT_INT(rcpt_due(&t, 2 * T_MS, due, 4), 1);
    EXPECT_INT(due[0].retry, 2);
    EXPECT_INT(rcpt_due(&t, 3 * T_MS, due, 4), 1);
    EXPECT(due[0].give_up, "no give_up after max_retries");
    EXPECT_INT(rcpt_due(&t, 1000 * T_MS, due, 4), 0);
    EXPECT(rcpt_output_wanted(&t), "a given-up critical event no longer holds the output");
    EXPECT_INT(rcpt_receipt(&t, 3) == RCPT_LATE, 1);
    EXPECT(!rcpt_output_wanted(&t), "output wanted after the late receipt");
    rcpt_free(&t);
}

static void only_escalating_priorities_want_the_output(void)
{
    struct rcpt t;
    struct rcpt_due due[4];

    setup(&t, 8, 0);
    track(&t, 1, CFG_PRIO_HIGH, 0);
    EXPECT_INT(rcpt_due(&t, T_MS, due, 4), 1);
    EXPECT(!due[0].escalating, "high escalates");
    EXPECT(!rcpt_output_wanted(&t), "a missed high event wants the output");
    track(&t, 2, CFG_PRIO_CRITICAL, T_MS);
    EXPECT_INT(rcpt_due(&t, 2 * T_MS, due, 4), 2); /* seq 1 again, and 2 for the first time */
    EXPECT(due[0].seq == 1 && due[1].seq == 2, "oldest first: %llu %llu", (unsigned long long)due[0].seq,
           (unsigned long long)due[1].seq);
    EXPECT(rcpt_output_wanted(&t), "a missed critical event does not want the output");
    rcpt_receipt(&t, 2);
    EXPECT(!rcpt_output_wanted(&t), "output wanted with only a high event missing");
    EXPECT_INT(rcpt_missing(&t), 1);
    rcpt_free(&t);
}

static void due_batches_continue_where_they_stopped(void)
{
    struct rcpt t;
    struct rcpt_due due[1];

    setup(&t, 8, 0);
    for (uint64_t s = 10; s < 13; s++)
        track(&t, s, CFG_PRIO_HIGH, 0);
    for (uint64_t s = 10; s < 13; s++) {
        EXPECT_INT(rcpt_due(&t, T_MS, due, 1), 1);
        EXPECT_INT(due[0].seq, s);
    }
    EXPECT_INT(rcpt_due(&t, T_MS, due, 1), 0);
    rcpt_free(&t);
}

static void full_table_drops_the_oldest_and_escalates(void)
{
    struct rcpt t;
    struct rcpt_dropped gone;

    setup(&t, 4, 0);
    track(&t, 1, CFG_PRIO_CRITICAL, 0);
    for (uint64_t s = 2; s <= 4; s++)
        EXPECT_INT(track(&t, s, CFG_PRIO_HIGH, 0), 0);
    EXPECT_INT(rcpt_track(&t, 5, CFG_PRIO_HIGH, 0, &gone), 1);
    EXPECT(gone.seq == 1 && gone.priority == CFG_PRIO_CRITICAL && gone.escalating, "dropped seq %llu",
           (unsigned long long)gone.seq);
    EXPECT_INT(rcpt_waiting(&t), 4);
    EXPECT(rcpt_output_wanted(&t), "a dropped critical event does not want the output");
    EXPECT_INT(rcpt_receipt(&t, 1) == RCPT_UNKNOWN, 1);
    EXPECT_INT(rcpt_track(&t, 6, CFG_PRIO_HIGH, 0, &gone), 1);
    EXPECT(gone.seq == 2 && !gone.escalating, "dropped seq %llu", (unsigned long long)gone.seq);
    for (uint64_t s = 3; s <= 5; s++)
        rcpt_receipt(&t, s);
    EXPECT(rcpt_output_wanted(&t), "output released while an event is still tracked");
    rcpt_receipt(&t, 6);
    EXPECT(!rcpt_output_wanted(&t), "output wanted once every tracked event is receipted");
    rcpt_free(&t);
}

static void tracking_a_seq_again_replaces_it(void)
{
    struct rcpt t;
    struct rcpt_due due[4];

    setup(&t, 4, 0);
    track(&t, 9, CFG_PRIO_HIGH, 0);
    track(&t, 9, CFG_PRIO_HIGH, 5000);
    EXPECT_INT(rcpt_waiting(&t), 1);
    EXPECT_INT(rcpt_due(&t, 5000 + T_MS - 1, due, 4), 0);
    EXPECT_INT(rcpt_due(&t, 5000 + T_MS, due, 4), 1);
    rcpt_free(&t);
}

static void reconfigure_forgets_untracked_priorities(void)
{
    struct rcpt t;
    struct rcpt_settings off = {0};

    setup(&t, 8, 0);
    track(&t, 1, CFG_PRIO_CRITICAL, 0);
    track(&t, 2, CFG_PRIO_HIGH, 0);
    rcpt_configure(&t, &(struct rcpt_settings){.track = CRIT, .escalate = CRIT, .timeout_ms = T_MS});
    EXPECT_INT(rcpt_waiting(&t), 1);
    rcpt_configure(&t, &off);
    EXPECT_INT(rcpt_waiting(&t), 0);
    EXPECT_INT(track(&t, 3, CFG_PRIO_CRITICAL, 0), -1);
    rcpt_free(&t);
}

/* One parser case: payload -> count (or -1) and the seqs. */
struct parse_case {
    const char *payload;
    int n;
    uint64_t seqs[3];
    const char *error; /* a part of the reason, for -1 */
    uint64_t epoch;    /* the epoch the receipt names, 0 for none */
};

static void receipt_payloads_parse_or_are_refused(void)
{
    static const struct parse_case cases[] = {
        {"{\"seq\":5}", 1, {5}, NULL, 0},
        {"{\"seqs\":[1,2,3],\"station\":\"cs-1\"}", 3, {1, 2, 3}, NULL, 0},
        {"{\"station\":\"cs-1\",\"seq\":42}", 1, {42}, NULL, 0},
        {"ack 5", -1, {0}, "not JSON", 0},
        {"[5]", -1, {0}, "not a JSON object", 0},
        {"{}", -1, {0}, "exactly one of", 0},
        {"{\"seq\":1,\"seqs\":[2]}", -1, {0}, "exactly one of", 0},
        {"{\"seq\":0}", -1, {0}, "integer >= 1", 0},
        {"{\"seq\":\"5\"}", -1, {0}, "integer >= 1", 0},
        {"{\"seqs\":[]}", -1, {0}, "non-empty", 0},
        {"{\"seqs\":[1,-2]}", -1, {0}, "entry 2", 0},
        {"{\"seqs\":[1,2,3,4]}", -1, {0}, "at most 3", 0},
        {"{\"seq\":1,\"ack\":true}", -1, {0}, "unknown key \"ack\"", 0},
        {"{\"seq\":1,\"station\":7}", -1, {0}, "\"station\" must be a string", 0},
        {"{\"seq\":1,\"seq\":2}", -1, {0}, "not JSON", 0},
        {"{\"seq\":9,\"epoch\":\"5f3a00c0ffee0001\"}", 1, {9}, NULL, 0x5f3a00c0ffee0001ull},
        {"{\"seq\":9,\"epoch\":\"5f3a00c0ffee001\"}", -1, {0}, "16 hex digits", 0},
        {"{\"seq\":9,\"epoch\":\"5f3a00c0ffee000g\"}", -1, {0}, "16 hex digits", 0},
        {"{\"seq\":9,\"epoch\":6861}", -1, {0}, "16 hex digits", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct parse_case *c = &cases[i];
        uint64_t seqs[3] = {0}, epoch = 1;
        char err[160] = "";
        int n = msg_parse_receipt(c->payload, strlen(c->payload), seqs, 3, &epoch, err, sizeof(err));

        EXPECT(n == c->n, "%s: got %d (%s), want %d", c->payload, n, err, c->n);
        EXPECT(n < 0 || epoch == c->epoch, "%s: epoch %llx, want %llx", c->payload, (unsigned long long)epoch,
               (unsigned long long)c->epoch);
        for (int k = 0; k < c->n && n == c->n; k++)
            EXPECT(seqs[k] == c->seqs[k], "%s: seq %d", c->payload, k);
        if (c->error)
            EXPECT(strstr(err, c->error) != NULL, "%s: reason \"%s\" lacks \"%s\"", c->payload, err, c->error);
    }
}

/* --- the receipts group of the config ------------------------------------- */

#define SITE_HEAD                                                                                         \
    "site = { id = \"r\"; state_dir = \"/tmp\"; };\n"                                                     \
    "mqtt = { brokers = ( { uri = \"tcp://127.0.0.1:1883\"; } ); };\n"                                    \
    "buses = ( { id = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; port = 1502; } );\n"                 \
    "devices = ( { id = \"io\"; bus = \"lan\"; unit = 1; profile = \"din16\"; },\n"                        \
    "            { id = \"th\"; bus = \"lan\"; unit = 2; profile = \"th-rs485\"; } );\n"

/* Loads SITE_HEAD + tail; returns the site or NULL with the errors in err. */
static struct cfg_site *load(const char *tail, char *err, size_t errlen)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/site.conf", tmpdir);
    f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fprintf(f, "%s%s", SITE_HEAD, tail);
    fclose(f);
    err[0] = '\0';
    return cfg_load(path, profiles, err, errlen);
}

static void config_reads_receipts_and_local_output(void)
{
    char err[4096];
    struct rcpt_settings set;
    struct cfg_site *s = load("receipts = { priorities = [ \"critical\", \"high\" ]; timeout_s = 2; max_retries = 5;\n"
                              "  local_output = { device = \"io\"; output = \"do2\"; }; };\n",
                              err, sizeof(err));

    EXPECT(s != NULL, "rejected: %s", err);
    if (!s)
        return;
    EXPECT(s->receipts.enabled && s->receipts.local_output.enabled, "not enabled");
    EXPECT_INT(s->receipts.priorities, CRIT | HIGH);
    EXPECT_INT(s->receipts.timeout_ms, 2000);
    EXPECT_INT(s->receipts.max_retries, 5);
    EXPECT_INT(s->receipts.local_output.device, cfg_find_device(s, "io"));
    EXPECT_STR(s->profiles[s->devices[0].profile].inputs[s->receipts.local_output.input].name, "do2");
    EXPECT_INT(s->receipts.local_output.on, 1);
    EXPECT_INT(s->receipts.local_output.priorities, CRIT);
    rcpt_settings_of(s, &set);
    EXPECT(set.track == (CRIT | HIGH) && set.escalate == CRIT && set.timeout_ms == 2000 && set.max_retries == 5,
           "settings");
    cfg_free(s);
}

static void config_without_receipts_tracks_nothing(void)
{
    char err[4096];
    struct rcpt_settings set;
    struct cfg_site *s = load("", err, sizeof(err));

    EXPECT(s != NULL, "rejected: %s", err);
    if (!s)
        return;
    EXPECT(!s->receipts.enabled, "enabled");
    rcpt_settings_of(s, &set);
    EXPECT_INT(set.track, 0);
    cfg_free(s);
}

struct bad_config {
    const char *tail;
    const char *error;
};

static void config_refuses_bad_receipts(void)
{
    static const struct bad_config cases[] = {
        {"receipts = { timeout_s = 2; };\n", ":6: receipts: missing required key \"priorities\""},
        {"receipts = { priorities = [ \"urgent\" ]; };\n", "is not a priority"},
        {"receipts = { priorities = [ \"high\", \"high\" ]; };\n", "listed twice"},
        {"receipts = { priorities = [ \"high\" ]; timeout_s = 0; };\n", "timeout_s 0 is out of range"},
        {"receipts = { priorities = [ \"high\" ]; colour = 1; };\n", "unknown key \"colour\""},
        {"receipts = { priorities = [ \"critical\" ];\n local_output = { device = \"nope\"; output = \"do1\"; }; };\n",
         ":7: receipts.local_output: device \"nope\" does not exist"},
        {"receipts = { priorities = [ \"critical\" ];\n local_output = { device = \"io\"; output = \"di1\"; }; };\n",
         "output \"di1\" of profile \"din16\" is a discrete input, which cannot be written"},
        {"receipts = { priorities = [ \"critical\" ];\n local_output = { device = \"th\"; output = \"temperature\"; }; };\n",
         "is an input register, which cannot be written"},
        {"receipts = { priorities = [ \"critical\" ];\n local_output = { device = \"io\"; output = \"do9\"; }; };\n",
         "output \"do9\" is not an input of profile \"din16\""},
        {"receipts = { priorities = [ \"critical\" ];\n local_output = { device = \"io\"; output = \"do1\"; on = 2; }; };\n",
         "on = 1"},
        {"receipts = { priorities = [ \"high\" ];\n local_output = { device = \"io\"; output = \"do1\"; }; };\n",
         "expected a subset of receipts.priorities"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[4096];
        struct cfg_site *s = load(cases[i].tail, err, sizeof(err));

        EXPECT(s == NULL, "case %zu accepted", i + 1);
        EXPECT(strstr(err, cases[i].error) != NULL, "case %zu: \"%s\" lacks \"%s\"", i + 1, err, cases[i].error);
        cfg_free(s);
    }
}

int main(void)
{
    const char *top = getenv("VIGIL_TOP");
    char path[600];

    snprintf(profiles, sizeof(profiles), "%s/sensors/profiles", top ? top : ".");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(only_listed_priorities_wait);
    RUN(prompt_receipt_means_no_retry);
    RUN(missed_receipt_is_retried_every_timeout);
    RUN(retries_stop_at_max_and_the_event_stays_missing);
    RUN(only_escalating_priorities_want_the_output);
    RUN(due_batches_continue_where_they_stopped);
    RUN(full_table_drops_the_oldest_and_escalates);
    RUN(tracking_a_seq_again_replaces_it);
    RUN(reconfigure_forgets_untracked_priorities);
    RUN(receipt_payloads_parse_or_are_refused);
    RUN(config_reads_receipts_and_local_output);
    RUN(config_without_receipts_tracks_nothing);
    RUN(config_refuses_bad_receipts);
    snprintf(path, sizeof(path), "%s/site.conf", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    HARNESS_EXIT();
}
