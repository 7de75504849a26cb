/*
 * ctl_util.c - what several vigilctl subcommands read the same way: string
 * members of JSON payloads, and the site's public key of --site-key. Times
 * are read with msg_parse_ts(), the daemon's own RFC 3339 reader.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

const char *ctl_jstr(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? s : dflt;
}

int ctl_site_key(const char *b64, unsigned char pk[32])
{
    size_t len = 0;

    if (sodium_init() < 0 || sodium_base642bin(pk, 32, b64, strlen(b64), NULL, &len, NULL,
                                               sodium_base64_VARIANT_ORIGINAL) != 0 || len != 32) {
        fprintf(stderr, "vigilctl: --site-key wants the site's public key (base64, 32 bytes)\n");
        return -1;
    }
    return 0;
}
