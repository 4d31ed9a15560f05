import WPWithinCore
import WPWithinCrypto
import WPWithinPeer
import WPWithinWire

/// The system CSPRNG as the core's byte source.
struct TestRandom: RandomByteSource {
    func bytes(count: Int) throws -> [UInt8] { try Crypto.randomBytes(count: count) }
}

/// A small in-memory HTE producer on the pure domain (Catalog, Quote, Order, UnitLedger, DeliveryToken,
/// HMAC signer). No gateway: a payment succeeds unless the client token is `DECLINE` (402) or
/// `GATEWAY_DOWN` (503). The clock is manual (`advance`).
actor DomainProducer: HTEProducer {
    static let serverID = "cfdc20bd-0076-4027-4577-f1dfa9dc6cae"
    static let merchantClientKey = "T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356"

    let serverID: String
    var catalog: Catalog
    var orders: [String: Order] = [:]
    var orderByTokenKey: [String: String] = [:]
    var now = Instant(secondsSinceEpoch: 1_795_576_160, nanoseconds: 386_060_323)
    let signer: ClosureTokenSigner
    let random = TestRandom()
    private(set) var callers: [HTECaller] = []

    init(serverID: String = DomainProducer.serverID, catalog: Catalog? = nil) throws {
        self.serverID = serverID
        self.catalog = try catalog ?? Catalog(services: [
            WPWithinCore.Service(
                id: 1, name: "RoboWash", description: "Car washed by robot", serviceType: "wash",
                prices: [
                    try WPWithinCore.Price(id: 1, description: "Car wash", amount: 500, currencyCode: "GBP", unitID: 1, unitDescription: "Single wash"),
                    try WPWithinCore.Price(id: 2, description: "SUV Wash", amount: 650, currencyCode: "GBP", unitID: 1, unitDescription: "Single wash"),
                ]),
            WPWithinCore.Service(
                id: 2, name: "Vacuum", description: "Interior vacuum", serviceType: "clean",
                prices: [try WPWithinCore.Price(id: 1, description: "Vacuum", amount: 200, currencyCode: "GBP", unitID: 2, unitDescription: "Minute", stock: 5)]),
        ])
        let hmac = try HMACTokenSigner(key: HMACTokenSigner.generateKey())
        self.signer = ClosureTokenSigner(sign: { hmac.sign($0) }, verify: { hmac.verify($0, for: $1) })
    }

    func advance(by duration: Duration) { now = now.adding(duration) ?? now }

    func discover(caller: HTECaller) async throws -> ServiceListResponse {
        callers.append(caller)
        let services = catalog.sortedServices.map { ServiceDetails($0) }
        return ServiceListResponse(serverID: serverID, services: services.isEmpty ? nil : services)
    }

    func prices(serviceID: Int, caller: HTECaller) async throws -> ServicePriceResponse {
        let service = try catalog.service(id: serviceID)
        let prices = service.sortedPrices.map { WPWithinWire.Price($0) }
        return ServicePriceResponse(serverID: serverID, prices: prices.isEmpty ? nil : prices)
    }

    func requestTotal(serviceID: Int, _ request: TotalPriceRequest, caller: HTECaller) async throws -> TotalPriceResponse {
        let quote = try Quote.make(
            catalog: catalog, serviceID: serviceID, priceID: request.selectedPriceID, units: request.selectedNumberOfUnits,
            clientID: request.clientID, serverID: serverID, now: now, random: random)
        orders[quote.paymentReferenceID] = Order(quote: quote)
        return TotalPriceResponse(quote, merchantClientKey: Self.merchantClientKey)
    }

    func payment(_ request: PaymentRequest, caller: HTECaller) async throws -> PaymentResponse {
        guard let order = orders[request.paymentReferenceID] else {
            throw WPWError(.notFound, "Unable to find order for payment ref \(request.paymentReferenceID)")
        }
        let paid: Order
        switch try order.startPayment(clientID: request.clientID, now: now, catalog: catalog) {
        case .alreadyPaid(let existing):
            paid = existing
        case .charge(let pending, let reserved):
            catalog = reserved
            switch request.clientToken {
            case "DECLINE", "GATEWAY_DOWN":
                let (failed, released) = try pending.paymentFailed(reason: request.clientToken, catalog: catalog)
                orders[failed.paymentReferenceID] = failed
                catalog = released
                if request.clientToken == "DECLINE" { throw WPWError(.paymentDeclined, "Payment declined by the gateway") }
                throw WPWError(.gatewayUnavailable, "Unable to process payment with gateway at this time")
            default:
                paid = try pending.paymentSucceeded(
                    pspReference: "psp-\(pending.paymentReferenceID)", now: now, tokenTTL: .seconds(7 * 86_400), random: random, signer: signer)
            }
        }
        orders[paid.paymentReferenceID] = paid
        guard let token = paid.token else { throw WPWError(.internalError, "paid order without a token") }
        orderByTokenKey[token.key] = paid.paymentReferenceID
        return PaymentResponse(
            serverID: serverID, clientID: paid.quote.clientID, totalPaid: Int(paid.quote.total.minorUnits),
            serviceDeliveryToken: ServiceDeliveryToken(token))
    }

    private func order(for token: ServiceDeliveryToken) throws -> Order {
        guard let reference = orderByTokenKey[token.key], let order = orders[reference] else { throw DeliveryToken.orderNotFound }
        return order
    }

    func beginDelivery(serviceID: Int, _ request: BeginServiceDeliveryRequest, caller: HTECaller) async throws -> BeginServiceDeliveryResponse {
        let order = try order(for: request.serviceDeliveryToken)
        let (next, granted) = try order.beginDelivery(
            request.serviceDeliveryToken.presented, clientID: request.clientID, serviceID: serviceID,
            requestedUnits: request.unitsToSupply, now: now, signer: signer)
        orders[next.paymentReferenceID] = next
        return BeginServiceDeliveryResponse(
            serverID: serverID, clientID: request.clientID, serviceDeliveryToken: request.serviceDeliveryToken, unitsToSupply: granted)
    }

    func endDelivery(serviceID: Int, _ request: EndServiceDeliveryRequest, caller: HTECaller) async throws -> EndServiceDeliveryResponse {
        let order = try order(for: request.serviceDeliveryToken)
        let (next, committed) = try order.endDelivery(
            request.serviceDeliveryToken.presented, clientID: request.clientID, serviceID: serviceID,
            receivedUnits: request.unitsReceived, now: now, signer: signer)
        orders[next.paymentReferenceID] = next
        return EndServiceDeliveryResponse(
            serverID: serverID, clientID: request.clientID, serviceDeliveryToken: request.serviceDeliveryToken,
            unitsJustSupplied: committed, unitsRemaining: next.ledger?.remaining ?? 0)
    }
}
