#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import WPWithinCore

/// The sandbox gateway's default merchant pair (config/merchant.example.json): public test keys.
enum BenchCredentials {
    static let merchant = #"{"clientKey":"T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356","serviceKey":"T_S_3bdadc9c-54e0-4587-8d91-29813060fecd"}"#
    static let card = #"{"firstName":"Bench","lastName":"Mark","expMonth":12,"expYear":2099,"cardNumber":"4444333322221111","type":"Card","cvc":"123"}"#
}

/// `KEY=VALUE` options as an environment.
func environment(_ assignments: [String]) throws -> [String: String] {
    try Dictionary(assignments.map { item in
        guard let equals = item.firstIndex(of: "="), equals != item.startIndex else { throw ValidationError("--daemon-env wants KEY=VALUE: \(item)") }
        return (String(item[..<equals]), String(item[item.index(after: equals)...]))
    }, uniquingKeysWith: { $1 })
}

/// The services the producer sells: one with unlimited stock (sequential and memory phases), one with a finite
/// stock larger than any run sells (concurrency: the oversell check is then meaningful), one scarce.
struct BenchCatalog {
    static let sequentialService = 1
    static let loadService = 2
    static let scarceService = 3
    var loadStock: Int
    var scarceStock: Int

    var configJSON: String {
        func service(_ id: Int, _ name: String, stock: Int?) -> String {
            #"{"id":\#(id),"name":"\#(name)","description":"wpw-bench","serviceType":"bench","prices":[{"id":1,"description":"one unit","amount":100,"currencyCode":"GBP","unitId":1,"unitDescription":"unit","stock":\#(stock.map(String.init) ?? "null")}]}"#
        }
        return #"{"producer":{"services":[\#(service(Self.sequentialService, "Sequential", stock: nil)),\#(service(Self.loadService, "Load", stock: loadStock)),\#(service(Self.scarceService, "Scarce", stock: scarceStock))]}}"#
    }
}

/// One `wpwithind` started with a NOTIFY_SOCKET listener; `readyMs` is exec → READY=1.
final class Daemon {
    let child: Child
    /// The daemon's own PID: the child's, unless a wrapper (strace) runs it as a child of its own.
    let pid: pid_t
    let socket: String
    let stateDir: String
    let log: String
    let readyMs: Double

    /// `wrapper` runs the daemon under another program (`valgrind --tool=callgrind …`); `pid` is then the wrapper's.
    init(name: String, in dir: BenchDirectory, environment: [String: String], extraArguments: [String] = [], stateDir: String? = nil,
         wrapper: [String] = [], executable: String = binDirectory + "/wpwithind") throws {
        socket = dir.path("\(name).sock")
        self.stateDir = stateDir ?? dir.path("\(name)-state")
        log = dir.path("\(name).log")
        let notify = try DatagramListener(path: dir.path("\(name)-notify.sock"))
        var env = environment
        env["NOTIFY_SOCKET"] = notify.path
        let started = monotonicNanos()
        let command = wrapper + [executable, "--socket", socket, "--state-dir", self.stateDir, "--log-level", "warning"]
            + extraArguments
        child = try Child(command[0], Array(command.dropFirst()), environment: env, stderr: log)
        let ready = try notify.waitFor("READY=1", timeout: wrapper.isEmpty ? 30 : 300, child: child)
        readyMs = Double(ready - started) / 1e6
        pid = wrapper.isEmpty ? child.pid : descendant(of: child.pid, named: "wpwithind") ?? child.pid
    }

    var rssKiB: Int { residentKiB(pid) }

    /// SIGTERM to the daemon itself (a wrapper then ends with it); returns the child's exit status.
    @discardableResult
    func stop() -> Int32 {
        if child.isRunning { kill(pid, SIGTERM) }
        return child.wait(timeout: pid == child.pid ? 15 : 300)
    }
    func client() throws -> LineClient { try LineClient(path: socket) }
}

/// The sandbox gateway, a producer and a consumer on loopback, with credentials (0600) and state in `dir`.
final class Cluster {
    let dir: BenchDirectory
    let gateway: Child
    let gatewayEndpoint: String
    let auditLog: String
    let discoveryPort: Int
    let merchantFile: String
    let cardFile: String
    let producerConfig: String
    let synchronous: String
    let producer: Daemon
    let consumer: Daemon
    private(set) var producerServerID = ""

    /// Extra environment of every daemon (experiments: `MALLOC_ARENA_MAX=2`, …).
    let daemonEnvironment: [String: String]

