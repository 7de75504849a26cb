/*
 * sink.c - the set of sinks the core thread hands its records to.
 *
 * Nothing here knows any one sink: the set only fans records out in order
 * and computes the one number the journal needs from all of them, the
 * slowest lossless sink's durable seq (sink.h).
 */
#include "sink.h"

int sink_set_add(struct sink_set *set, const struct sink_ops *ops, void *self)
{
    if (set->n == SINK_MAX)
        return -1;
    set->sinks[set->n++] = (struct sink){.ops = ops, .self = self};
    return 0;
}

void sink_set_deliver(const struct sink_set *set, const struct sink_record *rec)
{
    for (int i = 0; i < set->n; i++)
        set->sinks[i].ops->deliver(set->sinks[i].self, rec);
}

void sink_set_tick(const struct sink_set *set, uint64_t now_mono_ms, int64_t now_wall_ms)
{
    for (int i = 0; i < set->n; i++)
        if (set->sinks[i].ops->tick)
            set->sinks[i].ops->tick(set->sinks[i].self, now_mono_ms, now_wall_ms);
}

void sink_set_reconfigure(const struct sink_set *set, const struct cfg_site *site)
{
    for (int i = 0; i < set->n; i++)
        if (set->sinks[i].ops->reconfigure)
            set->sinks[i].ops->reconfigure(set->sinks[i].self, site);
}

uint64_t sink_set_durable_seq(const struct sink_set *set)
{
    uint64_t slowest = UINT64_MAX;

    for (int i = 0; i < set->n; i++) {
        const struct sink *s = &set->sinks[i];
        uint64_t seq;

        if (!s->ops->lossless)
            continue;
        seq = s->ops->durable_seq(s->self);
        if (seq < slowest)
            slowest = seq;
    }
    return slowest;
}

void sink_set_stop(struct sink_set *set)
{
    while (set->n > 0) {
        struct sink *s = &set->sinks[--set->n];

        s->ops->stop(s->self);
    }
}
