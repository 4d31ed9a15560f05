#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinClient
import WPWithinCore
import WPWithinTestSupport

/// A producer and a consumer daemon paying through the sandbox gateway served over https on 127.0.0.1
/// (`payments.gatewayEndpoint` = `https://127.0.0.1:PORT`), trusting a test CA made by the `openssl` CLI
/// through `payments.gatewayCAFile` (the producer by `WPWITHIND_GATEWAY_CA_FILE`, the consumer by its
/// configuration file): a payment is charged once, as the sandbox's audit log shows; a daemon that does not
/// trust the gateway's certificate sends it nothing, and the purchase fails as definitely not charged.
/// The daemons are driven with the Swift client over their sockets.
@Suite struct DaemonGatewayTLSTests {
    /// A TLS sandbox, the credential and catalog files, and what each daemon is told about trust.
    struct Setup {
        let dir: TempDir
        let certificates: TestCertificates
        let sandbox: SandboxGatewayProcess
        let discoveryPort: Int

        init() async throws {
            dir = try TempDir()
            certificates = try await TestCertificates.make(in: dir.path)
            sandbox = try await SandboxGatewayProcess.launch(
                directory: dir.path,
                merchants: [.init(clientKey: ProducerDaemonTests.clientKey, serviceKey: ProducerDaemonTests.serviceKey)],
                stateFile: false, control: false, tls: certificates.localhost)
            discoveryPort = try freeUDPPort()
        }

        /// Writes `text` to `name` in the test directory, mode 0600.
        func secret(_ name: String, _ text: String) throws -> String {
            let path = dir.file(name)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o600)
            return path
        }

