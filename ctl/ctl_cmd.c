/*
 * ctl_cmd.c - vigilctl as an operator's tool (docs/commands.md): sends one
 * signed command, waits for its result and says in words what became of it;
 * and makes an operator's key pair.
 *
 *   vigilctl ack ALARM | shelve ALARM SECONDS | unshelve ALARM | arm ZONE |
 *            disarm ZONE | out-of-service ALARM | in-service ALARM
 *            --broker URI --site ID --operator NAME [--sign-key FILE] [--prefix P]
 *            [--comment TEXT] [--force] [--timeout S] [CONNECTION]
 *   vigilctl key new NAME [--dir DIR]
 *
 * The command is signed with the same canonical form the gate verifies
 * (cmdgate_canonical()), so what vigilctl sends and what vigild checks can
 * never drift apart. Exit codes: 0 done, 1 refused, 2 usage, 3 no answer.
 * vigilctl walktest sends its commands the same way (ctl_cmd.h).
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
#include "ctl_cmd.h"
#include "ctl_mqtt.h"
#include "message.h"
#include "mqtt_topics.h"



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
static int parse_cmd(int argc, char **argv, struct ctl_command *o)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},   {"site", required_argument, NULL, 's'},
        {"prefix", required_argument, NULL, 'p'},   {"operator", required_argument, NULL, 'o'},
        {"sign-key", required_argument, NULL, 'k'}, {"comment", required_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},          {"timeout", required_argument, NULL, 't'},
        CTL_MQTT_AUTH_LONGOPTS,                     {NULL, 0, NULL, 0}};
    int c;

    memset(o, 0, sizeof(*o));
    o->prefix = "vigil";
    o->timeout_s = 10;
    optind = 1;
    if (op_of(argv[0], &o->cmd.op) < 0)
        return -1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': o->broker = optarg; break;
        case 's': o->site = optarg; break;
        case 'p': o->prefix = optarg; break;
        case 'o': o->operator_name = optarg; break;
        case 'k': o->sign_key = optarg; break;
        case 'c': o->comment = optarg; break;
        case 'f': snprintf(o->a.force, sizeof(o->a.force), "true"); break;
        case 't': o->timeout_s = atoi(optarg); break;
        default:
            if (ctl_mqtt_auth_option(&o->auth, c, optarg) != 1)
                return -1;
        }
    }
    if (optind >= argc || !o->broker || !o->site || !o->operator_name || o->timeout_s <= 0)
        return -1;
    snprintf(o->cmd.target, sizeof(o->cmd.target), "%s", argv[optind++]);
    if (o->cmd.op == CORE_CMD_SHELVE && optind < argc)
        snprintf(o->a.duration_s, sizeof(o->a.duration_s), "%d", atoi(argv[optind++]));
    if (optind != argc || (o->cmd.op == CORE_CMD_SHELVE) != (o->a.duration_s[0] != '\0') ||
        (o->a.force[0] && o->cmd.op != CORE_CMD_ARM))
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
static int prepare(struct ctl_command *o)
{
    unsigned char rnd[8], sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
    char canon[1024], hex[sizeof(rnd) * 2 + 1];
    int n;

    randombytes_buf(rnd, sizeof(rnd));
    snprintf(o->cmd.id, sizeof(o->cmd.id), "ctl-%s", sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd)));
    snprintf(o->cmd.operator_name, sizeof(o->cmd.operator_name), "%s", o->operator_name);
    snprintf(o->a.comment, sizeof(o->a.comment), "%s", o->comment ? o->comment : "");
    msg_ts(clock_wall_ms(), o->a.ts);
    if (!o->sign_key)
        return 0;
    if (read_secret_key(o->sign_key, sk) < 0)
        return -1;
    n = cmdgate_canonical(o->site, &o->cmd, &o->a, canon, sizeof(canon));
    if (n < 0) {
        fprintf(stderr, "vigilctl: a field holds a line break; commands cannot carry one\n");
        sodium_memzero(sk, sizeof(sk));
        return -1;
    }
    crypto_sign_detached(sig, NULL, (const unsigned char *)canon, (unsigned long long)n, sk);
    sodium_memzero(sk, sizeof(sk));
    sodium_bin2base64(o->a.sig, sizeof(o->a.sig), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

/* The command as docs/commands.md shows it, keys in that order. Caller frees. */
static char *command_json(const struct ctl_command *o)
{
    bool zone = core_op_targets_zone(o->cmd.op);
    json_t *j = json_object();
    char *s;

    json_object_set_new(j, "id", json_string(o->cmd.id));
    json_object_set_new(j, "op", json_string(core_op_name(o->cmd.op)));
    json_object_set_new(j, zone ? "zone" : "alarm", json_string(o->cmd.target));
    json_object_set_new(j, "operator", json_string(o->cmd.operator_name));
    json_object_set_new(j, "ts", json_string(o->a.ts));
    if (o->a.duration_s[0])
        json_object_set_new(j, "duration_s", json_integer(atoi(o->a.duration_s)));
    if (o->a.force[0])
        json_object_set_new(j, "force", json_true());
    if (o->a.comment[0])
        json_object_set_new(j, "comment", json_string(o->a.comment));
    if (o->a.sig[0])
        json_object_set_new(j, "sig", json_string(o->a.sig));
    s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return s;
}

