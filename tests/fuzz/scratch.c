/*
 * scratch.c - the temporary directory the file-reading fuzz targets write
 * their inputs to (the config and profile loaders and the journal reader
 * read files, not buffers). One directory per process, removed at exit.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char scratch[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_scratch(void)
{
    nftw(scratch, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_dir(void)
{
    const char *tmp = getenv("TMPDIR");

    if (scratch[0])
        return scratch;
    snprintf(scratch, sizeof(scratch), "%s/vigil-fuzz-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch)) {
        fprintf(stderr, "fuzz: mkdtemp %s: %s\n", scratch, strerror(errno));
        abort();
    }
    atexit(remove_scratch);
    return scratch;
}

int fuzz_write(const char *name, const void *data, size_t size, char *path, size_t cap)
{
    FILE *f;
    int ok;

    snprintf(path, cap, "%s/%s", fuzz_dir(), name);
    f = fopen(path, "wb");
    if (!f)
        return -1;
    ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok ? 0 : -1;
}
