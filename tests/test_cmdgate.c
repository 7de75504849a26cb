/*
 * test_cmdgate.c - the command gate (docs/commands.md), as a depot officer
 * would state its rules: a forged disarm never reaches the core, a guard
 * cannot disarm, a captured command cannot be played again, and the
 * published test vectors hold byte for byte.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdgate.h"
#include "harness.h"

#define SITE "depot-7"
#define T_WALL_MS 1796551200123LL /* 2026-12-06T10:00:00.123Z, the first vector's ts */
#define MAX_VECTORS 8

static unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
static unsigned char other_pk[crypto_sign_PUBLICKEYBYTES], other_sk[crypto_sign_SECRETKEYBYTES];
static char vectors_path[600];

struct vector {
    char command[1024];
    char canonical[1024];
    char sig[100];
};

/* A site with three operators sharing the seed key pair, and an auditor with another. */
static struct cfg_site *site_with_operators(bool with)
{
    static const char *names[] = {"guard-ana", "off-kovac", "eng-petrov", "aud-horvat"};
    static const enum cfg_role roles[] = {CFG_ROLE_GUARD, CFG_ROLE_OFFICER, CFG_ROLE_ENGINEER, CFG_ROLE_AUDITOR};
    struct cfg_site *s = calloc(1, sizeof(*s));

    snprintf(s->id, sizeof(s->id), SITE);
    s->mqtt.cmd_max_age_s = 120;
    if (!with)
        return s;
    s->operators = calloc(4, sizeof(*s->operators));
    s->n_operators = 4;
    for (int i = 0; i < 4; i++) {
        snprintf(s->operators[i].name, sizeof(s->operators[i].name), "%s", names[i]);
        s->operators[i].role = roles[i];
        memcpy(s->operators[i].key, i == 3 ? other_pk : pk, sizeof(pk));
    }
    return s;
}

static void free_site(struct cfg_site *s)
{
    free(s->operators);
    free(s);
}

/* Signs json (an object without "sig") with key and returns it with "sig" added. */
static const char *sign(const char *json, const unsigned char *key)
{
    static char out[2048];
    struct core_cmd c;
    struct msg_cmd_auth a;
    char err[200], canon[1024], b64[100];
    unsigned char sig[crypto_sign_BYTES];
    int n;

    if (msg_parse_cmd(json, strlen(json), &c, &a, err, sizeof(err)) != MSG_CMD_OK ||
        (n = cmdgate_canonical(SITE, &c, &a, canon, sizeof(canon))) < 0)
        return json;
    crypto_sign_detached(sig, NULL, (const unsigned char *)canon, (unsigned long long)n, key);
    sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, sizeof(out), "%.*s,\"sig\":\"%s\"}", (int)strlen(json) - 1, json, b64);
    return out;
}

static void check(struct cmdgate *g, const char *payload, int64_t now, struct gate_outcome *o)
{
    static uint64_t mono = 1000;

    mono += 1000; /* a second between commands: the rate limit is not what these cases test */
    cmdgate_check(g, CORE_SRC_MQTT, payload, strlen(payload), now, mono, o);
}

/* Reads tests/cmdgate_vectors.txt; returns how many vectors. */
static int read_vectors(struct vector *v, int max)
{
    FILE *f = fopen(vectors_path, "r");
    char line[1024];
    int n = -1, in_canon = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f) && n < max) {
        if (strncmp(line, "command: ", 9) == 0 && n + 1 < max) {
            n++;
            memset(&v[n], 0, sizeof(v[n]));
            snprintf(v[n].command, sizeof(v[n].command), "%.*s", (int)strcspn(line + 9, "\n"), line + 9);
        } else if (strcmp(line, "canonical:\n") == 0) {
            in_canon = 1;
        } else if (strncmp(line, "sig: ", 5) == 0 && n >= 0) {
            in_canon = 0;
            snprintf(v[n].sig, sizeof(v[n].sig), "%.*s", (int)strcspn(line + 5, "\n"), line + 5);
        } else if (in_canon && n >= 0) {
            size_t have = strlen(v[n].canonical);

            snprintf(v[n].canonical + have, sizeof(v[n].canonical) - have, "%s", line);
        }
    }
    fclose(f);
    return n + 1;
}

