/*
 * queue.h - a bounded, blocking, multi-producer queue of items.
 *
 * Threads talk only through these queues (pollers and the MQTT command
 * callback -> core thread). A full queue blocks the producer: inputs are
 * never dropped, and back-pressure slows polling instead of losing alarms.
 * The queue copies items in and out; it owns its ring buffer.
 *
 * Items are structs of one size, but a queue may carry only the part of
 * each that means something (a union of which one member is used): the
 * ring then holds the items back to back, so its memory follows what is
 * queued, not the largest item times the capacity.
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
    size_t item_size;
    size_t (*item_len)(const void *item); /* bytes of an item to carry; NULL: item_size */
    size_t ring_bytes, head, used;        /* the ring, where the oldest item starts, bytes in use */
    size_t count;                         /* items queued */
    bool closed;
};

/* Allocates a queue for cap items of item_size bytes. Returns 0 or -1. */
int queue_init(struct queue *q, size_t item_size, size_t cap);

/*
 * Allocates a queue of items of item_size bytes of which it carries the
 * first item_len(item) (at most item_size), in a ring of ring_bytes; an
 * item popped has the rest zeroed. Returns 0 or -1.
 */
int queue_init_varlen(struct queue *q, size_t item_size, size_t ring_bytes, size_t (*item_len)(const void *item));

/* The ring bytes one item of len bytes takes. */
size_t queue_item_bytes(size_t len);
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
