// Shared test helpers; filled in by the daemon tests.
