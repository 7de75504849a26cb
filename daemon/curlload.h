/*
 * curlload.h - libcurl, loaded when the first InfluxDB sink starts.
 *
 * Linking libcurl maps some thirty libraries (GnuTLS, Kerberos, LDAP,
 * libssh2 ...) whose constructors and relocations cost about 3 MiB of
 * resident memory in every vigild, with or without an influx group. vigild
 * therefore opens it with dlopen() the first time a sink needs it, and
 * calls it through this table. It is never unloaded (libraries that start
 * threads or register atexit handlers do not survive a dlclose).
 */
#ifndef VIGIL_CURLLOAD_H
#define VIGIL_CURLLOAD_H

#include <stddef.h>

#include <curl/curl.h>

struct curl_api {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *c);
    const char *(*easy_strerror)(CURLcode code);
    char *(*easy_escape)(CURL *c, const char *s, int len);
    void (*free_str)(void *p);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
};

/* Loads libcurl once (safe from any thread) and returns its functions; the
 * table is static and lives as long as the process. NULL, with the reason
 * in err, if the library or one of its functions is missing. */
const struct curl_api *curlload(char *err, size_t errlen);

#endif
