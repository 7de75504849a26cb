/*
 * journal.c - the append-only, hash-chained journal of core inputs.
 *
 * Layout (docs/journal.md has it byte by byte): a directory of segment files
 * "journal-<16 hex digits>.vj", numbered 1, 2, 3 ... Each starts with a
 * 48-byte header (magic, version, segment number, the chain hash that ended
 * the previous segment) and holds records framed as
 *     u32 payload length | u8 type | payload | 32-byte chain hash
 * where the chain hash is BLAKE2b-256(previous hash || length || type ||
 * payload) and the first record's "previous hash" is BLAKE2b-256 of the
 * header. All integers are little-endian and written field by field, so the
 * format does not depend on struct layout, padding or the host.
 *
 * The module has three parts that share the codec: the writer (one per
 * daemon, used by the core thread), the reader (verify, replay, recovery and
 * the writer's own start-up scan), and recovery built on the reader.
 *
 * Why a torn tail is truncated but damage is set aside: a power cut can only
 * leave the last record incomplete (or zero-filled where the file system
 * extended the file before the data reached the disk); anything else means
 * the file was changed behind vigild's back, and that evidence is kept.
 */
#include "journal.h"
#include "lecodec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "statedir.h"

#define SEG_MAGIC "VGLJ"
#define SEG_VERSION 1
#define SEG_HEADER_LEN 48           /* magic 4, version 2, reserved 2, number 8, prev hash 32 */
#define REC_FRAME_LEN 5             /* u32 length + u8 type */
#define REC_OVERHEAD (REC_FRAME_LEN + JRNL_HASH_LEN)
#define SNAP_FIXED_LEN 24           /* mono_ms, wall_ms, next_seq before the snapshot bytes */
#define INPUT_RECORD_CAP 4096       /* any encoded input fits (strings are bounded) */
#define SNAP_PIECE (256 * 1024)     /* a snapshot goes out in pieces this big (each one serialises it all) */
#define DAY_MS (24LL * 3600 * 1000)
#define DIR_MAX (JRNL_PATH_MAX - 48) /* room for "/journal-<16 hex>.vj.damaged" */

