/*
 * test_journal.c - the journal: round trip of every input type, the hash
 * chain against edits, deletions and torn tails, rotation and retention,
 * crash recovery and byte-identical replay of published events.
 *
 * Every case works in its own temporary directory with a small site written
 * as a config file and loaded with cfg_load(), the way vigild and vigilctl
 * load theirs. Inputs come from a seeded generator that mixes samples, comm
 * changes, operator commands, timer ticks and system inputs.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "core.h"
#include "core_fixture.h"
#include "harness.h"
#include "journal.h"
#include "log.h"
#include "message.h"
#include "record.h"
#include "jtest_site.h"

#define WALL_BASE_MS 1764000000000LL /* 2025-11-24T16:00:00Z */
#define DAY_MS (24LL * 3600 * 1000)


/* ---- fixtures ------------------------------------------------------------ */

struct fx {
    char dir[256];       /* temporary directory of the case */
    char jdir[300];      /* its journal directory */
    char conf[300];
    struct cfg_site *site;
};

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f) {
        printf("# cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

/* Writes site.conf (with the given high threshold) next to the profile. */
static void write_site(const char *dir, const char *name, const char *high, char *path, size_t cap)
{
    char text[sizeof(jtest_site_fmt) + 32];

    snprintf(path, cap, "%s/%s", dir, name);
    snprintf(text, sizeof(text), jtest_site_fmt, high);
    write_text(path, text);
}

static struct cfg_site *load_site(const char *path)
{
    static char err[4096];
    struct cfg_site *s = cfg_load(path, NULL, err, sizeof(err));

    if (!s) {
        printf("# cfg_load %s failed:\n%s\n", path, err);
        exit(1);
    }
    return s;
}

static void fx_setup(struct fx *f)
{
    const char *tmp = getenv("TMPDIR");
    char profile[300];

    snprintf(f->dir, sizeof(f->dir), "%s/vigil-jrnl-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        printf("# mkdtemp: %s\n", strerror(errno));
        exit(1);
    }
    snprintf(f->jdir, sizeof(f->jdir), "%s/journal", f->dir);
    snprintf(profile, sizeof(profile), "%s/jio.conf", f->dir);
    write_text(profile, jtest_profile_text);
    write_site(f->dir, "site.conf", "30.0", f->conf, sizeof(f->conf));
    f->site = load_site(f->conf);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static void fx_teardown(struct fx *f)
{
    cfg_free(f->site);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct jrnl *open_journal(const struct fx *f, size_t segment_bytes)
{
    char err[JRNL_ERR_MAX];
    struct jrnl_options o = {.dir = f->jdir, .segment_bytes = segment_bytes};
    struct jrnl *j = jrnl_open(&o, err, sizeof(err));

    if (!j)
        printf("# jrnl_open: %s\n", err);
    return j;
}

static char *seg_file(const struct fx *f, unsigned no, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/journal-%016x.vj", f->jdir, no);
    return buf;
}

static long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Runs fn with stderr going to a file, and returns what was logged (static buffer). */
static const char *capture_log(const struct fx *f, void (*fn)(void *), void *arg)
{
    static char text[8192];
    char path[300];
    int saved, fd;
    FILE *in;
    size_t n;

    snprintf(path, sizeof(path), "%s/log.txt", f->dir);
    fflush(stderr);
    saved = dup(2);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    in = fopen(path, "r");
    n = in ? fread(text, 1, sizeof(text) - 1, in) : 0;
    text[n] = '\0';
    if (in)
        fclose(in);
    return text;
}

/* ---- a seeded input generator ---------------------------------------------- */

struct gen {
    uint64_t state;
    uint64_t mono_ms;
    int64_t wall_base_ms;
    unsigned cmds;
};

static uint32_t gen_rand(struct gen *g)
{
    g->state = g->state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(g->state >> 33);
}

static void gen_sample(struct gen *g, const struct cfg_site *site, struct core_input *in)
{
    int p = (int)(gen_rand(g) % (uint32_t)site->n_points);

    in->type = CORE_IN_SAMPLE;
    in->u.sample.point = p;
    if (site->points[p].kind != CFG_KIND_TEMPERATURE)
        in->u.sample.value = gen_rand(g) % 2;
    else
        in->u.sample.value = gen_rand(g) % 25 == 0 ? NAN : 0.5 * (gen_rand(g) % 80);
}

static void gen_cmd(struct gen *g, const struct core *core, struct core_input *in)
{
    struct core_cmd *c = &in->u.cmd;

    in->type = CORE_IN_CMD;
    snprintf(c->id, sizeof(c->id), "c-%u", ++g->cmds);
    c->op = (enum core_cmd_op)(gen_rand(g) % 5);
    if (c->op == CORE_CMD_ARM || c->op == CORE_CMD_DISARM)
        snprintf(c->target, sizeof(c->target), "%s", gen_rand(g) % 8 ? "store" : "nowhere");
    else
        snprintf(c->target, sizeof(c->target), "%s",
                 core_alarm_info(core, (int)(gen_rand(g) % core_alarm_count(core)))->id);
    snprintf(c->operator_name, sizeof(c->operator_name), "guard-%u", gen_rand(g) % 3);
    c->duration_ms = 1000 + gen_rand(g) % 60000;
    c->force = gen_rand(g) % 2;
}

/* The next input: a tick if a timer falls due first, else a random kind. */
static void gen_next(struct gen *g, const struct cfg_site *site, const struct core *core, struct core_input *in)
{
    uint64_t next = g->mono_ms + gen_rand(g) % 3000, due = core_next_deadline(core);
    uint32_t r = gen_rand(g) % 100;

    memset(in, 0, sizeof(*in));
    g->mono_ms = due < next && due > g->mono_ms ? due : next;
    in->mono_ms = g->mono_ms;
    in->wall_ms = g->wall_base_ms + (int64_t)g->mono_ms;
    if (due <= g->mono_ms || r < 10) {
        in->type = CORE_IN_TICK;
    } else if (r < 60) {
        gen_sample(g, site, in);
    } else if (r < 72) {
        in->type = CORE_IN_COMM;
        in->u.comm.device = (int)(gen_rand(g) % (uint32_t)site->n_devices);
        in->u.comm.up = gen_rand(g) % 3 != 0;
    } else if (r < 95) {
        gen_cmd(g, core, in);
    } else {
        in->type = CORE_IN_SYSTEM;
        in->u.sys.kind = (enum core_sys_kind)(gen_rand(g) % 5);
        in->u.sys.active = gen_rand(g) % 2;
        snprintf(in->u.sys.text, sizeof(in->u.sys.text), "system note %u", gen_rand(g) % 100);
    }
}

/* ---- a live run: core + journal, the way vigild's core thread drives them --- */

struct live {
    const struct cfg_site *site;
    const char *conf;
    struct core *core;
    struct jrnl *j;
    struct core_output *out;
    char *events;        /* msg_event JSON lines, as published */
    size_t len, cap;
};

static void text_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 2 > *cap) {
        *cap = (*len + n + 2) * 2;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[(*len)++] = '\n';
    (*buf)[*len] = '\0';
}

static void live_event(struct live *l, const struct core *core, const struct core_output *o)
{
    static struct rec_buf rb;
    int n;

    if (o->type != CORE_OUT_EVENT)
        return;
    n = rec_event(&rb, l->site, core, &o->u.event);
    if (n >= 0)
        text_append(&l->events, &l->len, &l->cap, rb.json, (size_t)n);
}

static void live_start(struct live *l, const struct fx *f, size_t segment_bytes)
{
    memset(l, 0, sizeof(*l));
    l->site = f->site;
    l->conf = f->conf;
    l->core = core_new(f->site);
    l->out = calloc(core_max_outputs(l->core), sizeof(*l->out));
    l->j = open_journal(f, segment_bytes);
    if (!l->core || !l->out || !l->j || jrnl_begin(l->j, f->site, f->conf, l->core) < 0) {
        printf("# live_start failed\n");
        exit(1);
    }
}

/* Feeds n generated inputs: step, append, sync, then "publish" (record the events). */
static int live_feed(struct live *l, struct gen *g, int n)
{
    struct core_input in;
    int failures = 0;

    for (int i = 0; i < n; i++) {
        size_t k;
        gen_next(g, l->site, l->core, &in);
        k = core_step(l->core, &in, l->out);
        failures += jrnl_append_input(l->j, l->site, &in) < 0;
        failures += jrnl_sync(l->j) < 0;
        for (size_t o = 0; o < k; o++)
            live_event(l, l->core, &l->out[o]);
        failures += jrnl_maybe_rotate(l->j, l->site, l->conf, l->core, in.wall_ms) < 0;
    }
    return failures;
}

static void live_stop(struct live *l)
{
    jrnl_close(l->j);
    core_free(l->core);
    free(l->out);
    free(l->events);
}

/* The dynamic state of a core as bytes (malloc'd), for equality checks. */
static unsigned char *snapshot_of(const struct core *c, size_t *len)
{
    unsigned char *buf;

    *len = core_snapshot(c, NULL, 0);
    buf = malloc(*len);
    core_snapshot(c, buf, *len);
    return buf;
}

static int same_state(const struct core *a, const struct core *b)
{
    size_t la, lb;
    unsigned char *sa = snapshot_of(a, &la), *sb = snapshot_of(b, &lb);
    int same = la == lb && memcmp(sa, sb, la) == 0 && core_next_seq(a) == core_next_seq(b);

    free(sa);
    free(sb);
    return same;
}

/* ---- reading helpers ----------------------------------------------------- */

/* Offsets of every record of one segment file; returns the count. */
static int record_offsets(const char *file, uint64_t *offs, int cap)
{
    char err[JRNL_ERR_MAX];
    struct jrnl_reader *r = jrnl_reader_open(file, err, sizeof(err));
    struct jrnl_record rec;
    int n = 0;

    while (r && n < cap && jrnl_reader_next(r, &rec) == 1)
        offs[n++] = rec.offset;
    jrnl_reader_close(r);
    return n;
}

static void flip_byte(const char *file, long off)
{
    int fd = open(file, O_RDWR);
    unsigned char b;

    if (fd < 0 || pread(fd, &b, 1, off) != 1)
        exit(1);
    b ^= 0x01;
    if (pwrite(fd, &b, 1, off) != 1)
        exit(1);
    close(fd);
}

/* Removes bytes [from, to) from a file. */
static void cut_bytes(const char *file, long from, long to)
{
    long size = file_size(file);
    unsigned char *buf = malloc((size_t)size);
    FILE *f = fopen(file, "rb");

    if (!buf || !f || fread(buf, 1, (size_t)size, f) != (size_t)size)
        exit(1);
    fclose(f);
    memmove(buf + from, buf + to, (size_t)(size - to));
    f = fopen(file, "wb");
    fwrite(buf, 1, (size_t)(size - (to - from)), f);
    fclose(f);
    free(buf);
}

/* Writes a journal of n generated inputs in one segment; returns its path. */
static void write_inputs(struct fx *f, int n, char *file, size_t cap)
{
    struct live l;
    struct gen g = {.state = 7, .wall_base_ms = WALL_BASE_MS};

    live_start(&l, f, 0);
    live_feed(&l, &g, n);
    live_stop(&l);
    seg_file(f, 1, file, cap);
}

/* ---- cases ------------------------------------------------------------------ */

static int same_input(const struct core_input *a, const struct core_input *b)
{
    if (a->type != b->type || a->mono_ms != b->mono_ms || a->wall_ms != b->wall_ms)
        return 0;
    switch (a->type) {
    case CORE_IN_SAMPLE:
        return a->u.sample.point == b->u.sample.point &&
               memcmp(&a->u.sample.value, &b->u.sample.value, sizeof(double)) == 0;
    case CORE_IN_COMM:
        return a->u.comm.device == b->u.comm.device && a->u.comm.up == b->u.comm.up;
    case CORE_IN_CMD:
        return strcmp(a->u.cmd.id, b->u.cmd.id) == 0 && a->u.cmd.op == b->u.cmd.op &&
               strcmp(a->u.cmd.target, b->u.cmd.target) == 0 &&
               strcmp(a->u.cmd.operator_name, b->u.cmd.operator_name) == 0 &&
               a->u.cmd.duration_ms == b->u.cmd.duration_ms && a->u.cmd.force == b->u.cmd.force &&
               a->u.cmd.source == b->u.cmd.source && a->u.cmd.verified == b->u.cmd.verified;
    case CORE_IN_TICK:
        return 1;
    case CORE_IN_SYSTEM:
        return a->u.sys.kind == b->u.sys.kind && a->u.sys.active == b->u.sys.active &&
               strcmp(a->u.sys.text, b->u.sys.text) == 0 && a->u.sys.epoch == b->u.sys.epoch &&
               a->u.sys.seq_floor == b->u.sys.seq_floor;
    case CORE_IN_RECEIPT:
        return a->u.receipt.n == b->u.receipt.n &&
               memcmp(a->u.receipt.seqs, b->u.receipt.seqs, a->u.receipt.n * sizeof(uint64_t)) == 0;
    }
    return 0;
}

/* One input of every type (and every field set) to round-trip. */
static int every_input(const struct cfg_site *site, struct core_input *in)
{
    int n = 0;

    memset(in, 0, 8 * sizeof(*in));
    in[n].type = CORE_IN_SAMPLE; in[n].u.sample.point = cfg_find_point(site, "temp");
    in[n].u.sample.value = -12.25; n++;
    in[n].type = CORE_IN_SAMPLE; in[n].u.sample.point = cfg_find_point(site, "door");
    in[n].u.sample.value = NAN; n++;
    in[n].type = CORE_IN_COMM; in[n].u.comm.device = cfg_find_device(site, "io2"); in[n].u.comm.up = false; n++;
    in[n].type = CORE_IN_CMD;
    snprintf(in[n].u.cmd.id, sizeof(in[n].u.cmd.id), "cmd-42");
    in[n].u.cmd.op = CORE_CMD_SHELVE;
    snprintf(in[n].u.cmd.target, sizeof(in[n].u.cmd.target), "door.intrusion");
    snprintf(in[n].u.cmd.operator_name, sizeof(in[n].u.cmd.operator_name), "jsmith");
    in[n].u.cmd.duration_ms = 3600000; in[n].u.cmd.force = true;
    in[n].u.cmd.source = CORE_SRC_SCHEDULE; in[n].u.cmd.verified = CORE_VERIFIED_FRESH | CORE_VERIFIED_SIGNED; n++;
    in[n].type = CORE_IN_TICK; n++;
    in[n].type = CORE_IN_SYSTEM; in[n].u.sys.kind = CORE_SYS_CONFIG_REJECTED; in[n].u.sys.active = true;
    snprintf(in[n].u.sys.text, sizeof(in[n].u.sys.text), "site.conf:12: bad \"key\"\n"); n++;
    in[n].type = CORE_IN_SYSTEM; in[n].u.sys.kind = CORE_SYS_JOURNAL_DAMAGED; in[n].u.sys.active = true;
    in[n].u.sys.epoch = 0x5f3a00c0ffee0001ULL; in[n].u.sys.seq_floor = 1001; n++;
    in[n].type = CORE_IN_RECEIPT; in[n].u.receipt.n = 3;
    in[n].u.receipt.seqs[0] = 7; in[n].u.receipt.seqs[1] = 8; in[n].u.receipt.seqs[2] = UINT64_MAX; n++;
    for (int i = 0; i < n; i++) {
        in[i].mono_ms = 1000 + (uint64_t)i * 250;
        in[i].wall_ms = -5 + i;      /* negative walls must survive too */
    }
    return n;
}

static void roundtrip_every_input_type(void)
{
    struct fx f;
    struct core_input in[8], got;
    struct jrnl_record rec;
    struct jrnl *j;
    struct core *core;
    struct jrnl_reader *r;
    char err[JRNL_ERR_MAX];
    int n, i = 0;

    fx_setup(&f);
    n = every_input(f.site, in);
    core = core_new(f.site);
    j = open_journal(&f, 0);
    EXPECT(j != NULL, "open");
    EXPECT_INT(jrnl_begin(j, f.site, f.conf, core), 0);
    for (int k = 0; k < n; k++)
        EXPECT_INT(jrnl_append_input(j, f.site, &in[k]), 0);
    EXPECT_INT(jrnl_sync(j), 0);
    jrnl_close(j);

    r = jrnl_reader_open(f.jdir, err, sizeof(err));
    EXPECT(r != NULL, "%s", err);
    EXPECT_INT(jrnl_reader_next(r, &rec), 1);
    EXPECT_INT(rec.type, JRNL_REC_CONFIG);
    EXPECT(rec.u.config.hash == f.site->hash, "config hash");
    EXPECT_STR(rec.u.config.site_id, "jtest");
    EXPECT_STR(rec.u.config.path, f.conf);
    EXPECT_INT(jrnl_reader_next(r, &rec), 1);
    EXPECT_INT(rec.type, JRNL_REC_SNAPSHOT);
    EXPECT_INT(rec.u.snapshot.len, core_snapshot(core, NULL, 0));
    EXPECT_INT(rec.u.snapshot.next_seq, core_next_seq(core));
    while (jrnl_reader_next(r, &rec) == 1 && i < n) {
        EXPECT_INT(rec.type, JRNL_REC_INPUT);
        EXPECT_INT(jrnl_input_resolve(&rec.u.input, f.site, &got), 0);
        EXPECT(same_input(&got, &in[i]), "input %d (type %d) differs after the round trip", i, (int)in[i].type);
        i++;
    }
    EXPECT_INT(i, n);
    EXPECT_STR(jrnl_reader_error(r), "");
    jrnl_reader_close(r);
    core_free(core);
    fx_teardown(&f);
}

/*
 * A snapshot larger than the piece the journal writes at a time (a site of
 * 6,000 points, about 500 KB) reads back byte for byte, its hash chain
 * intact, and restores into a core equal to the one that took it.
 */
static void large_snapshot_written_in_pieces(void)
{
    struct cfg_site *big = fixture_site("big");
    int dev = fixture_add_device(big, "io"), zone = fixture_add_zone(big, "store", true, false, 0);
    struct core *core, *back;
    struct jrnl_record rec;
    struct jrnl_reader *r;
    struct jrnl *j;
    char err[JRNL_ERR_MAX], id[16];
    size_t len;
    unsigned char *want;
    struct fx f;

    for (int i = 0; i < 6000; i++) {
        snprintf(id, sizeof(id), "pt%04d", i);
        fixture_add_point(big, id, i % 3 ? CFG_KIND_DOOR : CFG_KIND_TEMPERATURE, dev, zone);
    }
    fx_setup(&f);
    core = core_new(big);
    back = core_new(big);
    want = snapshot_of(core, &len);
    EXPECT(len > 2 * 256 * 1024, "the snapshot (%zu bytes) spans several pieces", len);
    j = open_journal(&f, 0);
    EXPECT(j && jrnl_begin(j, f.site, f.conf, core) == 0, "begin");
    jrnl_close(j);
    r = jrnl_reader_open(f.jdir, err, sizeof(err));
    EXPECT(r != NULL, "%s", err);
    EXPECT(r && jrnl_reader_next(r, &rec) == 1 && rec.type == JRNL_REC_CONFIG, "config record");
    EXPECT(r && jrnl_reader_next(r, &rec) == 1 && rec.type == JRNL_REC_SNAPSHOT, "snapshot record");
    EXPECT(rec.type == JRNL_REC_SNAPSHOT && rec.u.snapshot.len == len &&
           memcmp(rec.u.snapshot.data, want, len) == 0, "the snapshot read back differs");
    EXPECT(rec.type == JRNL_REC_SNAPSHOT && core_restore(back, rec.u.snapshot.data, rec.u.snapshot.len) == 0 &&
           same_state(core, back), "restored core differs");
    EXPECT(r && jrnl_reader_next(r, &rec) == 0, "nothing after the snapshot");
    EXPECT_STR(r ? jrnl_reader_error(r) : "no reader", "");
    jrnl_reader_close(r);
    free(want);
    core_free(core);
    core_free(back);
    fixture_free(big);
    fx_teardown(&f);
}

/* An id that the replaying site lacks is reported, not mapped to another point. */
static void resolve_unknown_id_fails(void)
{
    struct fx f;
    struct jrnl_input ji;
    struct core_input out;

    fx_setup(&f);
    memset(&ji, 0, sizeof(ji));
    ji.in.type = CORE_IN_SAMPLE;
    snprintf(ji.ref, sizeof(ji.ref), "no-such-point");
    EXPECT_INT(jrnl_input_resolve(&ji, f.site, &out), -1);
    ji.in.type = CORE_IN_COMM;
    EXPECT_INT(jrnl_input_resolve(&ji, f.site, &out), -1);
    snprintf(ji.ref, sizeof(ji.ref), "io2");
    EXPECT_INT(jrnl_input_resolve(&ji, f.site, &out), 0);
    EXPECT_INT(out.u.comm.device, 1);
    fx_teardown(&f);
}

static void verify_intact_journal(void)
{
    struct fx f;
    struct jrnl_summary sum;
    char file[400], err[JRNL_ERR_MAX];

    fx_setup(&f);
    write_inputs(&f, 200, file, sizeof(file));
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), 0);
    EXPECT_INT(sum.segments, 1);
    EXPECT_INT(sum.records, 202);
    EXPECT_INT(sum.inputs, 200);
    EXPECT_STR(sum.note, "");
    EXPECT_INT(jrnl_verify(file, &sum, err, sizeof(err)), 0);
    fx_teardown(&f);
}

enum edit_at { EDIT_PAYLOAD, EDIT_LENGTH, EDIT_HASH };

/* Flips one byte of record 100 and expects verify to name that record. */
static void expect_edit_found(enum edit_at where)
{
    struct fx f;
    struct jrnl_summary sum;
    uint64_t offs[300];
    char file[400], err[JRNL_ERR_MAX], want[64];
    long at;

    fx_setup(&f);
    write_inputs(&f, 200, file, sizeof(file));
    EXPECT_INT(record_offsets(file, offs, 300), 202);
    at = where == EDIT_PAYLOAD ? (long)offs[100] + 12      /* inside the payload */
       : where == EDIT_LENGTH ? (long)offs[100] + 2        /* length grows past the end of the file */
       : (long)offs[101] - 1;                              /* last byte of its chain hash */
    flip_byte(file, at);
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "offset %llu:", (unsigned long long)offs[100]);
    EXPECT(strstr(err, want) != NULL, "flip at %ld: \"%s\" does not name %s", at, err, want);
    EXPECT(strstr(err, file) != NULL, "\"%s\" does not name the file", err);
    fx_teardown(&f);
}

