/*
 * influxd.h - a real InfluxDB 1.x (Debian's influxd) for tests.
 *
 * influxd_start() writes a config into a fresh temporary directory (data,
 * meta and WAL there; HTTP and RPC on free loopback ports; authentication
 * on), starts influxd, creates the admin user INFLUXD_USER and one database,
 * and returns once it answers. It is stopped by PID (testproc.h).
 */
#ifndef VIGIL_TEST_INFLUXD_H
#define VIGIL_TEST_INFLUXD_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#define INFLUXD_USER "admin"
#define INFLUXD_PASSWORD "s3cret-pw"

struct influxd {
    int port, rpc_port;
    pid_t pid;            /* 0 when not running */
    char url[64];         /* "http://127.0.0.1:<port>" */
    char dir[256];
};

/* True if an influxd binary is on PATH (tests skip without it). */
bool influxd_available(void);

/* Starts influxd and creates database db. Returns 0, or -1 with a "#" line saying why. */
int influxd_start(struct influxd *d, const char *db);
/* Stops the process only (data stays) / starts it again on the same port. */
void influxd_pause(struct influxd *d);
int influxd_resume(struct influxd *d);
/* Stops it and removes its directory. */
void influxd_stop(struct influxd *d);

/*
 * Runs an InfluxQL query (as the admin) against db (NULL for none) with
 * epoch=ms. Returns the parsed JSON answer (json_decref it) or NULL.
 */
json_t *influxd_query(const struct influxd *d, const char *db, const char *q);

/* Writes lines of line protocol (ms timestamps) into db as the admin; the HTTP status, or -1. */
long influxd_write(const struct influxd *d, const char *db, const char *lines);

/*
 * The value in column col of row row of the first series of the first
 * result of a query answer; NULL if there is none.
 */
json_t *influxd_cell(json_t *answer, int row, const char *col);
/* How many rows the first series has (0 if none). */
int influxd_rows(json_t *answer);

#endif
