/*
 * cfgfile.c - safe reading and raw-text checks of config files (see
 * cfgfile.h). Every scan here walks the text the way libconfig 1.5's flex
 * scanner does: comments (#, //, slash-star) and strings are skipped, and
 * `@include "name"` counts only at the start of a line outside them.
 */
#include "cfgfile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define CONFIG_FILE_MAX (16u << 20) /* bytes; a site file is a few hundred KiB at most */
#define MSG_MAX 1024

/* One cfgfile_check() run. */
struct scan {
    const char *include_dir;
    char root[PATH_MAX];      /* include_dir with symlinks resolved */
    uint64_t *hash;
    cfgfile_report_fn *report;
    void *arg;
    int problems;
    bool unsafe;              /* an include libconfig must not open */
    int depth;
};

__attribute__((format(printf, 4, 5)))
static void report(struct scan *S, const char *file, unsigned line, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    S->problems++;
    S->report(S->arg, file, line, msg);
}

/* ------------------------------------------------------------------ */
/* Reading without blocking                                            */
/* ------------------------------------------------------------------ */

static const char *type_words(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* Reads exactly the size fstat gave, or less if the file shrank. */
static char *read_fd(int fd, size_t size, size_t *len)
{
    char *buf = malloc(size + 1);
    size_t got = 0;

    while (buf && got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0) {
                free(buf);
                return NULL;
            }
            break;
        }
        got += (size_t)n;
    }
    if (!buf)
        errno = ENOMEM;
    else
        buf[got] = '\0';
    *len = got;
    return buf;
}

char *cfgfile_read(const char *path, size_t *len, char *why, size_t whylen)
{
    struct stat st, fst;
    char *text = NULL;
    int fd, e;

    /* stat first: opening a FIFO for reading would block until a writer came. */
    if (stat(path, &st) < 0) {
        e = errno;
        snprintf(why, whylen, "cannot read: %s", strerror(e));
        errno = e;
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "is %s, not a regular file", type_words(st.st_mode));
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return NULL;
    }
    if (st.st_size > (off_t)CONFIG_FILE_MAX) {
        snprintf(why, whylen, "is larger than %u MiB", CONFIG_FILE_MAX >> 20);
        errno = EFBIG;
        return NULL;
    }
    /* O_NONBLOCK: should it have become a FIFO since the stat, open returns at once. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode)) {
        e = fd < 0 ? errno : EINVAL;
        snprintf(why, whylen, "cannot read: %s", fd < 0 ? strerror(e) : "changed type while being opened");
        if (fd >= 0)
            close(fd);
        errno = e;
        return NULL;
    }
    text = read_fd(fd, (size_t)fst.st_size, len);
    e = errno;
    close(fd);
    if (!text) {
        snprintf(why, whylen, "cannot read: %s", strerror(e));
        errno = e;
    }
    return text;
}

/* ------------------------------------------------------------------ */
/* Scanning like libconfig's scanner                                   */
/* ------------------------------------------------------------------ */

/* Skips a comment or string starting at p; returns where scanning goes on,
 * counting newlines into *line. Returns p itself if nothing was skipped. */
static const char *skip_text(const char *p, unsigned *line)
{
    if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
        while (*p && *p != '\n')
            p++;
        return p;
    }
    if (p[0] == '/' && p[1] == '*') {
        for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
            *line += *p == '\n';
        return *p ? p + 2 : p;
    }
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            *line += *p == '\n';
        }
        return *p ? p + 1 : p;
    }
    return p;
}

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/*
 * libconfig 1.5 stores a plain integer literal in 32 bits and wraps anything
 * larger without a word (5000000000 becomes 705032704, 4294967396 becomes a
 * valid-looking 100). Scans the raw text for decimal or hex literals without
 * the L suffix that do not fit and reports each; floats are left alone.
 */
static void check_int_literals(struct scan *S, const char *file, const char *text)
{
    unsigned line = 1;
    const char *p = text;
    while (*p) {
        const char *q = skip_text(p, &line);
        if (q != p) {
            p = q;
            continue;
        }
        bool starts = isdigit((unsigned char)*p) &&
                      (p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.'));
        if (!starts) {
            line += *p == '\n';
            p++;
            continue;
        }
        bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, hex ? 16 : 10);
        bool is_float = !hex && (*end == '.' || *end == 'e' || *end == 'E');
        bool big = errno == ERANGE || v > (unsigned long long)INT_MAX + (p > text && p[-1] == '-');
        if (!is_float && *end != 'L' && big)
            report(S, file, line, "integer %.*s does not fit in 32 bits and would be silently wrapped; "
                   "expected a value in range (or an L suffix for a 64-bit value)", (int)(end - p), p);
        p = end;
        while (word_char(*p) || *p == '.' || ((*p == '+' || *p == '-') && (p[-1] == 'e' || p[-1] == 'E')))
            p++;
    }
}

