/*
 * sslload.c - OpenSSL through dlopen (sslload.h says why).
 */
#include "sslload.h"
#include "dlload.h"

#include <pthread.h>
#include <stdio.h>

/* OpenSSL 3's libssl, the one Debian's libpaho-mqtt3as links; it brings libcrypto. */
#define SSL_SONAME "libssl.so.3"

static struct ssl_api api;
static char load_err[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    const struct dlload_sym syms[] = {
        { "TLS_client_method", &api.TLS_client_method },
        { "SSL_CTX_new", &api.CTX_new },
        { "SSL_CTX_ctrl", &api.CTX_ctrl },
        { "SSL_CTX_set_verify", &api.CTX_set_verify },
        { "SSL_CTX_load_verify_locations", &api.CTX_load_verify_locations },
        { "SSL_CTX_use_certificate_chain_file", &api.CTX_use_certificate_chain_file },
        { "SSL_CTX_use_PrivateKey_file", &api.CTX_use_PrivateKey_file },
        { "SSL_CTX_free", &api.CTX_free },
        { "SSL_new", &api.new },
        { "SSL_ctrl", &api.ctrl },
        { "SSL_set_fd", &api.set_fd },
        { "SSL_get0_param", &api.get0_param },
        { "SSL_set1_host", &api.set1_host },
        { "SSL_connect", &api.connect },
        { "SSL_get_verify_result", &api.get_verify_result },
        { "SSL_read", &api.read },
        { "SSL_free", &api.free },
        { "X509_VERIFY_PARAM_set1_ip_asc", &api.X509_VERIFY_PARAM_set1_ip_asc },
        { "X509_verify_cert_error_string", &api.X509_verify_cert_error_string },
        { "ERR_peek_last_error", &api.ERR_peek_last_error },
        { "ERR_reason_error_string", &api.ERR_reason_error_string },
        { "ERR_clear_error", &api.ERR_clear_error },
    };

    if (!dlload(SSL_SONAME, syms, sizeof(syms) / sizeof(syms[0]), load_err, sizeof(load_err)))
        api.TLS_client_method = NULL; /* marks the table unusable */
}

const struct ssl_api *sslload(char *err, size_t errlen)
{
    pthread_once(&once, load);
    if (!api.TLS_client_method) {
        snprintf(err, errlen, "cannot load OpenSSL: %s", load_err);
        return NULL;
    }
    return &api;
}
