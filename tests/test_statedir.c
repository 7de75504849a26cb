/*
 * test_statedir.c - the state directory's lock and size budget: a second
 * lock names the PID holding the first, usage counts the journal and the
 * MQTT stores only, and storage_low has its 90 % / 80 % hysteresis.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "statedir.h"

static char dir[256];

static void write_bytes(const char *rel, size_t n)
{
    char path[512], buf[4096] = {0};
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static void make_dir(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    mkdir(path, 0700);
}

/* A second lock on the directory is refused and names the holder's PID. */
static void second_lock_names_the_holder(void)
{
    char err[512], want[64];
    int fd1 = -1, fd2 = -1;

    EXPECT_INT(statedir_lock(dir, &fd1, err, sizeof(err)), 0);
    EXPECT_INT(statedir_lock(dir, &fd2, err, sizeof(err)), 1);
    snprintf(want, sizeof(want), "is in use by vigild pid %ld", (long)getpid());
    EXPECT(strstr(err, want) && strstr(err, "expected one vigild per state directory"), "message: %s", err);
    close(fd1);
    EXPECT_INT(statedir_lock(dir, &fd2, err, sizeof(err)), 0);
    close(fd2);
}

/* Usage is the journal plus every mqtt-N store, nothing else in the directory. */
static void usage_counts_journal_and_stores(void)
{
    make_dir("journal");
    make_dir("mqtt-1");
    make_dir("mqtt-1/client");
    make_dir("other");
    write_bytes("journal/journal-0000000000000001.vj", 3000);
    write_bytes("mqtt-1/client/m-1.msg", 200);
    write_bytes("other/big", 4000);
    write_bytes("notes.txt", 4000);
    EXPECT_INT((int)statedir_usage(dir), 3200);
}

static void storage_low_hysteresis(void)
{
    static const struct { uint64_t used; int change; } steps[] = {
        { 899, 0 }, { 900, 1 }, { 990, 0 }, { 800, 0 }, { 799, -1 }, { 850, 0 }, { 1200, 1 },
    };
    struct statedir_budget b = { .max_bytes = 1000 };

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        EXPECT(statedir_budget_check(&b, steps[i].used) == steps[i].change, "used %llu: want %d",
               (unsigned long long)steps[i].used, steps[i].change);
    b = (struct statedir_budget){ .max_bytes = 0 };
    EXPECT_INT(statedir_budget_check(&b, 1u << 30), 0);
    EXPECT_INT((int)statedir_segment_bytes(16u << 20), 2 << 20);
    EXPECT_INT((int)statedir_segment_bytes(0), 8 << 20);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/vigil-test-statedir-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(second_lock_names_the_holder);
    RUN(usage_counts_journal_and_stores);
    RUN(storage_low_hysteresis);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    HARNESS_EXIT();
}
