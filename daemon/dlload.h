/*
 * dlload.h - a library opened with dlopen() and its functions looked up
 * into a table of function pointers (curlload.c, pahoload.c, sslload.c).
 */
#ifndef VIGIL_DLLOAD_H
#define VIGIL_DLLOAD_H

#include <stddef.h>

/* One function to look up: its name and the table slot (a function pointer) it fills. */
struct dlload_sym {
    const char *name;
    void *slot;
};

/*
 * Opens soname (never closed: libraries that start threads or register
 * atexit handlers do not survive a dlclose) and fills every slot of syms.
 * Returns the handle, or NULL with the library or the missing function
 * named in err.
 */
void *dlload(const char *soname, const struct dlload_sym *syms, size_t n, char *err, size_t errlen);

#endif
