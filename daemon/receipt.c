/*
 * receipt.c - the tracker of events awaiting the station's receipt (see
 * receipt.h and docs/mqtt.md, "Receipts").
 *
 * The table is a fixed array of slots searched linearly. It holds at most a
 * few thousand entries and is touched a few times a second (a receipt, the
 * main loop's due check), so a scan costs microseconds, and a plain array
 * keeps eviction (the lowest seq) and removal from the middle trivial. The
 * events' seqs grow strictly, so the lowest seq is the oldest event.
 */
#include "receipt.h"

#include <stdlib.h>
#include <string.h>

#define NEVER UINT64_MAX

int rcpt_init(struct rcpt *t, size_t cap)
{
    memset(t, 0, sizeof(*t));
    t->slots = calloc(cap ? cap : 1, sizeof(*t->slots));
    t->cap = cap;
    return t->slots ? 0 : -1;
}

void rcpt_free(struct rcpt *t)
{
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

static bool in_set(unsigned set, enum cfg_priority p)
{
    return (set >> p) & 1u;
}

void rcpt_settings_of(const struct cfg_site *site, struct rcpt_settings *out)
{
    const struct cfg_receipts *r = &site->receipts;

    memset(out, 0, sizeof(*out));
    if (!r->enabled)
        return;
    out->track = r->priorities;
    out->escalate = r->local_output.enabled ? r->local_output.priorities & r->priorities : 0;
    out->timeout_ms = (uint64_t)r->timeout_ms;
    out->max_retries = r->max_retries;
}

static void drop(struct rcpt *t, struct rcpt_entry *e)
{
    e->used = false;
    t->count--;
}

void rcpt_configure(struct rcpt *t, const struct rcpt_settings *set)
{
    t->set = *set;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].used && !in_set(set->track, t->slots[i].priority))
            drop(t, &t->slots[i]);
    if (!set->escalate)
        t->lost = 0;
}

bool rcpt_wanted(const struct rcpt *t, enum cfg_priority p)
{
    return in_set(t->set.track, p);
}

static struct rcpt_entry *find(struct rcpt *t, uint64_t seq)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].used && t->slots[i].seq == seq)
            return &t->slots[i];
    return NULL;
}

/* A free slot, or NULL when the table is full. */
static struct rcpt_entry *free_slot(struct rcpt *t)
{
    for (size_t i = 0; i < t->cap && t->count < t->cap; i++)
        if (!t->slots[i].used)
            return &t->slots[i];
    return NULL;
}

static struct rcpt_entry *oldest(struct rcpt *t)
{
    struct rcpt_entry *o = NULL;

    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].used && (!o || t->slots[i].seq < o->seq))
            o = &t->slots[i];
    return o;
}

/* Frees the oldest slot, remembering an escalating event as lost. */
static struct rcpt_entry *evict(struct rcpt *t, struct rcpt_dropped *dropped)
{
    struct rcpt_entry *o = oldest(t);

    dropped->seq = o->seq;
    dropped->priority = o->priority;
    dropped->escalating = in_set(t->set.escalate, o->priority);
    t->lost += dropped->escalating;
    drop(t, o);
    return o;
}

int rcpt_track(struct rcpt *t, uint64_t seq, enum cfg_priority p, uint64_t now_ms, struct rcpt_dropped *dropped)
{
    struct rcpt_entry *e;
    int rc = 0;

    if (!rcpt_wanted(t, p) || t->cap == 0)
        return -1;
    e = find(t, seq);
    if (e) {
        drop(t, e);
    } else if (!(e = free_slot(t))) {
        e = evict(t, dropped);
        rc = 1;
    }
    *e = (struct rcpt_entry){.used = true, .seq = seq, .priority = p, .due_ms = now_ms + t->set.timeout_ms};
    t->count++;
    return rc;
}

int rcpt_put(struct rcpt *t, const struct rcpt_entry *e)
{
    struct rcpt_entry *slot = find(t, e->seq);

    if (!rcpt_wanted(t, e->priority) || (!slot && !(slot = free_slot(t))))
        return -1;
    t->count += !slot->used;
    *slot = *e;
    slot->used = true;
    return 0;
}

enum rcpt_outcome rcpt_peek(const struct rcpt *t, uint64_t seq)
{
    const struct rcpt_entry *e = find((struct rcpt *)t, seq);

    return !e ? RCPT_UNKNOWN : e->missed ? RCPT_LATE : RCPT_ON_TIME;
}

enum rcpt_outcome rcpt_receipt(struct rcpt *t, uint64_t seq)
{
    struct rcpt_entry *e = find(t, seq);
    bool late;

    if (!e)
        return RCPT_UNKNOWN;
    late = e->missed;
    drop(t, e);
    if (t->count == 0)
        t->lost = 0;
    return late ? RCPT_LATE : RCPT_ON_TIME;
}

/* The overdue entry with the lowest seq, or NULL. */
static struct rcpt_entry *next_overdue(struct rcpt *t, uint64_t now_ms)
{
    struct rcpt_entry *o = NULL;

    for (size_t i = 0; i < t->cap && t->count > 0; i++) {
        struct rcpt_entry *e = &t->slots[i];

        if (e->used && e->due_ms <= now_ms && (!o || e->seq < o->seq))
            o = e;
    }
    return o;
}

/* Reports one overdue entry and moves it on: another retry, or none left. */
static void advance(struct rcpt *t, struct rcpt_entry *e, uint64_t now_ms, struct rcpt_due *d)
{
    bool give_up = t->set.max_retries > 0 && e->retries >= t->set.max_retries;

    *d = (struct rcpt_due){.seq = e->seq, .priority = e->priority, .first_miss = !e->missed, .give_up = give_up,
                           .escalating = in_set(t->set.escalate, e->priority)};
    e->missed = true;
    if (give_up) {
        e->due_ms = NEVER;
        return;
    }
    d->retry = ++e->retries;
    e->due_ms = now_ms + t->set.timeout_ms;
}

size_t rcpt_due(struct rcpt *t, uint64_t now_ms, struct rcpt_due *out, size_t cap)
{
    size_t n = 0;
    struct rcpt_entry *e;

    while (n < cap && (e = next_overdue(t, now_ms)))
        advance(t, e, now_ms, &out[n++]);
    return n;
}

uint64_t rcpt_next_due(const struct rcpt *t)
{
    uint64_t due = NEVER;

    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].used && t->slots[i].due_ms < due)
            due = t->slots[i].due_ms;
    return due;
}

bool rcpt_output_wanted(const struct rcpt *t)
{
    if (t->lost > 0)
        return true;
    for (size_t i = 0; i < t->cap && t->count > 0; i++)
        if (t->slots[i].used && t->slots[i].missed && in_set(t->set.escalate, t->slots[i].priority))
            return true;
    return false;
}

size_t rcpt_waiting(const struct rcpt *t)
{
    return t->count;
}

size_t rcpt_missing(const struct rcpt *t)
{
    size_t n = 0;

    for (size_t i = 0; i < t->cap; i++)
        n += t->slots[i].used && t->slots[i].missed;
    return n;
}
