/*
 * queue.c - bounded blocking queue (see queue.h).
 *
 * A mutex and two condition variables around a ring of bytes, each item
 * stored as its length and the bytes it carries. The waits use
 * CLOCK_MONOTONIC so a wall-clock step cannot stretch or cut a pop timeout.
 */
#include "queue.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Each item is its length, then its bytes; both may wrap around the ring's end. */
#define LEN_BYTES sizeof(uint32_t)

size_t queue_item_bytes(size_t len)
{
    return LEN_BYTES + len;
}

int queue_init_varlen(struct queue *q, size_t item_size, size_t ring_bytes, size_t (*item_len)(const void *item))
{
    pthread_condattr_t attr;

    memset(q, 0, sizeof(*q));
    /* the largest item must fit, or its producer would wait forever */
    if (ring_bytes < queue_item_bytes(item_size) || item_size > UINT32_MAX)
        return -1;
    q->ring = malloc(ring_bytes);
    if (!q->ring)
        return -1;
    q->item_size = item_size;
    q->item_len = item_len;
    q->ring_bytes = ring_bytes;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_empty, &attr);
    pthread_cond_init(&q->not_full, &attr);
    pthread_condattr_destroy(&attr);
    return 0;
}

int queue_init(struct queue *q, size_t item_size, size_t cap)
{
    return queue_init_varlen(q, item_size, cap * queue_item_bytes(item_size), NULL);
}

void queue_destroy(struct queue *q)
{
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->ring);
    q->ring = NULL;
}

/* Copies n bytes into the ring at offset at, wrapping at its end. */
static void ring_write(struct queue *q, size_t at, const void *src, size_t n)
{
    size_t first = n < q->ring_bytes - at ? n : q->ring_bytes - at;

    memcpy(q->ring + at, src, first);
    memcpy(q->ring, (const unsigned char *)src + first, n - first);
}

/* Copies n bytes out of the ring from offset at, wrapping at its end. */
static void ring_read(const struct queue *q, size_t at, void *dst, size_t n)
{
    size_t first = n < q->ring_bytes - at ? n : q->ring_bytes - at;

    memcpy(dst, q->ring + at, first);
    memcpy((unsigned char *)dst + first, q->ring, n - first);
}

static size_t carried_len(const struct queue *q, const void *item)
{
    size_t len = q->item_len ? q->item_len(item) : q->item_size;

    return len < q->item_size ? len : q->item_size;
}

/* Whether an item of len bytes fits now; the caller holds the lock. */
static bool fits_locked(const struct queue *q, size_t len)
{
    return q->used + queue_item_bytes(len) <= q->ring_bytes;
}

/* Appends len bytes of item; the caller holds the lock and has checked there is room. */
static void append_locked(struct queue *q, const void *item, size_t len)
{
    size_t tail = (q->head + q->used) % q->ring_bytes;
    uint32_t n = (uint32_t)len;

    ring_write(q, tail, &n, LEN_BYTES);
    ring_write(q, (tail + LEN_BYTES) % q->ring_bytes, item, len);
    q->used += queue_item_bytes(len);
    q->count++;
    pthread_cond_signal(&q->not_empty);
}

int queue_push(struct queue *q, const void *item)
{
    size_t len = carried_len(q, item);

    pthread_mutex_lock(&q->lock);
    while (!fits_locked(q, len) && !q->closed)
        pthread_cond_wait(&q->not_full, &q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    append_locked(q, item, len);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int queue_try_push(struct queue *q, const void *item)
{
    size_t len = carried_len(q, item);
    int rc = 1;

    pthread_mutex_lock(&q->lock);
    if (q->closed)
        rc = -1;
    else if (!fits_locked(q, len))
        rc = 0;
    else
        append_locked(q, item, len);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* Copies the oldest item out, the bytes it did not carry zeroed; the caller holds the lock and has checked there is one. */
static void take_locked(struct queue *q, void *item)
{
    uint32_t n;

    ring_read(q, q->head, &n, LEN_BYTES);
    memset(item, 0, q->item_size);
    ring_read(q, (q->head + LEN_BYTES) % q->ring_bytes, item, n);
    q->head = (q->head + queue_item_bytes(n)) % q->ring_bytes;
    q->used -= queue_item_bytes(n);
    q->count--;
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
    take_locked(q, item);
    /* Restart at the front when empty: the ring is sized for bursts, and a
     * head walking all of it would make every page resident for nothing. */
    if (q->count == 0)
        q->head = 0;
    /* every producer: the room freed may fit a small item where a large one still waits */
    pthread_cond_broadcast(&q->not_full);
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
