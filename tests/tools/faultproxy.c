/*
 * faultproxy.c - a TCP proxy for the fault tests: it sits between vigild and
 * the site simulator and breaks the link on command, in ways a real network
 * or a half-dead Modbus gateway does and the simulator cannot.
 *
 *   faultproxy --listen PORT --to PORT [--control FIFO]
 *
 * Both ends are on 127.0.0.1. Commands come one per line on stdin, or on
 * the FIFO given with --control (opened read-write so it never sees EOF);
 * each is answered "ok" (or "error ...") on stdout:
 *
 *   pass       forward both ways (the start mode)
 *   drop       blackhole: requests are read and thrown away, nothing answers
 *   delay MS   hold every reply for MS milliseconds before forwarding it
 *   stall      forward only the first 3 bytes of each reply: a frame that
 *              stops in the middle
 *   cut        close every connection and every new one at once
 *   quit       exit
 *
 * "ready" is printed once the listener is up. One thread, one select loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 16
#define MAX_HELD 16          /* replies held back per connection in delay mode */
#define CHUNK_MAX 512        /* a Modbus TCP frame is at most 260 bytes */
#define STALL_BYTES 3
#define LINE_MAX_LEN 128

enum mode { MODE_PASS, MODE_DROP, MODE_DELAY, MODE_STALL, MODE_CUT };

struct held {
    uint64_t due_ms;
    size_t len;
    unsigned char data[CHUNK_MAX];
};

/* One client connection and its connection to the server. */
struct pair {
    int client, server;      /* -1 when the slot is free */
    struct held held[MAX_HELD];
    size_t n_held;
};

struct proxy {
    int listen_fd, control_fd;
    uint16_t to_port;
    enum mode mode;
    int delay_ms;
    struct pair pairs[MAX_PAIRS];
    char line[LINE_MAX_LEN];
    size_t line_len;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void answer(const char *s)
{
    printf("%s\n", s);
    fflush(stdout);
}

static void pair_close(struct pair *p)
{
    if (p->client >= 0)
        close(p->client);
    if (p->server >= 0)
        close(p->server);
    *p = (struct pair){.client = -1, .server = -1};
}

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* Accepts a client and connects it to the server; in cut mode closes it at once. */
static void accept_client(struct proxy *x)
{
    struct sockaddr_in to = loopback(x->to_port);
    int c = accept(x->listen_fd, NULL, NULL), s;

    if (c < 0)
        return;
    if (x->mode == MODE_CUT) {
        close(c);
        return;
    }
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&to, sizeof(to)) < 0) {
        close(c);
        if (s >= 0)
            close(s);
        return;
    }
    for (int i = 0; i < MAX_PAIRS; i++)
        if (x->pairs[i].client < 0) {
            x->pairs[i] = (struct pair){.client = c, .server = s};
            return;
        }
    close(c);
    close(s);
}

/* Client -> server: forwarded, except in drop mode where requests vanish. */
static bool from_client(struct proxy *x, struct pair *p)
{
    unsigned char buf[CHUNK_MAX];
    ssize_t n = read(p->client, buf, sizeof(buf));

    if (n <= 0)
        return false;
    if (x->mode == MODE_DROP)
        return true;
    return write(p->server, buf, (size_t)n) == n;
}

/* Server -> client: forwarded, held back, or cut short by the mode. */
static bool from_server(struct proxy *x, struct pair *p)
{
    struct held *h = &p->held[p->n_held];
    ssize_t n = read(p->server, h->data, sizeof(h->data));

    if (n <= 0)
        return false;
    switch (x->mode) {
    case MODE_DELAY:
        h->len = (size_t)n;
        h->due_ms = now_ms() + (uint64_t)x->delay_ms;
        p->n_held++;
        return true;
    case MODE_STALL:
        return write(p->client, h->data, n < STALL_BYTES ? (size_t)n : STALL_BYTES) >= 0;
    case MODE_DROP:
        return true;
    default:
        return write(p->client, h->data, (size_t)n) == n;
    }
}

/* Forwards held replies that are due; returns ms until the next one (or -1). */
static int release_held(struct pair *p, uint64_t now)
{
    size_t done = 0;

    while (done < p->n_held && p->held[done].due_ms <= now) {
        if (write(p->client, p->held[done].data, p->held[done].len) < 0)
            break;
        done++;
    }
    memmove(p->held, p->held + done, (p->n_held - done) * sizeof(p->held[0]));
    p->n_held -= done;
    return p->n_held ? (int)(p->held[0].due_ms - now) : -1;
}

