/*
 * mqtt_store.c - the message store paho persists each path's messages in,
 * with every write checked.
 *
 * paho's default file store ignores the error of fclose(), so on a full
 * disk it "persists" an empty file, frees the message and then crashes when
 * it reads it back. This store (the same layout: <store>/<client id>-<host>-
 * <port>/<key>.msg) checks every write; paho then keeps a message it could
 * not store in memory and still sends it, and the path raises spool_full
 * (mqtt_watch.c) and stops counting as durable. A message the store cannot
 * take stays in memory and is still delivered while the process runs.
 *
 * paho also stores every SUBSCRIBE and UNSUBSCRIBE it queues. This store
 * keeps only publishes: the path's client sends its (UN)SUBSCRIBE again on
 * every connect anyway, and paho 1.3.12 cannot read a stored UNSUBSCRIBE
 * back (MQTTAsync_restoreCommand() refuses a last topic whose NUL ends the
 * buffer) and then dereferences the NULL command in its send thread: a
 * process killed between queuing one and sending it would crash at every
 * start after.
 */
#include "mqtt_internal.h"
#include "pahoload.h"
#include "statedir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_SUFFIX ".msg"
#define PAHO_CMD_PUBLISH 3         /* paho's command type of a publish (MQTTPacket.h: PUBLISH) */

/* One client's store directory, opened by paho through store_open(). */
struct store {
    struct pub_path *path;
    char dir[CFG_PATH_MAX * 2];
};

/* "<dir>/<key>.msg"; false if it does not fit. */
static bool store_file(const struct store *st, const char *key, char *file, size_t cap)
{
    int n = snprintf(file, cap, "%s/%s" STORE_SUFFIX, st->dir, key);

    return n > 0 && (size_t)n < cap;
}

/* The key of a directory entry that is a message file, or NULL. */
static const char *entry_key(const struct dirent *e, size_t *len)
{
    size_t n = strlen(e->d_name), sl = strlen(STORE_SUFFIX);

    if (n <= sl || strcmp(e->d_name + n - sl, STORE_SUFFIX) != 0)
        return NULL;
    *len = n - sl;
    return e->d_name;
}

/*
 * Whether paho's pput of key is a command other than a publish ("c-<n>",
 * or "c5-<n>" with MQTT 5, whose first buffer is the command type): one
 * this store does not keep (see the top of this file).
 */
static bool not_a_publish(const char *key, int bufcount, char *buffers[], int buflens[])
{
    int type;

    if ((strncmp(key, "c-", 2) != 0 && strncmp(key, "c5-", 3) != 0) || bufcount < 1 ||
        buflens[0] != (int)sizeof(type))
        return false;
    memcpy(&type, buffers[0], sizeof(type));
    return type != PAHO_CMD_PUBLISH;
}

/* Whether the message file of key holds a command other than a publish. */
static bool file_not_a_publish(const char *file, const char *key)
{
    int type = PAHO_CMD_PUBLISH, len = sizeof(type), fd = open(file, O_RDONLY | O_CLOEXEC);
    char *buf = (char *)&type;
    bool got = fd >= 0 && read(fd, &type, sizeof(type)) == (ssize_t)sizeof(type);

    if (fd >= 0)
        close(fd);
    return got && not_a_publish(key, 1, &buf, &len);
}

/*
 * Removes the message files paho would crash reading back: empty ones
 * (what paho's default store leaves behind when a write failed on a full
 * disk) and stored commands other than publishes (see the top of this
 * file; none is written any more, but one left by an earlier build would
 * crash every start).
 */
