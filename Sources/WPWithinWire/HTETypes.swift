internal import WPWithinCore

// The HTE (producer HTTP) JSON bodies, PROTOCOL.md §4.1. Each type encodes its keys in Go struct-field
// order with Go's spellings and decodes like Go's encoding/json: keys matched ignoring case, missing keys
// and nulls become zero values, unknown keys ignored. Integers are Go `int` (64-bit here).

/// `{"amount":int,"currencyCode":string}`
public struct PricePerUnit: Codable, Sendable, Hashable {
    public var amount: Int
    public var currencyCode: String

    public init(amount: Int, currencyCode: String) {
        self.amount = amount
        self.currencyCode = currencyCode
    }

    enum CodingKeys: String, CodingKey { case amount, currencyCode }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(amount: try o.int("amount"), currencyCode: try o.string("currencyCode"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(amount, forKey: .amount)
        try c.encode(currencyCode, forKey: .currencyCode)
    }
}

/// `{"priceID","priceDescription","pricePerUnit":PricePerUnit|null,"unitID","unitDescription"}`
public struct Price: Codable, Sendable, Hashable {
    public var priceID: Int
    public var priceDescription: String
    public var pricePerUnit: PricePerUnit?
    public var unitID: Int
    public var unitDescription: String

    public init(priceID: Int, priceDescription: String, pricePerUnit: PricePerUnit?, unitID: Int, unitDescription: String) {
        self.priceID = priceID
        self.priceDescription = priceDescription
        self.pricePerUnit = pricePerUnit
        self.unitID = unitID
        self.unitDescription = unitDescription
    }

    enum CodingKeys: String, CodingKey { case priceID, priceDescription, pricePerUnit, unitID, unitDescription }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            priceID: try o.int("priceID"), priceDescription: try o.string("priceDescription"),
            pricePerUnit: try o.decode("pricePerUnit"), unitID: try o.int("unitID"),
            unitDescription: try o.string("unitDescription"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(priceID, forKey: .priceID)
        try c.encode(priceDescription, forKey: .priceDescription)
        try c.encodeGo(pricePerUnit, forKey: .pricePerUnit)
        try c.encode(unitID, forKey: .unitID)
        try c.encode(unitDescription, forKey: .unitDescription)
    }
}

/// `types.Service` with its JSON tags: `{"serviceID","name","description","serviceType","prices":{"<id>":Price}}`.
/// Not sent by the HTE routes; used by device profiles. Go writes map keys sorted as strings.
public struct Service: Codable, Sendable, Hashable {
    public var serviceID: Int
    public var name: String
    public var description: String
    public var serviceType: String
    /// nil encodes as `null` (a nil Go map).
    public var prices: [Int: Price]?

    public init(serviceID: Int, name: String, description: String, serviceType: String, prices: [Int: Price]?) {
        self.serviceID = serviceID
        self.name = name
        self.description = description
        self.serviceType = serviceType
        self.prices = prices
    }

    enum CodingKeys: String, CodingKey { case serviceID, name, description, serviceType, prices }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        var prices: [Int: Price]?
        if let raw = try o.decode("prices", as: [String: Price].self) {
            var byID: [Int: Price] = [:]
            for (key, price) in raw {
                guard let id = Int(key) else {
                    throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "price key \(key) is not an integer"))
                }
                byID[id] = price
            }
            prices = byID
        }
        self.init(
            serviceID: try o.int("serviceID"), name: try o.string("name"), description: try o.string("description"),
            serviceType: try o.string("serviceType"), prices: prices)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(serviceID, forKey: .serviceID)
        try c.encode(name, forKey: .name)
        try c.encode(description, forKey: .description)
        try c.encode(serviceType, forKey: .serviceType)
        if let prices {
            var nested = c.nestedContainer(keyedBy: GoKey.self, forKey: .prices)
            for id in prices.keys.sorted(by: { String($0) < String($1) }) {
                try nested.encode(prices[id]!, forKey: GoKey(String(id)))
            }
        } else {
            try c.encodeNil(forKey: .prices)
        }
    }
}

/// `{"ServiceID","ServiceDescription","ServiceName","ServiceType"}`: PascalCase, the Go struct has no tags.
public struct ServiceDetails: Codable, Sendable, Hashable {
    public var serviceID: Int
    public var serviceDescription: String
    public var serviceName: String
    public var serviceType: String

