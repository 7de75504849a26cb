/*
 * busload.c - RTU line arithmetic (see busload.h).
 */
#include "busload.h"

#include <stdlib.h>

#define FAST_GAP_US 1750   /* the fixed gap above 19200 baud */
#define RTU_READ_REQ 8     /* address, function, start (2), count (2), CRC (2) */
#define RTU_RSP_OVERHEAD 5 /* address, function, byte count, CRC (2) */

int busload_char_bits(const struct cfg_bus *bus)
{
    return 1 + bus->data_bits + (bus->parity == 'N' ? 0 : 1) + bus->stop_bits;
}

int busload_gap_us(const struct cfg_bus *bus)
{
    if (bus->baud > 19200)
        return FAST_GAP_US;
    /* 3.5 characters, rounded up: 7 half characters */
    return (int)((7LL * busload_char_bits(bus) * 1000000 + 2LL * bus->baud - 1) / (2LL * bus->baud));
}

void busload_read_bytes(const struct poll_block *blk, int *req_bytes, int *rsp_bytes)
{
    bool bits = blk->table == CFG_TABLE_COIL || blk->table == CFG_TABLE_DISCRETE;

    *req_bytes = RTU_READ_REQ;
    *rsp_bytes = RTU_RSP_OVERHEAD + (bits ? (blk->count + 7) / 8 : blk->count * 2);
}

long busload_cycle_us(const struct cfg_site *site, int device, int *requests, int *bytes)
{
    const struct cfg_bus *bus = &site->buses[site->devices[device].bus];
    int n = poll_plan(site, device, NULL, 0), total = 0;
    struct poll_block *plan = n >= 0 ? calloc((size_t)n + 1, sizeof *plan) : NULL;

    if (!plan)
        return -1;
    poll_plan(site, device, plan, n);
    for (int i = 0; i < n; i++) {
        int rq, rs;

        busload_read_bytes(&plan[i], &rq, &rs);
        total += rq + rs;
    }
    free(plan);
    if (requests)
        *requests = n;
    if (bytes)
        *bytes = total;
    return (long)((long long)total * busload_char_bits(bus) * 1000000 / bus->baud) +
           2L * n * busload_gap_us(bus);
}
