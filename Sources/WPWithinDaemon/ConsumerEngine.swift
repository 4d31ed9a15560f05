import Logging
import WPWithinCore
import WPWithinDiscovery
import WPWithinHTTP
import WPWithinPayments
import WPWithinPeer
import WPWithinRPC
import WPWithinStore
import WPWithinWire

/// The consumer's side: select, pay and consume units of a producer's service, with every purchase and unit
/// kept in the store. The card goes only to the gateway's tokens call; the producer sees a single-use token.
struct ConsumerEngine {
    let store: Store
    let payments: PaymentsContext
    let bus: EventBus
    let scanner: DiscoveryScanner?
    let hte: HTEClient
    let logger: Logger
    /// The spending policy in force (`consumer.spending`, replaced by a SIGHUP reload).
    let spendingPolicy: @Sendable () -> SpendingPolicy

    var clientID: String { store.identity.serverID }

    func deliver(_ events: [StoredEvent]) async {
        TransitionLog.record(events, logger: logger)
        await bus.deliverCommitted(events.map(RPCEvent.init))
    }

    /// Runs a handler; a failure the app should hear of (peer, gateway, internal) is also published as
    /// `consumer.error`.
    func reporting(_ operation: String, _ details: [String: JSONValue], _ body: () async throws -> JSONValue) async throws -> JSONValue {
        do {
            return try await body()
        } catch {
            if ErrorEvent.isReported(error) {
                _ = try? await bus.publish("consumer.error", ErrorEvent.payload(operation: operation, error: error, details: details))
            }
            throw error
        }
    }

    /// The producer's base URL: an explicit `url`, or the serverId seen by discovery (searching briefly).
    func producerURL(_ params: RPCParams) async throws -> (url: String, serverID: String?) {
        if let url = try params.optionalString("url") {
            guard url.hasPrefix("http://") else { throw WPWError.invalidParams(field: "url", "url must start with http://") }
            return (url, try params.optionalString("serverId"))
        }
        guard let serverID = try params.optionalString("serverId")?.lowercased() else {
            throw WPWError.invalidParams(field: "serverId", "give serverId (from discovery) or url")
        }
        guard let scanner else { throw WPWError(.notFound, "unknown serverId \(serverID) and discovery is off; give url") }
        if let device = await scanner.device(serverID: serverID) { return (device.baseURL, serverID) }
        do {
            return (try await scanner.search(matching: .serverID(serverID), timeout: .seconds(2)).baseURL, serverID)
        } catch {
            throw WPWError(.notFound, "no producer with serverId \(serverID) has been discovered", data: ["serverId": .string(serverID)])
        }
    }

    static let producerParams = [
        RPCParam("serverId", Schema.string, summary: "The producer, as found by discovery."),
        RPCParam("url", Schema.string, summary: "The producer's HTE base URL (http://host:port[prefix]) when discovery is off."),
    ]

    func purchaseJSON(_ stored: StoredPurchase) -> JSONValue {
        let p = stored.purchase
        // Units refunded (or being refunded) can no longer be delivered: not remaining.
        let refunding = stored.refund.map { $0.status == .closed ? 0 : $0.units } ?? 0
        return [
            "purchaseId": .int(stored.id), "serverId": .string(p.serverID), "serviceId": .int(Int64(p.serviceID)),
            "priceId": .int(Int64(p.priceID)), "paymentReferenceId": .string(p.paymentReferenceID),
            "totalPaid": .int(p.totalPaid.minorUnits), "currencyCode": .string(p.totalPaid.currency.code),
            "unitsBought": .int(Int64(p.bought)), "unitsDelivered": .int(Int64(p.delivered)),
            "unitsInFlight": .int(Int64(p.inFlight)), "unitsRemaining": .int(Int64(max(0, p.remaining - refunding))),
            "expiry": .string((try? GoTime(p.expiry, utcOffsetSeconds: 0).format()) ?? ""),
            "producerUrl": .string(stored.producerURL),
            "unsettled": p.unsettled.map { .string($0.name) } ?? .null,
            "unitsRefunded": .int(Int64(stored.refund?.unitsRefunded ?? 0)),
            "amountRefunded": .int(stored.refund?.amountRefunded ?? 0),
            "refundStatus": stored.refund.map { .string($0.status.rawValue) } ?? .null,
        ]
    }

