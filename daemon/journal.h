/*
 * journal.h - the append-only, hash-chained journal of core inputs.
 *
 * vigild appends every input the event core receives to a directory of
 * segment files. Because the core is deterministic, the journal is both the
 * crash-recovery source (restore the newest snapshot, re-feed the inputs
 * after it) and the audit trail that `vigilctl replay` turns back into the
 * exact events the live daemon published. docs/journal.md describes the
 * byte format, the fsync discipline, rotation, retention and recovery.
 *
 * Every record carries a BLAKE2b hash chained to the record before it, so an
 * edited, inserted, reordered or deleted record is found by jrnl_verify().
 *
 * Writer (one thread: the core thread):
 *   jrnl_recover() -> jrnl_open() -> jrnl_begin() -> { jrnl_append_input()...
 *   jrnl_sync(); publish the outputs; jrnl_maybe_rotate() } -> jrnl_close()
 * jrnl_sync() must return before the outputs of the synced inputs are
 * published: an event the central station has seen is always on disk.
 *
 * Errors: functions returning int give 0 on success and -1 on failure; the
 * writer keeps the reason (naming the file and offset) for jrnl_error().
 */
#ifndef VIGIL_JOURNAL_H
#define VIGIL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core.h"

#define JRNL_ERR_MAX 1024
#define JRNL_PATH_MAX 512
#define JRNL_HASH_LEN 32            /* BLAKE2b-256 */
#define JRNL_SEGMENT_BYTES_DEFAULT (8u * 1024u * 1024u)
#define JRNL_RETENTION_DAYS_MIN 30  /* floor: a shorter setting is raised to this */
#define JRNL_KEEP_INPUTS_MIN 1000   /* floor: retention never keeps fewer inputs */
#define JRNL_RECORD_MAX (16u * 1024u * 1024u) /* payload cap; longer is damage */

struct jrnl_options {
    const char *dir;          /* the journal directory, e.g. <state_dir>/journal; created if missing */
    size_t segment_bytes;     /* rotate once a segment reaches this; 0: default 8 MiB */
    int retention_days;       /* delete segments older than this; 0 or < 30: 30 */
    size_t max_total_bytes;   /* 0: no cap; never deletes below the two floors */
};

struct jrnl;

/*
 * Opens the journal directory for appending, creating it if needed. Scans
 * every segment once (for retention bookkeeping). A torn record at the end of
 * the newest segment (power cut) is logged and truncated away; a newest
 * segment damaged before its end is renamed to FILE.damaged with an error
 * log line and a fresh segment continues the chain. Returns NULL with the
 * reason in err only when the directory cannot be used at all.
 * The caller frees the result with jrnl_close().
 */
struct jrnl *jrnl_open(const struct jrnl_options *o, char *err, size_t errlen);

/*
 * Appends a CONFIG record (site->hash, site id, config_path) and a SNAPSHOT
 * of the core. Call after jrnl_open() (once the core is recovered) and after
 * every config reload, before feeding the new core.
 */
int jrnl_begin(struct jrnl *j, const struct cfg_site *site, const char *config_path, const struct core *core);

/* Appends one input as the core is about to receive it (points and devices by id). */
int jrnl_append_input(struct jrnl *j, const struct cfg_site *site, const struct core_input *in);

/* fdatasync()s what was appended since the last sync. Call before publishing. */
int jrnl_sync(struct jrnl *j);

/*
 * If the current segment has reached segment_bytes: syncs and closes it,
 * creates the next segment (fsyncing the directory), writes CONFIG+SNAPSHOT
 * into it and applies retention relative to now_wall_ms. Cheap otherwise.
 */
int jrnl_maybe_rotate(struct jrnl *j, const struct cfg_site *site, const char *config_path,
                      const struct core *core, int64_t now_wall_ms);

/*
 * Size-budget retention (state.max_bytes, see statedir.h): removes the
 * oldest closed segments, one at a time, until the journal holds at most
 * max_bytes. Unlike age retention it does not wait for 30 days: a budget
 * is a hard bound. Two things it never removes: the open segment, and any
 * segment numbered keep_from_seg or later. The caller passes as
 * keep_from_seg the oldest segment some lossless consumer still needs:
 * at least jrnl_snapshot_segment(), where recovery starts, or older if a
 * sink has not yet made durable what segments before it produced. The
 * JRNL_KEEP_INPUTS_MIN floor holds too. Returns the number of segments
 * removed (each logged); the directory is fsynced after removals.
 */
int jrnl_trim(struct jrnl *j, uint64_t max_bytes, uint64_t keep_from_seg);

/* Bytes of every segment of the journal, the open one included. */
uint64_t jrnl_bytes(const struct jrnl *j);

/*
 * The number of the segment holding the newest snapshot (written by this
 * writer or found by jrnl_open()); recovery starts there. Segments before
 * it are history only. 1 for a journal without any snapshot yet.
 */
uint64_t jrnl_snapshot_segment(const struct jrnl *j);

/* Syncs, closes and frees. NULL is fine. */
void jrnl_close(struct jrnl *j);

/* The reason for the writer's last failure. */
const char *jrnl_error(const struct jrnl *j);

/*
 * The clocks of the newest input (or snapshot) in the journal, as found by
 * jrnl_open() and updated by every append; 0 for a new journal. After a
 * reboot CLOCK_MONOTONIC starts again near zero while the recovered core's
 * timers are in the old run's milliseconds: the shell must keep feeding
 * mono_ms >= *mono_ms (e.g. by adding a fixed offset to its clock).
 */