static void verify_finds_edited_payload(void) { expect_edit_found(EDIT_PAYLOAD); }
static void verify_finds_edited_length(void) { expect_edit_found(EDIT_LENGTH); }
static void verify_finds_edited_hash(void) { expect_edit_found(EDIT_HASH); }

static void verify_finds_deleted_record(void)
{
    struct fx f;
    struct jrnl_summary sum;
    uint64_t offs[300];
    char file[400], err[JRNL_ERR_MAX], want[64];

    fx_setup(&f);
    write_inputs(&f, 200, file, sizeof(file));
    record_offsets(file, offs, 300);
    cut_bytes(file, (long)offs[50], (long)offs[51]);
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "offset %llu: chain hash mismatch", (unsigned long long)offs[50]);
    EXPECT(strstr(err, want) != NULL, "\"%s\" lacks \"%s\"", err, want);
    fx_teardown(&f);
}

static void verify_finds_swapped_records(void)
{
    struct fx f;
    struct jrnl_summary sum;
    uint64_t offs[300];
    char file[400], err[JRNL_ERR_MAX];
    long size;
    unsigned char *buf, *tmp;
    size_t a, b;
    FILE *fp;

    fx_setup(&f);
    write_inputs(&f, 200, file, sizeof(file));
    record_offsets(file, offs, 300);
    size = file_size(file);
    buf = malloc((size_t)size);
    fp = fopen(file, "rb");
    EXPECT(fp && fread(buf, 1, (size_t)size, fp) == (size_t)size, "read");
    fclose(fp);
    /* swap records 60 and 61 (their lengths may differ, so move the bytes) */
    a = (size_t)(offs[61] - offs[60]);
    b = (size_t)(offs[62] - offs[61]);
    tmp = malloc(a);
    memcpy(tmp, buf + offs[60], a);
    memmove(buf + offs[60], buf + offs[61], b);
    memcpy(buf + offs[60] + b, tmp, a);
    fp = fopen(file, "wb");
    fwrite(buf, 1, (size_t)size, fp);
    fclose(fp);
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), -1);
    EXPECT(strstr(err, "chain hash mismatch") != NULL, "%s", err);
    free(tmp);
    free(buf);
    fx_teardown(&f);
}