/* Runs one control line; false for quit. */
static bool control_line(struct proxy *x, const char *line)
{
    int ms;

    if (strcmp(line, "quit") == 0) {
        answer("ok");
        return false;
    }
    if (strcmp(line, "pass") == 0)
        x->mode = MODE_PASS;
    else if (strcmp(line, "drop") == 0)
        x->mode = MODE_DROP;
    else if (strcmp(line, "stall") == 0)
        x->mode = MODE_STALL;
    else if (sscanf(line, "delay %d", &ms) == 1 && ms >= 0) {
        x->mode = MODE_DELAY;
        x->delay_ms = ms;
    } else if (strcmp(line, "cut") == 0) {
        x->mode = MODE_CUT;
        for (int i = 0; i < MAX_PAIRS; i++)
            pair_close(&x->pairs[i]);
    } else {
        answer("error expected: pass | drop | delay MS | stall | cut | quit");
        return true;
    }
    answer("ok");
    return true;
}

/* Reads what the control input has and runs each complete line; false for quit or EOF. */
static bool control_read(struct proxy *x)
{
    char c;
    ssize_t n;

    while ((n = read(x->control_fd, &c, 1)) == 1) {
        if (c != '\n') {
            if (x->line_len + 1 < sizeof(x->line))
                x->line[x->line_len++] = c;
            continue;
        }
        x->line[x->line_len] = '\0';
        x->line_len = 0;
        if (!control_line(x, x->line))
            return false;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Adds the fds select() watches; a connection with a full hold queue is not read. */
static int fill_fdset(struct proxy *x, fd_set *rd)
{
    int maxfd = x->listen_fd > x->control_fd ? x->listen_fd : x->control_fd;

    FD_ZERO(rd);
    FD_SET(x->listen_fd, rd);
    FD_SET(x->control_fd, rd);
    for (int i = 0; i < MAX_PAIRS; i++) {
        struct pair *p = &x->pairs[i];
        if (p->client < 0)
            continue;
        FD_SET(p->client, rd);
        if (p->n_held < MAX_HELD)
            FD_SET(p->server, rd);
        maxfd = p->client > maxfd ? p->client : maxfd;
        maxfd = p->server > maxfd ? p->server : maxfd;
    }
    return maxfd;
}

static void serve(struct proxy *x)
{
    for (;;) {
        fd_set rd;
        int maxfd = fill_fdset(x, &rd), wait_ms = 200;
        struct timeval tv;

        for (int i = 0; i < MAX_PAIRS; i++) {
            int due = x->pairs[i].client >= 0 ? release_held(&x->pairs[i], now_ms()) : -1;
            if (due >= 0 && due < wait_ms)
                wait_ms = due;
        }
        tv = (struct timeval){.tv_sec = wait_ms / 1000, .tv_usec = (wait_ms % 1000) * 1000};
        if (select(maxfd + 1, &rd, NULL, NULL, &tv) < 0 && errno != EINTR)
            return;
        if (stop_signal)
            return;
        if (FD_ISSET(x->control_fd, &rd) && !control_read(x))
            return;
        if (FD_ISSET(x->listen_fd, &rd))
            accept_client(x);
        for (int i = 0; i < MAX_PAIRS; i++) {
            struct pair *p = &x->pairs[i];
            if (p->client >= 0 && FD_ISSET(p->client, &rd) && !from_client(x, p))
                pair_close(p);
            if (p->client >= 0 && FD_ISSET(p->server, &rd) && !from_server(x, p))
                pair_close(p);
        }
    }
}

static int listen_on(uint16_t port)
{
    struct sockaddr_in a = loopback(port);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Parses the options; returns 0, or -1 after printing the usage. */
static int parse_args(int argc, char **argv, long *listen_port, long *to_port, const char **control)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0)
            *listen_port = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--to") == 0)
            *to_port = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--control") == 0)
            *control = argv[i + 1];
        else
            break;
    }
    if (argc % 2 == 0 || *listen_port <= 0 || *listen_port > 65535 || *to_port <= 0 || *to_port > 65535) {
        fprintf(stderr, "usage: faultproxy --listen PORT --to PORT [--control FIFO]\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct proxy x;
    const char *control = NULL;
    long listen_port = 0, to_port = 0;
    struct sigaction sa = {.sa_handler = on_signal};

    if (parse_args(argc, argv, &listen_port, &to_port, &control) < 0)
        return 2;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < MAX_PAIRS; i++)
        x.pairs[i] = (struct pair){.client = -1, .server = -1};
    x.to_port = (uint16_t)to_port;
    x.listen_fd = listen_on((uint16_t)listen_port);
    if (control && mkfifo(control, 0600) < 0 && errno != EEXIST) {
        perror(control);
        return 1;
    }
    x.control_fd = control ? open(control, O_RDWR | O_NONBLOCK) : 0;
    if (x.listen_fd < 0 || x.control_fd < 0) {
        fprintf(stderr, "faultproxy: cannot listen on 127.0.0.1:%ld or open the control input: %s\n",
                listen_port, strerror(errno));
        return 1;
    }
    fcntl(x.control_fd, F_SETFL, fcntl(x.control_fd, F_GETFL) | O_NONBLOCK);
    answer("ready");
    serve(&x);
    for (int i = 0; i < MAX_PAIRS; i++)
        pair_close(&x.pairs[i]);
    close(x.listen_fd);
    return 0;
}
