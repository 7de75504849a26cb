/*
 * cmdgate.c - the one gate every operator command passes (cmdgate.h,
 * docs/commands.md).
 *
 * The checks run in a fixed order, cheapest first, so a flood of garbage
 * costs little and the reason given is the first thing wrong:
 *   size -> rate per source -> parse -> line breaks -> freshness ->
 *   operator and signature -> role -> replayed id.
 * Ids are remembered with a fingerprint of the whole command until twice
 * the freshness window has passed: the same command again (sent on both
 * paths, redelivered by a broker) is dropped quietly, a different command
 * under a used id is a replay and refused; once the window has passed the
 * freshness check refuses it anyway.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdgate.h"

#define SEEN_MAX 4096              /* ids remembered at once; more within the window is a flood */
#define RATE_PER_S 20              /* commands a source may send per second, sustained */
#define RATE_BURST 50
#define REFUSALS_PER_MIN 10        /* command_refused events per source per minute */
#define SOURCES (CORE_SRC_LOCAL + 1)

struct seen {
    char id[CORE_CMD_ID_MAX];
    unsigned char print[16];       /* BLAKE2b of the payload */
    int64_t until_wall_ms;         /* 0: free */
};

struct budget {
    double tokens;
    uint64_t at_mono_ms;
    uint64_t answered_second;      /* the second (mono_ms / 1000) of the last flood refusal answered */
};

struct refusals {
    uint64_t window_start_ms;
    int raised;                    /* events this minute */
    int held;                      /* refusals not raised as events, told in the next one */
};

struct cmdgate {
    pthread_mutex_t lock;
    char site_id[CFG_ID_MAX];
    struct cfg_operator *ops;
    int n_ops;
    int max_age_s;
    struct seen *seen;
    struct budget rate[SOURCES];
    struct refusals refused[SOURCES];
};

/* --- roles ------------------------------------------------------------------ */

bool cmdgate_role_allows(enum cfg_role role, enum core_cmd_op op)
{
    switch (role) {
    case CFG_ROLE_NONE: return true;
    case CFG_ROLE_GUARD: return op == CORE_CMD_ACK || op == CORE_CMD_SHELVE;
    case CFG_ROLE_OFFICER:
        return op == CORE_CMD_ACK || op == CORE_CMD_SHELVE || op == CORE_CMD_UNSHELVE || op == CORE_CMD_ARM ||
               op == CORE_CMD_DISARM;
    case CFG_ROLE_ENGINEER:
        return op == CORE_CMD_ACK || op == CORE_CMD_OUT_OF_SERVICE || op == CORE_CMD_IN_SERVICE ||
               op == CORE_CMD_WALKTEST_START || op == CORE_CMD_WALKTEST_STOP;
    case CFG_ROLE_AUDITOR: return false;
    }
    return false;
}

/* --- the canonical form ------------------------------------------------------ */

static bool has_line_break(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

int cmdgate_canonical(const char *site_id, const struct core_cmd *cmd, const struct msg_cmd_auth *auth, char *buf,
                      size_t cap)
{
    int n;

    if (has_line_break(cmd->id) || has_line_break(cmd->target) || has_line_break(cmd->operator_name) ||
        has_line_break(auth->ts) || has_line_break(auth->comment) || has_line_break(site_id))
        return -1;
    n = snprintf(buf, cap,
                 "vigil-cmd-v1\nsite=%s\nid=%s\nop=%s\ntarget=%s\noperator=%s\nts=%s\nduration_s=%s\nforce=%s\n"
                 "comment=%s\n",
                 site_id, cmd->id, core_op_name(cmd->op), cmd->target, cmd->operator_name, auth->ts,
                 auth->duration_s, auth->force, auth->comment);
    return n >= 0 && (size_t)n < cap ? n : -1;
}

/* --- set-up ------------------------------------------------------------------- */

struct cmdgate *cmdgate_new(const struct cfg_site *site)
{
    struct cmdgate *g = calloc(1, sizeof(*g));

    if (!g)
        return NULL;
    g->seen = calloc(SEEN_MAX, sizeof(*g->seen));
    if (!g->seen || pthread_mutex_init(&g->lock, NULL) != 0) {
        free(g->seen);
        free(g);
        return NULL;
    }
    for (int s = 0; s < SOURCES; s++)
        g->rate[s].tokens = RATE_BURST;
    cmdgate_configure(g, site);
    return g;
}

void cmdgate_configure(struct cmdgate *g, const struct cfg_site *site)
{
    struct cfg_operator *ops = NULL;

    if (site->n_operators > 0) {
        ops = malloc((size_t)site->n_operators * sizeof(*ops));
        if (ops)
            memcpy(ops, site->operators, (size_t)site->n_operators * sizeof(*ops));
    }
    pthread_mutex_lock(&g->lock);
    free(g->ops);
    /* Out of memory with operators configured: no operator is known, so every command is
     * refused rather than accepted unsigned. */
    g->ops = ops;
    g->n_ops = site->n_operators;
    if (!ops && site->n_operators > 0)
        g->n_ops = -1;
    g->max_age_s = site->mqtt.cmd_max_age_s;
    snprintf(g->site_id, sizeof(g->site_id), "%s", site->id);
    pthread_mutex_unlock(&g->lock);
}

void cmdgate_free(struct cmdgate *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->lock);
    free(g->ops);
    free(g->seen);
    free(g);
}

