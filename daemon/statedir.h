/*
 * statedir.h - the state directory as one resource: one vigild at a time,
 * and one size budget for what vigild keeps there.
 *
 * The journal (<state_dir>/journal) and the MQTT stores (<state_dir>/mqtt-N)
 * share the directory. Two daemons writing into it corrupt the journal and
 * publish the same seq with different contents, so the first one takes an
 * exclusive flock() on <state_dir>/vigild.lock (holding its PID in the file)
 * before it opens the journal or connects to a broker, and keeps it for its
 * whole life. The kernel drops the lock when the process dies, however it
 * dies, so a stale lock file never blocks a restart.
 *
 * The size budget (state.max_bytes in the config) is watched by the core
 * thread: statedir_usage() measures, statedir_budget_check() decides when
 * the storage_low alarm goes on and off (docs/operations.md).
 */
#ifndef VIGIL_STATEDIR_H
#define VIGIL_STATEDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATEDIR_LOCK_NAME "vigild.lock"
#define STATEDIR_LOW_PCT 90   /* storage_low raised at this share of the budget ... */
#define STATEDIR_CLEAR_PCT 80 /* ... and cleared below this one */

/*
 * Takes the exclusive lock on <dir>/vigild.lock and writes this process's
 * PID into it. Returns 0 with *fd set (keep it open for the life of the
 * process; closing it releases the lock); 1 if another process holds the
 * lock (err names its PID); -1 if the lock file cannot be created or
 * locked (err says why, e.g. a read-only directory).
 */
int statedir_lock(const char *dir, int *fd, char *err, size_t errlen);

/*
 * Bytes vigild keeps in dir: the apparent sizes of the regular files under
 * <dir>/journal and every <dir>/mqtt-* directory, recursively. Unreadable
 * parts count as empty. Reads the file system: call it from the core
 * thread's housekeeping, not per input.
 */
uint64_t statedir_usage(const char *dir);

/* Hysteresis of the storage_low alarm against a budget. */
struct statedir_budget {
    uint64_t max_bytes;       /* 0: no budget, never low */
    bool low;                 /* storage_low is raised */
};

/*
 * Compares used bytes with the budget: returns 1 when storage_low must be
 * raised (used reached STATEDIR_LOW_PCT %), -1 when it must be cleared
 * (used fell below STATEDIR_CLEAR_PCT %), 0 when nothing changes. Updates
 * b->low. Pure.
 */
int statedir_budget_check(struct statedir_budget *b, uint64_t used);

struct jrnl;

/*
 * One housekeeping round of the budget, for the core thread every few
 * seconds: measures dir; when it is over the budget, trims the journal j
 * (may be NULL) oldest first with jrnl_trim(), never at or past segment
 * keep_from_seg (the oldest segment a lossless consumer or recovery still
 * needs); measures again and returns what statedir_budget_check() says,
 * with "state_dir N% of its M MiB budget" in text.
 */
int statedir_enforce(struct statedir_budget *b, const char *dir, struct jrnl *j, uint64_t keep_from_seg, char *text,
                     size_t textlen);

/* The journal segment size for a budget: 8 MiB, or an eighth of a small
 * budget, so that trimming can meet it in steps smaller than the slack. */
size_t statedir_segment_bytes(uint64_t max_bytes);

/*
 * Replaces <dir>/<name> with len bytes of data so that after a crash it
 * holds either the old content or the new: writes <name>.tmp, fdatasyncs
 * it, renames it over name and fsyncs dir. Returns 0, or -1 with err
 * naming the file.
 */
int statedir_replace_file(const char *dir, const char *name, const void *data, size_t len, char *err,
                          size_t errlen);

/* fsync()s directory dir, so a created, renamed or removed entry survives a power cut. 0, or -1 (errno). */
int statedir_sync_dir(const char *dir);

/* Writes all len bytes to fd, retrying short writes and EINTR. 0, or -1 (errno set). */
int statedir_write_all(int fd, const void *data, size_t len);
#endif
