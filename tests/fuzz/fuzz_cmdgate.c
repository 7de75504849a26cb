/*
 * fuzz_cmdgate.c - an MQTT payload on <prefix>/<site>/cmd through the whole
 * command gate (cmdgate_check): size, rate, parse, freshness, the Ed25519
 * signature against the operators' keys, roles and replayed ids. The site
 * is that of docs/commands.md's test vectors (tests/cmdgate_vectors.txt):
 * "depot-7", operators with the key pair of the seed 00 01 ... 1f, and "now"
 * the first vector's ts, so the signed vectors in the corpus pass and their
 * mutations reach every refusal. Each input is checked twice by a fresh
 * gate, the second time as the replay it is. Checked beyond "no crash":
 * every refusal carries a reason and a cmd/result payload, and a replay
 * never passes.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdgate.h"
#include "fuzz.h"

#define NOW_WALL_MS 1796551200123LL /* 2026-12-06T10:00:00.123Z */

static const struct cfg_site *vector_site(void)
{
    static const char *names[] = {"guard-ana", "off-kovac", "eng-petrov", "aud-horvat"};
    static const enum cfg_role roles[] = {CFG_ROLE_GUARD, CFG_ROLE_OFFICER, CFG_ROLE_ENGINEER, CFG_ROLE_AUDITOR};
    static struct cfg_site *s;
    static struct cfg_operator ops[4];
    unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

    if (s)
        return s;
    if (sodium_init() < 0 || !(s = calloc(1, sizeof(*s))))
        abort();
    for (size_t i = 0; i < sizeof(seed); i++)
        seed[i] = (unsigned char)i;
    crypto_sign_seed_keypair(pk, sk, seed);
    snprintf(s->id, sizeof(s->id), "depot-7");
    s->mqtt.cmd_max_age_s = 120;
    for (int i = 0; i < 4; i++) {
        snprintf(ops[i].name, sizeof(ops[i].name), "%s", names[i]);
        ops[i].role = roles[i];
        memcpy(ops[i].key, pk, sizeof(pk));
    }
    s->operators = ops;
    s->n_operators = 4;
    return s;
}

static void check_outcome(const struct gate_outcome *o)
{
    if (o->verdict == GATE_REFUSED && (!o->reason[0] || o->result_len == 0))
        abort(); /* a refusal must say why, to its source */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cmdgate *g = cmdgate_new(vector_site());
    struct gate_outcome first, again;

    if (!g)
        abort();
    cmdgate_check(g, CORE_SRC_MQTT, (const char *)data, size, NOW_WALL_MS, 1000, &first);
    check_outcome(&first);
    /* Two seconds later: past the rate limit, well within the age limit. */
    cmdgate_check(g, CORE_SRC_MQTT, (const char *)data, size, NOW_WALL_MS + 2000, 3000, &again);
    check_outcome(&again);
    if (first.verdict == GATE_PASS && again.verdict == GATE_PASS)
        abort(); /* a captured command played again must not run twice */
    cmdgate_free(g);
    return 0;
}