    public init(serviceID: Int, serviceDescription: String, serviceName: String, serviceType: String) {
        self.serviceID = serviceID
        self.serviceDescription = serviceDescription
        self.serviceName = serviceName
        self.serviceType = serviceType
    }

    enum CodingKeys: String, CodingKey {
        case serviceID = "ServiceID", serviceDescription = "ServiceDescription", serviceName = "ServiceName"
        case serviceType = "ServiceType"
    }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            serviceID: try o.int("ServiceID"), serviceDescription: try o.string("ServiceDescription"),
            serviceName: try o.string("ServiceName"), serviceType: try o.string("ServiceType"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(serviceID, forKey: .serviceID)
        try c.encode(serviceDescription, forKey: .serviceDescription)
        try c.encode(serviceName, forKey: .serviceName)
        try c.encode(serviceType, forKey: .serviceType)
    }
}

/// `GET /service/discover` → `{"serverID","services":[ServiceDetails]|null}`, and `"fleetID"` from a fleet
/// member (our extension: Go's decoder ignores a key its struct lacks; never sent by a single producer).
public struct ServiceListResponse: Codable, Sendable, Hashable {
    public var serverID: String
    /// nil is `null`, what the Go producer sends when it has no services.
    public var services: [ServiceDetails]?
    /// The fleet this producer belongs to (docs/fleet.md): producers with the same id share one catalog,
    /// stock and ledger, and honour each other's delivery tokens. nil: not in a fleet (the key is left out).
    public var fleetID: String?

    public init(serverID: String, services: [ServiceDetails]?, fleetID: String? = nil) {
        self.serverID = serverID
        self.services = services
        self.fleetID = fleetID
    }

    enum CodingKeys: String, CodingKey { case serverID, services, fleetID }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(serverID: try o.string("serverID"), services: try o.decode("services"), fleetID: try o.decode("fleetID"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(serverID, forKey: .serverID)
        try c.encodeGo(services, forKey: .services)
        if let fleetID { try c.encode(fleetID, forKey: .fleetID) }
    }
}

/// `GET /service/{id}/prices` → `{"serverID","prices":[Price]|null}`
public struct ServicePriceResponse: Codable, Sendable, Hashable {
    public var serverID: String
    public var prices: [Price]?

    public init(serverID: String, prices: [Price]?) {
        self.serverID = serverID
        self.prices = prices
    }

    enum CodingKeys: String, CodingKey { case serverID, prices }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(serverID: try o.string("serverID"), prices: try o.decode("prices"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(serverID, forKey: .serverID)
        try c.encodeGo(prices, forKey: .prices)
    }
}

/// `POST /service/{id}/requestTotal` body: `{"clientID","selectedNumberOfUnits","selectedPriceID"}`
public struct TotalPriceRequest: Codable, Sendable, Hashable {
    public var clientID: String
    public var selectedNumberOfUnits: Int
    public var selectedPriceID: Int

    public init(clientID: String, selectedNumberOfUnits: Int, selectedPriceID: Int) {
        self.clientID = clientID
        self.selectedNumberOfUnits = selectedNumberOfUnits
        self.selectedPriceID = selectedPriceID
    }

    enum CodingKeys: String, CodingKey { case clientID, selectedNumberOfUnits, selectedPriceID }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            clientID: try o.string("clientID"), selectedNumberOfUnits: try o.int("selectedNumberOfUnits"),
            selectedPriceID: try o.int("selectedPriceID"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(clientID, forKey: .clientID)
        try c.encode(selectedNumberOfUnits, forKey: .selectedNumberOfUnits)
        try c.encode(selectedPriceID, forKey: .selectedPriceID)
    }
}

/// `{"serverID","clientID","priceID","unitsToSupply","totalPrice","currencyCode","paymentReferenceID","merchantClientKey"}`
public struct TotalPriceResponse: Codable, Sendable, Hashable {
    public var serverID: String
    public var clientID: String
    public var priceID: Int
    public var unitsToSupply: Int
    public var totalPrice: Int
    public var currencyCode: String
    public var paymentReferenceID: String
    public var merchantClientKey: String

