import WPWithinCore

/// One async method per daemon method (params by name, as `rpc.discover` lists them). Each returns its
/// result's type, generated from rpc.discover (`GeneratedTypes.swift`): a missing or mistyped member is
/// `WPWithinClientError.invalidResponse` naming it; members a newer daemon adds are ignored. The raw JSON is
/// always there through `call(_:params:)` (integers exact). `getDevice`, `getStatus`, `rpc.discover`
/// (`discover()`), `subscribe` (`events(types:resumeFrom:)`, `resumableEvents(types:resumeFrom:)`) and
/// `unsubscribe` are in `WPWithinClient.swift`.
///
/// Each method checks its params before sending, as the params schemas in `rpc.discover` (and the other
/// clients) have them, where the Swift types do not already: `timeoutMs` 0…600000, `numberOfUnits`
/// 1…2147483647, `units` ≥ 1, `unitsReceived` ≥ 0, `resumeFrom` ≥ 0, `service` an object. A value outside is
/// `WPWithinClientError` `.invalidParams` naming the method and the parameter; nothing is sent. (The schema
/// puts no bound on ids such as `purchaseId`: an unknown one is the daemon's `notFound`.) `call(_:params:)`
/// sends its params as given.
extension WPWithinClient {
    /// Every daemon method this client offers, by its RPC name. A test compares it with `rpc.discover`.
    public static let methods: Set<String> = [
        "rpc.discover", "getDevice", "getStatus", "getMetrics", "subscribe", "unsubscribe",
        "startServiceBroadcast", "stopServiceBroadcast", "deviceDiscovery", "searchForDevice",
        "addService", "replaceService", "removeService", "listServices",
        "requestServices", "getServicePrices", "selectService", "makePayment",
        "beginServiceDelivery", "endServiceDelivery", "listPurchases", "getSpendingPolicy", "requestRefund",
    ]

    /// A producer: by the `serverId` discovery reported, or by an explicit HTE base URL; `params` is how the
    /// consumer methods name it (`serverId` or `url`).
    public enum Producer: Sendable, Hashable {
        case serverId(String)
        case url(String)

        public var params: [String: JSONValue] {
            switch self {
            case .serverId(let id): return ["serverId": .string(id)]
            case .url(let url): return ["url": .string(url)]
            }
        }
    }

    // MARK: Producer

    /// Starts broadcasting this Thing's discovery datagram (`timeoutMs` 0: until stopped).
    public func startServiceBroadcast(timeoutMs: Int = 0) async throws -> Broadcasting {
        try Self.checkTimeoutMs("startServiceBroadcast", timeoutMs)
        return try await typedCall("startServiceBroadcast", params: ["timeoutMs": .int(Int64(timeoutMs))])
    }

    public func stopServiceBroadcast() async throws -> Broadcasting {
        try await typedCall("stopServiceBroadcast")
    }

    /// Adds a service: `{"id","name","description","serviceType","prices":[{"id","description","amount",
    /// "currencyCode","unitId","unitDescription","stock"}]}`.
    public func addService(_ service: JSONValue) async throws -> Service {
        try Self.checkObject("addService", "service", service)
        return try await typedCall("addService", params: ["service": service])
    }

    /// Replaces a service and all its prices, stock included (`notFound` when the id is not in the catalog).
    public func replaceService(_ service: JSONValue) async throws -> Service {
        try Self.checkObject("replaceService", "service", service)
        return try await typedCall("replaceService", params: ["service": service])
    }

    public func removeService(serviceId: Int) async throws -> Removal {
        try await typedCall("removeService", params: ["serviceId": .int(Int64(serviceId))])
    }

    public func listServices() async throws -> [Service] {
        try await typedCall("listServices")
    }

    // MARK: Consumer

    /// The devices heard within `timeoutMs`, one per serverId.
    public func deviceDiscovery(timeoutMs: Int = 2000) async throws -> [DiscoveredDevice] {
        try Self.checkTimeoutMs("deviceDiscovery", timeoutMs)
        return try await typedCall("deviceDiscovery", params: ["timeoutMs": .int(Int64(timeoutMs))])
    }