struct open_arg {
    const struct fx *f;
    struct jrnl *j;
};

static void do_open(void *arg)
{
    struct open_arg *a = arg;

    a->j = open_journal(a->f, 0);
}

static void torn_tail_truncated_on_open(void)
{
    struct fx f;
    struct jrnl_summary sum;
    struct open_arg oa = {.f = &f};
    struct core_input in[8], extra;
    uint64_t offs[300];
    char file[400], err[JRNL_ERR_MAX], want[512];
    const char *log;
    long torn_at;
    int n;

    fx_setup(&f);
    write_inputs(&f, 100, file, sizeof(file));
    n = record_offsets(file, offs, 300);
    EXPECT_INT(n, 102);
    torn_at = (long)offs[n - 1];
    EXPECT_INT(truncate(file, torn_at + (file_size(file) - torn_at) / 2), 0);

    /* before vigild restarts, verify calls it a torn tail, not tampering */
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), 0);
    EXPECT_INT(sum.records, 101);
    EXPECT(strstr(sum.note, "torn record") != NULL, "note: \"%s\"", sum.note);

    log = capture_log(&f, do_open, &oa);
    snprintf(want, sizeof(want), "journal: torn record at %s offset %ld skipped (power cut?)", file, torn_at);
    EXPECT(strstr(log, want) != NULL, "log \"%s\" lacks \"%s\"", log, want);
    EXPECT(oa.j != NULL, "reopen");
    EXPECT_INT(file_size(file), torn_at);

    /* appending continues the chain from the last good record */
    every_input(f.site, in);
    extra = in[0];
    extra.mono_ms = UINT64_C(1) << 40;
    EXPECT_INT(jrnl_append_input(oa.j, f.site, &extra), 0);
    jrnl_close(oa.j);
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), 0);
    EXPECT_INT(sum.records, 102);
    EXPECT_STR(sum.note, "");
    EXPECT_INT(record_offsets(file, offs, 300), 102);
    EXPECT_INT(offs[101], torn_at);
    fx_teardown(&f);
}

