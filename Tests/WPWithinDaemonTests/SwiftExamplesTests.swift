import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

/// The Swift example apps (`examples/swift`) against real daemons and the sandbox gateway: the car wash
/// registers, broadcasts and washes; the consumer discovers it, buys 3 washes and uses them in two sessions.
@Suite struct SwiftExamplesTests {
    @Test func theCarWashAndTheConsumerTradeThreeWashes() async throws {
        let market = try await Market()
        let producer = try await market.startProducer()
        let consumer = try await market.startConsumer()
        let serverId = try await #require(try RawClient(path: producer.socketPath).result("getDevice")["serverId"]?.stringValue)

        let carwash = try LaunchedProcess.launch(
            BuiltExecutable.url(named: "wpw-example-carwash"),
            arguments: ["--socket", producer.socketPath, "--deliveries", "2", "--service-id", "5"],
            stderrPath: market.dir.file("carwash.err"))
        var producerLines: [String] = []
        while !(producerLines.last ?? "").hasPrefix("ready:") { producerLines.append(try await carwash.nextLine(limit: .seconds(30))) }
        #expect(producerLines.contains("service 5 registered: RoboWash, 5.00 GBP a wash"))

        let buyer = try LaunchedProcess.launch(
            BuiltExecutable.url(named: "wpw-example-consumer"),
            arguments: ["--socket", consumer.socketPath, "--server-id", serverId, "--units", "3"],
            stderrPath: market.dir.file("consumer.err"))
        var consumerLines: [String] = []
        while consumerLines.last != "done" { consumerLines.append(try await buyer.nextLine(limit: .seconds(30))) }
        // Both apps end by themselves after their last line (terminating them then raced their exit).
        #expect(await buyer.waitForExit() == 0)
        #expect(consumerLines.contains { $0.hasPrefix("discovered: ") && $0.contains(serverId) })
        #expect(consumerLines.contains { $0.hasPrefix("paid: purchase ") && $0.contains("15.00 GBP, 3 unit(s)") })
        #expect(consumerLines.contains("delivery 1 ended: 2 delivered, 1 remaining"))
        #expect(consumerLines.contains("delivery 2 ended: 3 delivered, 0 remaining"))

        while !(producerLines.last ?? "").hasPrefix("stopped after") { producerLines.append(try await carwash.nextLine(limit: .seconds(30))) }
        #expect(await carwash.waitForExit() == 0)
        #expect(producerLines.filter { $0.hasPrefix("delivery begun: washing") }.count == 2)
        #expect(producerLines.last == "stopped after 2 deliveries")
        #expect(market.audit("order.placed").count == 1)

        #expect(try await consumer.stop() == 0)
        #expect(try await producer.stop() == 0)
        await market.stop()
    }
}
