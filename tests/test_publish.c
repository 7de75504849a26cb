/*
 * test_publish.c - the MQTT publisher (daemon/mqtt*.c) against a real Mosquitto.
 *
 * Each case starts its own broker on a free loopback port and asserts on
 * what a subscriber receives: order and QoS of events, the retained status
 * and the Will, commands in both directions, and the delivery guarantees
 * that matter most (messages published while the broker is down, or before
 * the process restarts, all arrive in order). Waits poll with a deadline;
 * nothing asserts on how long anything took.
 *
 * Two-broker cases check the dual-path modes and the path_fault and
 * spool_full alarms the publisher feeds to the core's inputs queue.
 *
 * "--pub-child URI CLIENT_ID STATE_DIR" runs this binary as a publisher that
 * waits to be killed, for the Will case (a fork without exec would inherit
 * paho's threads half-alive).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cmdgate.h"
#include "config.h"
#include "core.h"
#include "harness.h"
#include "message.h"
#include "mqtt_broker.h"
#include "mqtt.h"
#include "mqtt_internal.h" /* the store's callbacks, driven as paho drives them */
#include "pahoload.h"
#include "testproc.h"

#define WAIT_MS 15000
#define T_EVENTS "vigil/depot-7/events"
#define T_STATUS "vigil/depot-7/status"
#define T_CMD "vigil/depot-7/cmd"
#define T_RESULT "vigil/depot-7/cmd/result"
#define PATH_FAULT_S 5

struct fixture {
    struct broker b, b2;   /* b2 only in two-path cases */
    struct cfg_site site;
    char state_dir[512];
    struct queue inputs;
    struct pub *pub;
    struct cmdgate *gate;  /* a site without operators: unsigned commands pass */
    uint64_t min_free_bytes;
};

/* The part of a site the publisher reads: one broker path, short keepalive. */
static void make_site(struct cfg_site *s, const char *uri, const char *client_id)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "depot-7");
    snprintf(s->name, sizeof(s->name), "Depot 7");
    snprintf(s->mqtt.prefix, sizeof(s->mqtt.prefix), "vigil");
    snprintf(s->mqtt.brokers[0].uri, sizeof(s->mqtt.brokers[0].uri), "%s", uri);
    snprintf(s->mqtt.brokers[0].client_id, sizeof(s->mqtt.brokers[0].client_id), "%s", client_id);
    s->mqtt.brokers[0].keepalive_s = 10;
    s->mqtt.n_brokers = 1;
    s->mqtt.heartbeat_s = 60;
    s->mqtt.max_buffered = 1000;
    s->mqtt.mode = CFG_MQTT_BOTH;
    s->mqtt.path_fault_s = PATH_FAULT_S;
    s->mqtt.self_test_s = 0;
    s->mqtt.cmd_max_age_s = 120;
}

static int fixture_start(struct fixture *f, bool persistent_broker)
{
    memset(f, 0, sizeof(*f));
    f->b.persistent = persistent_broker;
    if (broker_start(&f->b) < 0 || broker_tmpdir(&f->b, "state", f->state_dir, sizeof(f->state_dir)) < 0 ||
        queue_init(&f->inputs, sizeof(struct core_input), 64) < 0) {
        broker_stop(&f->b);
        return -1;
    }
    make_site(&f->site, f->b.uri, "vigil-depot-7");
    f->gate = cmdgate_new(&f->site);
    return f->gate ? 0 : -1;
}

/* A second (persistent) broker as the secondary path, in the given mode. */
static int fixture_add_secondary(struct fixture *f, enum cfg_mqtt_mode mode)
{
    struct cfg_broker *b = &f->site.mqtt.brokers[1];

    f->b2.persistent = true;
    if (broker_start(&f->b2) < 0)
        return -1;
    snprintf(b->uri, sizeof(b->uri), "%s", f->b2.uri);
    snprintf(b->client_id, sizeof(b->client_id), "vigil-depot-7-2");
    b->keepalive_s = 10;
    f->site.mqtt.n_brokers = 2;
    f->site.mqtt.mode = mode;
    return 0;
}

static struct pub *start_pub(struct fixture *f)
{
    struct pub_options o = { .site = &f->site, .state_dir = f->state_dir, .version = "test", .inputs = &f->inputs,
                             .gate = f->gate, .store_min_free_bytes = f->min_free_bytes };
    char err[512] = "";
    struct pub *p = pub_start(&o, err, sizeof(err));

    EXPECT(p != NULL, "pub_start: %s", err);
    return p;
}

/* Closes the inputs queue first: the publisher's thread may be blocked pushing a system alarm into it. */
static void fixture_stop(struct fixture *f)
{
    queue_close(&f->inputs);
    pub_stop(f->pub);
    f->pub = NULL;
    queue_destroy(&f->inputs);
    cmdgate_free(f->gate);
    f->gate = NULL;
    broker_stop(&f->b);
    broker_stop(&f->b2);
}

static bool wait_path(struct pub *p, int path, bool want)
{
    uint64_t deadline = clock_mono_ms() + WAIT_MS;
    struct timespec pause = { 0, 10 * 1000 * 1000 };
    struct pub_stats st;

    for (;;) {
        pub_get_stats(p, &st);
        if (st.connected[path] == want || clock_mono_ms() >= deadline)
            return st.connected[path] == want;
        nanosleep(&pause, NULL);
    }
}

static bool wait_connected(struct pub *p, bool want)
{
    return wait_path(p, 0, want);
}

