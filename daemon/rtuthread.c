/*
 * rtuthread.c - one polling thread per RTU line, on libmodbus (see
 * poll_internal.h; docs/modbus.md).
 *
 * libmodbus is blocking and a context is not thread-safe, so each line gets
 * one thread and one modbus_t, and talks to nobody but the input queue. A
 * line is half-duplex anyway: one request at a time is all it can carry. The
 * thread keeps its devices ordered by due time: it picks the device whose
 * poll is due first, writes its pending outputs, reads its plan, decodes
 * every point and pushes what changed (poller.c), then moves that device's
 * due time on by exactly one interval. Slots missed because the line was
 * busy are skipped rather than caught up in a burst.
 *
 * Failures are classified by errno the way LIBRARIES.md describes for 3.1.6:
 * an exception means the device answered; a timeout, bad CRC or bad data
 * means a late or broken reply may still be on the line, so it is flushed;
 * anything else is a link failure (the port could not be opened or
 * vanished): close, and reopen with back-off.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "busload.h"
#include "clock.h"
#include "mbreq.h"
#include "poll_internal.h"

static void set_timeouts(modbus_t *ctx, int timeout_ms)
{
    uint32_t sec = (uint32_t)timeout_ms / 1000, usec = (uint32_t)(timeout_ms % 1000) * 1000;

    modbus_set_response_timeout(ctx, sec, usec);
    modbus_set_byte_timeout(ctx, sec, usec);
}

/*
 * A request may start only once the line has been silent for the
 * 3.5-character gap (Modbus over serial line 2.5.1.1); the units on the line
 * take an earlier one for the tail of the answer before it. libmodbus sends
 * at once: bench/rtu.sh found 99 % of the requests 0.05 ms after the answer.
 */
static void line_wait_gap(const struct poll_bus *b)
{
    if (b->gap_us > 0)
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &b->quiet_at, NULL);
}

/* A frame has just ended (an answer came, or the wait for one ended). */
static void line_frame_ended(struct poll_bus *b)
{
    if (b->gap_us == 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &b->quiet_at);
    b->quiet_at.tv_nsec += b->gap_us * 1000L;
    if (b->quiet_at.tv_nsec >= 1000000000L) {
        b->quiet_at.tv_sec++;
        b->quiet_at.tv_nsec -= 1000000000L;
    }
}

/*
 * Makes sure the line is open before polling d. Returns 0 when it is; -1
 * when the back-off has not elapsed (no I/O) or the open failed.
 */
static int line_open(struct poll_bus *b, const struct poll_dev *d, uint64_t now)
{
    if (b->connected)
        return 0;
    if (now < b->reconnect_at_ms)
        return -1;
    modbus_close(b->ctx); /* 3.1.6 leaks the old fd if connect comes first */
    set_timeouts(b->ctx, d->cfg->timeout_ms);
    if (modbus_connect(b->ctx) != 0) {
        int e = errno;

        modbus_close(b->ctx);
        poll_bus_connect_failed(b, e, clock_mono_ms());
        return -1;
    }
    /* RS-485 direction control where the port supports it; a pty or an
     * adapter with automatic direction control refuses the ioctl, which is fine. */
    (void)modbus_rtu_set_serial_mode(b->ctx, MODBUS_RTU_RS485);
    poll_bus_connected(b);
    return 0;
}

/* Recovers the line after a failed request and says whose fault it was. */
static enum poll_fail_kind line_recover(struct poll_bus *b, int err, uint64_t now)
{
    if (poll_is_exception(err))
        return FAIL_DEVICE;
    if (poll_is_protocol_error(err)) {
        modbus_flush(b->ctx);
        return FAIL_DEVICE;
    }
    modbus_close(b->ctx);
    poll_bus_link_failed(b, now);
    return FAIL_LINK;
}

/*
 * Writes d's pending outputs before its poll. Returns 0 (written, or
 * refused with an exception: logged, retried on the next poll), or the
 * errno of a failure that makes this poll fail.
 */
static int dev_write_outputs(struct poll_bus *b, struct poll_dev *d, uint64_t *requests)
{
    struct poll_out todo[POLL_MAX_OUTPUTS];
    int n = poll_outputs_pending(b->set, d->index, todo);

    for (int i = 0; i < n; i++) {
        const struct cfg_input *in = poll_output_input(b->set, &todo[i]);
        int err;

        line_wait_gap(b);
        err = mbreq_write(b->ctx, d->cfg->unit, in->table, in->address, todo[i].value, &d->answer);
        line_frame_ended(b);

        (*requests)++;
        if (err == 0) {
            poll_output_written(b, d, &todo[i]);
            continue;
        }
        poll_output_failed(b, d, &todo[i], err);
        if (!poll_is_exception(err))
            return err;
    }
    return 0;
}