    public init(
        serverID: String, clientID: String, priceID: Int, unitsToSupply: Int, totalPrice: Int, currencyCode: String,
        paymentReferenceID: String, merchantClientKey: String
    ) {
        self.serverID = serverID
        self.clientID = clientID
        self.priceID = priceID
        self.unitsToSupply = unitsToSupply
        self.totalPrice = totalPrice
        self.currencyCode = currencyCode
        self.paymentReferenceID = paymentReferenceID
        self.merchantClientKey = merchantClientKey
    }

    enum CodingKeys: String, CodingKey {
        case serverID, clientID, priceID, unitsToSupply, totalPrice, currencyCode, paymentReferenceID, merchantClientKey
    }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            serverID: try o.string("serverID"), clientID: try o.string("clientID"), priceID: try o.int("priceID"),
            unitsToSupply: try o.int("unitsToSupply"), totalPrice: try o.int("totalPrice"),
            currencyCode: try o.string("currencyCode"), paymentReferenceID: try o.string("paymentReferenceID"),
            merchantClientKey: try o.string("merchantClientKey"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(serverID, forKey: .serverID)
        try c.encode(clientID, forKey: .clientID)
        try c.encode(priceID, forKey: .priceID)
        try c.encode(unitsToSupply, forKey: .unitsToSupply)
        try c.encode(totalPrice, forKey: .totalPrice)
        try c.encode(currencyCode, forKey: .currencyCode)
        try c.encode(paymentReferenceID, forKey: .paymentReferenceID)
        try c.encode(merchantClientKey, forKey: .merchantClientKey)
    }
}

/// `POST /payment` body: `{"clientID","clientToken","paymentReferenceID"}`
public struct PaymentRequest: Codable, Sendable, Hashable {
    public var clientID: String
    public var clientToken: String
    public var paymentReferenceID: String

    public init(clientID: String, clientToken: String, paymentReferenceID: String) {
        self.clientID = clientID
        self.clientToken = clientToken
        self.paymentReferenceID = paymentReferenceID
    }

    enum CodingKeys: String, CodingKey { case clientID, clientToken, paymentReferenceID }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            clientID: try o.string("clientID"), clientToken: try o.string("clientToken"),
            paymentReferenceID: try o.string("paymentReferenceID"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(clientID, forKey: .clientID)
        try c.encode(clientToken, forKey: .clientToken)
        try c.encode(paymentReferenceID, forKey: .paymentReferenceID)
    }
}

/// `{"key","issued","expiry","refundOnExpiry","signature":base64|null}`
public struct ServiceDeliveryToken: Codable, Sendable, Hashable {
    public var key: String
    public var issued: GoTime
    public var expiry: GoTime
    public var refundOnExpiry: Bool
    /// nil is `null` (Go producers never sign); otherwise standard padded base64 on the wire.
    public var signature: [UInt8]?

    public init(key: String, issued: GoTime, expiry: GoTime, refundOnExpiry: Bool, signature: [UInt8]?) {
        self.key = key
        self.issued = issued
        self.expiry = expiry
        self.refundOnExpiry = refundOnExpiry
        self.signature = signature
    }

    /// Go's zero token (what `null` decodes to where the Go field is not a pointer).
    public static let zero = ServiceDeliveryToken(key: "", issued: .zero, expiry: .zero, refundOnExpiry: false, signature: nil)

    enum CodingKeys: String, CodingKey { case key, issued, expiry, refundOnExpiry, signature }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        var signature: [UInt8]?
        if let text = try o.decode("signature", as: String.self) {
            guard let bytes = Base64.decode(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "signature is not base64"))
            }
            signature = bytes
        }
        self.init(
            key: try o.string("key"), issued: try o.decode("issued") ?? .zero, expiry: try o.decode("expiry") ?? .zero,
            refundOnExpiry: try o.bool("refundOnExpiry"), signature: signature)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key, forKey: .key)
        try c.encode(issued, forKey: .issued)
        try c.encode(expiry, forKey: .expiry)
        try c.encode(refundOnExpiry, forKey: .refundOnExpiry)
        try c.encodeGo(signature.map(Base64.encode), forKey: .signature)
    }
}

/// `{"serverID","clientID","totalPaid","serviceDeliveryToken":ServiceDeliveryToken|null}`
public struct PaymentResponse: Codable, Sendable, Hashable {
    public var serverID: String
    public var clientID: String
    public var totalPaid: Int
    public var serviceDeliveryToken: ServiceDeliveryToken?

