/*
 * fuzz.h - what every fuzz target under tests/fuzz/ shares.
 *
 * A target is one file fuzz_<name>.c defining LLVMFuzzerTestOneInput. It is
 * linked twice: with libFuzzer by `make fuzz` (clang), and with replay_main.c
 * by every build, so `make check` replays the seed corpus
 * tests/fuzz/corpus/<name>/ under ASan+UBSan with the compiler of the build.
 * A target must not keep state between inputs beyond what it sets up once.
 */
#ifndef VIGIL_FUZZ_H
#define VIGIL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory made on first use and removed (with its files) at exit. */
const char *fuzz_dir(void);

/* Writes size bytes to fuzz_dir()/name and puts that path in path (cap bytes). 0, or -1 on failure. */
int fuzz_write(const char *name, const void *data, size_t size, char *path, size_t cap);

#endif
