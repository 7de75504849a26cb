/*
 * fuzz_profile.c - a device profile file (sensors/profiles/<name>.conf) as
 * cfg_load_profile() reads it for `vigilctl probe` and for every device of
 * a site. Checked beyond "no crash": a refused profile says why.
 */
#include <stdlib.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char err[8192];
    char path[512];
    struct cfg_profile *p;

    if (fuzz_write("fz.conf", data, size, path, sizeof(path)) < 0)
        abort();
    err[0] = '\0';
    p = cfg_load_profile(fuzz_dir(), "fz", err, sizeof(err));
    if (!p && !err[0])
        abort();
    cfg_free_profile(p);
    return 0;
}