/* Reports the first NUL byte and turns every NUL into a space, so the
 * other scans see the whole file as libconfig does. */
static void check_nuls(struct scan *S, const char *file, char *text, size_t len)
{
    unsigned line = 1;
    bool seen = false;

    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\0' && !seen) {
            report(S, file, line, "NUL byte in the file; expected plain text (a NUL cuts a name short "
                   "and hides what follows it on the line)");
            seen = true;
        }
        if (text[i] == '\0')
            text[i] = ' ';
        line += text[i] == '\n';
    }
}

static void check_text(struct scan *S, const char *file, char *text, size_t len);

/* True if path (resolved) lies inside the directory root (resolved). */
static bool inside(const char *path, const char *root)
{
    size_t n = strlen(root);
    if (strcmp(root, "/") == 0)
        return true;
    return strncmp(path, root, n) == 0 && path[n] == '/';
}

/* Checks one @include, named at file:line, and then the text it names. */
static void check_include(struct scan *S, const char *file, unsigned line, const char *name)
{
    char full[PATH_MAX * 2], real[PATH_MAX], why[256];
    size_t len;
    char *text;

    S->unsafe = true; /* until it is shown to be safe */
    snprintf(full, sizeof(full), "%s/%s", S->include_dir, name); /* libconfig 1.5 joins the same way */
    if (S->depth >= CFGFILE_INCLUDE_DEPTH_MAX) {
        report(S, file, line, "@include \"%s\" nests more than %d files deep (an include loop?); expected "
               "at most %d levels", name, CFGFILE_INCLUDE_DEPTH_MAX, CFGFILE_INCLUDE_DEPTH_MAX);
        return;
    }
    if (!realpath(full, real)) {
        report(S, file, line, "@include \"%s\": %s: %s; expected an existing file in %s", name, full,
               strerror(errno), S->include_dir);
        return;
    }
    if (!inside(real, S->root)) {
        report(S, file, line, "@include \"%s\" resolves to %s, outside the config's directory %s; expected "
               "a file in that directory or below it (no \"..\", no symlink leading out)", name, real, S->root);
        return;
    }
    if (!(text = cfgfile_read(real, &len, why, sizeof(why)))) {
        report(S, file, line, "@include \"%s\": %s %s; expected a regular file", name, full, why);
        return;
    }
    S->unsafe = false;
    S->depth++;
    check_text(S, full, text, len);
    S->depth--;
    free(text);
}

/* Parses the name of an include whose opening quote is at q[-1] into
 * name; returns where scanning goes on, or NULL if libconfig could not
 * read the name either (reported). */
static const char *include_name(struct scan *S, const char *file, unsigned line, const char *q, char *name,
                                size_t cap)
{
    size_t n = 0;

    for (; *q && *q != '"'; q++) {
        if (*q == '\\' && (q[1] == '\\' || q[1] == '"'))
            q++;
        else if (*q == '\\' || *q == '\n')
            break;
        if (n + 1 < cap)
            name[n++] = *q;
    }
    name[n] = '\0';
    if (*q != '"' || n + 1 >= cap || n == 0) {
        report(S, file, line, "@include needs a file name in double quotes on one line; expected "
               "@include \"name.conf\"");
        S->unsafe = true;
        return NULL;
    }
    return q + 1;
}

/* If p starts a line holding `@include "`, returns the address after the quote. */
static const char *include_start(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, "@include", 8) != 0 || (p[8] != ' ' && p[8] != '\t'))
        return NULL;
    for (p += 8; *p == ' ' || *p == '\t'; p++)
        ;
    return *p == '"' ? p + 1 : NULL;
}

static void scan_includes(struct scan *S, const char *file, const char *text)
{
    char name[PATH_MAX];
    unsigned line = 1;
    const char *p = text, *q;
    bool bol = true;

    while (*p && !S->unsafe) {
        if (bol && (q = include_start(p)) != NULL) {
            if (!(p = include_name(S, file, line, q, name, sizeof(name))))
                return;
            check_include(S, file, line, name);
            bol = false;
            continue;
        }
        if ((q = skip_text(p, &line)) != p) {
            p = q;
            bol = false;
            continue;
        }
        bol = *p == '\n';
        line += bol;
        p++;
    }
}

static void check_text(struct scan *S, const char *file, char *text, size_t len)
{
    *S->hash = cfg_hash_bytes(*S->hash, text, len);
    check_nuls(S, file, text, len);
    check_int_literals(S, file, text);
    scan_includes(S, file, text);
}

int cfgfile_check(const char *file, char *text, size_t len, const char *include_dir, uint64_t *hash,
                  cfgfile_report_fn *report_fn, void *arg)
{
    struct scan S = {.include_dir = include_dir, .hash = hash, .report = report_fn, .arg = arg};

    if (!realpath(include_dir, S.root))
        snprintf(S.root, sizeof(S.root), "%s", include_dir);
    check_text(&S, file, text, len);
    return S.unsafe ? -1 : S.problems;
}
