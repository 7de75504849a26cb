/*
 * influxd.c - a real InfluxDB 1.x for tests (see influxd.h).
 *
 * Linked into every test program, so it does nothing until a test calls it.
 */
#include "influxd.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testproc.h"

#define START_TIMEOUT_MS 20000

bool influxd_available(void)
{
    const char *path = getenv("PATH");
    char buf[512];

    for (const char *p = path; p && *p;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        snprintf(buf, sizeof(buf), "%.*s/influxd", (int)n, p);
        if (access(buf, X_OK) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static int write_config(const struct influxd *d)
{
    char path[320];
    FILE *f;

    snprintf(path, sizeof(path), "%s/influxd.conf", d->dir);
    f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "reporting-enabled = false\nbind-address = \"127.0.0.1:%d\"\n"
               "[meta]\n  dir = \"%s/meta\"\n  logging-enabled = false\n"
               "[data]\n  dir = \"%s/data\"\n  wal-dir = \"%s/wal\"\n  query-log-enabled = false\n"
               "[monitor]\n  store-enabled = false\n"
               "[http]\n  bind-address = \"127.0.0.1:%d\"\n  auth-enabled = true\n  log-enabled = false\n"
               "[continuous_queries]\n  enabled = false\n",
            d->rpc_port, d->dir, d->dir, d->dir, d->port);
    return fclose(f) == 0 ? 0 : -1;
}

static int launch(struct influxd *d)
{
    char conf[320], log[320];
    char *argv[] = { "influxd", "-config", conf, NULL };

    snprintf(conf, sizeof(conf), "%s/influxd.conf", d->dir);
    snprintf(log, sizeof(log), "%s/influxd.log", d->dir);
    d->pid = tp_spawn(log, argv);
    if (d->pid > 0 && tp_wait_port(d->pid, d->port, START_TIMEOUT_MS) == 0)
        return 0;
    influxd_pause(d);
    return -1;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    FILE *f = arg;
    return fwrite(data, size, n, f);
}

/* POSTs /query with q; as the admin unless anonymous (creating the first user). */
static json_t *query(const struct influxd *d, const char *db, const char *q, bool anonymous)
{
    char *text = NULL, *esc, url[128];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CURL *c = curl_easy_init();
    json_t *j = NULL;

    if (!f || !c)
        goto out;
    esc = curl_easy_escape(c, q, 0);
    snprintf(url, sizeof(url), "%s/query?epoch=ms%s%s", d->url, db ? "&db=" : "", db ? db : "");
    curl_easy_setopt(c, CURLOPT_URL, url);
    char *body = malloc(strlen(esc) + 3);
    sprintf(body, "q=%s", esc);
    curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, body);
    free(body);
    curl_free(esc);
    if (!anonymous) {
        curl_easy_setopt(c, CURLOPT_USERNAME, INFLUXD_USER);
        curl_easy_setopt(c, CURLOPT_PASSWORD, INFLUXD_PASSWORD);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(c) == CURLE_OK) {
        fflush(f);
        j = json_loadb(text, len, 0, NULL);
    }
out:
    if (f)
        fclose(f);
    free(text);
    if (c)
        curl_easy_cleanup(c);
    return j;
}

json_t *influxd_query(const struct influxd *d, const char *db, const char *q)
{
    return query(d, db, q, false);
}

long influxd_write(const struct influxd *d, const char *db, const char *lines)
{
    char url[160];
    long status = -1;
    CURL *c = curl_easy_init();

    if (!c)
        return -1;
    snprintf(url, sizeof(url), "%s/write?db=%s&precision=ms", d->url, db);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, lines);
    curl_easy_setopt(c, CURLOPT_USERNAME, INFLUXD_USER);
    curl_easy_setopt(c, CURLOPT_PASSWORD, INFLUXD_PASSWORD);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static json_t *first_series(json_t *answer)
{
    json_t *r = json_array_get(json_object_get(answer, "results"), 0);
    return json_array_get(json_object_get(r, "series"), 0);
}

json_t *influxd_cell(json_t *answer, int row, const char *col)
{
    json_t *s = first_series(answer), *cols = json_object_get(s, "columns");
    for (size_t i = 0; i < json_array_size(cols); i++)
        if (strcmp(json_string_value(json_array_get(cols, i)), col) == 0)
            return json_array_get(json_array_get(json_object_get(s, "values"), (size_t)row), i);
    return NULL;
}

int influxd_rows(json_t *answer)
{
    return (int)json_array_size(json_object_get(first_series(answer), "values"));
}

/* Creates the admin (allowed once, without credentials, on a fresh server) and db. */
static int provision(struct influxd *d, const char *db)
{
    char q[160];
    json_t *a = query(d, NULL, "CREATE USER " INFLUXD_USER " WITH PASSWORD '" INFLUXD_PASSWORD
                               "' WITH ALL PRIVILEGES", true);
    snprintf(q, sizeof(q), "CREATE DATABASE \"%s\"", db);
    json_t *b = a ? influxd_query(d, NULL, q) : NULL;
    int rc = b && !json_object_get(json_array_get(json_object_get(b, "results"), 0), "error") ? 0 : -1;
    json_decref(a);
    json_decref(b);
    return rc;
}

int influxd_start(struct influxd *d, const char *db)
{
    d->pid = 0;
    if (tp_mkdtemp(d->dir, sizeof(d->dir), "vigil-influxd") < 0) {
        printf("# influxd: cannot make a temporary directory\n");
        return -1;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        d->port = tp_free_port();
        d->rpc_port = tp_free_port();
        snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%d", d->port);
        if (d->port > 0 && d->rpc_port != d->port && write_config(d) == 0 && launch(d) == 0)
            return provision(d, db) == 0 ? 0 : (printf("# influxd: cannot create user and database\n"), -1);
    }
    printf("# influxd: did not start; see %s/influxd.log\n", d->dir);
    return -1;
}

void influxd_pause(struct influxd *d)
{
    tp_stop(d->pid);
    d->pid = 0;
}

int influxd_resume(struct influxd *d)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if (launch(d) == 0)
            return 0;
        tp_pause_ms(200);
    }
    printf("# influxd: did not restart on port %d; see %s/influxd.log\n", d->port, d->dir);
    return -1;
}

void influxd_stop(struct influxd *d)
{
    influxd_pause(d);
    tp_rmtree(d->dir);
    d->dir[0] = '\0';
}
