/// The daemon's application error: a stable code, a message for humans and optional structured data.
///
/// Codes are stable API (listed in `docs/rpc.md`). JSON-RPC standard codes (-32700…-32603) describe
/// protocol failures; application codes live in -32000…-32099.
public struct WPWError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        // JSON-RPC 2.0 protocol errors.
        public static let parseError = Code(rawValue: -32700)
        public static let invalidRequest = Code(rawValue: -32600)
        public static let methodNotFound = Code(rawValue: -32601)
        public static let invalidParams = Code(rawValue: -32602)
        public static let internalError = Code(rawValue: -32603)

        // Daemon and transport (-32000…-32009).
        /// The daemon is starting or shutting down and cannot take the call.
        public static let unavailable = Code(rawValue: -32000)
        /// A line exceeded the configured maximum; the connection is closed.
        public static let messageTooLarge = Code(rawValue: -32001)
        /// Too many requests in flight on one connection, or too many connections.
        public static let overloaded = Code(rawValue: -32002)
        /// The role needed by the method (producer or consumer) is not enabled.
        public static let roleDisabled = Code(rawValue: -32003)
        /// The state volume is nearly full: new quotes and payments are refused until space is freed (what is
        /// under way — recording a charge, deliveries, refunds — goes on).
        public static let storageLow = Code(rawValue: -32004)

        // Lookups and state (-32010…-32019).
        public static let notFound = Code(rawValue: -32010)
        public static let conflict = Code(rawValue: -32011)
        public static let expired = Code(rawValue: -32012)
        public static let insufficientUnits = Code(rawValue: -32013)
        public static let outOfStock = Code(rawValue: -32014)
        public static let invalidToken = Code(rawValue: -32015)
        public static let alreadyExists = Code(rawValue: -32016)

        // Payments (-32020…-32039).
        public static let paymentDeclined = Code(rawValue: -32020)
        public static let invalidCard = Code(rawValue: -32021)
        public static let gatewayUnavailable = Code(rawValue: -32022)
        public static let gatewayTimeout = Code(rawValue: -32023)
        public static let gatewayProtocol = Code(rawValue: -32024)
        public static let gatewayRejected = Code(rawValue: -32025)
        public static let unsupportedCurrency = Code(rawValue: -32026)
        public static let amountInvalid = Code(rawValue: -32027)
        public static let paymentOutcomeUnknown = Code(rawValue: -32028)
        public static let credentials = Code(rawValue: -32029)

        // Peers and discovery (-32040…-32049).
        public static let peerUnreachable = Code(rawValue: -32040)
        public static let peerRejected = Code(rawValue: -32041)
        public static let peerProtocol = Code(rawValue: -32042)
        public static let discoveryTimeout = Code(rawValue: -32043)

        // The consumer's spending policy (-32050…-32059): refused before the card is used, nothing changed.
        /// A limit of one purchase or a budget would be exceeded (`data.limit` names it).
        public static let spendingLimitExceeded = Code(rawValue: -32050)
        /// The producer (serverId) is not allowed, or is denied.
        public static let producerNotAllowed = Code(rawValue: -32051)
        /// The service's type is not allowed, or is denied.
        public static let serviceTypeNotAllowed = Code(rawValue: -32052)
        /// The quote's currency is not allowed.
        public static let currencyNotAllowed = Code(rawValue: -32053)
        // Refunds of undelivered units (-32060…-32069).
        /// The producer does not refund: it has no refund route (a Go producer, an older daemon, 404), or
        /// the purchase's price does not allow refunds (`refundOnExpiry` off), or it is a fleet member.
        public static let refundNotOffered = Code(rawValue: -32060)
        /// Nothing is left to refund: every unit paid for was delivered or is in flight.
        public static let nothingToRefund = Code(rawValue: -32061)
        /// The purchase's undelivered units were refunded: they can no longer be delivered.
        public static let unitsRefunded = Code(rawValue: -32062)

        public var description: String { String(rawValue) }
    }

    public var code: Code
    public var message: String
    public var data: JSONValue?

    public init(_ code: Code, _ message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var description: String { "WPWError(\(code.rawValue)): \(message)" }

    /// -32602 naming the offending field in `data.field`.
    public static func invalidParams(field: String, _ message: String) -> WPWError {
        WPWError(.invalidParams, message, data: ["field": .string(field)])
    }
}
