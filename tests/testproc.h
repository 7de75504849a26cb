/*
 * testproc.h - real server processes for tests: free loopback ports,
 * start and stop by PID, temporary directories.
 *
 * Every process started with tp_spawn() is stopped by PID when the test
 * program exits (atexit), and the kernel stops it if the test program dies
 * (PR_SET_PDEATHSIG), so a failing test leaves nothing behind.
 */
#ifndef VIGIL_TEST_TESTPROC_H
#define VIGIL_TEST_TESTPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

long long tp_now_ms(void);
void tp_pause_ms(long ms);

/* A port the kernel says is free now; another process could take it before the server binds, so callers retry. */
int tp_free_port(void);
bool tp_port_accepts(int port);

/* Runs argv[0] (searched in PATH) with stdout and stderr appended to log. Returns its PID, or -1. */
pid_t tp_spawn(const char *log, char *const argv[]);

/* Waits until something accepts on port; -1 if pid exited first (it is reaped) or timeout_ms passed. */
int tp_wait_port(pid_t pid, int port, int timeout_ms);

/* SIGTERM, then SIGKILL after 5 s; reaps it. Safe for a PID already reaped by tp_wait_port. */
void tp_stop(pid_t pid);

/* Makes a fresh directory $TMPDIR/<prefix>-XXXXXX into dir; 0 or -1. */
int tp_mkdtemp(char *dir, size_t cap, const char *prefix);
/* Removes dir and everything below it. */
void tp_rmtree(const char *dir);

#endif