    func methods() -> [RPCMethod] {
        [
            RPCMethod(
                "requestServices", summary: "The services a producer offers.", params: Self.producerParams,
                result: "services", Schema.ref("ServiceList"), errors: [.roleDisabled, .notFound, .peerUnreachable, .peerRejected, .peerProtocol],
                handler: { params, _ in
                    let (url, _) = try await producerURL(params)
                    let list = try await hte.services(baseURL: url)
                    return [
                        "serverId": .string(list.serverID),
                        // Producers with the same fleetId share stock and honour each other's tokens (docs/fleet.md).
                        "fleetId": list.fleetID.map(JSONValue.string) ?? .null,
                        "services": .array((list.services ?? []).map { s in
                            ["serviceId": .int(Int64(s.serviceID)), "name": .string(s.serviceName),
                             "description": .string(s.serviceDescription), "serviceType": .string(s.serviceType)]
                        }),
                    ]
                }),
            RPCMethod(
                "getServicePrices", summary: "The prices of one of a producer's services.",
                params: Self.producerParams + [RPCParam("serviceId", Schema.integer, required: true)],
                result: "prices", Schema.ref("PriceList"), errors: [.roleDisabled, .notFound, .peerUnreachable, .peerRejected, .peerProtocol],
                handler: { params, _ in
                    let (url, _) = try await producerURL(params)
                    let list = try await hte.prices(baseURL: url, serviceID: Int(try params.int("serviceId")))
                    return [
                        "serverId": .string(list.serverID),
                        "prices": .array((list.prices ?? []).map { p in
                            ["priceId": .int(Int64(p.priceID)), "description": .string(p.priceDescription),
                             "amount": .int(Int64(p.pricePerUnit?.amount ?? 0)), "currencyCode": .string(p.pricePerUnit?.currencyCode ?? ""),
                             "unitId": .int(Int64(p.unitID)), "unitDescription": .string(p.unitDescription)]
                        }),
                    ]
                }),
            RPCMethod(
                "selectService", summary: "Asks the producer for a total for numberOfUnits at a price; returns the quote to pay.",
                params: Self.producerParams + [
                    RPCParam("serviceId", Schema.integer, required: true), RPCParam("priceId", Schema.integer, required: true),
                    RPCParam("numberOfUnits", ["type": "integer", "minimum": 1, "maximum": .int(Int64(Int32.max))], required: true),
                ],
                result: "quote", Schema.ref("Quote"),
                errors: [.roleDisabled, .notFound, .outOfStock, .amountInvalid, .peerUnreachable, .peerRejected, .peerProtocol],
                handler: { params, _ in
                    let (url, _) = try await producerURL(params)
                    let serviceID = Int(try params.int("serviceId"))
                    let response = try await hte.requestTotal(baseURL: url, serviceID: serviceID, TotalPriceRequest(
                        clientID: clientID, selectedNumberOfUnits: Int(try params.int("numberOfUnits")),
                        selectedPriceID: Int(try params.int("priceId"))))
                    guard let currency = Currency(code: response.currencyCode), response.totalPrice > 0 else {
                        throw WPWError(.peerProtocol, "the producer quoted an invalid total")
                    }
                    // The spending policy's service type lists need the service's type at makePayment: kept with the
                    // quote. A lookup that fails is not the quote's failure: makePayment asks again.
                    let serviceType = spendingPolicy().needsServiceType ? (try? await serviceType(url: url, serviceID: serviceID)) ?? nil : nil
                    let quote = ConsumerQuote(
                        paymentReferenceID: response.paymentReferenceID, serverID: response.serverID, clientID: clientID,
                        serviceID: serviceID, priceID: response.priceID, units: response.unitsToSupply,
                        total: Money(minorUnits: Int64(response.totalPrice), currency: currency),
                        merchantClientKey: response.merchantClientKey, producerURL: url, serviceType: serviceType)
                    await deliver(try await store.saveQuote(quote, now: nowInstant()).events)
                    return [
                        "paymentReferenceId": .string(response.paymentReferenceID), "serverId": .string(response.serverID),
                        "serviceId": .int(Int64(serviceID)), "priceId": .int(Int64(response.priceID)),
                        "unitsToSupply": .int(Int64(response.unitsToSupply)), "totalPrice": .int(Int64(response.totalPrice)),
                        "currencyCode": .string(response.currencyCode), "merchantClientKey": .string(response.merchantClientKey),
                    ]
                }),
            RPCMethod(
                "makePayment",
                summary: "Pays a quote: a single-use token from the gateway with this Thing's card, then the producer charges it. Idempotent per paymentReferenceId.",
                params: [RPCParam("paymentReferenceId", Schema.string, required: true)],
                result: "purchase", Schema.ref("Purchase"),
                errors: [.roleDisabled, .notFound, .conflict, .expired, .outOfStock, .credentials, .paymentDeclined, .invalidCard, .gatewayUnavailable, .gatewayTimeout, .gatewayProtocol, .gatewayRejected, .paymentOutcomeUnknown, .peerUnreachable, .peerRejected, .peerProtocol, .spendingLimitExceeded, .producerNotAllowed, .serviceTypeNotAllowed, .currencyNotAllowed],
                handler: { params, _ in
                    let reference = try params.string("paymentReferenceId")
                    return try await reporting("makePayment", ["paymentReferenceId": .string(reference)]) {
                        if let existing = try await store.purchase(paymentReferenceID: reference) { return purchaseJSON(existing) }
                        guard let selected = try await store.consumerQuote(paymentReferenceID: reference) else {
                            throw WPWError(.notFound, "no quote \(reference); call selectService first", data: ["paymentReferenceId": .string(reference)])
                    }
                    guard let card = payments.card else { throw WPWError(.credentials, "no card configured (payments.cardFile)") }
                    // The purchase (the token: the money) must be recordable when the producer answers.
                    try store.requireRoomForNewMoney()
                    // Before the card is used: the policy, and (with budgets) the amount reserved.
                    let (quote, reservedNow) = try await checkSpending(selected)
                    let token: ClientToken
                    let response: PaymentResponse
                    do {
                        token = try await payments.gateway.createToken(card: card, clientKey: quote.merchantClientKey)
                    } catch {
                        // No token reached the producer: this call charged nothing (an earlier attempt of a
                        // resumed payment may have: its reservation stays).
                        if reservedNow { try await releaseSpending(quote) }
                        throw error
                    }
                    do {
                        response = try await hte.payment(baseURL: quote.producerURL, PaymentRequest(
                            clientID: clientID, clientToken: token.value, paymentReferenceID: reference))
                    } catch {
                        if Self.releasesReservation(error, reservedNow: reservedNow) { try await releaseSpending(quote) }
                        throw error
                    }
                    guard let delivery = response.serviceDeliveryToken else { throw WPWError(.peerProtocol, "the producer sent no delivery token") }
                    let purchase = try Purchase(
                        serverID: quote.serverID, clientID: clientID, serviceID: quote.serviceID, priceID: quote.priceID,
                        paymentReferenceID: reference, totalPaid: quote.total, tokenKey: delivery.key,
                        expiry: delivery.expiry.instant, units: quote.units)
                    let tokenJSON = String(decoding: try GoJSON.encode(delivery), as: UTF8.self)
                    let stored = try await store.recordPurchase(purchase, tokenJSON: tokenJSON, producerURL: quote.producerURL, now: nowInstant())
                    await deliver(stored.events)
                    return purchaseJSON(stored.value)
                    }
                }),
            RPCMethod(
                "beginServiceDelivery", summary: "Asks the producer to supply up to `units` of a purchase; returns the units it will supply.",
                params: [RPCParam("purchaseId", Schema.integer, required: true), RPCParam("units", ["type": "integer", "minimum": 1], required: true)],
                result: "delivery", Schema.ref("DeliveryBegun"),
                errors: [.roleDisabled, .notFound, .insufficientUnits, .expired, .conflict, .unitsRefunded, .invalidToken, .peerUnreachable, .peerRejected],
                handler: { params, _ in
                    let id = try params.int("purchaseId")
                    let units = Int(try params.int("units"))
                    return try await reporting("beginServiceDelivery", ["purchaseId": .int(id)]) {
                        try await beginDelivery(purchaseID: id, units: units)
                    }
                }),
            RPCMethod(
                "endServiceDelivery", summary: "Tells the producer how many units were received; returns the units committed and remaining.",
                params: [RPCParam("purchaseId", Schema.integer, required: true), RPCParam("unitsReceived", ["type": "integer", "minimum": 0], required: true)],
                result: "delivery", Schema.ref("DeliveryEnded"), errors: [.roleDisabled, .notFound, .conflict, .peerUnreachable, .peerRejected],
                handler: { params, _ in
                    let id = try params.int("purchaseId")
                    let received = Int(try params.int("unitsReceived"))
                    return try await reporting("endServiceDelivery", ["purchaseId": .int(id)]) {
                        try await endDelivery(purchaseID: id, received: received)
                    }
                }),
            RPCMethod(
                "getSpendingPolicy",
                summary: "The spending policy checked before the card is used (consumer.spending) and what each budget has left.",
                result: "spending", Schema.ref("SpendingPolicy"), errors: [.roleDisabled],
                handler: { _, _ in
                    ["policy": spendingPolicy().json, "budgets": try await spendingBudgets()]
                }),
            RPCMethod(
                "requestRefund",
                summary: "Asks the producer to refund this purchase's undelivered units now (those not delivered nor in flight); returns the purchase with its refund. A producer grants it when the price allows refunds (refundOnExpiry); asking again returns the same refund.",
                params: [RPCParam("purchaseId", Schema.integer, required: true)],
                result: "purchase", Schema.ref("Purchase"),
                errors: [.roleDisabled, .notFound, .refundNotOffered, .nothingToRefund, .invalidToken, .peerUnreachable, .peerRejected, .peerProtocol],
                handler: { params, _ in
                    let id = try params.int("purchaseId")
                    return try await reporting("requestRefund", ["purchaseId": .int(id)]) {
                        purchaseJSON(try await requestRefund(purchaseID: id))
                    }
                }),
            RPCMethod(
                "listPurchases", summary: "This Thing's purchases: units bought, delivered, remaining, expiry.",
                result: "purchases", Schema.array(of: Schema.ref("Purchase")), errors: [.roleDisabled],
                handler: { _, _ in .array(try await store.listPurchases().map(purchaseJSON)) }),
        ]
    }