static void store_sweep(const struct store *st)
{
    DIR *d = opendir(st->dir);
    struct dirent *e;
    struct stat sb;
    char file[CFG_PATH_MAX * 3];
    int removed = 0;

    while (d && (e = readdir(d)) != NULL) {
        if (!entry_key(e, &(size_t){ 0 }) ||
            snprintf(file, sizeof(file), "%s/%s", st->dir, e->d_name) >= (int)sizeof(file) ||
            stat(file, &sb) < 0 || !S_ISREG(sb.st_mode) ||
            (sb.st_size != 0 && !file_not_a_publish(file, e->d_name)))
            continue;
        removed += unlink(file) == 0;
    }
    if (d)
        closedir(d);
    if (removed)
        log_warn("mqtt: path=%d: removed %d message files from %s that the MQTT client cannot read back "
                 "(empty after a failed write, or a stored subscribe or unsubscribe)", st->path->n, removed, st->dir);
}

/* paho's popen: the directory "<store>/<client id>-<server URI with : and / as ->", as paho's own store names it. */
static int store_open(void **handle, const char *client_id, const char *server_uri, void *context)
{
    struct pub_path *path = context;
    struct store *st = calloc(1, sizeof(*st));
    int n;

    if (!st)
        return MQTTCLIENT_PERSISTENCE_ERROR;
    st->path = path;
    n = snprintf(st->dir, sizeof(st->dir), "%s/%s-%s", path->store, client_id, server_uri);
    for (char *c = st->dir + strlen(path->store) + 1; n > 0 && *c; c++)
        if (*c == ':' || *c == '/')
            *c = '-';
    if (n < 0 || (size_t)n >= sizeof(st->dir) || (mkdir(st->dir, 0700) < 0 && errno != EEXIST)) {
        log_err("mqtt: path=%d: cannot create store directory %s: %s", path->n, st->dir, strerror(errno));
        free(st);
        return MQTTCLIENT_PERSISTENCE_ERROR;
    }
    store_sweep(st);
    *handle = st;
    return 0;
}

static int store_close(void *handle)
{
    struct store *st = handle;

    rmdir(st->dir); /* only if empty: what is left goes out after the next start */
    free(st);
    return 0;
}

/* Notes a store write's outcome for supervision; logs the first failure of a run. */
static void store_note(struct pub_path *path, int err)
{
    int before = atomic_exchange(&path->write_errno, err);

    if (err) {
        atomic_store(&path->suspect, true);
        if (!before)
            log_err("mqtt: path=%d: cannot write the message store %s: %s; messages are kept in memory "
                    "and still sent", path->n, path->store, strerror(err));
    } else if (before) {
        log_notice("mqtt: path=%d: the message store %s can be written again", path->n, path->store);
    }
}

/*
 * paho's pput: the buffers, concatenated, as <key>.msg. Every write and the
 * close are checked; a failed file is removed, so paho keeps the message
 * in memory instead of trusting a file that does not hold it. Not fsynced
 * (docs/mqtt.md): the caller's journal covers a power loss.
 */
static int store_put(void *handle, char *key, int bufcount, char *buffers[], int buflens[])
{
    struct store *st = handle;
    char file[CFG_PATH_MAX * 3];
    bool ok;
    int fd, err;

    if (not_a_publish(key, bufcount, buffers, buflens))
        return 0; /* paho's later premove finds no file, which store_remove() takes as done */
    if (!store_file(st, key, file, sizeof(file)))
        return MQTTCLIENT_PERSISTENCE_ERROR;
    fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ok = fd >= 0;
    for (int i = 0; ok && i < bufcount; i++)
        ok = buflens[i] <= 0 || statedir_write_all(fd, buffers[i], (size_t)buflens[i]) == 0;
    err = ok ? 0 : errno;
    if (fd >= 0 && close(fd) < 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok && fd >= 0)
        unlink(file);
    store_note(st->path, ok ? 0 : err ? err : EIO);
    return ok ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

/* paho's pget: the whole file in a buffer paho frees (hence MQTTAsync_malloc). */
static int store_get(void *handle, char *key, char **buffer, int *buflen)
{
    struct store *st = handle;
    char file[CFG_PATH_MAX * 3], *buf = NULL;
    struct stat sb;
    int fd = store_file(st, key, file, sizeof(file)) ? open(file, O_RDONLY | O_CLOEXEC) : -1;
    ssize_t got = -1;

    if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 0 && sb.st_size < INT32_MAX &&
        (buf = paho()->malloc((size_t)sb.st_size)) != NULL)
        got = read(fd, buf, (size_t)sb.st_size);
    if (fd >= 0)
        close(fd);
    if (got <= 0 || got != (ssize_t)sb.st_size) {
        paho()->free(buf);
        return MQTTCLIENT_PERSISTENCE_ERROR;
    }
    *buffer = buf;
    *buflen = (int)got;
    return 0;
}

