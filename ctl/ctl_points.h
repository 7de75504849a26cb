/*
 * ctl_points.h - the client side of vigild's points socket (points_sink.h),
 * shared by `vigilctl points` and `vigilctl walktest report`.
 *
 * The table is read into rows the caller owns (ctl_points_close frees
 * them); strings are copied out of the JSON lines.
 */
#ifndef VIGIL_CTL_POINTS_H
#define VIGIL_CTL_POINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CTL_POINTS_NAME_MAX 32

struct ctl_point {
    char point[CFG_ID_MAX], zone[CFG_ID_MAX], device[CFG_ID_MAX];
    char kind[CTL_POINTS_NAME_MAX], quality[CTL_POINTS_NAME_MAX];
    char alarm[CTL_POINTS_NAME_MAX], state[CTL_POINTS_NAME_MAX];
    char changed[32], tested[32];      /* RFC 3339, or "" */
    double raw, value;                 /* NaN: none */
    uint64_t seen_mono_ms;             /* when this view last saw it change (highlighting) */
};

struct ctl_zone {
    char zone[CFG_ID_MAX];
    bool armed, test;
    char test_started[32], test_until[32]; /* RFC 3339, or "" */
};

struct ctl_points {
    int fd;
    struct ctl_point *rows;
    size_t n_rows, cap_rows;
    struct ctl_zone *zones;
    size_t n_zones, cap_zones;
    char buf[8192];                    /* a partial line between reads */
    size_t len;
};

/*
 * The socket's path: socket if given, else the one the config at config
 * names (site.points_socket or <state_dir>/points.sock), else the default
 * state directory's. Returns 0, or -1 with the config's errors in err.
 */
int ctl_points_path(const char *socket, const char *config, const char *profiles, char *path, size_t cap,
                    char *err, size_t errlen);

/* Connects and reads the whole table (up to its end mark) within timeout_ms.
 * Returns 0, or -1 with the reason in err. */
int ctl_points_open(struct ctl_points *t, const char *path, int timeout_ms, char *err, size_t errlen);

/* Reads what arrived and applies every complete line: 1 something changed,
 * 0 nothing, -1 vigild closed the socket. */
int ctl_points_read(struct ctl_points *t, uint64_t now_mono_ms);

/* Sorts the rows by zone, then point (points in no zone last). */
void ctl_points_sort(struct ctl_points *t);

const struct ctl_zone *ctl_points_zone(const struct ctl_points *t, const char *zone);

void ctl_points_close(struct ctl_points *t);

/* ctl_points_path() then ctl_points_open(), printing why not to stderr;
 * returns 0 or -1 (t is then still safe to close). ctl_points.c. */
int ctl_points_connect(struct ctl_points *t, const char *socket, const char *config, const char *profiles);

#endif
