/*
 * fuzz_journal.c - a journal segment file as `vigilctl replay` and crash
 * recovery read it: jrnl_replay() reads every record (the reader checks the
 * frame and the hash chain), restores the first snapshot into a fresh core
 * and feeds the inputs after it.
 *
 * Random bytes almost never carry a valid BLAKE2b chain, so the first byte
 * picks how the rest is used:
 *   even: the rest is the segment file as it is (header, framing and chain
 *         checks, torn tails);
 *   odd:  the rest is a list of records, each u8 type | u32 LE length |
 *         payload (a length past the end takes what is left), which this
 *         target frames and chains the way docs/journal.md specifies, so
 *         the fuzzer reaches the record decoders, core_restore() and the
 *         core behind them.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core.h"
#include "fuzz.h"
#include "../jtest_site.h"
#include "journal.h"
#include "log.h"

#define HEADER_LEN 48

static struct cfg_site *load_site(void)
{
    static struct cfg_site *site;
    char err[4096], path[512], text[sizeof(jtest_site_fmt) + 8];

    if (site)
        return site;
    log_set_level(LOG_LVL_ERR);
    snprintf(text, sizeof(text), jtest_site_fmt, "30.0");
    if (sodium_init() < 0 ||
        fuzz_write("jio.conf", jtest_profile_text, strlen(jtest_profile_text), path, sizeof(path)) < 0 ||
        fuzz_write("site.conf", text, strlen(text), path, sizeof(path)) < 0)
        abort();
    site = cfg_load(path, NULL, err, sizeof(err));
    if (!site)
        abort();
    return site;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Appends one framed record chained to chain (updated) at out[*n]. */
static void put_record(unsigned char *out, size_t *n, unsigned type, const uint8_t *payload, size_t len,
                       unsigned char chain[crypto_generichash_BYTES])
{
    unsigned char *rec = out + *n;
    crypto_generichash_state st;

    put_le(rec, len, 4);
    rec[4] = (unsigned char)type;
    memcpy(rec + 5, payload, len);
    crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES);
    crypto_generichash_update(&st, chain, crypto_generichash_BYTES);
    crypto_generichash_update(&st, rec, 5 + len);
    crypto_generichash_final(&st, chain, crypto_generichash_BYTES);
    memcpy(rec + 5 + len, chain, crypto_generichash_BYTES);
    *n += 5 + len + crypto_generichash_BYTES;
}

/* Segment 1 with a valid header and chain around the records listed in data. Returns its length. */
static size_t build_segment(const uint8_t *data, size_t size, unsigned char *out)
{
    unsigned char chain[crypto_generichash_BYTES];
    size_t n = HEADER_LEN, pos = 0;

    memset(out, 0, HEADER_LEN);
    memcpy(out, "VGLJ", 4);
    put_le(out + 4, 1, 2);
    put_le(out + 8, 1, 8);
    crypto_generichash(chain, sizeof(chain), out, HEADER_LEN, NULL, 0);
    while (pos < size) {
        unsigned type = data[pos++];
        size_t len = 0;

        for (int i = 0; i < 4 && pos < size; i++)
            len |= (size_t)data[pos++] << (8 * i);
        if (len > size - pos)
            len = size - pos;
        put_record(out, &n, type, data + pos, len, chain);
        pos += len;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct cfg_site *site = load_site();
    struct jrnl_replay_info info;
    char err[512], path[512];
    unsigned char *seg;
    size_t len;
    struct core *core;

    if (size == 0)
        return 0;
    /* A record takes 5 bytes of input or more (the last one may take fewer) and adds at most its frame and hash. */
    seg = malloc(HEADER_LEN + size + (size / 5 + 1) * (5 + crypto_generichash_BYTES));
    if (!seg)
        abort();
    if (data[0] & 1)
        len = build_segment(data + 1, size - 1, seg);
    else
        memcpy(seg, data + 1, len = size - 1);
    if (fuzz_write("journal-0000000000000001.vj", seg, len, path, sizeof(path)) < 0)
        abort();
    free(seg);
    core = core_new(site);
    if (!core)
        abort();
    memset(&info, 0, sizeof(info));
    jrnl_replay(path, site, core, NULL, NULL, &info, err, sizeof(err));
    core_free(core);
    return 0;
}