/* A power cut while the file system had extended the file but not written it. */
static void zero_filled_tail_is_torn(void)
{
    struct fx f;
    struct jrnl_summary sum;
    struct open_arg oa = {.f = &f};
    char file[400], err[JRNL_ERR_MAX];
    long size;

    fx_setup(&f);
    write_inputs(&f, 50, file, sizeof(file));
    size = file_size(file);
    EXPECT_INT(truncate(file, size + 300), 0);
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), 0);
    EXPECT_INT(sum.records, 52);
    capture_log(&f, do_open, &oa);
    EXPECT(oa.j != NULL, "reopen");
    jrnl_close(oa.j);
    EXPECT_INT(file_size(file), size);
    fx_teardown(&f);
}

/*
 * Recovery of a journal damaged at record offset `at` tells the caller
 * where (for the journal_damaged event) and the wall time of the last input
 * it could use: the shell starts a new epoch and says what was lost.
 */
static void recovery_reports_damage(struct fx *f, uint64_t at)
{
    struct jrnl_replay_info info;
    struct core *c = core_new(f->site);
    char err[JRNL_ERR_MAX], want[64];
    long n;

    snprintf(want, sizeof(want), "journal-0000000000000001.vj offset %llu:", (unsigned long long)at);
    n = jrnl_recover(f->jdir, f->site, c, NULL, NULL, &info, err, sizeof(err)); /* logs the damage on stderr */
    EXPECT(n > 0, "recovered %ld inputs before the damage: %s", n, err);
    EXPECT(strstr(info.problem, want) != NULL, "problem \"%s\" does not name %s", info.problem, want);
    EXPECT(info.last_wall_ms > 0, "no wall time of the last good input");
    core_free(c);
}

