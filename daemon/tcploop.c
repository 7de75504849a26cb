/*
 * tcploop.c - every Modbus TCP bus polled from one event-loop thread (see
 * poll_internal.h; docs/modbus.md).
 *
 * A thread per bus, blocked in libmodbus, woke twice per poll (the due time,
 * then the answer), and at a few hundred polls a second most of vigild's CPU
 * was the kernel switching between those threads. Here one thread owns a
 * non-blocking socket per TCP bus and one epoll set: each turn it starts the
 * cycle of every device that is due (devices with one poll_ms fall due in
 * the same millisecond, so one wake-up sends all their requests), then
 * sleeps until the nearest deadline or an answer, and takes each answer as
 * it comes. The ADUs are framed and checked by mbtcp.c.
 *
 * A bus (one TCP connection: a device, or a gateway with several unit ids
 * behind it) carries one request at a time, as with libmodbus: a serial
 * gateway could not overlap two anyway. Its devices take turns by due time.
 * A cycle is the device's pending outputs (FC5/FC6), then its plan's reads;
 * each request waits at most the device's timeout_ms for its whole answer.
 * So a device that answers slowly holds up only its own connection, never
 * the others': "a misbehaving device never stalls others".
 *
 * Failures, as in rtuthread.c: an exception means the device answered; a
 * timeout or an answer that does not check (bad data, wrong transaction,
 * unit or function) means a late or broken reply may still come, so the
 * connection is closed and reopened at once (the late reply would desync
 * every later answer); anything else (refused, reset, closed) is a link
 * failure: close, and reconnect after the bus's back-off. While the link is
 * down, every device that comes due counts a failure without I/O, so it
 * still goes down on time. A connection the device closes between polls is
 * reopened by the next poll without counting a failure.
 *
 * The name is resolved (getaddrinfo) at each connect, as libmodbus did; a
 * host name rather than an address makes that a blocking call that holds
 * up every TCP bus while the resolver works (docs/config.md says so).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "poll_internal.h"

#define MAX_EVENTS 64

enum conn_state {
    CONN_IDLE,                 /* no cycle running (the socket, if open, is quiet) */
    CONN_CONNECTING,           /* non-blocking connect under way for dev's cycle */
    CONN_WAITING,              /* a request of dev's cycle is out; its answer is due by deadline_ms */
};

/* One TCP bus: its socket and the cycle running on it. */
struct conn {
    struct poll_bus *bus;
    int fd;                    /* -1: closed */
    enum conn_state state;
    struct poll_dev *dev;      /* whose cycle runs; NULL when idle */
    struct poll_out todo[POLL_MAX_OUTPUTS]; /* the cycle's outputs, written first */
    int n_todo;
    int step;                  /* next request: todo[0..n_todo), then dev->blocks */
    bool write_failed;         /* the cycle fails on a write: logged already */
    uint64_t start_ms;
    uint64_t requests;
    uint64_t deadline_ms;
    uint16_t tid;
    unsigned addr_pick;        /* which of the host's addresses to connect to */
    struct mbtcp_req req;      /* the request out */
    uint8_t rx[MBTCP_MAX_ADU];
    size_t rx_len;
};

struct tcploop {
    struct poll_set *set;
    struct conn *conns;
    int n_conns;
    int epfd;
    pthread_t thread;
    bool started;
};

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
}

/* ------------------------------------------------------------------------ */
/* A cycle's end                                                            */

static uint64_t conn_maybe_start(struct tcploop *tl, struct conn *c, uint64_t now);

/* Recovers the connection after a failed request and says whose fault it was. */
static enum poll_fail_kind conn_recover(struct conn *c, int err, uint64_t now)
{
    if (poll_is_exception(err))
        return FAIL_DEVICE;
    conn_close(c);
    if (poll_is_protocol_error(err)) {
        c->bus->reconnect_at_ms = now;
        return FAIL_DEVICE;
    }
    poll_bus_link_failed(c->bus, now);
    return FAIL_LINK;
}

