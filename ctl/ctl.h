/*
 * ctl.h - the subcommands of vigilctl and the little they share.
 *
 * vigilctl.c holds main(), the command table and the usage text; each
 * subcommand lives in a file of its own (ctl_journal.c, ctl_watch.c,
 * ctl_status.c) and exports only its entry point. An entry point gets argv
 * with its own last word in argv[0], so it can use getopt_long like a small
 * program, and returns the process's exit code.
 */
#ifndef VIGIL_CTL_H
#define VIGIL_CTL_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* The same everywhere: all is well, a problem was found, usage error. */
enum { CTL_EXIT_OK = 0, CTL_EXIT_PROBLEM = 1, CTL_EXIT_USAGE = 2 };

int ctl_cmd_journal_verify(int argc, char **argv);  /* ctl_journal.c */
int ctl_cmd_replay(int argc, char **argv);          /* ctl_journal.c */
int ctl_cmd_watch(int argc, char **argv);           /* ctl_watch.c */
int ctl_cmd_status(int argc, char **argv);          /* ctl_status.c */
int ctl_cmd_probe(int argc, char **argv);           /* ctl_probe.c */
int ctl_cmd_scan(int argc, char **argv);            /* ctl_scan.c */
int ctl_cmd_operator(int argc, char **argv);        /* ctl_cmd.c: ack, shelve, arm, ... */
int ctl_cmd_key_new(int argc, char **argv);         /* ctl_cmd.c */
int ctl_cmd_verify(int argc, char **argv);          /* ctl_verify.c */
int ctl_cmd_points(int argc, char **argv);          /* ctl_points.c */
int ctl_cmd_walktest(int argc, char **argv);        /* ctl_walktest.c */

/* Prints every command's synopsis to out (vigilctl.c). */
void ctl_usage(FILE *out);

/* The string member key of obj, or dflt if there is none (obj may be NULL). */
const char *ctl_jstr(const json_t *obj, const char *key, const char *dflt);

/* Decodes --site-key (the site's Ed25519 public key, base64) into pk; -1 after saying why on stderr. */
int ctl_site_key(const char *b64, unsigned char pk[32]);

#endif