static void damaged_newest_segment_set_aside(void)
{
    struct fx f;
    struct jrnl_summary sum;
    struct open_arg oa = {.f = &f};
    uint64_t offs[300];
    char file[400], aside[420], next[400], err[JRNL_ERR_MAX];
    const char *log;

    fx_setup(&f);
    write_inputs(&f, 100, file, sizeof(file));
    record_offsets(file, offs, 300);
    flip_byte(file, (long)offs[40] + 10);
    recovery_reports_damage(&f, offs[40]);
    log = capture_log(&f, do_open, &oa);
    EXPECT(oa.j != NULL, "the daemon must still run");
    EXPECT(strstr(log, "level=error") && strstr(log, "chain hash mismatch"), "log: %s", log);
    snprintf(aside, sizeof(aside), "%s.damaged", file);
    EXPECT(file_size(aside) > 0, "%s kept as evidence", aside);
    EXPECT_INT(file_size(file), -1);
    jrnl_close(oa.j);
    EXPECT(file_size(seg_file(&f, 2, next, sizeof(next))) > 0, "a new segment 2");
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), -1);
    EXPECT(strstr(err, "damaged") != NULL, "verify: %s", err);
    fx_teardown(&f);
}

static void rotation_segments_replay_alone(void)
{
    struct fx f;
    struct live l;
    struct gen g = {.state = 11, .wall_base_ms = WALL_BASE_MS};
    struct jrnl_summary sum;
    struct jrnl_replay_info info;
    char file[400], err[JRNL_ERR_MAX];
    struct core *prev = NULL;
    unsigned segs = 0;

    fx_setup(&f);
    live_start(&l, &f, 8192);
    EXPECT_INT(live_feed(&l, &g, 1500), 0);
    live_stop(&l);
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), 0);
    EXPECT(sum.segments >= 5, "only %zu segments", sum.segments);
    EXPECT_INT(sum.inputs, 1500);
    /* Each segment replays on its own from its snapshot; replaying segment
     * k to its end reaches exactly the state segment k+1 starts from. */
    for (unsigned s = 1; s <= sum.segments; s++) {
        struct core *c = core_new(f.site);
        long n;

        err[0] = '\0';
        n = jrnl_replay(seg_file(&f, s, file, sizeof(file)), f.site, c, NULL, NULL, &info, err, sizeof(err));
        /* The newest segment may hold only its snapshot when the feed ended right at a rotation. */
        EXPECT(n > 0 || (n == 0 && s == sum.segments), "segment %u: %ld inputs; %s", s, n, err);
        EXPECT_STR(info.problem, "");
        if (prev) {
            struct core *start = core_new(f.site);
            struct jrnl_reader *r = jrnl_reader_open(file, err, sizeof(err));
            struct jrnl_record rec = {0};
            while (r && jrnl_reader_next(r, &rec) == 1 && rec.type != JRNL_REC_SNAPSHOT)
                ;
            EXPECT(rec.type == JRNL_REC_SNAPSHOT && core_restore(start, rec.u.snapshot.data, rec.u.snapshot.len) == 0,
                   "segment %u has a snapshot", s);
            EXPECT(same_state(prev, start), "segment %u does not start where segment %u ended", s, s - 1);
            jrnl_reader_close(r);
            core_free(start);
            core_free(prev);
        }
        prev = c;
        segs++;
    }
    core_free(prev);
    EXPECT_INT(segs, sum.segments);
    fx_teardown(&f);
}

