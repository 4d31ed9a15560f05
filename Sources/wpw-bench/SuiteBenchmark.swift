#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import WPWithinCore

/// `wpw-bench suite`: what `make bench` runs. Starts the sandbox gateway, a producer and a consumer on loopback and
/// measures the purchase flow (sequential and 16 clients), discovery, socket RPC, memory and start-up; prints a
/// table with each figure beside its target and writes every figure to a JSON file. See docs/benchmarks.md.
struct SuiteBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suite",
        abstract: "The whole benchmark (make bench): flows, concurrency, discovery, RPC, memory, start-up."
    )

    @Flag(help: "A smaller run (under a minute): fewer flows, shorter phases. Said so in the output and the JSON.")
    var quick = false

    @Option(help: "Where to write the JSON results (default: bench-results/bench-<time>[-quick].json).")
    var json: String?

    @Option(help: "The commit measured (make bench passes `git describe --always --dirty`).")
    var commit = "unknown"

    @Option(help: "The toolchain (make bench passes the first line of `swift --version`).")
    var toolchain = "unknown"

    @Option(help: "Sequential flows measured (default 2000; quick 200).") var flows: Int?
    @Option(help: "Clients of the concurrency and memory phases.") var clients = 16
    @Option(help: "Seconds of the concurrency phase (default 20; quick 4).") var concurrencySeconds: Double?
    @Option(help: "Stock of the scarce service raced for by every client.") var scarceStock = 50
    @Option(help: "Flows after which RSS is reported (default 100000; quick 5000).") var memoryFlows: Int?
    @Option(help: "Longest the memory phase may run, seconds (default: what the wall budget leaves).") var memorySeconds: Double?
    @Option(help: "Wall-time budget of the whole suite, seconds (default 250; quick 35): the memory phase gets what the other phases leave.")
    var budgetSeconds: Double?
    @Option(help: "searchForDevice runs, each by a freshly started consumer (default 20; quick 5).") var discoveryRuns: Int?
    @Option(help: "Producer restarts timed for exec → READY=1 (default 20; quick 5).") var starts: Int?
    @Option(help: "Seconds per RPC measurement (default 1; quick 0.4).") var rpcSeconds: Double?
    @Option(help: "Repeats of each RPC measurement (interleaved with the echo floor).") var rpcRepeats = 3
    @Option(help: "Requests in flight in the pipelined RPC runs.") var depth = 32
    @Option(help: "store.synchronous of both daemons: full (durable, the default) or normal.") var synchronous = "full"
    @Flag(help: "Keep the temporary directory (logs, databases, audit log).") var keep = false
    @Flag(help: "Run without the event subscriber on each daemon (by default one follows every event, as an app does).")
    var noSubscribers = false
    @Option(parsing: .singleValue, help: "KEY=VALUE added to both daemons' environment (an experiment: recorded in the JSON and the table).")
    var daemonEnv: [String] = []

    func validate() throws {
        guard ["full", "normal"].contains(synchronous) else { throw ValidationError("--synchronous must be full or normal") }
        guard clients >= 1, depth >= 1, rpcRepeats >= 1, scarceStock >= 1 else { throw ValidationError("counts must be ≥ 1") }
    }

    /// Exit status: 0 (figures never fail the run), 1 when the harness broke, 2 when a correctness check failed.
    func run() throws {
        do {
            try runSuite()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("wpw-bench: the benchmark harness broke: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    func runSuite() throws {
        let plan = Plan(
            quick: quick, flows: flows ?? (quick ? 200 : 2000), warmupFlows: quick ? 10 : 100, clients: clients,
            concurrencySeconds: concurrencySeconds ?? (quick ? 4 : 20), scarceStock: scarceStock,
            memoryFlows: memoryFlows ?? (quick ? 5000 : 100_000), memorySeconds: memorySeconds,
            budgetSeconds: budgetSeconds ?? (quick ? 35 : 250),
            discoveryRuns: discoveryRuns ?? (quick ? 5 : 20), starts: starts ?? (quick ? 5 : 20),
            rpcSeconds: rpcSeconds ?? (quick ? 0.4 : 1.0), rpcRepeats: rpcRepeats, depth: depth, synchronous: synchronous,
            daemonEnvironment: try environment(daemonEnv), subscribers: !noSubscribers)
        let runner = try SuiteRun(plan: plan)
        runner.commit = commit
        runner.toolchain = toolchain
        defer { if keep { print("kept \(runner.dir.root)") } else { runner.dir.remove() } }
        let report = try runner.run()

        print("")
        print(runner.header())
        print(report.table())
        let path = json ?? "bench-results/bench-\(Self.timestamp())\(quick ? "-quick" : "").json"
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let object = report.json(header: runner.jsonHeader())
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: url)
        print("JSON: \(url.standardizedFileURL.path)")
        if report.correctnessFailed {
            print("wpw-bench: CORRECTNESS FAILURE (oversell or payments without exactly one order); see the checks above")
            throw ExitCode(2)
        }
    }

    static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }

    struct Plan {
        var quick: Bool
        var flows: Int
        var warmupFlows: Int
        var clients: Int
        var concurrencySeconds: Double
        var scarceStock: Int
        var memoryFlows: Int
        var memorySeconds: Double?
        var budgetSeconds: Double
        var discoveryRuns: Int
        var starts: Int
        var rpcSeconds: Double
        var rpcRepeats: Int
        var depth: Int
        var synchronous: String
        var daemonEnvironment: [String: String]
        /// One event subscriber on each daemon, reading every event.
        var subscribers: Bool

        /// The load service's finite stock: more than the run can sell.
        var loadStock: Int { 10_000_000 }

        var json: [String: Any] {
            [
                "quick": quick, "sequentialFlows": flows, "warmupFlows": warmupFlows, "clients": clients, "subscribers": subscribers,
                "concurrencySeconds": concurrencySeconds, "scarceStock": scarceStock, "loadStock": loadStock,
                "memoryFlows": memoryFlows, "memorySecondsLimit": memorySeconds ?? NSNull(), "budgetSeconds": budgetSeconds,
                "discoveryRuns": discoveryRuns,
                "producerRestarts": starts, "rpcSecondsPerMeasurement": rpcSeconds, "rpcRepeats": rpcRepeats,
                "pipelineDepth": depth, "storeSynchronous": synchronous, "daemonEnvironment": daemonEnvironment,
            ]
        }
    }
}