/* ---- small helpers -------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* mkdir -p: creates dir and any missing parents. */
static int mkdir_p(const char *dir)
{
    char path[JRNL_PATH_MAX];

    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static void seg_path(char *out, size_t cap, const char *dir, uint64_t no)
{
    snprintf(out, cap, "%s/journal-%016" PRIx64 ".vj", dir, no);
}

/* Parses "journal-<16 lowercase hex>.vj"; returns 0 with *no, or -1. */
static int parse_seg_name(const char *name, uint64_t *no)
{
    uint64_t v = 0;

    if (strlen(name) != 27 || strncmp(name, "journal-", 8) != 0 || strcmp(name + 24, ".vj") != 0)
        return -1;
    for (int i = 8; i < 24; i++) {
        char c = name[i];
        if (c >= '0' && c <= '9')
            v = v << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | (uint64_t)(c - 'a' + 10);
        else
            return -1;
    }
    *no = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * Lists the segment numbers in dir, ascending, into a malloc'd array the
 * caller frees. A missing directory is an empty list. Returns 0 or -1.
 */
static int list_segments(const char *dir, uint64_t **out, size_t *n, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t cap = 0;
    uint64_t no, *v = NULL;

    *out = NULL;
    *n = 0;
    if (!d) {
        if (errno == ENOENT)
            return 0;
        set_err(err, errlen, "%s: cannot read directory: %s", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (parse_seg_name(e->d_name, &no) < 0)
            continue;
        if (*n == cap) {
            uint64_t *grown = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
            if (!grown) {
                free(v);
                closedir(d);
                set_err(err, errlen, "%s: out of memory listing segments", dir);
                return -1;
            }
            v = grown;
        }
        v[(*n)++] = no;
    }
    closedir(d);
    if (v)
        qsort(v, *n, sizeof(*v), cmp_u64);
    *out = v;
    return 0;
}

/* ---- codec ------------------------------------------------------------------ */

/* An append-only byte buffer; overflow is sticky and checked once at the end. */
struct wbuf {
    unsigned char *p;
    size_t len, cap;
    bool full;
};

static void put_bytes(struct wbuf *b, const void *data, size_t n)
{
    if (b->full || n > b->cap - b->len) {
        b->full = true;
        return;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_le(struct wbuf *b, uint64_t v, int bytes)
{
    unsigned char tmp[8];

    le_store(tmp, v, bytes);
    put_bytes(b, tmp, (size_t)bytes);
}

static void put_u8(struct wbuf *b, unsigned v) { put_le(b, v, 1); }
static void put_u64(struct wbuf *b, uint64_t v) { put_le(b, v, 8); }
static void put_i64(struct wbuf *b, int64_t v) { put_le(b, (uint64_t)v, 8); }

/* A string as u16 length + bytes, without the NUL. */
static void put_str(struct wbuf *b, const char *s)
{
    size_t n = strlen(s);

    if (n > UINT16_MAX) {
        b->full = true;
        return;
    }
    put_le(b, n, 2);
    put_bytes(b, s, n);
}

/* A bounded reader over one payload; any short or invalid field makes it bad. */
struct rbuf {
    const unsigned char *p;
    size_t len, pos;
    bool bad;
};

static uint64_t get_le(struct rbuf *r, int bytes)
{
    uint64_t v;

    if (r->bad || (size_t)bytes > r->len - r->pos) {
        r->bad = true;
        return 0;
    }
    v = le_load(r->p + r->pos, bytes);
    r->pos += (size_t)bytes;
    return v;
}

static uint64_t get_u64(struct rbuf *r) { return get_le(r, 8); }
static int64_t get_i64(struct rbuf *r) { return (int64_t)get_le(r, 8); }

/* A u8 that must be at most max (enums and booleans). */
static unsigned get_enum(struct rbuf *r, unsigned max)
{
    unsigned v = (unsigned)get_le(r, 1);

    if (v > max)
        r->bad = true;
    return r->bad ? 0 : v;
}

/* Copies a u16-length string into dst (cap bytes with the NUL); no NUL inside. */
static void get_str(struct rbuf *r, char *dst, size_t cap)
{
    size_t n = (size_t)get_le(r, 2);

    dst[0] = '\0';
    if (r->bad || n >= cap || n > r->len - r->pos || memchr(r->p + r->pos, '\0', n)) {
        r->bad = true;
        return;
    }
    memcpy(dst, r->p + r->pos, n);
    dst[n] = '\0';
    r->pos += n;
}

/* Encodes the type-specific tail of an input; SAMPLE and COMM by id. */
static void encode_input_body(struct wbuf *b, const struct cfg_site *site, const struct core_input *in)
{
    uint64_t bits;

    switch (in->type) {
    case CORE_IN_SAMPLE:
        memcpy(&bits, &in->u.sample.value, sizeof(bits));
        put_str(b, site->points[in->u.sample.point].id);
        put_u64(b, bits);
        break;
    case CORE_IN_COMM:
        put_str(b, site->devices[in->u.comm.device].id);
        put_u8(b, in->u.comm.up);
        break;
    case CORE_IN_CMD:
        put_str(b, in->u.cmd.id);
        put_u8(b, (unsigned)in->u.cmd.op);
        put_str(b, in->u.cmd.target);
        put_str(b, in->u.cmd.operator_name);
        put_i64(b, in->u.cmd.duration_ms);
        put_u8(b, in->u.cmd.force);
        put_u8(b, (unsigned)in->u.cmd.source);
        put_u8(b, in->u.cmd.verified);
        put_u8(b, (unsigned)in->u.cmd.role);
        put_u8(b, in->u.cmd.reason_given);
        break;
    case CORE_IN_TICK:
        break;
    case CORE_IN_SYSTEM:
        put_u8(b, (unsigned)in->u.sys.kind);
        put_u8(b, in->u.sys.active);
        put_str(b, in->u.sys.text);
        put_u64(b, in->u.sys.epoch);
        put_u64(b, in->u.sys.seq_floor);
        break;
    case CORE_IN_RECEIPT:
        put_u8(b, in->u.receipt.n);
        for (unsigned i = 0; i < in->u.receipt.n && i < CORE_RECEIPT_SEQS; i++)
            put_u64(b, in->u.receipt.seqs[i]);
        break;
    }
}

/* Decodes an INPUT payload into ji; returns 0, or -1 if it is malformed. */
static int decode_input(const unsigned char *p, size_t len, struct jrnl_input *ji)
{
    struct rbuf r = {.p = p, .len = len};
    struct core_input *in = &ji->in;
    uint64_t bits;

    memset(ji, 0, sizeof(*ji));
    in->type = (enum core_input_type)get_enum(&r, CORE_IN_RECEIPT);
    in->mono_ms = get_u64(&r);
    in->wall_ms = get_i64(&r);
    switch (in->type) {
    case CORE_IN_SAMPLE:
        get_str(&r, ji->ref, sizeof(ji->ref));
        bits = get_u64(&r);
        memcpy(&in->u.sample.value, &bits, sizeof(bits));
        in->u.sample.point = -1;
        break;
    case CORE_IN_COMM:
        get_str(&r, ji->ref, sizeof(ji->ref));
        in->u.comm.up = get_enum(&r, 1);
        in->u.comm.device = -1;
        break;
    case CORE_IN_CMD:
        get_str(&r, in->u.cmd.id, sizeof(in->u.cmd.id));
        in->u.cmd.op = (enum core_cmd_op)get_enum(&r, CORE_CMD__COUNT - 1);
        get_str(&r, in->u.cmd.target, sizeof(in->u.cmd.target));
        get_str(&r, in->u.cmd.operator_name, sizeof(in->u.cmd.operator_name));
        in->u.cmd.duration_ms = get_i64(&r);
        in->u.cmd.force = get_enum(&r, 1);
        /* Journals written before the command gate end here: MQTT, nothing verified. */
        if (r.pos < r.len) {
            in->u.cmd.source = (enum core_cmd_source)get_enum(&r, CORE_SRC_LOCAL);
            in->u.cmd.verified = (unsigned)get_le(&r, 1);
            in->u.cmd.role = (enum cfg_role)get_enum(&r, CFG_ROLE_AUDITOR);
            in->u.cmd.reason_given = get_enum(&r, 1);
        }
        break;
    case CORE_IN_TICK:
        break;
    case CORE_IN_SYSTEM:
        in->u.sys.kind = (enum core_sys_kind)get_enum(&r, CORE_SYS__COUNT - 1);
        in->u.sys.active = get_enum(&r, 1);
        get_str(&r, in->u.sys.text, sizeof(in->u.sys.text));
        /* Journals written before epochs end here: no epoch, no floor. */
        if (r.pos < r.len) {
            in->u.sys.epoch = get_u64(&r);
            in->u.sys.seq_floor = get_u64(&r);
        }
        break;
    case CORE_IN_RECEIPT:
        in->u.receipt.n = (uint8_t)get_enum(&r, CORE_RECEIPT_SEQS);
        for (unsigned i = 0; i < in->u.receipt.n; i++)
            in->u.receipt.seqs[i] = get_u64(&r);
        break;
    }
    return r.bad || r.pos != r.len ? -1 : 0;
}

/* Decodes a CONFIG or SNAPSHOT payload (or an INPUT) into rec. Returns 0 or -1. */
static int decode_record(unsigned type, const unsigned char *p, size_t len, struct jrnl_record *rec)
{
    struct rbuf r = {.p = p, .len = len};

    rec->type = (enum jrnl_rec_type)type;
    switch (type) {
    case JRNL_REC_CONFIG:
        rec->u.config.hash = get_u64(&r);
        get_str(&r, rec->u.config.site_id, sizeof(rec->u.config.site_id));
        get_str(&r, rec->u.config.path, sizeof(rec->u.config.path));
        return r.bad || r.pos != r.len ? -1 : 0;
    case JRNL_REC_SNAPSHOT:
        rec->u.snapshot.mono_ms = get_u64(&r);
        rec->u.snapshot.wall_ms = get_i64(&r);
        rec->u.snapshot.next_seq = get_u64(&r);
        rec->u.snapshot.data = p + r.pos;
        rec->u.snapshot.len = len - r.pos;
        return r.bad ? -1 : 0;
    case JRNL_REC_INPUT:
        return decode_input(p, len, &rec->u.input);
    default:
        return -1;
    }
}

int jrnl_input_resolve(const struct jrnl_input *ji, const struct cfg_site *site, struct core_input *out)
{
    *out = ji->in;
    if (out->type == CORE_IN_SAMPLE)
        return (out->u.sample.point = cfg_find_point(site, ji->ref)) < 0 ? -1 : 0;
    if (out->type == CORE_IN_COMM)
        return (out->u.comm.device = cfg_find_device(site, ji->ref)) < 0 ? -1 : 0;
    return 0;
}

/* ---- chain -------------------------------------------------------------- */

/* The chain hash of a framed record: BLAKE2b-256(prev || length || type || payload). */
static void chain_hash(const unsigned char prev[JRNL_HASH_LEN], const unsigned char *framed, size_t n,
                       unsigned char out[JRNL_HASH_LEN])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, JRNL_HASH_LEN);
    crypto_generichash_update(&st, prev, JRNL_HASH_LEN);
    crypto_generichash_update(&st, framed, n);
    crypto_generichash_final(&st, out, JRNL_HASH_LEN);
}

static void header_build(unsigned char h[SEG_HEADER_LEN], uint64_t no, const unsigned char prev[JRNL_HASH_LEN])
{
    struct wbuf b = {.p = h, .cap = SEG_HEADER_LEN};

    put_bytes(&b, SEG_MAGIC, 4);
    put_le(&b, SEG_VERSION, 2);
    put_le(&b, 0, 2);
    put_u64(&b, no);
    put_bytes(&b, prev, JRNL_HASH_LEN);
}

/* The hash the first record of a segment chains to: BLAKE2b-256 of its header. */
static void header_seed(const unsigned char h[SEG_HEADER_LEN], unsigned char out[JRNL_HASH_LEN])
{
    crypto_generichash(out, JRNL_HASH_LEN, h, SEG_HEADER_LEN, NULL, 0);
}

/* ---- reader ---------------------------------------------------------------- */

struct jrnl_reader {
    char dir[DIR_MAX];              /* "" when reading one file */
    char file[JRNL_PATH_MAX];       /* the current (or only) segment */
    uint64_t *segs;                 /* segment numbers (directory mode) */
    size_t n_segs, next_seg;
    FILE *f;
    uint64_t seg_no, off, size;
    unsigned char chain[JRNL_HASH_LEN]; /* hash of the last good record (or the seed) */
    unsigned char last_end[JRNL_HASH_LEN]; /* chain at the end of the previous segment */
    uint64_t last_no;
    bool have_last;
    bool torn;                      /* stopped at a torn tail at torn_off */
    uint64_t torn_off;
    bool failed;
    unsigned char *buf;
    size_t cap;
    char err[JRNL_ERR_MAX];
    char note[JRNL_ERR_MAX];
};

static bool reader_on_last_segment(const struct jrnl_reader *r)
{
    return r->next_seg >= r->n_segs;
}

static int reader_fail(struct jrnl_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reader_fail(struct jrnl_reader *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    r->failed = true;
    return -1;
}

/* True if every byte of the open file from off to its end is zero. */
static bool tail_is_zero(struct jrnl_reader *r, uint64_t off)
{
    unsigned char chunk[4096];
    size_t n;

    if (fseeko(r->f, (off_t)off, SEEK_SET) != 0)
        return false;
    while ((n = fread(chunk, 1, sizeof(chunk), r->f)) > 0)
        for (size_t i = 0; i < n; i++)
            if (chunk[i])
                return false;
    return !ferror(r->f);
}

/*
 * The bytes at off do not form a valid record and may be the torn end of
 * the journal: the end of reading if this is the last segment, damage if a
 * later segment exists (a closed segment was cut short).
 */
static int reader_torn(struct jrnl_reader *r, uint64_t off)
{
    if (!reader_on_last_segment(r))
        return reader_fail(r, "%s offset %" PRIu64 ": truncated record in a closed segment (segment cut short)",
                           r->file, off);
    snprintf(r->note, sizeof(r->note), "torn record at %s offset %" PRIu64 " (power cut?)", r->file, off);
    r->torn = true;
    r->torn_off = off;
    return 0;
}

static int reader_grow(struct jrnl_reader *r, size_t need)
{
    unsigned char *p;

    if (need <= r->cap)
        return 0;
    p = realloc(r->buf, need);
    if (!p)
        return reader_fail(r, "%s: out of memory for a %zu-byte record", r->file, need);
    r->buf = p;
    r->cap = need;
    return 0;
}

/*
 * Names what is missing between the previous segment and segment no: a
 * segment vigild set aside as damaged, or one that was deleted.
 */
static int reader_gap(struct jrnl_reader *r, uint64_t missing)
{
    char path[JRNL_PATH_MAX + 16], damaged[JRNL_PATH_MAX + 32];

    seg_path(path, sizeof(path), r->dir, missing);
    snprintf(damaged, sizeof(damaged), "%s.damaged", path);
    if (access(damaged, F_OK) == 0)
        return reader_fail(r, "%s: segment was set aside as damaged by vigild (see its log); "
                              "the chain cannot be checked across it", damaged);
    return reader_fail(r, "%s: segment missing (deleted?) between journal segments", path);
}

/* Checks the header's link to the end of the segment read before it. */
static int reader_check_link(struct jrnl_reader *r, const unsigned char prev[JRNL_HASH_LEN])
{
    if (!r->have_last)
        return 0;
    if (r->seg_no != r->last_no + 1)
        return reader_gap(r, r->last_no + 1);
    if (memcmp(prev, r->last_end, JRNL_HASH_LEN) != 0)
        return reader_fail(r, "%s offset 0: previous-segment hash does not match the end of segment %" PRIu64
                              " (records deleted or segment replaced)", r->file, r->last_no);
    return 0;
}

/* Opens the next segment and reads its header. 1 = ready, 0 = torn end, -1 = problem. */
static int reader_open_segment(struct jrnl_reader *r)
{
    unsigned char h[SEG_HEADER_LEN];
    struct rbuf rb = {.p = h, .len = SEG_HEADER_LEN};
    uint64_t no;
    struct stat st;

    if (r->dir[0])
        seg_path(r->file, sizeof(r->file), r->dir, r->segs[r->next_seg]);
    r->next_seg++;
    r->off = 0;
    r->f = fopen(r->file, "rb");
    if (!r->f || fstat(fileno(r->f), &st) < 0)
        return reader_fail(r, "%s: cannot open: %s", r->file, strerror(errno));
    r->size = (uint64_t)st.st_size;
    if (fread(h, 1, SEG_HEADER_LEN, r->f) != SEG_HEADER_LEN)
        return reader_torn(r, 0);
    if (memcmp(h, SEG_MAGIC, 4) != 0) {
        if (tail_is_zero(r, 0))
            return reader_torn(r, 0);
        return reader_fail(r, "%s offset 0: not a vigil journal segment (bad magic)", r->file);
    }
    rb.pos = 4;
    if (get_le(&rb, 2) != SEG_VERSION)
        return reader_fail(r, "%s offset 4: unsupported journal version", r->file);
    rb.pos = 8;
    no = get_u64(&rb);
    if (r->dir[0] && no != r->segs[r->next_seg - 1])
        return reader_fail(r, "%s offset 8: header says segment %" PRIu64 " (file renamed?)", r->file, no);
    r->seg_no = no;
    if (reader_check_link(r, h + 16) < 0)
        return -1;
    header_seed(h, r->chain);
    r->off = SEG_HEADER_LEN;
    return 1;
}

/*
 * True if a record that chains to the 32 bytes before it starts somewhere
 * after off: intact records follow, so the bad bytes at off are damage in
 * the middle of the segment, not the torn end a power cut leaves.
 */
static bool chained_record_after(struct jrnl_reader *r, uint64_t off)
{
    uint64_t n = r->size - off;
    unsigned char *tail, hash[JRNL_HASH_LEN];
    bool found = false;

    if (n > 4 * (uint64_t)JRNL_RECORD_MAX)
        return true;        /* far more than one record: not a torn write */
    tail = malloc((size_t)n);
    if (!tail || fseeko(r->f, (off_t)off, SEEK_SET) != 0 || fread(tail, 1, (size_t)n, r->f) != n) {
        free(tail);
        return true;        /* cannot tell: keep the evidence */
    }
    for (size_t p = REC_OVERHEAD; !found && p + REC_OVERHEAD <= n; p++) {
        uint32_t len = (uint32_t)le_load(tail + p, 4);
        if (len > n - p - REC_OVERHEAD)
            continue;
        chain_hash(tail + p - JRNL_HASH_LEN, tail + p, REC_FRAME_LEN + len, hash);
        found = memcmp(hash, tail + p + REC_FRAME_LEN + len, JRNL_HASH_LEN) == 0;
    }
    free(tail);
    return found;
}

/* A record at off runs past the end of the file: torn, unless intact records follow it. */
static int reader_incomplete(struct jrnl_reader *r, uint64_t off)
{
    if (chained_record_after(r, off))
        return reader_fail(r, "%s offset %" PRIu64 ": chain hash mismatch (record edited, inserted or deleted)",
                           r->file, off);
    return reader_torn(r, off);
}

/*
 * Reads and checks one framed record at r->off. Returns 1 with rec filled,
 * 0 at the end of the segment or at a torn end, -1 at a problem.
 */
static int reader_record(struct jrnl_reader *r, struct jrnl_record *rec)
{
    unsigned char hash[JRNL_HASH_LEN];
    uint64_t remain = r->size - r->off;
    uint32_t len;

    if (remain == 0)
        return 0;
    if (remain < REC_OVERHEAD)
        return reader_incomplete(r, r->off);
    if (fread(r->buf, 1, REC_FRAME_LEN, r->f) != REC_FRAME_LEN)
        return reader_fail(r, "%s offset %" PRIu64 ": read error", r->file, r->off);
    len = (uint32_t)le_load(r->buf, 4);
    if (len > JRNL_RECORD_MAX)
        return tail_is_zero(r, r->off) ? reader_torn(r, r->off)
            : reader_fail(r, "%s offset %" PRIu64 ": bad record length %" PRIu32 " (record edited?)",
                          r->file, r->off, len);
    if ((uint64_t)len + REC_OVERHEAD > remain)
        return reader_incomplete(r, r->off);
    if (reader_grow(r, (size_t)len + REC_OVERHEAD) < 0)
        return -1;
    if (fread(r->buf + REC_FRAME_LEN, 1, (size_t)len + JRNL_HASH_LEN, r->f) != (size_t)len + JRNL_HASH_LEN)
        return reader_fail(r, "%s offset %" PRIu64 ": read error", r->file, r->off);
    chain_hash(r->chain, r->buf, REC_FRAME_LEN + (size_t)len, hash);
    if (memcmp(hash, r->buf + REC_FRAME_LEN + len, JRNL_HASH_LEN) != 0)
        return tail_is_zero(r, r->off) ? reader_torn(r, r->off)
            : reader_fail(r, "%s offset %" PRIu64 ": chain hash mismatch (record edited, inserted or deleted)",
                          r->file, r->off);
    if (decode_record(r->buf[4], r->buf + REC_FRAME_LEN, len, rec) < 0)
        return reader_fail(r, "%s offset %" PRIu64 ": undecodable record of type %u", r->file, r->off, r->buf[4]);
    memcpy(r->chain, hash, JRNL_HASH_LEN);
    rec->file = r->file;
    rec->offset = r->off;
    r->off += (uint64_t)len + REC_OVERHEAD;
    return 1;
}

int jrnl_reader_next(struct jrnl_reader *r, struct jrnl_record *rec)
{
    int rc;

    if (r->failed)
        return -1;
    for (;;) {
        if (r->torn)
            return 0;
        if (!r->f) {
            if (r->next_seg >= r->n_segs)
                return 0;
            if ((rc = reader_open_segment(r)) <= 0)
                return rc;
        }
        if ((rc = reader_record(r, rec)) != 0 || r->torn)
            return rc;
        /* clean end of this segment: remember how it ended for the next link */
        memcpy(r->last_end, r->chain, JRNL_HASH_LEN);
        r->last_no = r->seg_no;
        r->have_last = true;
        fclose(r->f);
        r->f = NULL;
    }
}

/* Allocates a reader with nothing to read yet. */
static struct jrnl_reader *reader_new(char *err, size_t errlen)
{
    struct jrnl_reader *r;

    if (sodium_init() < 0) {
        set_err(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (!r || reader_grow(r, INPUT_RECORD_CAP) < 0) {
        free(r);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    return r;
}

/* A reader over one segment file, whatever its name. */
static struct jrnl_reader *reader_open_file(const char *path, char *err, size_t errlen)
{
    struct jrnl_reader *r = reader_new(err, errlen);

    if (!r)
        return NULL;
    snprintf(r->file, sizeof(r->file), "%s", path);
    r->n_segs = 1;
    return r;
}

/* A reader over the segments of dir numbered first or higher. */
static struct jrnl_reader *reader_open_dir(const char *dir, uint64_t first, char *err, size_t errlen)
{
    struct jrnl_reader *r = reader_new(err, errlen);
    size_t skip = 0;

    if (!r)
        return NULL;
    snprintf(r->dir, sizeof(r->dir), "%s", dir);
    if (list_segments(dir, &r->segs, &r->n_segs, err, errlen) < 0) {
        free(r);
        return NULL;
    }
    while (skip < r->n_segs && r->segs[skip] < first)
        skip++;
    r->next_seg = skip;
    return r;
}

struct jrnl_reader *jrnl_reader_open(const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (strlen(path) >= DIR_MAX) {
        set_err(err, errlen, "%s: path too long", path);
        return NULL;
    }
    if (stat(path, &st) < 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    return S_ISDIR(st.st_mode) ? reader_open_dir(path, 0, err, errlen) : reader_open_file(path, err, errlen);
}

const char *jrnl_reader_error(const struct jrnl_reader *r) { return r->err; }
const char *jrnl_reader_note(const struct jrnl_reader *r) { return r->note; }

size_t jrnl_reader_segments(const struct jrnl_reader *r)
{
    return r->dir[0] ? r->n_segs : 1;
}

void jrnl_reader_close(struct jrnl_reader *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    free(r->segs);
    free(r->buf);
    free(r);
}

/*
 * Finds a segment vigild set aside as damaged ("journal-<hex>.vj.damaged").
 * It stays a problem for verify until a person has looked at it and moved
 * it out of the directory: retention never deletes evidence.
 */
static int find_damaged(const char *dir, char *path, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;

    if (!d)
        return 0;
    while (!found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 8 && strcmp(e->d_name + n - 8, ".damaged") == 0 && strncmp(e->d_name, "journal-", 8) == 0)
            found = snprintf(path, cap, "%s/%s", dir, e->d_name) > 0;
    }
    closedir(d);
    return found;
}

int jrnl_verify(const char *path, struct jrnl_summary *sum, char *err, size_t errlen)
{
    char damaged[JRNL_PATH_MAX];

    struct jrnl_reader *r = jrnl_reader_open(path, err, errlen);
    struct jrnl_record rec;
    int rc;

    memset(sum, 0, sizeof(*sum));
    if (!r)
        return -1;
    while ((rc = jrnl_reader_next(r, &rec)) == 1) {
        sum->records++;
        sum->inputs += rec.type == JRNL_REC_INPUT;
    }
    sum->segments = jrnl_reader_segments(r);
    snprintf(sum->note, sizeof(sum->note), "%s", r->note);
    if (rc < 0)
        set_err(err, errlen, "%s", r->err);
    else if (sum->segments == 0) {
        set_err(err, errlen, "%s: no journal segments", path);
        rc = -1;
    } else if (r->dir[0] && find_damaged(r->dir, damaged, sizeof(damaged))) {
        set_err(err, errlen, "%s: segment set aside as damaged by vigild (see its log); "
                             "move it out of the journal directory once investigated", damaged);
        rc = -1;
    }
    jrnl_reader_close(r);
    return rc < 0 ? -1 : 0;
}

/* ---- writer ---------------------------------------------------------------- */

/* What retention needs to know about each segment. */
struct seg_info {
    uint64_t no;
    uint64_t bytes;
    uint64_t inputs;
    int64_t newest_wall_ms;         /* of its newest input or snapshot; 0 if none */
};

struct jrnl {
    char dir[DIR_MAX];
    size_t segment_bytes;
    int retention_days;
    size_t max_total_bytes;
    int fd;                         /* the open (newest) segment */
    char path[JRNL_PATH_MAX];
    unsigned char chain[JRNL_HASH_LEN];
    struct seg_info *segs;          /* oldest first; the last one is open */
    size_t n_segs, cap_segs;
    unsigned char *buf;             /* one framed record */
    size_t cap;
    uint64_t last_mono_ms;          /* clocks of the last input, stamped on snapshots */
    int64_t last_wall_ms;
    bool dirty;                     /* written since the last fdatasync */
    uint64_t snapshot_seg;          /* segment of the newest snapshot: recovery starts there */
    char err[JRNL_ERR_MAX];
};

static int jrnl_fail(struct jrnl *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jrnl_fail(struct jrnl *j, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(j->err, sizeof(j->err), fmt, ap);
    va_end(ap);
    return -1;
}

const char *jrnl_error(const struct jrnl *j) { return j->err; }

void jrnl_last_clocks(const struct jrnl *j, uint64_t *mono_ms, int64_t *wall_ms)
{
    *mono_ms = j->last_mono_ms;
    *wall_ms = j->last_wall_ms;
}

static struct seg_info *current_seg(struct jrnl *j) { return &j->segs[j->n_segs - 1]; }

/* Adds a segment at the end of the bookkeeping (start-up and rotation only). */
static struct seg_info *push_seg(struct jrnl *j, uint64_t no)
{
    if (j->n_segs == j->cap_segs) {
        size_t cap = j->cap_segs ? j->cap_segs * 2 : 16;
        struct seg_info *grown = realloc(j->segs, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        j->segs = grown;
        j->cap_segs = cap;
    }
    j->segs[j->n_segs] = (struct seg_info){.no = no};
    return &j->segs[j->n_segs++];
}

static int grow_buf(struct jrnl *j, size_t need)
{
    unsigned char *p;

    if (need <= j->cap)
        return 0;
    p = realloc(j->buf, need);
    if (!p)
        return jrnl_fail(j, "%s: out of memory for a %zu-byte record", j->path, need);
    j->buf = p;
    j->cap = need;
    return 0;
}

/*
 * Creates segment no (O_EXCL), writes its header chained to prev and makes
 * both the file and its directory entry durable before anything is
 * appended, so a power cut never leaves records in a file the directory
 * does not list. On success the new segment is the open one; on failure
 * nothing changed (the half-made file is removed).
 */
static int create_segment(struct jrnl *j, uint64_t no, const unsigned char prev[JRNL_HASH_LEN])
{
    char path[JRNL_PATH_MAX];
    unsigned char h[SEG_HEADER_LEN];
    struct seg_info *s = NULL;
    int fd, e;

    seg_path(path, sizeof(path), j->dir, no);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return jrnl_fail(j, "%s: cannot create segment: %s", path, strerror(errno));
    header_build(h, no, prev);
    if (statedir_write_all(fd, h, sizeof(h)) < 0 || fdatasync(fd) < 0 || statedir_sync_dir(j->dir) < 0 ||
        !(s = push_seg(j, no))) {
        e = errno;
        close(fd);
        unlink(path);
        return jrnl_fail(j, "%s: cannot write segment header: %s", path, strerror(e));
    }
    memcpy(j->path, path, sizeof(path));
    j->fd = fd;
    header_seed(h, j->chain);
    s->bytes = SEG_HEADER_LEN;
    s->newest_wall_ms = j->last_wall_ms;
    return 0;
}

/*
 * Frames the payload already encoded at buf + REC_FRAME_LEN, chains it and
 * writes it with one write(2). A failed write is cut off again with
 * ftruncate so the segment never keeps half a record before later ones.
 */
/* Cuts the open segment back to its last whole record, after a record was written in part. */
static void cut_back(struct jrnl *j)
{
    struct seg_info *s = current_seg(j);

    if (ftruncate(j->fd, (off_t)s->bytes) < 0)
        log_err("journal: %s: cannot cut off a failed write at offset %" PRIu64 ": %s", j->path, s->bytes,
                strerror(errno));
}

/* A record's write failed (errno says why): cuts it off. Returns -1. */
static int record_failed(struct jrnl *j)
{
    int e = errno;

    cut_back(j);
    return jrnl_fail(j, "%s offset %" PRIu64 ": write failed: %s", j->path, current_seg(j)->bytes, strerror(e));
}

/* A record of payload_len bytes ending in hash is written: the chain moves on. */
static void record_written(struct jrnl *j, size_t payload_len, const unsigned char hash[JRNL_HASH_LEN])
{
    memcpy(j->chain, hash, JRNL_HASH_LEN);
    current_seg(j)->bytes += REC_OVERHEAD + payload_len;
    j->dirty = true;
}

static int write_record(struct jrnl *j, unsigned type, size_t payload_len)
{
    size_t framed = REC_FRAME_LEN + payload_len;
    unsigned char hash[JRNL_HASH_LEN];

    if (payload_len > JRNL_RECORD_MAX || grow_buf(j, framed + JRNL_HASH_LEN) < 0)
        return jrnl_fail(j, "%s: record of %zu bytes too large", j->path, payload_len);
    le_store(j->buf, payload_len, 4);
    j->buf[4] = (unsigned char)type;
    chain_hash(j->chain, j->buf, framed, hash);
    memcpy(j->buf + framed, hash, JRNL_HASH_LEN);
    if (statedir_write_all(j->fd, j->buf, framed + JRNL_HASH_LEN) < 0)
        return record_failed(j);
    record_written(j, payload_len, hash);
    return 0;
}

/* A writable view of the payload area of the record buffer. */
static struct wbuf payload_buf(struct jrnl *j)
{
    return (struct wbuf){.p = j->buf + REC_FRAME_LEN, .cap = j->cap - REC_OVERHEAD};
}

static int bad_ref(const struct cfg_site *site, const struct core_input *in)
{
    if (in->type == CORE_IN_SAMPLE)
        return in->u.sample.point < 0 || in->u.sample.point >= site->n_points;
    if (in->type == CORE_IN_COMM)
        return in->u.comm.device < 0 || in->u.comm.device >= site->n_devices;
    return in->type > CORE_IN_RECEIPT;
}

int jrnl_append_input(struct jrnl *j, const struct cfg_site *site, const struct core_input *in)
{
    struct wbuf b = payload_buf(j);
    struct seg_info *s;

    if (bad_ref(site, in))
        return jrnl_fail(j, "%s: input of type %d is invalid or names no point or device of the site", j->path,
                         (int)in->type);
    put_u8(&b, (unsigned)in->type);
    put_u64(&b, in->mono_ms);
    put_i64(&b, in->wall_ms);
    encode_input_body(&b, site, in);
    if (b.full)
        return jrnl_fail(j, "%s: input record does not fit %zu bytes", j->path, b.cap);
    if (write_record(j, JRNL_REC_INPUT, b.len) < 0)
        return -1;
    s = current_seg(j);
    s->inputs++;
    if (in->wall_ms > s->newest_wall_ms)
        s->newest_wall_ms = in->wall_ms;
    j->last_mono_ms = in->mono_ms;
    j->last_wall_ms = in->wall_ms;
    return 0;
}

static int write_config(struct jrnl *j, const struct cfg_site *site, const char *config_path)
{
    struct wbuf b = payload_buf(j);

    put_u64(&b, site->hash);
    put_str(&b, site->id);
    put_str(&b, strlen(config_path) < CFG_PATH_MAX ? config_path : "");
    if (b.full)
        return jrnl_fail(j, "%s: config record does not fit", j->path);
    return write_record(j, JRNL_REC_CONFIG, b.len);
}

/* Serialises the core straight into the record buffer, growing it once if needed. */
/*
 * The snapshot record: its frame and fixed fields, then the core's snapshot
 * in pieces of SNAP_PIECE bytes through the record buffer, hashed as they
 * go. The bytes are those of one write of the whole record; only the buffer
 * is smaller (a 10,000-point snapshot is 1.7 MB, and a buffer grown to it
 * would stay resident for the life of the process).
 */
static int write_snapshot(struct jrnl *j, const struct core *core)
{
    size_t len = core_snapshot(core, NULL, 0), payload = SNAP_FIXED_LEN + len;
    unsigned char hash[JRNL_HASH_LEN];
    crypto_generichash_state st;
    struct wbuf b;

    if (payload > JRNL_RECORD_MAX || grow_buf(j, REC_FRAME_LEN + SNAP_FIXED_LEN + SNAP_PIECE) < 0)
        return jrnl_fail(j, "%s: snapshot of %zu bytes too large", j->path, payload);
    le_store(j->buf, payload, 4);
    j->buf[4] = JRNL_REC_SNAPSHOT;
    b = payload_buf(j);
    put_u64(&b, j->last_mono_ms);
    put_i64(&b, j->last_wall_ms);
    put_u64(&b, core_next_seq(core));
    crypto_generichash_init(&st, NULL, 0, JRNL_HASH_LEN);
    crypto_generichash_update(&st, j->chain, JRNL_HASH_LEN);
    crypto_generichash_update(&st, j->buf, REC_FRAME_LEN + SNAP_FIXED_LEN);
    if (statedir_write_all(j->fd, j->buf, REC_FRAME_LEN + SNAP_FIXED_LEN) < 0)
        return record_failed(j);
    for (size_t from = 0; from < len; from += SNAP_PIECE) {
        size_t n = len - from < SNAP_PIECE ? len - from : SNAP_PIECE;
        if (core_snapshot_part(core, from, j->buf, n) != len) {
            cut_back(j);
            return jrnl_fail(j, "%s: core snapshot changed size while being taken", j->path);
        }
        crypto_generichash_update(&st, j->buf, n);
        if (statedir_write_all(j->fd, j->buf, n) < 0)
            return record_failed(j);
    }
    crypto_generichash_final(&st, hash, JRNL_HASH_LEN);
    if (statedir_write_all(j->fd, hash, JRNL_HASH_LEN) < 0)
        return record_failed(j);
    record_written(j, payload, hash);
    j->snapshot_seg = current_seg(j)->no;
    return 0;
}

int jrnl_begin(struct jrnl *j, const struct cfg_site *site, const char *config_path, const struct core *core)
{
    if (write_config(j, site, config_path) < 0 || write_snapshot(j, core) < 0)
        return -1;
    return 0;
}

int jrnl_sync(struct jrnl *j)
{
    if (!j->dirty)
        return 0;
    if (fdatasync(j->fd) < 0)
        return jrnl_fail(j, "%s: fdatasync failed: %s", j->path, strerror(errno));
    j->dirty = false;
    return 0;
}

/* Removes the oldest segment file and its bookkeeping. Returns 0 or -1 (logged). */
static int remove_oldest(struct jrnl *j, const char *why)
{
    char path[JRNL_PATH_MAX];

    seg_path(path, sizeof(path), j->dir, j->segs[0].no);
    if (unlink(path) < 0 && errno != ENOENT) {
        log_err("journal: cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    log_info("journal: removed %s (%s)", path, why);
    memmove(j->segs, j->segs + 1, (j->n_segs - 1) * sizeof(*j->segs));
    j->n_segs--;
    return 0;
}

/*
 * Deletes the oldest closed segments while retention allows it. The two
 * floors always hold: the segments left hold at least JRNL_KEEP_INPUTS_MIN
 * inputs, and nothing younger than JRNL_RETENTION_DAYS_MIN days is removed.
 * Past the floors a segment goes when all of it is older than
 * retention_days, or when the journal exceeds max_total_bytes.
 */
static void apply_retention(struct jrnl *j, int64_t now_wall_ms)
{
    int64_t keep_before = now_wall_ms - (int64_t)j->retention_days * DAY_MS;
    int64_t floor_before = now_wall_ms - JRNL_RETENTION_DAYS_MIN * DAY_MS;
    uint64_t total = 0, newer_inputs = 0;
    bool removed = false;

    for (size_t i = 0; i < j->n_segs; i++) {
        total += j->segs[i].bytes;
        newer_inputs += j->segs[i].inputs;
    }
    while (j->n_segs > 1) {
        const struct seg_info oldest = j->segs[0];
        bool aged = oldest.newest_wall_ms < keep_before;
        bool over = j->max_total_bytes && total > j->max_total_bytes && oldest.newest_wall_ms < floor_before;

        newer_inputs -= oldest.inputs;
        if (newer_inputs < JRNL_KEEP_INPUTS_MIN || (!aged && !over))
            break;
        if (remove_oldest(j, aged ? "older than the retention period" : "journal over its size cap") < 0)
            break;          /* try again at the next rotation */
        total -= oldest.bytes;
        removed = true;
    }
    if (removed)
        statedir_sync_dir(j->dir);
}

int jrnl_trim(struct jrnl *j, uint64_t max_bytes, uint64_t keep_from_seg)
{
    uint64_t total = jrnl_bytes(j), newer_inputs = 0;
    int removed = 0;

    for (size_t i = 0; i < j->n_segs; i++)
        newer_inputs += j->segs[i].inputs;
    while (j->n_segs > 1 && total > max_bytes && j->segs[0].no < keep_from_seg) {
        const struct seg_info oldest = j->segs[0];

        newer_inputs -= oldest.inputs;
        if (newer_inputs < JRNL_KEEP_INPUTS_MIN || remove_oldest(j, "state directory over its size budget") < 0)
            break;
        total -= oldest.bytes;
        removed++;
    }
    if (removed)
        statedir_sync_dir(j->dir);
    return removed;
}

uint64_t jrnl_bytes(const struct jrnl *j)
{
    uint64_t total = 0;

    for (size_t i = 0; i < j->n_segs; i++)
        total += j->segs[i].bytes;
    return total;
}

uint64_t jrnl_snapshot_segment(const struct jrnl *j)
{
    return j->snapshot_seg ? j->snapshot_seg : 1;
}

int jrnl_maybe_rotate(struct jrnl *j, const struct cfg_site *site, const char *config_path,
                      const struct core *core, int64_t now_wall_ms)
{
    int old_fd = j->fd;

    if (current_seg(j)->bytes < j->segment_bytes)
        return 0;
    if (jrnl_sync(j) < 0)
        return -1;
    /* if the next segment cannot be made, keep appending to this one */
    if (create_segment(j, current_seg(j)->no + 1, j->chain) < 0)
        return -1;
    close(old_fd);
    if (jrnl_begin(j, site, config_path, core) < 0 || jrnl_sync(j) < 0)
        return -1;
    log_info("journal: started segment %s", j->path);
    apply_retention(j, now_wall_ms);
    return 0;
}

/* What the start-up scan found at the end of the newest segment. */
struct scan_end {
    unsigned char chain[JRNL_HASH_LEN]; /* hash of its last good record */
    bool torn, damaged;
    uint64_t good_end;                  /* offset just after the last good record */
    char problem[JRNL_ERR_MAX];
};

/* Reads one segment for the bookkeeping; end describes how it ended. */
static void scan_segment(struct jrnl *j, struct seg_info *s, struct scan_end *end)
{
    char path[JRNL_PATH_MAX], err[JRNL_ERR_MAX];
    struct jrnl_reader *r;
    struct jrnl_record rec;
    int rc;

    seg_path(path, sizeof(path), j->dir, s->no);
    memset(end, 0, sizeof(*end));
    if (!(r = reader_open_file(path, err, sizeof(err)))) {
        end->damaged = true;
        snprintf(end->problem, sizeof(end->problem), "%s", err);
        return;
    }
    while ((rc = jrnl_reader_next(r, &rec)) == 1) {
        if (rec.type == JRNL_REC_INPUT) {
            s->inputs++;
            j->last_mono_ms = rec.u.input.in.mono_ms;
            j->last_wall_ms = rec.u.input.in.wall_ms;
        } else if (rec.type == JRNL_REC_SNAPSHOT) {
            j->snapshot_seg = s->no;
            j->last_mono_ms = rec.u.snapshot.mono_ms;
            j->last_wall_ms = rec.u.snapshot.wall_ms;
        }
        if (rec.type != JRNL_REC_CONFIG && j->last_wall_ms > s->newest_wall_ms)
            s->newest_wall_ms = j->last_wall_ms;
    }
    memcpy(end->chain, r->chain, JRNL_HASH_LEN);
    end->torn = r->torn;
    end->damaged = rc < 0;
    end->good_end = r->torn ? r->torn_off : r->off;
    s->bytes = r->size;
    snprintf(end->problem, sizeof(end->problem), "%s", rc < 0 ? r->err : r->note);
    jrnl_reader_close(r);
}

/*
 * Cuts a torn record off the newest segment and reopens it for appending.
 * A segment without even a whole header was being created: it is replaced
 * by a fresh one chained to prev, the end of the segment before it.
 */
static int resume_after_torn(struct jrnl *j, const struct scan_end *end, const unsigned char prev[JRNL_HASH_LEN])
{
    struct seg_info *s = current_seg(j);

    log_warn("journal: torn record at %s offset %" PRIu64 " skipped (power cut?)", j->path, end->good_end);
    if (end->good_end < SEG_HEADER_LEN) {
        uint64_t no = s->no;
        j->n_segs--;
        if (unlink(j->path) < 0)
            return jrnl_fail(j, "%s: cannot remove torn segment: %s", j->path, strerror(errno));
        return create_segment(j, no, prev);
    }
    if (truncate(j->path, (off_t)end->good_end) < 0)
        return jrnl_fail(j, "%s: cannot truncate torn record: %s", j->path, strerror(errno));
    s->bytes = end->good_end;
    j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (j->fd < 0 || fdatasync(j->fd) < 0)
        return jrnl_fail(j, "%s: cannot reopen: %s", j->path, strerror(errno));
    return 0;
}

/* Sets a damaged newest segment aside and continues the chain in a new one. */
static int resume_after_damage(struct jrnl *j, const struct scan_end *end)
{
    char aside[JRNL_PATH_MAX + 16];
    uint64_t next = current_seg(j)->no + 1;

    snprintf(aside, sizeof(aside), "%s.damaged", j->path);
    log_err("journal: %s; segment renamed to %s, journal continues in a new segment "
            "(records after the damage are not used for recovery)", end->problem, aside);
    if (rename(j->path, aside) < 0)
        return jrnl_fail(j, "%s: cannot set damaged segment aside: %s", j->path, strerror(errno));
    j->n_segs--;
    return create_segment(j, next, j->chain);
}

/*
 * Scans every segment (bookkeeping for retention, logs damage in closed
 * segments) and readies the newest for appending: as it is, cut back after a
 * torn record, or set aside if damaged. A missing journal starts segment 1.
 */
static int open_segments(struct jrnl *j, const uint64_t *nos, size_t n)
{
    unsigned char prev[JRNL_HASH_LEN] = {0}; /* end of the segment before the newest */
    struct scan_end end;

    memset(&end, 0, sizeof(end));
    for (size_t i = 0; i < n; i++) {
        struct seg_info *s = push_seg(j, nos[i]);
        if (!s)
            return jrnl_fail(j, "%s: out of memory", j->dir);
        memcpy(prev, end.chain, JRNL_HASH_LEN);
        scan_segment(j, s, &end);
        if (i + 1 < n && (end.damaged || end.torn))
            log_err("journal: %s (closed segment; run vigilctl journal verify)", end.problem);
    }
    if (n == 0)
        return create_segment(j, 1, prev);
    seg_path(j->path, sizeof(j->path), j->dir, nos[n - 1]);
    memcpy(j->chain, end.chain, JRNL_HASH_LEN);
    if (end.damaged)
        return resume_after_damage(j, &end);
    if (end.torn)
        return resume_after_torn(j, &end, prev);
    j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    return j->fd < 0 ? jrnl_fail(j, "%s: cannot open for appending: %s", j->path, strerror(errno)) : 0;
}

struct jrnl *jrnl_open(const struct jrnl_options *o, char *err, size_t errlen)
{
    struct jrnl *j;
    uint64_t *nos;
    size_t n;
    int rc;

    if (sodium_init() < 0 || strlen(o->dir) >= DIR_MAX) {
        set_err(err, errlen, "%s: path too long or libsodium unusable", o->dir);
        return NULL;
    }
    if (mkdir_p(o->dir) < 0) {
        set_err(err, errlen, "%s: cannot create directory: %s", o->dir, strerror(errno));
        return NULL;
    }
    if (list_segments(o->dir, &nos, &n, err, errlen) < 0)
        return NULL;
    j = calloc(1, sizeof(*j));
    if (!j || !(j->buf = malloc(INPUT_RECORD_CAP))) {
        free(nos);
        free(j);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    j->cap = INPUT_RECORD_CAP;
    j->fd = -1;
    snprintf(j->dir, sizeof(j->dir), "%s", o->dir);
    j->segment_bytes = o->segment_bytes ? o->segment_bytes : JRNL_SEGMENT_BYTES_DEFAULT;
    j->retention_days = o->retention_days < JRNL_RETENTION_DAYS_MIN ? JRNL_RETENTION_DAYS_MIN : o->retention_days;
    j->max_total_bytes = o->max_total_bytes;
    rc = open_segments(j, nos, n);
    free(nos);
    if (rc < 0) {
        set_err(err, errlen, "%s", j->err);
        jrnl_close(j);
        return NULL;
    }
    return j;
}

void jrnl_close(struct jrnl *j)
{
    if (!j)
        return;
    if (j->fd >= 0) {
        if (jrnl_sync(j) < 0)
            log_err("journal: %s", j->err);
        close(j->fd);
    }
    free(j->segs);
    free(j->buf);
    free(j);
}

/* ---- recovery ------------------------------------------------------------ */

/* Feeds one journaled input to the core and hands its outputs on. */
static void refeed(const struct cfg_site *site, struct core *core, const struct jrnl_input *ji,
                   struct core_output *out, void (*on_output)(const struct core_output *, void *), void *arg,
                   struct jrnl_replay_info *info)
{
    struct core_input in;
    size_t n;

    info->last_mono_ms = ji->in.mono_ms;
    info->last_wall_ms = ji->in.wall_ms;
    if (!info->restored || jrnl_input_resolve(ji, site, &in) < 0) {
        info->skipped++;
        return;
    }
    n = core_step(core, &in, out);
    info->inputs++;
    for (size_t i = 0; on_output && i < n; i++)
        on_output(&out[i], arg);
}

/* Notes which config the records were written under and counts switches. */
static void note_config(const struct jrnl_record *jr, struct jrnl_replay_info *info, bool *seen)
{
    if (*seen && jr->u.config.hash != info->config_hash && info->restored)
        info->config_changes++;
    if (!info->restored || !*seen)
        info->config_hash = jr->u.config.hash;
    *seen = true;
}

/*
 * The loop shared by replay and recovery: skips the first `skip` records,
 * restores the first snapshot after them into core and feeds every later
 * input. Later snapshots are not restored: the core has reached the same
 * state by itself (and under a changed config a what-if replay must not be
 * reset to what really happened). Returns inputs fed, or -1 with err.
 */
static long replay_records(struct jrnl_reader *r, uint64_t skip, const struct cfg_site *site, struct core *core,
                           void (*on_output)(const struct core_output *, void *), void *arg,
                           struct jrnl_replay_info *info, char *err, size_t errlen)
{
    struct core_output *out = calloc(core_max_outputs(core) + 1, sizeof(*out));
    struct jrnl_record jr;
    bool config_seen = false;
    int rc;

    if (!out) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    for (uint64_t k = 0; (rc = jrnl_reader_next(r, &jr)) == 1; k++) {
        if (jr.type == JRNL_REC_CONFIG)
            note_config(&jr, info, &config_seen);
        if (k < skip)
            continue;
        if (jr.type == JRNL_REC_INPUT)
            refeed(site, core, &jr.u.input, out, on_output, arg, info);
        else if (jr.type == JRNL_REC_SNAPSHOT && !info->restored) {
            if (core_restore(core, jr.u.snapshot.data, jr.u.snapshot.len) < 0) {
                set_err(err, errlen, "%s offset %" PRIu64 ": snapshot does not restore", jr.file, jr.offset);
                free(out);
                return -1;
            }
            info->restored = true;
            info->last_mono_ms = jr.u.snapshot.mono_ms;
            info->last_wall_ms = jr.u.snapshot.wall_ms;
        }
    }
    snprintf(info->problem, sizeof(info->problem), "%s", rc < 0 ? r->err : "");
    snprintf(info->note, sizeof(info->note), "%s", r->note);
    free(out);
    return info->inputs;
}

/*
 * Finds the newest snapshot: the segment holding it and its index among
 * that segment's records. Returns 1 if found, 0 if none, -1 on error.
 * Segments exist but none holds a readable snapshot: that is damage, and
 * info->problem says so (an empty directory is a new journal, no problem).
 */
static int find_newest_snapshot(const char *dir, uint64_t *seg, uint64_t *index, struct jrnl_replay_info *info,
                                char *err, size_t errlen)
{
    uint64_t *nos;
    size_t n;
    int found = 0;

    if (list_segments(dir, &nos, &n, err, errlen) < 0)
        return -1;
    for (size_t i = n; i-- > 0 && !found;) {
        char path[JRNL_PATH_MAX];
        struct jrnl_reader *r;
        struct jrnl_record rec;

        seg_path(path, sizeof(path), dir, nos[i]);
        if (!(r = reader_open_file(path, err, errlen))) {
            free(nos);
            return -1;
        }
        for (uint64_t k = 0; jrnl_reader_next(r, &rec) == 1; k++)
            if (rec.type == JRNL_REC_SNAPSHOT) {
                *seg = nos[i];
                *index = k;
                found = 1;
            }
        jrnl_reader_close(r);
    }
    free(nos);
    if (!found && n > 0)
        snprintf(info->problem, sizeof(info->problem), "%s: no readable snapshot in %zu segments", dir, n);
    return found;
}

/* Checks what every entry point needs before reading; returns 0 or -1 with err. */
static int read_prepare(const char *path, struct jrnl_replay_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof(*info));
    if (sodium_init() < 0) {
        set_err(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    if (strlen(path) >= DIR_MAX) {
        set_err(err, errlen, "%s: path too long", path);
        return -1;
    }
    return 0;
}

long jrnl_recover(const char *dir, const struct cfg_site *site, struct core *core,
                  void (*on_output)(const struct core_output *, void *), void *arg,
                  struct jrnl_replay_info *found_info, char *err, size_t errlen)
{
    struct jrnl_replay_info local, *info_p = found_info ? found_info : &local;
    struct jrnl_reader *r;
    uint64_t seg = 0, index = 0;
    long n;
    int found;

    if (read_prepare(dir, info_p, err, errlen) < 0)
        return -1;
    found = find_newest_snapshot(dir, &seg, &index, info_p, err, errlen);
    if (found <= 0)
        return found;
    if (!(r = reader_open_dir(dir, seg, err, errlen)))
        return -1;
    n = replay_records(r, index, site, core, on_output, arg, info_p, err, errlen);
    jrnl_reader_close(r);
    if (n >= 0 && info_p->problem[0])
        log_err("journal: recovery stopped early at damage: %s (state is as of the record before it)",
                info_p->problem);
    if (n >= 0 && info_p->skipped)
        log_warn("journal: recovery skipped %ld inputs whose point or device is no longer configured",
                 info_p->skipped);
    return n;
}

long jrnl_replay(const char *path, const struct cfg_site *site, struct core *core,
                 void (*on_output)(const struct core_output *, void *), void *arg,
                 struct jrnl_replay_info *info, char *err, size_t errlen)
{
    struct jrnl_reader *r;
    long n;

    if (read_prepare(path, info, err, errlen) < 0 || !(r = jrnl_reader_open(path, err, errlen)))
        return -1;
    n = replay_records(r, 0, site, core, on_output, arg, info, err, errlen);
    jrnl_reader_close(r);
    if (n >= 0 && !info->restored) {
        set_err(err, errlen, "%s: %s", path, info->problem[0] ? info->problem : "no snapshot record to start from");
        return -1;
    }
    return n;
}