    init(dir: BenchDirectory, catalog: BenchCatalog, synchronous: String, producerWrapper: [String] = [], consumerWrapper: [String] = [],
         daemonExecutable: String = binDirectory + "/wpwithind", daemonEnvironment: [String: String] = [:]) throws {
        self.dir = dir
        self.synchronous = synchronous
        self.daemonEnvironment = daemonEnvironment
        auditLog = dir.path("gateway-audit.jsonl")
        let announce = dir.path("gateway.out")
        gateway = try Child(binDirectory + "/wpw-sandbox-gateway",
                            ["--host", "127.0.0.1", "--port", "0", "--audit-log", auditLog, "--log-level", "warning"],
                            stdout: announce, stderr: dir.path("gateway.log"))
        gatewayEndpoint = "http://127.0.0.1:\(try Self.announcedPort(announce, gateway))"
        discoveryPort = try freeUDPPort()
        merchantFile = try dir.write("merchant.json", BenchCredentials.merchant, mode: 0o600)
        cardFile = try dir.write("card.json", BenchCredentials.card, mode: 0o600)
        producerConfig = try dir.write("producer.json", catalog.configJSON)
        producer = try Daemon(name: "producer", in: dir, environment: Self.producerEnvironment(
            discoveryPort: discoveryPort, gateway: gatewayEndpoint, merchantFile: merchantFile, synchronous: synchronous)
            .merging(daemonEnvironment) { $1 },
            extraArguments: ["--config", producerConfig], wrapper: producerWrapper, executable: daemonExecutable)
        consumer = try Daemon(name: "consumer", in: dir, environment: Self.consumerEnvironment(
            discoveryPort: discoveryPort, gateway: gatewayEndpoint, cardFile: cardFile, synchronous: synchronous)
            .merging(daemonEnvironment) { $1 },
            wrapper: consumerWrapper, executable: daemonExecutable)
        producerServerID = try producer.client().call("getDevice")["serverId"]?.stringValue ?? ""
        guard !producerServerID.isEmpty else { throw ValidationError("the producer has no serverId") }
    }

    /// Loopback-only discovery: broadcasts to 127.255.255.255 from 127.0.0.1; HTE on 127.0.0.1, ephemeral port.
    static func loopback(port: Int, roles: String, synchronous: String) -> [String: String] {
        [
            "WPWITHIND_ROLES": roles,
            "WPWITHIND_BROADCAST_ADDRESS": "127.255.255.255",
            "WPWITHIND_BROADCAST_SOURCE": "127.0.0.1",
            "WPWITHIND_DISCOVERY_PORT": String(port),
            "WPWITHIND_SCAN_BIND_ADDRESS": "127.255.255.255",
            "WPWITHIND_ADVERTISED_HOST": "127.0.0.1",
            "WPWITHIND_HTE_HOST": "127.0.0.1",
            "WPWITHIND_HTE_PORT": "0",
            "WPWITHIND_STORE_SYNCHRONOUS": synchronous,
        ]
    }

    static func producerEnvironment(discoveryPort: Int, gateway: String, merchantFile: String, synchronous: String) -> [String: String] {
        var env = loopback(port: discoveryPort, roles: "producer", synchronous: synchronous)
        env["WPWITHIND_GATEWAY_ENDPOINT"] = gateway
        env["WPWITHIND_MERCHANT_FILE"] = merchantFile
        return env
    }

    static func consumerEnvironment(discoveryPort: Int, gateway: String, cardFile: String, synchronous: String) -> [String: String] {
        var env = loopback(port: discoveryPort, roles: "consumer", synchronous: synchronous)
        env["WPWITHIND_GATEWAY_ENDPOINT"] = gateway
        env["WPWITHIND_CARD_FILE"] = cardFile
        return env
    }

    var producerEnvironment: [String: String] {
        Self.producerEnvironment(discoveryPort: discoveryPort, gateway: gatewayEndpoint, merchantFile: merchantFile, synchronous: synchronous)
            .merging(daemonEnvironment) { $1 }
    }

    var consumerEnvironment: [String: String] {
        Self.consumerEnvironment(discoveryPort: discoveryPort, gateway: gatewayEndpoint, cardFile: cardFile, synchronous: synchronous)
            .merging(daemonEnvironment) { $1 }
    }

