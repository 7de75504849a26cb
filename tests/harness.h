/*
 * harness.h - a tiny test harness in the spirit of collectd's TAP helpers.
 *
 * Each test program prints one line per case, "ok - name" or
 * "not ok - name: why", and exits non-zero if any case failed. tests/run.sh
 * counts those lines across every program and script. A case that cannot run
 * here prints "ok - name # SKIP why"; a program that cannot run at all exits
 * 77. Both count as skipped, never as passed.
 */
#ifndef VIGIL_TEST_HARNESS_H
#define VIGIL_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

static int harness_failed_cases;
static int harness_case_failed;

/* Records a failed expectation inside the current case; the case goes on. */
#define EXPECT(cond, ...)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            if (!harness_case_failed)                                          \
                printf("#   %s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            printf("#   ");                                                    \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
            harness_case_failed = 1;                                           \
        }                                                                      \
    } while (0)

#define EXPECT_STR(got, want)                                                  \
    EXPECT(strcmp((got), (want)) == 0, "got \"%s\", want \"%s\"", (got), (want))

#define EXPECT_INT(got, want)                                                  \
    EXPECT((long long)(got) == (long long)(want), "got %lld, want %lld",       \
           (long long)(got), (long long)(want))

/* Runs one case and prints its verdict line. */
#define RUN(fn)                                                                \
    do {                                                                       \
        harness_case_failed = 0;                                               \
        fn();                                                                  \
        printf("%s - %s\n", harness_case_failed ? "not ok" : "ok", #fn);       \
        harness_failed_cases += harness_case_failed;                           \
        fflush(stdout);                                                        \
    } while (0)

#define HARNESS_EXIT() return harness_failed_cases ? 1 : 0

#endif
