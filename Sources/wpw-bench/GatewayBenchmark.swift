import ArgumentParser
import Foundation
import Logging
import WPWithinCore
import WPWithinPayments

/// `wpw-bench gateway`: token + order round trips through `WorldpayOnlineGateway` against a freshly
/// started `wpw-sandbox-gateway` process on 127.0.0.1 (ephemeral port).
struct GatewayBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Measure createToken + placeOrder round trips against the sandbox gateway."
    )

    @Option(name: .shortAndLong, help: "Measured iterations.")
    var iterations = 2000

    @Option(help: "Warm-up iterations (not measured).")
    var warmup = 200

    @Option(help: "Path of wpw-sandbox-gateway (default: next to this executable).")
    var sandbox: String?

    func run() async throws {
        let executable = sandbox ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("wpw-sandbox-gateway").path
        let process = try SandboxGatewayProcess(executable: executable)
        defer { process.stop() }

        let merchant = MerchantCredentials(
            clientKey: "T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356", serviceKey: "T_S_3bdadc9c-54e0-4587-8d91-29813060fecd"
        )
        let logger = Logger(label: "wpw-bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let endpoint = try GatewayEndpoint("http://127.0.0.1:\(process.port)/v1")
        let consumer = WorldpayOnlineGateway(configuration: .init(endpoint: endpoint), logger: logger)
        let producer = WorldpayOnlineGateway(configuration: .init(endpoint: endpoint, merchant: merchant), logger: logger)
        let card = PaymentCard(cardholderName: "Bench Mark", cardNumber: "4444333322221111", expiryMonth: 12, expiryYear: 2099, cvc: "123")
        let price = Money(minorUnits: 500, currency: Currency(code: "GBP")!)
        let total = Money(minorUnits: 5000, currency: Currency(code: "GBP")!)
        let description = OrderDescription.make(serviceName: "RoboWash", units: 10, unitPrice: price)

        func roundTrip(_ index: Int) async throws {
            let token = try await consumer.createToken(card: card, clientKey: merchant.clientKey)
            let result = try await producer.placeOrder(
                OrderRequest(token: token, amount: total, orderDescription: description, customerOrderCode: "bench-\(index)")
            )
            guard result.isSuccess else { throw ValidationError("order \(index) not successful") }
        }

        for index in 0..<warmup { try await roundTrip(-1 - index) }
        var tokenAndOrder = LatencyStats(capacity: iterations)
        let clock = ContinuousClock()
        let started = clock.now
        for index in 0..<iterations {
            let begin = clock.now
            try await roundTrip(index)
            tokenAndOrder.add(clock.now - begin)
        }
        let elapsed = clock.now - started
        print(tokenAndOrder.report(name: "gateway token+order round trip", total: elapsed))
        consumer.shutdown()
        producer.shutdown()
    }
}

/// A `wpw-sandbox-gateway` child process on an ephemeral loopback port.
final class SandboxGatewayProcess {
    let process = Process()
    let port: Int

    init(executable: String) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--host", "127.0.0.1", "--port", "0", "--log-level", "warning"]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.standardError
        try process.run()
        var buffer = Data()
        let reader = stdout.fileHandleForReading
        while !buffer.contains(UInt8(ascii: "\n")) {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
        }
        let line = buffer.split(separator: UInt8(ascii: "\n")).first ?? Data()
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(line)), let port = value["port"]?.int64Value else {
            process.terminate()
            throw ValidationError("sandbox did not announce its port: \(String(decoding: buffer, as: UTF8.self))")
        }
        self.port = Int(port)
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
