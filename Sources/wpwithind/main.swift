import WPWithinDaemonMain

// The single Thing's daemon: the producer's money and units in its own SQLite file. Nothing of PostgreSQL
// is linked in (wpwithind-fleet is the build with the fleet's backend, docs/fleet.md).
WPWithinDaemonMain.main()
