#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

/// A market for fault tests: the sandbox gateway with a state file and its control API, a fault proxy
/// between the producer and the gateway, a producer (fixed HTE port, so a restart keeps its URL), a fault
/// proxy in front of the producer's HTE port (the consumer buys through it), and a consumer. Every process is
/// real and on 127.0.0.1.
///
/// Timeouts are short so that a fault is noticed soon; no test asserts how long anything took.
final class FaultMarket: @unchecked Sendable {
    static let stock = 100
    let dir: TempDir
    let sandbox: SandboxGatewayProcess
    let gatewayProxy: FaultProxy
    let htePort: Int
    let hteProxy: FaultProxy
    let merchantPath: String
    let cardPath: String
    let producerConfigPath: String
    let consumerConfigPath: String
    let producerDir: TempDir
    let consumerDir: TempDir
    private(set) var producer: DaemonProcess!
    private(set) var consumer: DaemonProcess!

    /// - Parameters:
    ///   - settleAfterSeconds: how long the producer waits before abandoning an attempt the gateway does not know.
    ///   - producerVolume: mount a tmpfs of this size as the producer's state directory (needs root).
    ///   - refundOnExpiry: the price refunds undelivered units (at expiry, and on request).
    ///   - tokenTTLSeconds: the producer's token TTL (short for expiry refunds).
    ///   - refundCheckSeconds: how often the consumer asks about the refund of expired purchases.
    init(
        settleAfterSeconds: Int = 3600, reserveBytes: Int? = nil, producerVolumeBytes: Int? = nil, refundOnExpiry: Bool = false,
        tokenTTLSeconds: Int? = nil, refundCheckSeconds: Int = 60
    ) async throws {
        dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("gateway"), withIntermediateDirectories: true)
        sandbox = try await SandboxGatewayProcess.launch(directory: dir.file("gateway"), merchants: [.example])
        gatewayProxy = try await FaultProxy.launch(upstreamPort: sandbox.port, stderrPath: dir.file("gateway-proxy.log"))
        htePort = try unusedLoopbackPort()
        hteProxy = try await FaultProxy.launch(upstreamPort: htePort, stderrPath: dir.file("hte-proxy.log"))
        merchantPath = dir.file("merchant.json")
        try Data(#"{"clientKey":"\#(SandboxGatewayProcess.Merchant.example.clientKey)","serviceKey":"\#(SandboxGatewayProcess.Merchant.example.serviceKey)"}"#.utf8)
            .write(to: URL(fileURLWithPath: merchantPath))
        chmod(merchantPath, 0o600)
        cardPath = dir.file("card.json")
        try Data(#"{"name":"Joe Bloggs","expMonth":12,"expYear":2099,"cardNumber":"\#(Market.testPAN)","type":"Card","cvc":"123"}"#.utf8)
            .write(to: URL(fileURLWithPath: cardPath))
        chmod(cardPath, 0o600)
        var store: [String: JSONValue] = [:]
        if let reserveBytes { store["reserveBytes"] = .int(Int64(reserveBytes)) }
        if producerVolumeBytes != nil { store["minimumFreeBytes"] = .int(128 << 10) }
        var producerSection: [String: JSONValue] = [
            "services": [[
                "id": 1, "name": "RoboWash", "description": "Car washed by robot",
                "prices": [["id": 1, "description": "Car wash", "amount": 500, "currencyCode": "GBP", "unitId": 1,
                            "unitDescription": "Single wash", "stock": .int(Int64(Self.stock)), "refundOnExpiry": .bool(refundOnExpiry)]],
            ]],
        ]
        if let tokenTTLSeconds { producerSection["tokenTtlSeconds"] = .int(Int64(tokenTTLSeconds)) }
        let producerConfig: JSONValue = [
            "producer": .object(producerSection),
            "payments": [
                "connectTimeoutMs": 1000, "totalTimeoutMs": 1500,
                "recovery": [
                    "settleAfterSeconds": .int(Int64(settleAfterSeconds)), "minimumNotFoundLookups": 3,
                    "watchSeconds": 3600, "retryIntervalMs": 100, "maxRetryIntervalMs": 400,
                ],
            ],
            "store": .object(store),
        ]
        producerConfigPath = dir.file("producer.json")
        try Data(producerConfig.jsonString.utf8).write(to: URL(fileURLWithPath: producerConfigPath))
        consumerConfigPath = dir.file("consumer.json")
        try Data(#"{"consumer":{"peerTimeoutMs":6000,"refundCheckSeconds":\#(refundCheckSeconds)}}"#.utf8).write(to: URL(fileURLWithPath: consumerConfigPath))
        producerDir = try TempDir()
        consumerDir = try TempDir()
        if let producerVolumeBytes {
            volume = try TmpfsVolume(at: producerDir.file("state"), bytes: producerVolumeBytes)
        }
        producer = try await startProducer()
        consumer = try await startConsumer()
    }

    /// The producer's state volume, when the market was made with one.
    private(set) var volume: TmpfsVolume?

    var url: JSONValue { .string(hteProxy.url) }

    func startProducer() async throws -> DaemonProcess {
        let daemon = try DaemonProcess(dir: producerDir, extraArguments: ["--config", producerConfigPath], environment: [
            "WPWITHIND_ROLES": "producer", "WPWITHIND_GATEWAY_ENDPOINT": gatewayProxy.url,
            "WPWITHIND_MERCHANT_FILE": merchantPath, "WPWITHIND_HTE_PORT": String(htePort),
        ])
        try await daemon.waitUntilListening()
        return daemon
    }

    func startConsumer() async throws -> DaemonProcess {
        let daemon = try DaemonProcess(dir: consumerDir, extraArguments: ["--config", consumerConfigPath], environment: [
            "WPWITHIND_ROLES": "consumer", "WPWITHIND_GATEWAY_ENDPOINT": sandbox.endpoint, "WPWITHIND_CARD_FILE": cardPath,
        ])
        try await daemon.waitUntilListening()
        return daemon
    }

    func restartProducer(kill9: Bool = false) async throws {
        try await Self.end(producer, kill9: kill9)
        producer = try await startProducer()
    }

    func restartConsumer(kill9: Bool = false) async throws {
        try await Self.end(consumer, kill9: kill9)
        consumer = try await startConsumer()
    }

    /// Stops the consumer, lets `edit` change its state directory (the path given), and starts it again.
    func restartConsumer(editingStateDir edit: (String) throws -> Void) async throws {
        try await Self.end(consumer, kill9: false)
        try edit(consumer.stateDir)
        consumer = try await startConsumer()
    }

    private static func end(_ daemon: DaemonProcess, kill9: Bool) async throws {
        if kill9 {
            daemon.signal(SIGKILL)
            _ = try await daemon.waitForExit()
        } else if daemon.isRunning {
            _ = try await daemon.stop()
        }
    }

    func consumerClient() throws -> RawClient { try RawClient(path: consumer.socketPath) }
    func producerClient() throws -> RawClient { try RawClient(path: producer.socketPath) }

    /// `selectService` through the HTE proxy; returns the payment reference.
    func select(units: Int = 2) async throws -> String {
        let quote = try await consumerClient().result("selectService", ["url": url, "serviceId": 1, "priceId": 1, "numberOfUnits": .int(Int64(units))])
        return try #require(quote["paymentReferenceId"]?.stringValue)
    }

    static let retryable: Set<Int64> = Set([
        WPWError.Code.paymentOutcomeUnknown, .peerUnreachable, .peerRejected, .conflict, .unavailable, .gatewayUnavailable,
    ].map { Int64($0.rawValue) })

    /// `makePayment` until it answers something a careful app does not retry (a purchase, or a final error).
    /// Polls: how long it takes is not what is checked.
    func payRetrying(_ reference: String, deadline: Duration = .seconds(120)) async throws -> JSONValue {
        let end = ContinuousClock.now + deadline
        var last: JSONValue = .null
        while ContinuousClock.now < end {
            last = try await consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60))
            guard let code = last["error"]?["code"]?.int64Value, Self.retryable.contains(code) else { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }

    /// Waits (on the producer's journal, not a clock) for an event of `type` matching `predicate`.
    func waitForProducerEvent(_ type: String, timeout: Duration = .seconds(120), where predicate: (JSONValue) -> Bool = { _ in true }) async throws -> JSONValue {
        let events = try producerClient()
        let subscribed = try await events.result("subscribe", ["types": [.string(type)], "resumeFrom": 0])
        var replayed = Int(subscribed["replayed"]?.int64Value ?? 0)
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            let message = try await events.readJSON(timeout: timeout)
            if replayed > 0 { replayed -= 1 }
            if let params = message["params"], params["type"]?.stringValue == type, predicate(params) { return params }
        }
        throw HarnessError("no \(type) event")
    }

    /// Begins and ends deliveries until every unit of every purchase is delivered (settling unsettled ones).
    func deliverEverything() async throws {
        let c = try consumerClient()
        for purchase in try await c.result("listPurchases").arrayValue ?? [] {
            let id = purchase["purchaseId"] ?? .null
            for _ in 0..<20 {
                guard let current = try await c.result("listPurchases").arrayValue?.first(where: { $0["purchaseId"] == id }) else { break }
                if current["unsettled"] == "begin" || (current["unitsInFlight"]?.int64Value ?? 0) > 0 {
                    _ = try await c.call("endServiceDelivery", ["purchaseId": id, "unitsReceived": current["unitsInFlight"] ?? 0])
                    continue
                }
                let remaining = current["unitsRemaining"]?.int64Value ?? 0
                if remaining == 0 { break }
                let begun = try await c.call("beginServiceDelivery", ["purchaseId": id, "units": .int(remaining)])
                if let granted = begun["result"]?["unitsToSupply"] {
                    _ = try await c.call("endServiceDelivery", ["purchaseId": id, "unitsReceived": granted])
                }
            }
        }
    }

    /// The audit from outside: the gateway's own log of charges and refunds against the consumer's purchases and
    /// the producer's stock. `expectDelivered`: every unit bought has been delivered (else: is collectable).
    func audit(expectDelivered: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let gateway = sandbox.audit
        // Charges and refunds per payment reference (attempt n > 1 goes as `<reference>.<n>`).
        var charged: [String: [GatewayAudit.Charge]] = [:]
        for charge in gateway.charges { charged[Order.paymentReference(ofCustomerOrderCode: charge.customerOrderCode), default: []].append(charge) }
        let purchases = try await consumerClient().result("listPurchases").arrayValue ?? []
        var bought = 0
        for (reference, charges) in charged {
            let standing = charges.filter { gateway.refunded(orderCode: $0.orderCode) < $0.amount }
            // At most one charge per payment reference, ever (a refunded one counts too).
            #expect(charges.count <= 1, "reference \(reference) is charged \(charges.count) times: \(charges)", sourceLocation: sourceLocation)
            let purchase = purchases.first { $0["paymentReferenceId"]?.stringValue == reference }
            if let charge = standing.first {
                // Honoured: the consumer holds the purchase, for the amount charged; what the gateway refunded of
                // it is exactly the units refunded (charged = honoured + refunded).
                #expect(purchase != nil, "charge \(charge.orderCode) of \(reference) is neither honoured nor refunded", sourceLocation: sourceLocation)
                #expect(purchase?["totalPaid"]?.int64Value == charge.amount, sourceLocation: sourceLocation)
                if let purchase {
                    let units = purchase["unitsBought"]?.int64Value ?? 1
                    let refundedUnits = purchase["unitsRefunded"]?.int64Value ?? -1
                    let honoured = charge.amount / units * (units - refundedUnits)
                    #expect(gateway.refunded(orderCode: charge.orderCode) == purchase["amountRefunded"]?.int64Value, "\(reference): gateway refunds \(gateway.refunds(orderCode: charge.orderCode)), purchase \(purchase)", sourceLocation: sourceLocation)
                    #expect(gateway.balances(reference: charge.customerOrderCode, honoured: honoured), "\(reference): charged ≠ honoured \(honoured) + refunded", sourceLocation: sourceLocation)
                }
            } else {
                #expect(purchase == nil, "refunded \(reference) has a purchase", sourceLocation: sourceLocation)
            }
        }
        for purchase in purchases {
            let reference = purchase["paymentReferenceId"]?.stringValue ?? ""
            #expect(charged[reference]?.isEmpty == false, "purchase \(reference) was never charged", sourceLocation: sourceLocation)
            let units = Int(purchase["unitsBought"]?.int64Value ?? 0)
            bought += units
            let delivered = Int(purchase["unitsDelivered"]?.int64Value ?? -1) + Int(purchase["unitsRefunded"]?.int64Value ?? 0)
            let remaining = Int(purchase["unitsRemaining"]?.int64Value ?? -1)
            #expect(purchase["unitsInFlight"] == 0 && purchase["unsettled"] == .null, "\(purchase)", sourceLocation: sourceLocation)
            if expectDelivered {
                #expect(delivered == units, "purchase \(reference): \(delivered) of \(units) delivered", sourceLocation: sourceLocation)
            } else {
                #expect(delivered + remaining == units, "purchase \(reference): units lost", sourceLocation: sourceLocation)
            }
        }
        // Stock sold = units paid for.
        let services = try await producerClient().result("listServices").arrayValue ?? []
        let stock = services.first?["prices"]?.arrayValue?.first?["stock"]?.int64Value
        #expect(stock.map { Self.stock - Int($0) } == bought, "stock \(stock ?? -1) of \(Self.stock) after \(bought) units bought", sourceLocation: sourceLocation)
        for log in [producer.log, consumer.log] { #expect(!log.contains(Market.testPAN), sourceLocation: sourceLocation) }
    }

    /// A test that throws before `stop()` must not leave processes behind: every process whose command line
    /// names this market's directory (the sandbox, the proxies' logs) is killed. The daemons kill themselves
    /// in `DaemonProcess.deinit`.
    deinit {
        kill(gatewayProxy.processIdentifier, SIGKILL)
        kill(hteProxy.processIdentifier, SIGKILL)
        let marker = dir.path
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  String(decoding: cmdline, as: UTF8.self).contains(marker)
            else { continue }
            kill(pid, SIGKILL)
        }
    }

    func stop() async {
        if let keep = ProcessInfo.processInfo.environment["WPW_KEEP_LOGS"] {
            // Debugging aid: keep every log of the market.
            let target = keep + "/" + UUID().uuidString.prefix(8)
            try? FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            for path in [producer.logPath, consumer.logPath, dir.file("gateway-proxy.log"), dir.file("hte-proxy.log"), sandbox.auditLog] {
                try? FileManager.default.copyItem(atPath: path, toPath: target + "/" + (path as NSString).lastPathComponent)
            }
        }
        // stop() replays each daemon's journal first: every event the test caused is validated (docs/testing.md).
        if let consumer, consumer.isRunning { _ = try? await consumer.stop() }
        if let producer, producer.isRunning { _ = try? await producer.stop() }
        await hteProxy.stop()
        await gatewayProxy.stop()
        await sandbox.stop()
    }
}