/* Appends n tick inputs stamped with wall_ms. */
static void feed_aged(struct jrnl *j, const struct cfg_site *site, int n, int64_t wall_ms)
{
    struct core_input in;

    memset(&in, 0, sizeof(in));
    in.type = CORE_IN_TICK;
    for (int i = 0; i < n; i++) {
        in.mono_ms++;
        in.wall_ms = wall_ms;
        jrnl_append_input(j, site, &in);
    }
}

static void rotate_now(struct jrnl *j, const struct cfg_site *site, const struct core *core, int64_t now)
{
    jrnl_sync(j);
    jrnl_maybe_rotate(j, site, "site.conf", core, now);
}

/* Opens a journal of 4 KiB segments with the given retention, after CONFIG+SNAPSHOT. */
static struct jrnl *open_retention(const struct fx *f, const struct core *core, int days, size_t cap_bytes)
{
    char err[JRNL_ERR_MAX];
    struct jrnl_options o = {.dir = f->jdir, .segment_bytes = 4096, .retention_days = days,
                             .max_total_bytes = cap_bytes};
    struct jrnl *j = jrnl_open(&o, err, sizeof(err));

    if (!j || jrnl_begin(j, f->site, f->conf, core) < 0) {
        printf("# open_retention: %s\n", err);
        exit(1);
    }
    return j;
}

