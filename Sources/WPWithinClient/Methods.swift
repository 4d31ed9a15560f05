import WPWithinCore

/// One async method per daemon method (params by name, as `rpc.discover` lists them). Each returns its
/// result's type, generated from rpc.discover (`GeneratedTypes.swift`): a missing or mistyped member is
/// `WPWithinClientError.invalidResponse` naming it; members a newer daemon adds are ignored. The raw JSON is
/// always there through `call(_:params:)` (integers exact). `getDevice`, `getStatus`, `rpc.discover`
/// (`discover()`), `subscribe` (`events(types:resumeFrom:)`) and `unsubscribe` are in `WPWithinClient.swift`.
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
        try await typedCall("startServiceBroadcast", params: ["timeoutMs": .int(Int64(timeoutMs))])
    }

    public func stopServiceBroadcast() async throws -> Broadcasting {
        try await typedCall("stopServiceBroadcast")
    }

    /// Adds a service: `{"id","name","description","serviceType","prices":[{"id","description","amount",
    /// "currencyCode","unitId","unitDescription","stock"}]}`.
    public func addService(_ service: JSONValue) async throws -> Service {
        try await typedCall("addService", params: ["service": service])
    }

    /// Replaces a service and all its prices, stock included (`notFound` when the id is not in the catalog).
    public func replaceService(_ service: JSONValue) async throws -> Service {
        try await typedCall("replaceService", params: ["service": service])
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
        try await typedCall("deviceDiscovery", params: ["timeoutMs": .int(Int64(timeoutMs))])
    }

    /// The first device whose serverId (or name) matches, as soon as it is heard.
    public func searchForDevice(serverId: String? = nil, name: String? = nil, timeoutMs: Int = 5000) async throws -> DiscoveredDevice {
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
        try await typedCall("beginServiceDelivery", params: ["purchaseId": .int(purchaseId), "units": .int(Int64(units))])
    }

    public func endServiceDelivery(purchaseId: Int64, unitsReceived: Int) async throws -> DeliveryEnded {
        try await typedCall("endServiceDelivery", params: ["purchaseId": .int(purchaseId), "unitsReceived": .int(Int64(unitsReceived))])
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
}
