/// Validation limits for catalog entries. Ids fit a Thrift `i32` so Go RPC wrappers never truncate them.
public enum CatalogLimits {
    public static let idRange: ClosedRange<Int> = 1...Int(Int32.max)
    public static let unitIDRange: ClosedRange<Int> = 0...Int(Int32.max)
    public static let maxNameBytes = 256
    public static let maxDescriptionBytes = 1024
    public static let maxServiceTypeBytes = 64

    static func checkText(_ value: String, field: String, maxBytes: Int, required: Bool) throws {
        if required && value.allSatisfy({ $0.isWhitespace }) {
            throw WPWError.invalidParams(field: field, "\(field) must not be empty")
        }
        if value.utf8.count > maxBytes {
            throw WPWError.invalidParams(field: field, "\(field) is longer than \(maxBytes) bytes")
        }
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw WPWError.invalidParams(field: field, "\(field) must not contain control characters")
        }
    }

    static func checkID(_ id: Int, field: String, range: ClosedRange<Int> = idRange) throws {
        guard range.contains(id) else {
            throw WPWError.invalidParams(field: field, "\(field) must be in \(range.lowerBound)...\(range.upperBound)")
        }
    }
}

/// One way to buy units of a service: an amount per unit in one currency, with an optional stock.
public struct Price: Sendable, Hashable, Identifiable {
    public let id: Int
    public let description: String
    public let pricePerUnit: Money
    public let unitID: Int
    public let unitDescription: String
    /// Units that can still be sold at this price; nil means unlimited.
    public let stock: Int?
    /// The units paid for at this price and not delivered are refunded when the delivery token expires, and
    /// on the consumer's request before (docs/payments.md, "Refunds of undelivered units"). Carried in the
    /// token's `refundOnExpiry`.
    public let refundOnExpiry: Bool

    /// Validates every field: id in `CatalogLimits.idRange`, amount > 0, a non-empty unit description and,
    /// when given, a stock ≥ 0.
    public init(
        id: Int, description: String, pricePerUnit: Money, unitID: Int, unitDescription: String, stock: Int? = nil,
        refundOnExpiry: Bool = false
    ) throws {
        try CatalogLimits.checkID(id, field: "priceID")
        try CatalogLimits.checkText(description, field: "priceDescription", maxBytes: CatalogLimits.maxNameBytes, required: false)
        guard pricePerUnit.minorUnits > 0 else {
            throw WPWError(.amountInvalid, "price per unit must be greater than zero", data: ["field": "amount"])
        }
        try CatalogLimits.checkID(unitID, field: "unitID", range: CatalogLimits.unitIDRange)
        try CatalogLimits.checkText(unitDescription, field: "unitDescription", maxBytes: CatalogLimits.maxNameBytes, required: true)
        if let stock, stock < 0 { throw WPWError.invalidParams(field: "stock", "stock must not be negative") }
        self.id = id
        self.description = description
        self.pricePerUnit = pricePerUnit
        self.unitID = unitID
        self.unitDescription = unitDescription
        self.stock = stock
        self.refundOnExpiry = refundOnExpiry
    }

    /// Same as the designated initialiser, from an amount and an ISO 4217 code; an unknown code is
    /// `unsupportedCurrency`.
    public init(
        id: Int, description: String, amount: Int64, currencyCode: String, unitID: Int, unitDescription: String,
        stock: Int? = nil, refundOnExpiry: Bool = false
    ) throws {
        guard let currency = Currency(code: currencyCode) else {
            throw WPWError(.unsupportedCurrency, "unsupported currency \(currencyCode)", data: ["field": "currencyCode"])
        }
        try self.init(
            id: id, description: description, pricePerUnit: Money(minorUnits: amount, currency: currency),
            unitID: unitID, unitDescription: unitDescription, stock: stock, refundOnExpiry: refundOnExpiry)
    }

    /// A copy with another stock level (validated).
    public func withStock(_ stock: Int?) throws -> Price {
        try Price(id: id, description: description, pricePerUnit: pricePerUnit, unitID: unitID,
                  unitDescription: unitDescription, stock: stock, refundOnExpiry: refundOnExpiry)
    }
}

/// A service a producer sells, with its prices keyed by price id (ids are unique per service only).
public struct Service: Sendable, Hashable, Identifiable {
    public let id: Int
    public let name: String
    public let description: String
    /// May be empty (Go profiles carry none).
    public let serviceType: String
    public let prices: [Int: Price]

    /// Validates the fields and rejects duplicate price ids (`alreadyExists`).
    public init(id: Int, name: String, description: String, serviceType: String = "", prices: [Price] = []) throws {
        try CatalogLimits.checkID(id, field: "serviceID")
        try CatalogLimits.checkText(name, field: "name", maxBytes: CatalogLimits.maxNameBytes, required: true)
        try CatalogLimits.checkText(description, field: "description", maxBytes: CatalogLimits.maxDescriptionBytes, required: false)
        try CatalogLimits.checkText(serviceType, field: "serviceType", maxBytes: CatalogLimits.maxServiceTypeBytes, required: false)
        var byID: [Int: Price] = [:]
        for price in prices {
            guard byID[price.id] == nil else {
                throw WPWError(.alreadyExists, "price with id \(price.id) already exists in service \(id)")
            }
            byID[price.id] = price
        }
        self.id = id
        self.name = name
        self.description = description
        self.serviceType = serviceType
        self.prices = byID
    }

