/*
 * vigilctl.c - the operator's tool next to vigild.
 *
 * Subcommands live in one table (name, usage, function); each function gets
 * argv with its own name in argv[0], so it can use getopt_long like a small
 * program of its own. Exit codes are the same everywhere: 0 all is well,
 * 1 a problem was found (damaged journal, invalid config), 2 usage error.
 * Each command lives in a file of its own (ctl.h names the entry points);
 * this file only finds the command and runs it.
 *
 *   vigilctl journal verify DIR|FILE
 *       Checks the hash chain of a journal directory or one segment file.
 *   vigilctl replay DIR|FILE --config SITE.conf [--profiles DIR]
 *                   [--from TS] [--to TS] [--diff OTHER.conf]
 *       Feeds the journal to the event core and prints the events it
 *       produces, one msg_event() JSON line each: for a journal written by
 *       a live run, byte for byte what vigild published on
 *       vigil/<site>/events. --diff replays under a second config too and
 *       prints only the events that differ.
 *   vigilctl status --broker URI --site ID [--prefix P] [--timeout S] [CONNECTION]
 *   vigilctl status --config SITE.conf [--profiles DIR] [--timeout S]
 *       Prints the site's state from the retained topics on its broker:
 *       status and heartbeat age, devices, zones, alarms not normal. Exit 0
 *       all is well, 1 something needs attention, 2 usage error, invalid
 *       config or broker unreachable.
 *   vigilctl watch --broker URI --site ID|+ [--prefix P] [--client-id ID]
 *                  [--state FILE] [--json] [--utc] [--count N] [--timeout S]
 *                  [--heartbeat-s S] [CONNECTION]
 *       A minimal central station: subscribes with a persistent session,
 *       drops duplicates by seq, reports gaps and silent sites, and prints
 *       every alarm for people (or every new event as a JSON line).
 *   CONNECTION: [--username U --password-file F] [--ca FILE|--ca-dir DIR]
 *       [--cert FILE --key FILE] [--tls-version tls1.2]: credentials, and
 *       TLS for an ssl://, mqtts:// or wss:// broker (ctl_mqtt.h).
 *   vigilctl probe --bus SPEC --unit N [--profile P] [--raw TABLE:ADDR[:COUNT]]
 *       Reads one device directly and prints its decoded inputs or raw
 *       tables, round-trip times, and what is wrong in plain words. Exit 0
 *       answered, 1 answered wrongly, 2 usage, 3 no answer.
 *   vigilctl scan --bus SPEC [--units A-B] [--timeout MS]
 *       Finds the unit ids that answer on a bus, one request at a time.
 *   vigilctl ack|shelve|unshelve|arm|disarm|out-of-service|in-service TARGET
 *            --broker URI --site ID --operator NAME [--sign-key FILE] ...
 *       Sends one command, signed with the operator's key (docs/commands.md),
 *       waits for its result and says what became of it. Exit 0 done,
 *       1 refused, 3 no answer.
 *   vigilctl verify --site-key KEY [--prefix P] < "TOPIC PAYLOAD" lines
 *       Checks the gateway's signature on each message (docs/mqtt.md).
 *   vigilctl key new NAME [--dir DIR]
 *       Makes an operator's key pair: NAME.key (secret, mode 0600) and the
 *       public key line for the site's operators list.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "ctl.h"

#define OPERATOR_OPTS "--broker URI --site ID --operator NAME [--sign-key FILE] [--comment TEXT] [--prefix P] [--timeout S] [CONNECTION]"

struct command {
    const char *words[2];     /* "journal" "verify", or "replay" NULL */
    const char *usage;
    int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    {{"journal", "verify"}, "journal verify DIR|FILE", ctl_cmd_journal_verify},
    {{"replay", NULL},
     "replay DIR|FILE --config SITE.conf [--profiles DIR] [--from TS] [--to TS] [--diff OTHER.conf]",
     ctl_cmd_replay},
    {{"watch", NULL},
     "watch --broker URI --site ID|+ [--prefix P] [--client-id ID] [--state FILE] [--json] [--utc] [--count N]"
     " [--timeout S] [--heartbeat-s S] [--site-key KEY] [CONNECTION]",
     ctl_cmd_watch},
    {{"status", NULL}, "status --broker URI --site ID [--prefix P] [--timeout S] [--site-key KEY] [CONNECTION] | status --config "
     "SITE.conf [--profiles DIR] [--timeout S]", ctl_cmd_status},
    {{"probe", NULL}, "probe --bus tcp:HOST:PORT|rtu:DEVICE:BAUD:8N1 --unit N [--profile P] [--profiles DIR] "
     "[--raw TABLE:ADDR[:COUNT]]... [--timeout MS]", ctl_cmd_probe},
    {{"scan", NULL}, "scan --bus tcp:HOST:PORT|rtu:DEVICE:BAUD:8N1 [--units A-B] [--timeout MS] "
     "[--read TABLE:ADDR]", ctl_cmd_scan},
    {{"ack", NULL}, "ack ALARM " OPERATOR_OPTS, ctl_cmd_operator},
    {{"shelve", NULL}, "shelve ALARM SECONDS " OPERATOR_OPTS, ctl_cmd_operator},
    {{"unshelve", NULL}, "unshelve ALARM " OPERATOR_OPTS, ctl_cmd_operator},
    {{"arm", NULL}, "arm ZONE [--force] " OPERATOR_OPTS, ctl_cmd_operator},
    {{"disarm", NULL}, "disarm ZONE " OPERATOR_OPTS, ctl_cmd_operator},
    {{"out-of-service", NULL}, "out-of-service ALARM " OPERATOR_OPTS, ctl_cmd_operator},
    {{"in-service", NULL}, "in-service ALARM " OPERATOR_OPTS, ctl_cmd_operator},
    {{"key", "new"}, "key new NAME [--dir DIR]", ctl_cmd_key_new},
    {{"verify", NULL}, "verify --site-key KEY [--prefix P]   (reads \"TOPIC PAYLOAD\" lines: mosquitto_sub -v)",
     ctl_cmd_verify},
    {{"points", NULL}, "points [--socket PATH | --config SITE.conf [--profiles DIR]] [--zone Z] [--once]",
     ctl_cmd_points},
    {{"walktest", NULL}, "walktest start|stop|report ZONE [--for 30m] [--operator NAME] [--config SITE.conf "
     "[--profiles DIR] | --broker URI --site ID [--prefix P]] [--socket PATH] [--timeout S]", ctl_cmd_walktest},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Prints every command's synopsis; the subcommands call it on a usage error. */
