import Logging
import ServiceLifecycle
import WPWithinCore
import WPWithinMetrics
import WPWithinPayments
import WPWithinRPC
import WPWithinStore

/// Settles every producer order whose money is not accounted for yet, for as long as it takes: a charge
/// whose answer never came (`outcomeUnknown`), one cut short by a crash or a failed commit
/// (`paymentPending` not being charged right now), an abandoned attempt still watched for a late charge,
/// and a late charge being refunded. The decisions are `PaymentRecovery.next` (pure); this service does the
/// lookups, applies the steps through the store, logs and publishes them.
///
/// It is also the one place that knows which payment references are being worked on right now
/// (``claim(_:)``): a charge and a reconciliation of the same reference never overlap, and no second
/// charge starts while one is in flight.
///
/// Lookups of one order back off (doubling from `retryInterval` to `maxRetryInterval`); the loop wakes for
/// the next one due, or at once when ``wake()`` is called (a new unknown outcome).
actor PaymentRecoveryService: ServiceLifecycle.Service, CustomStringConvertible {
    nonisolated var description: String { "PaymentRecoveryService" }

    struct Settings: Sendable {
        var policy: PaymentRecoveryPolicy
        var retryInterval: Duration
        var maxRetryInterval: Duration
        var tokenTTL: Duration
    }

    /// Per-order memory of the lookups made (lost at restart, which only makes recovery more patient).
    private struct Tracking {
        var notFound = 0
        var lookups = 0
        var nextAt: ContinuousClock.Instant
    }

    private let store: any ProducerBackend
    private let gateway: any PaymentGateway
    private let bus: EventBus
    private let settings: Settings
    private let logger: Logger
    private var busy: Set<String> = []
    /// The gateway charged these references (reference → order code) but recording it failed (a full disk):
    /// recorded again on every pass until it sticks. Also found again by a lookup after a restart.
    private var chargedNotRecorded: [String: String] = [:]
    private var tracking: [String: Tracking] = [:]
    private var wakeUp: CheckedContinuation<Void, Never>?
    private var woken = false

    /// Set at each pass to the orders whose outcome is still open (metrics).
    private let pendingGauge: MetricsGauge?

    init(
        store: any ProducerBackend, gateway: any PaymentGateway, bus: EventBus, settings: Settings, logger: Logger,
        pendingGauge: MetricsGauge? = nil
    ) {
        self.pendingGauge = pendingGauge
        self.store = store
        self.gateway = gateway
        self.bus = bus
        self.settings = settings
        self.logger = logger
    }

    // MARK: Claims

    /// Takes the reference for one charge or one reconciliation; false when someone else has it: a task of
    /// this daemon, or (on a fleet's shared store) another member, which holds it until it is done or dies.
    /// Throws when the shared store cannot be asked (`unavailable`): then nobody may charge.
    func claim(_ reference: String) async throws -> Bool {
        guard busy.insert(reference).inserted else { return false }
        let claimed: Bool
        do {
            claimed = try await store.claimCharge(reference)
        } catch {
            busy.remove(reference)
            throw error
        }
        if !claimed { busy.remove(reference) }
        return claimed
    }

    func release(_ reference: String) async {
        busy.remove(reference)
        await store.releaseCharge(reference)
    }

    /// The gateway charged `reference` (order `orderCode`) but the charge could not be recorded: keep it in
    /// memory and record it on the next pass.
    func rememberCharge(_ reference: String, orderCode: String) {
        chargedNotRecorded[reference] = orderCode
        wake()
    }

    /// Runs the loop now (a new order needs reconciliation).
    func wake() {
        woken = true
        wakeUp?.resume()
        wakeUp = nil
    }

    // MARK: Service

    func run() async throws {
        logger.info("Payment recovery running", metadata: [
            LogKey.recoverySettleAfter: "\(settings.policy.settleAfter)", LogKey.recoveryWatch: "\(settings.policy.watchFor)",
        ])
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let nextDue = await pass()
                await sleep(until: nextDue)
            }
        } onGracefulShutdown: {
            Task { await self.wake() }
        }
    }

    /// One pass over the orders that need the gateway; returns when the next lookup is due.
    private func pass() async -> ContinuousClock.Instant {
        store.maintain()
        let idle = ContinuousClock.now + settings.maxRetryInterval
        let now = nowInstant()
        let watchingSince = Instant(secondsSinceEpoch: now.secondsSinceEpoch - settings.policy.watchFor.components.seconds)
        let orders: [Order]
        do {
            orders = try await store.ordersNeedingReconciliation(watchingSince: watchingSince)
        } catch {
            logger.error("Cannot list the orders to reconcile", metadata: [LogKey.error: "\(error)"])
            return ContinuousClock.now + settings.retryInterval
        }
        // Abandoned orders are only watched for a late charge: not pending.
        pendingGauge?.set(Int64(orders.count { $0.state != .abandoned }))
        let open = Set(orders.map(\.paymentReferenceID))
        var next = idle
        // Refunds of undelivered units: pending ones and expired tokens (``refundUndelivered(_:target:)``).
        var refundOrders: [Order] = []
        if let work = try? await store.refundWork(now: now) {
            refundOrders = work.orders
            if let expiry = work.nextExpiry {
                let wait = Duration.milliseconds(max(0, expiry.milliseconds - nowInstant().milliseconds) + 1)
                next = min(next, ContinuousClock.now + wait)
            }
        }
        let openReferences = open.union(refundOrders.map(\.paymentReferenceID))
        tracking = tracking.filter { openReferences.contains($0.key) }
        for order in refundOrders {
            let reference = order.paymentReferenceID
            if let due = tracking[reference]?.nextAt, due > ContinuousClock.now {
                next = min(next, due)
                continue
            }
            _ = try? await refundUndelivered(reference, target: .reference(reference))
            if let due = tracking[reference]?.nextAt { next = min(next, due) }
        }
        for order in orders {
            let reference = order.paymentReferenceID
            if let due = tracking[reference]?.nextAt, due > ContinuousClock.now {
                next = min(next, due)
                continue
            }
            // Being charged right now (here, or by a fleet member): its charge records the outcome.
            guard (try? await claim(reference)) == true else { continue }
            if order.state == .paymentPending || order.state == .outcomeUnknown {
                // Read again under the claim: the charge that held it until now may have recorded its outcome.
                _ = await settleNow(claimed: reference, force: true)
            } else {
                await settle(order)
            }
            await release(reference)
            if let due = tracking[reference]?.nextAt { next = min(next, due) }
        }
        return next
    }

    private func sleep(until deadline: ContinuousClock.Instant) async {
        if woken {
            woken = false
            return
        }
        let timer = Task { [weak self] in
            // Only a sleep that ran its course wakes the loop (a cancelled timer must not: that would spin).
            guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil else { return }
            await self?.wake()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if woken || Task.isCancelled {
                    continuation.resume()
                } else {
                    wakeUp = continuation
                }
            }
        } onCancel: {
            Task { await self.wake() }
        }
        woken = false
        timer.cancel()
    }

    // MARK: Settling one order

    /// Reconciles `reference` now if its next lookup is due (or `force`), for a caller that holds its claim;
    /// returns the order as it stands afterwards. Used by the payment path (a consumer's retry, an unknown
    /// answer just now).
    func settleNow(claimed reference: String, force: Bool = false) async -> Order? {
        if !force, let due = tracking[reference]?.nextAt, due > ContinuousClock.now {
            return try? await store.order(paymentReferenceID: reference)
        }
        guard let order = try? await store.order(paymentReferenceID: reference) else { return nil }
        guard order.state.needsReconciliation else { return order }
        await settle(order)
        return try? await store.order(paymentReferenceID: reference)
    }

    /// One step (or a few, when one leads straight to the next) for an order the caller has claimed.
    private func settle(_ start: Order) async {
        var order = start
        let reference = order.paymentReferenceID
        var metadata: Logger.Metadata = [LogKey.paymentReference: "\(reference)", LogKey.customerOrderCode: "\(order.customerOrderCode)"]
        do {
            if order.state == .paymentPending {
                if let orderCode = chargedNotRecorded[reference] {
                    try await recordPaid(order, orderCode: orderCode, how: "charge recorded after a failed commit")
                    chargedNotRecorded[reference] = nil
                    return
                }
                // Not being charged (we hold the claim): a crash or a failed commit cut the charge short.
                let unknown = try await store.recordPaymentOutcomeUnknown(
                    paymentReferenceID: reference, reason: "the charge was interrupted (restart or failed commit)", now: nowInstant())
                await publish(unknown.events)
                order = unknown.value
            }
            for _ in 0..<3 {
                let lookup = await look(up: order)
                var track = tracking[reference] ?? Tracking(nextAt: ContinuousClock.now)
                let step = PaymentRecovery.next(order, lookup: lookup, notFoundSoFar: track.notFound, now: nowInstant(), policy: settings.policy)
                track.lookups += 1
                track.nextAt = ContinuousClock.now
                    + PaymentRecovery.backoff(lookups: track.lookups - 1, base: settings.retryInterval, cap: settings.maxRetryInterval)
                tracking[reference] = track
                switch step {
                case .recordPaid(let orderCode):
                    try await recordPaid(order, orderCode: orderCode, how: "found at the gateway")
                    return
                case .recordFailed(let reason):
                    metadata[LogKey.reason] = "\(reason)"
                    await recorded(
                        try await store.recordPaymentFailed(paymentReferenceID: reference, reason: reason, now: nowInstant()),
                        .info, "Payment reconciled: not charged", metadata)
                    return
                case .abandon(let reason):
                    metadata[LogKey.reason] = "\(reason)"
                    await recorded(
                        try await store.recordPaymentAbandoned(paymentReferenceID: reference, reason: reason, now: nowInstant()),
                        .warning, "Payment abandoned: the gateway never received it; watching for a late charge", metadata)
                    return
                case .recordLateCharge(let orderCode):
                    let pending = try await store.recordLateCharge(paymentReferenceID: reference, orderCode: orderCode, now: nowInstant())
                    await publish(pending.events)
                    metadata[LogKey.orderCode] = "\(orderCode)"
                    logger.warning("Late charge of an abandoned payment found; refunding it", metadata: metadata)
                    order = pending.value
                    continue  // look it up by its order code and refund it now
                case .refund(let orderCode, let amount):
                    metadata[LogKey.orderCode] = "\(orderCode)"
                    metadata[LogKey.amount] = "\(amount)"
                    do {
                        try await gateway.refund(orderCode: orderCode, amount: Money(minorUnits: amount, currency: order.quote.total.currency))
                    } catch {
                        // Whatever happened, the next pass looks the order up before asking again.
                        metadata[LogKey.error] = "\(error)"
                        logger.error("Refund of a late charge failed; retrying after a lookup", metadata: metadata)
                        return
                    }
                    try await recordRefunded(reference, metadata)
                    return
                case .recordRefunded:
                    try await recordRefunded(reference, metadata)
                    return
                case .wait(let notFound, let mismatch):
                    if notFound { tracking[reference]?.notFound += 1 }
                    if mismatch {
                        logger.error("The gateway answered a lookup with another order; not trusted", metadata: metadata)
                    } else {
                        logger.debug("Payment outcome still unknown", metadata: metadata)
                    }
                    return
                case .stopWatching:
                    tracking[reference] = nil
                    return
                }
            }
        } catch {
            metadata[LogKey.error] = "\(error)"
            logger.error("Cannot record a reconciled payment yet; will retry", metadata: metadata)
            var track = tracking[reference] ?? Tracking(nextAt: ContinuousClock.now)
            track.nextAt = ContinuousClock.now + settings.retryInterval
            tracking[reference] = track
            _ = try? await bus.publish("producer.error", ErrorEvent.payload(
                operation: "reconcile", error: error, details: ["paymentReferenceId": .string(reference)]))
        }
    }

    // MARK: Refunds of undelivered units

    /// Refunds the undelivered units of `reference` (docs/payments.md, "Refunds of undelivered units"):
    /// under the reference's claim, decides the refund durably (or finds it decided), then settles it with the
    /// gateway: the charge is looked up first and the refund asked for only when the lookup shows none, so a
    /// refund whose answer was lost (a timeout, a crash) is never asked for twice. Returns the order as it
    /// stands: `issued`, or still `pending` (the gateway did not answer; the next pass settles it, with
    /// backoff). While another task or fleet member holds the claim, returns the order as stored.
    func refundUndelivered(_ reference: String, target: RefundTarget) async throws -> Order {
        guard try await claim(reference) else {
            guard let order = try await store.order(paymentReferenceID: reference) else {
                throw WPWError(.notFound, "Order not found for paymentReferenceID \(reference)")
            }
            return order
        }
        do {
            let started = try await store.startRefund(target, now: nowInstant())
            await publish(started.events)
            var order = started.value
            // A pending refund whose last attempt was just now waits for its backoff: a refund request still on
            // its way must have time to land before the lookup that decides whether to ask again.
            let waiting = tracking[reference].map { $0.nextAt > ContinuousClock.now } ?? false
            if order.refund?.status == .pending && !waiting { order = try await settleRefund(order) }
            await release(reference)
            return order
        } catch {
            await release(reference)
            throw error
        }
    }

    /// Looks the charge up and records the refund issued, or asks for it (then records it). A failure
    /// leaves it pending for the next pass (backoff as for payments).
    private func settleRefund(_ order: Order) async throws -> Order {
        let reference = order.paymentReferenceID
        var metadata: Logger.Metadata = [
            LogKey.paymentReference: "\(reference)", LogKey.orderCode: "\(order.pspReference ?? "")",
            LogKey.amount: "\(order.refund?.amount.minorUnits ?? 0)", LogKey.units: "\(order.refund?.units ?? 0)",
        ]
        var track = tracking[reference] ?? Tracking(nextAt: ContinuousClock.now)
        track.lookups += 1
        track.nextAt = ContinuousClock.now
            + PaymentRecovery.backoff(lookups: track.lookups - 1, base: settings.retryInterval, cap: settings.maxRetryInterval)
        tracking[reference] = track
        let lookup: PaymentRecovery.Lookup
        if let code = order.pspReference {
            do {
                lookup = .found(try await gateway.lookupOrder(orderCode: code).gatewayOrder)
            } catch {
                lookup = .failed(reason: "\(error)")
            }
        } else {
            lookup = .notFound
        }
        switch RefundRecovery.next(order, lookup: lookup) {
        case .recordIssued:
            return try await recordUnitRefund(reference, metadata, how: "found at the gateway")
        case .refund(let orderCode, let amount):
            do {
                try await gateway.refund(orderCode: orderCode, amount: Money(minorUnits: amount, currency: order.quote.total.currency))
            } catch {
                // Whatever happened, the next attempt looks the charge up before asking again.
                metadata[LogKey.error] = "\(error)"
                logger.error("Refund of undelivered units failed; retrying after a lookup", metadata: metadata)
                // No RPC caller may be waiting (an expiry refund): the app hears of it as producer.error.
                _ = try? await bus.publish("producer.error", ErrorEvent.payload(
                    operation: "refund", error: error, details: ["paymentReferenceId": .string(reference)]))
                return order
            }
            return try await recordUnitRefund(reference, metadata, how: "refunded")
        case .wait(let mismatch):
            if mismatch {
                logger.error("The gateway's record of the charge does not match the refund; not trusted", metadata: metadata)
            } else {
                logger.warning("Refund of undelivered units not confirmed yet; will look again", metadata: metadata)
            }
            return order
        }
    }

    private func recordUnitRefund(_ reference: String, _ metadata: Logger.Metadata, how: String) async throws -> Order {
        let issued = try await store.recordUnitRefundIssued(paymentReferenceID: reference, now: nowInstant())
        var metadata = metadata
        metadata[LogKey.reason] = "\(how)"
        await recorded(issued, .notice, "Undelivered units refunded", metadata)
        tracking[reference] = nil
        return issued.value
    }

    private func recordRefunded(_ reference: String, _ metadata: Logger.Metadata) async throws {
        await recorded(try await store.recordRefundCompleted(paymentReferenceID: reference, now: nowInstant()), .notice, "Late charge refunded", metadata)
    }

    /// Publishes a committed step's events and logs it.
    private func recorded(_ committed: Committed<Order>, _ level: Logger.Level, _ message: Logger.Message, _ metadata: Logger.Metadata) async {
        await publish(committed.events)
        logger.log(level: level, message, metadata: metadata)
    }

    private func recordPaid(_ order: Order, orderCode: String, how: String) async throws {
        let paid = try await store.recordPaymentSucceeded(
            paymentReferenceID: order.paymentReferenceID, pspOrderCode: orderCode, tokenTTL: settings.tokenTTL,
            refundOnExpiry: false, now: nowInstant())
        await publish(paid.events)
        logger.info("Payment reconciled: charged", metadata: [
            LogKey.paymentReference: "\(order.paymentReferenceID)", LogKey.orderCode: "\(orderCode)", LogKey.reason: "\(how)",
        ])
    }

    private func look(up order: Order) async -> PaymentRecovery.Lookup {
        do {
            switch PaymentRecovery.lookupKey(for: order) {
            case .customerOrderCode(let code):
                guard let found = try await gateway.findOrder(customerOrderCode: code) else { return .notFound }
                return .found(found.gatewayOrder)
            case .orderCode(let code):
                do {
                    return .found(try await gateway.lookupOrder(orderCode: code).gatewayOrder)
                } catch let error as WPWError where error.code == .notFound {
                    return .notFound
                }
            }
        } catch {
            return .failed(reason: "\(error)")
        }
    }

    private func publish(_ events: [StoredEvent]) async {
        TransitionLog.record(events, logger: logger)
        await bus.deliverCommitted(events.map(RPCEvent.init))
    }
}