/* Waits until every accepted message is acknowledged (or the deadline). */
static bool wait_settled(struct pub *p)
{
    uint64_t deadline = clock_mono_ms() + WAIT_MS;
    struct timespec pause = { 0, 10 * 1000 * 1000 };
    struct pub_stats st;

    do {
        pub_get_stats(p, &st);
    } while (st.pending > 0 && clock_mono_ms() < deadline && nanosleep(&pause, NULL) == 0);
    return st.pending == 0;
}

/* Waits until the supervision thread has seen the store work again and
 * everything acknowledged; it looks every few hundred ms. */
static bool wait_durable(struct pub *p)
{
    uint64_t deadline = clock_mono_ms() + WAIT_MS;
    struct timespec pause = { 0, 10 * 1000 * 1000 };

    while (!pub_durable(p) && clock_mono_ms() < deadline)
        nanosleep(&pause, NULL);
    return pub_durable(p);
}

/*
 * Waits for the publisher to push a system input of kind and state,
 * skipping any other input; its text goes into text. False after WAIT_MS.
 */
static bool wait_system(struct queue *q, enum core_sys_kind kind, bool active, char *text, size_t cap)
{
    uint64_t deadline = clock_mono_ms() + WAIT_MS;
    struct core_input in;

    while (clock_mono_ms() < deadline) {
        if (queue_pop(q, &in, (int)(deadline - clock_mono_ms())) != 1)
            break;
        if (in.type == CORE_IN_SYSTEM && in.u.sys.kind == kind && in.u.sys.active == active) {
            snprintf(text, cap, "%s", in.u.sys.text);
            return true;
        }
    }
    return false;
}

/* The next command input, skipping the system alarms the publisher reports; false after timeout_ms. */
static bool pop_command(struct queue *q, struct core_input *in, int timeout_ms)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;

    while (queue_pop(q, in, (int)(deadline > clock_mono_ms() ? deadline - clock_mono_ms() : 0)) == 1)
        if (in->type == CORE_IN_CMD)
            return true;
    return false;
}

/*
 * Waits until a fresh subscriber is handed a retained message on topic
 * containing needle. A publisher still connecting sends it live instead, so
 * a non-retained match means: look again with a new subscriber.
 */
static bool retained_has(const struct broker *b, const char *topic, const char *needle)
{
    uint64_t deadline = clock_mono_ms() + WAIT_MS;
    bool ok = false;

    while (!ok && clock_mono_ms() < deadline) {
        struct broker_client *c = broker_client_new(b, NULL, topic);
        int i = c ? broker_client_find(c, 0, topic, needle, 200) : -1;

        ok = i >= 0 && broker_client_msg(c, (size_t)i)->retained;
        broker_client_free(c);
    }
    return ok;
}

/*
 * Publishes n events {"seq":first..} and checks a subscriber got them all in
 * order starting at index from. QoS 1 allows a duplicate after a reconnect;
 * like a central station, the check drops any seq it has already seen.
 */
static void publish_seqs(struct pub *p, int first, int n)
{
    char payload[64];

    for (int i = 0; i < n; i++) {
        int len = snprintf(payload, sizeof(payload), "{\"seq\":%d}", first + i);

        EXPECT(pub_publish(p, "events", payload, (size_t)len, 1, false) == 0, "publish seq %d refused", first + i);
    }
}

static void expect_seqs(struct broker_client *c, size_t from, int first, int n)
{
    int want = first, dups = 0;
    size_t i = from;

    while (want < first + n) {
        const struct broker_msg *m;
        int seq;

        if (broker_client_wait(c, i + 1, WAIT_MS) < i + 1)
            break;
        m = broker_client_msg(c, i++);
        if (strcmp(m->topic, T_EVENTS) != 0 || sscanf(m->payload, "{\"seq\":%d}", &seq) != 1)
            continue;
        EXPECT(m->qos == 1 && !m->retained, "seq %d: qos %d retained %d", seq, m->qos, m->retained);
        if (seq < want) {
            dups++;
            continue;
        }
        EXPECT(seq == want, "got seq %d, want %d (a gap: events lost or reordered)", seq, want);
        want = seq + 1;
    }
    EXPECT(want == first + n, "only seqs %d..%d of %d..%d arrived", first, want - 1, first, first + n - 1);
    if (dups)
        printf("# %d duplicate deliveries (allowed by QoS 1, dropped by seq)\n", dups);
}

static void events_arrive_in_order_at_qos1(void)
{
    struct fixture f;
    struct broker_client *station;
    struct pub_stats st;
    uint64_t deadline;

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    station = broker_client_new(&f.b, NULL, T_EVENTS);
    f.pub = start_pub(&f);
    if (station && f.pub) {
        uint64_t progress = pub_progress(f.pub);

        publish_seqs(f.pub, 1, 200);
        expect_seqs(station, 0, 1, 200);
        EXPECT(pub_progress(f.pub) > progress, "progress did not move");
        deadline = clock_mono_ms() + WAIT_MS;
        do
            pub_get_stats(f.pub, &st);
        while ((st.delivered < 200 || st.pending > 0) && clock_mono_ms() < deadline);
        EXPECT(st.delivered >= 200 && st.pending == 0 && st.refused == 0,
               "delivered %llu pending %llu refused %llu", (unsigned long long)st.delivered,
               (unsigned long long)st.pending, (unsigned long long)st.refused);
    }
    broker_client_free(station);
    fixture_stop(&f);
}

static void status_online_then_offline_retained(void)
{
    struct fixture f;

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    f.pub = start_pub(&f);
    EXPECT(retained_has(&f.b, T_STATUS, "\"state\":\"online\""), "no retained online status");
    pub_stop(f.pub);
    f.pub = NULL;
    EXPECT(retained_has(&f.b, T_STATUS, "\"state\":\"offline\""), "no retained offline status after pub_stop");
    fixture_stop(&f);
}

