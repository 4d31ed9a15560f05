import WPWithinPostgres

/// The fleet's shared schema on PostgreSQL (docs/fleet.md, "Tables"). Versioned like the SQLite store's:
/// a shipped migration never changes; a new one is appended. `PGMigrator` applies what is pending in one
/// transaction under an advisory lock, so members that start together apply each migration once.
///
/// Money is integer minor units; instants are seconds and nanoseconds (as the domain keeps them), audit
/// times milliseconds. Every rule the domain relies on that a database can hold is also a constraint here:
/// a unique token key, stock never below zero, units never delivered beyond what was bought.
enum FleetSchema {
    static let migrations: [PGMigrator.Migration] = [
        .init("f1-fleet", """
            CREATE TABLE fleet (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                fleet_id TEXT NOT NULL,
                signing_key TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now()
            );
            CREATE TABLE fleet_member (
                server_id TEXT PRIMARY KEY,
                first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
                last_seen TIMESTAMPTZ NOT NULL DEFAULT now()
            );
            CREATE TABLE service (
                id BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                description TEXT NOT NULL,
                service_type TEXT NOT NULL
            );
            CREATE TABLE price (
                service_id BIGINT NOT NULL REFERENCES service (id) ON DELETE CASCADE,
                id BIGINT NOT NULL,
                description TEXT NOT NULL,
                amount BIGINT NOT NULL CHECK (amount > 0),
                currency TEXT NOT NULL,
                unit_id BIGINT NOT NULL,
                unit_description TEXT NOT NULL,
                stock BIGINT CHECK (stock IS NULL OR stock >= 0),
                PRIMARY KEY (service_id, id)
            );
            CREATE TABLE producer_order (
                payment_reference_id TEXT PRIMARY KEY,
                server_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                service_id BIGINT NOT NULL,
                service_name TEXT NOT NULL,
                price_id BIGINT NOT NULL,
                unit_id BIGINT NOT NULL,
                unit_description TEXT NOT NULL,
                units BIGINT NOT NULL CHECK (units > 0),
                unit_amount BIGINT NOT NULL,
                total_amount BIGINT NOT NULL,
                currency TEXT NOT NULL,
                created_s BIGINT NOT NULL, created_ns BIGINT NOT NULL,
                expires_s BIGINT NOT NULL, expires_ns BIGINT NOT NULL,
                state TEXT NOT NULL CHECK (state IN
                    ('quoted','paymentPending','paid','failed','outcomeUnknown','abandoned','refundPending','refunded')),
                attempts BIGINT NOT NULL DEFAULT 0,
                psp_order_code TEXT,
                failure_reason TEXT,
                payment_started_at_ms BIGINT,
                paid_at_ms BIGINT,
                charged_by TEXT,
                token_key TEXT,
                token_issued_s BIGINT, token_issued_ns BIGINT,
                token_expiry_s BIGINT, token_expiry_ns BIGINT,
                refund_on_expiry BOOLEAN,
                token_signature TEXT,
                purchased BIGINT,
                delivered BIGINT,
                in_flight BIGINT,
                in_flight_since_ms BIGINT,
                created_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL,
                CHECK (purchased IS NULL OR (delivered >= 0 AND in_flight >= 0 AND delivered + in_flight <= purchased))
            );
            CREATE UNIQUE INDEX producer_order_token_key ON producer_order (token_key) WHERE token_key IS NOT NULL;
            CREATE INDEX producer_order_open ON producer_order (updated_at_ms)
                WHERE state IN ('paymentPending','outcomeUnknown','abandoned','refundPending');
            CREATE INDEX producer_order_quoted ON producer_order (expires_s) WHERE state = 'quoted';
            CREATE TABLE fleet_event (
                seq BIGSERIAL PRIMARY KEY,
                member TEXT NOT NULL,
                type TEXT NOT NULL,
                time_s BIGINT NOT NULL,
                time_ns BIGINT NOT NULL,
                payload TEXT NOT NULL
            );
            """),
        // Refunds of undelivered units (docs/payments.md): the price's flag, and the order's refund, decided
        // once (pending, durable before the gateway is asked) and then confirmed. Columns added; rows kept.
        .init("f2-refunds", """
            ALTER TABLE price ADD COLUMN refund_on_expiry BOOLEAN NOT NULL DEFAULT false;
            ALTER TABLE producer_order ADD COLUMN refund_reason TEXT CHECK (refund_reason IN ('expiry','requested'));
            ALTER TABLE producer_order ADD COLUMN refund_status TEXT CHECK (refund_status IN ('pending','issued','nothing'));
            ALTER TABLE producer_order ADD COLUMN refund_units BIGINT;
            ALTER TABLE producer_order ADD COLUMN refund_amount BIGINT;
            ALTER TABLE producer_order ADD CONSTRAINT producer_order_refund_units
                CHECK (refund_units IS NULL OR (refund_units >= 0 AND refund_units + delivered + in_flight <= purchased));
            ALTER TABLE producer_order ADD CONSTRAINT producer_order_refund_amount
                CHECK (refund_amount IS NULL OR (refund_amount >= 0 AND refund_amount <= total_amount));
            CREATE INDEX producer_order_refund_due ON producer_order (token_expiry_s)
                WHERE refund_on_expiry AND refund_status IS NULL AND state = 'paid';
            CREATE INDEX producer_order_refund_pending ON producer_order (updated_at_ms) WHERE refund_status = 'pending';
            """),
    ]
}
