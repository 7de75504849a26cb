/*
 * ctl_cmd.c - vigilctl as an operator's tool (docs/commands.md): sends one
 * signed command, waits for its result and says in words what became of it;
 * and makes an operator's key pair.
 *
 *   vigilctl ack ALARM | shelve ALARM SECONDS | unshelve ALARM | arm ZONE |
 *            disarm ZONE | out-of-service ALARM | in-service ALARM
 *            --broker URI --site ID --operator NAME [--key FILE] [--prefix P]
 *            [--comment TEXT] [--force] [--timeout S]
 *   vigilctl key new NAME [--dir DIR]
 *
 * The command is signed with the same canonical form the gate verifies
 * (cmdgate_canonical()), so what vigilctl sends and what vigild checks can
 * never drift apart. Exit codes: 0 done, 1 refused, 2 usage, 3 no answer.
 */
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "cmdgate.h"
#include "ctl.h"
#include "ctl_mqtt.h"
#include "message.h"
#include "mqtt_topics.h"

#define EXIT_NO_ANSWER 3

struct cmd_opts {
    const char *broker, *site, *prefix, *operator_name, *key_file, *comment;
    int timeout_s;
    struct core_cmd cmd;
    struct msg_cmd_auth auth;
};

/* "out-of-service" on the command line is "out_of_service" on the wire. */
static int op_of(const char *word, enum core_cmd_op *op)
{
    static const char *words[] = {"ack", "shelve", "unshelve", "arm", "disarm", "out-of-service", "in-service"};
    static const enum core_cmd_op ops[] = {CORE_CMD_ACK,    CORE_CMD_SHELVE,         CORE_CMD_UNSHELVE,
                                           CORE_CMD_ARM,    CORE_CMD_DISARM,         CORE_CMD_OUT_OF_SERVICE,
                                           CORE_CMD_IN_SERVICE};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcmp(word, words[i]) == 0) {
            *op = ops[i];
            return 0;
        }
    return -1;
}

/* Reads the options and the target (and a shelve's seconds); -1 on a usage error. */
static int parse_cmd(int argc, char **argv, struct cmd_opts *o)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'}, {"site", required_argument, NULL, 's'},
        {"prefix", required_argument, NULL, 'p'}, {"operator", required_argument, NULL, 'o'},
        {"key", required_argument, NULL, 'k'},    {"comment", required_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    int c;

    memset(o, 0, sizeof(*o));
    o->prefix = "vigil";
    o->timeout_s = 10;
    if (op_of(argv[0], &o->cmd.op) < 0)
        return -1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': o->broker = optarg; break;
        case 's': o->site = optarg; break;
        case 'p': o->prefix = optarg; break;
        case 'o': o->operator_name = optarg; break;
        case 'k': o->key_file = optarg; break;
        case 'c': o->comment = optarg; break;
        case 'f': snprintf(o->auth.force, sizeof(o->auth.force), "true"); break;
        case 't': o->timeout_s = atoi(optarg); break;
        default: return -1;
        }
    }
    if (optind >= argc || !o->broker || !o->site || !o->operator_name || o->timeout_s <= 0)
        return -1;
    snprintf(o->cmd.target, sizeof(o->cmd.target), "%s", argv[optind++]);
    if (o->cmd.op == CORE_CMD_SHELVE && optind < argc)
        snprintf(o->auth.duration_s, sizeof(o->auth.duration_s), "%d", atoi(argv[optind++]));
    if (optind != argc || (o->cmd.op == CORE_CMD_SHELVE) != (o->auth.duration_s[0] != '\0') ||
        (o->auth.force[0] && o->cmd.op != CORE_CMD_ARM))
        return -1;
    return 0;
}

/* The operator's secret key from a file only its owner can read; -1 with a message on stderr. */
static int read_secret_key(const char *path, unsigned char sk[crypto_sign_SECRETKEYBYTES])
{
    char b64[200] = "";
    size_t len = 0;
    struct stat st;
    FILE *f = fopen(path, "r");
    int rc = -1;

    if (!f || fstat(fileno(f), &st) < 0) {
        fprintf(stderr, "vigilctl: cannot read key %s\n", path);
    } else if (st.st_mode & 077) {
        fprintf(stderr, "vigilctl: key %s can be read by others; chmod 600 %s\n", path, path);
    } else if (!fgets(b64, sizeof(b64), f) ||
               sodium_base642bin(sk, crypto_sign_SECRETKEYBYTES, b64, strcspn(b64, "\r\n"), NULL, &len, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) != 0 ||
               len != crypto_sign_SECRETKEYBYTES) {
        fprintf(stderr, "vigilctl: %s is not a vigil operator key (vigilctl key new makes one)\n", path);
    } else {
        rc = 0;
    }
    sodium_memzero(b64, sizeof(b64));
    if (f)
        fclose(f);
    return rc;
}