static int store_remove(void *handle, char *key)
{
    char file[CFG_PATH_MAX * 3];

    if (!store_file(handle, key, file, sizeof(file)) || (unlink(file) < 0 && errno != ENOENT))
        return MQTTCLIENT_PERSISTENCE_ERROR;
    return 0;
}

/* paho's pkeys: every key in the store, in arrays paho frees. */
static int store_keys(void *handle, char ***keys, int *nkeys)
{
    struct store *st = handle;
    DIR *d = opendir(st->dir);
    struct dirent *e;
    int n = 0, cap = 0;
    char **out = NULL;

    *keys = NULL;
    *nkeys = 0;
    if (!d)
        return MQTTCLIENT_PERSISTENCE_ERROR;
    while ((e = readdir(d)) != NULL)
        cap += entry_key(e, &(size_t){ 0 }) != NULL;
    rewinddir(d);
    if (cap > 0 && (out = paho()->malloc((size_t)cap * sizeof(*out))) == NULL) {
        closedir(d);
        return MQTTCLIENT_PERSISTENCE_ERROR;
    }
    while (n < cap && (e = readdir(d)) != NULL) {
        size_t len;
        const char *key = entry_key(e, &len);

        if (key && (out[n] = paho()->malloc(len + 1)) != NULL) {
            memcpy(out[n], key, len);
            out[n++][len] = '\0';
        }
    }
    closedir(d);
    *keys = out;
    *nkeys = n;
    return 0;
}

static int store_clear(void *handle)
{
    struct store *st = handle;
    DIR *d = opendir(st->dir);
    struct dirent *e;
    char key[NAME_MAX + 1];
    int rc = 0;

    while (d && (e = readdir(d)) != NULL) {
        size_t len;

        if (entry_key(e, &len) && len < sizeof(key)) {
            memcpy(key, e->d_name, len);
            key[len] = '\0';
            rc |= store_remove(st, key);
        }
    }
    if (d)
        closedir(d);
    return rc ? MQTTCLIENT_PERSISTENCE_ERROR : 0;
}

static int store_contains(void *handle, char *key)
{
    char file[CFG_PATH_MAX * 3];

    return store_file(handle, key, file, sizeof(file)) && access(file, F_OK) == 0 ? 0
                                                                                : MQTTCLIENT_PERSISTENCE_ERROR;
}

/* The callbacks above for path's client, with path as their context. */
MQTTClient_persistence mqtt_store_persistence(struct pub_path *path)
{
    return (MQTTClient_persistence){
        .context = path, .popen = store_open, .pclose = store_close, .pput = store_put, .pget = store_get,
        .premove = store_remove, .pkeys = store_keys, .pclear = store_clear, .pcontainskey = store_contains,
    };
}

/*
 * Whether the store can be written again after a failed write: a small
 * file written and removed. Without it a path that sends nothing would
 * keep the alarm until its next message.
 */
void mqtt_store_probe(struct pub_path *path)
{
    static const char block[512];
    char file[CFG_PATH_MAX + 32];
    int fd, err = 0;

    snprintf(file, sizeof(file), "%s/.write-probe", path->store);
    fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || statedir_write_all(fd, block, sizeof(block)) < 0)
        err = errno ? errno : EIO;
    if (fd >= 0 && close(fd) < 0 && !err)
        err = errno;
    unlink(file);
    if (!err)
        store_note(path, 0);
}
