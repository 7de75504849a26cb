/*
 * cfgreload.c - reading a new configuration off the core thread (cfgreload.h).
 *
 * The loader thread and the core thread share one heap job. Whichever of
 * them lets go of it second frees it: the loader by a compare-and-swap of
 * the job's state from LOADING to DONE (the core thread collects the
 * result) and the core thread by a swap from LOADING to ABANDONED (the
 * loader frees the job when it returns). The thread is detached, so
 * nobody ever waits for it.
 */
#include "cfgreload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define LOAD_ERR_MAX 16384 /* as much as a rejected config logs */

enum job_state { LOADING, DONE, ABANDONED };

struct cfgreload {
    atomic_int state;
    char *config_path, *profile_dir;
    uint64_t start_mono_ms, took_ms;
    struct cfg_site *site;
    char err[LOAD_ERR_MAX];
};

/* Loader threads alive, abandoned ones included: at most one. */
static atomic_int loaders_alive;

static void free_job(struct cfgreload *r)
{
    cfg_free(r->site);
    free(r->config_path);
    free(r->profile_dir);
    free(r);
}

static void *load_main(void *arg)
{
    struct cfgreload *r = arg;
    int expected = LOADING;

    r->site = cfg_load(r->config_path, r->profile_dir, r->err, sizeof(r->err));
    r->took_ms = clock_mono_ms() - r->start_mono_ms;
    if (!atomic_compare_exchange_strong(&r->state, &expected, DONE))
        free_job(r); /* abandoned: nobody will collect it */
    atomic_fetch_sub(&loaders_alive, 1);
    return NULL;
}

/* Starts the detached loader thread for r; false if it cannot. */
static bool start_thread(struct cfgreload *r)
{
    pthread_attr_t attr;
    pthread_t t;
    bool ok;

    if (pthread_attr_init(&attr) != 0)
        return false;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    ok = pthread_create(&t, &attr, load_main, r) == 0;
    pthread_attr_destroy(&attr);
    return ok;
}

struct cfgreload *cfgreload_start(const char *config_path, const char *profile_dir, char *err, size_t errlen)
{
    struct cfgreload *r;
    int none = 0;

    if (!atomic_compare_exchange_strong(&loaders_alive, &none, 1)) {
        snprintf(err, errlen, "the previous reload is still reading the configuration");
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (r) {
        atomic_init(&r->state, LOADING);
        r->start_mono_ms = clock_mono_ms();
        r->config_path = strdup(config_path);
        r->profile_dir = profile_dir ? strdup(profile_dir) : NULL;
    }
    if (!r || !r->config_path || (profile_dir && !r->profile_dir) || !start_thread(r)) {
        snprintf(err, errlen, "cannot start reading the configuration: out of memory or threads");
        if (r)
            free_job(r);
        atomic_fetch_sub(&loaders_alive, 1);
        return NULL;
    }
    return r;
}

int cfgreload_poll(struct cfgreload *r, struct cfg_site **site, uint64_t *took_ms, char *err, size_t errlen)
{
    if (atomic_load(&r->state) != DONE)
        return 0;
    *took_ms = r->took_ms;
    *site = r->site;
    r->site = NULL;
    snprintf(err, errlen, "%s", r->err);
    free_job(r);
    return 1;
}

void cfgreload_abandon(struct cfgreload *r)
{
    int expected = LOADING;

    if (!atomic_compare_exchange_strong(&r->state, &expected, ABANDONED))
        free_job(r); /* it had just finished: nobody else will free it */
}