    // MARK: Spending policy

    /// The type of one of a producer's services (nil when it does not list the service).
    func serviceType(url: String, serviceID: Int) async throws -> String? {
        try await hte.services(baseURL: url).services?.first { $0.serviceID == serviceID }?.serviceType
    }

    /// Checks a quote's payment against the spending policy before the card is used and, with budgets,
    /// reserves its amount durably (`Store.startConsumerPayment`: one transaction, so concurrent payments
    /// cannot overspend together). A refusal changes nothing, is published as `consumer.spendingRefused`
    /// and thrown as its typed error. Returns the quote as it is to be paid (`paymentStartedAt` set when
    /// its amount is reserved) and whether this call reserved it. A quote whose payment started earlier is
    /// resumed as it is (not checked again: an earlier attempt may have been charged).
    func checkSpending(_ quote: ConsumerQuote) async throws -> (quote: ConsumerQuote, reservedNow: Bool) {
        let policy = spendingPolicy()
        if quote.paymentStartedAt != nil || policy.isEmpty { return (quote, false) }
        let serviceType = policy.needsServiceType && quote.serviceType == nil
            ? try await serviceType(url: quote.producerURL, serviceID: quote.serviceID) : nil
        do {
            let start = try await store.startConsumerPayment(
                paymentReferenceID: quote.paymentReferenceID, serviceType: serviceType, reserve: policy.hasBudgets, now: nowInstant()
            ) { quote, spent in
                let request = SpendingRequest(serverID: quote.serverID, serviceType: quote.serviceType, total: quote.total, units: quote.units)
                if let refusal = policy.evaluate(request, spent: spent) { throw refusal }
            }
            if case .started(let started) = start { return (started, started.paymentStartedAt != nil) }
            return (start.quote, false)
        } catch let refusal as SpendingRefusal {
            let error = refusal.error(paymentReferenceID: quote.paymentReferenceID)
            logger.notice("Payment refused by the spending policy before the card was used", metadata: [
                LogKey.paymentReference: "\(quote.paymentReferenceID)", LogKey.spendingRule: "\(refusal.rule.rawValue)",
                LogKey.serverID: "\(quote.serverID)", LogKey.currency: "\(quote.total.currency.code)",
            ])
            _ = try? await bus.publish(Self.spendingRefused, Self.refusalPayload(refusal, error: error, quote: quote, serviceType: serviceType))
            throw error
        }
    }

