/*
 * queue.h - a bounded, blocking, multi-producer queue of fixed-size items.
 *
 * Threads talk only through these queues (pollers and the MQTT command
 * callback -> core thread). A full queue blocks the producer: inputs are
 * never dropped, and back-pressure slows polling instead of losing alarms.
 * The queue copies items in and out; it owns its ring buffer.
 */
#ifndef VIGIL_QUEUE_H
#define VIGIL_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    unsigned char *ring;
    size_t item_size, cap, head, count;
    bool closed;
};

/* Allocates a queue for cap items of item_size bytes. Returns 0 or -1. */
int queue_init(struct queue *q, size_t item_size, size_t cap);
void queue_destroy(struct queue *q);

/* Copies item in; blocks while full. Returns 0, or -1 if the queue is closed. */
int queue_push(struct queue *q, const void *item);

/* Copies item in if there is room. Returns 1 if queued, 0 if full, -1 if closed. */
int queue_try_push(struct queue *q, const void *item);

/* Copies the oldest item out, waiting at most timeout_ms (-1: forever).
 * Returns 1 if an item was taken, 0 on timeout, -1 if closed and empty. */
int queue_pop(struct queue *q, void *item, int timeout_ms);

/* Wakes every waiter; later pushes fail, pops drain what is left. */
void queue_close(struct queue *q);

size_t queue_length(struct queue *q);

#endif