/// One run of the suite: the phases in order, sharing one cluster.
final class SuiteRun {
    let plan: SuiteBenchmark.Plan
    let dir: BenchDirectory
    let report = Report()
    let started = Date()
    let startedMono = monotonicSeconds()
    var phaseSeconds: [(String, Double)] = []
    var loadAverageStart = ""
    var commit = "unknown"
    var toolchain = "unknown"
    /// Flows the daemons have served since the idle measurement (every phase counts).
    var flowsServed = 0
    var memorySamples: [[String: Any]] = []
    var scarceRefusals = ""

    init(plan: SuiteBenchmark.Plan) throws {
        self.plan = plan
        dir = try BenchDirectory()
        loadAverageStart = readTextFile("/proc/loadavg")?.split(separator: " ").prefix(3).joined(separator: " ") ?? ""
    }

    func log(_ text: String) {
        let line = String(format: "[%6.1f s] ", monotonicSeconds() - startedMono) + text + "\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    func phase(_ name: String, _ body: () throws -> Void) throws {
        let begin = monotonicSeconds()
        try body()
        phaseSeconds.append((name, monotonicSeconds() - begin))
    }

    func run() throws -> Report {
        if plan.quick { report.notes.append("QUICK run: N and durations scaled down (see parameters); figures are not comparable with a full run") }
        report.notes.append("the machine's cores are shared with other builds: figures are noisy (load average at start \(loadAverageStart))")
        log("starting wpw-sandbox-gateway, producer and consumer (store.synchronous=\(plan.synchronous)) in \(dir.root)")
        let catalog = BenchCatalog(loadStock: plan.loadStock, scarceStock: plan.scarceStock)
        if !plan.daemonEnvironment.isEmpty {
            report.notes.append("EXPERIMENT: daemons ran with \(plan.daemonEnvironment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
        }
        if plan.synchronous != "full" { report.notes.append("EXPERIMENT: store.synchronous=\(plan.synchronous) (not durable against power loss)") }
        let cluster = try Cluster(dir: dir, catalog: catalog, synchronous: plan.synchronous, daemonEnvironment: plan.daemonEnvironment)
        var stopped = false
        defer { if !stopped { _ = cluster.stop() } }

        // Idle memory, before any traffic.
        sleepSeconds(1)
        let idle = (producer: cluster.producer.rssKiB, consumer: cluster.consumer.rssKiB, gateway: residentKiB(cluster.gateway.pid))
        report.extra["memoryIdle"] = ["producer": memoryBreakdown(cluster.producer.pid), "consumer": memoryBreakdown(cluster.consumer.pid)]

        // As users run it: an app follows each daemon's events (issue: the benchmark as users run it).
        let followers = plan.subscribers
            ? [("producer", try EventFollower(socket: cluster.producer.socket, name: "producer")),
               ("consumer", try EventFollower(socket: cluster.consumer.socket, name: "consumer"))]
            : []
        if !plan.subscribers { report.notes.append("EXPERIMENT: no event subscribers (--no-subscribers)") }

        _ = try cluster.producer.client().call("startServiceBroadcast", #"{"timeoutMs":0}"#)
        _ = try cluster.consumer.client().call("searchForDevice", #"{"serverId":"\#(cluster.producerServerID)","timeoutMs":10000}"#)

        try phase("discovery") { try discoveryPhase(cluster) }
        try phase("rpc") { try rpcPhase(cluster) }
        try phase("sequential") { try sequentialPhase(cluster) }
        try phase("concurrency") { try concurrencyPhase(cluster) }
        try phase("scarce") { try scarcePhase(cluster) }
        try phase("memory") { try memoryPhase(cluster, idle: idle) }
        try phase("audit") { try auditPhase(cluster) }
        if !followers.isEmpty {
            report.section("Event subscribers (one per daemon, reading every event during the whole run)")
            for (name, follower) in followers {
                report.add("events.\(name).received", "\(name) events received", Double(follower.events), "events",
                           note: follower.endedEarly ? "the daemon closed the subscription" : "subscription open to the end")
                report.check("events.\(name).followed", "\(name) subscriber kept up (not dropped)", !follower.endedEarly,
                             "\(follower.events) events")
                follower.stop()
            }
        }
        let exits = cluster.stop()
        stopped = true
        report.check("daemons.cleanExit", "daemons and gateway exit 0 on SIGTERM", exits.values.allSatisfy { $0 == 0 },
                     exits.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        try phase("startup") { try startupPhase(cluster) }
        return report
    }

    // MARK: Phases

    /// Exec → READY=1 of a fresh consumer, then how long its first searchForDevice takes while the producer
    /// broadcasts (every discovery.intervalMs = 500 ms, so the answer waits for the next datagram).
    func discoveryPhase(_ cluster: Cluster) throws {
        log("discovery: \(plan.discoveryRuns) fresh consumers, exec → READY=1, then searchForDevice")
        var search: [Double] = []
        var ready: [Double] = []
        for index in 0..<plan.discoveryRuns {
            let consumer = try Daemon(name: "c\(index)", in: dir, environment: cluster.consumerEnvironment)
            ready.append(consumer.readyMs)
            let client = try consumer.client()
            // Arrive at a random point of the producer's 500 ms broadcast period, as a real caller would.
            sleepSeconds(Double.random(in: 0..<0.5))
            let begin = monotonicNanos()
            let found = try client.call("searchForDevice", #"{"serverId":"\#(cluster.producerServerID)","timeoutMs":5000}"#)
            search.append(Double(monotonicNanos() - begin) / 1e6)
            guard found["serverId"]?.stringValue == cluster.producerServerID else { throw ValidationError("searchForDevice found \(found.jsonString)") }
            let status = consumer.stop()
            guard status == 0 else { throw ValidationError("a consumer exited with \(status): \(readTextFile(consumer.log) ?? "")") }
            try? FileManager.default.removeItem(atPath: consumer.stateDir)
        }
        report.section("Discovery (\(plan.discoveryRuns) fresh consumers; producer broadcasting every 500 ms on 127.255.255.255)")
        let spread = Spread(samples: search)
        report.add("discovery.searchForDevice.medianMs", "searchForDevice → answer, median", spread.median, "ms", target: .atMost(550), spread: spread)
        let readySpread = Spread(samples: ready)
        report.section("Start-up (exec → READY=1 on NOTIFY_SOCKET)")
        report.add("startup.consumerFresh.medianMs", "consumer, empty state dir, median", readySpread.median, "ms", target: .atMost(150), spread: readySpread)
    }

    func rpcPhase(_ cluster: Cluster) throws {
        log("rpc: getDevice vs raw line echo, sequential and depth \(plan.depth), \(plan.rpcRepeats)× \(plan.rpcSeconds) s each")
        let echoSocket = dir.path("echo.sock")
        let echo = try Child(binDirectory + "/wpw-bench", ["echo-server", "--socket", echoSocket], stderr: dir.path("echo.log"))
        defer { echo.stop() }
        try waitForSocket(echoSocket, child: echo)
        let request = Array(#"{"jsonrpc":"2.0","id":1,"method":"getDevice"}"#.utf8) + [0x0A]
        var daemonSequential: [Double] = [], daemonPipelined: [Double] = [], echoSequential: [Double] = [], echoPipelined: [Double] = []
        for _ in 0..<plan.rpcRepeats {
            daemonSequential.append(try roundTripsPerSecond(socket: cluster.consumer.socket, request: request, depth: 1, seconds: plan.rpcSeconds, expectResult: true))
            echoSequential.append(try roundTripsPerSecond(socket: echoSocket, request: request, depth: 1, seconds: plan.rpcSeconds, expectResult: false))
            daemonPipelined.append(try roundTripsPerSecond(socket: cluster.consumer.socket, request: request, depth: plan.depth, seconds: plan.rpcSeconds, expectResult: true))
            echoPipelined.append(try roundTripsPerSecond(socket: echoSocket, request: request, depth: plan.depth, seconds: plan.rpcSeconds, expectResult: false))
        }
        let ds = Spread(samples: daemonSequential), dp = Spread(samples: daemonPipelined)
        let es = Spread(samples: echoSequential), ep = Spread(samples: echoPipelined)
        report.section("Socket RPC (getDevice on the consumer's socket; one connection; median of \(plan.rpcRepeats) × \(plan.rpcSeconds) s)")
        report.add("rpc.getDevice.sequential.callsPerSecond", "getDevice sequential", ds.median, "calls/s", spread: ds)
        report.add("rpc.getDevice.pipelined.callsPerSecond", "getDevice pipelined (depth \(plan.depth))", dp.median, "calls/s", target: .atLeast(40_000), spread: dp)
        report.add("rpc.echo.sequential.callsPerSecond", "raw line echo floor, sequential", es.median, "lines/s", spread: es)
        report.add("rpc.echo.pipelined.callsPerSecond", "raw line echo floor, pipelined (depth \(plan.depth))", ep.median, "lines/s", spread: ep)
        report.add("rpc.sequential.echoRatio", "echo floor ÷ getDevice, sequential", es.median / ds.median, "×")
        report.add("rpc.pipelined.echoRatio", "echo floor ÷ getDevice, pipelined", ep.median / dp.median, "×", target: .atMost(3))
    }

    func sequentialPhase(_ cluster: Cluster) throws {
        log("sequential: \(plan.warmupFlows) warm-up + \(plan.flows) flows on one connection")
        let client = try cluster.consumer.client()
        for _ in 0..<plan.warmupFlows {
            _ = try purchaseFlow(client, serverID: cluster.producerServerID, serviceID: BenchCatalog.sequentialService)
        }
        var total = LatencyStats(capacity: plan.flows)
        var steps = [FlowStep: LatencyStats]()
        for step in [FlowStep.select, .pay, .begin, .end] { steps[step] = LatencyStats(capacity: plan.flows) }
        let cpuBefore = cluster.cpuSeconds()
        let begin = monotonicNanos()
        for _ in 0..<plan.flows {
            let t = try purchaseFlow(client, serverID: cluster.producerServerID, serviceID: BenchCatalog.sequentialService)
            total.add(nanoseconds: t.total)
            steps[.select]!.add(nanoseconds: t.select)
            steps[.pay]!.add(nanoseconds: t.pay)
            steps[.begin]!.add(nanoseconds: t.begin)
            steps[.end]!.add(nanoseconds: t.end)
        }
        let seconds = Double(monotonicNanos() - begin) / 1e9
        flowsServed += plan.warmupFlows + plan.flows
        report.section("Purchase flow, sequential (N = \(plan.flows), one client, store.synchronous=\(plan.synchronous))")
        report.add("flow.sequential.p50Ms", "flow p50", total.percentileMs(50), "ms", target: .atMost(1.0))
        report.add("flow.sequential.p99Ms", "flow p99", total.percentileMs(99), "ms")
        report.add("flow.sequential.meanMs", "flow mean", total.meanMs, "ms")
        report.add("flow.sequential.flowsPerSecond", "flows/s", Double(plan.flows) / seconds, "flows/s")
        cluster.reportCPU(since: cpuBefore, flows: plan.flows, key: "flow.sequential", in: report)
        let names: [(FlowStep, String)] = [(.select, "selectService"), (.pay, "makePayment"), (.begin, "beginServiceDelivery"), (.end, "endServiceDelivery")]
        for (step, name) in names {
            let stats = steps[step]!
            report.add("flow.sequential.step.\(name).p50Ms", "  \(name) p50", stats.percentileMs(50), "ms",
                       note: String(format: "p99 %.2f ms, mean %.2f ms", stats.percentileMs(99), stats.meanMs))
        }
    }

    func concurrencyPhase(_ cluster: Cluster) throws {
        log("concurrency: \(plan.clients) clients for \(plan.concurrencySeconds) s (service with stock \(plan.loadStock))")
        let load = FlowLoad(.init(
            clients: plan.clients, socket: cluster.consumer.socket, serverID: cluster.producerServerID, serviceID: BenchCatalog.loadService,
            deadline: monotonicNanos() + UInt64(plan.concurrencySeconds * 1e9)))
        let cpuBefore = cluster.cpuSeconds()
        load.start()
        let result = load.wait()
        try cluster.requireRunning()
        try result.requireHealthy()
        flowsServed += result.flows
        report.section("Concurrency (\(plan.clients) clients, one producer, \(Report.number(plan.concurrencySeconds)) s)")
        report.add("flow.concurrent.flowsPerSecond", "flows/s", result.flowsPerSecond, "flows/s", target: .atLeast(2000),
                   note: "\(result.flows) flows in \(String(format: "%.1f", result.seconds)) s")
        report.add("flow.concurrent.p50Ms", "flow p50 under load", result.latencies.percentileMs(50), "ms",
                   note: String(format: "p99 %.1f ms", result.latencies.percentileMs(99)))
        report.add("flow.concurrent.failedFlows", "failed flows", Double(result.failureCount), "flows", note: result.failureText)
        cluster.reportCPU(since: cpuBefore, flows: result.flows, key: "flow.concurrent", in: report)
        // Checked in auditPhase (the load service is sold in this phase only), so that the audit's listPurchases
        // answer does not weigh on the memory phase.
    }

    /// Every client races for a small stock until it is sold out: exactly `scarceStock` units must be sold.
    func scarcePhase(_ cluster: Cluster) throws {
        log("scarce: \(plan.clients) clients race for a stock of \(plan.scarceStock)")
        let load = FlowLoad(.init(
            clients: plan.clients, socket: cluster.consumer.socket, serverID: cluster.producerServerID, serviceID: BenchCatalog.scarceService,
            deadline: monotonicNanos() + 60_000_000_000,
            stopWhen: { failure in failure.error.code == -32014 || failure.error.peerCode == -32014 }))
        load.start()
        let result = load.wait()
        try cluster.requireRunning()
        try result.requireHealthy()
        flowsServed += result.flows
        scarceRefusals = result.failureText
        report.section("Small stock (\(plan.clients) clients racing for \(plan.scarceStock) units)")
    }

    /// The sales checks of every phase, from one look at the three parties after the memory phase (each phase sells
    /// its own service): the load service for concurrency, the scarce one for the race, all of them for the run.
    func auditPhase(_ cluster: Cluster) throws {
        log("audit: every purchase, gateway order and stock")
        let audit = try SalesAudit.take(cluster: cluster, initialStock: [BenchCatalog.loadService: plan.loadStock, BenchCatalog.scarceService: plan.scarceStock])
        audit.record(in: report, key: "concurrency", label: "concurrency", services: [BenchCatalog.loadService])
        let sales = audit.services[BenchCatalog.scarceService] ?? .init()
        if let index = report.sections.firstIndex(where: { $0.title.hasPrefix("Small stock") }) {
            report.sections[index].figures.append(Figure(
                key: "flow.scarce.unitsSold", label: "units sold", value: Double(sales.unitsBought), unit: "units",
                note: "stock left \(sales.stockLeft.map(String.init) ?? "?"); refused: \(scarceRefusals)"))
        }
        audit.record(in: report, key: "scarce", label: "small stock", services: [BenchCatalog.scarceService])
        report.check("scarce.soldOut", "small stock: exactly the stock is sold, then refused",
                     sales.unitsBought == plan.scarceStock && sales.stockLeft == 0,
                     "bought \(sales.unitsBought) of \(plan.scarceStock), left \(sales.stockLeft.map(String.init) ?? "?")")
        audit.record(in: report, key: "final", label: "whole run")
    }

    /// 16 clients drive flows until the daemons have served `memoryFlows` in all (or the time budget ends),
    /// sampling both daemons' RSS; the slope is fitted over the second half of the flows.
    func memoryPhase(_ cluster: Cluster, idle: (producer: Int, consumer: Int, gateway: Int)) throws {
        let remaining = max(0, plan.memoryFlows - flowsServed)
        // What the wall budget leaves after the phases still to come (audit, shutdown, start-up: ~15 s).
        let seconds = plan.memorySeconds ?? max(plan.quick ? 5 : 20, plan.budgetSeconds - (monotonicSeconds() - startedMono) - (plan.quick ? 6 : 15))
        log("memory: \(remaining) more flows with \(plan.clients) clients (to \(plan.memoryFlows) in all), ≤ \(Int(seconds)) s")
        let load = FlowLoad(.init(
            clients: plan.clients, socket: cluster.consumer.socket, serverID: cluster.producerServerID, serviceID: BenchCatalog.sequentialService,
            maxFlows: remaining, deadline: monotonicNanos() + UInt64(seconds * 1e9), recordLatency: false))
        let base = flowsServed
        func sample() {
            let flows = base + load.completed
            memorySamples.append(["flows": flows, "seconds": monotonicSeconds() - startedMono,
                                  "producerKiB": cluster.producer.rssKiB, "consumerKiB": cluster.consumer.rssKiB,
                                  "gatewayKiB": residentKiB(cluster.gateway.pid)])
        }
        sample()
        load.start()
        let interval = plan.quick ? 0.25 : 1.0
        var lastLog = monotonicSeconds()
        while !load.isFinished {
            sleepSeconds(interval)
            try cluster.requireRunning()
            sample()
            if monotonicSeconds() - lastLog >= 15 {
                lastLog = monotonicSeconds()
                log("  \(base + load.completed) flows, producer \(cluster.producer.rssKiB / 1024) MB, consumer \(cluster.consumer.rssKiB / 1024) MB")
            }
        }
        let result = load.wait()
        try result.requireHealthy()
        flowsServed += result.flows
        sample()
        sleepSeconds(2)  // idle again
        let after = (producer: cluster.producer.rssKiB, consumer: cluster.consumer.rssKiB, gateway: residentKiB(cluster.gateway.pid))
        report.extra["memoryAfter"] = ["producer": memoryBreakdown(cluster.producer.pid), "consumer": memoryBreakdown(cluster.consumer.pid)]
        report.extra["memorySamples"] = memorySamples

        let reached = flowsServed >= plan.memoryFlows
        report.section("Memory (RSS; \(plan.clients) clients drive flows to \(plan.memoryFlows) in all; sampled every \(interval) s)")
        report.add("memory.idle.producerMB", "producer idle", Double(idle.producer) / 1024, "MB", target: .atMost(12))
        report.add("memory.idle.consumerMB", "consumer idle", Double(idle.consumer) / 1024, "MB", target: .atMost(12))
        let flowsNote = reached ? "after \(flowsServed) flows" : "only \(flowsServed) of \(plan.memoryFlows) flows within the \(Int(seconds)) s left by the budget"
        report.add("memory.after.producerMB", "producer after the flows", Double(after.producer) / 1024, "MB", target: .atMost(25), note: flowsNote)
        report.add("memory.after.consumerMB", "consumer after the flows", Double(after.consumer) / 1024, "MB", target: .atMost(25), note: flowsNote)
        report.add("memory.flowsServed", "flows served when measured", Double(flowsServed), "flows", target: .atLeast(Double(plan.memoryFlows)),
                   note: String(format: "memory phase: %.0f flows/s with %d clients, %d failed", result.flowsPerSecond, plan.clients, result.failureCount))
        for (daemon, rss) in [("producer", after.producer), ("consumer", after.consumer)] {
            let slope = Self.slopeKiBPer10k(memorySamples, key: "\(daemon)KiB")
            report.add("memory.slope.\(daemon)KiBPer10kFlows", "\(daemon) slope, second half", slope, "KB/10k flows", target: .atMost(100),
                       note: "least squares over the samples in the second half of the flows")
            if !reached {
                let projected = (Double(rss) + slope * Double(plan.memoryFlows - flowsServed) / 10_000) / 1024
                report.add("memory.projected.\(daemon)MB", "\(daemon) projected at \(plan.memoryFlows) flows", projected, "MB",
                           note: "after + slope × the flows not run; an extrapolation, not a measurement")
            }
        }
        report.add("memory.gateway.afterMB", "sandbox gateway (orders kept in memory)", Double(after.gateway) / 1024, "MB",
                   note: "idle \(Report.number(Double(idle.gateway) / 1024)) MB; not a target")
    }

    /// Least-squares slope of RSS against flows over the samples in the second half (by flows), per 10k flows.
    static func slopeKiBPer10k(_ samples: [[String: Any]], key: String) -> Double {
        let points = samples.compactMap { sample -> (Double, Double)? in
            guard let flows = sample["flows"] as? Int, let kib = sample[key] as? Int else { return nil }
            return (Double(flows), Double(kib))
        }
        guard let last = points.last?.0 else { return 0 }
        let half = points.filter { $0.0 >= last / 2 }
        guard half.count >= 2 else { return 0 }
        let mx = half.map(\.0).reduce(0, +) / Double(half.count), my = half.map(\.1).reduce(0, +) / Double(half.count)
        let sxx = half.map { ($0.0 - mx) * ($0.0 - mx) }.reduce(0, +)
        guard sxx > 0 else { return 0 }
        let sxy = half.map { ($0.0 - mx) * ($0.1 - my) }.reduce(0, +)
        return sxy / sxx * 10_000
    }

    /// Exec → READY=1 of the producer restarted on its used state dir (catalog, orders of the whole run).
    func startupPhase(_ cluster: Cluster) throws {
        log("start-up: \(plan.starts) producer restarts on the used state dir")
        var ready: [Double] = []
        for index in 0..<plan.starts {
            let producer = try Daemon(name: "p\(index)", in: dir, environment: cluster.producerEnvironment,
                                      extraArguments: ["--config", cluster.producerConfig], stateDir: cluster.producer.stateDir)
            ready.append(producer.readyMs)
            let status = producer.stop()
            guard status == 0 else { throw ValidationError("a producer exited with \(status): \(readTextFile(producer.log) ?? "")") }
        }
        let spread = Spread(samples: ready)
        let index = report.sections.firstIndex { $0.title.hasPrefix("Start-up") } ?? {
            report.section("Start-up (exec → READY=1 on NOTIFY_SOCKET)")
            return report.sections.count - 1
        }()
        report.sections[index].figures.append(Figure(
            key: "startup.producerRestart.medianMs", label: "producer, used state dir, median", value: spread.median, unit: "ms",
            target: .atMost(150), spread: spread, note: "after \(flowsServed) flows"))
    }

    // MARK: Header

    func machine() -> [String: Any] {
        let model = readTextFile("/proc/cpuinfo")?.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown"
        var name = utsname()
        uname(&name)
        func field<T>(_ value: inout T) -> String {
            withUnsafeBytes(of: &value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return [
            "cores": sysconf(Int32(_SC_NPROCESSORS_ONLN)), "model": model,
            "kernel": field(&name.release), "arch": field(&name.machine),
            "memTotalKiB": procFields("/proc/meminfo")["MemTotal"] ?? 0,
            "loadAverageStart": loadAverageStart,
            "loadAverageEnd": readTextFile("/proc/loadavg")?.split(separator: " ").prefix(3).joined(separator: " ") ?? "",
        ]
    }

    func header() -> String {
        let m = machine()
        return """
            wpw-bench suite\(plan.quick ? "  [QUICK: scaled down]" : "")  commit \(commit)  \(toolchain)
            machine: \(m["cores"] ?? 0) cores, \(m["model"] ?? "?"), kernel \(m["kernel"] ?? "?"); load average \(m["loadAverageStart"] ?? "") → \(m["loadAverageEnd"] ?? "")
            wall time \(String(format: "%.1f", monotonicSeconds() - startedMono)) s: \(phaseSeconds.map { "\($0.0) " + String(format: "%.1f s", $0.1) }.joined(separator: ", "))
            """
    }

    func jsonHeader() -> [String: Any] {
        [
            "schema": "wpw-bench/1", "quick": plan.quick, "commit": commit, "toolchain": toolchain,
            "startedAt": ISO8601DateFormatter().string(from: started), "wallSeconds": monotonicSeconds() - startedMono,
            "machine": machine(), "parameters": plan.json,
            "phaseSeconds": Dictionary(phaseSeconds.map { ($0.0, $0.1) }, uniquingKeysWith: { _, last in last }),
        ]
    }
}
