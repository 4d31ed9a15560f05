#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import WPWithinCore

/// `wpw-bench profile`: the suite's cluster with a profiler around the measured part. Starts the gateway, a
/// producer and a consumer (optionally under a wrapper such as valgrind), runs warm-up flows, starts every
/// `--attach` command with `{producer}`/`{consumer}`/`{gateway}` replaced by PIDs, runs the measured sequential flows
/// (and optionally pipelined getDevice calls), then sends SIGINT to the attached commands and waits for them.
struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Sequential flows (and getDevice calls) against a fresh cluster with profilers attached (see docs/benchmarks.md)."
    )

    @Option(help: "Measured sequential flows.") var flows = 500
    @Option(help: "Warm-up flows before the profilers attach.") var warmup = 50
    @Option(help: "Pipelined getDevice calls on the consumer's socket after the flows (depth 32), in seconds.") var getdeviceSeconds = 0.0
    @Option(help: "Seconds to stay idle before the flows (e.g. to sample idle memory).") var idleSeconds = 0.0
    @Flag(help: "After the flows, call listPurchases and listServices (what the suite's audit does) and show the RSS it costs.")
    var listPurchases = false
    @Option(parsing: .singleValue, help: "A shell command to run around the measured part; {producer}, {consumer}, {gateway} are PIDs.")
    var attach: [String] = []
    @Option(help: "A command line the producer runs under, split on spaces (e.g. \"valgrind --tool=callgrind --callgrind-out-file=/tmp/p.out\").")
    var wrapProducer = ""
    @Option(help: "The same for the consumer.") var wrapConsumer = ""
    @Option(help: "store.synchronous of both daemons.") var synchronous = "full"
    @Option(parsing: .singleValue, help: "KEY=VALUE added to both daemons' environment (e.g. MALLOC_ARENA_MAX=2).") var daemonEnv: [String] = []
    @Option(help: "The wpwithind to run (e.g. a copy without DWARF, `objcopy --strip-debug`, for valgrind).") var daemon: String?
    @Flag(help: "Follow every event of each daemon during the run, as the suite (and an app) does.") var subscribers = false

    func run() throws {
        let dir = try BenchDirectory()
        defer { dir.remove() }
        func words(_ text: String) -> [String] { text.split(separator: " ").map(String.init) }
        let cluster = try Cluster(dir: dir, catalog: BenchCatalog(loadStock: 1_000_000, scarceStock: 50), synchronous: synchronous,
                                  producerWrapper: words(wrapProducer), consumerWrapper: words(wrapConsumer),
                                  daemonExecutable: daemon ?? binDirectory + "/wpwithind", daemonEnvironment: try environment(daemonEnv))
        defer { _ = cluster.stop() }
        print("producer pid \(cluster.producer.pid), consumer pid \(cluster.consumer.pid), gateway pid \(cluster.gateway.pid)")
        func rss(_ when: String) {
            print("RSS \(when): " + String(format: "producer %.1f MB, consumer %.1f MB", Double(cluster.producer.rssKiB) / 1024, Double(cluster.consumer.rssKiB) / 1024))
        }
        sleepSeconds(1)
        rss("idle")
        let followers = subscribers
            ? [try EventFollower(socket: cluster.producer.socket, name: "producer"),
               try EventFollower(socket: cluster.consumer.socket, name: "consumer")]
            : []
        defer { for follower in followers { follower.stop() } }
        _ = try cluster.producer.client().call("startServiceBroadcast", #"{"timeoutMs":0}"#)
        _ = try cluster.consumer.client().call("searchForDevice", #"{"serverId":"\#(cluster.producerServerID)","timeoutMs":60000}"#)
        let client = try cluster.consumer.client()
        for _ in 0..<warmup { _ = try purchaseFlow(client, serverID: cluster.producerServerID, serviceID: BenchCatalog.sequentialService) }
        rss("after \(warmup) warm-up flows")
        sleepSeconds(idleSeconds)

        let attached = try attach.map { template -> Child in
            let command = template.replacingOccurrences(of: "{producer}", with: String(cluster.producer.pid))
                .replacingOccurrences(of: "{consumer}", with: String(cluster.consumer.pid))
                .replacingOccurrences(of: "{gateway}", with: String(cluster.gateway.pid))
            print("attach: \(command)")
            return try Child("/bin/sh", ["-c", "exec " + command], stdout: nil, stderr: nil)
        }
        sleepSeconds(attached.isEmpty ? 0 : 1)  // let the profilers attach

        var total = LatencyStats(capacity: flows)
        let cpuBefore = cluster.cpuSeconds()
        let begin = monotonicNanos()
        for _ in 0..<flows {
            total.add(nanoseconds: try purchaseFlow(client, serverID: cluster.producerServerID, serviceID: BenchCatalog.sequentialService).total)
        }
        let seconds = Double(monotonicNanos() - begin) / 1e9
        print(String(format: "%d flows in %.2f s: p50 %.2f ms, p99 %.2f ms, mean %.2f ms", flows, seconds, total.percentileMs(50), total.percentileMs(99), total.meanMs))
        if flows > 0 {
            let cpu = zip(cluster.cpuSeconds(), cpuBefore).map { ($0 - $1) * 1000 / Double(flows) }
            print(String(format: "CPU per flow: producer %.2f ms, consumer %.2f ms, gateway %.2f ms (total %.2f)", cpu[0], cpu[1], cpu[2], cpu.reduce(0, +)))
        }
        rss("after \(flows) more flows")
        if !followers.isEmpty { print("events followed: producer \(followers[0].events), consumer \(followers[1].events)") }
        if listPurchases {
            let purchases = try client.call("listPurchases").arrayValue?.count ?? 0
            _ = try cluster.producer.client().call("listServices")
            rss("after listPurchases (\(purchases) purchases)")
        }
        if getdeviceSeconds > 0 {
            let request = Array(#"{"jsonrpc":"2.0","id":1,"method":"getDevice"}"#.utf8) + [0x0A]
            let rate = try roundTripsPerSecond(socket: cluster.consumer.socket, request: request, depth: 32, seconds: getdeviceSeconds, expectResult: true)
            print(String(format: "getDevice pipelined: %.0f calls/s", rate))
        }
        for child in attached { kill(child.pid, SIGINT) }
        // A tracer that waits on an idle tracee may not see its SIGINT until the tracee does something: poke all three.
        while attached.contains(where: \.isRunning) {
            _ = try? cluster.producer.client().call("getDevice")
            _ = try? cluster.consumer.client().call("getDevice")
            _ = try? cluster.gatewayPing()
            sleepSeconds(0.2)
        }
    }
}
