/*
 * test_lineage.c - the seq high-water mark file and the epoch draw: a mark
 * written is the mark read back (and no temporary file is left), a missing
 * file is a first start, a mark renamed "behind" says so and renames back,
 * a garbled one is refused with its path, and
 * epochs are non-zero, differ, and print as 16 hex digits.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lineage.h"

static char dir[256];

static void put_file(const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, LIN_HWM_NAME);
    f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* Written, read back; rewritten, the new value wins; nothing else is left in the directory. */
static void mark_round_trip(void)
{
    char err[1200] = "", tmp[512];
    uint64_t next = 99;
    bool behind = true;

    EXPECT_INT(lin_hwm_read(dir, &next, &behind, err, sizeof(err)), 0);
    EXPECT(next == 0 && !behind, "a missing mark reads as 0, got %llu", (unsigned long long)next);
    EXPECT_INT(lin_hwm_write(dir, 1001, false, err, sizeof(err)), 0);
    EXPECT_INT(lin_hwm_read(dir, &next, &behind, err, sizeof(err)), 1);
    EXPECT(next == 1001, "read back %llu, wrote 1001", (unsigned long long)next);
    EXPECT_INT(lin_hwm_write(dir, 2167, false, err, sizeof(err)), 0);
    EXPECT_INT(lin_hwm_read(dir, &next, &behind, err, sizeof(err)), 1);
    EXPECT(next == 2167, "read back %llu, wrote 2167", (unsigned long long)next);
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, LIN_HWM_NAME);
    EXPECT(access(tmp, F_OK) != 0, "the temporary file was left behind");
}

/*
 * A failed append renames the mark to seq.hwm.behind: read back, it says
 * so and keeps its value; a new reservation keeps the name; the rename
 * back (after a snapshot) makes it an ordinary mark again.
 */
static void mark_behind_and_back(void)
{
    char err[1200] = "";
    uint64_t next = 0;
    bool behind = false;

    EXPECT_INT(lin_hwm_set_behind(dir, true, err, sizeof(err)), 0);
    EXPECT_INT(lin_hwm_read(dir, &next, &behind, err, sizeof(err)), 1);
    EXPECT(behind && next == 2167, "behind=%d next=%llu", behind, (unsigned long long)next);
    EXPECT_INT(lin_hwm_write(dir, 3168, true, err, sizeof(err)), 0);
    EXPECT_INT(lin_hwm_read(dir, &next, &behind, err, sizeof(err)), 1);
    EXPECT(behind && next == 3168, "a reservation while behind: behind=%d next=%llu", behind,
           (unsigned long long)next);
    EXPECT_INT(lin_hwm_set_behind(dir, false, err, sizeof(err)), 0);
    EXPECT_INT(lin_hwm_read(dir, &next, &behind, err, sizeof(err)), 1);
    EXPECT(!behind && next == 3168, "caught up: behind=%d next=%llu", behind, (unsigned long long)next);
}

/* A mark that is not one decimal number is refused, naming the file: numbering cannot trust it. */
static void garbled_mark_refused(void)
{
    static const char *const bad[] = {"", "12x\n", "-5\n", "abc", "99999999999999999999999\n"};
    char err[1200];
    uint64_t next;
    bool behind;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        put_file(bad[i]);
        EXPECT_INT(lin_hwm_read(dir, &next, &behind, err, sizeof(err)), -1);
        EXPECT(strstr(err, LIN_HWM_NAME) != NULL, "\"%s\": the error does not name the file: %s", bad[i], err);
        EXPECT(next == 0, "\"%s\" read as %llu", bad[i], (unsigned long long)next);
    }
}

static void epochs_differ(void)
{
    uint64_t a = lin_new_epoch(), b = lin_new_epoch();
    char hex[17];

    EXPECT(a != 0 && b != 0 && a != b, "two epochs %llx and %llx", (unsigned long long)a, (unsigned long long)b);
    lin_epoch_hex(0x5f3aULL, hex);
    EXPECT_STR(hex, "0000000000005f3a");
}

int main(void)
{
    const char *tmpdir = getenv("TMPDIR");
    char cmd[300];

    snprintf(dir, sizeof(dir), "%s/vigil-test-lineage-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(mark_round_trip);
    RUN(mark_behind_and_back);
    RUN(garbled_mark_refused);
    RUN(epochs_differ);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    HARNESS_EXIT();
}
