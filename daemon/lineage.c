/*
 * lineage.c - the seq high-water mark file and the epoch draw (lineage.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "lineage.h"
#include "statedir.h"

#define HWM_TEXT_MAX 32

static int fail(char *err, size_t errlen, const char *path, const char *what)
{
    snprintf(err, errlen, "%s: %s", path, what);
    return -1;
}

/* Opens the mark under whichever name it has; -1 with errno when neither opens. */
static int open_mark(const char *dir, char *path, size_t cap, bool *behind)
{
    int fd;

    snprintf(path, cap, "%s/%s", dir, LIN_HWM_BEHIND_NAME);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    *behind = fd >= 0;
    if (fd >= 0 || errno != ENOENT)
        return fd;
    snprintf(path, cap, "%s/%s", dir, LIN_HWM_NAME);
    return open(path, O_RDONLY | O_CLOEXEC);
}

int lin_hwm_read(const char *dir, uint64_t *next_seq, bool *behind, char *err, size_t errlen)
{
    char path[1024], text[HWM_TEXT_MAX + 1], *end;
    ssize_t n;
    int fd;

    *next_seq = 0;
    fd = open_mark(dir, path, sizeof(path), behind);
    if (fd < 0)
        return errno == ENOENT ? 0 : fail(err, errlen, path, strerror(errno));
    n = read(fd, text, HWM_TEXT_MAX);
    close(fd);
    if (n <= 0 || n == HWM_TEXT_MAX)
        return fail(err, errlen, path, "empty or too long; expected one decimal number");
    text[n] = '\0';
    errno = 0;
    *next_seq = strtoull(text, &end, 10);
    if (errno || end == text || (*end != '\n' && *end != '\0') || text[0] == '-') {
        *next_seq = 0;
        return fail(err, errlen, path, "not a decimal number");
    }
    return 1;
}

int lin_hwm_write(const char *dir, uint64_t next_seq, bool behind, char *err, size_t errlen)
{
    char text[HWM_TEXT_MAX];
    int len = snprintf(text, sizeof(text), "%" PRIu64 "\n", next_seq);

    return statedir_replace_file(dir, behind ? LIN_HWM_BEHIND_NAME : LIN_HWM_NAME, text, (size_t)len, err, errlen);
}

int lin_hwm_set_behind(const char *dir, bool behind, char *err, size_t errlen)
{
    char from[1024], to[1024];

    snprintf(from, sizeof(from), "%s/%s", dir, behind ? LIN_HWM_NAME : LIN_HWM_BEHIND_NAME);
    snprintf(to, sizeof(to), "%s/%s", dir, behind ? LIN_HWM_BEHIND_NAME : LIN_HWM_NAME);
    if (rename(from, to) < 0)
        return fail(err, errlen, from, strerror(errno));
    return statedir_sync_dir(dir) < 0 ? fail(err, errlen, dir, strerror(errno)) : 0;
}

uint64_t lin_new_epoch(void)
{
    uint64_t e = 0;

    /* getrandom() without flags blocks only before the pool is first
     * seeded, early at boot; a partial read cannot happen for 8 bytes. */
    while (e == 0)
        if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e))
            e = 0;
    return e;
}

void lin_epoch_hex(uint64_t epoch, char buf[17])
{
    snprintf(buf, 17, "%016" PRIx64, epoch);
}

uint64_t lin_epoch_parse(const char *hex)
{
    char *end;
    uint64_t e;

    if (!hex || strlen(hex) != 16 || strspn(hex, "0123456789abcdefABCDEF") != 16)
        return 0;
    e = strtoull(hex, &end, 16);
    return *end ? 0 : e;
}
