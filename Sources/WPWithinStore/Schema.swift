import WPWithinCore
import WPWithinSQLite

/// The versioned schema. One named migration per schema version; a migration, once shipped, never changes
/// (add a new one instead). Applied names are recorded in `schema_migration`; each pending migration runs in
/// its own transaction with foreign keys off, and `PRAGMA foreign_key_check` must find nothing before it
/// commits (SQLite's procedure for rebuilding a table). A new, empty database gets them all in one
/// transaction, foreign keys off around it and checked after each migration.
///
/// Databases written before the store moved off GRDB record their migrations in GRDB's `grdb_migrations`
/// (same names): those are adopted into `schema_migration` on the first open, and that table is dropped.
///
/// No table has a column for a card number, a CVC or a gateway client token: card data is never stored.
enum Schema {
    static let migrations: [(name: String, apply: @Sendable (SQLiteConnection) throws -> Void)] = [
        ("v1-initial", v1),
        ("v2-payment-recovery", v2),
        ("v3-one-row-per-order", v3),
        ("v4-fewer-pages-per-commit", v4),
        ("v5-journal-cursors", v5),
        ("v6-refunds", v6),
        ("v7-spending", v7),
    ]
    static var migrationNames: [String] { migrations.map(\.name) }

    static let legacyTable = "grdb_migrations"