/* "The published vectors are what vigil signs and verifies, byte for byte." */
static void vectors_hold_byte_for_byte(void)
{
    struct vector v[MAX_VECTORS];
    int n = read_vectors(v, MAX_VECTORS);
    struct cfg_site *s = site_with_operators(true);
    struct cmdgate *g = cmdgate_new(s);

    EXPECT(n == 4, "%d vectors in %s", n, vectors_path);
    for (int i = 0; i < n; i++) {
        struct core_cmd c;
        struct msg_cmd_auth a;
        struct gate_outcome o;
        char err[200], canon[1024], signed_cmd[1200];

        EXPECT(msg_parse_cmd(v[i].command, strlen(v[i].command), &c, &a, err, sizeof(err)) == MSG_CMD_OK, "%s", err);
        EXPECT(cmdgate_canonical(SITE, &c, &a, canon, sizeof(canon)) > 0, "vector %d: no canonical form", i + 1);
        EXPECT_STR(canon, v[i].canonical);
        snprintf(signed_cmd, sizeof(signed_cmd), "%s", sign(v[i].command, sk));
        EXPECT(strstr(signed_cmd, v[i].sig) != NULL, "vector %d: signature differs from the published one", i + 1);
        check(g, signed_cmd, a.ts_wall_ms, &o);
        EXPECT(o.verdict == GATE_PASS, "vector %d refused: %s", i + 1, o.reason);
        EXPECT(o.input.u.cmd.verified ==
                   (CORE_VERIFIED_FRESH | CORE_VERIFIED_SIGNED | CORE_VERIFIED_ROLE | CORE_VERIFIED_UNIQUE),
               "vector %d: verified %#x", i + 1, o.input.u.cmd.verified);
    }
    cmdgate_free(g);
    free_site(s);
}

/* "A disarm signed with someone else's key never reaches the core, and the station hears of it." */
static void forged_disarm_is_refused_and_reported(void)
{
    struct cfg_site *s = site_with_operators(true);
    struct cmdgate *g = cmdgate_new(s);
    struct gate_outcome o;
    const char *cmd = "{\"id\":\"f-1\",\"op\":\"disarm\",\"zone\":\"store1\",\"operator\":\"off-kovac\","
                      "\"ts\":\"2026-12-06T10:00:00.123Z\"}";

    check(g, sign(cmd, other_sk), T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_REFUSED, "a forged disarm passed");
    EXPECT(strstr(o.result, "\"ok\":false,\"error\":\"bad signature for operator \\\"off-kovac\\\"\"") != NULL,
           "result %s", o.result);
    EXPECT(o.raise && o.refusal.type == CORE_IN_SYSTEM && o.refusal.u.sys.kind == CORE_SYS_COMMAND_REFUSED,
           "no command_refused input");
    EXPECT(strstr(o.refusal.u.sys.text, "disarm store1 by \"off-kovac\" refused: bad signature") != NULL, "text %s",
           o.refusal.u.sys.text);
    EXPECT(strstr(o.refusal.u.sys.text, "sig") == NULL || strstr(o.refusal.u.sys.text, "signature") != NULL,
           "signature material in the event: %s", o.refusal.u.sys.text);
    check(g, cmd, T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_REFUSED && strstr(o.reason, "not signed") != NULL, "unsigned: %s", o.reason);
    check(g, "{\"id\":\"f-2\",\"op\":\"ack\",\"alarm\":\"a.intrusion\",\"operator\":\"mallory\","
             "\"ts\":\"2026-12-06T10:00:00.123Z\",\"sig\":\"AAAA\"}", T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_REFUSED && strcmp(o.reason, "unknown operator \"mallory\"") == 0, "%s", o.reason);
    cmdgate_free(g);
    free_site(s);
}

