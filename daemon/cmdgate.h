/*
 * cmdgate.h - the one gate every operator command passes (docs/commands.md).
 *
 * Every command source (MQTT today, the console through MQTT, vigilctl)
 * hands the gate the command's bytes. The gate parses them, bounds their
 * rate per source, checks freshness, verifies the Ed25519 signature against
 * the operator's public key from the config, checks the operator's role,
 * and refuses a replayed id. A command that passes leaves as a CORE_IN_CMD
 * input stamped with what was verified (journaled with it); a refused one
 * leaves as a cmd/result payload for its source and, rate-limited, as a
 * command_refused system input so the station sees the attempt.
 *
 * A site without an `operators` group accepts unsigned commands (roles do
 * not apply) as before signing existed; with no key to check it against,
 * such a site ignores "sig".
 *
 * Threads: cmdgate_check() may be called from any thread (paho's callback
 * threads of both paths at once): it takes the gate's own lock for a few
 * microseconds and never blocks otherwise. cmdgate_configure() from the
 * core thread on reload (key rotation and revocation).
 */
#ifndef VIGIL_CMDGATE_H
#define VIGIL_CMDGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core.h"
#include "message.h"

#define GATE_PAYLOAD_MAX MSG_CMD_MAX_BYTES /* a longer command is refused unread */
#define GATE_RESULT_MAX 512

enum gate_verdict {
    GATE_PASS,                     /* out->input is the command for the core */
    GATE_REFUSED,                  /* out->result is the answer; out->raise says whether to feed out->refusal */
    GATE_REPEAT,                   /* the same command again (both paths, a redelivery): drop it quietly */
};

struct gate_outcome {
    enum gate_verdict verdict;
    struct core_input input;       /* PASS */
    char result[GATE_RESULT_MAX];  /* REFUSED: the cmd/result payload */
    size_t result_len;
    bool answer;                   /* REFUSED: send result (false for a flood's excess: answering it would feed it) */
    bool raise;                    /* REFUSED: feed refusal too (false once the source's event budget is spent) */
    struct core_input refusal;     /* REFUSED: a CORE_SYS_COMMAND_REFUSED system input */
    char reason[CORE_ERROR_MAX];   /* REFUSED: why, for the log */
    char comment[201];             /* PASS: the command's comment, for the log ("" if none) */
};

struct cmdgate;

/* A gate for site (operators, roles, cmd_max_age_s are copied). NULL on OOM. */
struct cmdgate *cmdgate_new(const struct cfg_site *site);

/* A reload: the new operators and keys apply to the next command. */
void cmdgate_configure(struct cmdgate *g, const struct cfg_site *site);
void cmdgate_free(struct cmdgate *g);

/* Checks one command of len bytes from source src at now (wall and monotonic ms). */
void cmdgate_check(struct cmdgate *g, enum core_cmd_source src, const char *payload, size_t len,
                   int64_t now_wall_ms, uint64_t now_mono_ms, struct gate_outcome *out);

/*
 * The bytes a signature covers (docs/commands.md, "The canonical form"),
 * NUL-terminated, into buf. Returns their length, or -1 if they do not fit
 * or a field holds a line break (such a command cannot be signed).
 */
int cmdgate_canonical(const char *site_id, const struct core_cmd *cmd, const struct msg_cmd_auth *auth, char *buf,
                      size_t cap);

/* Whether role may run op at all (the core checks the shelving policy on top). */
bool cmdgate_role_allows(enum cfg_role role, enum core_cmd_op op);

#endif
