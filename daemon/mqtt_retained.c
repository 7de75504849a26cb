/*
 * mqtt_retained.c - the retained tree kept for restoring it (mqtt_retained.h).
 *
 * Entries live in an array in the order they were first set; an open-
 * addressing index (linear probing, at least twice as many slots as
 * entries) finds one by its suffix. Entries are never deleted, so the
 * index needs no tombstones.
 *
 * An entry holds its payload in a body from a pool: an entry emptied (an
 * alarm back to normal) gives its body back for the next one to take. Only
 * a few alarms need attention at a time, but over months most alarms of a
 * site have needed it once; with the payload in the entry, every one of
 * them would have kept its 2 KB resident for good.
 */
#include "mqtt_retained.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "message.h"

#define SUFFIX_MAX (CORE_ALARM_ID_MAX + 16) /* "outputs/<device>.<output>" and the like */
#define NO_ENTRY UINT32_MAX

struct entry {
    char suffix[SUFFIX_MAX];
    uint32_t body;              /* index into bodies; valid while len > 0 */
    size_t len;                 /* 0: nothing to restore */
};

struct retained {
    struct entry *entries;
    size_t n, cap;
    char (*bodies)[MSG_MAX];    /* cap payloads, handed out from the front ... */
    size_t bodies_used;         /* ... this far, */
    uint32_t *free_bodies;      /* and given back here (a stack of n_free) */
    size_t n_free;
    uint32_t *index;            /* n_slots entries: an index into entries, or NO_ENTRY */
    size_t n_slots;             /* a power of two */
    size_t live;
};

/* FNV-1a: short ids, no adversary (they come from the validated config). */
static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

struct retained *retained_new(const struct cfg_site *site, size_t extra)
{
    struct retained *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    /* every alarm, zone and device, and the one local output of the receipts group */
    t->cap = core_alarm_bound(site) + (size_t)site->n_zones + (size_t)site->n_devices + 1 + extra;
    for (t->n_slots = 16; t->n_slots < 2 * t->cap; t->n_slots *= 2)
        ;
    t->entries = calloc(t->cap, sizeof(*t->entries));
    t->index = malloc(t->n_slots * sizeof(*t->index));
    t->bodies = malloc(t->cap * sizeof(*t->bodies));
    t->free_bodies = malloc(t->cap * sizeof(*t->free_bodies));
    if (!t->entries || !t->index || !t->bodies || !t->free_bodies) {
        retained_free(t);
        return NULL;
    }
    for (size_t i = 0; i < t->n_slots; i++)
        t->index[i] = NO_ENTRY;
    return t;
}

void retained_free(struct retained *t)
{
    if (!t)
        return;
    free(t->entries);
    free(t->index);
    free(t->bodies);
    free(t->free_bodies);
    free(t);
}

/* The entry for suffix, added if it is new and there is room; NULL if not. */
static struct entry *find_or_add(struct retained *t, const char *suffix)
{
    size_t slot = hash(suffix) & (t->n_slots - 1);

    while (t->index[slot] != NO_ENTRY) {
        struct entry *e = &t->entries[t->index[slot]];

        if (strcmp(e->suffix, suffix) == 0)
            return e;
        slot = (slot + 1) & (t->n_slots - 1);
    }
    if (t->n == t->cap || strlen(suffix) >= SUFFIX_MAX)
        return NULL;
    t->index[slot] = (uint32_t)t->n;
    strcpy(t->entries[t->n].suffix, suffix);
    return &t->entries[t->n++];
}

bool retained_set(struct retained *t, const char *suffix, const char *json, size_t len)
{
    struct entry *e;

    if (len > MSG_MAX)
        return false;
    e = find_or_add(t, suffix);
    if (!e)
        return false;
    if (len && !e->len) /* there is a body for every entry: cap of each */
        e->body = t->n_free ? t->free_bodies[--t->n_free] : (uint32_t)t->bodies_used++;
    else if (!len && e->len)
        t->free_bodies[t->n_free++] = e->body;
    t->live -= e->len != 0;
    t->live += len != 0;
    e->len = len;
    if (len)
        memcpy(t->bodies[e->body], json, len);
    return true;
}

size_t retained_live(const struct retained *t)
{
    return t->live;
}

void retained_each(const struct retained *t,
                   void (*fn)(void *ctx, const char *suffix, const char *json, size_t len), void *ctx)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->entries[i].len)
            fn(ctx, t->entries[i].suffix, t->bodies[t->entries[i].body], t->entries[i].len);
}

struct copy_ctx {
    struct retained *to;
    bool ok;
};

static void copy_one(void *ctx, const char *suffix, const char *json, size_t len)
{
    struct copy_ctx *c = ctx;

    c->ok &= retained_set(c->to, suffix, json, len);
}

bool retained_copy(struct retained *to, const struct retained *from)
{
    struct copy_ctx c = {.to = to, .ok = true};

    retained_each(from, copy_one, &c);
    return c.ok;
}
