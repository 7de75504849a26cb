/*
 * testproc.c - real server processes for tests (see testproc.h).
 *
 * Linked into every test program, so it does nothing until a test calls it.
 */
#include "testproc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIVE 16
#define STOP_TIMEOUT_MS 5000

/* PIDs running now; copies, since a test may lose its own records before exit. */
static pid_t live[MAX_LIVE];

long long tp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tp_pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_MS; reaps it. */
static void stop_pid(pid_t pid)
{
    long long deadline = tp_now_ms() + STOP_TIMEOUT_MS;

    kill(pid, SIGTERM);
    while (waitpid(pid, NULL, WNOHANG) == 0) {
        if (tp_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return;
        }
        tp_pause_ms(10);
    }
}

/* Stops every process still running when the test program exits, even after a failed case. */
static void stop_live(void)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i] > 0) {
            printf("# pid %d still running at exit: stopped\n", (int)live[i]);
            stop_pid(live[i]);
            live[i] = 0;
        }
    }
}

/* Adds pid to the live set (running) or removes it; false if it was not there. */
static bool track(pid_t pid, bool running)
{
    static bool registered;

    if (!registered && atexit(stop_live) == 0)
        registered = true;
    for (int i = 0; i < MAX_LIVE; i++) {
        if (running ? live[i] == 0 : live[i] == pid) {
            live[i] = running ? pid : 0;
            return true;
        }
    }
    return false;
}

int tp_free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

bool tp_port_accepts(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    if (fd < 0)
        return false;
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

pid_t tp_spawn(const char *log, char *const argv[])
{
    pid_t parent = getpid(), pid = fork();

    if (pid < 0)
        return -1;
    if (pid > 0) {
        track(pid, true);
        return pid;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
        close(fd);
    }
    execvp(argv[0], argv);
    _exit(127);
}

int tp_wait_port(pid_t pid, int port, int timeout_ms)
{
    long long deadline = tp_now_ms() + timeout_ms;

    while (tp_now_ms() < deadline) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            track(pid, false);
            return -1;
        }
        if (tp_port_accepts(port))
            return 0;
        tp_pause_ms(10);
    }
    return -1;
}

void tp_stop(pid_t pid)
{
    if (pid > 0 && track(pid, false))
        stop_pid(pid);
}

int tp_mkdtemp(char *dir, size_t cap, const char *prefix)
{
    snprintf(dir, cap, "%s/%s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", prefix);
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tp_rmtree(const char *dir)
{
    if (dir[0])
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
