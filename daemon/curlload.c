/*
 * curlload.c - libcurl through dlopen (curlload.h says why).
 */
#include "curlload.h"
#include "dlload.h"

#include <pthread.h>
#include <stdio.h>

/* The soname of libcurl 7.16 and later (Debian's libcurl4). */
#define CURL_SONAME "libcurl.so.4"

static struct curl_api api;
static char load_err[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    const struct dlload_sym syms[] = {
        { "curl_global_init", &api.global_init },     { "curl_global_cleanup", &api.global_cleanup },
        { "curl_easy_init", &api.easy_init },         { "curl_easy_setopt", &api.easy_setopt },
        { "curl_easy_perform", &api.easy_perform },   { "curl_easy_getinfo", &api.easy_getinfo },
        { "curl_easy_cleanup", &api.easy_cleanup },   { "curl_easy_strerror", &api.easy_strerror },
        { "curl_easy_escape", &api.easy_escape },     { "curl_free", &api.free_str },
        { "curl_slist_append", &api.slist_append },   { "curl_slist_free_all", &api.slist_free_all },
    };

    if (!dlload(CURL_SONAME, syms, sizeof(syms) / sizeof(syms[0]), load_err, sizeof(load_err)))
        api.global_init = NULL; /* marks the table unusable */
}

const struct curl_api *curlload(char *err, size_t errlen)
{
    pthread_once(&once, load);
    if (!api.global_init) {
        snprintf(err, errlen, "influx: cannot load libcurl: %s", load_err);
        return NULL;
    }
    return &api;
}
