/*
 * poller.h - Modbus polling: workers feeding the core's input queue.
 *
 * poll_start() builds, for every device of the site, a read plan (the fewest
 * Modbus requests that cover the inputs its points use) and starts the
 * workers: one event-loop thread for every Modbus TCP bus, and one thread per
 * RTU line with its own libmodbus context. A worker polls each bus's devices
 * in order of due time, decodes the answers into engineering values and pushes
 * CORE_IN_SAMPLE (only on change, and for every point when a device comes up)
 * and CORE_IN_COMM (device up / down) into the caller's queue. Pushes block
 * when the queue is full: an input is never dropped.
 *
 * Faults: a device is down after fail_count consecutive failed polls or
 * fail_ms without a good answer; a down device on a shared bus is probed with
 * a growing interval (quarantine) so a dead slave cannot starve the others.
 * docs/modbus.md describes the read plan, recovery and quarantine.
 *
 * Ownership: the site and the queue must outlive the poll set; poll_stop()
 * joins the threads and frees everything poll_start() allocated.
 */
#ifndef VIGIL_POLLER_H
#define VIGIL_POLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "queue.h"

#define POLL_MAX_REGS 125   /* registers per FC3/FC4 request */
#define POLL_MAX_BITS 2000  /* bits per FC1/FC2 request */
#define POLL_GAP_REGS 16    /* unused registers a request may read across */
#define POLL_GAP_BITS 64    /* unused bits a request may read across */
#define POLL_MAX_OUTPUTS 16 /* outputs poll_write() can hold for the whole poll set */

/* One Modbus read request of a device's plan. */
struct poll_block {
    enum cfg_table table;
    int address;                 /* first 0-based PDU address */
    int count;                   /* registers or bits */
};

struct poll_set;

/*
 * Starts one thread per bus of the site. Each thread pushes CORE_IN_SAMPLE and
 * CORE_IN_COMM inputs (the core thread stamps them when it feeds them) into
 * `inputs` (items are struct core_input; blocking push). Returns NULL and an
 * explanation in err on failure (nothing is left running).
 */
struct poll_set *poll_start(const struct cfg_site *site, struct queue *inputs, char *err, size_t errlen);

/*
 * Stops and joins every worker thread and frees the set (NULL is a no-op).
 * Threads notice the stop within ~100 ms when idle, or when their current
 * request ends (at most the device's timeout_ms). A thread blocked on a full
 * queue only returns once the queue drains or is closed: close the queue
 * first if its consumer has already stopped.
 */
void poll_stop(struct poll_set *ps);

/*
 * Asks the worker of site device `device` to write value to profile
 * input `input` of the device: a coil (FC5, any non-zero value is 1) or a
 * holding register (FC6). Thread-safe and non-blocking: the request lands in
 * a small table of desired outputs that the worker writes before the
 * device's next poll, retries on later polls while the write fails, and
 * writes again whenever the device comes back up (a relay module that
 * rebooted has lost its outputs). A later call for the same output replaces
 * the value. Returns 0, or -1 if device or input is out of range, the input
 * is not a coil or holding register, or POLL_MAX_OUTPUTS other outputs are
 * already held.
 */
int poll_write(struct poll_set *ps, int device, int input, uint16_t value);

struct poll_device_stats {
    bool up;                     /* last poll answered and comm is up */
    uint64_t polls;              /* poll cycles attempted */
    uint64_t requests;           /* Modbus requests sent */
    uint64_t failures;           /* failed poll cycles */
    uint32_t last_rtt_ms;        /* duration of the last good poll cycle */
    uint64_t last_ok_mono_ms;    /* clock_mono_ms() of the last good cycle; 0 never */
};

/* Copies the counters of site device `device` into out. Thread-safe. */
void poll_get_stats(struct poll_set *ps, int device, struct poll_device_stats *out);

/*
 * Progress for the watchdog: a counter that moves only when every bus
 * thread has cycled since the previous call, so it stops as soon as any one
 * of them hangs. Call it from one thread only.
 */
uint64_t poll_progress(struct poll_set *ps);

/*
 * Builds the read plan of site device `device`: the used inputs grouped by
 * table, sorted by address and merged into the fewest requests, reading
 * across gaps of at most POLL_GAP_REGS/POLL_GAP_BITS unused addresses and
 * never exceeding POLL_MAX_REGS/POLL_MAX_BITS per request. A device no point
 * uses is planned on its first profile input so its link is still watched.
 * Writes at most cap blocks into out and returns the number of blocks the
 * plan needs (so a call with cap 0 sizes the array), or -1 on OOM. Pure.
 */
int poll_plan(const struct cfg_site *site, int device, struct poll_block *out, int cap);

#endif
