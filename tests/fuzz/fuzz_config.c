/*
 * fuzz_config.c - a site config file as vigild and `vigild --check-config`
 * load it with cfg_load(). A valid profile "jio" is in the profile
 * directory, so inputs that name it get past the device checks into points,
 * zones and the rest. Checked beyond "no crash": a refused config says why.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "../jtest_site.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char err[16384];
    static int ready;
    char path[512];
    struct cfg_site *site;

    if (!ready && fuzz_write("jio.conf", jtest_profile_text, strlen(jtest_profile_text), path, sizeof(path)) < 0)
        abort(); /* the profile of tests/test_journal.c's site, which seeds the corpus */
    ready = 1;
    if (fuzz_write("site.conf", data, size, path, sizeof(path)) < 0)
        abort();
    err[0] = '\0';
    site = cfg_load(path, fuzz_dir(), err, sizeof(err));
    if (!site && !err[0])
        abort();
    cfg_free(site);
    return 0;
}