/* Past the retention period segments go, but never below 1,000 inputs. */
static void retention_removes_aged_segments(void)
{
    struct fx f;
    struct jrnl_summary sum;
    struct core *core;
    struct jrnl *j;
    char err[JRNL_ERR_MAX];
    int64_t now = WALL_BASE_MS + 400 * DAY_MS;

    fx_setup(&f);
    core = core_new(f.site);
    j = open_retention(&f, core, 7, 0);
    /* 3000 inputs 100 days old in many segments; retention runs "then": nothing goes */
    for (int i = 0; i < 60; i++) {
        feed_aged(j, f.site, 50, now - 100 * DAY_MS);
        rotate_now(j, f.site, core, now - 100 * DAY_MS);
    }
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), 0);
    EXPECT_INT(sum.inputs, 3000);
    /* now they are past 30 days (7 is raised to the 30-day floor); 100 new
     * inputs fill the open segment so that it rotates and retention runs */
    feed_aged(j, f.site, 100, now);
    rotate_now(j, f.site, core, now);
    jrnl_close(j);
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), 0);
    EXPECT(sum.inputs >= 1000 && sum.inputs < 1300, "kept %llu inputs", (unsigned long long)sum.inputs);
    core_free(core);
    fx_teardown(&f);
}

/* A size cap removes old segments early, but never younger than 30 days nor below 1,000 inputs. */
static void retention_size_cap_respects_floors(void)
{
    struct fx f;
    struct jrnl_summary sum;
    struct core *core;
    struct jrnl *j;
    char err[JRNL_ERR_MAX];
    int64_t now = WALL_BASE_MS + 400 * DAY_MS;

    fx_setup(&f);
    core = core_new(f.site);
    j = open_retention(&f, core, 365, 1);
    for (int i = 0; i < 60; i++) {
        feed_aged(j, f.site, 50, now - 20 * DAY_MS);
        rotate_now(j, f.site, core, now);
    }
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), 0);
    EXPECT_INT(sum.inputs, 3000);
    /* three weeks later all of it is past 30 days but well inside 365 */
    for (int i = 0; i < 60; i++) {
        feed_aged(j, f.site, 50, now - 40 * DAY_MS);
        rotate_now(j, f.site, core, now + 21 * DAY_MS);
    }
    jrnl_close(j);
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), 0);
    EXPECT(sum.inputs >= 1000 && sum.inputs < 1300, "kept %llu inputs", (unsigned long long)sum.inputs);
    core_free(core);
    fx_teardown(&f);
}

/* The lowest segment number in dir and how many segments there are. */
static uint64_t oldest_segment(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    uint64_t oldest = UINT64_MAX, no;

    *count = 0;
    while (d && (e = readdir(d)) != NULL) {
        if (sscanf(e->d_name, "journal-%" SCNx64 ".vj", &no) != 1 || strstr(e->d_name, ".damaged"))
            continue;
        (*count)++;
        oldest = no < oldest ? no : oldest;
    }
    if (d)
        closedir(d);
    return oldest;
}

/*
 * A size budget removes the oldest segments, even ones younger than 30
 * days, until the journal fits; but never a segment at or after the floor
 * the caller passes (where a lossless consumer or recovery still needs
 * the journal), and never below 1,000 inputs.
 */
static void budget_trims_oldest_but_never_past_the_floor(void)
{
    struct fx f;
    struct jrnl_summary sum;
    struct core *core;
    struct jrnl *j;
    char err[JRNL_ERR_MAX];
    int64_t now = WALL_BASE_MS + 400 * DAY_MS;
    int n_before, n_after;

    fx_setup(&f);
    core = core_new(f.site);
    j = open_retention(&f, core, 365, 0);
    for (int i = 0; i < 60; i++) {
        feed_aged(j, f.site, 50, now);
        rotate_now(j, f.site, core, now);
    }
    uint64_t total = jrnl_bytes(j), open_seg = jrnl_snapshot_segment(j), floor = open_seg / 2;
    EXPECT(oldest_segment(f.jdir, &n_before) == 1 && (uint64_t)n_before == open_seg && open_seg > 20,
           "%d segments, the newest snapshot in %llu", n_before, (unsigned long long)open_seg);

    /* A budget of 1 byte, but a sink still needs the floor segment onwards. */
    EXPECT_INT(jrnl_trim(j, 1, floor), (int)floor - 1);
    EXPECT_INT((int)oldest_segment(f.jdir, &n_after), (int)floor);
    EXPECT_INT(n_after, n_before - (int)floor + 1);

    /* Half the original size with recovery's own floor: the oldest go first. */
    jrnl_trim(j, total / 2, jrnl_snapshot_segment(j));
    EXPECT(jrnl_bytes(j) <= total / 2, "journal %llu bytes over the budget %llu",
           (unsigned long long)jrnl_bytes(j), (unsigned long long)(total / 2));
    uint64_t oldest = oldest_segment(f.jdir, &n_after);
    EXPECT(oldest > floor && oldest + (uint64_t)n_after - 1 == open_seg, "segments %llu.. left (%d)",
           (unsigned long long)oldest, n_after);

    /* Nothing but the open segment allowed to go: the 1,000-input floor holds. */
    jrnl_trim(j, 1, jrnl_snapshot_segment(j));
    jrnl_close(j);
    EXPECT_INT(jrnl_verify(f.jdir, &sum, err, sizeof(err)), 0);
    EXPECT(sum.inputs >= 1000 && sum.inputs < 1100, "kept %llu inputs", (unsigned long long)sum.inputs);
    core_free(core);
    fx_teardown(&f);
}

static void count_output(const struct core_output *o, void *arg)
{
    (void)o;
    (*(long *)arg)++;
}

