/*
 * poll_internal.h - what the poller's files share: the poll set, its buses
 * and devices, and the steps of a poll cycle that do not depend on how the
 * bytes travel. Not part of the public API (that is poller.h); nothing
 * outside poller.c, rtuthread.c and tcploop.c includes it.
 *
 * Two kinds of worker drive the cycles: one thread per RTU line with its
 * libmodbus context (rtuthread.c), and one event-loop thread for every
 * Modbus TCP bus (tcploop.c). A bus and its devices belong to exactly one
 * worker, which alone touches their non-stats fields; stats go through
 * poll_set.stats_lock, outputs through out_lock, pushes through push_lock.
 */
#ifndef VIGIL_POLL_INTERNAL_H
#define VIGIL_POLL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <modbus.h>

#include "config.h"
#include "log.h"
#include "mbtcp.h"
#include "poller.h"
#include "queue.h"

#define POLL_IDLE_SLEEP_MS 100 /* longest sleep of a worker: bounds how late a stop is noticed */
/* A worker thread's stack. glibc gives every thread 8 MiB of address space
 * by default; a worker needs Modbus frames of 260 bytes, a log line and
 * getaddrinfo() (the deepest: name service modules) - well under this, with
 * room for ASan's larger frames. */
#define POLL_STACK_BYTES (512 * 1024)

enum poll_dev_state { DEV_UNKNOWN, DEV_UP, DEV_DOWN };

/* Why a poll failed: the device misbehaved, or the link to the bus is down. */
enum poll_fail_kind { FAIL_DEVICE, FAIL_LINK };

/* One request of a device's plan and where its answer lands. */
struct dev_block {
    struct poll_block req;
    uint16_t *words;           /* registers, or NULL for a bit table */
    uint8_t *bits;             /* bits, or NULL for a register table */
};

struct dev_point {
    int point;                 /* site point index */
    const struct cfg_point *cfg;
    const struct cfg_input *in;
    const uint16_t *word;      /* where its raw value lands after a read */
    const uint8_t *bit;
    double last;               /* last value sent to the core */
};

struct poll_bus;

struct poll_dev {
    int index;                 /* site device index */
    const struct cfg_device *cfg;
    struct poll_bus *bus;
    struct dev_block *blocks;
    int n_blocks;
    uint16_t *words;
    uint8_t *bits;
    struct dev_point *points;
    int n_points;
    enum poll_dev_state state;
    int failures;              /* consecutive failed polls */
    uint64_t last_ok_ms;       /* last good answer, or the start */
    uint64_t next_due_ms;
    int interval_ms;           /* poll_ms, or longer in quarantine */
    struct log_complaint complaint;
    struct log_complaint write_complaint;
    struct mbtcp_answer answer; /* what it answered when the answer did not match */
    struct poll_device_stats stats; /* guarded by poll_set.stats_lock */
};

/* One output poll_write() asked for. */
struct poll_out {
    bool used;
    bool pending;              /* not written since it was asked for or since the device came up */
    int device;                /* site device index */
    int input;                 /* profile input index: a coil or a holding register */
    uint16_t value;
    unsigned gen;              /* moves on every poll_write(): a write of an older value leaves it pending */
};

struct poll_bus {
    struct poll_set *set;
    const struct cfg_bus *cfg;
    char where[CFG_PATH_MAX + 16]; /* "host:port" or the serial device */
    modbus_t *ctx;             /* RTU only */
    int gap_us;                /* RTU: the inter-frame gap (busload.c) */
    struct timespec quiet_at;  /* RTU: the line has been silent for the gap from then on */
    bool connected;
    uint64_t reconnect_at_ms;
    int backoff_ms;
    struct poll_dev **devs;
    int n_devs;
    atomic_uint_fast64_t loops; /* moved by its worker on every turn */
    uint64_t loops_seen;       /* by poll_progress(), on the watchdog's thread */
    pthread_t thread;          /* RTU only */
    bool started;
    struct log_complaint complaint;
};