    static let spendingRefused = "consumer.spendingRefused"

    /// The `consumer.spendingRefused` event: the quote, the error's code and message, the rule and its figures.
    static func refusalPayload(_ refusal: SpendingRefusal, error: WPWError, quote: ConsumerQuote, serviceType: String?) -> [String: JSONValue] {
        var payload = refusal.details
        payload["limit"] = nil
        payload["rule"] = .string(refusal.rule.rawValue)
        payload["serviceType"] = (serviceType ?? quote.serviceType).map(JSONValue.string) ?? .null
        payload.merge([
            "paymentReferenceId": .string(quote.paymentReferenceID), "serverId": .string(quote.serverID),
            "serviceId": .int(Int64(quote.serviceID)), "priceId": .int(Int64(quote.priceID)), "units": .int(Int64(quote.units)),
            "totalAmount": .int(quote.total.minorUnits), "currencyCode": .string(quote.total.currency.code),
            "code": .int(Int64(error.code.rawValue)), "message": .string(error.message),
        ]) { $1 }
        return payload
    }

    /// The payment of a reserved quote was refused before anything could be charged: the reservation goes.
    func releaseSpending(_ quote: ConsumerQuote) async throws {
        guard quote.paymentStartedAt != nil else { return }
        try await store.releaseConsumerPayment(paymentReferenceID: quote.paymentReferenceID)
    }

