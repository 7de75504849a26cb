/*
 * mqtt_tls.c - TLS settings for paho, and the diagnosis of a refused TLS
 * connect with OpenSSL, called through sslload.h (see mqtt_tls.h).
 */
#include "mqtt_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sslload.h"

#define HOST_MAX 256

static const struct { const char *scheme, *port; } tls_schemes[] = {
    { "ssl://", "8883" }, { "mqtts://", "8883" }, { "wss://", "443" },
};

/* The scheme's default port, or NULL if uri is not TLS. */
static const char *tls_default_port(const char *uri)
{
    for (size_t i = 0; i < sizeof(tls_schemes) / sizeof(tls_schemes[0]); i++)
        if (strncmp(uri, tls_schemes[i].scheme, strlen(tls_schemes[i].scheme)) == 0)
            return tls_schemes[i].port;
    return NULL;
}

bool mqtt_tls_uri(const char *uri)
{
    return tls_default_port(uri) != NULL;
}

struct mqtt_tls mqtt_tls_of_broker(const struct cfg_broker *b)
{
    return (struct mqtt_tls){ .ca_file = b->ca_file, .ca_dir = b->ca_dir, .cert_file = b->cert_file,
                              .key_file = b->key_file, .verify_hostname = b->verify_hostname };
}

static const char *or_null(const char *s)
{
    return s && s[0] ? s : NULL;
}

void mqtt_tls_options(const struct mqtt_tls *t, MQTTAsync_SSLOptions *ssl)
{
    MQTTAsync_SSLOptions init = MQTTAsync_SSLOptions_initializer;

    *ssl = init;
    ssl->trustStore = or_null(t->ca_file);
    ssl->CApath = or_null(t->ca_dir);
    ssl->keyStore = or_null(t->cert_file);
    ssl->privateKey = or_null(t->key_file);
    ssl->enableServerCertAuth = 1;
    ssl->verify = t->verify_hostname;
    ssl->sslVersion = MQTT_SSL_VERSION_TLS_1_2;
    /* Only the configured CA vouches for the broker: any public CA would otherwise do. */
    ssl->disableDefaultTrustStore = 1;
}