struct tcploop;

struct poll_set {
    const struct cfg_site *site;
    struct queue *inputs;
    struct poll_bus *buses;
    int n_buses;
    struct poll_dev *devs;     /* indexed like site->devices */
    int n_devs;
    struct poll_dev **dev_refs; /* storage behind every bus's devs */
    struct tcploop *tcp;       /* the TCP buses' event loop, or NULL */
    pthread_mutex_t stats_lock;
    pthread_mutex_t push_lock;
    pthread_mutex_t out_lock;  /* outs */
    struct poll_out outs[POLL_MAX_OUTPUTS];
    atomic_bool stop;
    uint64_t generation;       /* poll_progress(): rounds in which every bus moved */
};

/* Errors and the link (poller.c) */

/* Why d's last request failed (err: errno, libmodbus or MBTCP_E* code), for its log line. */
const char *poll_fail_reason(const struct poll_dev *d, int err, char *buf, size_t len);
/* Thread-safe text for an errno or a libmodbus error code. */
const char *poll_err_text(int err, char *buf, size_t len);
bool poll_is_exception(int err);
/* Errors after which a late or broken reply may still be on the line. */
bool poll_is_protocol_error(int err);
/* Logs a failed connect, and sets the reconnect time after the back-off (which doubles up to 5 s). */
void poll_bus_connect_failed(struct poll_bus *b, int err, uint64_t now);
/* Logs a (re)connected bus and marks it connected. */
void poll_bus_connected(struct poll_bus *b);
/* A link failure: the next connect waits the back-off, which doubles up to 5 s. */
void poll_bus_link_failed(struct poll_bus *b, uint64_t now);

/* Outputs (poller.c) */

/* Copies device's pending outputs into todo (POLL_MAX_OUTPUTS entries); returns how many. */
int poll_outputs_pending(struct poll_set *ps, int device, struct poll_out *todo);
/* A write of o that went through: marks it done and says so. */
void poll_output_written(struct poll_bus *b, struct poll_dev *d, const struct poll_out *o);
/* A write of o that failed with err: logged (rate-limited); it stays pending. */
void poll_output_failed(struct poll_bus *b, struct poll_dev *d, const struct poll_out *o, int err);
/* The profile input an output writes. */
const struct cfg_input *poll_output_input(const struct poll_set *ps, const struct poll_out *o);

/* A poll cycle's end (poller.c) */

/* Counts a finished cycle of `requests` requests from start to end. */
void poll_dev_count(struct poll_set *ps, struct poll_dev *d, uint64_t requests, bool ok, uint64_t start,
                    uint64_t end);
/* A good answer: comm up if it was not, then the points that changed. */
void poll_dev_answered(struct poll_bus *b, struct poll_dev *d, uint64_t now);
/* A failed poll (err 0: nothing to log, e.g. skipped because the link is down). */
void poll_dev_failed(struct poll_bus *b, struct poll_dev *d, enum poll_fail_kind kind, int err, uint64_t now);
/* Moves d's due time on by one interval, skipping the slots already missed. */
void poll_dev_schedule(struct poll_dev *d, uint64_t now);
/* The device of b whose poll is due first (b has devices). */
struct poll_dev *poll_bus_next_device(const struct poll_bus *b);

/* Workers */

/* Starts one thread per RTU bus; 0, or -1 with err (the started ones stay for rtu_stop()). */
int rtu_start(struct poll_set *ps, char *err, size_t errlen);
/* Joins the RTU threads (ps->stop set) and frees their contexts. */
void rtu_stop(struct poll_set *ps);
/* Starts the event loop for every TCP bus (none: nothing); 0, or -1 with err. */
int tcploop_start(struct poll_set *ps, char *err, size_t errlen);
/* Joins the loop (ps->stop set) and frees it; NULL loop is a no-op. */
void tcploop_stop(struct poll_set *ps);

#endif
