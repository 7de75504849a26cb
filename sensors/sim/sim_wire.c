/*
 * sim_wire.c - the wire time of an RS-485 line, for `vigil-sim --wire-time`.
 *
 * A pseudo-terminal moves a frame in microseconds; a real line at 19,200
 * baud takes about half a millisecond per character. With --wire-time every
 * RTU bus behaves like the line: a request occupies it for its characters,
 * the device answers after the 3.5-character gap, the answer occupies it for
 * its own characters, and the next frame can start only after another gap.
 * The answer is handed to the master when its last character would have
 * arrived. A request that arrives while the line is still busy (the master
 * did not wait out the gap) starts when the line is free, as the next
 * transmitter on a real line must. Character time and gap are busload.c's,
 * the figures vigild's config check and `vigilctl scan` use, so a benchmark
 * can compare the rate it achieves with the limit they compute.
 *
 * sim_answer() writes an answer to an fd at once; here it writes into a pipe
 * (the capture), and the bytes are read back and held until they are due.
 */
#include "sim.h"

#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "busload.h"

uint64_t sim_wire_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int sim_wire_open(struct sim_bus *b, char *err, size_t errlen)
{
    if (pipe2(b->capture, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "bus \"%s\": cannot create the wire-time pipe", b->cfg->id);
        b->capture[0] = b->capture[1] = -1;
        return -1;
    }
    b->wire = true;
    b->shortest_gap_ns = UINT64_MAX;
    return 0;
}

void sim_wire_close(struct sim_bus *b)
{
    for (int i = 0; i < 2; i++)
        if (b->wire && b->capture[i] >= 0)
            close(b->capture[i]);
}

static uint64_t char_ns(const struct sim_bus *b)
{
    return (uint64_t)busload_char_bits(b->cfg) * 1000000000u / (uint64_t)b->cfg->baud;
}

/*
 * A master must leave the gap before a request too, or the devices take the
 * request for the tail of the last frame: counts the requests that did not,
 * and the shortest silence seen.
 */
static void count_request(struct sim_bus *b, uint64_t now_ns, uint64_t gap_ns)
{
    uint64_t silence = now_ns > b->last_end_ns ? now_ns - b->last_end_ns : 0;

    if (b->frames++ == 0)
        return;
    if (silence < b->shortest_gap_ns)
        b->shortest_gap_ns = silence;
    b->early += silence < gap_ns;
}

/*
 * A request of req_bytes was framed at now_ns and sim_answer() has written
 * its answer (or nothing: a silent device) into the capture: schedules the
 * answer for when the line would have delivered its last character.
 */
void sim_wire_frame(struct sim_bus *b, size_t req_bytes, uint64_t now_ns)
{
    uint64_t gap = (uint64_t)busload_gap_us(b->cfg) * 1000u;
    uint64_t start = now_ns > b->line_free_ns ? now_ns : b->line_free_ns;
    uint64_t end = start + req_bytes * char_ns(b);
    ssize_t n = read(b->capture[0], b->tx + b->tx_len, sizeof(b->tx) - b->tx_len);

    count_request(b, now_ns, gap);
    if (n > 0) {
        /* The answer follows the request's gap; one still held (a master
         * that gave up on it) goes out with this one. */
        end += gap + (uint64_t)n * char_ns(b);
        b->tx_len += (size_t)n;
        b->tx_due_ns = end;
    }
    b->line_free_ns = end + gap;
    b->last_end_ns = end;
}

/* Hands the held answer to the master once it is due. */
void sim_wire_flush(struct sim_bus *b, uint64_t now_ns)
{
    if (b->tx_len == 0 || now_ns < b->tx_due_ns)
        return;
    /* A pty master takes a whole frame; a master that is gone loses it, as on a line. */
    (void)!write(b->master_fd, b->tx, b->tx_len);
    b->tx_len = 0;
    /* The master's gap runs from when it got the answer, not from when the
     * answer was due: select() wakes this loop a little late. */
    b->line_free_ns += now_ns - b->tx_due_ns;
    b->last_end_ns = now_ns;
}

/* Nanoseconds until the held answer is due, or -1 if none is held. */
int64_t sim_wire_wait_ns(const struct sim_bus *b, uint64_t now_ns)
{
    if (b->tx_len == 0)
        return -1;
    return now_ns >= b->tx_due_ns ? 0 : (int64_t)(b->tx_due_ns - now_ns);
}