/*
 * pub_heartbeat refreshes the retained status with a new ts once
 * heartbeat_s has passed; it tells the station that period and the last
 * event's seq, so a missed event shows even when no new one comes.
 */
static void heartbeat_refreshes_status(void)
{
    struct fixture f;
    struct broker_client *c;
    const struct broker_msg *first = NULL, *m;
    uint64_t deadline;
    size_t seen = 0;
    bool refreshed = false;

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    f.site.mqtt.heartbeat_s = 1;
    c = broker_client_new(&f.b, NULL, T_STATUS);
    f.pub = start_pub(&f);
    if (f.pub)
        pub_set_last_seq(f.pub, 0x5f3a, 42);
    deadline = clock_mono_ms() + WAIT_MS;
    while (c && f.pub && !refreshed && clock_mono_ms() < deadline) {
        uint64_t now_ms = clock_mono_ms();

        EXPECT(pub_heartbeat(f.pub) > now_ms, "next heartbeat due in the past");
        for (; (m = broker_client_msg(c, seen)) != NULL; seen++) {
            if (!strstr(m->payload, "\"state\":\"online\""))
                continue;
            refreshed = first && strcmp(m->payload, first->payload) != 0 &&
                        strstr(m->payload, "\"heartbeat_s\":1,\"seq\":42,\"epoch\":\"0000000000005f3a\"}") != NULL;
            first = first ? first : m;
        }
        broker_client_wait(c, seen + 1, 50);
    }
    EXPECT(first != NULL, "no online status");
    EXPECT(refreshed, "no status with a new ts, heartbeat_s and seq");
    broker_client_free(c);
    fixture_stop(&f);
}

