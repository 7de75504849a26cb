/*
 * receipt.h - events waiting for the central station's receipt.
 *
 * With a `receipts` group in the config, the station confirms each event of
 * the listed priorities on <prefix>/<site>/receipt. The tracker holds every
 * such event from its publication until its receipt arrives: when none has
 * come within the timeout, the same payload (same seq: the station drops
 * duplicates) is due again, up to max_retries times (0: for ever); the first
 * time an event of an escalating priority misses its receipt, the local
 * output (a siren or relay on site) is wanted on, and it stays wanted while
 * any such event is still without receipt.
 *
 * The tracker is a plain data structure: no clock, no I/O, no threads. The
 * caller passes the monotonic time in and does the publishing, the logging
 * and the Modbus write. Receipts are a delivery concern of the shell: they
 * are not core inputs, not journaled, and a restarted vigild starts with an
 * empty tracker (events re-published on recovery are tracked again as they
 * are published).
 *
 * Ownership: rcpt_init() allocates the table (cap entries and a payload of
 * RCPT_PAYLOAD_MAX bytes each) once; rcpt_free() releases it. Payload pointers handed out by
 * rcpt_due() stay valid until the next call that changes the tracker.
 */
#ifndef VIGIL_RECEIPT_H
#define VIGIL_RECEIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "message.h"

#define RCPT_MAX_TRACKED 4096      /* events awaiting a receipt, at most */
#define RCPT_PAYLOAD_MAX MSG_MAX
#define RCPT_MAX_SEQS 128          /* seqs one receipt message may confirm */

/* Which priorities take part and how long the station has; see config.h. */
struct rcpt_settings {
    unsigned track;                /* bit n: events of priority n wait for a receipt */
    unsigned escalate;             /* bit n: a missed receipt of priority n wants the local output on */
    uint64_t timeout_ms;           /* > 0 */
    int max_retries;               /* re-publications per event; 0: no limit */
};

struct rcpt_entry {
    bool used;
    bool missed;                   /* the first timeout passed without a receipt */
    uint64_t seq;
    enum cfg_priority priority;
    uint64_t due_ms;               /* UINT64_MAX once the retries are used up */
    int retries;                   /* re-publications so far */
    size_t len;                    /* of its payload, payloads[slot] */
};

struct rcpt {
    struct rcpt_settings set;
    struct rcpt_entry *slots;      /* scanned often: kept apart from the payloads */
    char (*payloads)[RCPT_PAYLOAD_MAX];
    size_t cap, count;
    unsigned lost;                 /* escalating events pushed out of a full table unreceipted */
};

/* Allocates an empty tracker of cap entries (no priority tracked yet). 0, or -1 on OOM. */
int rcpt_init(struct rcpt *t, size_t cap);
void rcpt_free(struct rcpt *t);

/*
 * Settings from the config: at start and after a reload. Entries of a
 * priority that is no longer tracked are forgotten; the others keep their
 * due times, and later timeouts use the new one.
 */
void rcpt_configure(struct rcpt *t, const struct rcpt_settings *set);

/* Builds settings from a site's receipts group (all zero when it is absent). */
void rcpt_settings_of(const struct cfg_site *site, struct rcpt_settings *out);

/* True if events of priority p wait for a receipt. */
bool rcpt_wanted(const struct rcpt *t, enum cfg_priority p);

/* The entry rcpt_track() pushed out to make room. */
struct rcpt_dropped {
    uint64_t seq;
    enum cfg_priority priority;
    bool escalating;               /* it counts as missing until the table is empty again */
};

/*
 * Starts waiting for the receipt of event seq, published at now_ms with
 * payload (len bytes, a copy is kept). An event already tracked is
 * refreshed in place. When the table is full, the oldest entry (lowest seq)
 * is dropped and described in *dropped. Returns 0, 1 when an entry was
 * dropped, or -1 if the priority is not tracked or the payload too long.
 */
int rcpt_track(struct rcpt *t, uint64_t seq, enum cfg_priority p, uint64_t now_ms, const void *payload,
               size_t len, struct rcpt_dropped *dropped);

enum rcpt_outcome {
    RCPT_UNKNOWN,                  /* not tracked: a duplicate, a late copy, or never asked for */
    RCPT_ON_TIME,                  /* before its first timeout */
    RCPT_LATE,                     /* after it had missed its timeout */
};

/*
 * The station confirmed seq: forget it. Once no entry is left at all, the
 * count of dropped escalating events is cleared too (the station has caught
 * up on everything vigild still knew of).
 */
enum rcpt_outcome rcpt_receipt(struct rcpt *t, uint64_t seq);

/* One event whose receipt is overdue at the time rcpt_due() was called. */
struct rcpt_due {
    uint64_t seq;
    enum cfg_priority priority;
    bool first_miss;               /* the first timeout of this event */
    bool give_up;                  /* retries used up: do not publish again, it stays missing */
    int retry;                     /* 1.. the re-publication to send now (0 with give_up) */
    bool escalating;
    const char *payload;
    size_t len;
};

/*
 * Writes up to cap overdue events into out, oldest first, and moves each
 * one's due time on by the timeout (or to never, with give_up). Returns how
 * many it wrote; call again while it returns cap.
 */
size_t rcpt_due(struct rcpt *t, uint64_t now_ms, struct rcpt_due *out, size_t cap);

/* The earliest due time, UINT64_MAX when nothing is due ever. */
uint64_t rcpt_next_due(const struct rcpt *t);

/*
 * True while an escalating event has missed its receipt and not received
 * one since, or escalating events were dropped from a full table: the
 * local output should be on.
 */
bool rcpt_output_wanted(const struct rcpt *t);

/* Entries waiting, and of those the ones that missed their timeout. */
size_t rcpt_waiting(const struct rcpt *t);
size_t rcpt_missing(const struct rcpt *t);

/*
 * Parses a receipt payload: {"seq":N} or {"seqs":[N,...]}, optionally with
 * "station":"name". Seqs are integers >= 1. Writes up to cap seqs into out
 * and returns how many; -1 with a reason in err for anything else (not
 * JSON, unknown keys, both or neither of seq/seqs, more than cap seqs).
 */
int rcpt_parse(const void *payload, size_t len, uint64_t *out, size_t cap, char *err, size_t errlen);

#endif
