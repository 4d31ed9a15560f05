#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import WPWithinCore
import WPWithinTestSupport

/// `wpw-bench fleet` (`make bench-fleet`): a fleet of 1, 2 and 4 `wpwithind-fleet` producers on one PostgreSQL
/// (a throwaway server in a temporary directory, Unix socket only), one `wpwithind` consumer whose clients are
/// spread over the members, the sandbox gateway. For each size: flows/s and p50 with `--clients` clients, CPU
/// per flow of the members, the consumer, the gateway and PostgreSQL, and the correctness audit (one charge
/// per paid order, the shared stock down by exactly the units sold). The NIO line-echo floor of the same run
/// is reported first: figures are comparable across runs only beside it (docs/benchmarks.md).
struct FleetBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Flows/s and p50 of a fleet of 1, 2 and 4 producers on one PostgreSQL, with the correctness audit (docs/fleet.md)."
    )

    @Option(help: "Fleet sizes to measure, comma-separated.") var members = "1,2,4"
    @Option(help: "Concurrent clients (threads, each with a connection to the consumer).") var clients = 16
    @Option(help: "Seconds of load per fleet size.") var seconds = 15.0
    @Option(help: "store.postgresql.poolSize of each member.") var poolSize = 4
    @Flag(help: "A short run (4 s per size).") var quick = false
    @Option(help: "Write the JSON report here too.") var json: String?

    static let stock = 1_000_000

    func run() throws {
        let sizes = members.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ (1...8).contains($0) }), clients >= 1 else {
            throw ValidationError("--members wants sizes 1 … 8, --clients ≥ 1")
        }
        let duration = quick ? 4 : seconds
        let report = Report()
        let dir = try BenchDirectory()
        defer { dir.remove() }
        report.section("Machine speed (NIO line echo, sequential, 3 × 2 s)")
        let floor = try echoFloor(dir)
        report.add("fleet.echo.sequential.callsPerSecond", "raw line echo floor, sequential", floor.median, "lines/s", spread: floor)
        for size in sizes {
            FileHandle.standardError.write(Data("fleet: \(size) member(s), \(clients) clients, \(Report.number(duration)) s\n".utf8))
            try measure(size: size, duration: duration, report: report)
        }
        print(report.table())
        if let json {
            let object = report.json(header: ["schema": "wpw-bench-fleet/1", "members": sizes, "clients": clients, "seconds": duration])
            try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
        }
        if report.correctnessFailed { throw ExitCode(2) }
    }

    func echoFloor(_ dir: BenchDirectory) throws -> Spread {
        let socket = dir.path("echo.sock")
        let echo = try Child(binDirectory + "/wpw-bench", ["echo-server", "--socket", socket], stderr: dir.path("echo.log"))
        defer { echo.stop() }
        try waitForSocket(socket, child: echo)
        let request = Array(#"{"jsonrpc":"2.0","id":1,"method":"getDevice"}"#.utf8) + [0x0A]
        return Spread(samples: try (0..<3).map { _ in
            try roundTripsPerSecond(socket: socket, request: request, depth: 1, seconds: 2, expectResult: false)
        })
    }

    /// One fleet of `size` members: start everything, warm up, load, audit, stop.
    func measure(size: Int, duration: Double, report: Report) throws {
        let postgres = try PostgresServer()
        defer { postgres.destroy() }
        let dir = try BenchDirectory()
        defer { dir.remove() }
        let auditLog = dir.path("gateway-audit.jsonl")
        let gateway = try Child(binDirectory + "/wpw-sandbox-gateway",
                                ["--host", "127.0.0.1", "--port", "0", "--audit-log", auditLog, "--log-level", "warning"],
                                stdout: dir.path("gateway.out"), stderr: dir.path("gateway.log"))
        defer { gateway.stop() }
        let endpoint = "http://127.0.0.1:\(try Cluster.announcedPort(dir.path("gateway.out"), gateway))"
        let discoveryPort = try freeUDPPort()
        let merchant = try dir.write("merchant.json", BenchCredentials.merchant, mode: 0o600)
        let card = try dir.write("card.json", BenchCredentials.card, mode: 0o600)
        var catalog = BenchCatalog(loadStock: Self.stock, scarceStock: 50).configJSON
        catalog.removeLast()  // the closing brace: the store's settings go in the same object
        let config = try dir.write("member.json", catalog + #","store":{"backend":"postgresql","postgresql":{"connection":"\#(postgres.connectionString)","poolSize":\#(poolSize)}}}"#)
        // One after the other: the first creates the fleet and its catalog.
        var fleet: [Daemon] = []
        defer { for member in fleet { member.stop() } }
        for index in 0..<size {
            fleet.append(try Daemon(
                name: "member\(index)", in: dir,
                environment: Cluster.producerEnvironment(discoveryPort: discoveryPort, gateway: endpoint, merchantFile: merchant, synchronous: "full"),
                extraArguments: ["--config", config], executable: binDirectory + "/wpwithind-fleet"))
        }
        let consumer = try Daemon(
            name: "consumer", in: dir,
            environment: Cluster.consumerEnvironment(discoveryPort: discoveryPort, gateway: endpoint, cardFile: card, synchronous: "full"))
        defer { consumer.stop() }
        var serverIDs: [String] = []
        for member in fleet {
            let client = try member.client()
            serverIDs.append(try client.call("getDevice")["serverId"]?.stringValue ?? "")
            _ = try client.call("startServiceBroadcast", #"{"timeoutMs":0}"#)
        }
        let consumerClient = try consumer.client()
        for id in serverIDs {
            _ = try consumerClient.call("searchForDevice", #"{"serverId":"\#(id)","timeoutMs":60000}"#)
        }
        // Warm-up: a few flows at each member.
        for round in 0..<(10 * size) {
            _ = try purchaseFlow(consumerClient, serverID: serverIDs[round % size], serviceID: BenchCatalog.loadService)
        }
        let postmaster = pid_t(readTextFile(postgres.directory + "/data/postmaster.pid")?.split(separator: "\n").first.flatMap { Int32($0) } ?? 0)
        func cpu() -> (members: Double, consumer: Double, gateway: Double, postgres: Double) {
            (fleet.map { cpuSeconds($0.pid) }.reduce(0, +), cpuSeconds(consumer.pid), cpuSeconds(gateway.pid),
             ([postmaster] + children(of: postmaster)).map { cpuSeconds($0) }.reduce(0, +))
        }
        let before = cpu()
        let load = FlowLoad(.init(
            clients: clients, socket: consumer.socket, serverID: serverIDs[0], serverIDs: serverIDs, serviceID: BenchCatalog.loadService,
            deadline: monotonicNanos() + UInt64(duration * 1e9)))
        load.start()
        let result = load.wait()
        try result.requireHealthy()
        let after = cpu()
        let flows = Double(max(1, result.flows))
        let used = [after.members - before.members, after.consumer - before.consumer, after.gateway - before.gateway, after.postgres - before.postgres]
            .map { $0 * 1000 / flows }

        report.section("Fleet of \(size) member(s) on one PostgreSQL, \(clients) clients spread over them, \(Report.number(duration)) s")
        let key = "fleet.members\(size)"
        report.add("\(key).flowsPerSecond", "flows/s", result.flowsPerSecond, "flows/s")
        report.add("\(key).p50Ms", "flow p50 under load", result.latencies.percentileMs(50), "ms",
                   note: "p99 \(Report.number(result.latencies.percentileMs(99))) ms")
        report.add("\(key).failedFlows", "failed flows", Double(result.failureCount), "flows", note: result.failureText)
        report.add("\(key).cpuMsPerFlow", "CPU per flow: members / consumer / gateway / PostgreSQL", used.reduce(0, +), "ms",
                   note: used.map { String(format: "%.2f", $0) }.joined(separator: " / ") + " ms")

        // The audit, from outside: the gateway's charges against the fleet's orders and its stock.
        let charges = try GatewayAudit(path: auditLog).charges
        let references = charges.map { Order.paymentReference(ofCustomerOrderCode: $0.customerOrderCode) }
        let paid = Int(try postgres.psql("SELECT count(*) FROM producer_order WHERE state = 'paid'").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let stock = Int(try postgres.psql("SELECT stock FROM price WHERE service_id = \(BenchCatalog.loadService)")
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let bought = result.flows + 10 * size
        report.check("\(key).oneChargePerOrder", "\(size) member(s): one charge per payment reference",
                     Set(references).count == references.count, "\(references.count) charges, \(Set(references).count) references")
        report.check("\(key).chargesArePaidOrders", "\(size) member(s): charges = paid orders = flows",
                     charges.count == paid && paid == bought, "\(charges.count) charges, \(paid) paid orders, \(bought) flows")
        report.check("\(key).stock", "\(size) member(s): the shared stock went down by the units sold",
                     Self.stock - stock == bought, "stock \(stock) of \(Self.stock) after \(bought) units")
        if size > 1 {
            let sellers = Int(try postgres.psql("SELECT count(DISTINCT charged_by) FROM producer_order WHERE state = 'paid'")
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            report.check("\(key).everyMemberSold", "\(size) member(s): every member sold", sellers == size, "\(sellers) of \(size) members charged")
        }
    }

    /// The processes whose parent is `parent` (PostgreSQL's backends and workers).
    private func children(of parent: pid_t) -> [pid_t] {
        guard parent > 0 else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), let stat = readTextFile("/proc/\(entry)/stat"),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == parent ? pid : nil
        }
    }
}
