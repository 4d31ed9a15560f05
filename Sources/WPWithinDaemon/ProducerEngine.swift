#if canImport(Glibc)
import Glibc
#endif
import Logging
import WPWithinCore
import WPWithinDiscovery
import WPWithinPayments
import WPWithinPeer
import WPWithinRPC
import WPWithinStore
import WPWithinWire

/// The wall clock as the domain's `Instant`.
func nowInstant() -> Instant {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Instant(secondsSinceEpoch: Int64(spec.tv_sec), nanoseconds: Int32(spec.tv_nsec))
}

/// The producer's side of the HTE protocol over the durable store and the payment gateway.
///
/// Payment is at most one charge per paymentReferenceID, under every fault (docs/store.md, "The order
/// state machine"): the pending order (with its reserved stock) is committed before the gateway is called;
/// only the gateway's own refusal counts as "not charged"; any other outcome — a timeout, a 5xx, an
/// unreadable or unmatched answer, a failed commit after a SUCCESS — is unknown and is settled by
/// ``PaymentRecoveryService``, never by charging again. A retry of a paid order returns the same token.
struct ProducerEngine: HTEProducer {
    /// The money and units: this Thing's SQLite store, or a fleet's PostgreSQL (docs/fleet.md).
    let store: any ProducerBackend
    /// This Thing's serverId (a fleet member answers with its own, whoever sold the order).
    let serverID: String
    let payments: PaymentsContext
    let bus: EventBus
    let tokenTTL: Duration
    /// Units in flight longer than this are settled at the next begin (nil: never).
    var deliveryLease: Duration? = nil
    /// Settles unknown outcomes and keeps charges and reconciliations of one reference apart.
    var recovery: PaymentRecoveryService? = nil
    /// The discovery broadcaster, whose datagram lists the catalog's service types.
    var broadcaster: DiscoveryBroadcaster? = nil
    let logger: Logger

    func deliver(_ events: [StoredEvent]) async {
        TransitionLog.record(events, logger: logger)
        await bus.deliverCommitted(events.map(RPCEvent.init))
    }

    func discover(caller: HTECaller) async throws -> ServiceListResponse {
        let services = try await store.catalog().sortedServices.map { ServiceDetails($0) }
        return ServiceListResponse(serverID: serverID, services: services.isEmpty ? nil : services, fleetID: store.fleetID)
    }

    func prices(serviceID: Int, caller: HTECaller) async throws -> ServicePriceResponse {
        let prices = try await store.catalog().service(id: serviceID).sortedPrices.map { WPWithinWire.Price($0) }
        return ServicePriceResponse(serverID: serverID, prices: prices.isEmpty ? nil : prices)
    }

    func requestTotal(serviceID: Int, _ request: TotalPriceRequest, caller: HTECaller) async throws -> TotalPriceResponse {
        guard let merchant = payments.merchant else {
            throw WPWError(.credentials, "this producer has no merchant keys and cannot take payments")
        }
        let committed = try await store.createQuote(
            serviceID: serviceID, priceID: request.selectedPriceID, units: request.selectedNumberOfUnits,
            clientID: request.clientID, now: nowInstant())
        await deliver(committed.events)
        return TotalPriceResponse(committed.value, merchantClientKey: merchant.clientKey)
    }

    static let inProgress = WPWError(.conflict, "a payment for this order is already in progress")

    func payment(_ request: PaymentRequest, caller: HTECaller) async throws -> PaymentResponse {
        let reference = request.paymentReferenceID
        guard let recovery else { throw WPWError(.unavailable, "payments are not running") }
        guard try await recovery.claim(reference) else { throw try await claimHeld(reference) }
        let paid: Order
        do {
            paid = try await pay(request, recovery: recovery)
        } catch {
            await recovery.release(reference)
            throw error
        }
        await recovery.release(reference)
        guard let token = paid.token else { throw WPWError(.internalError, "a paid order has no token") }
        return PaymentResponse(
            serverID: serverID, clientID: paid.quote.clientID, totalPaid: Int(paid.quote.total.minorUnits),
            serviceDeliveryToken: ServiceDeliveryToken(token))
    }

