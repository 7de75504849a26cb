/*
 * fuzz_cmd.c - an MQTT payload on <prefix>/<site>/cmd, through the parser
 * alone: parsed, age-checked against a fixed "now", and a rejected one
 * answered with the cmd/result reply built from whatever was readable
 * (fuzz_cmdgate.c runs the whole gate around it).
 * Checked beyond "no crash": every rejection carries a reason.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "message.h"

#define NOW_WALL_MS 1764000000000LL /* 2025-11-24T16:00:00Z */
#define MAX_AGE_S 120

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct core_cmd cmd;
    struct msg_cmd_auth auth;
    char err[CORE_ERROR_MAX] = "", reply[MSG_MAX];
    int rc = msg_parse_cmd((const char *)data, size, &cmd, &auth, err, sizeof(err));

    if (rc == MSG_CMD_OK && msg_cmd_fresh(auth.ts_wall_ms, NOW_WALL_MS, MAX_AGE_S, err, sizeof(err)) < 0)
        rc = MSG_CMD_BAD_ARGS;
    if (rc != MSG_CMD_OK) {
        if (!err[0])
            abort(); /* a refusal without a reason leaves the operator guessing */
        msg_cmd_rejected(&cmd, rc, err, reply, sizeof(reply));
    }
    return 0;
}
