/*
 * sim.h - vigil-sim internals: simulated Modbus devices of a site.
 *
 * sim.c runs the single-threaded select loop and the control commands;
 * sim_model.c holds the devices (register maps, fault modes) and answers
 * requests; sim_link.c owns the sockets and pseudo-terminals of the buses;
 * sim_wire.c holds RTU answers back by their wire time (--wire-time).
 */
#ifndef VIGIL_SIM_H
#define VIGIL_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/select.h>
#include <time.h>

#include <modbus.h>

#include "config.h"

#define SIM_MAX_CLIENTS 32    /* TCP connections per bus */
#define SIM_RTU_BUF 512       /* bytes of unframed RTU input kept per bus */
#define SIM_SLOW_MS 250       /* how late a device in `slow` mode answers */
#define SIM_MAX_DEFERRED 16   /* answers a bus can hold back at once */

/* How a device answers: the fault modes of `fail DEVICE MODE`. */
enum sim_mode {
    SIM_OK,        /* normal answers from the register map */
    SIM_TIMEOUT,   /* reads the request, never answers */
    SIM_EXCEPTION, /* exception 4, slave device failure */
    SIM_GARBAGE,   /* bytes that are not a valid response */
    SIM_CLOSE,     /* TCP: the bus drops every connection; RTU: like timeout */
    SIM_WRONG_UNIT, /* a valid answer, but as unit id + 1 (a gateway routing to the wrong slave) */
    SIM_WRONG_FUNC, /* a read answered as the other table of its kind (FC1<->2, FC3<->4) */
    SIM_SLOW,      /* normal answers, SIM_SLOW_MS late; the other buses are served meanwhile */
};

/* A request a `slow` device answers later, on the connection it came on. */
struct sim_deferred {
    bool used;
    int fd;
    uint64_t due_ms;
    int len;
    uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
};

struct sim_dev {
    const struct cfg_device *cfg;
    modbus_mapping_t *map;
    enum sim_mode mode;
    uint64_t requests;        /* requests received for this unit */
};

struct sim_bus {
    const struct cfg_bus *cfg;
    int index;
    modbus_t *ctx;            /* TCP: the listener's context; RTU: never connected */
    /* TCP */
    int listen_fd;
    int clients[SIM_MAX_CLIENTS];
    int n_clients;
    /* RTU */
    int master_fd, slave_fd;
    char pty_name[CFG_PATH_MAX];
    bool linked;              /* cfg->device is our symlink to pty_name */
    uint8_t rx[SIM_RTU_BUF];
    size_t rx_len;
    /* RTU with --wire-time (sim_wire.c) */
    bool wire;
    int capture[2];           /* sim_answer() writes the answer here, the line reads it back */
    uint8_t tx[SIM_RTU_BUF];  /* answer bytes held until their last character would arrive */
    size_t tx_len;
    uint64_t tx_due_ns;       /* CLOCK_MONOTONIC */
    uint64_t line_free_ns;    /* the line is silent, gap included, from then on */
    uint64_t last_end_ns;     /* when the line's last frame ended */
    uint64_t frames;          /* requests framed */
    uint64_t early;           /* of which began before the line had been silent for the gap */
    uint64_t shortest_gap_ns; /* the shortest silence before a request */
    struct sim_deferred deferred[SIM_MAX_DEFERRED];
};

struct sim {
    struct cfg_site *site;
    struct sim_dev *devs;     /* indexed like site->devices */
    struct sim_bus *buses;    /* indexed like site->buses */
    bool wire_time;           /* --wire-time: RTU answers take their time on the line */
};

/* sim_model.c */
int sim_devices_init(struct sim *s, char *err, size_t errlen);
void sim_devices_free(struct sim *s);
struct sim_dev *sim_find_unit(struct sim *s, int bus, int unit);
bool sim_bus_closing(const struct sim *s, int bus);
int sim_set_point(struct sim *s, int point, double value, char *err, size_t errlen);
int sim_parse_mode(const char *name, enum sim_mode *mode);
/* Reads the raw value at a 0-based address of a table of the device's map
 * (what the poller's writes changed); -1 with err if out of the map. */
int sim_get(const struct sim *s, int device, enum cfg_table table, int address, unsigned *value, char *err,
            size_t errlen);
void sim_answer(struct sim *s, struct sim_bus *b, const uint8_t *req, int len, int fd);
/* Sends the held-back answers that are due by now_ms. */
void sim_answer_due(struct sim *s, uint64_t now_ms);
/* Milliseconds until the next held-back answer is due, or -1 if none is held. */
long sim_next_answer_ms(const struct sim *s, uint64_t now_ms);

/* sim_link.c */
int sim_links_open(struct sim *s, char *err, size_t errlen);
void sim_links_close(struct sim *s);
int sim_links_fdset(const struct sim *s, fd_set *set, int maxfd);
void sim_links_serve(struct sim *s, const fd_set *ready);
void sim_bus_drop_clients(struct sim_bus *b);
/* The time until a held RTU answer is due, or NULL if none is held. */
struct timespec *sim_links_timeout(const struct sim *s, struct timespec *ts);

/* sim_wire.c */
uint64_t sim_wire_now_ns(void);
int sim_wire_open(struct sim_bus *b, char *err, size_t errlen);
void sim_wire_close(struct sim_bus *b);
void sim_wire_frame(struct sim_bus *b, size_t req_bytes, uint64_t now_ns);
void sim_wire_flush(struct sim_bus *b, uint64_t now_ns);
int64_t sim_wire_wait_ns(const struct sim_bus *b, uint64_t now_ns);

#endif