    public init(serverID: String, clientID: String, totalPaid: Int, serviceDeliveryToken: ServiceDeliveryToken?) {
        self.serverID = serverID
        self.clientID = clientID
        self.totalPaid = totalPaid
        self.serviceDeliveryToken = serviceDeliveryToken
    }

    enum CodingKeys: String, CodingKey { case serverID, clientID, totalPaid, serviceDeliveryToken }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            serverID: try o.string("serverID"), clientID: try o.string("clientID"), totalPaid: try o.int("totalPaid"),
            serviceDeliveryToken: try o.decode("serviceDeliveryToken"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(serverID, forKey: .serverID)
        try c.encode(clientID, forKey: .clientID)
        try c.encode(totalPaid, forKey: .totalPaid)
        try c.encodeGo(serviceDeliveryToken, forKey: .serviceDeliveryToken)
    }
}

/// `POST /service/{id}/delivery/begin` body: `{"clientID","serviceDeliveryToken","unitsToSupply"}`
public struct BeginServiceDeliveryRequest: Codable, Sendable, Hashable {
    public var clientID: String
    public var serviceDeliveryToken: ServiceDeliveryToken
    public var unitsToSupply: Int

    public init(clientID: String, serviceDeliveryToken: ServiceDeliveryToken, unitsToSupply: Int) {
        self.clientID = clientID
        self.serviceDeliveryToken = serviceDeliveryToken
        self.unitsToSupply = unitsToSupply
    }

    enum CodingKeys: String, CodingKey { case clientID, serviceDeliveryToken, unitsToSupply }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            clientID: try o.string("clientID"), serviceDeliveryToken: try o.decode("serviceDeliveryToken") ?? .zero,
            unitsToSupply: try o.int("unitsToSupply"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(clientID, forKey: .clientID)
        try c.encode(serviceDeliveryToken, forKey: .serviceDeliveryToken)
        try c.encode(unitsToSupply, forKey: .unitsToSupply)
    }
}

/// `{"serverID","clientID","serviceDeliveryToken","unitsToSupply"}`
public struct BeginServiceDeliveryResponse: Codable, Sendable, Hashable {
    public var serverID: String
    public var clientID: String
    public var serviceDeliveryToken: ServiceDeliveryToken
    public var unitsToSupply: Int

    public init(serverID: String, clientID: String, serviceDeliveryToken: ServiceDeliveryToken, unitsToSupply: Int) {
        self.serverID = serverID
        self.clientID = clientID
        self.serviceDeliveryToken = serviceDeliveryToken
        self.unitsToSupply = unitsToSupply
    }

    enum CodingKeys: String, CodingKey { case serverID, clientID, serviceDeliveryToken, unitsToSupply }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            serverID: try o.string("serverID"), clientID: try o.string("clientID"),
            serviceDeliveryToken: try o.decode("serviceDeliveryToken") ?? .zero, unitsToSupply: try o.int("unitsToSupply"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(serverID, forKey: .serverID)
        try c.encode(clientID, forKey: .clientID)
        try c.encode(serviceDeliveryToken, forKey: .serviceDeliveryToken)
        try c.encode(unitsToSupply, forKey: .unitsToSupply)
    }
}

/// `POST /service/{id}/delivery/end` body: `{"clientID","serviceDeliveryToken","unitsReceived"}`
public struct EndServiceDeliveryRequest: Codable, Sendable, Hashable {
    public var clientID: String
    public var serviceDeliveryToken: ServiceDeliveryToken
    public var unitsReceived: Int

    public init(clientID: String, serviceDeliveryToken: ServiceDeliveryToken, unitsReceived: Int) {
        self.clientID = clientID
        self.serviceDeliveryToken = serviceDeliveryToken
        self.unitsReceived = unitsReceived
    }

    enum CodingKeys: String, CodingKey { case clientID, serviceDeliveryToken, unitsReceived }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            clientID: try o.string("clientID"), serviceDeliveryToken: try o.decode("serviceDeliveryToken") ?? .zero,
            unitsReceived: try o.int("unitsReceived"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(clientID, forKey: .clientID)
        try c.encode(serviceDeliveryToken, forKey: .serviceDeliveryToken)
        try c.encode(unitsReceived, forKey: .unitsReceived)
    }
}

