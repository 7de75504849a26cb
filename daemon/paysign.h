/*
 * paysign.h - the gateway signs what it publishes (docs/mqtt.md, "Signed
 * payloads"), so a station can tell the site's messages from forged ones.
 *
 * With site.signing_key set, every JSON payload vigild publishes gets one
 * more member at its end, "gsig": the Ed25519 signature, base64, over
 *   "vigil-msg-v1\n" <site id> "\n" <topic suffix> "\n" <payload without gsig>
 * where the topic suffix is "events", "status", "alarms/<id>" and so on.
 * Binding the site and the topic means a payload signed for one place is
 * refused in every other. An empty payload (a retained topic being
 * cleared) cannot carry a signature.
 *
 * Pure apart from psig_load(), which reads the key file.
 */
#ifndef VIGIL_PAYSIGN_H
#define VIGIL_PAYSIGN_H

#include <stdbool.h>
#include <stddef.h>

#define PSIG_EXTRA 100             /* bytes a signature adds to a payload: ,"gsig":"<88 characters>" */

struct psig_key {
    bool on;                       /* false: payloads go out unsigned */
    unsigned char sk[64];          /* Ed25519 secret key (with the public key in its second half) */
};

/*
 * Reads a secret key written by `vigilctl key new` from path, refusing a
 * file others can read. Returns 0 with k->on set, or -1 with why in err.
 */
int psig_load(struct psig_key *k, const char *path, char *err, size_t errlen);

/* The public key of k in base64 into out (at least 45 bytes). */
void psig_public_b64(const struct psig_key *k, char *out, size_t cap);

/*
 * Writes payload, signed, into out. Returns its length, or -1 if it does
 * not fit. With k->on false, or an empty payload, or one that is not a JSON
 * object, the payload is copied as it is.
 */
int psig_sign(const struct psig_key *k, const char *site, const char *suffix, const char *payload, size_t len,
              char *out, size_t cap);

enum psig_verdict { PSIG_GOOD, PSIG_UNSIGNED, PSIG_FORGED };

/*
 * Checks a payload received on <prefix>/<site>/<suffix> against the site's
 * public key (32 bytes). *plain_len gets the length of the payload without
 * its signature (the bytes that were signed).
 */
enum psig_verdict psig_verify(const unsigned char pk[32], const char *site, const char *suffix, const char *payload,
                              size_t len, size_t *plain_len);

#endif
