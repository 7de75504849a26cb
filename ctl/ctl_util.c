/*
 * ctl_util.c - what several vigilctl subcommands read the same way: RFC 3339
 * times (replay's --from/--to, the ts of watched events and of retained
 * status) and string members of JSON payloads.
 */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

/* Reads n decimal digits at *s; returns the value or -1. */
static int digits(const char **s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*s)++) {
        if (**s < '0' || **s > '9')
            return -1;
        v = v * 10 + (**s - '0');
    }
    return v;
}

/* Expects the literal character c at *s. */
static bool lit(const char **s, char c)
{
    return **s == c ? ((*s)++, true) : false;
}

int ctl_parse_ts(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int frac_ms = 0, scale = 100;
    int y = digits(&s, 4), mo = lit(&s, '-') ? digits(&s, 2) : -1, d = lit(&s, '-') ? digits(&s, 2) : -1;
    int h = lit(&s, 'T') ? digits(&s, 2) : -1, mi = lit(&s, ':') ? digits(&s, 2) : -1;
    int sec = lit(&s, ':') ? digits(&s, 2) : -1;

    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return -1;
    if (lit(&s, '.')) {
        if (*s < '0' || *s > '9')
            return -1;
        for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
            frac_ms += (*s - '0') * scale;
    }
    if (!(strcmp(s, "Z") == 0 || strcmp(s, "+00:00") == 0))
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = (int64_t)timegm(&tm) * 1000 + frac_ms;
    /* timegm() normalises 2025-02-30 to March: refuse dates that moved */
    return tm.tm_mday == d && tm.tm_mon == mo - 1 ? 0 : -1;
}

const char *ctl_jstr(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? s : dflt;
}
