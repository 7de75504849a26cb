/*
 * record.c - core outputs turned into self-describing sink records (record.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "record.h"

static void copy_id(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static const char *zone_id(const struct cfg_site *site, int zone)
{
    return zone >= 0 && zone < site->n_zones ? site->zones[zone].id : "";
}

/* Points rec.json at the payload of length n, or at nothing when it failed. */
static int attach(struct rec_buf *b, int n)
{
    b->rec.json = n >= 0 ? b->json : NULL;
    b->rec.json_len = n >= 0 ? (size_t)n : 0;
    return n;
}

static void begin(struct rec_buf *b, enum sink_kind kind, int64_t wall_ms)
{
    memset(&b->rec, 0, sizeof(b->rec));
    b->rec.kind = kind;
    b->rec.wall_ms = wall_ms;
}

int rec_event(struct rec_buf *b, const struct cfg_site *site, const struct core *core, const struct core_event *ev)
{
    const struct core_alarm_info *info = core_alarm_info(core, ev->alarm);
    struct sink_event *e = &b->rec.u.event;

    begin(b, SINK_EVENT, ev->wall_ms);
    e->seq = ev->seq;
    e->epoch = ev->epoch;
    e->type = ev->type;
    e->priority = ev->priority;
    e->state = ev->state;
    e->needs_attention = ev->state != CORE_S_NORMAL && ev->state != CORE_S_SUPPRESSED && ev->state != CORE_S_EVENT;
    e->value = ev->value;
    e->quality = ev->quality;
    e->test = ev->test;
    copy_id(e->operator_name, sizeof(e->operator_name), ev->operator_name);
    if (info) {
        copy_id(e->alarm, sizeof(e->alarm), info->id);
        copy_id(e->zone, sizeof(e->zone), zone_id(site, info->zone));
        if (info->point >= 0 && info->point < site->n_points)
            copy_id(e->point, sizeof(e->point), site->points[info->point].id);
        if (info->device >= 0 && info->device < site->n_devices)
            copy_id(e->device, sizeof(e->device), site->devices[info->device].id);
    }
    msg_event_text(site, info, ev, e->text, sizeof(e->text));
    return attach(b, msg_event(site->id, &b->rec, b->json, sizeof(b->json)));
}

int rec_zone(struct rec_buf *b, const struct cfg_site *site, const struct core_zone_change *zc)
{
    struct sink_zone *z = &b->rec.u.zone;
    const struct cfg_zone *cz = &site->zones[zc->zone];

    begin(b, SINK_ZONE, zc->wall_ms);
    copy_id(z->zone, sizeof(z->zone), cz->id);
    copy_id(z->name, sizeof(z->name), cz->name[0] ? cz->name : cz->id);
    z->armed = zc->armed;
    z->always_armed = cz->always_armed;
    z->test = zc->test;
    z->test_started_wall_ms = zc->test_started_wall_ms;
    z->test_until_wall_ms = zc->test_until_wall_ms;
    copy_id(z->operator_name, sizeof(z->operator_name), zc->operator_name);
    return attach(b, msg_zone(&b->rec, b->json, sizeof(b->json)));
}

int rec_result(struct rec_buf *b, const struct core_result *r, int64_t wall_ms)
{
    struct sink_result *res = &b->rec.u.result;

    begin(b, SINK_RESULT, wall_ms);
    res->source = r->source;
    copy_id(res->id, sizeof(res->id), r->id);
    res->op = r->op;
    res->ok = r->ok;
    copy_id(res->error, sizeof(res->error), r->error);
    return attach(b, msg_result(res, b->json, sizeof(b->json)));
}

int rec_device(struct rec_buf *b, const struct cfg_site *site, int device, const struct poll_device_stats *st,
               bool up, bool changed, int64_t wall_ms)
{
    const struct cfg_device *cd = &site->devices[device];
    struct sink_device *d = &b->rec.u.device;

    begin(b, SINK_DEVICE, wall_ms);
    copy_id(d->device, sizeof(d->device), cd->id);
    copy_id(d->name, sizeof(d->name), cd->name[0] ? cd->name : cd->id);
    d->up = up;
    d->changed = changed;
    d->rtt_ms = st && st->last_ok_mono_ms ? (int64_t)st->last_rtt_ms : -1;
    d->polls = st ? st->polls : 0;
    d->failures = st ? st->failures : 0;
    return attach(b, msg_device(&b->rec, b->json, sizeof(b->json)));
}

int rec_sample(struct rec_buf *b, const struct cfg_site *site, int point, double value, double raw, int64_t wall_ms)
{
    const struct cfg_point *p = &site->points[point];
    struct sink_sample *s = &b->rec.u.sample;

    begin(b, SINK_SAMPLE, wall_ms);
    copy_id(s->point, sizeof(s->point), p->id);
    copy_id(s->device, sizeof(s->device), site->devices[p->device].id);
    copy_id(s->zone, sizeof(s->zone), zone_id(site, p->zone));
    s->kind = p->kind;
    s->value = value;
    s->raw = raw;
    return 0;
}

int rec_tested(struct rec_buf *b, const struct cfg_site *site, int point, int64_t tested_wall_ms)
{
    const struct cfg_point *p = &site->points[point];
    struct sink_tested *t = &b->rec.u.tested;

    begin(b, SINK_TESTED, tested_wall_ms);
    copy_id(t->point, sizeof(t->point), p->id);
    copy_id(t->zone, sizeof(t->zone), zone_id(site, p->zone));
    return 0;
}

int rec_retire(struct rec_buf *b, enum sink_object object, const char *id, int64_t wall_ms)
{
    begin(b, SINK_RETIRE, wall_ms);
    b->rec.u.retire.object = object;
    copy_id(b->rec.u.retire.id, sizeof(b->rec.u.retire.id), id);
    return 0;
}

int rec_retry(struct rec_buf *b, const struct core_retry *r, int64_t wall_ms)
{
    struct sink_retry *t = &b->rec.u.retry;

    begin(b, SINK_RETRY, wall_ms);
    *t = (struct sink_retry){.seq = r->seq, .priority = r->priority, .retry = r->retry,
                             .first_miss = r->first_miss, .give_up = r->give_up, .escalating = r->escalating};
    return 0;
}

int rec_local_output(struct rec_buf *b, const struct cfg_site *site, const struct core_local_output *o)
{
    const struct cfg_local_output *lo = &site->receipts.local_output;
    struct sink_output *out = &b->rec.u.output;
    const struct cfg_device *d = &site->devices[lo->device];

    begin(b, SINK_OUTPUT, o->wall_ms);
    copy_id(out->device, sizeof(out->device), d->id);
    copy_id(out->output, sizeof(out->output), site->profiles[d->profile].inputs[lo->input].name);
    out->on = o->on;
    if (o->on)
        snprintf(out->reason, sizeof(out->reason), "%u escalating events without the station's receipt",
                 (unsigned)o->missing);
    else
        snprintf(out->reason, sizeof(out->reason), "every escalating event receipted");
    return attach(b, msg_output(&b->rec, b->json, sizeof(b->json)));
}
