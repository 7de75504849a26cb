/*
 * paysign.c - signed payloads (paysign.h).
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "paysign.h"

#define TAG ",\"gsig\":\""
#define SIG_B64 88                 /* base64 of 64 bytes, with padding */

int psig_load(struct psig_key *k, const char *path, char *err, size_t errlen)
{
    char b64[200] = "";
    size_t len = 0;
    struct stat st;
    FILE *f = fopen(path, "r");
    int rc = -1;

    k->on = false;
    if (!f || fstat(fileno(f), &st) < 0)
        snprintf(err, errlen, "signing key %s cannot be read", path);
    else if (st.st_mode & 077)
        snprintf(err, errlen, "signing key %s can be read by others; chmod 600 %s", path, path);
    else if (!fgets(b64, sizeof(b64), f) ||
             sodium_base642bin(k->sk, sizeof(k->sk), b64, strcspn(b64, "\r\n"), NULL, &len, NULL,
                               sodium_base64_VARIANT_ORIGINAL) != 0 ||
             len != sizeof(k->sk))
        snprintf(err, errlen, "signing key %s is not a key of `vigilctl key new`", path);
    else
        rc = 0;
    sodium_memzero(b64, sizeof(b64));
    if (f)
        fclose(f);
    k->on = rc == 0;
    return rc;
}

void psig_public_b64(const struct psig_key *k, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, k->sk + 32, 32, sodium_base64_VARIANT_ORIGINAL);
}

/* The signed bytes: the context lines and the payload, into a buffer of the caller's. */
static size_t signed_bytes(const char *site, const char *suffix, const char *payload, size_t len, unsigned char *buf,
                           size_t cap)
{
    int head = snprintf((char *)buf, cap, "vigil-msg-v1\n%s\n%s\n", site, suffix);

    if (head < 0 || (size_t)head + len > cap)
        return 0;
    memcpy(buf + head, payload, len);
    return (size_t)head + len;
}

int psig_sign(const struct psig_key *k, const char *site, const char *suffix, const char *payload, size_t len,
              char *out, size_t cap)
{
    unsigned char msg[8192], sig[crypto_sign_BYTES];
    size_t n;

    if (!k->on || len < 2 || payload[0] != '{' || payload[len - 1] != '}' ||
        !(n = signed_bytes(site, suffix, payload, len, msg, sizeof(msg)))) {
        if (len + 1 > cap)
            return -1;
        if (len > 0) /* an empty payload may come as NULL */
            memcpy(out, payload, len);
        out[len] = '\0';
        return (int)len;
    }
    if (len + PSIG_EXTRA > cap)
        return -1;
    crypto_sign_detached(sig, NULL, msg, n, k->sk);
    memcpy(out, payload, len - 1);
    memcpy(out + len - 1, TAG, sizeof(TAG) - 1);
    sodium_bin2base64(out + len - 1 + sizeof(TAG) - 1, SIG_B64 + 1, sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    n = len - 1 + sizeof(TAG) - 1 + SIG_B64;
    memcpy(out + n, "\"}", 3);
    return (int)n + 2;
}

enum psig_verdict psig_verify(const unsigned char pk[32], const char *site, const char *suffix, const char *payload,
                              size_t len, size_t *plain_len)
{
    size_t tail = sizeof(TAG) - 1 + SIG_B64 + 2, sig_len = 0, n;
    unsigned char msg[8192], sig[crypto_sign_BYTES];
    const char *tag;

    *plain_len = len;
    if (len < tail + 2 || memcmp(payload + len - 2, "\"}", 2) != 0)
        return PSIG_UNSIGNED;
    tag = payload + len - tail;
    if (memcmp(tag, TAG, sizeof(TAG) - 1) != 0)
        return PSIG_UNSIGNED;
    *plain_len = (size_t)(tag - payload) + 1; /* the original ends with the object's '}' */
    if (sodium_base642bin(sig, sizeof(sig), tag + sizeof(TAG) - 1, SIG_B64, NULL, &sig_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || sig_len != sizeof(sig))
        return PSIG_FORGED;
    /* the signed payload is the received one up to the tag, closed again */
    n = signed_bytes(site, suffix, payload, *plain_len, msg, sizeof(msg));
    if (!n)
        return PSIG_FORGED;
    msg[n - 1] = '}';
    return crypto_sign_verify_detached(sig, msg, n, pk) == 0 ? PSIG_GOOD : PSIG_FORGED;
}