    /// The gateway writes `{"event":"listening",…,"port":N}` to stdout once bound.
    static func announcedPort(_ file: String, _ child: Child) throws -> Int {
        let deadline = monotonicSeconds() + 30
        while monotonicSeconds() < deadline {
            if let text = readTextFile(file), let line = text.split(separator: "\n").first, text.contains("\n"),
               let port = try? JSONValue.parse(String(line))["port"]?.int64Value {
                return Int(port)
            }
            guard child.isRunning else { throw ValidationError("wpw-sandbox-gateway exited with \(child.exitStatus ?? -1)") }
            usleep(5_000)
        }
        throw ValidationError("wpw-sandbox-gateway did not announce its port")
    }

    /// CPU seconds used so far by the producer, the consumer and the gateway.
    func cpuSeconds() -> [Double] { [producer.pid, consumer.pid, gateway.pid].map { wpw_bench.cpuSeconds($0) } }

    /// Adds "CPU per flow" figures (ms of user + system time of each process per flow) since `before`.
    func reportCPU(since before: [Double], flows: Int, key: String, in report: Report) {
        guard flows > 0 else { return }
        let used = zip(cpuSeconds(), before).map { ($0 - $1) * 1000 / Double(flows) }
        report.add("\(key).cpuMsPerFlow", "CPU per flow: producer / consumer / gateway", used.reduce(0, +), "ms",
                   note: used.map { String(format: "%.2f", $0) }.joined(separator: " / ") + " ms (user + system, /proc/PID/stat)")
    }

    /// Throws when a daemon or the gateway has exited (something outside the benchmark killed it, or it crashed).
    func requireRunning() throws {
        for (name, child, log) in [("producer", producer.child, producer.log), ("consumer", consumer.child, consumer.log),
                                   ("wpw-sandbox-gateway", gateway, dir.path("gateway.log"))] where !child.isRunning {
            let tail = (readTextFile(log) ?? "").split(separator: "\n").suffix(5).joined(separator: "\n")
            throw ValidationError("the \(name) exited (status \(child.exitStatus ?? -1)) during the benchmark; log tail:\n\(tail)")
        }
    }

    /// One TCP connection to the gateway, closed at once (wakes it up; nothing is sent).
    func gatewayPing() throws {
        guard let port = Int(gatewayEndpoint.split(separator: ":").last ?? "") else { return }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    func stop() -> [String: Int32] {
        ["producer": producer.stop(), "consumer": consumer.stop(), "gateway": gateway.stop()]
    }
}

// MARK: - The purchase flow

/// One `selectService → makePayment → beginServiceDelivery → endServiceDelivery` of one unit; nanoseconds per step.
struct FlowTiming {
    var select: UInt64
    var pay: UInt64
    var begin: UInt64
    var end: UInt64
    var total: UInt64 { select + pay + begin + end }
}

enum FlowStep: String { case select, pay, begin, end }

struct FlowError: Error {
    var step: FlowStep
    var error: RPCCallError
}

func purchaseFlow(_ client: LineClient, serverID: String, serviceID: Int) throws -> FlowTiming {
    func step<T>(_ name: FlowStep, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as RPCCallError { throw FlowError(step: name, error: error) }
    }
    let t0 = monotonicNanos()
    let quote = try step(.select) {
        try client.call("selectService", #"{"serverId":"\#(serverID)","serviceId":\#(serviceID),"priceId":1,"numberOfUnits":1}"#)
    }
    guard let reference = quote["paymentReferenceId"]?.stringValue else { throw ValidationError("selectService: no paymentReferenceId") }
    let t1 = monotonicNanos()
    let purchase = try step(.pay) { try client.call("makePayment", #"{"paymentReferenceId":"\#(reference)"}"#) }
    guard let purchaseID = purchase["purchaseId"]?.int64Value else { throw ValidationError("makePayment: no purchaseId") }
    let t2 = monotonicNanos()
    let begun = try step(.begin) { try client.call("beginServiceDelivery", #"{"purchaseId":\#(purchaseID),"units":1}"#) }
    guard begun["unitsToSupply"]?.int64Value == 1 else { throw ValidationError("beginServiceDelivery: \(begun.jsonString)") }
    let t3 = monotonicNanos()
    let ended = try step(.end) { try client.call("endServiceDelivery", #"{"purchaseId":\#(purchaseID),"unitsReceived":1}"#) }
    guard ended["unitsRemaining"]?.int64Value == 0 else { throw ValidationError("endServiceDelivery: \(ended.jsonString)") }
    let t4 = monotonicNanos()
    return FlowTiming(select: t1 - t0, pay: t2 - t1, begin: t3 - t2, end: t4 - t3)
}