    private static func tableExists(_ db: SQLiteConnection, _ name: String) throws -> Bool {
        try db.integer("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]) != nil
    }

    /// The names of the applied migrations, in the order they were applied.
    static func appliedMigrations(_ db: SQLiteConnection) throws -> [String] {
        var names: [String] = []
        if try tableExists(db, "schema_migration") {
            names += try db.query("SELECT identifier FROM schema_migration ORDER BY rowid") { $0.text(0) }
        }
        if try tableExists(db, legacyTable) {
            names += try db.query("SELECT identifier FROM \(legacyTable) ORDER BY rowid") { $0.text(0) }
                .filter { !names.contains($0) }
        }
        return names
    }

    /// True when the database records a migration this build does not know (a newer daemon wrote it).
    static func hasBeenSuperseded(_ db: SQLiteConnection) throws -> Bool {
        let known = Set(migrationNames)
        return try appliedMigrations(db).contains { !known.contains($0) }
    }

    /// Applies the pending migrations, oldest first (after adopting GRDB's record, if any).
    static func migrate(_ db: SQLiteConnection) throws {
        // A new, empty database (a fresh state directory) gets every migration in one transaction: the same
        // statements, one commit (two fsyncs) instead of one per migration (exec → READY=1 of a new Thing).
        let isNew = try db.integer("SELECT count(*) FROM sqlite_master", []) == 0
        // Foreign keys cannot be switched inside a transaction: off around the new database's one transaction
        // (as around each migration below), checked after each migration.
        if isNew { try db.execute("PRAGMA foreign_keys = OFF") }
        defer { if isNew { try? db.execute("PRAGMA foreign_keys = ON") } }
        try inTransaction(db) {
            try db.execute("CREATE TABLE IF NOT EXISTS schema_migration (identifier TEXT NOT NULL PRIMARY KEY) STRICT")
            if try tableExists(db, legacyTable) {
                try db.execute("""
                    INSERT OR IGNORE INTO schema_migration (identifier) SELECT identifier FROM \(legacyTable) ORDER BY rowid;
                    DROP TABLE \(legacyTable);
                    """)
            }
            if isNew { try applyPending(db) }
        }
        if !isNew { try applyPending(db) }
    }

    /// Each pending migration in a transaction of its own, or all inside the caller's (a new database).
    private static func applyPending(_ db: SQLiteConnection) throws {
        let applied = Set(try appliedMigrations(db))
        let inOuterTransaction = db.isInTransaction
        for migration in migrations where !applied.contains(migration.name) {
            // Foreign keys cannot be switched inside a transaction: off around it, checked before the commit.
            if !inOuterTransaction { try db.execute("PRAGMA foreign_keys = OFF") }
            defer { if !inOuterTransaction { try? db.execute("PRAGMA foreign_keys = ON") } }
            let apply = {
                try migration.apply(db)
                try db.run("INSERT INTO schema_migration (identifier) VALUES (?)", [migration.name])
                if let violation = try db.queryOne("PRAGMA foreign_key_check", [], { "\($0.text(0)) row \($0.int64(1))" }) {
                    throw WPWError(.internalError, "migration \(migration.name) broke a foreign key: \(violation)")
                }
            }
            if inOuterTransaction { try apply() } else { try inTransaction(db, apply) }
        }
    }

    private static func inTransaction(_ db: SQLiteConnection, _ body: () throws -> Void) throws {
        try db.execute("BEGIN IMMEDIATE TRANSACTION")
        do {
            try body()
            try db.execute("COMMIT TRANSACTION")
        } catch {
            if db.isInTransaction { try? db.execute("ROLLBACK TRANSACTION") }
            throw error
        }
    }

    /// v7: the consumer's spending policy (docs/payments.md, "Spending policy"). A consumer quote keeps the type
    /// of its service when the policy needed it (`service_type`) and when its payment started
    /// (`payment_started_at_ms`: the card was about to be used, and the outcome is not known yet): such a quote
    /// counts against the budgets until it becomes a purchase or is released. `purchase_created` lets the
    /// budgets read the purchases of the last 30 days without a scan of every purchase ever made.
    static func v7(_ db: SQLiteConnection) throws {
        try db.execute("""
            ALTER TABLE consumer_quote ADD COLUMN service_type TEXT;
            ALTER TABLE consumer_quote ADD COLUMN payment_started_at_ms INTEGER;
            CREATE INDEX purchase_created ON purchase(created_at_ms);
            """)
    }

    /// v5: how far this journal has copied another one (a fleet member's copy of the fleet's journal,
    /// docs/fleet.md), written in the same transaction as the events copied, so each is copied once.
    /// v6: refunds of undelivered units (docs/payments.md, "Refunds of undelivered units"). Columns added,
    /// no table rebuilt; existing rows keep every value (no refund, prices without `refund_on_expiry`).
    ///
    /// * `price.refund_on_expiry`: the price refunds what was not delivered when the token expires (0/1).
    /// * `producer_order.refund_*`: the refund of a paid order, decided once (reason, units, amount never
    ///   change; a trigger refuses it) and `pending` (durable before the gateway is asked) → `issued`, or
    ///   `nothing` (expired with nothing left). CHECK: refunded + delivered + in flight ≤ purchased, so a unit
    ///   is never both refunded and delivered.
    /// * `purchase.refund_*`: the consumer's record of the producer's refund (`pending`, `issued`, or
    ///   `none`: the producer has nothing to refund or does not offer refunds; no more asking).
    static func v6(_ db: SQLiteConnection) throws {
        try db.execute("""
            ALTER TABLE price ADD COLUMN refund_on_expiry INTEGER NOT NULL DEFAULT 0 CHECK (refund_on_expiry IN (0,1));
            ALTER TABLE producer_order ADD COLUMN refund_reason TEXT CHECK (refund_reason IN ('expiry','requested'));
            ALTER TABLE producer_order ADD COLUMN refund_status TEXT CHECK (refund_status IN ('pending','issued','nothing'));
            ALTER TABLE producer_order ADD COLUMN refund_units INTEGER
                CHECK (refund_units >= 0 AND refund_units + delivered + in_flight <= purchased);
            ALTER TABLE producer_order ADD COLUMN refund_amount INTEGER CHECK (refund_amount >= 0 AND refund_amount <= total_amount);
            CREATE TRIGGER producer_order_refund_is_final BEFORE UPDATE OF refund_reason, refund_units, refund_amount, refund_status ON producer_order
                WHEN OLD.refund_status IS NOT NULL AND (NEW.refund_reason IS NOT OLD.refund_reason
                    OR NEW.refund_units IS NOT OLD.refund_units OR NEW.refund_amount IS NOT OLD.refund_amount
                    OR NOT (NEW.refund_status = OLD.refund_status OR (OLD.refund_status = 'pending' AND NEW.refund_status = 'issued')))
                BEGIN SELECT RAISE(ABORT, 'a refund is decided once and only confirmed'); END;
            CREATE INDEX producer_order_refund_due ON producer_order(token_expiry_s)
                WHERE refund_on_expiry = 1 AND refund_status IS NULL AND state = 'paid';
            CREATE INDEX producer_order_refund_pending ON producer_order(refund_status) WHERE refund_status = 'pending';
            ALTER TABLE purchase ADD COLUMN refund_status TEXT CHECK (refund_status IN ('pending','issued','none'));
            ALTER TABLE purchase ADD COLUMN refund_reason TEXT CHECK (refund_reason IN ('expiry','requested'));
            ALTER TABLE purchase ADD COLUMN refund_units INTEGER CHECK (refund_units >= 0 AND refund_units <= bought);
            ALTER TABLE purchase ADD COLUMN refund_amount INTEGER CHECK (refund_amount >= 0 AND refund_amount <= total_amount);
            CREATE INDEX purchase_refund_open ON purchase(expiry_s) WHERE refund_status IS NULL OR refund_status = 'pending';
            """)
    }

    static func v5(_ db: SQLiteConnection) throws {
        try db.execute("""
            CREATE TABLE journal_cursor (
                name TEXT NOT NULL PRIMARY KEY,
                position INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            """)
    }

    /// v4: fewer pages written per commit (each changed page is a 4 KiB WAL frame, checksummed and written).
    ///
    /// * `producer_order`'s `token_key` uniqueness moves to a partial index (`WHERE token_key IS NOT NULL`):
    ///   a quote (no token yet) no longer writes a NULL entry into it. SQLite cannot drop a column's UNIQUE
    ///   constraint, so the table is rebuilt. It stays a rowid table: keyed by the random payment reference
    ///   (WITHOUT ROWID), new orders land on random leaves, and a producer wrote 8 % fewer WAL frames but
    ///   copied 48 % more pages at each checkpoint and read 48 % more back (strace, 1,100 flows).
    /// * `consumer_quote` becomes WITHOUT ROWID: its row is stored in its key's b-tree, so saving and deleting a
    ///   quote no longer also writes an entry of a separate primary-key index (consumer: 15 % fewer pages
    ///   written per flow, fewer read back).
    /// Every column, constraint and trigger is as in v3.
    static func v4(_ db: SQLiteConnection) throws {
        try db.execute("""
            CREATE TABLE producer_order_v4 (
                payment_reference_id TEXT PRIMARY KEY,
                server_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                service_id INTEGER NOT NULL,
                service_name TEXT NOT NULL,
                price_id INTEGER NOT NULL,
                unit_id INTEGER NOT NULL,
                unit_description TEXT NOT NULL,
                units INTEGER NOT NULL CHECK (units > 0),
                unit_amount INTEGER NOT NULL,
                total_amount INTEGER NOT NULL,
                currency TEXT NOT NULL,
                created_s INTEGER NOT NULL, created_ns INTEGER NOT NULL,
                expires_s INTEGER NOT NULL, expires_ns INTEGER NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('quoted','paymentPending','paid','failed','outcomeUnknown',
                    'abandoned','refundPending','refunded')),
                attempts INTEGER NOT NULL CHECK (attempts >= 0),
                psp_order_code TEXT,
                failure_reason TEXT,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                payment_started_at_ms INTEGER,
                paid_at_ms INTEGER,
                token_key TEXT,
                token_issued_s INTEGER, token_issued_ns INTEGER,
                token_expiry_s INTEGER, token_expiry_ns INTEGER,
                refund_on_expiry INTEGER CHECK (refund_on_expiry IS NULL OR refund_on_expiry IN (0,1)),
                token_signature BLOB,
                purchased INTEGER CHECK (purchased IS NULL OR purchased > 0),
                delivered INTEGER CHECK (delivered IS NULL OR delivered >= 0),
                in_flight INTEGER CHECK (in_flight IS NULL OR in_flight >= 0),
                in_flight_since_ms INTEGER,
                CHECK (state NOT IN ('paid','refundPending','refunded') OR psp_order_code IS NOT NULL),
                CHECK ((token_key IS NULL) = (token_signature IS NULL) AND (token_key IS NULL) = (token_expiry_s IS NULL)
                    AND (token_key IS NULL) = (token_issued_s IS NULL) AND (token_key IS NULL) = (refund_on_expiry IS NULL)),
                CHECK ((purchased IS NULL) = (delivered IS NULL) AND (purchased IS NULL) = (in_flight IS NULL)),
                CHECK (purchased IS NULL OR delivered + in_flight <= purchased)
            ) STRICT;
            INSERT INTO producer_order_v4 SELECT * FROM producer_order;
            DROP TABLE producer_order;
            ALTER TABLE producer_order_v4 RENAME TO producer_order;
            CREATE UNIQUE INDEX producer_order_token ON producer_order(token_key) WHERE token_key IS NOT NULL;
            CREATE INDEX producer_order_open ON producer_order(state)
                WHERE state IN ('paymentPending','outcomeUnknown','abandoned','refundPending');
            CREATE INDEX producer_order_quoted_expiry ON producer_order(expires_s) WHERE state = 'quoted';
            CREATE TRIGGER producer_order_paid_is_final BEFORE UPDATE OF state ON producer_order
                WHEN OLD.state = 'paid' AND NEW.state <> 'paid'
                BEGIN SELECT RAISE(ABORT, 'a paid order stays paid'); END;
            CREATE TRIGGER producer_order_refunded_is_final BEFORE UPDATE OF state ON producer_order
                WHEN OLD.state = 'refunded' AND NEW.state <> 'refunded'
                BEGIN SELECT RAISE(ABORT, 'a refunded order stays refunded'); END;
            CREATE TRIGGER producer_order_token_is_final BEFORE UPDATE OF token_key, token_signature, token_expiry_s ON producer_order
                WHEN OLD.token_key IS NOT NULL AND (NEW.token_key IS NOT OLD.token_key
                    OR NEW.token_signature IS NOT OLD.token_signature OR NEW.token_expiry_s IS NOT OLD.token_expiry_s)
                BEGIN SELECT RAISE(ABORT, 'a delivery token never changes'); END;
            CREATE TRIGGER producer_order_no_restore BEFORE UPDATE OF purchased, delivered ON producer_order
                WHEN NEW.delivered < OLD.delivered OR (OLD.purchased IS NOT NULL AND NEW.purchased IS NOT OLD.purchased)
                BEGIN SELECT RAISE(ABORT, 'delivered units never decrease'); END;

            CREATE TABLE consumer_quote_v4 (
                payment_reference_id TEXT PRIMARY KEY,
                server_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                service_id INTEGER NOT NULL,
                price_id INTEGER NOT NULL,
                units INTEGER NOT NULL,
                total_amount INTEGER NOT NULL,
                currency TEXT NOT NULL,
                merchant_client_key TEXT NOT NULL,
                producer_url TEXT NOT NULL,
                received_at_ms INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            INSERT INTO consumer_quote_v4 SELECT * FROM consumer_quote;
            DROP TABLE consumer_quote;
            ALTER TABLE consumer_quote_v4 RENAME TO consumer_quote;
            """)
    }

    /// v3: one row per producer order, and no AUTOINCREMENT.
    ///
    /// * `quote`, `producer_order`, `delivery_token` and `unit_ledger` were four 1:1 tables joined on every
    ///   order load and written by up to three statements per transition: they become one `producer_order`
    ///   row (the quote snapshot, the payment state, the token, the unit ledger), read and written by one
    ///   statement. The constraints and triggers move with the columns.
    /// * `event` and `purchase` lose AUTOINCREMENT, which wrote `sqlite_sequence` on every insert. A seq or a
    ///   purchase id is still never reused: purchases are never deleted, and the journal is never pruned of
    ///   its newest event (`pruneEvents`), so `MAX(rowid) + 1` keeps counting up. A journal that is empty
    ///   while its counter has moved (only a hand-pruned one) keeps the counter as one `store.journalFloor`
    ///   event.
    static func v3(_ db: SQLiteConnection) throws {
        try db.execute("""
            CREATE TABLE producer_order_v3 (
                payment_reference_id TEXT PRIMARY KEY,
                server_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                service_id INTEGER NOT NULL,
                service_name TEXT NOT NULL,
                price_id INTEGER NOT NULL,
                unit_id INTEGER NOT NULL,
                unit_description TEXT NOT NULL,
                units INTEGER NOT NULL CHECK (units > 0),
                unit_amount INTEGER NOT NULL,
                total_amount INTEGER NOT NULL,
                currency TEXT NOT NULL,
                created_s INTEGER NOT NULL, created_ns INTEGER NOT NULL,
                expires_s INTEGER NOT NULL, expires_ns INTEGER NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('quoted','paymentPending','paid','failed','outcomeUnknown',
                    'abandoned','refundPending','refunded')),
                attempts INTEGER NOT NULL CHECK (attempts >= 0),
                psp_order_code TEXT,
                failure_reason TEXT,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                payment_started_at_ms INTEGER,
                paid_at_ms INTEGER,
                token_key TEXT UNIQUE,
                token_issued_s INTEGER, token_issued_ns INTEGER,
                token_expiry_s INTEGER, token_expiry_ns INTEGER,
                refund_on_expiry INTEGER CHECK (refund_on_expiry IS NULL OR refund_on_expiry IN (0,1)),
                token_signature BLOB,
                purchased INTEGER CHECK (purchased IS NULL OR purchased > 0),
                delivered INTEGER CHECK (delivered IS NULL OR delivered >= 0),
                in_flight INTEGER CHECK (in_flight IS NULL OR in_flight >= 0),
                in_flight_since_ms INTEGER,
                CHECK (state NOT IN ('paid','refundPending','refunded') OR psp_order_code IS NOT NULL),
                CHECK ((token_key IS NULL) = (token_signature IS NULL) AND (token_key IS NULL) = (token_expiry_s IS NULL)
                    AND (token_key IS NULL) = (token_issued_s IS NULL) AND (token_key IS NULL) = (refund_on_expiry IS NULL)),
                CHECK ((purchased IS NULL) = (delivered IS NULL) AND (purchased IS NULL) = (in_flight IS NULL)),
                CHECK (purchased IS NULL OR delivered + in_flight <= purchased)
            ) STRICT;
            INSERT INTO producer_order_v3 SELECT
                q.payment_reference_id, q.server_id, q.client_id, q.service_id, q.service_name, q.price_id, q.unit_id,
                q.unit_description, q.units, q.unit_amount, q.total_amount, q.currency,
                q.created_s, q.created_ns, q.expires_s, q.expires_ns,
                o.state, o.attempts, o.psp_order_code, o.failure_reason, o.created_at_ms, o.updated_at_ms,
                o.payment_started_at_ms, o.paid_at_ms,
                t.token_key, t.issued_s, t.issued_ns, t.expiry_s, t.expiry_ns, t.refund_on_expiry, t.signature,
                l.purchased, l.delivered, l.in_flight, l.in_flight_since_ms
            FROM quote q
            JOIN producer_order o ON o.payment_reference_id = q.payment_reference_id
            LEFT JOIN delivery_token t ON t.payment_reference_id = q.payment_reference_id
            LEFT JOIN unit_ledger l ON l.payment_reference_id = q.payment_reference_id;
            DROP TABLE unit_ledger;
            DROP TABLE delivery_token;
            DROP TABLE producer_order;
            DROP TABLE quote;
            ALTER TABLE producer_order_v3 RENAME TO producer_order;
            CREATE INDEX producer_order_open ON producer_order(state)
                WHERE state IN ('paymentPending','outcomeUnknown','abandoned','refundPending');
            CREATE INDEX producer_order_quoted_expiry ON producer_order(expires_s) WHERE state = 'quoted';
            CREATE TRIGGER producer_order_paid_is_final BEFORE UPDATE OF state ON producer_order
                WHEN OLD.state = 'paid' AND NEW.state <> 'paid'
                BEGIN SELECT RAISE(ABORT, 'a paid order stays paid'); END;
            CREATE TRIGGER producer_order_refunded_is_final BEFORE UPDATE OF state ON producer_order
                WHEN OLD.state = 'refunded' AND NEW.state <> 'refunded'
                BEGIN SELECT RAISE(ABORT, 'a refunded order stays refunded'); END;
            CREATE TRIGGER producer_order_token_is_final BEFORE UPDATE OF token_key, token_signature, token_expiry_s ON producer_order
                WHEN OLD.token_key IS NOT NULL AND (NEW.token_key IS NOT OLD.token_key
                    OR NEW.token_signature IS NOT OLD.token_signature OR NEW.token_expiry_s IS NOT OLD.token_expiry_s)
                BEGIN SELECT RAISE(ABORT, 'a delivery token never changes'); END;
            CREATE TRIGGER producer_order_no_restore BEFORE UPDATE OF purchased, delivered ON producer_order
                WHEN NEW.delivered < OLD.delivered OR (OLD.purchased IS NOT NULL AND NEW.purchased IS NOT OLD.purchased)
                BEGIN SELECT RAISE(ABORT, 'delivered units never decrease'); END;

            CREATE TABLE event_v3 (
                seq INTEGER PRIMARY KEY,
                type TEXT NOT NULL,
                time_s INTEGER NOT NULL, time_ns INTEGER NOT NULL,
                payload_json TEXT NOT NULL
            ) STRICT;
            INSERT INTO event_v3 SELECT seq, type, time_s, time_ns, payload_json FROM event;
            INSERT INTO event_v3 (seq, type, time_s, time_ns, payload_json)
                SELECT s.seq, 'store.journalFloor', 0, 0, '{}' FROM sqlite_sequence s
                WHERE s.name = 'event' AND s.seq > 0 AND NOT EXISTS (SELECT 1 FROM event_v3);
            DROP TABLE event;
            ALTER TABLE event_v3 RENAME TO event;

            CREATE TABLE purchase_v3 (
                id INTEGER PRIMARY KEY,
                payment_reference_id TEXT NOT NULL UNIQUE,
                server_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                service_id INTEGER NOT NULL,
                price_id INTEGER NOT NULL,
                total_amount INTEGER NOT NULL,
                currency TEXT NOT NULL,
                token_key TEXT NOT NULL,
                token_json TEXT NOT NULL,
                expiry_s INTEGER NOT NULL, expiry_ns INTEGER NOT NULL,
                producer_url TEXT NOT NULL,
                bought INTEGER NOT NULL CHECK (bought > 0),
                delivered INTEGER NOT NULL CHECK (delivered >= 0),
                in_flight INTEGER NOT NULL CHECK (in_flight >= 0),
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                unsettled TEXT CHECK (unsettled IS NULL OR unsettled IN ('begin','end')),
                unsettled_units INTEGER CHECK (unsettled_units IS NULL OR unsettled_units >= 0),
                CHECK (delivered + in_flight <= bought)
            ) STRICT;
            INSERT INTO purchase_v3 SELECT id, payment_reference_id, server_id, client_id, service_id, price_id,
                total_amount, currency, token_key, token_json, expiry_s, expiry_ns, producer_url, bought, delivered,
                in_flight, created_at_ms, updated_at_ms, unsettled, unsettled_units FROM purchase;
            DROP TABLE purchase;
            ALTER TABLE purchase_v3 RENAME TO purchase;
            CREATE TRIGGER purchase_no_restore BEFORE UPDATE ON purchase
                WHEN NEW.delivered < OLD.delivered OR NEW.bought <> OLD.bought
                BEGIN SELECT RAISE(ABORT, 'delivered units never decrease'); END;

            DELETE FROM sqlite_sequence;
            """)
    }

    /// v2: the order states of payment recovery (`abandoned`, `refundPending`, `refunded`), the delivery lease
    /// (`unit_ledger.in_flight_since_ms`) and the consumer's unsettled deliveries (`purchase.unsettled`).
    /// SQLite cannot change a CHECK constraint, so `producer_order` is rebuilt (foreign keys are off during a
    /// migration and checked after it).
    static func v2(_ db: SQLiteConnection) throws {
        try db.execute("""
            CREATE TABLE producer_order_v2 (
                payment_reference_id TEXT PRIMARY KEY REFERENCES quote(payment_reference_id),
                state TEXT NOT NULL CHECK (state IN ('quoted','paymentPending','paid','failed','outcomeUnknown',
                    'abandoned','refundPending','refunded')),
                attempts INTEGER NOT NULL CHECK (attempts >= 0),
                psp_order_code TEXT,
                failure_reason TEXT,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                payment_started_at_ms INTEGER,
                paid_at_ms INTEGER,
                CHECK (state NOT IN ('paid','refundPending','refunded') OR psp_order_code IS NOT NULL)
            ) STRICT;
            INSERT INTO producer_order_v2 SELECT payment_reference_id, state, attempts, psp_order_code, failure_reason,
                created_at_ms, updated_at_ms, payment_started_at_ms, paid_at_ms FROM producer_order;
            DROP TABLE producer_order;
            ALTER TABLE producer_order_v2 RENAME TO producer_order;
            CREATE INDEX producer_order_open ON producer_order(state)
                WHERE state IN ('paymentPending','outcomeUnknown','abandoned','refundPending');
            CREATE TRIGGER producer_order_paid_is_final BEFORE UPDATE OF state ON producer_order
                WHEN OLD.state = 'paid' AND NEW.state <> 'paid'
                BEGIN SELECT RAISE(ABORT, 'a paid order stays paid'); END;
            CREATE TRIGGER producer_order_refunded_is_final BEFORE UPDATE OF state ON producer_order
                WHEN OLD.state = 'refunded' AND NEW.state <> 'refunded'
                BEGIN SELECT RAISE(ABORT, 'a refunded order stays refunded'); END;

            ALTER TABLE unit_ledger ADD COLUMN in_flight_since_ms INTEGER;

            ALTER TABLE purchase ADD COLUMN unsettled TEXT CHECK (unsettled IS NULL OR unsettled IN ('begin','end'));
            ALTER TABLE purchase ADD COLUMN unsettled_units INTEGER CHECK (unsettled_units IS NULL OR unsettled_units >= 0);
            """)
    }

    static func v1(_ db: SQLiteConnection) throws {
        try db.execute("""
            -- Device identity: exactly one row, made on first open.
            CREATE TABLE device (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                server_id TEXT NOT NULL CHECK (server_id = lower(server_id) AND length(server_id) = 36),
                name TEXT NOT NULL,
                created_at_ms INTEGER NOT NULL
            ) STRICT;

            -- The producer's delivery-token HMAC key: exactly one row, made on first open.
            CREATE TABLE signing_key (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                key BLOB NOT NULL CHECK (length(key) >= 32),
                created_at_ms INTEGER NOT NULL
            ) STRICT;

            -- Catalog.
            CREATE TABLE service (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                description TEXT NOT NULL,
                service_type TEXT NOT NULL
            ) STRICT;

            CREATE TABLE price (
                service_id INTEGER NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                id INTEGER NOT NULL,
                description TEXT NOT NULL,
                amount INTEGER NOT NULL CHECK (amount > 0),
                currency TEXT NOT NULL,
                unit_id INTEGER NOT NULL,
                unit_description TEXT NOT NULL,
                stock INTEGER CHECK (stock IS NULL OR stock >= 0),   -- NULL = unlimited
                PRIMARY KEY (service_id, id)
            ) STRICT;

            -- Producer: a quote as made by requestTotal (immutable). Service/price are a snapshot, not
            -- foreign keys: a service may be removed after it was quoted or sold.
            CREATE TABLE quote (
                payment_reference_id TEXT PRIMARY KEY,
                server_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                service_id INTEGER NOT NULL,
                service_name TEXT NOT NULL,
                price_id INTEGER NOT NULL,
                unit_id INTEGER NOT NULL,
                unit_description TEXT NOT NULL,
                units INTEGER NOT NULL CHECK (units > 0),
                unit_amount INTEGER NOT NULL,
                total_amount INTEGER NOT NULL,
                currency TEXT NOT NULL,
                created_s INTEGER NOT NULL, created_ns INTEGER NOT NULL,
                expires_s INTEGER NOT NULL, expires_ns INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX quote_expiry ON quote(expires_s);

            -- Producer: the order's payment state and gateway outcome. paymentReferenceID is the gateway's
            -- customerOrderCode, so one row = at most one successful charge.
            CREATE TABLE producer_order (
                payment_reference_id TEXT PRIMARY KEY REFERENCES quote(payment_reference_id),
                state TEXT NOT NULL CHECK (state IN ('quoted','paymentPending','paid','failed','outcomeUnknown')),
                attempts INTEGER NOT NULL CHECK (attempts >= 0),
                psp_order_code TEXT,
                failure_reason TEXT,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                payment_started_at_ms INTEGER,
                paid_at_ms INTEGER,
                CHECK (state <> 'paid' OR psp_order_code IS NOT NULL)
            ) STRICT;
            CREATE INDEX producer_order_open ON producer_order(state)
                WHERE state IN ('paymentPending','outcomeUnknown');

            -- Producer: delivery tokens, one per paid order, looked up by key.
            CREATE TABLE delivery_token (
                token_key TEXT PRIMARY KEY,
                payment_reference_id TEXT NOT NULL UNIQUE REFERENCES producer_order(payment_reference_id),
                issued_s INTEGER NOT NULL, issued_ns INTEGER NOT NULL,
                expiry_s INTEGER NOT NULL, expiry_ns INTEGER NOT NULL,
                refund_on_expiry INTEGER NOT NULL CHECK (refund_on_expiry IN (0,1)),
                signature BLOB NOT NULL
            ) STRICT;

            -- Producer: the unit ledger of a paid order.
            CREATE TABLE unit_ledger (
                payment_reference_id TEXT PRIMARY KEY REFERENCES producer_order(payment_reference_id),
                purchased INTEGER NOT NULL CHECK (purchased > 0),
                delivered INTEGER NOT NULL CHECK (delivered >= 0),
                in_flight INTEGER NOT NULL CHECK (in_flight >= 0),
                CHECK (delivered + in_flight <= purchased)
            ) STRICT;

            -- Defence in depth below the domain rules: a delivered unit is never restored, a paid order
            -- stays paid.
            CREATE TRIGGER unit_ledger_no_restore BEFORE UPDATE ON unit_ledger
                WHEN NEW.delivered < OLD.delivered OR NEW.purchased <> OLD.purchased
                BEGIN SELECT RAISE(ABORT, 'delivered units never decrease'); END;
            CREATE TRIGGER producer_order_paid_is_final BEFORE UPDATE OF state ON producer_order
                WHEN OLD.state = 'paid' AND NEW.state <> 'paid'
                BEGIN SELECT RAISE(ABORT, 'a paid order stays paid'); END;

            -- Consumer: a quote received from a producer (its requestTotal answer).
            CREATE TABLE consumer_quote (
                payment_reference_id TEXT PRIMARY KEY,
                server_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                service_id INTEGER NOT NULL,
                price_id INTEGER NOT NULL,
                units INTEGER NOT NULL,
                total_amount INTEGER NOT NULL,
                currency TEXT NOT NULL,
                merchant_client_key TEXT NOT NULL,
                producer_url TEXT NOT NULL,
                received_at_ms INTEGER NOT NULL
            ) STRICT;

            -- Consumer: what was bought, with the token exactly as the producer sent it.
            CREATE TABLE purchase (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                payment_reference_id TEXT NOT NULL UNIQUE,
                server_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                service_id INTEGER NOT NULL,
                price_id INTEGER NOT NULL,
                total_amount INTEGER NOT NULL,
                currency TEXT NOT NULL,
                token_key TEXT NOT NULL,
                token_json TEXT NOT NULL,
                expiry_s INTEGER NOT NULL, expiry_ns INTEGER NOT NULL,
                producer_url TEXT NOT NULL,
                bought INTEGER NOT NULL CHECK (bought > 0),
                delivered INTEGER NOT NULL CHECK (delivered >= 0),
                in_flight INTEGER NOT NULL CHECK (in_flight >= 0),
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                CHECK (delivered + in_flight <= bought)
            ) STRICT;

            CREATE TRIGGER purchase_no_restore BEFORE UPDATE ON purchase
                WHEN NEW.delivered < OLD.delivered OR NEW.bought <> OLD.bought
                BEGIN SELECT RAISE(ABORT, 'delivered units never decrease'); END;

            -- RPC idempotency keys: the first stored result wins.
            CREATE TABLE idempotency_key (
                key TEXT PRIMARY KEY,
                result_json TEXT NOT NULL,
                created_at_ms INTEGER NOT NULL
            ) STRICT;

            -- Event journal. AUTOINCREMENT: a seq is never reused, and a rolled-back insert takes none.
            CREATE TABLE event (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                type TEXT NOT NULL,
                time_s INTEGER NOT NULL, time_ns INTEGER NOT NULL,
                payload_json TEXT NOT NULL
            ) STRICT;
            """)
    }
}