    /// What a payment of `reference` answers while another holds its claim: when an attempt has started
    /// (payment recovery is asking the gateway about it, or another call's charge is under way), its outcome
    /// is not known yet: -32028 `paymentOutcomeUnknown`, retry shortly, as for any other unknown outcome; before
    /// any attempt, -32011 "in progress".
    private func claimHeld(_ reference: String) async throws -> WPWError {
        guard let order = try await store.order(paymentReferenceID: reference),
              order.state == .paymentPending || order.state == .outcomeUnknown
        else { return Self.inProgress }
        return WPWError(
            .paymentOutcomeUnknown, "the outcome of this payment is being determined; retry shortly",
            data: ["paymentReferenceId": .string(reference), "state": .string(order.state.rawValue)])
    }

    /// The payment, with the reference claimed.
    private func pay(_ request: PaymentRequest, recovery: PaymentRecoveryService) async throws -> Order {
        let reference = request.paymentReferenceID
        let started: Committed<PaymentStart>
        do {
            started = try await store.startPayment(paymentReferenceID: reference, clientID: request.clientID, now: nowInstant())
        } catch let error as WPWError where error.code == .paymentOutcomeUnknown || error == Self.inProgress {
            // An earlier charge's outcome is unknown, or was cut short (we hold the claim, so nobody is
            // charging it now): ask the gateway now rather than make the consumer wait, then answer from
            // what it says. Never a second order while the first one's fate is open.
            let settled = await recovery.settleNow(claimed: reference)
            switch settled?.state {
            case .paymentPending?, .outcomeUnknown?:
                throw WPWError(
                    .paymentOutcomeUnknown, "the outcome of an earlier payment is not known yet; it is being reconciled with the gateway",
                    data: ["paymentReferenceId": .string(reference)])
            default:
                // Paid (the same token, after the client check), failed (a new attempt) or closed: as for any start.
                started = try await store.startPayment(paymentReferenceID: reference, clientID: request.clientID, now: nowInstant())
            }
        }
        await deliver(started.events)
        switch started.value {
        case .alreadyPaid(let order):
            return order
        case .charge(let order):
            return try await charge(order, clientToken: request.clientToken, recovery: recovery)
        }
    }

    /// Places the order with the gateway and records what its answer proves.
    private func charge(_ order: Order, clientToken: String, recovery: PaymentRecoveryService) async throws -> Order {
        let reference = order.paymentReferenceID
        let code = order.customerOrderCode
        let request = OrderRequest(
            token: ClientToken(clientToken), amount: order.quote.total,
            orderDescription: order.quote.orderDescription, customerOrderCode: code)
        var metadata: Logger.Metadata = [
            LogKey.paymentReference: "\(reference)", LogKey.customerOrderCode: "\(code)",
            LogKey.amount: "\(order.quote.total.minorUnits)",
        ]
        let evidence: ChargeEvidence
        var refusal: (any Error)?
        do {
            let result = try await payments.gateway.placeOrder(request)
            evidence = ChargeEvidence.answer(result.gatewayOrder, customerOrderCode: code, total: order.quote.total)
        } catch {
            evidence = ChargeEvidence.error(error)
            refusal = error
        }
        switch evidence {
        case .charged(let orderCode):
            metadata[LogKey.orderCode] = "\(orderCode)"
            do {
                let paid = try await store.recordPaymentSucceeded(
                    paymentReferenceID: reference, pspOrderCode: orderCode, tokenTTL: tokenTTL, refundOnExpiry: false, now: nowInstant())
                await deliver(paid.events)  // logged there ("Payment charged")
                return paid.value
            } catch {
                // The card WAS charged: never "failed". Keep the charge in memory; recovery records it.
                await recovery.rememberCharge(reference, orderCode: orderCode)
                metadata[LogKey.error] = "\(error)"
                logger.error("Payment charged but not recorded yet; recovery will record it", metadata: metadata)
                throw WPWError(
                    .paymentOutcomeUnknown, "the payment was charged but could not be recorded yet; retry to get the token",
                    data: ["paymentReferenceId": .string(reference)])
            }
        case .notCharged(let reason):
            metadata[LogKey.reason] = "\(reason)"
            do {
                await deliver(try await store.recordPaymentFailed(paymentReferenceID: reference, reason: reason, now: nowInstant()).events)
            } catch {
                // Left pending: recovery looks the attempt up (the gateway holds no charge for it).
                metadata[LogKey.error] = "\(error)"
                logger.error("A declined payment could not be recorded; recovery will settle it", metadata: metadata)
                await recovery.wake()
            }
            if let refusal { throw refusal }
            throw WPWError(.paymentDeclined, "Payment failed for customer order \(code)", data: ["customerOrderCode": .string(code)])
        case .unknown(let reason):
            metadata[LogKey.reason] = "\(reason)"
            logger.warning("Payment outcome unknown; reconciling", metadata: metadata)
            do {
                await deliver(try await store.recordPaymentOutcomeUnknown(paymentReferenceID: reference, reason: reason, now: nowInstant()).events)
            } catch {
                metadata[LogKey.error] = "\(error)"
                logger.error("An unknown payment outcome could not be recorded; recovery will settle it", metadata: metadata)
            }
            // One lookup now: a 5xx after the gateway charged is settled at once.
            let settled = await recovery.settleNow(claimed: reference, force: true)
            await recovery.wake()
            if let settled, settled.state == .paid { return settled }
            throw WPWError(
                .paymentOutcomeUnknown, "the payment's outcome is not known yet; it is being reconciled with the gateway",
                data: ["paymentReferenceId": .string(reference)])
        }
    }

