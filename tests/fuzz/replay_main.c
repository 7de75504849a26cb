/*
 * replay_main.c - runs a fuzz target over the files named on its command
 * line, once each, in place of libFuzzer's main: `make check` replays every
 * seed and regression input this way, built by the project's own compiler
 * with ASan+UBSan. A crash aborts with the sanitizer's report after the
 * "# file" line naming the input; otherwise it prints how many it ran.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Reads a whole file into a malloc'd buffer of exactly its size (no NUL added: ASan sees overreads). */
static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc(n > 0 ? (size_t)n : 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *size = (size_t)n;
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        size_t size = 0;
        unsigned char *data = slurp(argv[i], &size);

        if (!data) {
            fprintf(stderr, "%s: cannot read: %s\n", argv[i], strerror(errno));
            return 1;
        }
        printf("# %s\n", argv[i]);
        fflush(stdout);
        LLVMFuzzerTestOneInput(data, size);
        free(data);
    }
    printf("# %d inputs\n", argc - 1);
    return 0;
}
