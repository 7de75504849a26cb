/*
 * sim_link.c - the buses of vigil-sim: TCP listeners and RTU pseudo-terminals.
 *
 * TCP: one listener per bus on its host:port, many clients, each request read
 * with modbus_receive() after modbus_set_socket() (the libmodbus examples'
 * pattern). RTU: a pseudo-terminal per bus with the configured device path
 * symlinked to its slave side. libmodbus 3.1.6's RTU receive drops requests
 * for any unit but the context's own slave id (and then swallows the next
 * frame as that unit's answer), so one context cannot serve several units:
 * RTU requests are framed here, by function code and CRC, and answered with
 * modbus_reply() on a never-connected RTU context whose socket is the master.
 */
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* TCP                                                                      */

static int tcp_open(struct sim_bus *b, char *err, size_t errlen)
{
    char port[16];

    snprintf(port, sizeof(port), "%d", b->cfg->port);
    b->ctx = modbus_new_tcp_pi(b->cfg->host, port);
    if (!b->ctx) {
        snprintf(err, errlen, "bus \"%s\": %s", b->cfg->id, strerror(errno));
        return -1;
    }
    b->listen_fd = modbus_tcp_pi_listen(b->ctx, SIM_MAX_CLIENTS);
    if (b->listen_fd < 0) {
        snprintf(err, errlen, "bus \"%s\": cannot listen on %s:%d: %s", b->cfg->id, b->cfg->host, b->cfg->port,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static void tcp_drop_client(struct sim_bus *b, int i)
{
    /* Its held-back answers must not reach the next client given its fd number. */
    for (int k = 0; k < SIM_MAX_DEFERRED; k++)
        if (b->deferred[k].fd == b->clients[i])
            b->deferred[k].used = false;
    close(b->clients[i]);
    b->clients[i] = b->clients[--b->n_clients];
}

void sim_bus_drop_clients(struct sim_bus *b)
{
    while (b->n_clients > 0)
        tcp_drop_client(b, 0);
}

/* Accepts a client; drops it at once while a device of the bus is in `close` mode. */
static void tcp_accept(struct sim *s, struct sim_bus *b)
{
    int fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0)
        return;
    if (sim_bus_closing(s, b->index) || b->n_clients == SIM_MAX_CLIENTS || fd >= FD_SETSIZE) {
        close(fd);
        return;
    }
    b->clients[b->n_clients++] = fd;
}

/* Reads one request from client i and answers it; a closed client is dropped. */
static void tcp_serve_client(struct sim *s, struct sim_bus *b, int i)
{
    uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
    int rc;

    modbus_set_socket(b->ctx, b->clients[i]);
    rc = modbus_receive(b->ctx, req);
    if (rc < 0) {
        tcp_drop_client(b, i);
        return;
    }
    if (rc > 0)
        sim_answer(s, b, req, rc, b->clients[i]);
}

static void tcp_serve(struct sim *s, struct sim_bus *b, const fd_set *ready)
{
    if (FD_ISSET(b->listen_fd, ready))
        tcp_accept(s, b);
    /* Backwards: a dropped client is replaced by the last one, already seen. */
    for (int i = b->n_clients - 1; i >= 0; i--)
        if (FD_ISSET(b->clients[i], ready))
            tcp_serve_client(s, b, i);
}

/* ------------------------------------------------------------------------ */
/* RTU over a pseudo-terminal                                               */

/* Points the configured device path at the pty, replacing an old symlink only. */
static int rtu_link(struct sim_bus *b, char *err, size_t errlen)
{
    char tmp[CFG_PATH_MAX + 32];
    struct stat st;

    if (lstat(b->cfg->device, &st) == 0 && !S_ISLNK(st.st_mode)) {
        snprintf(err, errlen, "bus \"%s\": %s exists and is not a symlink", b->cfg->id, b->cfg->device);
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", b->cfg->device, (long)getpid());
    unlink(tmp);
    if (symlink(b->pty_name, tmp) != 0 || rename(tmp, b->cfg->device) != 0) {
        snprintf(err, errlen, "bus \"%s\": cannot link %s to %s: %s", b->cfg->id, b->cfg->device, b->pty_name,
                 strerror(errno));
        unlink(tmp);
        return -1;
    }
    b->linked = true;
    return 0;
}

/*
 * Creates the pty. The simulator keeps the slave side open itself, in raw
 * mode: otherwise each time the poller closes the port the master would see
 * a hang-up and select() would spin on it. With wire, answers are held back
 * by their wire time (sim_wire.c).
 */
static int rtu_open(struct sim_bus *b, bool wire, char *err, size_t errlen)
{
    struct termios tio;

    b->master_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (b->master_fd < 0 || grantpt(b->master_fd) != 0 || unlockpt(b->master_fd) != 0 ||
        ptsname_r(b->master_fd, b->pty_name, sizeof(b->pty_name)) != 0) {
        snprintf(err, errlen, "bus \"%s\": cannot create a pseudo-terminal: %s", b->cfg->id, strerror(errno));
        return -1;
    }
    b->slave_fd = open(b->pty_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (b->slave_fd < 0 || tcgetattr(b->slave_fd, &tio) != 0) {
        snprintf(err, errlen, "bus \"%s\": cannot open %s: %s", b->cfg->id, b->pty_name, strerror(errno));
        return -1;
    }
    cfmakeraw(&tio);
    tcsetattr(b->slave_fd, TCSANOW, &tio);
    fcntl(b->master_fd, F_SETFL, fcntl(b->master_fd, F_GETFL) | O_NONBLOCK);
    b->ctx = modbus_new_rtu(b->pty_name, b->cfg->baud, b->cfg->parity, b->cfg->data_bits, b->cfg->stop_bits);
    if (!b->ctx) {
        snprintf(err, errlen, "bus \"%s\": %s", b->cfg->id, strerror(errno));
        return -1;
    }
    if (wire && sim_wire_open(b, err, errlen) != 0)
        return -1;
    return rtu_link(b, err, errlen);
}

static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;

    while (n--) {
        crc ^= *p++;
        for (int i = 0; i < 8; i++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

/* Length of the request frame at the start of buf: 0 needs more bytes, -1 unknown function. */
static int rtu_frame_length(const uint8_t *buf, size_t len)
{
    if (len < 2)
        return 0;
    switch (buf[1]) {
    case 1: case 2: case 3: case 4: case 5: case 6: return 8;
    case 7: case 11: case 12: case 17: return 4;
    case 22: return 10;
    case 15: case 16: return len < 7 ? 0 : 9 + buf[6];
    case 23: return len < 11 ? 0 : 13 + buf[10];
    default: return -1;
    }
}

/* Answers every complete frame in the bus's buffer; resyncs on junk by dropping it. */
static void rtu_frames(struct sim *s, struct sim_bus *b)
{
    for (;;) {
        int n = rtu_frame_length(b->rx, b->rx_len);

        if (n < 0 || n > SIM_RTU_BUF) {
            b->rx_len = 0;
            return;
        }
        if (n == 0 || b->rx_len < (size_t)n)
            return;
        if (crc16(b->rx, (size_t)n - 2) != (uint16_t)(b->rx[n - 2] | b->rx[n - 1] << 8)) {
            b->rx_len = 0;
            return;
        }
        if (b->wire) {
            sim_answer(s, b, b->rx, n, b->capture[1]);
            sim_wire_frame(b, (size_t)n, sim_wire_now_ns());
        } else {
            sim_answer(s, b, b->rx, n, b->master_fd);
        }
        b->rx_len -= (size_t)n;
        memmove(b->rx, b->rx + n, b->rx_len);
    }
}

static void rtu_serve(struct sim *s, struct sim_bus *b, const fd_set *ready)
{
    ssize_t n;

    if (!FD_ISSET(b->master_fd, ready))
        return;
    n = read(b->master_fd, b->rx + b->rx_len, sizeof(b->rx) - b->rx_len);
    if (n <= 0)
        return;
    b->rx_len += (size_t)n;
    rtu_frames(s, b);
}

/* ------------------------------------------------------------------------ */
/* All buses                                                                */

int sim_links_open(struct sim *s, char *err, size_t errlen)
{
    s->buses = calloc((size_t)s->site->n_buses + 1, sizeof(*s->buses));
    if (!s->buses) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < s->site->n_buses; i++) {
        struct sim_bus *b = &s->buses[i];

        b->cfg = &s->site->buses[i];
        b->index = i;
        b->listen_fd = b->master_fd = b->slave_fd = -1;
    }
    for (int i = 0; i < s->site->n_buses; i++) {
        struct sim_bus *b = &s->buses[i];

        if ((b->cfg->type == CFG_BUS_TCP ? tcp_open(b, err, errlen) : rtu_open(b, s->wire_time, err, errlen)) != 0)
            return -1;
    }
    return 0;
}

/* Closes everything and removes the symlinks that still point at our ptys. */
void sim_links_close(struct sim *s)
{
    char target[CFG_PATH_MAX];

    for (int i = 0; s->buses && i < s->site->n_buses; i++) {
        struct sim_bus *b = &s->buses[i];
        ssize_t n;

        sim_bus_drop_clients(b);
        if (b->linked && (n = readlink(b->cfg->device, target, sizeof(target) - 1)) > 0) {
            target[n] = '\0';
            if (strcmp(target, b->pty_name) == 0)
                unlink(b->cfg->device);
        }
        if (b->listen_fd >= 0)
            close(b->listen_fd);
        if (b->slave_fd >= 0)
            close(b->slave_fd);
        if (b->master_fd >= 0)
            close(b->master_fd);
        sim_wire_close(b);
        if (b->ctx)
            modbus_free(b->ctx);
    }
    free(s->buses);
    s->buses = NULL;
}

static int fd_add(fd_set *set, int fd, int maxfd)
{
    if (fd < 0)
        return maxfd;
    FD_SET(fd, set);
    return fd > maxfd ? fd : maxfd;
}

/* Adds every listener, client and pty master to set; returns the highest fd. */
int sim_links_fdset(const struct sim *s, fd_set *set, int maxfd)
{
    for (int i = 0; i < s->site->n_buses; i++) {
        const struct sim_bus *b = &s->buses[i];

        maxfd = fd_add(set, b->listen_fd, maxfd);
        maxfd = fd_add(set, b->master_fd, maxfd);
        for (int c = 0; c < b->n_clients; c++)
            maxfd = fd_add(set, b->clients[c], maxfd);
    }
    return maxfd;
}

void sim_links_serve(struct sim *s, const fd_set *ready)
{
    for (int i = 0; i < s->site->n_buses; i++) {
        if (s->buses[i].cfg->type == CFG_BUS_TCP)
            tcp_serve(s, &s->buses[i], ready);
        else
            rtu_serve(s, &s->buses[i], ready);
        if (s->buses[i].wire)
            sim_wire_flush(&s->buses[i], sim_wire_now_ns());
    }
}

struct timespec *sim_links_timeout(const struct sim *s, struct timespec *ts)
{
    uint64_t now = sim_wire_now_ns();
    int64_t wait = -1;

    for (int i = 0; i < s->site->n_buses; i++) {
        int64_t w = s->buses[i].wire ? sim_wire_wait_ns(&s->buses[i], now) : -1;

        if (w >= 0 && (wait < 0 || w < wait))
            wait = w;
    }
    if (wait < 0)
        return NULL;
    ts->tv_sec = (time_t)(wait / 1000000000);
    ts->tv_nsec = (long)(wait % 1000000000);
    return ts;
}