    /// Whether a failed `payment` call to the producer means that nothing was charged for the reference, so
    /// that its reservation can go: the producer answered with a refusal that leaves nothing charged
    /// (declined, card refused, stock, an unknown or expired quote, nothing sent to the gateway; it charges a
    /// reference at most once and answers a retry with the reference's outcome), or, for a payment this call
    /// started (`reservedNow`), the request never reached the producer. Anything else (no answer, an
    /// unreadable one, an unknown outcome, a refusal whose meaning is not known, a retry that did not get
    /// through) may follow a charge: the amount stays reserved until a retry of `makePayment` learns the
    /// outcome.
    static func releasesReservation(_ error: any Error, reservedNow: Bool) -> Bool {
        guard let error = error as? WPWError else { return false }
        switch error.code {
        case .paymentDeclined, .invalidCard, .outOfStock, .notFound, .expired, .amountInvalid, .unsupportedCurrency, .credentials,
             .storageLow, .gatewayUnavailable, .gatewayRejected:
            return true
        case .peerUnreachable: return reservedNow && error.data?["requestMayHaveReachedPeer"]?.boolValue == false
        default: return false
        }
    }

    /// Each budget of the policy in force with what it has spent and has left (`getStatus`, `getSpendingPolicy`).
    func spendingBudgets() async throws -> JSONValue {
        let policy = spendingPolicy()
        guard policy.hasBudgets else { return [] }
        return .array(policy.budgets(spent: try await store.spending(now: nowInstant())).map(\.json))
    }