/* Fills the id and ts, signs when a key is given. -1 with a message on stderr. */
static int prepare(struct cmd_opts *o)
{
    unsigned char rnd[8], sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
    char canon[1024], hex[sizeof(rnd) * 2 + 1];
    int n;

    randombytes_buf(rnd, sizeof(rnd));
    snprintf(o->cmd.id, sizeof(o->cmd.id), "ctl-%s", sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd)));
    snprintf(o->cmd.operator_name, sizeof(o->cmd.operator_name), "%s", o->operator_name);
    snprintf(o->auth.comment, sizeof(o->auth.comment), "%s", o->comment ? o->comment : "");
    msg_ts(clock_wall_ms(), o->auth.ts);
    if (!o->key_file)
        return 0;
    if (read_secret_key(o->key_file, sk) < 0)
        return -1;
    n = cmdgate_canonical(o->site, &o->cmd, &o->auth, canon, sizeof(canon));
    if (n < 0) {
        fprintf(stderr, "vigilctl: a field holds a line break; commands cannot carry one\n");
        sodium_memzero(sk, sizeof(sk));
        return -1;
    }
    crypto_sign_detached(sig, NULL, (const unsigned char *)canon, (unsigned long long)n, sk);
    sodium_memzero(sk, sizeof(sk));
    sodium_bin2base64(o->auth.sig, sizeof(o->auth.sig), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

/* The command as docs/commands.md shows it, keys in that order. Caller frees. */
static char *command_json(const struct cmd_opts *o)
{
    bool zone = o->cmd.op == CORE_CMD_ARM || o->cmd.op == CORE_CMD_DISARM;
    json_t *j = json_object();
    char *s;

    json_object_set_new(j, "id", json_string(o->cmd.id));
    json_object_set_new(j, "op", json_string(core_op_name(o->cmd.op)));
    json_object_set_new(j, zone ? "zone" : "alarm", json_string(o->cmd.target));
    json_object_set_new(j, "operator", json_string(o->cmd.operator_name));
    json_object_set_new(j, "ts", json_string(o->auth.ts));
    if (o->auth.duration_s[0])
        json_object_set_new(j, "duration_s", json_integer(atoi(o->auth.duration_s)));
    if (o->auth.force[0])
        json_object_set_new(j, "force", json_true());
    if (o->auth.comment[0])
        json_object_set_new(j, "comment", json_string(o->auth.comment));
    if (o->auth.sig[0])
        json_object_set_new(j, "sig", json_string(o->auth.sig));
    s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return s;
}

/* Says what the result means; returns the exit code. */
static int print_result(const struct cmd_opts *o, const json_t *r)
{
    if (json_is_true(json_object_get(r, "ok"))) {
        printf("done: %s %s by %s\n", core_op_name(o->cmd.op), o->cmd.target, o->cmd.operator_name);
        return CTL_EXIT_OK;
    }
    printf("refused: %s\n", ctl_jstr(r, "error", "no reason given"));
    return CTL_EXIT_PROBLEM;
}

/* Waits for the result of our id on cmd/result; the exit code. */
static int await_result(struct ctl_mqtt *m, const struct cmd_opts *o, const char *cmd_topic, const char *json)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)o->timeout_s * 1000;
    struct ctl_mqtt_item it;
    bool sent = false;

    while (clock_mono_ms() < deadline) {
        json_t *r;
        int rc;

        if (ctl_mqtt_next(m, &it, (int)(deadline - clock_mono_ms())) != 1)
            break;
        if (it.kind == CTL_MQTT_SUBSCRIBED && !sent) {
            char err[256];

            sent = ctl_mqtt_publish(m, cmd_topic, json, strlen(json), err, sizeof(err)) == 0;
            if (!sent) {
                fprintf(stderr, "vigilctl: command not sent: %s\n", err);
                break;
            }
        }
        if (it.kind != CTL_MQTT_MESSAGE || !(r = json_loadb(it.payload, it.len, 0, NULL)))
            continue;
        rc = strcmp(ctl_jstr(r, "id", ""), o->cmd.id) == 0 ? print_result(o, r) : -1;
        json_decref(r);
        if (rc >= 0)
            return rc;
    }
    fprintf(stderr, "vigilctl: no result for command %s within %d s%s\n", o->cmd.id, o->timeout_s,
            sent ? "; it may still run when vigild gets it" : " (not sent: broker unreachable?)");
    return EXIT_NO_ANSWER;
}