/* Runs as the child of will_sent_when_process_dies: connects, says so, and waits to be killed. */
static int pub_child(char **argv)
{
    struct cfg_site site;
    struct queue inputs;
    struct pub_options o = { .site = &site, .state_dir = argv[4], .version = "child", .inputs = &inputs };
    char err[512];
    struct pub *p;

    make_site(&site, argv[2], argv[3]);
    queue_init(&inputs, sizeof(struct core_input), 16);
    o.gate = cmdgate_new(&site);
    p = pub_start(&o, err, sizeof(err));
    if (!p || !wait_connected(p, true)) {
        printf("%s\n", p ? "not connected" : err);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}

/* Starts this binary as a pub child; returns its pid and a pipe from its stdout. */
static pid_t spawn_child(const struct fixture *f, int *out_fd)
{
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    int fds[2];
    pid_t pid;

    if (n < 0 || pipe(fds) < 0)
        return -1;
    exe[n] = '\0';
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(exe, exe, "--pub-child", f->b.uri, "vigil-depot-7-child", f->state_dir, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    *out_fd = fds[0];
    return pid;
}

/* Waits for the child's first line: "ready", or why it gave up. */
static bool child_ready(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char line[600] = "";

    if (poll(&p, 1, WAIT_MS + 5000) != 1 || read(fd, line, sizeof(line) - 1) <= 0)
        strcpy(line, "no answer");
    if (strncmp(line, "ready", 5) == 0)
        return true;
    printf("# child: %s\n", line);
    return false;
}

static void will_sent_when_process_dies(void)
{
    struct fixture f;
    struct broker_client *c;
    int fd = -1, online;
    pid_t pid;

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    c = broker_client_new(&f.b, NULL, T_STATUS);
    pid = spawn_child(&f, &fd);
    EXPECT(pid > 0 && child_ready(fd), "child publisher did not connect");
    online = c ? broker_client_find(c, 0, T_STATUS, "\"state\":\"online\"", WAIT_MS) : -1;
    EXPECT(online >= 0, "no online status from the child");
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    EXPECT(online >= 0 && broker_client_find(c, (size_t)online + 1, T_STATUS, "\"state\":\"offline\"", WAIT_MS) >= 0,
           "no Will after the publisher was killed");
    EXPECT(retained_has(&f.b, T_STATUS, "\"state\":\"offline\""), "the Will is not retained");
    if (fd >= 0)
        close(fd);
    broker_client_free(c);
    fixture_stop(&f);
}

/*
 * Sends a malformed command until its rejection comes back on cmd/result,
 * which proves the publisher's subscription is in place. Returns the index
 * of the result in results, or -1.
 */
static int await_rejection(struct broker_client *sender, struct broker_client *results, const char *payload,
                           const char *needle)
{
    uint64_t deadline = clock_mono_ms() + WAIT_MS;
    int i = -1;

    while (i < 0 && clock_mono_ms() < deadline) {
        broker_client_publish(sender, T_CMD, payload, 1, false);
        i = broker_client_find(results, 0, T_RESULT, needle, 200);
    }
    return i;
}

/*
 * Sends payload as a command through the real broker and checks that its
 * rejection, found by needle, is want, and that nothing reached the core.
 */
static void expect_rejection(const char *payload, const char *needle, const char *want)
{
    struct fixture f;
    struct broker_client *results, *sender;
    int i;

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    results = broker_client_new(&f.b, NULL, T_RESULT);
    sender = broker_client_new(&f.b, NULL, NULL);
    f.pub = start_pub(&f);
    i = results && sender ? await_rejection(sender, results, payload, needle) : -1;
    EXPECT(i >= 0, "no result for a malformed command");
    if (i >= 0)
        EXPECT_STR(broker_client_msg(results, (size_t)i)->payload, want);
    EXPECT(!pop_command(&f.inputs, &(struct core_input){ 0 }, 0), "a malformed command reached the core's queue");
    broker_client_free(results);
    broker_client_free(sender);
    fixture_stop(&f);
}

static void malformed_command_answered(void)
{
    expect_rejection("{\"id\":\"c-7\",\"op\":\"explode\",\"operator\":\"jsmith\"}", "\"id\":\"c-7\"",
                     "{\"id\":\"c-7\",\"op\":null,\"ok\":false,"
                     "\"error\":\"unknown op \\\"explode\\\"; expected ack, shelve, unshelve, out_of_service, in_service, arm, "
                     "disarm, walktest_start or walktest_stop\"}");
}

/* A 64 KiB command is answered by the gate from its size alone: it never reaches the JSON parser, let alone the core. */
static void oversized_command_answered(void)
{
    static char big[65536 + 1];
    int n = snprintf(big, sizeof(big), "{\"id\":\"c-8\",\"op\":\"ack\",\"operator\":\"o\",\"alarm\":\"");

    memset(big + n, 'a', sizeof(big) - 1 - (size_t)n - 2);
    memcpy(big + sizeof(big) - 3, "\"}", 2);
    expect_rejection(big, "at most 4096",
                     "{\"id\":null,\"op\":null,\"ok\":false,\"error\":\"command of 65536 bytes; at most 4096\"}");
}

/* A valid command becomes CORE_IN_CMD once; the same id again (a redelivery, the other path) does not. */
static void command_reaches_core_queue_once(void)
{
    static const char ack[] = "{\"id\":\"c-1\",\"op\":\"ack\",\"alarm\":\"store1-door.intrusion\",\"operator\":\"jsmith\"}";
    static const char arm[] = "{\"id\":\"c-2\",\"op\":\"arm\",\"zone\":\"store1\",\"operator\":\"jsmith\"}";
    struct fixture f;
    struct broker_client *results, *sender;
    struct core_input in;

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    results = broker_client_new(&f.b, NULL, T_RESULT);
    sender = broker_client_new(&f.b, NULL, NULL);
    f.pub = start_pub(&f);
    EXPECT(results && sender && await_rejection(sender, results, "{\"id\":\"probe\"}", "probe") >= 0,
           "publisher never subscribed to commands");
    EXPECT(sender && broker_client_publish(sender, T_CMD, ack, 1, false) == 0, "send ack");
    EXPECT(sender && broker_client_publish(sender, T_CMD, ack, 1, false) == 0, "send ack again");
    EXPECT(sender && broker_client_publish(sender, T_CMD, arm, 1, false) == 0, "send arm");
    EXPECT(pop_command(&f.inputs, &in, WAIT_MS), "no input for the ack");
    EXPECT(in.type == CORE_IN_CMD && in.u.cmd.op == CORE_CMD_ACK && in.mono_ms == 0 && in.wall_ms == 0,
           "wrong input type %d op %d, or stamped outside the core thread", in.type, in.u.cmd.op);
    EXPECT_STR(in.u.cmd.id, "c-1");
    EXPECT_STR(in.u.cmd.target, "store1-door.intrusion");
    EXPECT_STR(in.u.cmd.operator_name, "jsmith");
    EXPECT(pop_command(&f.inputs, &in, WAIT_MS), "no input for the arm");
    EXPECT_STR(in.u.cmd.id, "c-2");
    broker_client_free(results);
    broker_client_free(sender);
    fixture_stop(&f);
}

/* An empty retained payload removes an alarm topic: a new subscriber no longer gets it. */
static void empty_retained_clears_alarm_topic(void)
{
    struct fixture f;
    struct broker_client *live, *fresh = NULL, *marker;
    int cleared = -1, mark = -1;

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    live = broker_client_new(&f.b, NULL, "vigil/depot-7/alarms/#");
    f.pub = start_pub(&f);
    EXPECT(pub_publish(f.pub, "alarms/door.intrusion", "{\"state\":\"active_unacked\"}", 26, 1, true) == 0, "set");
    EXPECT(pub_publish(f.pub, "alarms/door.intrusion", NULL, 0, 1, true) == 0, "clear");
    cleared = live ? broker_client_find(live, 0, "vigil/depot-7/alarms/door.intrusion", "", WAIT_MS) : -1;
    if (cleared >= 0)
        cleared = broker_client_find(live, (size_t)cleared + 1, "vigil/depot-7/alarms/door.intrusion", "", WAIT_MS);
    EXPECT(cleared >= 0 && broker_client_msg(live, (size_t)cleared)->len == 0, "the empty payload did not arrive");
    /* Retained messages reach a new subscriber before anything published after it subscribed. */
    fresh = broker_client_new(&f.b, NULL, "vigil/depot-7/alarms/#");
    marker = broker_client_new(&f.b, NULL, NULL);
    EXPECT(fresh && marker && broker_client_publish(marker, "vigil/depot-7/alarms/marker", "m", 1, false) == 0,
           "marker not sent");
    mark = fresh ? broker_client_find(fresh, 0, "vigil/depot-7/alarms/marker", "m", WAIT_MS) : -1;
    EXPECT(mark >= 0, "marker not received");
    for (int i = 0; i < mark; i++)
        EXPECT(strcmp(broker_client_msg(fresh, (size_t)i)->topic, "vigil/depot-7/alarms/door.intrusion") != 0,
               "cleared alarm still retained: %s", broker_client_msg(fresh, (size_t)i)->payload);
    broker_client_free(live);
    broker_client_free(fresh);
    broker_client_free(marker);
    fixture_stop(&f);
}

/* The broker goes away: 100 events are buffered, and all arrive in order once it is back. */
static void buffered_while_broker_down(void)
{
    struct fixture f;
    struct broker_client *station;
    size_t before;

    if (fixture_start(&f, true) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    station = broker_client_new(&f.b, "station-1", T_EVENTS);
    f.pub = start_pub(&f);
    EXPECT(f.pub && wait_connected(f.pub, true), "never connected");
    publish_seqs(f.pub, 1, 5);
    if (station)
        expect_seqs(station, 0, 1, 5);
    before = station ? broker_client_wait(station, 0, 0) : 0;
    broker_pause(&f.b);
    EXPECT(f.pub && wait_connected(f.pub, false), "publisher did not notice the broker went away");
    publish_seqs(f.pub, 6, 100);
    EXPECT(broker_resume(&f.b) == 0, "broker did not come back on port %d", f.b.port);
    if (station)
        expect_seqs(station, before, 6, 100);
    broker_client_free(station);
    fixture_stop(&f);
}

/* Events buffered by a process that stops before the broker is back are sent by the next process. */
static void buffered_messages_survive_restart(void)
{
    struct fixture f;
    struct broker_client *station;
    struct pub_stats st;
    uint64_t deadline;

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    broker_pause(&f.b);
    f.pub = start_pub(&f);
    publish_seqs(f.pub, 1, 50);
    pub_get_stats(f.pub, &st);
    EXPECT(!st.connected[0] && st.pending == 50, "connected %d pending %llu", st.connected[0],
           (unsigned long long)st.pending);
    pub_stop(f.pub);
    f.pub = NULL;
    EXPECT(broker_resume(&f.b) == 0, "broker did not start");
    station = broker_client_new(&f.b, NULL, T_EVENTS);
    f.pub = start_pub(&f);
    if (station)
        expect_seqs(station, 0, 1, 50);
    /* Restored messages are only visible through the delivery-complete callback. */
    deadline = clock_mono_ms() + WAIT_MS;
    do
        pub_get_stats(f.pub, &st);
    while (st.delivered < 50 && clock_mono_ms() < deadline);
    EXPECT(st.delivered >= 50, "delivered %llu", (unsigned long long)st.delivered);
    broker_client_free(station);
    fixture_stop(&f);
}

/*
 * A full store overflows into memory in order; only when that is full too
 * is a message refused, and never an older one dropped. A refusal makes the
 * publisher non-durable, so the caller keeps the journal covering it.
 */
static void full_buffer_refuses(void)
{
    struct fixture f;
    struct pub_stats st;
    char payload[] = "{\"seq\":0}";
    int total = 100 + PUB_OVERFLOW_MSGS;

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    broker_pause(&f.b);
    f.site.mqtt.max_buffered = 100;
    f.pub = start_pub(&f);
    for (int i = 0; i < total; i++)
        EXPECT(pub_publish(f.pub, "events", payload, strlen(payload), 1, false) == 0, "message %d refused", i);
    EXPECT(!pub_durable(f.pub), "messages in memory only, yet durable");
    EXPECT(pub_publish(f.pub, "events", payload, strlen(payload), 1, false) == -1, "message %d accepted", total + 1);
    pub_get_stats(f.pub, &st);
    EXPECT(st.refused == 1 && st.pending == (uint64_t)total && st.overflow == PUB_OVERFLOW_MSGS,
           "refused %llu pending %llu overflow %llu", (unsigned long long)st.refused,
           (unsigned long long)st.pending, (unsigned long long)st.overflow);
    fixture_stop(&f);
}

/*
 * Near the bound the publisher raises spool_full, naming the fill level; the
 * messages beyond the store wait in memory, and once the broker is back all
 * of them arrive in order and the alarm clears.
 */
static void spool_full_raised_and_nothing_lost(void)
{
    struct fixture f;
    struct broker_client *station;
    char text[CORE_ERROR_MAX] = "";

    if (fixture_start(&f, true) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    station = broker_client_new(&f.b, "station-1", T_EVENTS);
    f.site.mqtt.max_buffered = 100;
    f.pub = start_pub(&f);
    EXPECT(f.pub && wait_connected(f.pub, true), "never connected");
    EXPECT(wait_system(&f.inputs, CORE_SYS_SPOOL_FULL, false, text, sizeof(text)), "no initial spool state");
    broker_pause(&f.b);
    EXPECT(f.pub && wait_connected(f.pub, false), "publisher did not notice the broker went away");
    publish_seqs(f.pub, 1, 150);
    EXPECT(wait_system(&f.inputs, CORE_SYS_SPOOL_FULL, true, text, sizeof(text)), "no spool_full");
    EXPECT(strstr(text, "MQTT spool at ") && strstr(text, "% of 100 messages on path 1"), "text: %s", text);
    EXPECT(broker_resume(&f.b) == 0, "broker did not come back on port %d", f.b.port);
    if (station)
        expect_seqs(station, 0, 1, 150);
    EXPECT(wait_system(&f.inputs, CORE_SYS_SPOOL_FULL, false, text, sizeof(text)), "spool_full not cleared");
    EXPECT(wait_settled(f.pub) && pub_durable(f.pub), "not settled and durable after delivery");
    broker_client_free(station);
    fixture_stop(&f);
}

/* A store on a nearly full file system raises spool_full naming the disk: paho would keep messages in memory only. */
static void low_disk_raises_spool_full(void)
{
    struct fixture f;
    char text[CORE_ERROR_MAX] = "";

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    f.min_free_bytes = UINT64_MAX / 4; /* no file system has that much free */
    f.pub = start_pub(&f);
    EXPECT(wait_system(&f.inputs, CORE_SYS_SPOOL_FULL, true, text, sizeof(text)), "no spool_full");
    EXPECT(strstr(text, "disk nearly full") && strstr(text, "path 1"), "text: %s", text);
    EXPECT(!pub_durable(f.pub), "durable on a full disk");
    fixture_stop(&f);
}

/*
 * A store that cannot be written (here: files limited to 16 bytes, as on a
 * full disk every write fails) raises spool_full naming it, and events
 * still reach the station from memory, in order. paho's own store would
 * have written empty files and crashed. Once writes work again the alarm
 * clears and, everything acknowledged, the publisher is durable again.
 */
static void store_write_failure_keeps_delivering(void)
{
    struct fixture f;
    struct broker_client *station;
    struct rlimit saved, tiny = { 16, 16 };
    char text[CORE_ERROR_MAX] = "";

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    station = broker_client_new(&f.b, NULL, T_EVENTS);
    f.pub = start_pub(&f);
    EXPECT(station && f.pub && wait_connected(f.pub, true), "not connected");
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &saved);
    tiny.rlim_max = saved.rlim_max;
    EXPECT(setrlimit(RLIMIT_FSIZE, &tiny) == 0, "setrlimit");
    if (station && f.pub) {
        publish_seqs(f.pub, 1, 20);
        expect_seqs(station, 0, 1, 20);
    }
    EXPECT(wait_system(&f.inputs, CORE_SYS_SPOOL_FULL, true, text, sizeof(text)), "no spool_full");
    EXPECT(strstr(text, "cannot be written (File too large)") && strstr(text, "path 1"), "text: %s", text);
    EXPECT(f.pub && !pub_durable(f.pub), "durable although nothing could be stored");
    setrlimit(RLIMIT_FSIZE, &saved);
    EXPECT(wait_system(&f.inputs, CORE_SYS_SPOOL_FULL, false, text, sizeof(text)), "spool_full not cleared");
    EXPECT(f.pub && wait_settled(f.pub) && wait_durable(f.pub), "not durable once the store works");
    broker_client_free(station);
    fixture_stop(&f);
}

/*
 * A message file paho would crash reading back (len bytes of content, in
 * the path's store as c-1) is removed at start, and the path still works.
 */
static void expect_swept(const void *content, size_t len, const char *what)
{
    struct fixture f;
    struct broker_client *station;
    char dir[1024], file[1100];
    struct stat sb;
    FILE *fp;

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    snprintf(dir, sizeof(dir), "%s/mqtt-1", f.state_dir);
    mkdir(dir, 0700);
    snprintf(dir, sizeof(dir), "%s/mqtt-1/vigil-depot-7-127.0.0.1-%d", f.state_dir, f.b.port);
    mkdir(dir, 0700);
    snprintf(file, sizeof(file), "%s/c-1.msg", dir);
    fp = fopen(file, "w");
    EXPECT(fp && (len == 0 || fwrite(content, len, 1, fp) == 1) && fclose(fp) == 0, "cannot write %s", file);
    station = broker_client_new(&f.b, NULL, T_EVENTS);
    f.pub = start_pub(&f);
    EXPECT(stat(file, &sb) < 0 && errno == ENOENT, "%s %s still there", what, file);
    if (station && f.pub) {
        publish_seqs(f.pub, 1, 3);
        expect_seqs(station, 0, 1, 3);
    }
    broker_client_free(station);
    fixture_stop(&f);
}

/* An empty message file (a failed write of paho's own store). */
static void empty_store_files_swept(void)
{
    expect_swept("", 0, "empty");
}

/*
 * The store keeps publishes only. paho stores every command it queues, and
 * 1.3.12 cannot read a stored UNSUBSCRIBE back: it then crashes on a NULL
 * command in its send thread, at every start while the file is there (seen
 * in it_crash.sh once the path's client unsubscribed on connect). Buffers
 * as paho's MQTTAsync_persistCommand() lays them out: type, token, then the
 * command's fields.
 */
static void store_keeps_publishes_only(void)
{
    struct pub_path path = {.n = 1};
    MQTTClient_persistence ps;
    void *h = NULL;
    char file[1200] = "", topic[] = T_CMD, **keys = NULL;
    int unsub[3] = {10 /* UNSUBSCRIBE */, 7 /* token */, 1 /* topics */}, publish[2] = {3 /* PUBLISH */, 8};
    char *ubufs[4] = {(char *)&unsub[0], (char *)&unsub[1], (char *)&unsub[2], topic};
    int ulens[4] = {sizeof(int), sizeof(int), sizeof(int), (int)sizeof(topic)};
    char *pbufs[3] = {(char *)&publish[0], (char *)&publish[1], topic};
    int plens[3] = {sizeof(int), sizeof(int), (int)sizeof(topic)}, nkeys = -1;
    struct stat sb;

    /* The store allocates what it hands paho with paho's allocator. */
    if (tp_mkdtemp(path.store, sizeof(path.store), "vigil-store") < 0 || pahoload(false, file, sizeof(file)) < 0) {
        EXPECT(0, "no temporary directory or no paho: %s", file);
        return;
    }
    ps = mqtt_store_persistence(&path);
    EXPECT(ps.popen(&h, "vigil-depot-7", "tcp://127.0.0.1:1883", ps.context) == 0, "store does not open");
    EXPECT(ps.pput(h, "c-1", 4, ubufs, ulens) == 0, "an UNSUBSCRIBE is refused rather than left unstored");
    EXPECT(ps.pput(h, "c-2", 3, pbufs, plens) == 0, "a publish is not stored");
    snprintf(file, sizeof(file), "%s/vigil-depot-7-tcp---127.0.0.1-1883/c-1.msg", path.store);
    EXPECT(stat(file, &sb) < 0 && errno == ENOENT, "the UNSUBSCRIBE was stored as %s", file);
    EXPECT(ps.pkeys(h, &keys, &nkeys) == 0 && nkeys == 1 && strcmp(keys[0], "c-2") == 0,
           "the store should hold the publish c-2 only (%d keys)", nkeys);
    for (int i = 0; i < nkeys; i++)
        paho()->free(keys[i]);
    paho()->free(keys);
    EXPECT(ps.premove(h, "c-1") == 0, "paho's removal of the unstored UNSUBSCRIBE fails");
    EXPECT(ps.premove(h, "c-2") == 0, "the publish cannot be removed");
    ps.pclose(h);
    EXPECT(rmdir(path.store) == 0, "%s not left empty", path.store);
}

/* A stored UNSUBSCRIBE (see above), as an earlier build could leave it: paho would crash at every start. */
static void stored_unsubscribe_swept(void)
{
    int head[3] = {10 /* UNSUBSCRIBE */, 7 /* token */, 1 /* topics */};
    char content[sizeof(head) + sizeof(T_CMD)];

    memcpy(content, head, sizeof(head));
    memcpy(content + sizeof(head), T_CMD, sizeof(T_CMD));
    expect_swept(content, sizeof(content), "stored UNSUBSCRIBE");
}

/* Both mode, broker 1 goes away: broker 2 keeps getting everything, path_fault follows, broker 1 catches up in order. */
static void both_mode_survives_primary_loss(void)
{
    struct fixture f;
    struct broker_client *st1 = NULL, *st2 = NULL;
    char text[CORE_ERROR_MAX] = "";
    size_t before1;

    if (fixture_start(&f, true) < 0 || fixture_add_secondary(&f, CFG_MQTT_BOTH) < 0) {
        EXPECT(0, "no brokers");
        fixture_stop(&f);
        return;
    }
    st1 = broker_client_new(&f.b, "station-1", T_EVENTS);
    st2 = broker_client_new(&f.b2, "station-2", T_EVENTS);
    f.pub = start_pub(&f);
    EXPECT(st1 && st2 && f.pub && wait_path(f.pub, 0, true) && wait_path(f.pub, 1, true), "not connected");
    EXPECT(wait_system(&f.inputs, CORE_SYS_PATH_FAULT, false, text, sizeof(text)), "no initial path state");
    publish_seqs(f.pub, 1, 5);
    if (st1 && st2) {
        expect_seqs(st1, 0, 1, 5);
        expect_seqs(st2, 0, 1, 5);
    }
    before1 = st1 ? broker_client_wait(st1, 0, 0) : 0;
    broker_pause(&f.b);
    EXPECT(wait_path(f.pub, 0, false), "publisher did not notice broker 1 went away");
    publish_seqs(f.pub, 6, 10);
    if (st2)
        expect_seqs(st2, 5, 6, 10);
    EXPECT(wait_system(&f.inputs, CORE_SYS_PATH_FAULT, true, text, sizeof(text)), "no path_fault");
    EXPECT(strstr(text, "path 1 ") && strstr(text, f.b.uri) && strstr(text, "down since"), "text: %s", text);
    EXPECT(!strstr(text, "path 2"), "path 2 named: %s", text);
    EXPECT(broker_resume(&f.b) == 0, "broker 1 did not come back");
    if (st1)
        expect_seqs(st1, before1, 6, 10);
    EXPECT(wait_system(&f.inputs, CORE_SYS_PATH_FAULT, false, text, sizeof(text)), "path_fault not cleared");
    broker_client_free(st1);
    broker_client_free(st2);
    fixture_stop(&f);
}

/*
 * Waits until a marker published on b arrives at station, and says whether
 * any event came before it: everything the publisher had handed to b is
 * acknowledged by then, so the broker delivers it ahead of the marker.
 */
static bool events_before_marker(const struct broker *b, struct broker_client *station)
{
    struct broker_client *marker = broker_client_new(b, NULL, NULL);
    int at = -1;

    if (marker && broker_client_publish(marker, T_EVENTS, "marker", 1, false) == 0)
        at = broker_client_find(station, 0, T_EVENTS, "marker", WAIT_MS);
    broker_client_free(marker);
    EXPECT(at >= 0, "marker not received");
    return at != 0;
}

/* Failover mode: the secondary gets nothing while the primary is up, and everything once it is down. */
static void failover_mode_uses_secondary_when_primary_down(void)
{
    struct fixture f;
    struct broker_client *st1 = NULL, *st2 = NULL;

    if (fixture_start(&f, true) < 0 || fixture_add_secondary(&f, CFG_MQTT_FAILOVER) < 0) {
        EXPECT(0, "no brokers");
        fixture_stop(&f);
        return;
    }
    st1 = broker_client_new(&f.b, "station-1", T_EVENTS);
    st2 = broker_client_new(&f.b2, "station-2", T_EVENTS);
    f.pub = start_pub(&f);
    EXPECT(st1 && st2 && f.pub && wait_path(f.pub, 0, true) && wait_path(f.pub, 1, true), "not connected");
    publish_seqs(f.pub, 1, 5);
    if (st1 && st2) {
        expect_seqs(st1, 0, 1, 5);
        EXPECT(wait_settled(f.pub), "not acknowledged");
        EXPECT(!events_before_marker(&f.b2, st2), "the secondary got events while the primary was up");
    }
    broker_pause(&f.b);
    EXPECT(wait_path(f.pub, 0, false), "publisher did not notice the primary went away");
    publish_seqs(f.pub, 6, 10);
    if (st2)
        expect_seqs(st2, 1, 6, 10);
    EXPECT(broker_resume(&f.b) == 0, "the primary did not come back");
    if (st1)
        expect_seqs(st1, 5, 6, 10);
    broker_client_free(st1);
    broker_client_free(st2);
    fixture_stop(&f);
}

/* Sends cmd until a result containing needle comes back; its index or -1. */
static int await_result(struct broker_client *sender, struct broker_client *results, const char *cmd,
                        const char *needle)
{
    EXPECT(broker_client_publish(sender, T_CMD, cmd, 1, false) == 0, "send %s", cmd);
    return broker_client_find(results, 0, T_RESULT, needle, WAIT_MS);
}

/* A command whose ts is older than cmd_max_age_s is refused; a fresh one reaches the core. */
static void stale_command_refused(void)
{
    struct fixture f;
    struct broker_client *results, *sender;
    struct core_input in;
    char old_ts[MSG_TS_LEN + 1], now_ts[MSG_TS_LEN + 1], cmd[256], want[160];
    int i;

    if (fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        return;
    }
    results = broker_client_new(&f.b, NULL, T_RESULT);
    sender = broker_client_new(&f.b, NULL, NULL);
    f.pub = start_pub(&f);
    EXPECT(results && sender && await_rejection(sender, results, "{\"id\":\"probe\"}", "probe") >= 0,
           "publisher never subscribed to commands");
    msg_ts(clock_wall_ms() - 3600 * 1000, old_ts);
    snprintf(cmd, sizeof(cmd), "{\"id\":\"c-old\",\"op\":\"disarm\",\"zone\":\"store1\",\"operator\":\"jsmith\","
             "\"ts\":\"%s\"}", old_ts);
    snprintf(want, sizeof(want), "\"error\":\"command expired: issued at %s, older than 120 s\"", old_ts);
    i = results && sender ? await_result(sender, results, cmd, "\"id\":\"c-old\"") : -1;
    EXPECT(i >= 0 && strstr(broker_client_msg(results, (size_t)i)->payload, "\"op\":\"disarm\",\"ok\":false") &&
           strstr(broker_client_msg(results, (size_t)i)->payload, want),
           "result: %s", i >= 0 ? broker_client_msg(results, (size_t)i)->payload : "none");
    msg_ts(clock_wall_ms(), now_ts);
    snprintf(cmd, sizeof(cmd), "{\"id\":\"c-new\",\"op\":\"disarm\",\"zone\":\"store1\",\"operator\":\"jsmith\","
             "\"ts\":\"%s\"}", now_ts);
    EXPECT(sender && broker_client_publish(sender, T_CMD, cmd, 1, false) == 0, "send fresh command");
    EXPECT(pop_command(&f.inputs, &in, WAIT_MS), "the fresh command did not reach the core's queue");
    EXPECT_STR(in.u.cmd.id, "c-new");
    broker_client_free(results);
    broker_client_free(sender);
    fixture_stop(&f);
}

/*
 * The pub copies what it needs: the site it was started with can be freed
 * (a reload does) while it runs, and pub_config_differs() names what a
 * reload would have changed.
 */
static void survives_site_freed_and_reports_changes(void)
{
    struct fixture f;
    struct cfg_site *site = malloc(sizeof(*site)), other;
    struct broker_client *station;
    struct pub_options o;
    char err[512] = "", what[64] = "";

    if (!site || fixture_start(&f, false) < 0) {
        EXPECT(0, "no broker");
        free(site);
        return;
    }
    *site = f.site;
    o = (struct pub_options){ .site = site, .state_dir = f.state_dir, .version = "test", .inputs = &f.inputs,
                              .gate = f.gate };
    station = broker_client_new(&f.b, NULL, T_EVENTS);
    f.pub = pub_start(&o, err, sizeof(err));
    memset(site, 0xa5, sizeof(*site));
    free(site);
    EXPECT(f.pub != NULL, "pub_start: %s", err);
    if (f.pub && station) {
        publish_seqs(f.pub, 1, 3);
        expect_seqs(station, 0, 1, 3);
        EXPECT(!pub_config_differs(f.pub, &f.site, what, sizeof(what)), "same config differs at %s", what);
        other = f.site;
        other.mqtt.brokers[0].keepalive_s = 30;
        EXPECT(pub_config_differs(f.pub, &other, what, sizeof(what)), "keepalive change not seen");
        EXPECT_STR(what, "brokers[1].keepalive_s");
        other = f.site;
        other.mqtt.mode = CFG_MQTT_FAILOVER;
        EXPECT(pub_config_differs(f.pub, &other, what, sizeof(what)), "mode change not seen");
        EXPECT_STR(what, "mode");
    }
    broker_client_free(station);
    fixture_stop(&f);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--pub-child") == 0)
        return pub_child(argv);
    /* A subscriber that dies must not take the test program with it. */
    signal(SIGPIPE, SIG_IGN);
    RUN(events_arrive_in_order_at_qos1);
    RUN(status_online_then_offline_retained);
    RUN(heartbeat_refreshes_status);
    RUN(will_sent_when_process_dies);
    RUN(malformed_command_answered);
    RUN(oversized_command_answered);
    RUN(command_reaches_core_queue_once);
    RUN(empty_retained_clears_alarm_topic);
    RUN(buffered_while_broker_down);
    RUN(buffered_messages_survive_restart);
    RUN(full_buffer_refuses);
    RUN(spool_full_raised_and_nothing_lost);
    RUN(low_disk_raises_spool_full);
    RUN(store_write_failure_keeps_delivering);
    RUN(empty_store_files_swept);
    RUN(store_keeps_publishes_only);
    RUN(stored_unsubscribe_swept);
    RUN(both_mode_survives_primary_loss);
    RUN(failover_mode_uses_secondary_when_primary_down);
    RUN(stale_command_refused);
    RUN(survives_site_freed_and_reports_changes);
    HARNESS_EXIT();
}