/* Splits a TLS uri into host (brackets of an IPv6 literal removed) and port. */
static int split_uri(const char *uri, char *host, char *port, size_t cap)
{
    const char *h = strstr(uri, "://") + 3, *end, *colon;

    if (*h == '[') {
        end = strchr(++h, ']');
        if (!end)
            return -1;
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        end = h + strcspn(h, ":/");
        colon = *end == ':' ? end : NULL;
    }
    if (end == h || (size_t)(end - h) >= cap)
        return -1;
    snprintf(host, cap, "%.*s", (int)(end - h), h);
    if (colon)
        snprintf(port, cap, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    else
        snprintf(port, cap, "%s", tls_default_port(uri));
    return 0;
}

/* Connects a TCP socket within timeout_ms; reads and writes then time out after it too. */
static int tcp_connect(const char *host, const char *port, int timeout_ms, char *why, size_t cap)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    int rc = getaddrinfo(host, port, &hints, &res), fd = -1, err = 0;

    if (rc != 0) {
        snprintf(why, cap, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        struct pollfd pfd = { .events = POLLOUT };
        socklen_t len = sizeof(err);

        fd = pfd.fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        err = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
        if (err == EINPROGRESS)
            err = poll(&pfd, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0
                      ? err : ETIMEDOUT;
        if (err) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(why, cap, "cannot connect to %s port %s: %s", host, port, strerror(err ? err : EHOSTUNREACH));
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

/* OpenSSL's last error as words ("certificate required"), or fallback. */
static const char *ssl_reason(const struct ssl_api *o, const char *fallback)
{
    const char *r = o->ERR_reason_error_string(o->ERR_peek_last_error());

    return r ? r : fallback;
}

/* Whether the files t names can be read; OpenSSL would say only "system lib". */
static bool files_readable(const struct mqtt_tls *t, char *why, size_t cap)
{
    const struct { const char *key, *path; } files[] = {
        { "ca_file", t->ca_file }, { "ca_dir", t->ca_dir }, { "cert_file", t->cert_file }, { "key_file", t->key_file },
    };

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (or_null(files[i].path) && access(files[i].path, R_OK) < 0) {
            snprintf(why, cap, "cannot read %s %s: %s", files[i].key, files[i].path, strerror(errno));
            return false;
        }
    return true;
}

/* A context with t's trust anchors and client certificate; NULL with why. */
static SSL_CTX *diag_context(const struct ssl_api *o, const struct mqtt_tls *t, char *why, size_t cap)
{
    SSL_CTX *ctx = files_readable(t, why, cap) ? o->CTX_new(o->TLS_client_method()) : NULL;

    if (!ctx && why[0])
        return NULL;
    if (!ctx) {
        snprintf(why, cap, "cannot set up TLS: %s", ssl_reason(o, "out of memory"));
        return NULL;
    }
    o->CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL); /* SSL_CTX_set_min_proto_version() */
    o->CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (o->CTX_load_verify_locations(ctx, or_null(t->ca_file), or_null(t->ca_dir)) != 1)
        snprintf(why, cap, "cannot load the CA (%s): %s", or_null(t->ca_file) ? t->ca_file : t->ca_dir,
                 ssl_reason(o, "unreadable"));
    else if (or_null(t->cert_file) && o->CTX_use_certificate_chain_file(ctx, t->cert_file) != 1)
        snprintf(why, cap, "cannot load cert_file %s: %s", t->cert_file, ssl_reason(o, "unreadable"));
    else if (or_null(t->key_file) && o->CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1)
        snprintf(why, cap, "cannot load key_file %s: %s", t->key_file, ssl_reason(o, "unreadable"));
    else
        return ctx;
    o->CTX_free(ctx);
    return NULL;
}

/* The host name (or address) the broker's certificate must name, as paho checks it. */
static void expect_host(const struct ssl_api *o, SSL *ssl, const char *host)
{
    X509_VERIFY_PARAM *param = o->get0_param(ssl);

    if (o->X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1)
        o->set1_host(ssl, host);
}

/* Words for a refused broker certificate. */
static void certificate_refused(const struct ssl_api *o, long v, const char *host, char *why, size_t cap)
{
    if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
        snprintf(why, cap, "the broker's certificate does not match the host name %s in the uri "
                 "(certificate verify failed)", host);
    else if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
             v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || v == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE)
        snprintf(why, cap, "the broker's certificate was not issued by the configured CA (certificate verify "
                 "failed: %s)", o->X509_verify_cert_error_string(v));
    else
        snprintf(why, cap, "the broker's certificate is refused: certificate verify failed: %s",
                 o->X509_verify_cert_error_string(v));
}

/*
 * Shakes hands on fd. With TLS 1.3 the broker checks our certificate after
 * the handshake has finished on our side, so a short read follows: the
 * broker's alert arrives then, or nothing (an MQTT broker waits for our
 * CONNECT) and the read times out.
 */
static int handshake(const struct ssl_api *o, SSL_CTX *ctx, int fd, const char *host, bool verify_host, char *why, size_t cap)
{
    SSL *ssl = o->new(ctx);
    char byte;
    int rc = 1;

    if (!ssl) {
        snprintf(why, cap, "cannot set up TLS: %s", ssl_reason(o, "out of memory"));
        return 1;
    }
    o->set_fd(ssl, fd);
    o->ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)host); /* SSL_set_tlsext_host_name() */
    if (verify_host)
        expect_host(o, ssl, host);
    o->ERR_clear_error();
    if (o->connect(ssl) != 1) {
        long v = o->get_verify_result(ssl);

        if (v != X509_V_OK)
            certificate_refused(o, v, host, why, cap);
        else
            snprintf(why, cap, "the broker ended the handshake: %s", ssl_reason(o, "connection closed"));
    } else if (o->read(ssl, &byte, 1) <= 0 && o->ERR_peek_last_error()) {
        snprintf(why, cap, "the broker refused this client: %s%s", ssl_reason(o, "?"),
                 strstr(ssl_reason(o, ""), "certificate") ? " (it wants a client certificate signed by its CA)" : "");
    } else {
        rc = 0;
    }
    o->free(ssl);
    return rc;
}

int mqtt_tls_diagnose(const char *uri, const struct mqtt_tls *t, int timeout_ms, char *why, size_t cap)
{
    char host[HOST_MAX], port[HOST_MAX];
    const struct ssl_api *o;
    SSL_CTX *ctx;
    int fd, rc;

    why[0] = '\0';
    if (!mqtt_tls_uri(uri) || split_uri(uri, host, port, sizeof(host)) < 0) {
        snprintf(why, cap, "%s is not a TLS broker uri", uri);
        return -1;
    }
    o = sslload(why, cap);
    if (!o)
        return 1;
    ctx = diag_context(o, t, why, cap);
    if (!ctx)
        return 1;
    fd = tcp_connect(host, port, timeout_ms, why, cap);
    rc = fd < 0 ? -1 : handshake(o, ctx, fd, host, t->verify_hostname, why, cap);
    if (fd >= 0)
        close(fd);
    o->CTX_free(ctx);
    o->ERR_clear_error();
    return rc;
}