/* Sends the requests of d's plan. Returns 0 or the errno of the first failure. */
static int dev_read(struct poll_bus *b, struct poll_dev *d, uint64_t *requests)
{
    for (int i = 0; i < d->n_blocks; i++) {
        const struct dev_block *blk = &d->blocks[i];
        int err;

        line_wait_gap(b);
        err = mbreq_read(b->ctx, d->cfg->unit, blk->req.table, blk->req.address, blk->req.count, blk->words,
                         blk->bits, &d->answer);
        line_frame_ended(b);

        (*requests)++;
        if (err)
            return err;
    }
    return 0;
}

/* One poll cycle of d: open if needed, write pending outputs, read its plan, report. */
static void dev_poll(struct poll_bus *b, struct poll_dev *d)
{
    uint64_t start = clock_mono_ms(), requests = 0, end;
    int err, werr;

    if (line_open(b, d, start) != 0) {
        end = clock_mono_ms();
        poll_dev_count(b->set, d, 0, false, start, end);
        poll_dev_failed(b, d, FAIL_LINK, 0, end);
        return;
    }
    modbus_set_slave(b->ctx, d->cfg->unit); /* libmodbus drops RTU answers from other slaves */
    set_timeouts(b->ctx, d->cfg->timeout_ms);
    werr = dev_write_outputs(b, d, &requests);
    errno = 0;
    err = werr ? werr : dev_read(b, d, &requests);
    end = clock_mono_ms();
    poll_dev_count(b->set, d, requests, err == 0, start, end);
    if (err == 0)
        poll_dev_answered(b, d, end);
    else /* a failed write was logged already: no second line calling it a read */
        poll_dev_failed(b, d, line_recover(b, err, end), werr ? 0 : err, end);
}

static void sleep_until_ms(uint64_t when_ms)
{
    struct timespec ts = { .tv_sec = (time_t)(when_ms / 1000), .tv_nsec = (long)(when_ms % 1000) * 1000000L };

    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* The line's thread: poll whichever device is due, sleep in short steps. */
static void *line_main(void *arg)
{
    struct poll_bus *b = arg;

    while (!atomic_load(&b->set->stop)) {
        uint64_t now = clock_mono_ms();
        struct poll_dev *d;

        atomic_fetch_add(&b->loops, 1);
        if (b->n_devs == 0) {
            sleep_until_ms(now + POLL_IDLE_SLEEP_MS);
            continue;
        }
        d = poll_bus_next_device(b);
        if (d->next_due_ms > now) {
            sleep_until_ms(d->next_due_ms < now + POLL_IDLE_SLEEP_MS ? d->next_due_ms : now + POLL_IDLE_SLEEP_MS);
            continue;
        }
        dev_poll(b, d);
        poll_dev_schedule(d, clock_mono_ms());
    }
    modbus_close(b->ctx);
    return NULL;
}

/* Creates the line's libmodbus context (not yet open). */
static int line_build(struct poll_bus *b, char *err, size_t errlen)
{
    const struct cfg_bus *cfg = b->cfg;

    b->gap_us = busload_gap_us(cfg);
    b->ctx = modbus_new_rtu(cfg->device, cfg->baud, cfg->parity, cfg->data_bits, cfg->stop_bits);
    if (!b->ctx) {
        snprintf(err, errlen, "modbus: bus \"%s\" %s: cannot create context: %s", cfg->id, b->where,
                 strerror(errno));
        return -1;
    }
    modbus_set_error_recovery(b->ctx, MODBUS_ERROR_RECOVERY_NONE);
    return 0;
}

int rtu_start(struct poll_set *ps, char *err, size_t errlen)
{
    pthread_attr_t attr;
    int rc = 0;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, POLL_STACK_BYTES);
    for (int i = 0; i < ps->n_buses && rc == 0; i++) {
        struct poll_bus *b = &ps->buses[i];

        if (b->cfg->type != CFG_BUS_RTU)
            continue;
        if (line_build(b, err, errlen) != 0) {
            rc = -1;
        } else if ((rc = pthread_create(&b->thread, &attr, line_main, b)) != 0) {
            snprintf(err, errlen, "modbus: bus \"%s\": cannot start thread: %s", b->cfg->id, strerror(rc));
            rc = -1;
        } else {
            b->started = true;
        }
    }
    pthread_attr_destroy(&attr);
    return rc;
}

void rtu_stop(struct poll_set *ps)
{
    for (int i = 0; i < ps->n_buses; i++) {
        if (ps->buses[i].started)
            pthread_join(ps->buses[i].thread, NULL);
        if (ps->buses[i].ctx)
            modbus_free(ps->buses[i].ctx);
    }
}