/* "A guard can acknowledge but cannot disarm a store; an auditor can do nothing." */
static void roles_limit_what_a_signature_allows(void)
{
    struct cfg_site *s = site_with_operators(true);
    struct cmdgate *g = cmdgate_new(s);
    struct gate_outcome o;

    check(g, sign("{\"id\":\"r-1\",\"op\":\"disarm\",\"zone\":\"store1\",\"operator\":\"guard-ana\","
                  "\"ts\":\"2026-12-06T10:00:00.123Z\"}", sk), T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_REFUSED && strcmp(o.reason, "operator \"guard-ana\" (guard) may not disarm") == 0,
           "%s", o.reason);
    check(g, sign("{\"id\":\"r-2\",\"op\":\"ack\",\"alarm\":\"store1-door.intrusion\",\"operator\":\"guard-ana\","
                  "\"ts\":\"2026-12-06T10:00:00.123Z\"}", sk), T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_PASS && o.input.u.cmd.role == CFG_ROLE_GUARD, "a guard's ack: %s", o.reason);
    check(g, sign("{\"id\":\"r-3\",\"op\":\"ack\",\"alarm\":\"store1-door.intrusion\",\"operator\":\"aud-horvat\","
                  "\"ts\":\"2026-12-06T10:00:00.123Z\"}", other_sk), T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_REFUSED && strstr(o.reason, "(auditor) may not ack") != NULL, "%s", o.reason);
    check(g, sign("{\"id\":\"r-4\",\"op\":\"out_of_service\",\"alarm\":\"store1-pir.intrusion\","
                  "\"operator\":\"eng-petrov\",\"ts\":\"2026-12-06T10:00:00.123Z\"}", sk), T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_PASS && o.input.u.cmd.role == CFG_ROLE_ENGINEER, "an engineer's maintenance: %s",
           o.reason);
    cmdgate_free(g);
    free_site(s);
}

/* "A captured command played back is refused; the same command over the second path is simply dropped." */
static void replays_are_refused_duplicates_dropped(void)
{
    struct cfg_site *s = site_with_operators(true);
    struct cmdgate *g = cmdgate_new(s);
    struct gate_outcome o;
    char first[1200];

    snprintf(first, sizeof(first), "%s", sign("{\"id\":\"p-1\",\"op\":\"disarm\",\"zone\":\"store1\","
                                              "\"operator\":\"off-kovac\",\"ts\":\"2026-12-06T10:00:00.123Z\"}", sk));
    check(g, first, T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_PASS, "%s", o.reason);
    check(g, first, T_WALL_MS + 500, &o);
    EXPECT(o.verdict == GATE_REPEAT, "the copy from the second path was not dropped quietly");
    check(g, sign("{\"id\":\"p-1\",\"op\":\"disarm\",\"zone\":\"store1\",\"operator\":\"off-kovac\","
                  "\"ts\":\"2026-12-06T10:00:01Z\"}", sk), T_WALL_MS + 1000, &o);
    EXPECT(o.verdict == GATE_REFUSED && strcmp(o.reason, "command id \"p-1\" was already used") == 0, "%s", o.reason);
    check(g, first, T_WALL_MS + 121000, &o);
    EXPECT(o.verdict == GATE_REFUSED && strstr(o.reason, "command expired") != NULL, "replayed later: %s", o.reason);
    check(g, sign("{\"id\":\"p-2\",\"op\":\"arm\",\"zone\":\"store1\",\"operator\":\"off-kovac\","
                  "\"ts\":\"2026-12-06T10:10:00Z\"}", sk), T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_REFUSED && strstr(o.reason, "in the future") != NULL, "future: %s", o.reason);
    cmdgate_free(g);
    free_site(s);
}

/* "A command signed for another site does nothing here." */
static void a_signature_is_bound_to_its_site(void)
{
    struct cfg_site *s = site_with_operators(true);
    struct cmdgate *g;
    struct gate_outcome o;
    char cmd[1200];

    snprintf(cmd, sizeof(cmd), "%s", sign("{\"id\":\"s-1\",\"op\":\"disarm\",\"zone\":\"store1\","
                                          "\"operator\":\"off-kovac\",\"ts\":\"2026-12-06T10:00:00.123Z\"}", sk));
    snprintf(s->id, sizeof(s->id), "depot-9");
    g = cmdgate_new(s);
    check(g, cmd, T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_REFUSED && strstr(o.reason, "bad signature") != NULL, "%s", o.reason);
    cmdgate_free(g);
    free_site(s);
}