    // MARK: Refunds of undelivered units

    /// Asks the producer's refund route (our extension) and records its answer durably
    /// (`consumer.refundReceived` once issued). An issued refund is answered from the record, without asking.
    func requestRefund(purchaseID id: Int64) async throws -> StoredPurchase {
        guard let stored = try await store.purchase(id: id) else { throw WPWError(.notFound, "purchase \(id) not found") }
        if stored.refund?.status == .issued { return stored }
        return try await askRefund(stored)
    }

    private func askRefund(_ stored: StoredPurchase) async throws -> StoredPurchase {
        let p = stored.purchase
        let answer: RefundResponse
        do {
            answer = try await hte.refund(baseURL: stored.producerURL, serviceID: p.serviceID, clientID: clientID, tokenJSON: stored.tokenJSON.utf8)
        } catch {
            var data: [String: JSONValue] = ["purchaseId": .int(stored.id), "serverId": .string(p.serverID)]
            switch error.code {
            case .refundNotOffered:
                data["reason"] = error.data?["reason"] ?? (error.data?["httpStatus"] == .int(409) ? "notAllowed" : "noRoute")
                throw WPWError(.refundNotOffered, "this producer does not offer refunds of undelivered units for this purchase", data: .object(data))
            case .nothingToRefund:
                if let ledger = UnitLedger(json: error.data?["ledger"]) {
                    _ = try? await store.syncPurchase(purchaseID: stored.id, to: ledger, now: nowInstant())
                }
                data["unitsDelivered"] = .int(Int64(p.delivered))
                data["unitsInFlight"] = .int(Int64(p.inFlight))
                throw WPWError(.nothingToRefund, "nothing to refund: every unit of purchase \(stored.id) was delivered or is in flight", data: .object(data))
            default:
                throw error
            }
        }
        let refund = try PurchaseRefund.answer(
            status: answer.status, reason: answer.reason, units: answer.unitsRefunded, amount: answer.amountRefunded,
            currencyCode: answer.currencyCode, bought: p.bought, paid: p.totalPaid)
        let ledger = try? UnitLedger(purchased: answer.ledger.purchased, delivered: answer.ledger.delivered, inFlight: answer.ledger.inFlight)
        let recorded = try await store.recordRefund(purchaseID: stored.id, refund, producerLedger: ledger, now: nowInstant())
        await deliver(recorded.events)
        return recorded.value
    }

    /// The consumer's refund sweep (``ConsumerRefundService``): for each purchase whose token expired
    /// unused and was never asked about, or whose refund is pending at the producer, asks the producer's
    /// refund route once. A token without `refundOnExpiry`, nothing left, or a producer without refunds
    /// closes the record (`refundStatus: none`): never asked again. Unreachable producers are asked again on
    /// the next pass. Returns the purchases whose record changed.
    func checkRefunds() async throws -> Int {
        var changed = 0
        for stored in try await store.purchasesAwaitingRefund(now: nowInstant()) {
            let p = stored.purchase
            if stored.refund == nil {
                let token = try? GoJSON.decode(ServiceDeliveryToken.self, from: stored.tokenJSON)
                if token?.refundOnExpiry != true || p.bought - p.delivered == 0 {
                    _ = try await store.recordRefund(purchaseID: stored.id, .noRefund, producerLedger: nil, now: nowInstant())
                    changed += 1
                    continue
                }
            }
            do {
                let after = try await askRefund(stored)
                if after.refund != stored.refund { changed += 1 }
            } catch let error as WPWError where error.code == .refundNotOffered || error.code == .nothingToRefund {
                _ = try await store.recordRefund(purchaseID: stored.id, .noRefund, producerLedger: nil, now: nowInstant())
                changed += 1
            } catch {
                logger.info("Refund check failed; asking again later", metadata: [LogKey.purchaseID: "\(stored.id)", LogKey.error: "\(error)"])
            }
        }
        return changed
    }

