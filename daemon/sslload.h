/*
 * sslload.h - OpenSSL, loaded when a refused TLS connect is diagnosed.
 *
 * mqtt_tls_diagnose() repeats a TLS handshake with OpenSSL; linking it
 * would map libssl and libcrypto (about 2 MiB resident) into every vigild,
 * TLS or not (pahoload.h). It is opened with dlopen() on first use (in a
 * vigild with a TLS broker paho has already mapped it) and never unloaded.
 */
#ifndef VIGIL_SSLLOAD_H
#define VIGIL_SSLLOAD_H

#include <stddef.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* The functions mqtt_tls.c calls; each has the type OpenSSL's headers declare. */
struct ssl_api {
    __typeof__(TLS_client_method) *TLS_client_method;
    __typeof__(SSL_CTX_new) *CTX_new;
    __typeof__(SSL_CTX_ctrl) *CTX_ctrl;
    __typeof__(SSL_CTX_set_verify) *CTX_set_verify;
    __typeof__(SSL_CTX_load_verify_locations) *CTX_load_verify_locations;
    __typeof__(SSL_CTX_use_certificate_chain_file) *CTX_use_certificate_chain_file;
    __typeof__(SSL_CTX_use_PrivateKey_file) *CTX_use_PrivateKey_file;
    __typeof__(SSL_CTX_free) *CTX_free;
    __typeof__(SSL_new) *new;
    __typeof__(SSL_ctrl) *ctrl;
    __typeof__(SSL_set_fd) *set_fd;
    __typeof__(SSL_get0_param) *get0_param;
    __typeof__(SSL_set1_host) *set1_host;
    __typeof__(SSL_connect) *connect;
    __typeof__(SSL_get_verify_result) *get_verify_result;
    __typeof__(SSL_read) *read;
    __typeof__(SSL_free) *free;
    __typeof__(X509_VERIFY_PARAM_set1_ip_asc) *X509_VERIFY_PARAM_set1_ip_asc;
    __typeof__(X509_verify_cert_error_string) *X509_verify_cert_error_string;
    __typeof__(ERR_peek_last_error) *ERR_peek_last_error;
    __typeof__(ERR_reason_error_string) *ERR_reason_error_string;
    __typeof__(ERR_clear_error) *ERR_clear_error;
};

/* Loads OpenSSL once (safe from any thread); NULL, with the reason in err, if it cannot. */
const struct ssl_api *sslload(char *err, size_t errlen);

#endif
