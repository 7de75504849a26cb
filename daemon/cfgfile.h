/*
 * cfgfile.h - a config file's raw text, read safely and checked before
 * libconfig parses it.
 *
 * libconfig 1.5 cannot be trusted with a file it has not been shown to be
 * safe: fopen() blocks forever on a FIFO, and its flex scanner calls exit(2)
 * when read() fails on a directory, which would kill vigild in the middle
 * of a reload. libconfig also follows `@include "name"` inside its scanner,
 * so the includes are found here by scanning the text the same way its
 * scanner does and each one is checked (type, place) before the file ever
 * reaches config_read_file(). The text checks libconfig's parsed form cannot
 * do happen here too: integer literals wider than 32 bits (which 1.5 wraps
 * silently) and NUL bytes (which cut a string short and hid what followed
 * from the wrap check).
 *
 * A file changed between this check and libconfig's read is not caught;
 * the daemon's own config directory is not writable by others.
 */
#ifndef VIGIL_CFGFILE_H
#define VIGIL_CFGFILE_H

#include <stddef.h>
#include <stdint.h>

#define CFGFILE_INCLUDE_DEPTH_MAX 10 /* libconfig 1.5's own limit */

/* Receives one problem: file and line (line 0: the file as a whole), and
 * the message "what is wrong; what is expected" without the location. */
typedef void cfgfile_report_fn(void *arg, const char *file, unsigned line, const char *msg);

/*
 * Reads a whole regular file into a NUL-terminated heap buffer (the caller
 * frees it) without ever blocking: a FIFO, directory, device or socket is
 * refused before it is opened for reading. Returns NULL with errno set
 * (ENOENT, EISDIR for a directory, EINVAL for any other non-regular file,
 * EFBIG, ...) and the reason in why ("is a FIFO, not a regular file").
 */
char *cfgfile_read(const char *path, size_t *len, char *why, size_t whylen);

/*
 * Checks the text of file (len bytes, may contain NULs; it is modified:
 * NULs become spaces) and, recursively, every file it @includes, resolved
 * as libconfig resolves them: <include_dir>/<name>. Each include must be a
 * regular file inside include_dir (after following symlinks). Every file's
 * bytes are added to *hash with cfg_hash_bytes(). Problems go to report.
 * Returns -1 if an include is unsafe for libconfig to open (do not parse),
 * else the number of problems reported.
 */
int cfgfile_check(const char *file, char *text, size_t len, const char *include_dir, uint64_t *hash,
                  cfgfile_report_fn *report, void *arg);

#endif
