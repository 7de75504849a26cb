/*
 * test_queue.c - the bounded queue with items that carry only their
 * meaningful bytes (queue.h): the core thread's input queue holds samples
 * of 48 bytes and commands of 272 in one ring, in order, with nothing lost
 * or mixed up where an item wraps around the ring's end.
 */
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "queue.h"

/* A test item: a tag says how many of its bytes mean something. */
struct item {
    uint32_t len;
    unsigned char body[60];
};

static size_t item_len(const void *p)
{
    return ((const struct item *)p)->len;
}

static struct item make(uint32_t len, unsigned char fill)
{
    struct item it;

    memset(&it, 0xee, sizeof(it)); /* bytes beyond len must not travel */
    it.len = len;
    memset(it.body, fill, len - sizeof(it.len));
    return it;
}

/* Small and large items, pushed and popped so that both wrap the ring's
 * end many times: each comes out whole, in order, the rest zeroed. */
static void mixed_items_wrap_in_order(void)
{
    struct queue q;
    unsigned pushed = 0, popped = 0;

    EXPECT_INT(queue_init_varlen(&q, sizeof(struct item), 3 * queue_item_bytes(sizeof(struct item)), item_len), 0);
    for (int round = 0; round < 200; round++) {
        while (1) {
            uint32_t len = pushed % 3 ? 8 : sizeof(struct item);
            struct item it = make(len, (unsigned char)pushed);
            if (queue_try_push(&q, &it) != 1)
                break;
            pushed++;
        }
        for (int k = 0; k < 2; k++) {
            struct item got, want = make(popped % 3 ? 8 : sizeof(struct item), (unsigned char)popped);
            memset((unsigned char *)&want + want.len, 0, sizeof(want) - want.len);
            EXPECT_INT(queue_pop(&q, &got, 0), 1);
            EXPECT(memcmp(&got, &want, sizeof(got)) == 0, "item %u changed on its way through", popped);
            popped++;
        }
    }
    EXPECT(pushed > 400, "only %u items went through", pushed);
    queue_destroy(&q);
}

/* A full ring refuses the item that does not fit but takes one that does;
 * a queue whose ring cannot hold its largest item is refused at init. */
static void full_means_no_room_for_this_item(void)
{
    struct queue q;
    struct item big = make(sizeof(struct item), 1), small = make(8, 2);

    EXPECT_INT(queue_init_varlen(&q, sizeof(struct item), queue_item_bytes(sizeof(struct item)) +
                                 queue_item_bytes(8), item_len), 0);
    EXPECT_INT(queue_try_push(&q, &big), 1);
    EXPECT_INT(queue_try_push(&q, &big), 0);
    EXPECT_INT(queue_try_push(&q, &small), 1);
    EXPECT_INT(queue_length(&q), 2);
    queue_destroy(&q);
    EXPECT_INT(queue_init_varlen(&q, sizeof(struct item), sizeof(struct item), item_len), -1);
}

int main(void)
{
    RUN(mixed_items_wrap_in_order);
    RUN(full_means_no_room_for_this_item);
    HARNESS_EXIT();
}
