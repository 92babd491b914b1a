/*
 * walbuf.c - a thin SQLite VFS ("kiln-walbuf") over the default one that turns the many small
 * writes of a WAL commit into one.
 *
 * SQLite appends each page of a commit to the WAL as two writes (a 24-byte frame header, then
 * the page): a log-batch commit of ~15 pages costs ~30 pwrite() calls, which dominated the
 * commit's cost. This VFS buffers the appends of a WAL file in memory and writes them with one
 * pwrite() (or a few: the unix VFS takes at most 128 KiB per write) when the commit is
 * complete, i.e. right after the page of the frame whose header
 * carries the commit marker (a non-zero "database size after commit" field). That final
 * xWrite returns the flush's result, so a failed flush fails the commit: SQLite publishes a
 * commit to other connections (wal-index header) only after its frames were written, and a
 * commit that returned success is in the OS exactly as before (kill -9 loses nothing).
 *
 * Invariants of a buffered WAL file:
 *   - the buffer holds bytes [off, off + len) of the file, not yet written;
 *   - any write that does not append exactly at off + len, any read, size query, truncate,
 *     sync, file control or close first writes the buffer out, so the file is never observed
 *     without its pending bytes and overwrites keep their order;
 *   - a buffer that cannot grow (out of memory, or past WALBUF_MAX) is written out and the
 *     write goes straight to the file: buffering is an optimisation, never required.
 *
 * Files other than WALs are opened directly by the underlying VFS with its own methods (no
 * indirection). Threads: a file object belongs to one connection, used by one thread at a
 * time, as SQLite requires; registration is done once under pthread_once, before the
 * process's first connection, so it also applies SQLite's one global setting kiln makes
 * (memory statistics off, see wb_register).
 */
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#include "core/mem.h"
#include "store/sqlite/walbuf.h"

#define WALBUF_MAX ((size_t)4 << 20)
#define WAL_HDR 32
#define FRAME_HDR 24
/* The unix VFS takes at most 128 KiB - 1 per write (it masks the size with 0x1ffff). */
#define WRITE_MAX ((size_t)124 * 1024)

