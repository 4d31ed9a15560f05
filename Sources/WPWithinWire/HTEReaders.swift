internal import WPWithinCore

// The HTE bodies read their Go JSON in one pass (`GoJSONReadable`): the same values, and the same kind of
// error for a body they refuse, as their `init(from:)` through `JSONValueDecoder` (GoJSONReaderDifferentialTests).
// Each `self.init` reads its fields in the order `init(from:)` did, so that of two bad fields the same one is
// reported; a missing or null field is Go's zero value.

extension PricePerUnit: GoJSONReadable {
    static let goFields = GoJSONFields("amount", "currencyCode")

    public init(goJSON reader: inout GoJSONReader) throws {
        var amount = GoField<Int>(), currencyCode = GoField<String>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try amount.read(&reader)
            default: try currencyCode.read(&reader)
            }
        }
        self.init(amount: try amount.value ?? 0, currencyCode: try currencyCode.value ?? "")
    }
}

extension Price: GoJSONReadable {
    static let goFields = GoJSONFields("priceID", "priceDescription", "pricePerUnit", "unitID", "unitDescription")

    public init(goJSON reader: inout GoJSONReader) throws {
        var priceID = GoField<Int>(), priceDescription = GoField<String>(), pricePerUnit = GoField<PricePerUnit>()
        var unitID = GoField<Int>(), unitDescription = GoField<String>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try priceID.read(&reader)
            case 1: try priceDescription.read(&reader)
            case 2: try pricePerUnit.read(&reader)
            case 3: try unitID.read(&reader)
            default: try unitDescription.read(&reader)
            }
        }
        self.init(
            priceID: try priceID.value ?? 0, priceDescription: try priceDescription.value ?? "",
            pricePerUnit: try pricePerUnit.value, unitID: try unitID.value ?? 0, unitDescription: try unitDescription.value ?? "")
    }

    static let zero = Price(priceID: 0, priceDescription: "", pricePerUnit: nil, unitID: 0, unitDescription: "")
}

extension Service: GoJSONReadable {
    static let goFields = GoJSONFields("serviceID", "name", "description", "serviceType", "prices")

    public init(goJSON reader: inout GoJSONReader) throws {
        var serviceID = GoField<Int>(), name = GoField<String>(), description = GoField<String>()
        var serviceType = GoField<String>(), prices = GoField<[Int: Price]>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try serviceID.read(&reader)
            case 1: try name.read(&reader)
            case 2: try description.read(&reader)
            case 3: try serviceType.read(&reader)
            default: try prices.take { try Self.readPrices(&reader) }
            }
        }
        let byID = try prices.value  // first: init(from:) decoded the map before the other fields
        self.init(
            serviceID: try serviceID.value ?? 0, name: try name.value ?? "", description: try description.value ?? "",
            serviceType: try serviceType.value ?? "", prices: byID)
    }

    /// A Go `map[int]Price`, in the old path's order of checks: the prices (the first bad one), then the keys.
    /// A key given twice keeps its last price, as the `JSONValue` object did; two keys for one id ("1", "01")
    /// keep the later one (the old path took whichever its dictionary listed last).
    private static func readPrices(_ reader: inout GoJSONReader) throws -> [Int: Price]? {
        var entries: [(key: String, price: GoField<Price>)] = []
        var positions: [String: Int] = [:]
        let isObject = try reader.readMap { key, reader in
            var price = GoField<Price>()
            try price.take { try Price(goJSON: &reader) }
            if let position = positions[key] {
                entries[position].price = price
            } else {
                positions[key] = entries.count
                entries.append((key, price))
            }
        }
        guard isObject else { return nil }
        for entry in entries { _ = try entry.price.value }
        var byID: [Int: Price] = [:]
        for entry in entries {
            guard let id = Int(entry.key) else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "price key \(entry.key) is not an integer"))
            }
            byID[id] = try entry.price.value ?? Price.zero
        }
        return byID
    }
}

