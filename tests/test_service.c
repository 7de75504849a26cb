/*
 * test_service.c - the watchdog decision and real sd_notify round trips.
 *
 * The decision cases drive svc_watchdog_due() on hand-built states. The
 * round-trip cases bind a unix datagram socket, point NOTIFY_SOCKET at it
 * and read what libsystemd actually sent. sd_notify() queues the datagram
 * before it returns, so a non-blocking read right after each call sees
 * exactly the messages that call produced; nothing waits on a clock.
 */
#include "service.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

static char sock_dir[64];
static char sock_path[80];
static int sock_fd = -1;

/* An enabled watchdog with WatchdogSec=30 whose last ping was at t=1000 ms with counters 1,1,1. */
static struct svc_watchdog armed_watchdog(void)
{
    struct svc_watchdog w = { .interval_us = 30000000u, .last_ping_mono_ms = 1000, .n = 3, .enabled = true };

    w.last[0] = w.last[1] = w.last[2] = 1;
    return w;
}

static void due_when_all_move_and_half_interval_passed(void)
{
    struct svc_watchdog w = armed_watchdog();
    const uint64_t moved[3] = { 2, 7, 2 };

    EXPECT(!svc_watchdog_due(&w, 1000 + 14999, moved, 3), "pinged before half of WatchdogSec");
    EXPECT(svc_watchdog_due(&w, 1000 + 15000, moved, 3), "no ping at half of WatchdogSec");
    EXPECT(svc_watchdog_due(&w, 1000 + 29000, moved, 3), "no ping late in the interval");
}

static void not_due_while_one_counter_is_stuck(void)
{
    struct svc_watchdog w = armed_watchdog();
    const uint64_t core_stuck[3] = { 2, 1, 2 };
    const uint64_t publisher_stuck[3] = { 9, 9, 1 };

    EXPECT(!svc_watchdog_due(&w, 16000, core_stuck, 3), "pinged with the core thread stuck");
    EXPECT(!svc_watchdog_due(&w, 16000, publisher_stuck, 3), "pinged with the publisher stuck");
    EXPECT(!svc_watchdog_due(&w, 1000000, core_stuck, 3), "a long stall must never ping");
}

static void not_due_when_disabled_or_without_baseline(void)
{
    struct svc_watchdog w = armed_watchdog();
    const uint64_t moved[3] = { 2, 2, 2 };

    w.enabled = false;
    EXPECT(!svc_watchdog_due(&w, 16000, moved, 3), "pinged while disabled");
    w = armed_watchdog();
    EXPECT(!svc_watchdog_due(&w, 16000, moved, 2), "pinged against a baseline of 3 counters with 2");
    w.n = 0;
    EXPECT(!svc_watchdog_due(&w, 16000, moved, 3), "pinged without a baseline");
}

