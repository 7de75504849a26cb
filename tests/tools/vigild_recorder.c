/*
 * vigild_recorder.c - vigild with one more sink, written the way any new
 * output would be: a struct sink_ops in one file. It appends every record
 * it receives to $VIGIL_RECORD_FILE, one line each, flushed at once so a
 * SIGKILL loses nothing it received:
 *
 *   <kind>\t<json>            events, zones, devices, results
 *   retire\t<object>\t<id>    an alarm, zone or device a reload removed
 *   resume\t<next_seq>        where numbering resumes after recovery
 *   sample\t<point>\t<value>  telemetry
 *
 * tests/it_sinks.sh compares this file with what a subscriber received
 * from the MQTT sink: a second sink sees exactly the same stream.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "sink.h"
#include "vigild.h"

struct recorder {
    FILE *f;
    uint64_t last_seq;
};

static const char *kind_name(enum sink_kind k)
{
    static const char *names[] = {[SINK_EVENT] = "event",   [SINK_ZONE] = "zone",     [SINK_RESULT] = "result",
                                  [SINK_OUTPUT] = "output", [SINK_DEVICE] = "device", [SINK_SAMPLE] = "sample",
                                  [SINK_RETIRE] = "retire", [SINK_RESUME] = "resume"};

    return names[k];
}

static void recorder_deliver(void *self, const struct sink_record *rec)
{
    struct recorder *r = self;
    static const char *objects[] = {[SINK_OBJ_ALARM] = "alarm", [SINK_OBJ_ZONE] = "zone",
                                    [SINK_OBJ_DEVICE] = "device"};

    if (rec->kind == SINK_RETIRE)
        fprintf(r->f, "retire\t%s\t%s\n", objects[rec->u.retire.object], rec->u.retire.id);
    else if (rec->kind == SINK_RESUME)
        fprintf(r->f, "resume\t%" PRIu64 "\n", rec->u.resume.next_seq);
    else if (rec->kind == SINK_SAMPLE)
        fprintf(r->f, "sample\t%s\t%.15g\n", rec->u.sample.point, rec->u.sample.value);
    else
        fprintf(r->f, "%s\t%.*s\n", kind_name(rec->kind), (int)rec->json_len, rec->json ? rec->json : "");
    if (rec->kind == SINK_EVENT)
        r->last_seq = rec->u.event.seq;
    fflush(r->f);
}

/* Flushed to the kernel on every record: durable against a crash of the process. */
static uint64_t recorder_durable_seq(void *self)
{
    return ((struct recorder *)self)->last_seq;
}

static void recorder_stop(void *self)
{
    struct recorder *r = self;

    fclose(r->f);
    free(r);
}

static const struct sink_ops recorder_ops = {
    .name = "recorder",
    .lossless = true,
    .deliver = recorder_deliver,
    .durable_seq = recorder_durable_seq,
    .stop = recorder_stop,
};

int main(int argc, char **argv)
{
    const char *path = getenv("VIGIL_RECORD_FILE");
    struct recorder *r = calloc(1, sizeof(*r));
    struct sink s = {.ops = &recorder_ops, .self = r};

    if (!path || !r || !(r->f = fopen(path, "a"))) {
        fprintf(stderr, "vigild_recorder: set VIGIL_RECORD_FILE to a writable file\n");
        return 2;
    }
    return vigild_main(argc, argv, &s, 1);
}
