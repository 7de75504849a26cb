/*
 * test_paysign.c - the gateway's signatures on what it publishes
 * (paysign.h): a station can tell the site's own messages from forgeries,
 * and a message cannot be moved to another site or topic.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "paysign.h"

static struct psig_key key;
static unsigned char pk[32];

static const char *event = "{\"seq\":7,\"site\":\"depot-7\",\"state\":\"active_unacked\"}";

/* "What the site signed, the station accepts, byte for byte as it was built." */
static void signed_payload_verifies(void)
{
    char out[512];
    int n = psig_sign(&key, "depot-7", "events", event, strlen(event), out, sizeof(out));
    size_t plain = 0;

    EXPECT(n > (int)strlen(event), "not signed: %s", out);
    EXPECT(strncmp(out, event, strlen(event) - 1) == 0, "the payload changed before its signature: %s", out);
    EXPECT(psig_verify(pk, "depot-7", "events", out, (size_t)n, &plain) == PSIG_GOOD, "good payload refused");
    EXPECT_INT(plain, strlen(event) - 1 + 1);
}

/* "A forged or altered message, or one moved to another site or topic, is caught." */
static void tampering_is_caught(void)
{
    char out[512];
    int n = psig_sign(&key, "depot-7", "events", event, strlen(event), out, sizeof(out));
    size_t plain;
    char *seq = strstr(out, "\"seq\":7");

    EXPECT(psig_verify(pk, "depot-9", "events", out, (size_t)n, &plain) == PSIG_FORGED, "another site accepted");
    EXPECT(psig_verify(pk, "depot-7", "status", out, (size_t)n, &plain) == PSIG_FORGED, "another topic accepted");
    seq[6] = '8';
    EXPECT(psig_verify(pk, "depot-7", "events", out, (size_t)n, &plain) == PSIG_FORGED, "an altered seq accepted");
    EXPECT(psig_verify(pk, "depot-7", "events", event, strlen(event), &plain) == PSIG_UNSIGNED,
           "an unsigned message passed as signed");
}

/* "A site without a key publishes exactly what it published before." */
static void no_key_no_change(void)
{
    struct psig_key off = {.on = false};
    char out[512];
    int n = psig_sign(&off, "depot-7", "events", event, strlen(event), out, sizeof(out));

    EXPECT(n == (int)strlen(event) && strcmp(out, event) == 0, "unsigned payload changed: %s", out);
    n = psig_sign(&key, "depot-7", "alarms/x", "", 0, out, sizeof(out));
    EXPECT_INT(n, 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    crypto_sign_keypair(pk, key.sk);
    key.on = true;
    RUN(signed_payload_verifies);
    RUN(tampering_is_caught);
    RUN(no_key_no_change);
    HARNESS_EXIT();
}