/* Ends dev's cycle (err 0: every request answered) and starts the next due one. */
static void cycle_end(struct tcploop *tl, struct conn *c, int err)
{
    struct poll_bus *b = c->bus;
    struct poll_dev *d = c->dev;
    uint64_t end = clock_mono_ms();

    poll_dev_count(b->set, d, c->requests, err == 0, c->start_ms, end);
    if (err == 0)
        poll_dev_answered(b, d, end);
    else /* a failed write was logged already: no second line calling it a read */
        poll_dev_failed(b, d, conn_recover(c, err, end), c->write_failed ? 0 : err, end);
    poll_dev_schedule(d, end);
    c->dev = NULL;
    c->state = CONN_IDLE;
    conn_maybe_start(tl, c, end);
}

/* A cycle that cannot reach the device: the link is down or the connect failed. */
static void cycle_link_down(struct conn *c, uint64_t now)
{
    struct poll_dev *d = c->dev;

    conn_close(c);
    poll_dev_count(c->bus->set, d, 0, false, c->start_ms, now);
    poll_dev_failed(c->bus, d, FAIL_LINK, 0, now);
    poll_dev_schedule(d, now);
    c->dev = NULL;
    c->state = CONN_IDLE;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

/* The cycle's next request into c->req; false when none is left. */
static bool next_request(struct conn *c)
{
    const struct poll_dev *d = c->dev;

    if (c->step < c->n_todo) {
        const struct cfg_input *in = poll_output_input(c->bus->set, &c->todo[c->step]);

        c->req = mbtcp_write(d->cfg->unit, in->table, in->address, c->todo[c->step].value);
    } else if (c->step - c->n_todo < d->n_blocks) {
        const struct poll_block *blk = &d->blocks[c->step - c->n_todo].req;

        c->req = mbtcp_read(d->cfg->unit, blk->table, blk->address, blk->count);
    } else {
        return false;
    }
    c->req.tid = ++c->tid;
    return true;
}

/*
 * Sends the cycle's next request, or ends the cycle when all are answered.
 * A request is 12 bytes on a socket with nothing else unsent (one request
 * at a time), so a send that does not take it whole means the link is gone.
 */
static void send_next(struct tcploop *tl, struct conn *c, uint64_t now)
{
    uint8_t adu[MBTCP_REQ_LEN];
    int len;
    ssize_t n;

    if (!next_request(c)) {
        cycle_end(tl, c, 0);
        return;
    }
    len = mbtcp_encode(&c->req, adu);
    n = send(c->fd, adu, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != len) {
        cycle_end(tl, c, n < 0 && errno != EAGAIN ? errno : EIO);
        return;
    }
    c->requests++;
    c->rx_len = 0;
    c->deadline_ms = now + (uint64_t)c->dev->cfg->timeout_ms;
    c->state = CONN_WAITING;
}

/* What a checked answer (err) means for the cycle: on to the next request, or its end. */
static void answered(struct tcploop *tl, struct conn *c, int err, uint64_t now)
{
    bool writing = c->step < c->n_todo;

    if (writing && err == 0)
        poll_output_written(c->bus, c->dev, &c->todo[c->step]);
    else if (writing)
        poll_output_failed(c->bus, c->dev, &c->todo[c->step], err);
    /* A write refused with an exception is retried on the next poll; the reads go on. */
    if (err != 0 && !(writing && poll_is_exception(err))) {
        c->write_failed = writing;
        cycle_end(tl, c, err);
        return;
    }
    c->step++;
    send_next(tl, c, now);
}

/* Decodes the answer in rx into the block it belongs to (writes carry no data). */
static int decode(struct conn *c, size_t len)
{
    struct poll_dev *d = c->dev;
    const struct dev_block *blk = c->step >= c->n_todo ? &d->blocks[c->step - c->n_todo] : NULL;

    return mbtcp_decode(&c->req, c->rx, len, blk ? blk->words : NULL, blk ? blk->bits : NULL, &d->answer);
}

/*
 * Reads what the socket holds into rx and, once a whole ADU is in, checks
 * it. Bytes beyond the one answer expected are bad data: nothing else was
 * asked.
 */
static void on_readable(struct tcploop *tl, struct conn *c, uint64_t now)
{
    ssize_t n = recv(c->fd, c->rx + c->rx_len, sizeof(c->rx) - c->rx_len, MSG_DONTWAIT);
    int frame;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        cycle_end(tl, c, n == 0 ? ECONNRESET : errno);
        return;
    }
    c->rx_len += (size_t)n;
    frame = mbtcp_frame_len(c->rx, c->rx_len);
    if (frame < 0 || (frame > 0 && (size_t)frame < c->rx_len)) {
        cycle_end(tl, c, EMBBADDATA);
        return;
    }
    if (frame == 0 || (size_t)frame > c->rx_len)
        return; /* a short read: the rest is on its way */
    answered(tl, c, decode(c, (size_t)frame), now);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */

/* Entry `pick` (modulo their number) of the addresses in list. */
static const struct addrinfo *addr_pick(const struct addrinfo *list, unsigned pick)
{
    unsigned n = 0;

    for (const struct addrinfo *a = list; a; a = a->ai_next)
        n++;
    for (pick %= n; pick > 0; pick--)
        list = list->ai_next;
    return list;
}

/*
 * A non-blocking socket to the bus, connecting; -1 with errno on failure.
 * A host name with several addresses (localhost: ::1 and 127.0.0.1) is
 * tried one address per connect, `pick` moving on after each failure.
 */
static int open_socket(const struct cfg_bus *cfg, unsigned pick)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo *list;
    const struct addrinfo *ai;
    char port[16];
    int fd, one = 1, rc;

    snprintf(port, sizeof(port), "%d", cfg->port);
    if ((rc = getaddrinfo(cfg->host, port, &hints, &list)) != 0) {
        errno = rc == EAI_SYSTEM ? errno : EHOSTUNREACH;
        return -1;
    }
    ai = addr_pick(list, pick);
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd >= 0) {
        /* Requests are 12 bytes: Nagle would hold each for the previous answer's ACK. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            int e = errno;

            close(fd);
            errno = e;
            fd = -1;
        }
    }
    freeaddrinfo(list);
    return fd;
}

static void connect_failed(struct conn *c, int err, uint64_t now)
{
    c->addr_pick++;
    poll_bus_connect_failed(c->bus, err, now);
    cycle_link_down(c, now);
}

/* The connect finished (or failed): on to the cycle's first request. */
static void on_connected(struct tcploop *tl, struct conn *c, uint64_t now)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        connect_failed(c, err, now);
        return;
    }
    epoll_ctl(tl->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    poll_bus_connected(c->bus);
    send_next(tl, c, now);
}

