/*
 * curlload.c - libcurl through dlopen (curlload.h says why).
 */
#include "curlload.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* The soname of libcurl 7.16 and later (Debian's libcurl4). */
#define CURL_SONAME "libcurl.so.4"

static struct curl_api api;
static char load_err[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Looks name up in lib into *slot (a function pointer of the table). */
static int resolve(void *lib, const char *name, void *slot)
{
    void *sym = dlsym(lib, name);

    if (!sym) {
        snprintf(load_err, sizeof(load_err), "%s: no %s", CURL_SONAME, name);
        return -1;
    }
    *(void **)slot = sym;
    return 0;
}

static void load(void)
{
    void *lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);

    if (!lib) {
        snprintf(load_err, sizeof(load_err), "%s", dlerror());
        return;
    }
    if (resolve(lib, "curl_global_init", &api.global_init) < 0 ||
        resolve(lib, "curl_global_cleanup", &api.global_cleanup) < 0 ||
        resolve(lib, "curl_easy_init", &api.easy_init) < 0 || resolve(lib, "curl_easy_setopt", &api.easy_setopt) < 0 ||
        resolve(lib, "curl_easy_perform", &api.easy_perform) < 0 ||
        resolve(lib, "curl_easy_getinfo", &api.easy_getinfo) < 0 ||
        resolve(lib, "curl_easy_cleanup", &api.easy_cleanup) < 0 ||
        resolve(lib, "curl_easy_strerror", &api.easy_strerror) < 0 ||
        resolve(lib, "curl_easy_escape", &api.easy_escape) < 0 || resolve(lib, "curl_free", &api.free_str) < 0 ||
        resolve(lib, "curl_slist_append", &api.slist_append) < 0 ||
        resolve(lib, "curl_slist_free_all", &api.slist_free_all) < 0)
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