void jrnl_last_clocks(const struct jrnl *j, uint64_t *mono_ms, int64_t *wall_ms);

/* What jrnl_replay() read and fed. */
struct jrnl_replay_info {
    bool restored;            /* a snapshot was restored into the core */
    long inputs;              /* inputs fed to the core after it */
    long skipped;             /* inputs not fed: point or device unknown to the site, or before any snapshot */
    uint64_t last_mono_ms;    /* clocks of the last input or snapshot read (0 if none) */
    int64_t last_wall_ms;
    uint64_t config_hash;     /* cfg_site.hash the starting snapshot was written under */
    int config_changes;       /* CONFIG records after it with a different hash (reloads) */
    char problem[JRNL_ERR_MAX]; /* damage that ended reading early, else "" */
    char note[JRNL_ERR_MAX];  /* a torn tail that ended reading, else "" */
};

/*
 * Crash recovery: restores core (fresh from core_new(site)) from the newest
 * snapshot in dir and re-feeds the inputs recorded after it, calling
 * on_output (may be NULL) for every output they produce. Call it before
 * jrnl_open(), which sets damaged segments aside. A torn tail ends the
 * re-feed quietly (jrnl_open() logs it); damage ends it early with an
 * error log line, and inputs whose point or device is no longer configured
 * are skipped with a warning. A missing or empty directory restores nothing
 * and returns 0. Returns the number of inputs re-fed, or -1 with err set if
 * the snapshot does not restore or the directory cannot be read. info (may
 * be NULL) receives what was read: info->problem is non-empty when damage
 * ended recovery early (or segments exist with no readable snapshot), and
 * info->last_wall_ms is the wall time of the last input recovered.
 */
long jrnl_recover(const char *dir, const struct cfg_site *site, struct core *core,
                  void (*on_output)(const struct core_output *, void *), void *arg,
                  struct jrnl_replay_info *info, char *err, size_t errlen);

/*
 * Replay for vigilctl and tests: restores the FIRST snapshot of path (a
 * directory or one segment file) into core (fresh from core_new(site)) and
 * feeds every input after it, calling on_output for each output. Returns
 * the inputs fed, or -1 with err if nothing could be restored. Damage met
 * on the way ends the replay with info->problem set (the caller reports
 * it). info must not be NULL.
 */
long jrnl_replay(const char *path, const struct cfg_site *site, struct core *core,
                 void (*on_output)(const struct core_output *, void *), void *arg,
                 struct jrnl_replay_info *info, char *err, size_t errlen);

/* ---- reading (vigilctl, recovery, tests) ---- */

enum jrnl_rec_type { JRNL_REC_CONFIG = 1, JRNL_REC_SNAPSHOT = 2, JRNL_REC_INPUT = 3 };

/* An input as journaled: SAMPLE and COMM name their point or device by id in
 * ref, and in.u.sample.point / in.u.comm.device are -1 until resolved. */
struct jrnl_input {
    struct core_input in;
    char ref[CFG_ID_MAX];
};

struct jrnl_record {
    enum jrnl_rec_type type;
    const char *file;         /* segment path; valid until the reader moves on */
    uint64_t offset;          /* of the record in that file */
    union {
        struct { uint64_t hash; char site_id[CFG_ID_MAX]; char path[CFG_PATH_MAX]; } config;
        /* data is valid until the next jrnl_reader_next() */
        struct { uint64_t mono_ms; int64_t wall_ms; uint64_t next_seq; const void *data; size_t len; } snapshot;
        struct jrnl_input input;
    } u;
};

struct jrnl_reader;

/*
 * Opens a reader over a journal directory (every segment in order, checking
 * the chain across segments) or over one segment file. Returns NULL with the
 * reason in err. Free with jrnl_reader_close().
 */
struct jrnl_reader *jrnl_reader_open(const char *path, char *err, size_t errlen);

/*
 * Reads the next record, checking its chain hash. Returns 1 with *rec
 * filled, 0 at the end, -1 at the first problem (jrnl_reader_error() names
 * the file and offset). A torn last record of the last segment is the end,
 * not a problem; jrnl_reader_note() then describes it.
 */
int jrnl_reader_next(struct jrnl_reader *r, struct jrnl_record *rec);
const char *jrnl_reader_error(const struct jrnl_reader *r);
const char *jrnl_reader_note(const struct jrnl_reader *r);
size_t jrnl_reader_segments(const struct jrnl_reader *r);
void jrnl_reader_close(struct jrnl_reader *r);

/*
 * Maps a journaled input onto site: fills out with the point or device
 * index. Returns 0, or -1 if the id does not exist in site.
 */
int jrnl_input_resolve(const struct jrnl_input *ji, const struct cfg_site *site, struct core_input *out);

/* What jrnl_verify() read. */
struct jrnl_summary {
    size_t segments;
    uint64_t records;
    uint64_t inputs;
    char note[JRNL_ERR_MAX];  /* a torn tail, if any; not a failure */
};

/*
 * Reads every record of a directory or segment file and checks the chain.
 * Returns 0 if it is intact, or -1 with the first problem in err, e.g.
 * "DIR/journal-0000000000000002.vj offset 4711: chain hash mismatch (record
 * edited, inserted or deleted)".
 */
int jrnl_verify(const char *path, struct jrnl_summary *sum, char *err, size_t errlen);

#endif