static int send_command(struct cmd_opts *o)
{
    char result_topic[MSG_TOPIC_MAX], cmd_topic[MSG_TOPIC_MAX], err[256];
    struct ctl_mqtt m;
    struct ctl_mqtt_opts mo = {.broker = o->broker, .qos = 1, .n_filters = 1};
    char *json = NULL;
    int rc = CTL_EXIT_USAGE;

    if (msg_topic(result_topic, sizeof(result_topic), o->prefix, o->site, MQTT_TOPIC_CMD_RESULT) < 0 ||
        msg_topic(cmd_topic, sizeof(cmd_topic), o->prefix, o->site, MQTT_TOPIC_CMD) < 0 || prepare(o) < 0 ||
        !(json = command_json(o)) || ctl_mqtt_init(&m, 64) < 0)
        goto out;
    mo.filters[0] = result_topic;
    mo.client_id = o->cmd.id;
    if (ctl_mqtt_connect(&m, &mo, err, sizeof(err)) < 0)
        fprintf(stderr, "vigilctl: %s: %s\n", o->broker, err);
    else
        rc = await_result(&m, o, cmd_topic, json);
    ctl_mqtt_close(&m);
    ctl_mqtt_disconnect(&m);
    ctl_mqtt_destroy(&m);
out:
    free(json);
    return rc;
}

int ctl_cmd_operator(int argc, char **argv)
{
    struct cmd_opts o;

    if (parse_cmd(argc, argv, &o) < 0) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (sodium_init() < 0)
        return CTL_EXIT_USAGE;
    return send_command(&o);
}

/* An operator name as the config takes it: 1..47 of A-Z a-z 0-9 _ -. */
static bool plain_name(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n < CFG_ID_MAX && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Writes the secret key file (0600, never over an existing one); -1 with a message. */
static int write_secret_key(const char *path, const unsigned char sk[crypto_sign_SECRETKEYBYTES])
{
    char b64[200];
    FILE *f;
    mode_t old = umask(077);

    f = fopen(path, "wx");
    umask(old);
    if (!f) {
        fprintf(stderr, "vigilctl: cannot create %s (it must not exist yet)\n", path);
        return -1;
    }
    sodium_bin2base64(b64, sizeof(b64), sk, crypto_sign_SECRETKEYBYTES, sodium_base64_VARIANT_ORIGINAL);
    fprintf(f, "%s\n", b64);
    sodium_memzero(b64, sizeof(b64));
    return fclose(f) == 0 ? 0 : -1;
}

int ctl_cmd_key_new(int argc, char **argv)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char path[1024], b64[100];
    const char *dir = ".";
    int rc;

    if (argc == 4 && strcmp(argv[2], "--dir") == 0)
        dir = argv[3];
    else if (argc != 2) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (sodium_init() < 0 || !plain_name(argv[1])) {
        fprintf(stderr, "vigilctl: operator name \"%s\": expected 1..47 of A-Z a-z 0-9 _ -\n", argv[1]);
        return CTL_EXIT_USAGE;
    }
    snprintf(path, sizeof(path), "%s/%s.key", dir, argv[1]);
    crypto_sign_keypair(pk, sk);
    rc = write_secret_key(path, sk);
    sodium_memzero(sk, sizeof(sk));
    if (rc < 0)
        return CTL_EXIT_PROBLEM;
    sodium_bin2base64(b64, sizeof(b64), pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
    printf("secret key: %s (keep it with the operator; never copy it to a gateway)\n", path);
    printf("add to the site's operators list, with the operator's role:\n");
    printf("  { name = \"%s\"; role = \"guard\"; key = \"%s\"; },\n", argv[1], b64);
    return CTL_EXIT_OK;
}
