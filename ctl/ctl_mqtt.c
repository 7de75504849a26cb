/*
 * ctl_mqtt.c - the station-side MQTT subscriber of vigilctl (see ctl_mqtt.h).
 *
 * Every paho callback here does one thing: copy what it learnt into the
 * queue. A full queue blocks paho's thread, which holds back the broker
 * instead of dropping a message the broker counts as delivered.
 */
#include "ctl_mqtt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIAGNOSE_MS 3000           /* bound on each step of a TLS diagnosis */

/* Pushes a message-less item from a paho thread. */
static void push_notice(struct ctl_mqtt *m, enum ctl_mqtt_kind kind, const char *text)
{
    struct ctl_mqtt_item it = {.kind = kind};

    snprintf(it.payload, sizeof(it.payload), "%s", text ? text : "");
    queue_push(&m->q, &it);
}

/* What a paho failure callback says, for an item. */
static const char *failure_text(const MQTTAsync_failureData *resp)
{
    if (resp && resp->message)
        return resp->message;
    return MQTTAsync_strerror(resp ? resp->code : MQTTASYNC_FAILURE);
}

/* paho's messageArrived: copies the message (as much as fits) for the caller's thread. */
static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct ctl_mqtt *m = ctx;
    struct ctl_mqtt_item it = {.kind = CTL_MQTT_MESSAGE, .retained = msg->retained, .len = (size_t)msg->payloadlen};

    (void)topic_len;
    if (!m->o.retained_only || (msg->retained && msg->payloadlen > 0)) {
        snprintf(it.topic, sizeof(it.topic), "%s", topic);
        memcpy(it.payload, msg->payload, it.len < sizeof(it.payload) ? it.len : sizeof(it.payload));
        queue_push(&m->q, &it);
    }
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

/*
 * A subscription can be "granted" with 0x80, which is a refusal (an ACL).
 * paho reports one filter's grant in alt.qos and several in alt.qosList.
 */
static void on_subscribed(void *ctx, MQTTAsync_successData *resp)
{
    struct ctl_mqtt *m = ctx;
    int n = m->o.n_filters;

    for (int i = 0; resp && i < n; i++)
        if ((n == 1 && resp->alt.qos == 0x80) || (n > 1 && resp->alt.qosList && resp->alt.qosList[i] == 0x80)) {
            push_notice(m, CTL_MQTT_SUBSCRIBE_FAILED, n == 1 ? "the broker refused the subscription (ACL?)"
                                                             : "the broker refused a subscription (ACL?)");
            return;
        }
    push_notice(m, CTL_MQTT_SUBSCRIBED, NULL);
}

static void on_subscribe_failed(void *ctx, MQTTAsync_failureData *resp)
{
    push_notice(ctx, CTL_MQTT_SUBSCRIBE_FAILED, failure_text(resp));
}

/* Every (re)connect: subscribe again, the broker may have lost the session. */
static void on_connected(void *ctx, char *cause)
{
    struct ctl_mqtt *m = ctx;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    char *filters[CTL_MQTT_FILTERS_MAX];
    int qos[CTL_MQTT_FILTERS_MAX], rc;

    (void)cause;
    for (int i = 0; i < m->o.n_filters; i++) {
        filters[i] = (char *)m->o.filters[i];
        qos[i] = m->o.qos;
    }
    push_notice(m, CTL_MQTT_CONNECTED, NULL);
    ro.onSuccess = on_subscribed;
    ro.onFailure = on_subscribe_failed;
    ro.context = m;
    rc = MQTTAsync_subscribeMany(m->client, m->o.n_filters, filters, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        struct ctl_mqtt_item it = {.kind = CTL_MQTT_SUBSCRIBE_FAILED, .refused_locally = true};

        snprintf(it.payload, sizeof(it.payload), "%s", MQTTAsync_strerror(rc));
        queue_push(&m->q, &it);
    }
}

static void on_lost(void *ctx, char *cause)
{
    push_notice(ctx, CTL_MQTT_LOST, cause ? cause : "connection lost");
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    push_notice(ctx, CTL_MQTT_CONNECT_FAILED, failure_text(resp));
}

static void on_disconnected(void *ctx, MQTTAsync_successData *resp)
{
    (void)resp;
    push_notice(ctx, CTL_MQTT_DISCONNECTED, NULL);
}

static void on_disconnect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    (void)resp;
    push_notice(ctx, CTL_MQTT_DISCONNECTED, NULL);
}

int ctl_mqtt_init(struct ctl_mqtt *m, size_t queue_cap)
{
    m->client = NULL;
    return queue_init(&m->q, sizeof(struct ctl_mqtt_item), queue_cap);
}

/* The connect options o asks for; paho copies what it keeps. */
static void connect_options(const struct ctl_mqtt_opts *o, MQTTAsync_connectOptions *c)
{
    c->cleansession = !o->persistent;
    c->MQTTVersion = MQTTVERSION_3_1_1;
    c->keepAliveInterval = 10;
    if (o->reconnect_max_s) {
        c->automaticReconnect = 1;
        c->minRetryInterval = 1;
        c->maxRetryInterval = o->reconnect_max_s;
    }
    if (o->connect_timeout_s)
        c->connectTimeout = o->connect_timeout_s;
    c->username = o->username;
    c->password = o->password;
    c->onFailure = on_connect_failed;
}

