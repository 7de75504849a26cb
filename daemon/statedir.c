/*
 * statedir.c - the state directory's lock and size budget (see statedir.h).
 */
#include "statedir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"

#define PID_TEXT_MAX 32
#define WALK_DEPTH_MAX 4      /* mqtt-N/<client>/<files>: deeper is not ours */
#define PATH_BUF 4096
#define MIB (1024u * 1024u)
#define BUDGET_SEGMENTS 8     /* a budget holds at least this many journal segments */

/* The PID written in an open lock file, or 0 if there is none yet. */
static long lock_holder(int fd)
{
    char buf[PID_TEXT_MAX];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

static void busy_message(const char *dir, const char *path, long pid, char *err, size_t errlen)
{
    char who[64];

    if (pid > 0)
        snprintf(who, sizeof(who), "vigild pid %ld", pid);
    else
        snprintf(who, sizeof(who), "another vigild (pid not written yet)");
    snprintf(err, errlen, "state directory %s is in use by %s (lock %s); expected one vigild per state "
             "directory: stop the other one, or give this one its own site.state_dir", dir, who, path);
}

int statedir_lock(const char *dir, int *fd, char *err, size_t errlen)
{
    char path[PATH_BUF], pid[PID_TEXT_MAX];
    int lfd, n;

    snprintf(path, sizeof(path), "%s/%s", dir, STATEDIR_LOCK_NAME);
    lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (lfd < 0) {
        snprintf(err, errlen, "%s: cannot create lock file: %s", path, strerror(errno));
        return -1;
    }
    if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e == EWOULDBLOCK)
            busy_message(dir, path, lock_holder(lfd), err, errlen);
        else
            snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(e));
        close(lfd);
        return e == EWOULDBLOCK ? 1 : -1;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    /* The PID is for the message of a second instance only: a failure to
     * write it leaves the lock, which is what matters, in place. */
    if (ftruncate(lfd, 0) < 0 || pwrite(lfd, pid, (size_t)n, 0) != n)
        snprintf(err, errlen, "%s: locked, but cannot write the pid: %s", path, strerror(errno));
    *fd = lfd;
    return 0;
}

/* Sums the sizes of the regular files under path (not following links). */
static uint64_t tree_bytes(const char *path, int depth)
{
    char child[PATH_BUF];
    struct stat st;
    struct dirent *e;
    uint64_t total = 0;
    DIR *d;

    if (lstat(path, &st) < 0)
        return 0;
    if (S_ISREG(st.st_mode))
        return (uint64_t)st.st_size;
    if (!S_ISDIR(st.st_mode) || depth > WALK_DEPTH_MAX || !(d = opendir(path)))
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, e->d_name) < sizeof(child))
            total += tree_bytes(child, depth + 1);
    }
    closedir(d);
    return total;
}

uint64_t statedir_usage(const char *dir)
{
    char path[PATH_BUF];
    struct dirent *e;
    uint64_t total = 0;
    DIR *d = opendir(dir);

    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        bool ours = strcmp(e->d_name, "journal") == 0 || strncmp(e->d_name, "mqtt-", 5) == 0;
        if (ours && (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
            total += tree_bytes(path, 1);
    }
    closedir(d);
    return total;
}

int statedir_budget_check(struct statedir_budget *b, uint64_t used)
{
    /* The config caps the budget far below UINT64_MAX / 100: no overflow. */
    bool high = b->max_bytes && used * 100 >= b->max_bytes * STATEDIR_LOW_PCT;
    bool low = !b->max_bytes || used * 100 < b->max_bytes * STATEDIR_CLEAR_PCT;

    if (!b->low && high) {
        b->low = true;
        return 1;
    }
    if (b->low && low) {
        b->low = false;
        return -1;
    }
    return 0;
}

int statedir_enforce(struct statedir_budget *b, const char *dir, struct jrnl *j, uint64_t keep_from_seg, char *text,
                     size_t textlen)
{
    uint64_t used = statedir_usage(dir);

    if (b->max_bytes && used > b->max_bytes && j) {
        uint64_t journal = jrnl_bytes(j), others = used - journal;
        uint64_t room = b->max_bytes > others ? b->max_bytes - others : 0;
        if (jrnl_trim(j, room, keep_from_seg) > 0)
            used = statedir_usage(dir);
        if (used > b->max_bytes)
            log_warn("state: %s holds %llu bytes, over its budget of %llu; the rest is still needed (journal "
                     "from segment %llu on, or the MQTT stores)", dir, (unsigned long long)used,
                     (unsigned long long)b->max_bytes, (unsigned long long)keep_from_seg);
    }
    snprintf(text, textlen, "state_dir %llu%% of its %llu MiB budget",
             (unsigned long long)(b->max_bytes ? used * 100 / b->max_bytes : 0),
             (unsigned long long)(b->max_bytes / MIB));
    return statedir_budget_check(b, used);
}

size_t statedir_segment_bytes(uint64_t max_bytes)
{
    uint64_t seg = max_bytes / BUDGET_SEGMENTS;

    return max_bytes && seg < JRNL_SEGMENT_BYTES_DEFAULT ? (size_t)seg : JRNL_SEGMENT_BYTES_DEFAULT;
}

int statedir_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int statedir_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 ? -1 : fsync(fd);

    if (fd >= 0)
        close(fd);
    return rc;
}

int statedir_replace_file(const char *dir, const char *name, const void *data, size_t len, char *err,
                          size_t errlen)
{
    char path[1024], tmp[1040];
    int fd, rc;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    rc = statedir_write_all(fd, data, len) < 0 ? -1 : fdatasync(fd);
    if (close(fd) < 0)
        rc = -1;
    if (rc < 0 || rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (statedir_sync_dir(dir) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}
