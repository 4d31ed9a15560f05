#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

/// Metrics (the `getMetrics` method and the opt-in loopback listener) and `getStatus.health`, on real
/// daemons trading through the sandbox gateway: the counters agree with what happened, scraped over real
/// HTTP, and health follows the gateway going away.
@Suite struct MetricsAndHealthTests {
    /// The samples of a Prometheus text exposition: `name{labels}` → value (HELP/TYPE lines checked apart).
    static func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            out[String(line[..<space])] = Double(line[line.index(after: space)...])
        }
        return out
    }

    /// Every sample line belongs to a family announced by `# TYPE` before it, and the text ends in a newline.
    static func checkWellFormed(_ text: String) {
        #expect(text.hasSuffix("\n"))
        var typed: Set<String> = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                #expect(parts.count == 4 && ["counter", "gauge", "histogram"].contains(parts[3]), "\(line)")
                typed.insert(String(parts[2]))
            } else if !line.hasPrefix("# HELP ") {
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                let family = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) && !typed.contains($0) ? String($0.dropLast($1.count)) : $0 }
                #expect(typed.contains(family), "sample before its TYPE: \(line)")
                #expect(Double(line.split(separator: " ").last ?? "") != nil, "\(line)")
            }
        }
    }

    @Test func countersFollowAPurchaseAndTheListenerServesThem() async throws {
        let market = try await Market()
        let htePort = try unusedLoopbackPort()
        let producer = try await market.startProducer(htePort: htePort, config: ["metrics": ["listen": "127.0.0.1:0"]])
        let consumer = try await market.startConsumer()
        let p = try RawClient(path: producer.socketPath)
        let c = try RawClient(path: consumer.socketPath)
        let url: JSONValue = .string("http://127.0.0.1:\(htePort)")

        // Before any payment the gateway's reachability is unknown, and the Thing is healthy.
        let before = try await c.result("getStatus")
        #expect(before["health"]?["ok"] == true)
        #expect(before["health"]?["gateway"]?["reachable"] == .null)
        #expect(before["health"]?["store"]?["writable"] == true)
        #expect(before["health"]?["discovery"]?["scanner"] == true)
        #expect(before["health"]?["discovery"]?["broadcaster"] == .null)
        #expect(before["metricsURL"] == .null)

        let quote = try await c.result("selectService", ["url": url, "serviceId": 1, "priceId": 1, "numberOfUnits": 3])
        let purchase = try await c.result("makePayment", ["paymentReferenceId": try #require(quote["paymentReferenceId"])])
        let id = try #require(purchase["purchaseId"])
        _ = try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 2])
        _ = try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 2])
        #expect(try await c.call("makePayment", ["paymentReferenceId": "nope"])["error"]?["code"] == -32010)

        // The consumer's counters, through the RPC method.
        let consumerMetrics = try await c.result("getMetrics")
        #expect(consumerMetrics["contentType"] == "text/plain; version=0.0.4; charset=utf-8")
        let consumerText = try #require(consumerMetrics["text"]?.stringValue)
        Self.checkWellFormed(consumerText)
        let cs = Self.samples(consumerText)
        #expect(cs[#"wpwithind_payments_total{role="consumer",outcome="succeeded"}"#] == 1)
        #expect(cs[#"wpwithind_payment_amount_minor_units_total{role="consumer",currency="GBP"}"#] == 1500)
        #expect(cs[#"wpwithind_deliveries_total{role="consumer",phase="begin"}"#] == 1)
        #expect(cs[#"wpwithind_units_delivered_total{role="consumer"}"#] == 2)
        #expect(cs[#"wpwithind_rpc_calls_total{method="makePayment"}"#] == 2)
        #expect(cs[#"wpwithind_rpc_errors_total{method="makePayment",code="-32010"}"#] == 1)
        #expect(cs[#"wpwithind_hte_client_calls_total{route="payment",outcome="ok"}"#] == 1)
        #expect(cs[#"wpwithind_gateway_request_duration_seconds_count{operation="tokens",outcome="ok"}"#] == 1)
        #expect((cs[#"wpwithind_store_commit_duration_seconds_count{fsync="true"}"#] ?? 0) >= 1)
        #expect((cs["process_resident_memory_bytes"] ?? 0) > 1_000_000)
        // The card number is nowhere in the metrics.
        #expect(!consumerText.contains(Market.testPAN) && !consumerText.contains("1111"))

        // After a payment the gateway is known reachable.
        let after = try await c.result("getStatus")
        #expect(after["health"]?["gateway"]?["reachable"] == true)
        #expect(after["health"]?["ok"] == true)

        // The producer's, scraped over HTTP from its loopback listener.
        let metricsURL = try #require(try await p.result("getStatus")["metricsURL"]?.stringValue)
        let port = try #require(Int(metricsURL.split(separator: ":").last?.split(separator: "/").first ?? ""))
        #expect(metricsURL == "http://127.0.0.1:\(port)/metrics")
        let scraped = try await LoopbackHTTP.request(port: port, method: "GET", path: "/metrics")
        #expect(scraped.status == 200)
        #expect(scraped.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        Self.checkWellFormed(scraped.text)
        let ps = Self.samples(scraped.text)
        #expect(ps[#"wpwithind_payments_total{role="producer",outcome="succeeded"}"#] == 1)
        #expect(ps[#"wpwithind_payment_amount_minor_units_total{role="producer",currency="GBP"}"#] == 1500)
        #expect(ps[#"wpwithind_quotes_total{role="producer"}"#] == 1)
        #expect(ps[#"wpwithind_units_delivered_total{role="producer"}"#] == 2)
        #expect(ps[#"wpwithind_hte_requests_total{route="payment",status="200"}"#] == 1)
        #expect(ps[#"wpwithind_gateway_request_duration_seconds_count{operation="order",outcome="ok"}"#] == 1)
        #expect(ps["wpwithind_reconciliation_pending"] == 0)
        // What the gateway charged agrees with the counter.
        #expect(market.audit("order.placed").count == 1)

        // Anything but GET /metrics is a JSON error; the listener is loopback only.
        let missing = try await LoopbackHTTP.request(port: port, method: "GET", path: "/")
        #expect(missing.status == 404 && missing.json?["error"]?["status"] == 404)
        let posted = try await LoopbackHTTP.request(port: port, method: "POST", path: "/metrics")
        #expect(posted.status == 405 && posted.headers["allow"] == "GET")

        await market.stop()
    }

    @Test func healthSaysWhenTheGatewayIsGone() async throws {
        let market = try await Market()
        let htePort = try unusedLoopbackPort()
        let producer = try await market.startProducer(htePort: htePort)
        let consumer = try await market.startConsumer()
        let c = try RawClient(path: consumer.socketPath)
        let url: JSONValue = .string("http://127.0.0.1:\(htePort)")
        let quote = try await c.result("selectService", ["url": url, "serviceId": 1, "priceId": 1, "numberOfUnits": 1])
        await market.stop()  // the sandbox gateway is gone: nothing listens on its port any more
        let refused = try await c.call("makePayment", ["paymentReferenceId": try #require(quote["paymentReferenceId"])])
        #expect(refused["error"]?["code"] == -32022)
        let status = try await c.result("getStatus")
        #expect(status["health"]?["gateway"]?["reachable"] == false)
        #expect(status["health"]?["ok"] == false)
        #expect(status["health"]?["store"]?["writable"] == true)
        let text = try #require(try await c.result("getMetrics")["text"]?.stringValue)
        #expect(Self.samples(text)[#"wpwithind_gateway_request_duration_seconds_count{operation="tokens",outcome="unreachable"}"#] == 1)
        #expect(Self.samples(text)[#"wpwithind_payments_total{role="consumer",outcome="succeeded"}"#] == 0)
        #expect(try await c.result("listPurchases").arrayValue?.isEmpty == true)
        withExtendedLifetime(producer) {}
    }
}