    func beginDelivery(serviceID: Int, _ request: BeginServiceDeliveryRequest, caller: HTECaller) async throws -> BeginServiceDeliveryResponse {
        let grant = try await store.beginDelivery(
            token: request.serviceDeliveryToken.presented, clientID: request.clientID, serviceID: serviceID,
            units: request.unitsToSupply, now: nowInstant(), lease: deliveryLease, policy: .releaseUnreported)
        await deliver(grant.events)
        return BeginServiceDeliveryResponse(
            serverID: serverID, clientID: request.clientID, serviceDeliveryToken: request.serviceDeliveryToken,
            unitsToSupply: grant.value.granted)
    }

    func endDelivery(serviceID: Int, _ request: EndServiceDeliveryRequest, caller: HTECaller) async throws -> EndServiceDeliveryResponse {
        let end = try await store.endDelivery(
            token: request.serviceDeliveryToken.presented, clientID: request.clientID, serviceID: serviceID,
            unitsReceived: request.unitsReceived, now: nowInstant(), policy: .releaseUnreported)
        await deliver(end.events)
        return EndServiceDeliveryResponse(
            serverID: serverID, clientID: request.clientID, serviceDeliveryToken: request.serviceDeliveryToken,
            unitsJustSupplied: end.value.committed, unitsRemaining: end.value.unitsRemaining)
    }

    /// `POST /service/{id}/refund` (our extension): refunds the undelivered units of the purchase whose token
    /// is presented (checked as a delivery end checks it), or answers the refund already decided. The gateway
    /// is asked by the recovery service, under the order's claim (docs/payments.md).
    func refund(serviceID: Int, _ request: RefundRequest, caller: HTECaller) async throws -> RefundResponse {
        let presented = request.serviceDeliveryToken.presented
        // An unknown key is a bad token here, never a 404: a 404 tells consumers the route does not exist.
        guard let recovery else {
            throw WPWError(.refundNotOffered, "this producer cannot take payments, nor refund them", data: ["reason": "notAllowed"])
        }
        guard let found = try await store.order(tokenKey: presented.key) else { throw DeliveryToken.invalidKey }
        let order: Order
        do {
            order = try await recovery.refundUndelivered(
                found.paymentReferenceID, target: .token(presented, clientID: request.clientID, serviceID: serviceID))
        } catch let error as WPWError where error.code == .notFound {
            throw WPWError(.invalidToken, error.message)
        }
        guard let refund = order.refund, let ledger = order.ledger else {
            throw WPWError(.conflict, "the refund of this purchase is being decided; ask again")
        }
        return RefundResponse(
            serverID: serverID, clientID: request.clientID, status: refund.status.rawValue, reason: refund.reason.rawValue,
            unitsRefunded: refund.units, amountRefunded: refund.amount.minorUnits, currencyCode: refund.amount.currency.code,
            ledger: LedgerSnapshot(purchased: ledger.purchased, delivered: ledger.delivered, inFlight: ledger.inFlight))
    }

