/*
 * ctl_verify.c - vigilctl verify: checks the gateway's signatures on
 * messages a station received (docs/mqtt.md, "Signed payloads").
 *
 *   mosquitto_sub -v -t 'vigil/depot-7/#' | vigilctl verify --site-key KEY
 *
 * Each input line is "TOPIC PAYLOAD", as mosquitto_sub -v prints it. Each
 * output line says "good", "UNSIGNED" or "FORGED" and the topic; a retained
 * topic being cleared (an empty payload) cannot carry a signature and says
 * "cleared". Exit 0 when every message was good, 1 otherwise, 2 on usage.
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "paysign.h"

/* Splits "<prefix>/<site>/<suffix>"; -1 if topic is not under prefix. */
static int split_topic(char *topic, const char *prefix, char **site, char **suffix)
{
    size_t n = strlen(prefix);
    char *slash;

    if (strncmp(topic, prefix, n) != 0 || topic[n] != '/')
        return -1;
    *site = topic + n + 1;
    slash = strchr(*site, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    *suffix = slash + 1;
    return 0;
}

/* Checks one "TOPIC PAYLOAD" line; prints the verdict; true if good (or cleared). */
static bool verify_line(char *line, const unsigned char pk[32], const char *prefix)
{
    char *payload = strchr(line, ' '), *site, *suffix, topic[512];
    static const char *words[] = {[PSIG_GOOD] = "good", [PSIG_UNSIGNED] = "UNSIGNED", [PSIG_FORGED] = "FORGED"};
    size_t plain;
    enum psig_verdict v;

    line[strcspn(line, "\n")] = '\0';
    if (payload)
        *payload++ = '\0';
    snprintf(topic, sizeof(topic), "%.*s", (int)(sizeof(topic) - 1), line);
    if (!payload || !payload[0]) {
        printf("cleared %s\n", topic);
        return true;
    }
    if (split_topic(line, prefix, &site, &suffix) < 0) {
        printf("UNSIGNED %s (not a topic under %s/)\n", topic, prefix);
        return false;
    }
    v = psig_verify(pk, site, suffix, payload, strlen(payload), &plain);
    printf("%s %s\n", words[v], topic);
    return v == PSIG_GOOD;
}

int ctl_cmd_verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"site-key", required_argument, NULL, 'k'}, {"prefix", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
    const char *key = NULL, *prefix = "vigil";
    unsigned char pk[32];
    char line[8192];
    bool all_good = true;
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'k')
            key = optarg;
        else if (c == 'p')
            prefix = optarg;
        else
            break;
    }
    if (!key || optind != argc) {
        fprintf(stderr, "vigilctl: verify needs --site-key with the site's public key (base64, 32 bytes)\n");
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (ctl_site_key(key, pk) < 0)
        return CTL_EXIT_USAGE;
    while (fgets(line, sizeof(line), stdin))
        all_good &= verify_line(line, pk, prefix);
    return all_good ? CTL_EXIT_OK : CTL_EXIT_PROBLEM;
}