/* Opens the connection for dev's cycle; the connect ends in on_connected(). */
static void conn_open(struct tcploop *tl, struct conn *c, uint64_t now)
{
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };

    c->fd = open_socket(c->bus->cfg, c->addr_pick);
    if (c->fd < 0 || epoll_ctl(tl->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        connect_failed(c, errno, now);
        return;
    }
    c->state = CONN_CONNECTING;
    /* libmodbus bounded a connect by the response timeout; so does this. */
    c->deadline_ms = now + (uint64_t)c->dev->cfg->timeout_ms;
}

/* Starts the cycle of d: connect first if needed, or count it failed while the link waits out its back-off. */
static void cycle_start(struct tcploop *tl, struct conn *c, struct poll_dev *d, uint64_t now)
{
    c->dev = d;
    c->start_ms = now;
    c->requests = 0;
    c->step = 0;
    c->write_failed = false;
    c->n_todo = poll_outputs_pending(c->bus->set, d->index, c->todo);
    if (c->fd >= 0) {
        send_next(tl, c, now);
        return;
    }
    if (now < c->bus->reconnect_at_ms) {
        cycle_link_down(c, now);
        return;
    }
    conn_open(tl, c, now);
}

/*
 * Starts the cycle of the bus's first device if it is due and nothing runs.
 * Returns when the connection next needs the loop: the running cycle's
 * deadline, or the next device's due time.
 */
static uint64_t conn_maybe_start(struct tcploop *tl, struct conn *c, uint64_t now)
{
    /* A cycle that ends on the link loops here for the next due device at once. */
    while (!c->dev && c->bus->n_devs > 0) {
        struct poll_dev *d = poll_bus_next_device(c->bus);

        if (d->next_due_ms > now)
            return d->next_due_ms;
        cycle_start(tl, c, d, now);
    }
    return c->dev ? c->deadline_ms : UINT64_MAX;
}