    /// Publishes `producer.error` so the app hears of failures it did not call for.
    func reportError(_ operation: String, _ error: any Error, _ details: [String: JSONValue] = [:]) async {
        _ = try? await bus.publish("producer.error", ErrorEvent.payload(operation: operation, error: error, details: details))
    }

    /// `addService`, `removeService`, `listServices`.
    func methods() -> [RPCMethod] {
        [
            RPCMethod(
                "addService", summary: "Adds a service with its prices to this producer's catalog (kept in the database).",
                params: [RPCParam("service", Schema.anyObject, required: true, summary: "{id,name,description,serviceType,prices:[{id,description,amount,currencyCode,unitId,unitDescription,stock,refundOnExpiry}]}")],
                result: "service", Schema.ref("Service"), errors: [.roleDisabled, .alreadyExists, .amountInvalid, .unsupportedCurrency],
                handler: { params, _ in
                    let service = try CatalogJSON.service(from: params["service"] ?? .null, path: "service")
                    let committed = try await store.addService(service, now: nowInstant())
                    await refreshBroadcast()
                    await deliver(committed.events)
                    return CatalogJSON.json(service)
                }),
            RPCMethod(
                "replaceService",
                summary: "Replaces a service of this producer's catalog and all its prices, stock included (kept in the database); quotes already given keep their price.",
                params: [RPCParam("service", Schema.anyObject, required: true, summary: "{id,name,description,serviceType,prices:[{id,description,amount,currencyCode,unitId,unitDescription,stock,refundOnExpiry}]}")],
                result: "service", Schema.ref("Service"), errors: [.roleDisabled, .notFound, .amountInvalid, .unsupportedCurrency],
                handler: { params, _ in
                    let service = try CatalogJSON.service(from: params["service"] ?? .null, path: "service")
                    let committed = try await store.replaceService(service, now: nowInstant())
                    await refreshBroadcast()
                    await deliver(committed.events)
                    return CatalogJSON.json(service)
                }),
            RPCMethod(
                "removeService", summary: "Removes a service from the catalog.",
                params: [RPCParam("serviceId", Schema.integer, required: true)],
                result: "removed", Schema.record(["removed": Schema.constant(true)]), errors: [.roleDisabled, .notFound],
                handler: { params, _ in
                    let committed = try await store.removeService(id: Int(try params.int("serviceId")), now: nowInstant())
                    await refreshBroadcast()
                    await deliver(committed.events)
                    return ["removed": true]
                }),
            RPCMethod(
                "listServices", summary: "This producer's catalog, with the stock left at each price.",
                result: "services", Schema.array(of: Schema.ref("Service")), errors: [.roleDisabled],
                handler: { _, _ in .array(try await store.catalog().sortedServices.map(CatalogJSON.json)) }),
        ]
    }

    /// Seeds the database catalog with configured services it does not have yet. A service already in the
    /// database is left alone (its stock has been sold down; re-applying the file must never restore it).
    /// Puts the catalog's service types into the discovery datagram (Go's `serviceTypes`).
    func refreshBroadcast() async {
        guard let broadcaster, let catalog = try? await store.catalog() else { return }
        var message = await broadcaster.currentMessage
        guard message.serviceTypes != catalog.serviceTypes else { return }
        message.serviceTypes = catalog.serviceTypes
        try? await broadcaster.update(message: message)
    }

    func applyConfiguredCatalog(_ services: [JSONValue]) async throws {
        defer { Task { await refreshBroadcast() } }
        let current = try await store.catalog()
        for service in try CatalogJSON.catalog(from: services).sortedServices where (try? current.service(id: service.id)) == nil {
            await deliver(try await store.addService(service, now: nowInstant()).events)
        }
    }
}
