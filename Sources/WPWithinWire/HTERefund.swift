/// Our extension route (never called by Go peers, unknown to Go producers, which answer 404):
/// `POST <prefix>/service/{id}/refund`, the refund of a purchase's undelivered units (docs/peer.md,
/// "Refunds: our extension").
///
/// Body `{"clientID","serviceDeliveryToken"}`, authenticated by the delivery token as a delivery end is.
public struct RefundRequest: Codable, Sendable, Hashable {
    public var clientID: String
    public var serviceDeliveryToken: ServiceDeliveryToken

    public init(clientID: String, serviceDeliveryToken: ServiceDeliveryToken) {
        self.clientID = clientID
        self.serviceDeliveryToken = serviceDeliveryToken
    }

    enum CodingKeys: String, CodingKey { case clientID, serviceDeliveryToken }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(clientID: try o.string("clientID"), serviceDeliveryToken: try o.decode("serviceDeliveryToken") ?? .zero)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(clientID, forKey: .clientID)
        try c.encode(serviceDeliveryToken, forKey: .serviceDeliveryToken)
    }

    /// The body with the token as the consumer stored it (its Go JSON) spliced in.
    public static func goJSON(clientID: String, serviceDeliveryTokenJSON token: some Collection<UInt8>) -> [UInt8] {
        var writer = GoJSONWriter()
        writer.beginObject()
        writer.field("clientID", clientID)
        writer.field("serviceDeliveryToken", json: token)
        writer.endObject()
        return writer.bytes
    }
}

extension RefundRequest: GoJSONReadable {
    static let goFields = GoJSONFields("clientID", "serviceDeliveryToken")

    public init(goJSON reader: inout GoJSONReader) throws {
        var clientID = GoField<String>(), serviceDeliveryToken = GoField<ServiceDeliveryToken>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try clientID.read(&reader)
            default: try serviceDeliveryToken.read(&reader)
            }
        }
        self.init(clientID: try clientID.value ?? "", serviceDeliveryToken: try serviceDeliveryToken.value ?? .zero)
    }
}

/// The answer: the purchase's refund record (the same on every call: the route is idempotent),
/// `{"serverID","clientID","status","reason","unitsRefunded","amountRefunded","currencyCode","ledger"}`.
/// `status`: `issued` (the gateway confirmed it), `pending` (recorded, the gateway's answer awaited: ask
/// again later) or `nothing` (the token expired with nothing left to refund).
public struct RefundResponse: Codable, Sendable, Hashable {
    public var serverID: String
    public var clientID: String
    public var status: String
    public var reason: String
    public var unitsRefunded: Int
    public var amountRefunded: Int64
    public var currencyCode: String
    public var ledger: LedgerSnapshot

    public init(
        serverID: String, clientID: String, status: String, reason: String, unitsRefunded: Int, amountRefunded: Int64,
        currencyCode: String, ledger: LedgerSnapshot
    ) {
        self.serverID = serverID
        self.clientID = clientID
        self.status = status
        self.reason = reason
        self.unitsRefunded = unitsRefunded
        self.amountRefunded = amountRefunded
        self.currencyCode = currencyCode
        self.ledger = ledger
    }

    enum CodingKeys: String, CodingKey {
        case serverID, clientID, status, reason, unitsRefunded, amountRefunded, currencyCode, ledger
    }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            serverID: try o.string("serverID"), clientID: try o.string("clientID"), status: try o.string("status"),
            reason: try o.string("reason"), unitsRefunded: try o.int("unitsRefunded"),
            amountRefunded: Int64(try o.int("amountRefunded")), currencyCode: try o.string("currencyCode"),
            ledger: try o.decode("ledger") ?? LedgerSnapshot(purchased: 0, delivered: 0, inFlight: 0))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(serverID, forKey: .serverID)
        try c.encode(clientID, forKey: .clientID)
        try c.encode(status, forKey: .status)
        try c.encode(reason, forKey: .reason)
        try c.encode(unitsRefunded, forKey: .unitsRefunded)
        try c.encode(amountRefunded, forKey: .amountRefunded)
        try c.encode(currencyCode, forKey: .currencyCode)
        try c.encode(ledger, forKey: .ledger)
    }
}

extension RefundResponse: GoJSONReadable {
    static let goFields = GoJSONFields(
        "serverID", "clientID", "status", "reason", "unitsRefunded", "amountRefunded", "currencyCode", "ledger")

    public init(goJSON reader: inout GoJSONReader) throws {
        var serverID = GoField<String>(), clientID = GoField<String>(), status = GoField<String>(), reason = GoField<String>()
        var units = GoField<Int>(), amount = GoField<Int>(), currency = GoField<String>(), ledger = GoField<LedgerSnapshot>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try serverID.read(&reader)
            case 1: try clientID.read(&reader)
            case 2: try status.read(&reader)
            case 3: try reason.read(&reader)
            case 4: try units.read(&reader)
            case 5: try amount.read(&reader)
            case 6: try currency.read(&reader)
            default: try ledger.read(&reader)
            }
        }
        self.init(
            serverID: try serverID.value ?? "", clientID: try clientID.value ?? "", status: try status.value ?? "",
            reason: try reason.value ?? "", unitsRefunded: try units.value ?? 0, amountRefunded: Int64(try amount.value ?? 0),
            currencyCode: try currency.value ?? "",
            ledger: try ledger.value ?? LedgerSnapshot(purchased: 0, delivered: 0, inFlight: 0))
    }
}
