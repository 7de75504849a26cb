/*
 * influx_fixture.h - what the InfluxDB sink's tests share: a site whose
 * influx group points at a test influxd, and records fed as the core
 * thread feeds them.
 */
#ifndef VIGIL_TEST_INFLUX_FIXTURE_H
#define VIGIL_TEST_INFLUX_FIXTURE_H

#include "config.h"
#include "influx.h"

/*
 * A site with id site_id and room for max_points points (none yet), writing
 * to url, database db as the test influxd's admin, in batches of 50 ms,
 * health every hour. Free it with ifx_site_free().
 */
struct cfg_site *ifx_site(const char *site_id, const char *url, const char *db, int max_points);
void ifx_site_free(struct cfg_site *s);

/* Feeds one sample of point (device "io-1") at wall_ms. */
void ifx_sample(struct influx *ix, const char *point, const char *zone, enum cfg_point_kind kind, double v,
                int64_t wall_ms);

#endif