/* Bytes while no request is out: the device closed the connection, or sent what nobody asked. */
static void on_idle_readable(struct conn *c, uint64_t now)
{
    uint8_t junk[64];
    ssize_t n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    conn_close(c);
    c->bus->reconnect_at_ms = now;
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                 */

static void on_event(struct tcploop *tl, struct conn *c, uint32_t events, uint64_t now)
{
    if (c->fd < 0)
        return; /* closed by an earlier event of this turn */
    if (c->state == CONN_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        on_connected(tl, c, now);
    else if (c->state == CONN_WAITING)
        on_readable(tl, c, now);
    else if (c->state == CONN_IDLE)
        on_idle_readable(c, now);
}

/* Ends requests and connects whose deadline passed. */
static void expire(struct tcploop *tl, struct conn *c, uint64_t now)
{
    if (c->state == CONN_CONNECTING && now >= c->deadline_ms)
        connect_failed(c, ETIMEDOUT, now);
    else if (c->state == CONN_WAITING && now >= c->deadline_ms)
        cycle_end(tl, c, ETIMEDOUT);
}

/* One turn: expire, start what is due, sleep until the nearest deadline or an event, handle the events. */
static void loop_turn(struct tcploop *tl)
{
    struct epoll_event ev[MAX_EVENTS];
    uint64_t now = clock_mono_ms(), wake = now + POLL_IDLE_SLEEP_MS;
    int n;

    for (int i = 0; i < tl->n_conns; i++) {
        struct conn *c = &tl->conns[i];
        uint64_t at;

        atomic_fetch_add(&c->bus->loops, 1);
        expire(tl, c, now);
        at = conn_maybe_start(tl, c, now);
        if (at < wake)
            wake = at;
    }
    n = epoll_wait(tl->epfd, ev, MAX_EVENTS, wake > now ? (int)(wake - now) : 0);
    now = clock_mono_ms();
    for (int i = 0; i < n; i++)
        on_event(tl, ev[i].data.ptr, ev[i].events, now);
}

static void *loop_main(void *arg)
{
    struct tcploop *tl = arg;

    while (!atomic_load(&tl->set->stop))
        loop_turn(tl);
    for (int i = 0; i < tl->n_conns; i++)
        conn_close(&tl->conns[i]);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Start and stop                                                           */

/* The loop for the set's TCP buses (at least one), not yet running. */
static struct tcploop *loop_build(struct poll_set *ps, int n_tcp)
{
    struct tcploop *tl = calloc(1, sizeof(*tl));

    if (!tl)
        return NULL;
    tl->set = ps;
    tl->epfd = epoll_create1(EPOLL_CLOEXEC);
    tl->conns = calloc((size_t)n_tcp, sizeof(*tl->conns));
    if (tl->epfd < 0 || !tl->conns) {
        if (tl->epfd >= 0)
            close(tl->epfd);
        free(tl->conns);
        free(tl);
        return NULL;
    }
    for (int i = 0; i < ps->n_buses; i++) {
        if (ps->buses[i].cfg->type != CFG_BUS_TCP)
            continue;
        tl->conns[tl->n_conns].bus = &ps->buses[i];
        tl->conns[tl->n_conns++].fd = -1;
    }
    return tl;
}

int tcploop_start(struct poll_set *ps, char *err, size_t errlen)
{
    pthread_attr_t attr;
    int n_tcp = 0, rc;

    for (int i = 0; i < ps->n_buses; i++)
        n_tcp += ps->buses[i].cfg->type == CFG_BUS_TCP;
    if (n_tcp == 0)
        return 0;
    ps->tcp = loop_build(ps, n_tcp);
    if (!ps->tcp) {
        snprintf(err, errlen, "modbus: cannot set up the TCP event loop: %s", strerror(errno));
        return -1;
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, POLL_STACK_BYTES);
    rc = pthread_create(&ps->tcp->thread, &attr, loop_main, ps->tcp);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "modbus: cannot start the TCP event loop: %s", strerror(rc));
        return -1;
    }
    ps->tcp->started = true;
    return 0;
}

void tcploop_stop(struct poll_set *ps)
{
    struct tcploop *tl = ps->tcp;

    if (!tl)
        return;
    if (tl->started)
        pthread_join(tl->thread, NULL);
    close(tl->epfd);
    free(tl->conns);
    free(tl);
    ps->tcp = NULL;
}
