/*
 * dlload.c - a library's functions through dlopen (dlload.h).
 */
#include "dlload.h"

#include <dlfcn.h>
#include <stdio.h>

void *dlload(const char *soname, const struct dlload_sym *syms, size_t n, char *err, size_t errlen)
{
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

    if (!lib) {
        snprintf(err, errlen, "%s", dlerror());
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        /* dlsym also searches the libraries soname depends on (paho's OpenSSL). */
        void *sym = dlsym(lib, syms[i].name);

        if (!sym) {
            snprintf(err, errlen, "%s: no %s", soname, syms[i].name);
            return NULL;
        }
        *(void **)syms[i].slot = sym;
    }
    return lib;
}
