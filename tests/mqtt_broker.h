/*
 * mqtt_broker.h - a real Mosquitto for tests, and a test client that
 * records what it receives.
 *
 * broker_start() runs mosquitto on 127.0.0.1 and a free port with a config
 * written to a fresh temporary directory, and returns once the port accepts
 * connections. Every broker started is stopped by PID when the test program
 * exits (atexit), and the kernel stops it if the test program dies
 * (PR_SET_PDEATHSIG), so a failing test leaves no broker behind.
 *
 * The client (MQTTAsync, clean or persistent session) subscribes to a
 * filter and stores every message with its topic, payload, QoS and retained
 * flag in a fixed array; waits poll it with a deadline.
 */
#ifndef VIGIL_TEST_MQTT_BROKER_H
#define VIGIL_TEST_MQTT_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct broker {
    bool persistent;   /* set before broker_start: sessions, queued and retained messages survive broker_restart */
    int port;          /* filled by broker_start */
    pid_t pid;         /* 0 when not running */
    char uri[64];      /* "tcp://127.0.0.1:<port>" */
    char dir[256];     /* config, log, persistence, and broker_tmpdir() directories */
};

/* Starts mosquitto on a free port. Returns 0, or -1 with a "#" line saying why. */
int broker_start(struct broker *b);

/* Stops the broker (SIGTERM, SIGKILL after 5 s) and removes its directory. Safe to call twice. */
void broker_stop(struct broker *b);

/* Stops the process only; b->dir and b->port stay for broker_resume(). */
void broker_pause(struct broker *b);

/* Starts the broker again on the same port and directory. Returns 0 or -1. */
int broker_resume(struct broker *b);

/* broker_pause() then broker_resume(). */
int broker_restart(struct broker *b);

/* Creates <b->dir>/<name> for a test's own files; it goes away with broker_stop(). */
int broker_tmpdir(const struct broker *b, const char *name, char *path, size_t cap);

struct broker_msg {
    char topic[256];
    char *payload;     /* NUL-terminated copy */
    size_t len;
    int qos;
    bool retained;
};

struct broker_client;

/*
 * Connects a client and, if filter is not NULL, subscribes to it at QoS 1,
 * returning once the subscription is in place. client_id NULL gives a clean
 * session with a generated id; a client_id gives a persistent session (with
 * a persistent broker, messages published while it is away are queued).
 * Returns NULL with a "#" line on failure.
 */
struct broker_client *broker_client_new(const struct broker *b, const char *client_id, const char *filter);
void broker_client_free(struct broker_client *c);

/* Waits until at least n messages arrived or timeout_ms passed; returns how many arrived. */
size_t broker_client_wait(struct broker_client *c, size_t n, int timeout_ms);

/* Message i (0-based, in arrival order), or NULL if it has not arrived. */
const struct broker_msg *broker_client_msg(struct broker_client *c, size_t i);

/*
 * Waits for the first message at index >= from on topic whose payload
 * contains needle ("" matches any payload, including an empty one).
 * Returns its index, or -1 after timeout_ms.
 */
int broker_client_find(struct broker_client *c, size_t from, const char *topic, const char *needle, int timeout_ms);

/* Publishes and waits for the broker to acknowledge it. Returns 0 or -1. */
int broker_client_publish(struct broker_client *c, const char *topic, const char *payload, int qos, bool retained);

/* Waits until the client has (re)connected and subscribed n times in total. Returns 0 or -1. */
int broker_client_wait_subscribed(struct broker_client *c, int n, int timeout_ms);

#endif