extension ServiceDetails: GoJSONReadable {
    static let goFields = GoJSONFields("ServiceID", "ServiceDescription", "ServiceName", "ServiceType")

    public init(goJSON reader: inout GoJSONReader) throws {
        var serviceID = GoField<Int>(), serviceDescription = GoField<String>(), serviceName = GoField<String>()
        var serviceType = GoField<String>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try serviceID.read(&reader)
            case 1: try serviceDescription.read(&reader)
            case 2: try serviceName.read(&reader)
            default: try serviceType.read(&reader)
            }
        }
        self.init(
            serviceID: try serviceID.value ?? 0, serviceDescription: try serviceDescription.value ?? "",
            serviceName: try serviceName.value ?? "", serviceType: try serviceType.value ?? "")
    }
}

extension ServiceListResponse: GoJSONReadable {
    static let goFields = GoJSONFields("serverID", "services", "fleetID")

    public init(goJSON reader: inout GoJSONReader) throws {
        var serverID = GoField<String>(), services = GoField<[ServiceDetails]>(), fleetID = GoField<String>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try serverID.read(&reader)
            case 1: try services.read(&reader)
            default: try fleetID.read(&reader)
            }
        }
        self.init(serverID: try serverID.value ?? "", services: try services.value, fleetID: try fleetID.value)
    }
}

extension ServicePriceResponse: GoJSONReadable {
    static let goFields = GoJSONFields("serverID", "prices")

    public init(goJSON reader: inout GoJSONReader) throws {
        var serverID = GoField<String>(), prices = GoField<[Price]>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try serverID.read(&reader)
            default: try prices.read(&reader)
            }
        }
        self.init(serverID: try serverID.value ?? "", prices: try prices.value)
    }
}

extension TotalPriceRequest: GoJSONReadable {
    static let goFields = GoJSONFields("clientID", "selectedNumberOfUnits", "selectedPriceID")

    public init(goJSON reader: inout GoJSONReader) throws {
        var clientID = GoField<String>(), selectedNumberOfUnits = GoField<Int>(), selectedPriceID = GoField<Int>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try clientID.read(&reader)
            case 1: try selectedNumberOfUnits.read(&reader)
            default: try selectedPriceID.read(&reader)
            }
        }
        self.init(
            clientID: try clientID.value ?? "", selectedNumberOfUnits: try selectedNumberOfUnits.value ?? 0,
            selectedPriceID: try selectedPriceID.value ?? 0)
    }
}

extension TotalPriceResponse: GoJSONReadable {
    static let goFields = GoJSONFields(
        "serverID", "clientID", "priceID", "unitsToSupply", "totalPrice", "currencyCode", "paymentReferenceID", "merchantClientKey")

    public init(goJSON reader: inout GoJSONReader) throws {
        var serverID = GoField<String>(), clientID = GoField<String>(), priceID = GoField<Int>()
        var unitsToSupply = GoField<Int>(), totalPrice = GoField<Int>(), currencyCode = GoField<String>()
        var paymentReferenceID = GoField<String>(), merchantClientKey = GoField<String>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try serverID.read(&reader)
            case 1: try clientID.read(&reader)
            case 2: try priceID.read(&reader)
            case 3: try unitsToSupply.read(&reader)
            case 4: try totalPrice.read(&reader)
            case 5: try currencyCode.read(&reader)
            case 6: try paymentReferenceID.read(&reader)
            default: try merchantClientKey.read(&reader)
            }
        }
        self.init(
            serverID: try serverID.value ?? "", clientID: try clientID.value ?? "", priceID: try priceID.value ?? 0,
            unitsToSupply: try unitsToSupply.value ?? 0, totalPrice: try totalPrice.value ?? 0,
            currencyCode: try currencyCode.value ?? "", paymentReferenceID: try paymentReferenceID.value ?? "",
            merchantClientKey: try merchantClientKey.value ?? "")
    }
}

