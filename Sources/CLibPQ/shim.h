#pragma once
// PostgreSQL's C client library (libpq-dev), for a fleet's shared store (WPWithinPostgres).
#include <libpq-fe.h>