void ctl_usage(FILE *out)
{
    fprintf(out, "usage:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  vigilctl %s\n", commands[i].usage);
    fprintf(out, "TS is an RFC 3339 UTC time, e.g. 2025-11-24T16:00:00Z or 2025-11-24T16:00:00.250Z\n");
    fprintf(out, "CONNECTION: [--username U --password-file F] and, for an ssl:// or mqtts:// URI, --ca FILE|--ca-dir "
            "DIR [--cert FILE --key FILE] [--tls-version tls1.2]\n");
}

/* Finds the command named by argv[1] (and argv[2]); *words gets how many it used. */
static const struct command *find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const struct command *c = &commands[i];
        int n = c->words[1] ? 2 : 1;
        if (argc > n && strcmp(argv[1], c->words[0]) == 0 && (n == 1 || strcmp(argv[2], c->words[1]) == 0)) {
            *words = n;
            return c;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const struct command *c;
    int words = 0;

    /* vigilctl reads an operator's signing key and broker passwords: like
     * vigild (protect_secrets()), no core file or ptrace may carry them. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        fprintf(stderr, "vigilctl: cannot turn core dumps off (%s); a core file could hold a key\n", strerror(errno));
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        ctl_usage(stdout);
        return CTL_EXIT_OK;
    }
    c = find_command(argc, argv, &words);
    if (!c) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    /* the command sees its last word as argv[0], its arguments after it */
    return c->run(argc - words, argv + words);
}