extension PaymentRequest: GoJSONReadable {
    static let goFields = GoJSONFields("clientID", "clientToken", "paymentReferenceID")

    public init(goJSON reader: inout GoJSONReader) throws {
        var clientID = GoField<String>(), clientToken = GoField<String>(), paymentReferenceID = GoField<String>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try clientID.read(&reader)
            case 1: try clientToken.read(&reader)
            default: try paymentReferenceID.read(&reader)
            }
        }
        self.init(
            clientID: try clientID.value ?? "", clientToken: try clientToken.value ?? "",
            paymentReferenceID: try paymentReferenceID.value ?? "")
    }
}

extension GoTime: GoJSONReadable {
    /// An RFC 3339 string; `null` is the zero time.
    public init(goJSON reader: inout GoJSONReader) throws {
        guard let text = try reader.readString() else {
            self = .zero
            return
        }
        do {
            try self.init(parsing: text)
        } catch let error as FormatError {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: error.description))
        }
    }
}

extension ServiceDeliveryToken: GoJSONReadable {
    static let goFields = GoJSONFields("key", "issued", "expiry", "refundOnExpiry", "signature")

    public init(goJSON reader: inout GoJSONReader) throws {
        var key = GoField<String>(), issued = GoField<GoTime>(), expiry = GoField<GoTime>()
        var refundOnExpiry = GoField<Bool>(), signature = GoField<[UInt8]>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try key.read(&reader)
            case 1: try issued.read(&reader)
            case 2: try expiry.read(&reader)
            case 3: try refundOnExpiry.read(&reader)
            default:
                try signature.take {
                    try reader.readString().map { text in
                        guard let bytes = Base64.decode(text) else {
                            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "signature is not base64"))
                        }
                        return bytes
                    }
                }
            }
        }
        let bytes = try signature.value  // first, as in init(from:)
        self.init(
            key: try key.value ?? "", issued: try issued.value ?? .zero, expiry: try expiry.value ?? .zero,
            refundOnExpiry: try refundOnExpiry.value ?? false, signature: bytes)
    }
}

extension PaymentResponse: GoJSONReadable {
    static let goFields = GoJSONFields("serverID", "clientID", "totalPaid", "serviceDeliveryToken")

    public init(goJSON reader: inout GoJSONReader) throws {
        var serverID = GoField<String>(), clientID = GoField<String>(), totalPaid = GoField<Int>()
        var serviceDeliveryToken = GoField<ServiceDeliveryToken>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try serverID.read(&reader)
            case 1: try clientID.read(&reader)
            case 2: try totalPaid.read(&reader)
            default: try serviceDeliveryToken.read(&reader)
            }
        }
        self.init(
            serverID: try serverID.value ?? "", clientID: try clientID.value ?? "", totalPaid: try totalPaid.value ?? 0,
            serviceDeliveryToken: try serviceDeliveryToken.value)
    }
}

extension BeginServiceDeliveryRequest: GoJSONReadable {
    static let goFields = GoJSONFields("clientID", "serviceDeliveryToken", "unitsToSupply")

    public init(goJSON reader: inout GoJSONReader) throws {
        var clientID = GoField<String>(), serviceDeliveryToken = GoField<ServiceDeliveryToken>(), unitsToSupply = GoField<Int>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try clientID.read(&reader)
            case 1: try serviceDeliveryToken.read(&reader)
            default: try unitsToSupply.read(&reader)
            }
        }
        self.init(
            clientID: try clientID.value ?? "", serviceDeliveryToken: try serviceDeliveryToken.value ?? .zero,
            unitsToSupply: try unitsToSupply.value ?? 0)
    }
}

extension BeginServiceDeliveryResponse: GoJSONReadable {
    static let goFields = GoJSONFields("serverID", "clientID", "serviceDeliveryToken", "unitsToSupply")

