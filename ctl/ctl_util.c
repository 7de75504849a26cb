/*
 * ctl_util.c - what several vigilctl subcommands read the same way: string
 * members of JSON payloads. Times are read with msg_parse_ts(), the
 * daemon's own RFC 3339 reader.
 */

#include "ctl.h"

const char *ctl_jstr(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? s : dflt;
}
