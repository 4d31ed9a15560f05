#pragma once
#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro casting -1 to a function pointer, which Swift cannot import.
static inline sqlite3_destructor_type wpw_sqlite_transient(void) { return SQLITE_TRANSIENT; }

// Process-wide settings, before the library initialises (sqlite3_config is variadic: Swift cannot call it).
// No memory statistics: with them every sqlite3_malloc and sqlite3_free takes a global mutex to count bytes
// that nobody reads (SQLite's own advice for speed). Returns SQLITE_OK, or SQLITE_MISUSE once initialised.
static inline int wpw_sqlite_configure_process(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