    // MARK: Deliveries

    /// Whether a failed delivery call may have been acted on by the producer: a timeout or a cut connection
    /// after the request went out. A refusal the producer sent, or a connection that never opened, is not.
    static func mayHaveReachedProducer(_ error: any Error) -> Bool {
        guard let error = error as? WPWError else { return true }
        switch error.code {
        case .peerUnreachable: return error.data?["requestMayHaveReachedPeer"]?.boolValue ?? true
        case .peerProtocol: return error.data?["httpStatus"] == nil || error.data?["httpStatus"] == .int(200)
        default: return false
        }
    }

    /// Records that a delivery call got no answer (the next call settles it) and logs it.
    func markUnsettled(_ id: Int64, _ unsettled: UnsettledDelivery, reserved: Bool = true, _ error: any Error) async throws {
        await deliver(try await store.recordUnsettled(purchaseID: id, unsettled, reserved: reserved, now: nowInstant()).events)
        logger.warning("Delivery call got no answer from the producer; unsettled until the next call settles it", metadata: [
            LogKey.purchaseID: "\(id)", LogKey.unsettled: "\(unsettled.name)", LogKey.units: "\(unsettled.units)", LogKey.error: "\(error)",
        ])
    }

    func beginDelivery(purchaseID id: Int64, units: Int) async throws -> JSONValue {
        if let stored = try await store.purchase(id: id), case .end(let pending)? = stored.purchase.unsettled {
            // An end got no answer: send it again first (the producer's answer or ledger settles it).
            _ = try await endDelivery(purchaseID: id, received: pending)
        }
        // Checked here, asked of the producer, and recorded in one transaction with its answer: the producer's
        // ledger decides the units, and a begin whose answer is lost is recorded unsettled (durably) instead.
        let started = try await store.checkDelivery(purchaseID: id, units: units, now: nowInstant())
        let stored = started.purchase
        let granted: Int
        do {
            // The token as stored at purchase (its Go JSON), spliced into the request: not decoded, not re-encoded.
            granted = try await hte.beginDelivery(
                baseURL: stored.producerURL, serviceID: stored.purchase.serviceID, clientID: clientID,
                tokenJSON: stored.tokenJSON.utf8, unitsToSupply: started.reserved).unitsToSupply
        } catch {
            if Self.mayHaveReachedProducer(error) {
                // The producer may hold the units in flight: put them in flight here, marked unsettled.
                try await markUnsettled(id, .begin(units: started.reserved), reserved: false, error)
                throw WPWError(
                    .peerUnreachable,
                    "the producer did not answer the begin; the delivery of \(started.reserved) unit(s) is unsettled: end it with endServiceDelivery and the units received",
                    data: ["purchaseId": .int(id), "unsettled": "begin", "units": .int(Int64(started.reserved))])
            }
            // The producer refused (or was never reached): it holds nothing and nothing was reserved here; take
            // its ledger when it sent one.
            if let ledger = UnitLedger(json: error.data?["ledger"]) {
                await deliver(try await store.syncPurchase(purchaseID: id, to: ledger, now: nowInstant()).events)
            }
            if error.code == .unitsRefunded {
                // The producer refunded the units before this Thing heard of it: record the refund now.
                _ = try? await askRefund(stored)
            }
            throw error
        }
        let confirmed = try await store.recordDeliveryGranted(
            purchaseID: id, requested: units, asked: started.reserved, granted: granted, now: nowInstant())
        await deliver(confirmed.events)
        var result = purchaseJSON(confirmed.value).objectValue ?? [:]
        result["unitsToSupply"] = .int(Int64(granted))
        return .object(result)
    }

