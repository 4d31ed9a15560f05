import Foundation
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

    var clientID: String { store.identity.serverID }

    func deliver(_ events: [StoredEvent]) async {
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
        return [
            "purchaseId": .int(stored.id), "serverId": .string(p.serverID), "serviceId": .int(Int64(p.serviceID)),
            "priceId": .int(Int64(p.priceID)), "paymentReferenceId": .string(p.paymentReferenceID),
            "totalPaid": .int(p.totalPaid.minorUnits), "currencyCode": .string(p.totalPaid.currency.code),
            "unitsBought": .int(Int64(p.bought)), "unitsDelivered": .int(Int64(p.delivered)),
            "unitsInFlight": .int(Int64(p.inFlight)), "unitsRemaining": .int(Int64(p.remaining)),
            "expiry": .string((try? GoTime(p.expiry, utcOffsetSeconds: 0).format()) ?? ""),
            "producerUrl": .string(stored.producerURL),
        ]
    }

    func methods() -> [RPCMethod] {
        [
            RPCMethod(
                "requestServices", summary: "The services a producer offers.", params: Self.producerParams,
                result: "services", Schema.anyObject, errors: [.notFound, .peerUnreachable, .peerRejected, .peerProtocol],
                handler: { params, _ in
                    let (url, _) = try await producerURL(params)
                    let list = try await hte.services(baseURL: url)
                    return [
                        "serverId": .string(list.serverID),
                        "services": .array((list.services ?? []).map { s in
                            ["serviceId": .int(Int64(s.serviceID)), "name": .string(s.serviceName),
                             "description": .string(s.serviceDescription), "serviceType": .string(s.serviceType)]
                        }),
                    ]
                }),
            RPCMethod(
                "getServicePrices", summary: "The prices of one of a producer's services.",
                params: Self.producerParams + [RPCParam("serviceId", Schema.integer, required: true)],
                result: "prices", Schema.anyObject, errors: [.notFound, .peerUnreachable, .peerRejected, .peerProtocol],
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
                result: "quote", Schema.anyObject,
                errors: [.notFound, .outOfStock, .amountInvalid, .peerUnreachable, .peerRejected, .peerProtocol],
                handler: { params, _ in
                    let (url, _) = try await producerURL(params)
                    let serviceID = Int(try params.int("serviceId"))
                    let response = try await hte.requestTotal(baseURL: url, serviceID: serviceID, TotalPriceRequest(
                        clientID: clientID, selectedNumberOfUnits: Int(try params.int("numberOfUnits")),
                        selectedPriceID: Int(try params.int("priceId"))))
                    guard let currency = Currency(code: response.currencyCode), response.totalPrice > 0 else {
                        throw WPWError(.peerProtocol, "the producer quoted an invalid total")
                    }
                    let quote = ConsumerQuote(
                        paymentReferenceID: response.paymentReferenceID, serverID: response.serverID, clientID: clientID,
                        serviceID: serviceID, priceID: response.priceID, units: response.unitsToSupply,
                        total: Money(minorUnits: Int64(response.totalPrice), currency: currency),
                        merchantClientKey: response.merchantClientKey, producerURL: url)
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
                result: "purchase", Schema.anyObject,
                errors: [.notFound, .conflict, .expired, .outOfStock, .credentials, .paymentDeclined, .invalidCard, .gatewayUnavailable, .gatewayTimeout, .gatewayProtocol, .gatewayRejected, .paymentOutcomeUnknown, .peerUnreachable, .peerRejected, .peerProtocol],
                handler: { params, _ in
                    let reference = try params.string("paymentReferenceId")
                    return try await reporting("makePayment", ["paymentReferenceId": .string(reference)]) {
                        if let existing = try await store.purchase(paymentReferenceID: reference) { return purchaseJSON(existing) }
                        guard let quote = try await store.consumerQuote(paymentReferenceID: reference) else {
                            throw WPWError(.notFound, "no quote \(reference); call selectService first", data: ["paymentReferenceId": .string(reference)])
                    }
                    guard let card = payments.card else { throw WPWError(.credentials, "no card configured (payments.cardFile)") }
                    let token = try await payments.gateway.createToken(card: card, clientKey: quote.merchantClientKey)
                    let response = try await hte.payment(baseURL: quote.producerURL, PaymentRequest(
                        clientID: clientID, clientToken: token.value, paymentReferenceID: reference))
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
                result: "delivery", Schema.anyObject,
                errors: [.notFound, .insufficientUnits, .expired, .conflict, .peerUnreachable, .peerRejected],
                handler: { params, _ in
                    let id = try params.int("purchaseId")
                    return try await reporting("beginServiceDelivery", ["purchaseId": .int(id)]) {
                        let started = try await store.beginDelivery(purchaseID: id, units: Int(try params.int("units")), now: nowInstant())
                        let stored = started.value.purchase
                        let token = try GoJSON.decode(ServiceDeliveryToken.self, from: stored.tokenJSON)
                        let granted: Int
                        do {
                            granted = try await hte.beginDelivery(baseURL: stored.producerURL, serviceID: stored.purchase.serviceID, BeginServiceDeliveryRequest(
                                clientID: clientID, serviceDeliveryToken: token, unitsToSupply: started.value.reserved)).unitsToSupply
                        } catch {
                            // Release the local reservation; the producer's own ledger is authoritative for units.
                            await deliver(try await store.confirmDelivery(purchaseID: id, reserved: started.value.reserved, granted: 0, now: nowInstant()).events)
                            throw error
                    }
                    let confirmed = try await store.confirmDelivery(purchaseID: id, reserved: started.value.reserved, granted: min(granted, started.value.reserved), now: nowInstant())
                    await deliver(started.events + confirmed.events)
                    var result = purchaseJSON(confirmed.value).objectValue ?? [:]
                    result["unitsToSupply"] = .int(Int64(granted))
                    return .object(result)
                    }
                }),
            RPCMethod(
                "endServiceDelivery", summary: "Tells the producer how many units were received; returns the units committed and remaining.",
                params: [RPCParam("purchaseId", Schema.integer, required: true), RPCParam("unitsReceived", ["type": "integer", "minimum": 0], required: true)],
                result: "delivery", Schema.anyObject, errors: [.notFound, .conflict, .peerUnreachable, .peerRejected],
                handler: { params, _ in
                    let id = try params.int("purchaseId")
                    let received = Int(try params.int("unitsReceived"))
                    return try await reporting("endServiceDelivery", ["purchaseId": .int(id)]) {
                        guard let stored = try await store.purchase(id: id) else { throw WPWError(.notFound, "no purchase \(id)") }
                        guard stored.purchase.inFlight > 0 else { throw WPWError(.conflict, "no delivery in progress for purchase \(id)") }
                        guard received <= stored.purchase.inFlight else {
                            throw WPWError(
                                .invalidParams, "unitsReceived (\(received)) is more than the \(stored.purchase.inFlight) units begun",
                                data: ["field": "unitsReceived", "unitsInFlight": .int(Int64(stored.purchase.inFlight))])
                        }
                        let token = try GoJSON.decode(ServiceDeliveryToken.self, from: stored.tokenJSON)
                        let response: EndServiceDeliveryResponse
                        do {
                            response = try await hte.endDelivery(baseURL: stored.producerURL, serviceID: stored.purchase.serviceID, EndServiceDeliveryRequest(
                                clientID: clientID, serviceDeliveryToken: token, unitsReceived: received))
                        } catch let error as WPWError where error.code == .conflict {
                            // The producer, whose ledger decides, has no delivery in progress (a crash here between
                            // the local reservation and the producer's begin): give the reserved units back.
                            let released = try await store.endDelivery(purchaseID: id, unitsReceived: 0, now: nowInstant())
                            await deliver(released.events)
                            throw WPWError(
                                .conflict, "the producer has no delivery in progress for purchase \(id); the \(stored.purchase.inFlight) unit(s) reserved here were released",
                                data: ["purchaseId": .int(id), "unitsReleased": .int(Int64(stored.purchase.inFlight))])
                        }
                        let ended = try await store.endDelivery(purchaseID: id, unitsReceived: min(received, response.unitsJustSupplied), now: nowInstant())
                        await deliver(ended.events)
                        var result = purchaseJSON(ended.value.purchase).objectValue ?? [:]
                        result["unitsJustSupplied"] = .int(Int64(response.unitsJustSupplied))
                        result["producerUnitsRemaining"] = .int(Int64(response.unitsRemaining))
                        return .object(result)
                    }
                }),
            RPCMethod(
                "listPurchases", summary: "This Thing's purchases: units bought, delivered, remaining, expiry.",
                result: "purchases", Schema.array(of: Schema.anyObject),
                handler: { _, _ in .array(try await store.listPurchases().map(purchaseJSON)) }),
        ]
    }
}
