/*
 * queue.c - bounded blocking queue (see queue.h).
 *
 * A mutex and two condition variables around a ring buffer. The waits use
 * CLOCK_MONOTONIC so a wall-clock step cannot stretch or cut a pop timeout.
 */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int queue_init(struct queue *q, size_t item_size, size_t cap)
{
    pthread_condattr_t attr;

    memset(q, 0, sizeof(*q));
    q->ring = calloc(cap, item_size);
    if (!q->ring)
        return -1;
    q->item_size = item_size;
    q->cap = cap;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_empty, &attr);
    pthread_cond_init(&q->not_full, &attr);
    pthread_condattr_destroy(&attr);
    return 0;
}

void queue_destroy(struct queue *q)
{
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->ring);
    q->ring = NULL;
}

/* Appends item; the caller holds the lock and has checked there is room. */
static void append_locked(struct queue *q, const void *item)
{
    memcpy(q->ring + ((q->head + q->count) % q->cap) * q->item_size, item, q->item_size);
    q->count++;
    pthread_cond_signal(&q->not_empty);
}

int queue_push(struct queue *q, const void *item)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == q->cap && !q->closed)
        pthread_cond_wait(&q->not_full, &q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    append_locked(q, item);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int queue_try_push(struct queue *q, const void *item)
{
    int rc = 1;

    pthread_mutex_lock(&q->lock);
    if (q->closed)
        rc = -1;
    else if (q->count == q->cap)
        rc = 0;
    else
        append_locked(q, item);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

static struct timespec deadline_after(int timeout_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int queue_pop(struct queue *q, void *item, int timeout_ms)
{
    struct timespec until = deadline_after(timeout_ms < 0 ? 0 : timeout_ms);

    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->not_empty, &q->lock);
        } else if (pthread_cond_timedwait(&q->not_empty, &q->lock, &until) == ETIMEDOUT) {
            break;
        }
    }
    if (q->count == 0) {
        int rc = q->closed ? -1 : 0;
        pthread_mutex_unlock(&q->lock);
        return rc;
    }
    memcpy(item, q->ring + q->head * q->item_size, q->item_size);
    q->head = (q->head + 1) % q->cap;
    q->count--;
    /* Restart at the front when empty: the ring is sized for bursts, and a
     * head walking all of it would make every page resident for nothing. */
    if (q->count == 0)
        q->head = 0;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return 1;
}

void queue_close(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

size_t queue_length(struct queue *q)
{
    size_t n;

    pthread_mutex_lock(&q->lock);
    n = q->count;
    pthread_mutex_unlock(&q->lock);
    return n;
}
