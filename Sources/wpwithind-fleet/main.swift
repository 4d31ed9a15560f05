import WPWithinDaemon
import WPWithinDaemonMain
import WPWithinFleet

// wpwithind with the fleet's producer backend: `store.backend: "postgresql"` keeps the catalog, stock,
// orders, tokens and unit ledgers in a PostgreSQL database shared by the fleet's members (docs/fleet.md).
// With `store.backend: "sqlite"` (the default) it is the same daemon as wpwithind, with libpq loaded.
WPWithinDaemonMain.main(producerBackends: [FleetBackend.provider])