int ctl_mqtt_auth_option(struct ctl_mqtt_auth *a, int c, const char *arg)
{
    switch (c) {
    case CTL_OPT_USERNAME: a->username = arg; return 1;
    case CTL_OPT_PASSWORD_FILE: a->password_file = arg; return 1;
    case CTL_OPT_CA: a->tls.ca_file = arg; break;
    case CTL_OPT_CA_DIR: a->tls.ca_dir = arg; break;
    case CTL_OPT_CERT: a->tls.cert_file = arg; break;
    case CTL_OPT_KEY: a->tls.key_file = arg; break;
    case CTL_OPT_TLS_VERSION:
        /* mqtt_tls.h: 1.2 is the floor paho's OpenSSL keeps; nothing else can be asked for */
        if (strcmp(arg, "tls1.2") != 0) {
            fprintf(stderr, "vigilctl: --tls-version \"%s\" is not supported; expected tls1.2 (the minimum; "
                    "a broker that offers TLS 1.3 gets it)\n", arg);
            return -1;
        }
        break;
    default: return 0;
    }
    a->tls_given = true;
    return 1;
}

/* Reads the first line of the password file, which only its owner may read. */
static int read_password(struct ctl_mqtt_auth *a)
{
    struct stat st;
    int fd = open(a->password_file, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "vigilctl: cannot read --password-file %s: %s\n", a->password_file, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    n = (st.st_mode & 077) ? 0 : read(fd, a->password, sizeof(a->password) - 1);
    close(fd);
    if (st.st_mode & 077) {
        fprintf(stderr, "vigilctl: --password-file %s can be read by group or others; make it private: chmod 600 %s\n",
                a->password_file, a->password_file);
        return -1;
    }
    a->password[n > 0 ? n : 0] = '\0';
    a->password[strcspn(a->password, "\r\n")] = '\0';
    return 0;
}

int ctl_mqtt_auth_ready(struct ctl_mqtt_auth *a, const char *broker)
{
    bool tls = mqtt_tls_uri(broker);

    if (tls && !a->tls.ca_file && !a->tls.ca_dir) {
        fprintf(stderr, "vigilctl: broker %s is TLS and needs --ca FILE (or --ca-dir DIR): the CA that signed "
                "the broker's certificate\n", broker);
        return -1;
    }
    if (!tls && a->tls_given) {
        fprintf(stderr, "vigilctl: broker %s is not TLS; use an ssl:// or mqtts:// URI with --ca, --cert, --key\n",
                broker);
        return -1;
    }
    if (!a->tls.cert_file != !a->tls.key_file) {
        fprintf(stderr, "vigilctl: --cert and --key go together: the client certificate and its key\n");
        return -1;
    }
    if (a->password_file && !a->username) {
        fprintf(stderr, "vigilctl: --password-file needs --username\n");
        return -1;
    }
    a->tls.verify_hostname = true;
    return a->password_file ? read_password(a) : 0;
}

void ctl_mqtt_auth_apply(const struct ctl_mqtt_auth *a, struct ctl_mqtt_opts *o)
{
    o->username = a->username;
    o->password = a->password[0] ? a->password : NULL;
    o->tls = &a->tls;
}

const char *ctl_mqtt_failure(const struct ctl_mqtt *m, const char *paho_text, char *buf, size_t cap)
{
    char why[MQTT_TLS_WHY_MAX];

    if (!m->o.tls || !mqtt_tls_uri(m->o.broker) ||
        mqtt_tls_diagnose(m->o.broker, m->o.tls, DIAGNOSE_MS, why, sizeof(why)) != 1)
        return paho_text;
    snprintf(buf, cap, "%s; TLS: %s", paho_text, why);
    return buf;
}

int ctl_mqtt_connect(struct ctl_mqtt *m, const struct ctl_mqtt_opts *o, char *err, size_t errlen)
{
    MQTTAsync_connectOptions c = MQTTAsync_connectOptions_initializer;
    MQTTAsync_SSLOptions ssl;
    int rc;

    m->o = *o;
    rc = MQTTAsync_create(&m->client, o->broker, o->client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "%s", MQTTAsync_strerror(rc));
        m->client = NULL;
        return CTL_MQTT_ECREATE;
    }
    rc = MQTTAsync_setCallbacks(m->client, m, on_lost, on_message, NULL);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setConnected(m->client, m, on_connected);
    connect_options(o, &c);
    c.context = m;
    if (o->tls && mqtt_tls_uri(o->broker)) {
        mqtt_tls_options(o->tls, &ssl);
        c.ssl = &ssl;
    }
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_connect(m->client, &c);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "%s", MQTTAsync_strerror(rc));
        return CTL_MQTT_ECONNECT;
    }
    return 0;
}

int ctl_mqtt_publish(struct ctl_mqtt *m, const char *topic, const char *payload, size_t len, char *err,
                     size_t errlen)
{
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    int rc;

    msg.payload = (void *)payload;
    msg.payloadlen = (int)len;
    msg.qos = 1;
    rc = MQTTAsync_sendMessage(m->client, topic, &msg, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "publish %s: %s", topic, MQTTAsync_strerror(rc));
        return -1;
    }
    return 0;
}

int ctl_mqtt_next(struct ctl_mqtt *m, struct ctl_mqtt_item *it, int timeout_ms)
{
    return queue_pop(&m->q, it, timeout_ms);
}

size_t ctl_mqtt_pending(struct ctl_mqtt *m)
{
    return queue_length(&m->q);
}

int ctl_mqtt_disconnect(struct ctl_mqtt *m)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;

    d.timeout = 1000;
    d.onSuccess = on_disconnected;
    d.onFailure = on_disconnect_failed;
    d.context = m;
    return m->client && MQTTAsync_disconnect(m->client, &d) == MQTTASYNC_SUCCESS ? 0 : -1;
}

void ctl_mqtt_close(struct ctl_mqtt *m)
{
    queue_close(&m->q);
}

void ctl_mqtt_destroy(struct ctl_mqtt *m)
{
    if (m->client)
        MQTTAsync_destroy(&m->client);
    queue_destroy(&m->q);
}