    func endDelivery(purchaseID id: Int64, received: Int) async throws -> JSONValue {
        guard let stored = try await store.purchase(id: id) else { throw WPWError(.notFound, "no purchase \(id)") }
        let before = stored.purchase
        // With units in flight here, the report cannot exceed them; with none (a record behind the producer's),
        // the producer, whose ledger decides, checks it.
        if before.inFlight > 0, received > before.inFlight {
            throw WPWError(
                .invalidParams, "unitsReceived (\(received)) is more than the \(before.inFlight) units begun",
                data: ["field": "unitsReceived", "unitsInFlight": .int(Int64(before.inFlight))])
        }
        let response: EndServiceDeliveryResponse
        do {
            response = try await hte.endDelivery(
                baseURL: stored.producerURL, serviceID: before.serviceID, clientID: clientID,
                tokenJSON: stored.tokenJSON.utf8, unitsReceived: received)
        } catch {
            if Self.mayHaveReachedProducer(error) {
                try await markUnsettled(id, .end(units: received), error)
                throw WPWError(
                    .peerUnreachable,
                    "the producer did not answer the end; it may or may not have recorded it: send it again with endServiceDelivery",
                    data: ["purchaseId": .int(id), "unsettled": "end", "units": .int(Int64(received))])
            }
            guard let ledger = UnitLedger(json: error.data?["ledger"]) else {
                if before.inFlight == 0 {
                    throw WPWError(.conflict, "no delivery in progress for purchase \(id)", data: ["purchaseId": .int(id)])
                }
                throw error
            }
            // The producer refused and sent its ledger, which decides: take it.
            let synced = try await store.syncPurchase(purchaseID: id, to: ledger, now: nowInstant())
            await deliver(synced.events)
            let newlyDelivered = synced.value.purchase.delivered - before.delivered
            if case .end(let sent)? = before.unsettled, sent == received, newlyDelivered >= received, synced.value.purchase.inFlight == 0 {
                // An earlier end of this delivery reached the producer and only its answer was lost.
                var result = purchaseJSON(synced.value).objectValue ?? [:]
                result["unitsJustSupplied"] = .int(Int64(newlyDelivered))
                result["producerUnitsRemaining"] = .int(Int64(ledger.undelivered))
                result["settledFromProducer"] = true
                return .object(result)
            }
            let inFlight = synced.value.purchase.inFlight
            throw WPWError(
                inFlight > 0 ? .invalidParams : .conflict,
                inFlight > 0
                    ? "the producer has \(inFlight) unit(s) in flight for purchase \(id), not \(received); its ledger shows \(ledger.delivered) of \(ledger.purchased) delivered, and this Thing's record now says the same"
                    : "the producer has no delivery in progress for purchase \(id); its ledger shows \(ledger.delivered) of \(ledger.purchased) unit(s) delivered and \(ledger.remaining) remaining, and this Thing's record now says the same",
                data: [
                    "purchaseId": .int(id), "unitsDelivered": .int(Int64(ledger.delivered)), "unitsInFlight": .int(Int64(ledger.inFlight)),
                    "unitsRemaining": .int(Int64(ledger.remaining)), "ledger": ledger.json,
                ])
        }
        let ended = try await store.recordEndAnswered(
            purchaseID: id, unitsReceived: received, unitsJustSupplied: response.unitsJustSupplied,
            unitsRemaining: response.unitsRemaining, now: nowInstant())
        await deliver(ended.events)
        var result = purchaseJSON(ended.value.purchase).objectValue ?? [:]
        result["unitsJustSupplied"] = .int(Int64(response.unitsJustSupplied))
        result["producerUnitsRemaining"] = .int(Int64(response.unitsRemaining))
        return .object(result)
    }
}