/* Takes the result if it answers our id: 1 (with *ok and why), 0 if it is another command's. */
static int our_result(const struct ctl_command *o, const struct ctl_mqtt_item *it, bool *ok, char *why, size_t cap)
{
    json_t *r = json_loadb(it->payload, it->len < sizeof(it->payload) ? it->len : sizeof(it->payload), 0, NULL);
    int mine = r && strcmp(ctl_jstr(r, "id", ""), o->cmd.id) == 0;

    if (mine) {
        *ok = json_is_true(json_object_get(r, "ok"));
        snprintf(why, cap, "%s", ctl_jstr(r, "error", "no reason given"));
    }
    json_decref(r);
    return mine;
}

/* Publishes the command once subscribed, then waits for its result; CTL_EXIT_OK or EXIT_NO_ANSWER. */
static int await_result(struct ctl_mqtt *m, const struct ctl_command *o, const char *cmd_topic, const char *json,
                        bool *ok, char *why, size_t cap)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)o->timeout_s * 1000;
    struct ctl_mqtt_item it;
    bool sent = false;
    char err[256];

    while (clock_mono_ms() < deadline) {
        if (ctl_mqtt_next(m, &it, (int)(deadline - clock_mono_ms())) != 1)
            break;
        if (it.kind == CTL_MQTT_CONNECT_FAILED || it.kind == CTL_MQTT_SUBSCRIBE_FAILED) {
            fprintf(stderr, "vigilctl: broker %s: %s\n", o->broker, ctl_mqtt_failure(m, it.payload, err, sizeof(err)));
            break;
        }
        if (it.kind == CTL_MQTT_SUBSCRIBED && !sent) {
            sent = ctl_mqtt_publish(m, cmd_topic, json, strlen(json), err, sizeof(err)) == 0;
            if (!sent) {
                fprintf(stderr, "vigilctl: command not sent: %s\n", err);
                break;
            }
        }
        if (it.kind == CTL_MQTT_MESSAGE && our_result(o, &it, ok, why, cap))
            return CTL_EXIT_OK;
    }
    fprintf(stderr, "vigilctl: no result for command %s within %d s%s\n", o->cmd.id, o->timeout_s,
            sent ? "; it may still run when vigild gets it" : " (not sent: broker unreachable?)");
    return EXIT_NO_ANSWER;
}

int ctl_command_send(struct ctl_command *o, bool *ok, char *why, size_t cap)
{
    char result_topic[MSG_TOPIC_MAX], cmd_topic[MSG_TOPIC_MAX], err[256];
    struct ctl_mqtt m;
    struct ctl_mqtt_opts mo = {.broker = o->broker, .qos = 1, .n_filters = 1};
    char *json = NULL;
    int rc = CTL_EXIT_USAGE;

    *ok = false;
    if (sodium_init() < 0 || ctl_mqtt_auth_ready(&o->auth, o->broker) < 0 ||
        msg_topic(result_topic, sizeof(result_topic), o->prefix, o->site, MQTT_TOPIC_CMD_RESULT) < 0 ||
        msg_topic(cmd_topic, sizeof(cmd_topic), o->prefix, o->site, MQTT_TOPIC_CMD) < 0 || prepare(o) < 0 ||
        !(json = command_json(o)) || ctl_mqtt_init(&m, 64) < 0)
        goto out;
    mo.filters[0] = result_topic;
    mo.client_id = o->cmd.id;
    ctl_mqtt_auth_apply(&o->auth, &mo);
    if (ctl_mqtt_connect(&m, &mo, err, sizeof(err)) < 0)
        fprintf(stderr, "vigilctl: %s: %s\n", o->broker, err);
    else
        rc = await_result(&m, o, cmd_topic, json, ok, why, cap);
    ctl_mqtt_close(&m);
    ctl_mqtt_disconnect(&m);
    ctl_mqtt_destroy(&m);
out:
    free(json);
    return rc;
}

int ctl_cmd_operator(int argc, char **argv)
{
    struct ctl_command o;
    char why[256];
    bool ok;
    int rc;

    if (parse_cmd(argc, argv, &o) < 0) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    rc = ctl_command_send(&o, &ok, why, sizeof(why));
    if (rc != CTL_EXIT_OK)
        return rc;
    if (ok)
        printf("done: %s %s by %s\n", core_op_name(o.cmd.op), o.cmd.target, o.cmd.operator_name);
    else
        printf("refused: %s\n", why);
    return ok ? CTL_EXIT_OK : CTL_EXIT_PROBLEM;
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
