public import WPWithinCore
public import WPWithinWire

/// Who sent an HTE request.
public struct HTECaller: Sendable, Hashable {
    /// The client's `ip:port` when the transport knows it (Go passes `remoteAddr` to its events); nil otherwise.
    public var address: String?

    public init(address: String? = nil) { self.address = address }
}

/// The producer's side of the HTE protocol: one method per Go route, with the decoded Go request types.
///
/// ``HTERouter`` parses the path and body and calls these; it turns a thrown `WPWError` into the Go error
/// body with the status of `docs/peer.md` (`notFound` → 404, `invalidParams` → 400, `conflict` → 409,
/// `invalidToken` → 403, `expired` → 410, `paymentDeclined` → 402, gateway failures → 502/503/504, …).
/// Any other error becomes 500 (and is logged); bad input must therefore be reported as a `WPWError`.
public protocol HTEProducer: Sendable {
    /// `GET /service/discover`.
    func discover(caller: HTECaller) async throws -> ServiceListResponse
    /// `GET /service/{id}/prices`.
    func prices(serviceID: Int, caller: HTECaller) async throws -> ServicePriceResponse
    /// `POST /service/{id}/requestTotal`.
    func requestTotal(serviceID: Int, _ request: TotalPriceRequest, caller: HTECaller) async throws -> TotalPriceResponse
    /// `POST /payment`.
    func payment(_ request: PaymentRequest, caller: HTECaller) async throws -> PaymentResponse
    /// `POST /service/{id}/delivery/begin`.
    func beginDelivery(serviceID: Int, _ request: BeginServiceDeliveryRequest, caller: HTECaller) async throws -> BeginServiceDeliveryResponse
    /// `POST /service/{id}/delivery/end`.
    func endDelivery(serviceID: Int, _ request: EndServiceDeliveryRequest, caller: HTECaller) async throws -> EndServiceDeliveryResponse
    /// `POST /service/{id}/refund` (our extension, docs/peer.md): refund the purchase's undelivered units,
    /// or answer the refund already decided. Never throws `notFound` (a 404 tells the consumer the route is
    /// not offered).
    func refund(serviceID: Int, _ request: RefundRequest, caller: HTECaller) async throws -> RefundResponse
}

extension HTEProducer {
    /// A producer that does not implement refunds refuses them.
    public func refund(serviceID: Int, _ request: RefundRequest, caller: HTECaller) async throws -> RefundResponse {
        throw WPWError(.refundNotOffered, "this producer does not offer refunds", data: ["reason": "notAllowed"])
    }
}

/// The HTTP status for each `WPWError` code a producer may throw (documented in `docs/peer.md`).
public enum HTEStatus {
    public static func forError(_ code: WPWError.Code) -> Int {
        switch code {
        case .notFound: 404
        case .invalidParams, .invalidRequest, .amountInvalid, .unsupportedCurrency: 400
        case .parseError: 422
        case .insufficientUnits: 422  // the client tells it from a Go 422 (bad JSON) by errorCode
        case .conflict, .alreadyExists, .outOfStock, .paymentOutcomeUnknown, .refundNotOffered, .nothingToRefund: 409
        case .invalidToken: 403
        case .expired, .unitsRefunded: 410
        case .paymentDeclined, .invalidCard: 402
        case .gatewayRejected, .gatewayProtocol, .credentials: 502
        case .gatewayUnavailable, .unavailable, .overloaded, .storageLow: 503
        case .gatewayTimeout: 504
        case .messageTooLarge: 413
        default: 500
        }
    }
}