    /// Prices in ascending id order (the Go producer sends random map order; any order is valid).
    public var sortedPrices: [Price] { prices.values.sorted { $0.id < $1.id } }

    /// The price with `id`, or `notFound` with the Go producer's message.
    public func price(id: Int) throws -> Price {
        guard let price = prices[id] else { throw WPWError(.notFound, "Price not found for id \(id)") }
        return price
    }

    public func adding(_ price: Price) throws -> Service {
        guard prices[price.id] == nil else {
            throw WPWError(.alreadyExists, "price with id \(price.id) already exists in service \(id)")
        }
        return try Service(id: id, name: name, description: description, serviceType: serviceType,
                           prices: Array(prices.values) + [price])
    }

    public func removingPrice(id priceID: Int) throws -> Service {
        _ = try price(id: priceID)
        return try Service(id: id, name: name, description: description, serviceType: serviceType,
                           prices: prices.values.filter { $0.id != priceID })
    }

    /// A copy where the price with the same id is replaced (`notFound` when missing).
    public func replacing(_ price: Price) throws -> Service {
        _ = try self.price(id: price.id)
        return try Service(id: id, name: name, description: description, serviceType: serviceType,
                           prices: prices.values.filter { $0.id != price.id } + [price])
    }
}

/// The producer's catalog: services keyed by id, each with its prices and optional stock levels.
/// Every change returns a new value or throws, leaving the receiver untouched.
public struct Catalog: Sendable, Hashable {
    public let services: [Int: Service]

    public init() { services = [:] }

    /// Builds a catalog, rejecting duplicate service ids (`alreadyExists`).
    public init(services: [Service]) throws {
        var catalog = Catalog()
        for service in services { catalog = try catalog.adding(service) }
        self = catalog
    }

    private init(byID: [Int: Service]) { services = byID }

    public var sortedServices: [Service] { services.values.sorted { $0.id < $1.id } }

    /// The distinct, non-empty service types, sorted (the broadcast's `serviceTypes`).
    public var serviceTypes: [String] {
        Array(Set(services.values.map(\.serviceType).filter { !$0.isEmpty })).sorted()
    }

    public func adding(_ service: Service) throws -> Catalog {
        guard services[service.id] == nil else {
            throw WPWError(.alreadyExists, "service with id \(service.id) already exists")
        }
        var copy = services
        copy[service.id] = service
        return Catalog(byID: copy)
    }

    public func removing(serviceID: Int) throws -> Catalog {
        _ = try service(id: serviceID)
        var copy = services
        copy[serviceID] = nil
        return Catalog(byID: copy)
    }

    /// Replaces the service with the same id (`notFound` when missing).
    public func replacing(_ service: Service) throws -> Catalog {
        _ = try self.service(id: service.id)
        var copy = services
        copy[service.id] = service
        return Catalog(byID: copy)
    }

    /// The service with `id`, or `notFound` with the Go producer's message.
    public func service(id: Int) throws -> Service {
        guard let service = services[id] else { throw WPWError(.notFound, "Service not found for id \(id)") }
        return service
    }

    public func price(serviceID: Int, priceID: Int) throws -> Price {
        try service(id: serviceID).price(id: priceID)
    }

    /// Throws `outOfStock` when `units` exceed the price's stock (unlimited stock always passes).
    public func checkStock(serviceID: Int, priceID: Int, units: Int) throws {
        let price = try price(serviceID: serviceID, priceID: priceID)
        if let stock = price.stock, units > stock {
            throw WPWError(.outOfStock, "only \(stock) units left at price \(priceID) of service \(serviceID)",
                           data: ["available": .int(Int64(stock))])
        }
    }

    /// Takes `units` out of the price's stock (before charging), or throws `outOfStock`.
    public func reservingStock(serviceID: Int, priceID: Int, units: Int) throws -> Catalog {
        guard units > 0 else { throw WPWError.invalidParams(field: "units", "units must be greater than zero") }
        try checkStock(serviceID: serviceID, priceID: priceID, units: units)
        let price = try price(serviceID: serviceID, priceID: priceID)
        guard let stock = price.stock else { return self }
        return try replacing(service(id: serviceID).replacing(price.withStock(stock - units)))
    }

    /// Puts back `units` reserved by a payment that failed. Unlimited stock is unchanged.
    public func releasingStock(serviceID: Int, priceID: Int, units: Int) throws -> Catalog {
        guard units > 0 else { throw WPWError.invalidParams(field: "units", "units must be greater than zero") }
        let price = try price(serviceID: serviceID, priceID: priceID)
        guard let stock = price.stock else { return self }
        let (sum, overflow) = stock.addingReportingOverflow(units)
        guard !overflow else { throw WPWError.invalidParams(field: "units", "stock would overflow") }
        return try replacing(service(id: serviceID).replacing(price.withStock(sum)))
    }
}
