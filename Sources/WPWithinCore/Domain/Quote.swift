/// How quotes are made: how long they stay valid and the largest quantity one quote may carry.
public struct QuotePolicy: Sendable, Hashable {
    /// How long a quote can be paid after it was made.
    public var ttl: Duration
    /// Largest number of units in one quote (defaults to `Int32.max`, the Thrift `i32` limit of Go wrappers).
    public var maxUnits: Int
    /// Optional cap on the total, in minor units of the price's currency.
    public var maxTotalMinorUnits: Int64?

    public init(ttl: Duration = .seconds(600), maxUnits: Int = Int(Int32.max), maxTotalMinorUnits: Int64? = nil) {
        self.ttl = ttl
        self.maxUnits = maxUnits
        self.maxTotalMinorUnits = maxTotalMinorUnits
    }
}

/// A priced offer for `units` of one service price, answered to `requestTotal`. Its `paymentReferenceID`
/// is the order id on the producer and the gateway's `customerOrderCode`.
public struct Quote: Sendable, Hashable {
    /// A lowercase random UUID.
    public let paymentReferenceID: String
    public let serverID: String
    public let clientID: String
    public let serviceID: Int
    public let serviceName: String
    public let priceID: Int
    public let unitID: Int
    public let unitDescription: String
    public let units: Int
    public let unitPrice: Money
    public let total: Money
    public let createdAt: Instant
    public let expiresAt: Instant

    /// Prices `units` of `priceID` in `serviceID`.
    ///
    /// Throws `invalidParams` (units ≤ 0 or above the policy maximum, empty client id), `notFound` (service or
    /// price, with Go's messages), `outOfStock` (more units than the stock holds; nothing is reserved yet),
    /// `amountInvalid` (the total overflows or exceeds the policy cap).
    public static func make(
        catalog: Catalog, serviceID: Int, priceID: Int, units: Int, clientID: String, serverID: String,
        now: Instant, policy: QuotePolicy = QuotePolicy(), random: some RandomByteSource
    ) throws -> Quote {
        guard units > 0 else { throw WPWError.invalidParams(field: "units", "units must be greater than zero") }
        guard units <= policy.maxUnits else {
            throw WPWError.invalidParams(field: "units", "units must not exceed \(policy.maxUnits)")
        }
        try CatalogLimits.checkText(clientID, field: "clientID", maxBytes: CatalogLimits.maxNameBytes, required: true)
        let service = try catalog.service(id: serviceID)
        let price = try service.price(id: priceID)
        try catalog.checkStock(serviceID: serviceID, priceID: priceID, units: units)
        guard let total = price.pricePerUnit.multiplied(by: Int64(units)) else {
            throw WPWError(.amountInvalid, "total price overflows", data: ["field": "units"])
        }
        if let cap = policy.maxTotalMinorUnits, total.minorUnits > cap {
            throw WPWError(.amountInvalid, "total price \(total) exceeds the limit", data: ["field": "units"])
        }
        guard let expiresAt = now.adding(policy.ttl) else {
            throw WPWError.invalidParams(field: "ttl", "quote expiry overflows")
        }
        return Quote(
            paymentReferenceID: try Identifiers.uuid(from: random), serverID: serverID, clientID: clientID,
            serviceID: serviceID, serviceName: service.name, priceID: priceID, unitID: price.unitID,
            unitDescription: price.unitDescription, units: units, unitPrice: price.pricePerUnit, total: total,
            createdAt: now, expiresAt: expiresAt)
    }

    public init(
        paymentReferenceID: String, serverID: String, clientID: String, serviceID: Int, serviceName: String,
        priceID: Int, unitID: Int, unitDescription: String, units: Int, unitPrice: Money, total: Money,
        createdAt: Instant, expiresAt: Instant
    ) {
        self.paymentReferenceID = paymentReferenceID
        self.serverID = serverID
        self.clientID = clientID
        self.serviceID = serviceID
        self.serviceName = serviceName
        self.priceID = priceID
        self.unitID = unitID
        self.unitDescription = unitDescription
        self.units = units
        self.unitPrice = unitPrice
        self.total = total
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    /// A quote can be paid strictly before `expiresAt`.
    public func isExpired(at now: Instant) -> Bool { now >= expiresAt }

    /// The gateway order description in the Go SDK's format, `"RoboWash - 10 units @ GBP 5.00 per unit."`,
    /// which the offline gateway UI parses. Unlike Go, the amount uses the currency's real exponent.
    public var orderDescription: String {
        "\(serviceName) - \(units) units @ \(unitPrice.currency.code) \(unitPrice.formattedAmount) per unit."
    }
}