/* "Removing an operator from the config and reloading revokes the key at once." */
static void reload_revokes_a_key(void)
{
    struct cfg_site *s = site_with_operators(true);
    struct cmdgate *g = cmdgate_new(s);
    struct gate_outcome o;

    s->n_operators = 1; /* only guard-ana is left */
    cmdgate_configure(g, s);
    check(g, sign("{\"id\":\"k-1\",\"op\":\"arm\",\"zone\":\"store1\",\"operator\":\"off-kovac\","
                  "\"ts\":\"2026-12-06T10:00:00.123Z\"}", sk), T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_REFUSED && strcmp(o.reason, "unknown operator \"off-kovac\"") == 0, "%s", o.reason);
    cmdgate_free(g);
    free_site(s);
}

/* "A site without operators takes unsigned commands, as before signing existed, with no roles." */
static void unsigned_site_keeps_working(void)
{
    struct cfg_site *s = site_with_operators(false);
    struct cmdgate *g = cmdgate_new(s);
    struct gate_outcome o;

    check(g, "{\"id\":\"u-1\",\"op\":\"disarm\",\"zone\":\"store1\",\"operator\":\"anyone\"}", T_WALL_MS, &o);
    EXPECT(o.verdict == GATE_PASS && o.input.u.cmd.role == CFG_ROLE_NONE &&
               o.input.u.cmd.verified == CORE_VERIFIED_UNIQUE && o.input.u.cmd.source == CORE_SRC_MQTT,
           "%s", o.reason);
    cmdgate_free(g);
    free_site(s);
}

/* "A flood of commands is cut off, and the station gets ten refusal events a minute, not thousands." */
static void floods_are_bounded(void)
{
    struct cfg_site *s = site_with_operators(true);
    struct cmdgate *g = cmdgate_new(s);
    struct gate_outcome o;
    int passed = 0, raised = 0, answered = 0;

    for (int i = 0; i < 200; i++) {
        char cmd[200];

        snprintf(cmd, sizeof(cmd), "{\"id\":\"x-%d\",\"op\":\"ack\",\"alarm\":\"a.intrusion\",\"operator\":\"x\"}", i);
        cmdgate_check(g, CORE_SRC_MQTT, cmd, strlen(cmd), T_WALL_MS, 5000000, &o); /* all in one millisecond */
        passed += o.verdict == GATE_PASS;
        raised += o.verdict == GATE_REFUSED && o.raise;
        answered += o.verdict == GATE_REFUSED && o.answer && strstr(o.reason, "too many commands");
    }
    EXPECT(passed == 0, "%d unsigned commands passed a signed site", passed);
    EXPECT(raised == 10, "%d refusal events in a minute", raised);
    /* Answering a flood feeds it and queues results ahead of alarms: one answer a second. */
    EXPECT(answered == 1, "%d answers to the flood's excess in one second", answered);
    cmdgate_check(g, CORE_SRC_MQTT, "{}", 2, T_WALL_MS, 5000000, &o);
    EXPECT(o.verdict == GATE_REFUSED && strstr(o.reason, "too many commands") != NULL, "%s", o.reason);
    char big[GATE_PAYLOAD_MAX + 2];
    memset(big, ' ', sizeof(big));
    cmdgate_check(g, CORE_SRC_LOCAL, big, sizeof(big), T_WALL_MS, 6000000, &o);
    EXPECT(o.verdict == GATE_REFUSED && strstr(o.reason, "at most 4096") != NULL, "%s", o.reason);
    cmdgate_free(g);
    free_site(s);
}

int main(void)
{
    const char *top = getenv("VIGIL_TOP");
    unsigned char seed[crypto_sign_SEEDBYTES];

    if (sodium_init() < 0)
        return 1;
    for (int i = 0; i < (int)sizeof(seed); i++)
        seed[i] = (unsigned char)i;
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_keypair(other_pk, other_sk);
    snprintf(vectors_path, sizeof(vectors_path), "%s/tests/cmdgate_vectors.txt", top ? top : ".");
    RUN(vectors_hold_byte_for_byte);
    RUN(forged_disarm_is_refused_and_reported);
    RUN(roles_limit_what_a_signature_allows);
    RUN(replays_are_refused_duplicates_dropped);
    RUN(a_signature_is_bound_to_its_site);
    RUN(reload_revokes_a_key);
    RUN(unsigned_site_keeps_working);
    RUN(floods_are_bounded);
    HARNESS_EXIT();
}