    public init(goJSON reader: inout GoJSONReader) throws {
        var serverID = GoField<String>(), clientID = GoField<String>(), serviceDeliveryToken = GoField<ServiceDeliveryToken>()
        var unitsToSupply = GoField<Int>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try serverID.read(&reader)
            case 1: try clientID.read(&reader)
            case 2: try serviceDeliveryToken.read(&reader)
            default: try unitsToSupply.read(&reader)
            }
        }
        self.init(
            serverID: try serverID.value ?? "", clientID: try clientID.value ?? "",
            serviceDeliveryToken: try serviceDeliveryToken.value ?? .zero, unitsToSupply: try unitsToSupply.value ?? 0)
    }
}

extension EndServiceDeliveryRequest: GoJSONReadable {
    static let goFields = GoJSONFields("clientID", "serviceDeliveryToken", "unitsReceived")

    public init(goJSON reader: inout GoJSONReader) throws {
        var clientID = GoField<String>(), serviceDeliveryToken = GoField<ServiceDeliveryToken>(), unitsReceived = GoField<Int>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try clientID.read(&reader)
            case 1: try serviceDeliveryToken.read(&reader)
            default: try unitsReceived.read(&reader)
            }
        }
        self.init(
            clientID: try clientID.value ?? "", serviceDeliveryToken: try serviceDeliveryToken.value ?? .zero,
            unitsReceived: try unitsReceived.value ?? 0)
    }
}

extension EndServiceDeliveryResponse: GoJSONReadable {
    static let goFields = GoJSONFields("serverID", "clientID", "serviceDeliveryToken", "unitsJustSupplied", "unitsRemaining")

    public init(goJSON reader: inout GoJSONReader) throws {
        var serverID = GoField<String>(), clientID = GoField<String>(), serviceDeliveryToken = GoField<ServiceDeliveryToken>()
        var unitsJustSupplied = GoField<Int>(), unitsRemaining = GoField<Int>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try serverID.read(&reader)
            case 1: try clientID.read(&reader)
            case 2: try serviceDeliveryToken.read(&reader)
            case 3: try unitsJustSupplied.read(&reader)
            default: try unitsRemaining.read(&reader)
            }
        }
        self.init(
            serverID: try serverID.value ?? "", clientID: try clientID.value ?? "",
            serviceDeliveryToken: try serviceDeliveryToken.value ?? .zero,
            unitsJustSupplied: try unitsJustSupplied.value ?? 0, unitsRemaining: try unitsRemaining.value ?? 0)
    }
}

extension LedgerSnapshot: GoJSONReadable {
    static let goFields = GoJSONFields("purchased", "delivered", "inFlight")

    public init(goJSON reader: inout GoJSONReader) throws {
        var purchased = GoField<Int>(), delivered = GoField<Int>(), inFlight = GoField<Int>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try purchased.read(&reader)
            case 1: try delivered.read(&reader)
            default: try inFlight.read(&reader)
            }
        }
        self.init(purchased: try purchased.value ?? 0, delivered: try delivered.value ?? 0, inFlight: try inFlight.value ?? 0)
    }
}

extension ErrorResponse: GoJSONReadable {
    static let goFields = GoJSONFields("HTTPStatusCode", "message", "errorCode", "ledger", "orderState")

    public init(goJSON reader: inout GoJSONReader) throws {
        var httpStatusCode = GoField<Int>(), message = GoField<String>(), errorCode = GoField<Int>()
        var ledger = GoField<LedgerSnapshot>(), orderState = GoField<String>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try httpStatusCode.read(&reader)
            case 1: try message.read(&reader)
            case 2: try errorCode.read(&reader)
            case 3: try ledger.read(&reader)
            default: try orderState.read(&reader)
            }
        }
        // The extensions are optional: a ledger or state this build cannot read is left out, not an error.
        self.init(
            httpStatusCode: try httpStatusCode.value ?? 0, message: try message.value ?? "", errorCode: try errorCode.value ?? 0,
            ledger: try? ledger.value, orderState: try? orderState.value)
    }
}
