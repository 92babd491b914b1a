/*
 * walbuf.h - the "kiln-walbuf" SQLite VFS: the default VFS with each WAL commit written by
 * one pwrite() instead of two per page (walbuf.c). Private to the SQLite backend.
 */
#ifndef KILN_STORE_SQLITE_WALBUF_H
#define KILN_STORE_SQLITE_WALBUF_H

#define KILN_WALBUF_VFS "kiln-walbuf"

/*
 * Registers the VFS on first use (thread-safe; also turns SQLite's memory statistics off,
 * which must happen before the first connection) and returns its name for sqlite3_open_v2, or
 * NULL when the default VFS cannot be wrapped (then the default is used unchanged).
 */
const char *kiln_walbuf_vfs(void);

#endif
