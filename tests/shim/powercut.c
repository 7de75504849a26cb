/*
 * powercut.c - an LD_PRELOAD shim that lets a test lose the page cache.
 *
 * A SIGKILL loses nothing the process wrote: the kernel still has it. A
 * power cut loses every byte written after a file's last fdatasync/fsync.
 * This shim watches the journal segments (files named journal-*.vj) of the
 * process it is loaded into and appends, after every successful
 * fdatasync/fsync of one (and when one is created), a line
 *
 *     <path> <length that is durable>
 *
 * to the ledger file named by $POWERCUT_LEDGER, with write(2) straight
 * after the sync. After SIGKILL the test truncates each segment to the last
 * length the ledger gives for it (tests/it_powercut.sh, powercut_apply):
 * what is left is what a disk would hold after losing power at that moment.
 *
 * $POWERCUT_SYNC_DELAY_MS (optional) makes every fdatasync/fsync of a
 * segment wait that long first, as a slow disk would: written but not yet
 * durable data then sits in the page cache long enough for a test's
 * SIGKILL to catch it there.
 *
 * Built as a shared object without sanitizers (tests/shim/ in the
 * Makefile); an ASan vigild needs ASAN_OPTIONS=verify_asan_link_order=0.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FD_MAX 1024
#define PATH_LEN 512

static char paths[FD_MAX][PATH_LEN]; /* "" unless the fd is a journal segment */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

__attribute__((constructor)) static void powercut_init(void)
{
    real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    real_openat = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
    real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
}

static int is_segment(const char *path)
{
    const char *base = strrchr(path, '/');
    size_t n = strlen(path);

    base = base ? base + 1 : path;
    return strncmp(base, "journal-", 8) == 0 && n > 3 && strcmp(path + n - 3, ".vj") == 0;
}

/* Appends "<path> <size now>" to the ledger. */
static void note_durable(int fd)
{
    const char *ledger = getenv("POWERCUT_LEDGER");
    char line[PATH_LEN + 32];
    struct stat st;
    int lfd, n;

    if (!ledger || fd < 0 || fd >= FD_MAX || fstat(fd, &st) < 0)
        return;
    pthread_mutex_lock(&lock);
    if (paths[fd][0]) {
        n = snprintf(line, sizeof(line), "%s %lld\n", paths[fd], (long long)st.st_size);
        lfd = real_open(ledger, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (lfd >= 0) {
            if (write(lfd, line, (size_t)n) != n)
                perror("powercut: ledger");
            real_close(lfd);
        }
    }
    pthread_mutex_unlock(&lock);
}

/* Remembers fd as a segment; a new or truncated segment is durable at its current length. */
static int track(int fd, const char *path, int flags)
{
    if (fd < 0 || fd >= FD_MAX || !is_segment(path))
        return fd;
    pthread_mutex_lock(&lock);
    if (path[0] == '/' || !getcwd(paths[fd], PATH_LEN))
        snprintf(paths[fd], PATH_LEN, "%s", path);
    else
        snprintf(paths[fd] + strlen(paths[fd]), PATH_LEN - strlen(paths[fd]), "/%s", path);
    pthread_mutex_unlock(&lock);
    if (flags & O_CREAT)
        note_durable(fd);
    return fd;
}

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;

    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return track(real_open(path, flags, mode), path, flags);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;

    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return track(real_openat(dirfd, path, flags, mode), path, flags);
}

int close(int fd)
{
    if (fd >= 0 && fd < FD_MAX) {
        pthread_mutex_lock(&lock);
        paths[fd][0] = '\0';
        pthread_mutex_unlock(&lock);
    }
    return real_close(fd);
}

/* The optional slow-disk wait before a segment's sync. */
static void sync_delay(int fd)
{
    const char *ms = getenv("POWERCUT_SYNC_DELAY_MS");

    if (ms && fd >= 0 && fd < FD_MAX && paths[fd][0])
        usleep((useconds_t)atoi(ms) * 1000u);
}

int fsync(int fd)
{
    sync_delay(fd);
    int rc = real_fsync(fd);

    if (rc == 0)
        note_durable(fd);
    return rc;
}

int fdatasync(int fd)
{
    sync_delay(fd);
    int rc = real_fdatasync(fd);

    if (rc == 0)
        note_durable(fd);
    return rc;
}