struct wb_file {
    sqlite3_file base; /* our methods */
    sqlite3_file *real;
    unsigned char *buf;
    size_t len, cap;
    sqlite3_int64 off;
    int commit_next; /* the next write is the page of a commit frame */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs wb_vfs;
static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static int wb_registered;

#define WB(f) ((struct wb_file *)(void *)(f))

static int flush(struct wb_file *f)
{
    int rc = SQLITE_OK;
    for (size_t done = 0; done < f->len && rc == SQLITE_OK;) {
        size_t n = f->len - done < WRITE_MAX ? f->len - done : WRITE_MAX;
        rc =
            f->real->pMethods->xWrite(f->real, f->buf + done, (int)n, f->off + (sqlite3_int64)done);
        done += n;
    }
    f->len = 0;
    return rc;
}

static int wb_close(sqlite3_file *file)
{
    struct wb_file *f = WB(file);
    int rc = flush(f), rc2 = f->real->pMethods->xClose(f->real);
    kiln_free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *file, void *p, int amt, sqlite3_int64 off)
{
    struct wb_file *f = WB(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, p, amt, off);
}

/* Appends to the buffer; 0 when it cannot (the caller then writes directly). */
static int append(struct wb_file *f, const void *p, size_t amt, sqlite3_int64 off)
{
    if (f->len > 0 && off != f->off + (sqlite3_int64)f->len)
        return 0;
    if (f->len + amt > f->cap) {
        size_t cap = f->cap ? f->cap : 64 * 1024;
        unsigned char *nb;
        while (cap < f->len + amt)
            cap *= 2;
        if (cap > WALBUF_MAX)
            return 0;
        nb = kiln_realloc(f->buf, cap);
        if (nb == NULL)
            return 0;
        f->buf = nb;
        f->cap = cap;
    }
    if (f->len == 0)
        f->off = off;
    memcpy(f->buf + f->len, p, amt);
    f->len += amt;
    return 1;
}

static int wb_write(sqlite3_file *file, const void *p, int amt, sqlite3_int64 off)
{
    struct wb_file *f = WB(file);
    const unsigned char *b = p;
    int commit = f->commit_next, rc;

    f->commit_next = 0;
    if (amt == FRAME_HDR && off >= WAL_HDR)
        f->commit_next = (b[4] | b[5] | b[6] | b[7]) != 0; /* big-endian size after commit */
    if (!append(f, p, (size_t)amt, off)) {
        rc = flush(f);
        if (rc == SQLITE_OK && !append(f, p, (size_t)amt, off))
            rc = f->real->pMethods->xWrite(f->real, p, amt, off);
        if (rc != SQLITE_OK)
            return rc;
    }
    return commit ? flush(f) : SQLITE_OK;
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct wb_file *f = WB(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *file, int flags)
{
    struct wb_file *f = WB(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct wb_file *f = WB(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *file, int level)
{
    return WB(file)->real->pMethods->xLock(WB(file)->real, level);
}

static int wb_unlock(sqlite3_file *file, int level)
{
    return WB(file)->real->pMethods->xUnlock(WB(file)->real, level);
}

static int wb_check_reserved(sqlite3_file *file, int *out)
{
    return WB(file)->real->pMethods->xCheckReservedLock(WB(file)->real, out);
}

static int wb_file_control(sqlite3_file *file, int op, void *arg)
{
    struct wb_file *f = WB(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector_size(sqlite3_file *file)
{
    return WB(file)->real->pMethods->xSectorSize(WB(file)->real);
}

static int wb_device_characteristics(sqlite3_file *file)
{
    return WB(file)->real->pMethods->xDeviceCharacteristics(WB(file)->real);
}

static const sqlite3_io_methods wb_methods = {
    1, /* no shared memory or memory mapping on a WAL file itself */
    wb_close,
    wb_read,
    wb_write,
    wb_truncate,
    wb_sync,
    wb_file_size,
    wb_lock,
    wb_unlock,
    wb_check_reserved,
    wb_file_control,
    wb_sector_size,
    wb_device_characteristics,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags)
{
    struct wb_file *f = WB(file);
    int rc;
    (void)vfs;
    if ((flags & SQLITE_OPEN_WAL) == 0)
        return real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)(void *)(f + 1);
    rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        f->base.pMethods = NULL; /* SQLite does not close a file whose open failed */
        return rc;
    }
    f->base.pMethods = &wb_methods;
    return SQLITE_OK;
}

/* Everything else is the underlying VFS's. */
static int wb_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *wb_dlopen(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void wb_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, out);
}

static void (*wb_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void wb_dlclose(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, h);
}

static int wb_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int wb_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int wb_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int wb_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int wb_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static void wb_register(void)
{
    /*
     * This runs before the process's first SQLite connection, the one moment SQLite accepts
     * global settings. Memory statistics off (SQLite's recommended setting; kiln never reads
     * them): otherwise every SQLite allocation, on every connection and thread, takes one
     * process-wide mutex. Refused (SQLITE_MISUSE, harmless) if SQLite was already in use.
     */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL || real_vfs->iVersion < 2 || real_vfs->xCurrentTimeInt64 == NULL)
        return;
    memset(&wb_vfs, 0, sizeof(wb_vfs));
    wb_vfs.iVersion = 2;
    wb_vfs.szOsFile = (int)sizeof(struct wb_file) + real_vfs->szOsFile;
    wb_vfs.mxPathname = real_vfs->mxPathname;
    wb_vfs.zName = KILN_WALBUF_VFS;
    wb_vfs.xOpen = wb_open;
    wb_vfs.xDelete = wb_delete;
    wb_vfs.xAccess = wb_access;
    wb_vfs.xFullPathname = wb_full_pathname;
    wb_vfs.xDlOpen = wb_dlopen;
    wb_vfs.xDlError = wb_dlerror;
    wb_vfs.xDlSym = wb_dlsym;
    wb_vfs.xDlClose = wb_dlclose;
    wb_vfs.xRandomness = wb_randomness;
    wb_vfs.xSleep = wb_sleep;
    wb_vfs.xCurrentTime = wb_current_time;
    wb_vfs.xGetLastError = wb_last_error;
    wb_vfs.xCurrentTimeInt64 = wb_current_time64;
    wb_registered = sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK;
}

const char *kiln_walbuf_vfs(void)
{
    pthread_once(&wb_once, wb_register);
    return wb_registered ? KILN_WALBUF_VFS : NULL;
}
