import Foundation
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
/// Payment is exactly-once per paymentReferenceID: the pending order (with its reserved stock) is committed
/// before the gateway is called; a retry of a paid order returns the same token and charges nothing; an
/// outcome the gateway did not make clear is recorded as unknown and reconciled, never guessed.
struct ProducerEngine: HTEProducer {
    let store: Store
    let payments: PaymentsContext
    let bus: EventBus
    let tokenTTL: Duration
    /// The discovery broadcaster, whose datagram lists the catalog's service types.
    var broadcaster: DiscoveryBroadcaster? = nil
    let logger: Logger

    var serverID: String { store.identity.serverID }

    func deliver(_ events: [StoredEvent]) async {
        await bus.deliverCommitted(events.map(RPCEvent.init))
    }

    func discover(caller: HTECaller) async throws -> ServiceListResponse {
        let services = try await store.catalog().sortedServices.map { ServiceDetails($0) }
        return ServiceListResponse(serverID: serverID, services: services.isEmpty ? nil : services)
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

    func payment(_ request: PaymentRequest, caller: HTECaller) async throws -> PaymentResponse {
        let reference = request.paymentReferenceID
        let started: Committed<PaymentStart>
        do {
            started = try await store.startPayment(paymentReferenceID: reference, clientID: request.clientID, now: nowInstant())
        } catch let error as WPWError where error.code == .paymentOutcomeUnknown {
            // An earlier charge's outcome is unknown (a timeout, a crash): ask the gateway now rather than
            // make the consumer wait for the next start-up, then answer from what it says.
            await reconcile(reference)
            started = try await store.startPayment(paymentReferenceID: reference, clientID: request.clientID, now: nowInstant())
        }
        await deliver(started.events)
        let paid: Order
        switch started.value {
        case .alreadyPaid(let order):
            paid = order
        case .charge(let order):
            paid = try await charge(order, clientToken: request.clientToken)
        }
        guard let token = paid.token else { throw WPWError(.internalError, "a paid order has no token") }
        return PaymentResponse(
            serverID: serverID, clientID: paid.quote.clientID, totalPaid: Int(paid.quote.total.minorUnits),
            serviceDeliveryToken: ServiceDeliveryToken(token))
    }

    /// Places the order with the gateway and records the outcome (which is committed before we answer).
    private func charge(_ order: Order, clientToken: String) async throws -> Order {
        let reference = order.paymentReferenceID
        let request = OrderRequest(
            token: ClientToken(clientToken), amount: order.quote.total,
            orderDescription: order.quote.orderDescription, customerOrderCode: reference)
        do {
            let result = try await payments.gateway.placeOrder(request)
            guard result.isSuccess else {
                let failed = try await store.recordPaymentFailed(paymentReferenceID: reference, reason: "paymentStatus \(result.paymentStatus)", now: nowInstant())
                await deliver(failed.events)
                throw WPWError(.paymentDeclined, "Payment failed for customer order \(reference)")
            }
            return try await succeeded(reference, orderCode: result.orderCode)
        } catch let error as WPWError {
            switch error.code {
            case .paymentOutcomeUnknown, .gatewayTimeout:
                let unknown = try await store.recordPaymentOutcomeUnknown(paymentReferenceID: reference, reason: error.message, now: nowInstant())
                await deliver(unknown.events)
                // Try to learn the outcome now; otherwise start-up reconciliation will.
                if let found = try? await payments.gateway.findOrder(customerOrderCode: reference), found.isSuccess {
                    return try await succeeded(reference, orderCode: found.orderCode)
                }
                logger.warning("Payment outcome unknown; left for reconciliation", metadata: ["payment.reference": "\(reference)"])
                throw WPWError(.paymentOutcomeUnknown, "the payment's outcome is not known yet; it will be reconciled", data: ["paymentReferenceId": .string(reference)])
            case .paymentDeclined:
                throw error  // recorded above
            default:
                let failed = try await store.recordPaymentFailed(paymentReferenceID: reference, reason: error.message, now: nowInstant())
                await deliver(failed.events)
                throw error
            }
        }
    }

    private func succeeded(_ reference: String, orderCode: String) async throws -> Order {
        let paid = try await store.recordPaymentSucceeded(
            paymentReferenceID: reference, pspOrderCode: orderCode, tokenTTL: tokenTTL, now: nowInstant())
        await deliver(paid.events)
        return paid.value
    }

    func beginDelivery(serviceID: Int, _ request: BeginServiceDeliveryRequest, caller: HTECaller) async throws -> BeginServiceDeliveryResponse {
        let grant = try await store.beginDelivery(
            token: request.serviceDeliveryToken.presented, clientID: request.clientID, serviceID: serviceID,
            units: request.unitsToSupply, now: nowInstant())
        await deliver(grant.events)
        return BeginServiceDeliveryResponse(
            serverID: serverID, clientID: request.clientID, serviceDeliveryToken: request.serviceDeliveryToken,
            unitsToSupply: grant.value.granted)
    }

    func endDelivery(serviceID: Int, _ request: EndServiceDeliveryRequest, caller: HTECaller) async throws -> EndServiceDeliveryResponse {
        let end = try await store.endDelivery(
            token: request.serviceDeliveryToken.presented, clientID: request.clientID, serviceID: serviceID,
            unitsReceived: request.unitsReceived, now: nowInstant())
        await deliver(end.events)
        return EndServiceDeliveryResponse(
            serverID: serverID, clientID: request.clientID, serviceDeliveryToken: request.serviceDeliveryToken,
            unitsJustSupplied: end.value.committed, unitsRemaining: end.value.unitsRemaining)
    }

    /// Orders whose gateway outcome is unknown (a crash between charge and commit): asks the gateway.
    func reconcile() async {
        guard let orders = try? await store.ordersNeedingReconciliation() else { return }
        for order in orders { await reconcile(order) }
    }

    /// Reconciles one order whose outcome is unknown (not one that is being charged right now).
    func reconcile(_ reference: String) async {
        guard let orders = try? await store.ordersNeedingReconciliation(),
              let order = orders.first(where: { $0.paymentReferenceID == reference && $0.state == .outcomeUnknown }) else { return }
        await reconcile(order)
    }

    /// Asks the gateway what happened to an order and records it. At start-up a `paymentPending` order
    /// is one whose charge was cut short by a crash, so it is first marked unknown.
    private func reconcile(_ order: Order) async {
        let reference = order.paymentReferenceID
        do {
            if order.state == .paymentPending {
                await deliver(try await store.recordPaymentOutcomeUnknown(paymentReferenceID: reference, reason: "daemon restarted mid-payment", now: nowInstant()).events)
            }
            if let found = try await payments.gateway.findOrder(customerOrderCode: reference) {
                if found.isSuccess {
                    _ = try await succeeded(reference, orderCode: found.orderCode)
                } else {
                    await deliver(try await store.recordPaymentFailed(paymentReferenceID: reference, reason: "gateway: \(found.paymentStatus)", now: nowInstant()).events)
                }
            } else {
                await deliver(try await store.recordPaymentFailed(paymentReferenceID: reference, reason: "no order at the gateway", now: nowInstant()).events)
            }
            logger.notice("Reconciled a payment", metadata: ["payment.reference": "\(reference)"])
        } catch {
            logger.error("Cannot reconcile a payment yet", metadata: ["payment.reference": "\(reference)", "error": "\(error)"])
            await reportError("reconcile", error, ["paymentReferenceId": .string(reference)])
        }
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
                params: [RPCParam("service", Schema.anyObject, required: true, summary: "{id,name,description,serviceType,prices:[{id,description,amount,currencyCode,unitId,unitDescription,stock}]}")],
                result: "service", Schema.anyObject, errors: [.alreadyExists, .amountInvalid, .unsupportedCurrency],
                handler: { params, _ in
                    let service = try CatalogJSON.service(from: params["service"] ?? .null, path: "service")
                    let committed = try await store.addService(service, now: nowInstant())
                    await refreshBroadcast()
                    await deliver(committed.events)
                    return CatalogJSON.json(service)
                }),
            RPCMethod(
                "removeService", summary: "Removes a service from the catalog.",
                params: [RPCParam("serviceId", Schema.integer, required: true)],
                result: "removed", Schema.object(["removed": Schema.boolean]), errors: [.notFound],
                handler: { params, _ in
                    let committed = try await store.removeService(id: Int(try params.int("serviceId")), now: nowInstant())
                    await refreshBroadcast()
                    await deliver(committed.events)
                    return ["removed": true]
                }),
            RPCMethod(
                "listServices", summary: "This producer's catalog, with the stock left at each price.",
                result: "services", Schema.array(of: Schema.anyObject),
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
