/*
 * receipt.h - events waiting for the central station's receipt.
 *
 * The event core owns one tracker (core.c): receipts are core inputs, the
 * re-publications and the local output are core outputs, all journaled and
 * replayed, so `vigilctl replay` shows why a siren went on. The payloads
 * themselves are the MQTT sink's (it re-sends what it published).
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
 * caller passes the monotonic time in.
 *
 * Ownership: rcpt_init() allocates the table of cap entries once;
 * rcpt_free() releases it.
 */
#ifndef VIGIL_RECEIPT_H
#define VIGIL_RECEIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define RCPT_MAX_TRACKED 4096      /* events awaiting a receipt, at most */

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
};

struct rcpt {
    struct rcpt_settings set;
    struct rcpt_entry *slots;      /* scanned often: kept apart from the payloads */
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
 * Starts waiting for the receipt of event seq, published at now_ms. An
 * event already tracked is refreshed in place. When the table is full, the
 * oldest entry (lowest seq) is dropped and described in *dropped. Returns
 * 0, 1 when an entry was dropped, or -1 if the priority is not tracked.
 */
int rcpt_track(struct rcpt *t, uint64_t seq, enum cfg_priority p, uint64_t now_ms, struct rcpt_dropped *dropped);

/* Puts back an entry as a snapshot held it (core_restore()); -1 if its priority is not tracked or no slot is free. */
int rcpt_put(struct rcpt *t, const struct rcpt_entry *e);

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

/* What rcpt_receipt() would answer for seq, changing nothing. */
enum rcpt_outcome rcpt_peek(const struct rcpt *t, uint64_t seq);

/* One event whose receipt is overdue at the time rcpt_due() was called. */
struct rcpt_due {
    uint64_t seq;
    enum cfg_priority priority;
    bool first_miss;               /* the first timeout of this event */
    bool give_up;                  /* retries used up: do not publish again, it stays missing */
    int retry;                     /* 1.. the re-publication to send now (0 with give_up) */
    bool escalating;
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

#endif