        /// The producer sells RoboWash at 500 GBP minor units; `trusted`: it is given the test CA by environment.
        func producer(trusted: Bool) throws -> DaemonProcess {
            var environment = loopbackDiscovery(port: discoveryPort, roles: "producer")
            environment["WPWITHIND_GATEWAY_ENDPOINT"] = sandbox.endpoint
            environment["WPWITHIND_MERCHANT_FILE"] = try secret(
                "merchant.json", #"{"clientKey":"\#(ProducerDaemonTests.clientKey)","serviceKey":"\#(ProducerDaemonTests.serviceKey)"}"#)
            if trusted { environment["WPWITHIND_GATEWAY_CA_FILE"] = certificates.caFile }
            let catalog = try secret("producer.json", #"""
                {"producer":{"services":[{"id":1,"name":"RoboWash","description":"Car washed by robot","prices":[{"id":1,
                 "description":"Car wash","amount":500,"currencyCode":"GBP","unitId":1,"unitDescription":"Single wash"}]}]}}
                """#)
            return try DaemonProcess(dir: TempDir(), extraArguments: ["--config", catalog], environment: environment)
        }

        /// The consumer pays with a test card; `trusted`: it is given the test CA in its configuration file.
        func consumer(trusted: Bool) throws -> DaemonProcess {
            var environment = loopbackDiscovery(port: discoveryPort, roles: "consumer")
            environment["WPWITHIND_GATEWAY_ENDPOINT"] = sandbox.endpoint
            environment["WPWITHIND_CARD_FILE"] = try secret(
                "card.json", #"{"name":"Joe Bloggs","expMonth":12,"expYear":2099,"cardNumber":"4444333322221111","type":"Card","cvc":"123"}"#)
            let payments = trusted ? #"{"gatewayCAFile":"\#(certificates.caFile)"}"# : "{}"
            let configuration = try secret("consumer.json", #"{"payments":\#(payments)}"#)
            return try DaemonProcess(dir: TempDir(), extraArguments: ["--config", configuration], environment: environment)
        }

        /// Starts both daemons, finds the producer, selects 2 units and asks to pay: the quote's reference,
        /// the payment's outcome and the producer's log.
        func buy(
            producerTrusted: Bool, consumerTrusted: Bool
        ) async throws -> (reference: String, outcome: Result<WPWithinClient.Purchase, any Error>, producerLog: String) {
            let producer = try producer(trusted: producerTrusted)
            let consumer = try consumer(trusted: consumerTrusted)
            // On an early throw the daemons are killed when released (DaemonProcess.deinit).
            try await producer.waitUntilListening()
            try await consumer.waitUntilListening()
            let seller = try await WPWithinClient.connected(socketPath: producer.socketPath)
            let buyer = try await WPWithinClient.connected(socketPath: consumer.socketPath)
            // The Swift client's typed methods, against real daemons: every result decodes into its struct.
            let serverId = try await seller.getDevice().serverId
            _ = try await seller.startServiceBroadcast()
            _ = try await buyer.searchForDevice(serverId: serverId, timeoutMs: 30_000)
            let quote = try await buyer.selectService(.serverId(serverId), serviceId: 1, priceId: 1, numberOfUnits: 2)
            let reference = quote.paymentReferenceId
            let outcome: Result<WPWithinClient.Purchase, any Error>
            do {
                outcome = .success(try await buyer.makePayment(paymentReferenceId: reference))
            } catch {
                outcome = .failure(error)
            }
            await seller.close()
            await buyer.close()
            _ = try await consumer.stop()
            _ = try await producer.stop()
            return (reference, outcome, producer.log)
        }

        func finish() async { await sandbox.stop() }
    }

    @Test func aPaymentOverHTTPSIsChargedOnceAndAudited() async throws {
        let setup = try await Setup()
        let (reference, outcome, _) = try await setup.buy(producerTrusted: true, consumerTrusted: true)
        await setup.finish()
        let purchase = try outcome.get()
        #expect(purchase.unitsBought == 2)
        #expect(purchase.totalPaid == 1000)
        let audit = setup.sandbox.audit
        #expect(audit.events("token.created").count == 1)
        #expect(audit.charges(reference: reference).map(\.amount) == [1000])
        #expect(audit.charges.count == 1)
    }

    /// The consumer does not trust the gateway (the test CA is in no system store): its token call never
    /// reaches the gateway. The producer does not: the token exists, the order is never sent. Either way
    /// the payment fails with `gatewayUnavailable` (definitely not charged) and the audit shows no charge.
    @Test(arguments: [(false, true), (true, false)])
    func aDaemonThatDoesNotTrustTheGatewaySendsItNothing(producerTrusted: Bool, consumerTrusted: Bool) async throws {
        let setup = try await Setup()
        let (_, outcome, producerLog) = try await setup.buy(producerTrusted: producerTrusted, consumerTrusted: consumerTrusted)
        await setup.finish()
        guard case .failure(let failure) = outcome else {
            Issue.record("the payment went through: \(outcome)")
            return
        }
        let error = try #require(failure as? WPWError, "\(failure)")
        #expect(error.code == .gatewayUnavailable)
        if consumerTrusted {
            // The producer's refusal reaches the consumer as its bare code; the reason is in the producer's log.
            #expect(producerLog.contains("Gateway TLS handshake failed; nothing was sent"), "\(producerLog)")
            #expect(producerLog.contains("certificateUntrusted"))
        } else {
            #expect(error.data?["tls"] == "certificateUntrusted", "\(error)")
        }
        let audit = setup.sandbox.audit
        #expect(audit.events("token.created").count == (consumerTrusted ? 1 : 0))
        #expect(audit.events("order.placed").isEmpty)
    }

    /// The trust anchors are loaded by `--check-config` (and at start): a CA file that cannot be used is a
    /// configuration error naming the key, as is a relative path; a good one is reported.
    @Test func checkConfigLoadsTheGatewaysTrustAnchors() async throws {
        let dir = try TempDir()
        let certificates = try await TestCertificates.make(in: dir.path)
        func check(_ caFile: String) async throws -> CheckConfigTests.Run {
            try await CheckConfigTests.wpwithind(
                ["--check-config"],
                environment: ["WPWITHIND_GATEWAY_ENDPOINT": "https://127.0.0.1:1/v1", "WPWITHIND_GATEWAY_CA_FILE": caFile])
        }
        let good = try await check(certificates.caFile)
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.contains("gateway trust anchors \(certificates.caFile)"), "\(good.stdout)")
        let missing = try await check(dir.file("missing.pem"))
        #expect(missing.status == 78)
        #expect(missing.stderr.contains("payments.gatewayCAFile") && missing.stderr.contains("cannot load CA file"), "\(missing.stderr)")
        let relative = try await check("ca.pem")
        #expect(relative.status == 78)
        #expect(relative.stderr.contains("payments.gatewayCAFile: must be an absolute path"), "\(relative.stderr)")
        let badEndpoint = try await CheckConfigTests.wpwithind(["--check-config"], environment: ["WPWITHIND_GATEWAY_ENDPOINT": "https://host/v1?x"])
        #expect(badEndpoint.status == 78)
        #expect(badEndpoint.stderr.contains("payments.gatewayEndpoint"), "\(badEndpoint.stderr)")
    }
}
