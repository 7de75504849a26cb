/*
 * ctl_cmd.h - sending one operator command from vigilctl (docs/commands.md):
 * the id and time filled in, signed with the operator's key, published on
 * <prefix>/<site>/cmd, and its result taken from cmd/result. Used by the
 * operator commands (ctl_cmd.c) and by walktest start/stop.
 */
#ifndef VIGIL_CTL_CMD_H
#define VIGIL_CTL_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "core.h"
#include "ctl_mqtt.h"
#include "message.h"

#define EXIT_NO_ANSWER 3

struct ctl_command {
    const char *broker, *site, *prefix, *operator_name;
    const char *sign_key;          /* the operator's secret key file; NULL: unsigned */
    const char *comment;
    int timeout_s;
    struct ctl_mqtt_auth auth;     /* credentials and TLS towards the broker */
    struct core_cmd cmd;           /* op and target; id and operator are filled in */
    struct msg_cmd_auth a;         /* duration_s and force as sent; ts, comment, sig are filled in */
};

/*
 * Sends c and waits up to c->timeout_s for its result. Returns CTL_EXIT_OK
 * with *ok and, when refused, the reason in why; EXIT_NO_ANSWER when no
 * result came; CTL_EXIT_USAGE when it could not be sent (said on stderr).
 */
int ctl_command_send(struct ctl_command *c, bool *ok, char *why, size_t cap);

#endif