/// `{"serverID","clientID","serviceDeliveryToken","unitsJustSupplied","unitsRemaining"}`
public struct EndServiceDeliveryResponse: Codable, Sendable, Hashable {
    public var serverID: String
    public var clientID: String
    public var serviceDeliveryToken: ServiceDeliveryToken
    public var unitsJustSupplied: Int
    public var unitsRemaining: Int

    public init(
        serverID: String, clientID: String, serviceDeliveryToken: ServiceDeliveryToken, unitsJustSupplied: Int,
        unitsRemaining: Int
    ) {
        self.serverID = serverID
        self.clientID = clientID
        self.serviceDeliveryToken = serviceDeliveryToken
        self.unitsJustSupplied = unitsJustSupplied
        self.unitsRemaining = unitsRemaining
    }

    enum CodingKeys: String, CodingKey { case serverID, clientID, serviceDeliveryToken, unitsJustSupplied, unitsRemaining }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            serverID: try o.string("serverID"), clientID: try o.string("clientID"),
            serviceDeliveryToken: try o.decode("serviceDeliveryToken") ?? .zero,
            unitsJustSupplied: try o.int("unitsJustSupplied"), unitsRemaining: try o.int("unitsRemaining"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(serverID, forKey: .serverID)
        try c.encode(clientID, forKey: .clientID)
        try c.encode(serviceDeliveryToken, forKey: .serviceDeliveryToken)
        try c.encode(unitsJustSupplied, forKey: .unitsJustSupplied)
        try c.encode(unitsRemaining, forKey: .unitsRemaining)
    }
}

/// Our extension of the error body: a producer's unit ledger, `{"purchased","delivered","inFlight"}`.
public struct LedgerSnapshot: Codable, Sendable, Hashable {
    public var purchased: Int
    public var delivered: Int
    public var inFlight: Int

    public init(purchased: Int, delivered: Int, inFlight: Int) {
        self.purchased = purchased
        self.delivered = delivered
        self.inFlight = inFlight
    }

    enum CodingKeys: String, CodingKey { case purchased, delivered, inFlight }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(purchased: try o.int("purchased"), delivered: try o.int("delivered"), inFlight: try o.int("inFlight"))
    }
}

/// The Go producer's error body `{"HTTPStatusCode":0,"message":"…","errorCode":0}`. Go fills only
/// `message`; Go consumers print `"<HTTPStatusCode> - <message> (<errorCode>)"`.
public struct ErrorResponse: Codable, Sendable, Hashable, Error, CustomStringConvertible {
    public var httpStatusCode: Int
    public var message: String
    public var errorCode: Int
    /// Our extension (Go peers ignore it; Go producers never send it): with a refused delivery begin or
    /// end, the producer's unit ledger `{"purchased","delivered","inFlight"}`, so that the consumer can bring
    /// its record into line with the one that decides.
    public var ledger: LedgerSnapshot?
    /// Our extension: with a refused payment of an order that can no longer be paid, the order's state
    /// (`abandoned`, `refundPending`, `refunded`).
    public var orderState: String?

    public init(httpStatusCode: Int = 0, message: String, errorCode: Int = 0, ledger: LedgerSnapshot? = nil, orderState: String? = nil) {
        self.httpStatusCode = httpStatusCode
        self.message = message
        self.errorCode = errorCode
        self.ledger = ledger
        self.orderState = orderState
    }

    enum CodingKeys: String, CodingKey { case httpStatusCode = "HTTPStatusCode", message, errorCode, ledger, orderState }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            httpStatusCode: try o.int("HTTPStatusCode"), message: try o.string("message"), errorCode: try o.int("errorCode"),
            ledger: try? o.decode("ledger", as: LedgerSnapshot.self),
            orderState: try? o.decode("orderState", as: String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(httpStatusCode, forKey: .httpStatusCode)
        try c.encode(message, forKey: .message)
        try c.encode(errorCode, forKey: .errorCode)
        if let ledger { try c.encode(ledger, forKey: .ledger) }
        if let orderState { try c.encode(orderState, forKey: .orderState) }
    }

    /// The Go consumer's error string.
    public var description: String { "\(httpStatusCode) - \(message) (\(errorCode))" }
}

extension KeyedEncodingContainer {
    /// Encodes an optional as `null` when nil (Go has no omitempty on these fields).
    mutating func encodeGo<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
}
