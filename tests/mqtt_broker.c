/*
 * mqtt_broker.c - a real Mosquitto and a recording MQTT client for tests
 * (see mqtt_broker.h).
 *
 * Linked into every test program, so it does nothing until a test calls it.
 * The broker's config, log and persistence file live in a mkdtemp()
 * directory; its stderr goes to mosquitto.log there, which a failing start
 * points to.
 */
#include "mqtt_broker.h"
#include "pahoload.h"
#include "testproc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#define START_TIMEOUT_MS 10000
#define CLIENT_MSGS 4096

static int write_config(const struct broker *b)
{
    char path[320];
    FILE *f;

    snprintf(path, sizeof(path), "%s/mosquitto.conf", b->dir);
    f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\nlog_dest stderr\n", b->port);
    fprintf(f, "persistence %s\npersistence_location %s/\n", b->persistent ? "true" : "false", b->dir);
    /* As root mosquitto drops to its own user, which cannot write the test's private directory. */
    if (geteuid() == 0)
        fprintf(f, "user root\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* Runs mosquitto with its output appended to its log. */
static pid_t spawn(const struct broker *b)
{
    char conf[320], log[320];
    char *argv[] = { "mosquitto", "-c", conf, NULL };

    snprintf(conf, sizeof(conf), "%s/mosquitto.conf", b->dir);
    snprintf(log, sizeof(log), "%s/mosquitto.log", b->dir);
    return tp_spawn(log, argv);
}

/* One attempt to run mosquitto on b->port. */
static int launch(struct broker *b)
{
    if (write_config(b) < 0)
        return -1;
    b->pid = spawn(b);
    if (b->pid < 0) {
        b->pid = 0;
        return -1;
    }
    if (tp_wait_port(b->pid, b->port, START_TIMEOUT_MS) == 0)
        return 0;
    broker_pause(b);
    return -1;
}

int broker_start(struct broker *b)
{
    b->pid = 0;
    if (tp_mkdtemp(b->dir, sizeof(b->dir), "vigil-broker") < 0) {
        printf("# broker: mkdtemp %s: %s\n", b->dir, strerror(errno));
        b->dir[0] = '\0';
        return -1;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        b->port = tp_free_port();
        snprintf(b->uri, sizeof(b->uri), "tcp://127.0.0.1:%d", b->port);
        if (b->port > 0 && launch(b) == 0)
            return 0;
    }
    printf("# broker: mosquitto did not start; see %s/mosquitto.log\n", b->dir);
    return -1;
}

void broker_pause(struct broker *b)
{
    if (b->pid <= 0)
        return;
    tp_stop(b->pid);
    b->pid = 0;
}

int broker_resume(struct broker *b)
{
    /* The old socket may linger a moment; mosquitto binds with SO_REUSEADDR, but retry anyway. */
    for (int attempt = 0; attempt < 5; attempt++) {
        if (launch(b) == 0)
            return 0;
        tp_pause_ms(200);
    }
    printf("# broker: mosquitto did not restart on port %d; see %s/mosquitto.log\n", b->port, b->dir);
    return -1;
}

int broker_restart(struct broker *b)
{
    broker_pause(b);
    return broker_resume(b);
}

void broker_stop(struct broker *b)
{
    broker_pause(b);
    tp_rmtree(b->dir);
    b->dir[0] = '\0';
}

int broker_tmpdir(const struct broker *b, const char *name, char *path, size_t cap)
{
    int n = snprintf(path, cap, "%s/%s", b->dir, name);

    if (n < 0 || (size_t)n >= cap || (mkdir(path, 0700) < 0 && errno != EEXIST))
        return -1;
    return 0;
}

struct broker_client {
    MQTTAsync client;
    char filter[256];
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct broker_msg msgs[CLIENT_MSGS];
    size_t n_msgs;
    size_t dropped;            /* beyond CLIENT_MSGS: reported, never silently lost */
    int subscribed;            /* successful subscriptions so far */
    int published, publish_failed;
};

/* Records one message; the array never moves, so returned pointers stay valid. */
static int client_on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct broker_client *c = ctx;

    pthread_mutex_lock(&c->lock);
    if (c->n_msgs < CLIENT_MSGS) {
        struct broker_msg *msg = &c->msgs[c->n_msgs];

        snprintf(msg->topic, sizeof(msg->topic), "%.*s", topic_len ? topic_len : (int)strlen(topic), topic);
        msg->payload = malloc((size_t)m->payloadlen + 1);
        if (msg->payload) {
            memcpy(msg->payload, m->payload, (size_t)m->payloadlen);
            msg->payload[m->payloadlen] = '\0';
        }
        msg->len = (size_t)m->payloadlen;
        msg->qos = m->qos;
        msg->retained = m->retained;
        c->n_msgs++;
    } else if (c->dropped++ == 0) {
        printf("# broker client: more than %d messages; the rest are not recorded\n", CLIENT_MSGS);
    }
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    paho()->freeMessage(&m);
    paho()->free(topic);
    return 1;
}

static void client_bump(struct broker_client *c, int *counter)
{
    pthread_mutex_lock(&c->lock);
    (*counter)++;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

static void client_on_subscribed(void *ctx, MQTTAsync_successData *r)
{
    struct broker_client *c = ctx;

    (void)r;
    client_bump(c, &c->subscribed);
}

static void client_on_published(void *ctx, MQTTAsync_successData *r)
{
    struct broker_client *c = ctx;

    (void)r;
    client_bump(c, &c->published);
}

static void client_on_publish_failed(void *ctx, MQTTAsync_failureData *r)
{
    struct broker_client *c = ctx;

    (void)r;
    client_bump(c, &c->publish_failed);
}

/* Subscribes on every (re)connect: with a clean session or a restarted broker the subscription is gone. */
static void client_on_connected(void *ctx, char *cause)
{
    struct broker_client *c = ctx;
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    char *const filters[] = { c->filter };
    const int qos[] = { 1 };

    (void)cause;
    if (!c->filter[0]) {
        client_bump(c, &c->subscribed);
        return;
    }
    r.onSuccess = client_on_subscribed;
    r.context = c;
    paho()->subscribeMany(c->client, 1, filters, qos, &r);
}

/* Waits on the client's condition until pred(c, arg) holds or the deadline; returns whether it holds. */
static bool client_wait(struct broker_client *c, bool (*pred)(struct broker_client *, long), long arg, int timeout_ms)
{
    struct timespec until;
    bool ok;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->lock);
    while (!(ok = pred(c, arg)) && pthread_cond_timedwait(&c->changed, &c->lock, &until) == 0)
        ;
    ok = pred(c, arg);
    pthread_mutex_unlock(&c->lock);
    return ok;
}

static bool has_subscribed(struct broker_client *c, long n)
{
    return c->subscribed >= n;
}

static bool has_msgs(struct broker_client *c, long n)
{
    return c->n_msgs >= (size_t)n;
}

static bool has_publish_outcome(struct broker_client *c, long n)
{
    return c->published + c->publish_failed >= n;
}

static int client_connect(struct broker_client *c, bool clean)
{
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;

    paho()->setCallbacks(c->client, c, NULL, client_on_message, NULL);
    paho()->setConnected(c->client, c, client_on_connected);
    o.cleansession = clean;
    o.MQTTVersion = MQTTVERSION_3_1_1;
    o.keepAliveInterval = 10;
    o.automaticReconnect = 1;
    o.minRetryInterval = 1;
    o.maxRetryInterval = 2;
    return paho()->connect(c->client, &o);
}

struct broker_client *broker_client_new(const struct broker *b, const char *client_id, const char *filter)
{
    static int seq;
    struct broker_client *c = calloc(1, sizeof(*c));
    pthread_condattr_t attr;
    char id[64], err[256];

    if (!c)
        return NULL;
    /* The daemon's code in this process calls paho through the same table (plain: no test client uses TLS). */
    if (pahoload(false, err, sizeof(err)) < 0) {
        printf("# broker client: %s\n", err);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->changed, &attr);
    pthread_condattr_destroy(&attr);
    snprintf(c->filter, sizeof(c->filter), "%s", filter ? filter : "");
    snprintf(id, sizeof(id), "%s", client_id ? client_id : "");
    if (!client_id)
        snprintf(id, sizeof(id), "test-%d-%d", (int)getpid(), ++seq);
    if (paho()->createWithOptions(&c->client, b->uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, NULL) != MQTTASYNC_SUCCESS) {
        c->client = NULL;
        broker_client_free(c);
        return NULL;
    }
    if (client_connect(c, client_id == NULL) != MQTTASYNC_SUCCESS || broker_client_wait_subscribed(c, 1, 10000) < 0) {
        printf("# broker client %s: could not connect and subscribe to %s on %s\n", id, c->filter, b->uri);
        broker_client_free(c);
        return NULL;
    }
    return c;
}

void broker_client_free(struct broker_client *c)
{
    if (!c)
        return;
    if (c->client) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;

        d.timeout = 1000;
        paho()->disconnect(c->client, &d);
        paho()->destroy(&c->client);
    }
    for (size_t i = 0; i < c->n_msgs; i++)
        free(c->msgs[i].payload);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

size_t broker_client_wait(struct broker_client *c, size_t n, int timeout_ms)
{
    size_t got;

    client_wait(c, has_msgs, (long)n, timeout_ms);
    pthread_mutex_lock(&c->lock);
    got = c->n_msgs;
    pthread_mutex_unlock(&c->lock);
    return got;
}

const struct broker_msg *broker_client_msg(struct broker_client *c, size_t i)
{
    const struct broker_msg *m;

    pthread_mutex_lock(&c->lock);
    m = i < c->n_msgs ? &c->msgs[i] : NULL;
    pthread_mutex_unlock(&c->lock);
    return m;
}

static bool matches(const struct broker_msg *m, const char *topic, const char *needle)
{
    return strcmp(m->topic, topic) == 0 && m->payload && strstr(m->payload, needle) != NULL;
}

int broker_client_find(struct broker_client *c, size_t from, const char *topic, const char *needle, int timeout_ms)
{
    long long deadline = tp_now_ms() + timeout_ms;
    size_t i = from;

    for (;;) {
        size_t have = broker_client_wait(c, i + 1, (int)(deadline - tp_now_ms() > 0 ? deadline - tp_now_ms() : 0));

        for (; i < have; i++)
            if (matches(broker_client_msg(c, i), topic, needle))
                return (int)i;
        if (tp_now_ms() >= deadline)
            return -1;
    }
}

int broker_client_publish(struct broker_client *c, const char *topic, const char *payload, int qos, bool retained)
{
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    int before;

    pthread_mutex_lock(&c->lock);
    before = c->published + c->publish_failed;
    pthread_mutex_unlock(&c->lock);
    r.onSuccess = client_on_published;
    r.onFailure = client_on_publish_failed;
    r.context = c;
    m.payload = (void *)payload;
    m.payloadlen = (int)strlen(payload);
    m.qos = qos;
    m.retained = retained;
    if (paho()->sendMessage(c->client, topic, &m, &r) != MQTTASYNC_SUCCESS)
        return -1;
    if (!client_wait(c, has_publish_outcome, before + 1, 10000))
        return -1;
    pthread_mutex_lock(&c->lock);
    before = c->publish_failed;
    pthread_mutex_unlock(&c->lock);
    return before == 0 ? 0 : -1;
}

int broker_client_wait_subscribed(struct broker_client *c, int n, int timeout_ms)
{
    return client_wait(c, has_subscribed, n, timeout_ms) ? 0 : -1;
}