/* Binds a datagram socket in a fresh temp dir and exports it as NOTIFY_SOCKET. Returns 0 or -1. */
static int listen_notify(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";

    snprintf(sock_dir, sizeof sock_dir, "%.40s/vigil-svc-XXXXXX", tmp);
    if (mkdtemp(sock_dir) == NULL)
        return -1;
    snprintf(sock_path, sizeof sock_path, "%s/notify", sock_dir);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    sock_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock_fd < 0 || bind(sock_fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return -1;
    return setenv("NOTIFY_SOCKET", sock_path, 1);
}

static void stop_listening(void)
{
    if (sock_fd >= 0)
        close(sock_fd);
    unlink(sock_path);
    rmdir(sock_dir);
    unsetenv("NOTIFY_SOCKET");
}

/* Reads one queued datagram into buf; returns its length, or -1 if none is queued. */
static int next_datagram(char *buf, size_t len)
{
    ssize_t n = recv(sock_fd, buf, len - 1, MSG_DONTWAIT);

    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

static void ready_sends_ready_and_status(void)
{
    char buf[512];

    svc_ready("x");
    EXPECT(next_datagram(buf, sizeof buf) > 0, "no datagram after svc_ready");
    EXPECT_STR(buf, "READY=1\nSTATUS=x");
    EXPECT(next_datagram(buf, sizeof buf) < 0, "svc_ready sent more than one datagram: %s", buf);
}

static void status_folds_newlines_into_one_line(void)
{
    char buf[512] = "";

    svc_status("devices %d/%d up\nREADY=1", 4, 5);
    EXPECT(next_datagram(buf, sizeof buf) > 0, "no datagram after svc_status");
    EXPECT_STR(buf, "STATUS=devices 4/5 up READY=1");
}

static void reload_and_stop_are_announced(void)
{
    char buf[512] = "";

    svc_reloading();
    EXPECT(next_datagram(buf, sizeof buf) > 0, "no datagram after svc_reloading");
    EXPECT_STR(buf, "RELOADING=1");
    svc_stopping();
    EXPECT(next_datagram(buf, sizeof buf) > 0, "no datagram after svc_stopping");
    EXPECT_STR(buf, "STOPPING=1");
}

/* Exports WATCHDOG_USEC (for this process) and returns an initialised watchdog. */
static struct svc_watchdog watchdog_from_env(const char *usec)
{
    struct svc_watchdog w;
    char pid[24];

    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_USEC", usec, 1);
    setenv("WATCHDOG_PID", pid, 1);
    svc_watchdog_init(&w);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    return w;
}

static void watchdog_pings_only_while_every_worker_moves(void)
{
    struct svc_watchdog w = watchdog_from_env("2000000");
    uint64_t c[3] = { 10, 20, 30 };
    char buf[512] = "";

    EXPECT(w.enabled, "watchdog disabled with WATCHDOG_USEC set");
    EXPECT_INT(w.interval_us, 2000000);
    svc_watchdog_feed(&w, 5000, c, 3); /* baseline */
    EXPECT(next_datagram(buf, sizeof buf) < 0, "pinged on the baseline feed: %s", buf);
    c[0]++, c[1]++, c[2]++;
    svc_watchdog_feed(&w, 6000, c, 3);
    EXPECT(next_datagram(buf, sizeof buf) > 0, "no ping with every counter moved after 1 s of 2 s");
    EXPECT_STR(buf, "WATCHDOG=1");
    c[0]++, c[2]++; /* core thread hung */
    svc_watchdog_feed(&w, 7000, c, 3);
    svc_watchdog_feed(&w, 9000, c, 3);
    EXPECT(next_datagram(buf, sizeof buf) < 0, "pinged with a hung worker: %s", buf);
    c[1]++; /* it recovers: the next feed pings */
    svc_watchdog_feed(&w, 9500, c, 3);
    EXPECT(next_datagram(buf, sizeof buf) > 0, "no ping after the hung worker recovered");
    EXPECT_STR(buf, "WATCHDOG=1");
}

static void silent_without_notify_socket(void)
{
    struct svc_watchdog w;
    uint64_t c[1] = { 1 };
    char buf[512] = "";

    unsetenv("NOTIFY_SOCKET");
    svc_ready("x");
    svc_status("nobody listens");
    w = watchdog_from_env("2000000");
    EXPECT(!w.enabled, "watchdog enabled without NOTIFY_SOCKET");
    svc_watchdog_feed(&w, 0, c, 1);
    c[0]++;
    svc_watchdog_feed(&w, 5000, c, 1);
    EXPECT(next_datagram(buf, sizeof buf) < 0, "sent without NOTIFY_SOCKET: %s", buf);
    setenv("NOTIFY_SOCKET", sock_path, 1);
}

int main(void)
{
    RUN(due_when_all_move_and_half_interval_passed);
    RUN(not_due_while_one_counter_is_stuck);
    RUN(not_due_when_disabled_or_without_baseline);
    if (listen_notify() < 0) {
        printf("not ok - notify socket: %s\n", strerror(errno));
        stop_listening();
        return 1;
    }
    RUN(ready_sends_ready_and_status);
    RUN(status_folds_newlines_into_one_line);
    RUN(reload_and_stop_are_announced);
    RUN(watchdog_pings_only_while_every_worker_moves);
    RUN(silent_without_notify_socket);
    stop_listening();
    HARNESS_EXIT();
}
