/*
 * fuzz_receipt.c - an MQTT payload on <prefix>/<site>/receipt (the station's
 * acknowledgement of events), as mqtt_inbound.c parses it. Checked beyond
 * "no crash": never more seqs than asked for, each >= 1, and a reason for
 * every refusal.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t seqs[MSG_RECEIPT_SEQS], epoch;
    char err[160] = "";
    int n = msg_parse_receipt(data, size, seqs, MSG_RECEIPT_SEQS, &epoch, err, sizeof(err));

    if (n < 0 && !err[0])
        abort();
    if (n > MSG_RECEIPT_SEQS)
        abort();
    for (int i = 0; i < n; i++)
        if (seqs[i] < 1)
            abort();
    return 0;
}