/* --- the checks (under g->lock) ------------------------------------------------ */

/* A token bucket per source: a flood of commands is refused before it costs a parse. */
static bool within_rate(struct cmdgate *g, enum core_cmd_source src, uint64_t now_mono_ms)
{
    struct budget *b = &g->rate[src];

    b->tokens += (double)(now_mono_ms - b->at_mono_ms) * RATE_PER_S / 1000.0;
    if (b->tokens > RATE_BURST)
        b->tokens = RATE_BURST;
    b->at_mono_ms = now_mono_ms;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

static const struct cfg_operator *find_operator(const struct cmdgate *g, const char *name)
{
    for (int i = 0; i < g->n_ops; i++)
        if (strcmp(g->ops[i].name, name) == 0)
            return &g->ops[i];
    return NULL;
}

/* Verifies the command's signature; on failure writes why into err. */
static bool signed_by(const struct cmdgate *g, const struct cfg_operator *op, const struct core_cmd *cmd,
                      const struct msg_cmd_auth *auth, char *err, size_t errlen)
{
    char canon[1024];
    unsigned char sig[crypto_sign_BYTES];
    size_t sig_len = 0;
    int n;

    if (!auth->sig[0]) {
        snprintf(err, errlen, "command is not signed; this site requires signatures");
        return false;
    }
    n = cmdgate_canonical(g->site_id, cmd, auth, canon, sizeof(canon));
    if (n < 0 ||
        sodium_base642bin(sig, sizeof(sig), auth->sig, strlen(auth->sig), NULL, &sig_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        sig_len != sizeof(sig) ||
        crypto_sign_verify_detached(sig, (const unsigned char *)canon, (unsigned long long)n, op->key) != 0) {
        snprintf(err, errlen, "bad signature for operator \"%s\"", cmd->operator_name);
        return false;
    }
    return true;
}

/*
 * Who the command claims to come from and whether that holds: its operator
 * is known, signed it, and may run its op. Sets the role and the verified
 * bits; returns false with the reason in err.
 */
static bool authorised(const struct cmdgate *g, struct core_cmd *cmd, const struct msg_cmd_auth *auth, char *err,
                       size_t errlen)
{
    const struct cfg_operator *op;

    if (g->n_ops == 0)
        return true; /* a site without operators: unsigned commands, no roles (docs/commands.md) */
    if (auth->ts_wall_ms == MSG_NO_TS) {
        snprintf(err, errlen, "missing \"ts\"; a signed command must say when it was issued");
        return false;
    }
    op = find_operator(g, cmd->operator_name);
    if (!op) {
        snprintf(err, errlen, "unknown operator \"%s\"", cmd->operator_name);
        return false;
    }
    if (!signed_by(g, op, cmd, auth, err, errlen))
        return false;
    cmd->verified |= CORE_VERIFIED_SIGNED;
    cmd->role = op->role;
    if (!cmdgate_role_allows(op->role, cmd->op)) {
        snprintf(err, errlen, "operator \"%s\" (%s) may not %s", op->name, cfg_role_name(op->role),
                 core_op_name(cmd->op));
        return false;
    }
    cmd->verified |= CORE_VERIFIED_ROLE;
    return true;
}

/* The slot of id if remembered and still within its window, else NULL. */
static struct seen *seen_find(struct cmdgate *g, const char *id, int64_t now_wall_ms)
{
    for (size_t i = 0; i < SEEN_MAX; i++)
        if (g->seen[i].until_wall_ms > now_wall_ms && strcmp(g->seen[i].id, id) == 0)
            return &g->seen[i];
    return NULL;
}

/*
 * Remembers a passing command's id. Returns GATE_PASS, GATE_REPEAT for the
 * same command again, or GATE_REFUSED (err says why) for a replayed id or
 * a table full of ids still within their window (a flood).
 */
static enum gate_verdict remember(struct cmdgate *g, const char *id, const char *payload, size_t len,
                                  int64_t now_wall_ms, char *err, size_t errlen)
{
    unsigned char print[16];
    struct seen *s;

    crypto_generichash(print, sizeof(print), (const unsigned char *)payload, len, NULL, 0);
    s = seen_find(g, id, now_wall_ms);
    if (s && memcmp(s->print, print, sizeof(print)) == 0)
        return GATE_REPEAT;
    if (s) {
        snprintf(err, errlen, "command id \"%s\" was already used", id);
        return GATE_REFUSED;
    }
    for (size_t i = 0; i < SEEN_MAX; i++)
        if (g->seen[i].until_wall_ms <= now_wall_ms) {
            s = &g->seen[i];
            snprintf(s->id, sizeof(s->id), "%s", id);
            memcpy(s->print, print, sizeof(print));
            s->until_wall_ms = now_wall_ms + 2000LL * (g->max_age_s > 0 ? g->max_age_s : 1);
            return GATE_PASS;
        }
    snprintf(err, errlen, "too many commands in the last %d s; try again later", 2 * g->max_age_s);
    return GATE_REFUSED;
}

/* Whether this refusal becomes a command_refused event: at most REFUSALS_PER_MIN a minute per source. */
static bool refusal_budget(struct cmdgate *g, enum core_cmd_source src, uint64_t now_mono_ms, int *held)
{
    struct refusals *r = &g->refused[src];

    if (now_mono_ms - r->window_start_ms >= 60000) {
        r->window_start_ms = now_mono_ms;
        r->raised = 0;
    }
    if (r->raised >= REFUSALS_PER_MIN) {
        r->held++;
        return false;
    }
    r->raised++;
    *held = r->held;
    r->held = 0;
    return true;
}

/* --- the outcome ------------------------------------------------------------- */

static void refuse(struct cmdgate *g, enum core_cmd_source src, const struct core_cmd *cmd, int parse_rc,
                   uint64_t now_mono_ms, struct gate_outcome *out)
{
    char text[3 * CORE_ERROR_MAX]; /* core_system_input() cuts it to the core's text */
    int held = 0, n;

    out->verdict = GATE_REFUSED;
    n = msg_cmd_rejected(cmd, parse_rc, out->reason, out->result, sizeof(out->result));
    out->result_len = n > 0 ? (size_t)n : 0;
    out->raise = refusal_budget(g, src, now_mono_ms, &held);
    if (!out->raise)
        return;
    /* Never the signature, and the names as claimed: this is what was attempted. */
    snprintf(text, sizeof(text), "command %.40s %s%s%.48s by \"%.32s\" refused: %s%s", cmd->id[0] ? cmd->id : "?",
             parse_rc == MSG_CMD_BAD ? "?" : core_op_name(cmd->op), cmd->target[0] ? " " : "", cmd->target,
             cmd->operator_name, out->reason, held ? " (and more refused before it)" : "");
    core_system_input(&out->refusal, CORE_SYS_COMMAND_REFUSED, true, text, 0, 0);
}

/* Parses and checks; returns the parse status for the reply, with out->reason set when refused. */
static int check_locked(struct cmdgate *g, enum core_cmd_source src, const char *payload, size_t len,
                        int64_t now_wall_ms, uint64_t now_mono_ms, struct gate_outcome *out)
{
    struct core_cmd *cmd = &out->input.u.cmd;
    struct msg_cmd_auth auth;
    int rc;

    if (len > GATE_PAYLOAD_MAX) {
        snprintf(out->reason, sizeof(out->reason), "command of %zu bytes; at most %d", len, GATE_PAYLOAD_MAX);
        return MSG_CMD_BAD;
    }
    if (!within_rate(g, src, now_mono_ms)) {
        snprintf(out->reason, sizeof(out->reason), "too many commands from this source; try again in a second");
        /* One answer a second tells a sender in good faith; answering every one would feed the flood
         * and queue results ahead of alarms. */
        out->answer = g->rate[src].answered_second != now_mono_ms / 1000;
        g->rate[src].answered_second = now_mono_ms / 1000;
        return MSG_CMD_BAD;
    }
    rc = msg_parse_cmd(payload, len, cmd, &auth, out->reason, sizeof(out->reason));
    if (rc != MSG_CMD_OK)
        return rc;
    if (has_line_break(cmd->id) || has_line_break(cmd->target) || has_line_break(cmd->operator_name) ||
        has_line_break(auth.comment)) {
        snprintf(out->reason, sizeof(out->reason), "a field holds a line break; none may");
        return MSG_CMD_BAD_ARGS;
    }
    if (msg_cmd_fresh(auth.ts_wall_ms, now_wall_ms, g->max_age_s, out->reason, sizeof(out->reason)) < 0)
        return MSG_CMD_BAD_ARGS;
    if (auth.ts_wall_ms != MSG_NO_TS)
        cmd->verified |= CORE_VERIFIED_FRESH;
    if (!authorised(g, cmd, &auth, out->reason, sizeof(out->reason)))
        return MSG_CMD_BAD_ARGS;
    cmd->source = src;
    cmd->reason_given = auth.comment[0] != '\0';
    memcpy(out->comment, auth.comment, sizeof(out->comment));
    out->verdict = remember(g, cmd->id, payload, len, now_wall_ms, out->reason, sizeof(out->reason));
    if (out->verdict == GATE_REFUSED)
        return MSG_CMD_BAD_ARGS;
    cmd->verified |= CORE_VERIFIED_UNIQUE;
    return MSG_CMD_OK;
}

void cmdgate_check(struct cmdgate *g, enum core_cmd_source src, const char *payload, size_t len,
                   int64_t now_wall_ms, uint64_t now_mono_ms, struct gate_outcome *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    out->input.type = CORE_IN_CMD;
    out->answer = true;
    pthread_mutex_lock(&g->lock);
    rc = check_locked(g, src, payload, len, now_wall_ms, now_mono_ms, out);
    if (rc != MSG_CMD_OK)
        refuse(g, src, &out->input.u.cmd, rc, now_mono_ms, out);
    pthread_mutex_unlock(&g->lock);
}