/* Recovery after a crash gives the exact state, across a restart and a rotation. */
static void recovery_restores_exact_state(void)
{
    struct fx f;
    struct live l;
    struct gen g = {.state = 3, .wall_base_ms = WALL_BASE_MS};
    char err[JRNL_ERR_MAX];
    struct core *c, *fresh;
    long outputs = 0, n;
    uint64_t mono;
    int64_t wall;

    fx_setup(&f);
    c = core_new(f.site);
    fresh = core_new(f.site);
    EXPECT_INT(jrnl_recover(f.jdir, f.site, c, NULL, NULL, NULL, err, sizeof(err)), 0);
    EXPECT(same_state(c, fresh), "a missing journal restores nothing");
    core_free(fresh);
    core_free(c);
    live_start(&l, &f, 16384);
    EXPECT_INT(live_feed(&l, &g, 700), 0);
    /* crash: no close; a fresh core recovers from the directory */
    c = core_new(f.site);
    n = jrnl_recover(f.jdir, f.site, c, count_output, &outputs, NULL, err, sizeof(err));
    EXPECT(n > 0, "recovered %ld: %s", n, err);
    EXPECT(outputs > 0, "the re-fed inputs produced outputs");
    EXPECT(same_state(c, l.core), "recovered core differs from the live one");

    /* the restarted daemon continues on the recovered core */
    jrnl_close(l.j);
    core_free(l.core);
    l.core = c;
    l.j = open_journal(&f, 16384);
    jrnl_last_clocks(l.j, &mono, &wall);
    EXPECT(mono == g.mono_ms, "last mono %llu, want %llu", (unsigned long long)mono, (unsigned long long)g.mono_ms);
    EXPECT(wall == WALL_BASE_MS + (int64_t)g.mono_ms, "last wall %lld", (long long)wall);
    EXPECT_INT(jrnl_begin(l.j, f.site, f.conf, l.core), 0);
    EXPECT_INT(live_feed(&l, &g, 300), 0);
    c = core_new(f.site);
    EXPECT(jrnl_recover(f.jdir, f.site, c, NULL, NULL, NULL, err, sizeof(err)) > 0, "%s", err);
    EXPECT(same_state(c, l.core), "second recovery differs");
    EXPECT(core_next_seq(c) == core_next_seq(l.core), "seq");
    EXPECT(core_next_seq(c) > 1, "the run produced events");
    core_free(c);
    live_stop(&l);
    fx_teardown(&f);
}

struct replay_text {
    const struct cfg_site *site;
    const struct core *core;
    char *text;
    size_t len, cap;
};

static void replay_event(const struct core_output *o, void *arg)
{
    struct replay_text *t = arg;
    static struct rec_buf rb;
    int n;

    if (o->type != CORE_OUT_EVENT)
        return;
    n = rec_event(&rb, t->site, t->core, &o->u.event);
    if (n >= 0)
        text_append(&t->text, &t->len, &t->cap, rb.json, (size_t)n);
}

/* The events a replay prints equal, byte for byte, what the live run published. */
static void replay_matches_live_events(void)
{
    struct fx f;
    struct live l;
    struct gen g = {.state = 5, .wall_base_ms = WALL_BASE_MS};
    struct jrnl_replay_info info;
    struct replay_text t = {0};
    char err[JRNL_ERR_MAX];
    struct core *c, *replay_core;
    long n;

    fx_setup(&f);
    live_start(&l, &f, 32768);
    EXPECT_INT(live_feed(&l, &g, 800), 0);
    /* restart in the middle: recover (its re-published events are not new) and go on */
    jrnl_close(l.j);
    c = core_new(f.site);
    EXPECT(jrnl_recover(f.jdir, f.site, c, NULL, NULL, NULL, err, sizeof(err)) > 0, "%s", err);
    core_free(l.core);
    l.core = c;
    l.j = open_journal(&f, 32768);
    EXPECT_INT(jrnl_begin(l.j, f.site, f.conf, l.core), 0);
    EXPECT_INT(live_feed(&l, &g, 800), 0);

    replay_core = core_new(f.site);
    t.site = f.site;
    t.core = replay_core;
    n = jrnl_replay(f.jdir, f.site, replay_core, replay_event, &t, &info, err, sizeof(err));
    EXPECT_INT(n, 1600);
    EXPECT_INT(info.config_changes, 0);
    EXPECT(info.config_hash == f.site->hash, "config hash");
    EXPECT(l.len > 1000, "the live run published events (%zu bytes)", l.len);
    EXPECT(t.len == l.len && t.text && memcmp(t.text, l.events, l.len) == 0,
           "replayed events differ from the live ones (%zu vs %zu bytes)", t.len, l.len);
    free(t.text);
    core_free(replay_core);
    live_stop(&l);
    fx_teardown(&f);
}

int main(void)
{
    log_set_level(LOG_LVL_NOTICE);  /* rotation and retention log at info */
    RUN(roundtrip_every_input_type);
    RUN(large_snapshot_written_in_pieces);
    RUN(resolve_unknown_id_fails);
    RUN(verify_intact_journal);
    RUN(verify_finds_edited_payload);
    RUN(verify_finds_edited_length);
    RUN(verify_finds_edited_hash);
    RUN(verify_finds_deleted_record);
    RUN(verify_finds_swapped_records);
    RUN(torn_tail_truncated_on_open);
    RUN(zero_filled_tail_is_torn);
    RUN(damaged_newest_segment_set_aside);
    RUN(rotation_segments_replay_alone);
    RUN(retention_removes_aged_segments);
    RUN(retention_size_cap_respects_floors);
    RUN(budget_trims_oldest_but_never_past_the_floor);
    RUN(recovery_restores_exact_state);
    RUN(replay_matches_live_events);
    HARNESS_EXIT();
}
