/*
 * lineage.h - the numbering lineage of events: epoch and seq high-water mark.
 *
 * A station deduplicates events by (epoch, seq) (docs/mqtt.md). The seq
 * comes from the core and is rebuilt on restart from the journal, which
 * may hold less than was handed to the sinks: a full disk, a damaged
 * segment, a deleted state directory. Two guards keep a number from ever
 * meaning two different events:
 *
 * - the high-water mark, <state_dir>/seq.hwm: a small file, written durably
 *   before any seq at or beyond it reaches a sink, reserving a block of
 *   LIN_HWM_BLOCK numbers so it is written rarely. While the journal is
 *   complete (every input appended and synced before its events went out)
 *   its next seq is exact and a restart, even after SIGKILL, numbers on
 *   without a gap. The first append or sync that fails renames the mark to
 *   seq.hwm.behind (a rename needs no free blocks, so it works on a full
 *   disk); a restart that finds that name numbers on from the mark: a gap
 *   the station sees, never a reuse. The next snapshot makes the journal
 *   complete again and renames it back;
 * - the epoch: a random 64-bit id drawn when a lineage starts (no earlier
 *   state, or a journal that cannot be recovered to its end). Events of a new
 *   epoch are new whatever their seq.
 *
 * The epoch itself is core state (snapshot, journaled system input); this
 * module only draws it and keeps the mark. docs/journal.md, "Numbering".
 */
#ifndef VIGIL_LINEAGE_H
#define VIGIL_LINEAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIN_HWM_NAME "seq.hwm"
#define LIN_HWM_BEHIND_NAME "seq.hwm.behind" /* the same mark while the journal misses inputs */
#define LIN_HWM_BLOCK 1000 /* seqs reserved per write of the mark */

/*
 * Reads the mark (seq.hwm.behind if it exists, else seq.hwm): every seq
 * handed to a sink so far is below it; *behind tells which name it had.
 * Returns 1 with *next_seq set, 0 if neither exists (*next_seq = 0), or -1
 * with err naming the file when it cannot be read or holds anything but
 * one decimal number.
 */
int lin_hwm_read(const char *dir, uint64_t *next_seq, bool *behind, char *err, size_t errlen);

/*
 * Makes next_seq the mark under the name behind selects: writes
 * <name>.tmp, fdatasyncs it, renames it over the name and fsyncs dir, so
 * after a crash the file holds either the old mark or the new one.
 * Returns 0, or -1 with err.
 */
int lin_hwm_write(const char *dir, uint64_t next_seq, bool behind, char *err, size_t errlen);

/* Renames the mark to seq.hwm.behind (behind) or back to seq.hwm, and fsyncs dir. Returns 0, or -1 with err. */
int lin_hwm_set_behind(const char *dir, bool behind, char *err, size_t errlen);

/* A random, non-zero epoch from the kernel's generator. */
uint64_t lin_new_epoch(void);

/* Formats an epoch as events carry it: 16 lowercase hex digits. buf holds 17 bytes. */
void lin_epoch_hex(uint64_t epoch, char buf[17]);

/* Reads an epoch as events carry it (16 hex digits); 0 if hex is NULL or not one. */
uint64_t lin_epoch_parse(const char *hex);

#endif