    /// The first device whose serverId (or name) matches, as soon as it is heard.
    public func searchForDevice(serverId: String? = nil, name: String? = nil, timeoutMs: Int = 5000) async throws -> DiscoveredDevice {
        try Self.checkTimeoutMs("searchForDevice", timeoutMs)
        var params: [String: JSONValue] = ["timeoutMs": .int(Int64(timeoutMs))]
        if let serverId { params["serverId"] = .string(serverId) }
        if let name { params["name"] = .string(name) }
        return try await typedCall("searchForDevice", params: params)
    }

    public func requestServices(_ producer: Producer) async throws -> ServiceList {
        try await typedCall("requestServices", params: producer.params)
    }

    public func getServicePrices(_ producer: Producer, serviceId: Int) async throws -> PriceList {
        var params = producer.params
        params["serviceId"] = .int(Int64(serviceId))
        return try await typedCall("getServicePrices", params: params)
    }

    /// A quote for `numberOfUnits` at a price: `paymentReferenceId`, `totalPrice`, `merchantClientKey`, ….
    public func selectService(_ producer: Producer, serviceId: Int, priceId: Int, numberOfUnits: Int) async throws -> Quote {
        try Self.checkRange("selectService", "numberOfUnits", Int64(numberOfUnits), 1...Int64(Int32.max))
        var params = producer.params
        params["serviceId"] = .int(Int64(serviceId))
        params["priceId"] = .int(Int64(priceId))
        params["numberOfUnits"] = .int(Int64(numberOfUnits))
        return try await typedCall("selectService", params: params)
    }

    /// Pays a quote (idempotent per reference); returns the purchase.
    public func makePayment(paymentReferenceId: String) async throws -> Purchase {
        try await typedCall("makePayment", params: ["paymentReferenceId": .string(paymentReferenceId)])
    }

    public func beginServiceDelivery(purchaseId: Int64, units: Int) async throws -> DeliveryBegun {
        try Self.checkRange("beginServiceDelivery", "units", Int64(units), 1...Int64.max)
        return try await typedCall("beginServiceDelivery", params: ["purchaseId": .int(purchaseId), "units": .int(Int64(units))])
    }

    public func endServiceDelivery(purchaseId: Int64, unitsReceived: Int) async throws -> DeliveryEnded {
        try Self.checkRange("endServiceDelivery", "unitsReceived", Int64(unitsReceived), 0...Int64.max)
        return try await typedCall("endServiceDelivery", params: ["purchaseId": .int(purchaseId), "unitsReceived": .int(Int64(unitsReceived))])
    }

    public func listPurchases() async throws -> [Purchase] {
        try await typedCall("listPurchases")
    }

    /// The consumer's spending policy (`policy`) and what each budget has left (`budgets`).
    public func getSpendingPolicy() async throws -> SpendingPolicy {
        try await typedCall("getSpendingPolicy")
    }

    /// Asks the producer to refund the purchase's undelivered units now; returns the purchase with
    /// `refundStatus`, `unitsRefunded`, `amountRefunded`. Errors: `refundNotOffered` (-32060),
    /// `nothingToRefund` (-32061).
    public func requestRefund(purchaseId: Int64) async throws -> Purchase {
        try await typedCall("requestRefund", params: ["purchaseId": .int(purchaseId)])
    }

    // MARK: Parameter checks

    /// `value` must lie in `range` (the method's params schema), else `.invalidParams`; nothing is sent.
    static func checkRange(_ method: String, _ name: String, _ value: Int64, _ range: ClosedRange<Int64>) throws(WPWithinClientError) {
        guard !range.contains(value) else { return }
        let allowed: String
        if range.upperBound == Int64.max {
            allowed = "at least \(range.lowerBound)"
        } else {
            allowed = "between \(range.lowerBound) and \(range.upperBound)"
        }
        throw WPWithinClientError(.invalidParams, "\(method): \(name) must be \(allowed), got \(value) (nothing was sent)")
    }

    /// The `timeoutMs` of the discovery and broadcast methods: 0…600000.
    static func checkTimeoutMs(_ method: String, _ value: Int) throws(WPWithinClientError) {
        try checkRange(method, "timeoutMs", Int64(value), 0...600_000)
    }

    /// `value` must be a JSON object, else `.invalidParams`; nothing is sent.
    static func checkObject(_ method: String, _ name: String, _ value: JSONValue) throws(WPWithinClientError) {
        guard value.objectValue == nil else { return }
        throw WPWithinClientError(.invalidParams, "\(method): \(name) must be an object, not a \(value.typeName) (nothing was sent)")
    }
}
