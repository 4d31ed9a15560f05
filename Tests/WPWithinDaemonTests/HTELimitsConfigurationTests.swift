import Foundation
import Testing
import WPWithinCore
import WPWithinHTTP
@testable import WPWithinDaemon

/// `producer.hte` caps and timeouts: file, environment, validation, and the descriptor budget check.
@Suite struct HTELimitsConfigurationTests {
    @Test func defaultsSuitASmallDevice() throws {
        let limits = try DaemonConfiguration.load(path: nil, environment: [:]).hteLimits
        #expect(limits.maxConnections == 256)
        #expect(limits.maxConnectionsPerPeer == 16)
        #expect(limits.headerTimeoutMs == 10_000)
        #expect(limits.bodyTimeoutMs == 10_000)
        #expect(limits.idleTimeoutMs == 60_000)
        #expect(limits.limitLogIntervalMs == 10_000)
        let server = hteServerConfiguration(try DaemonConfiguration.load(path: nil, environment: [:]))
        #expect(server.maxConnections == 256 && server.maxConnectionsPerPeer == 16)
        #expect(server.headerTimeout == .seconds(10) && server.idleTimeout == .seconds(60))
        #expect(server.connectionRefusedResponse.status == 503)
        #expect(server.requestTimeoutResponse.status == 408)
    }

    @Test func fileThenEnvironment() throws {
        let dir = try TempDir()
        let path = dir.file("c.json")
        try Data(#"""
        {"producer":{"hte":{"port":0,"maxConnections":64,"maxConnectionsPerPeer":8,"headerTimeoutMs":5000,
          "bodyTimeoutMs":6000,"idleTimeoutMs":7000,"limitLogIntervalMs":8000}}}
        """#.utf8).write(to: URL(fileURLWithPath: path))
        let fromFile = try DaemonConfiguration.load(path: path, environment: [:]).hteLimits
        #expect(fromFile.maxConnections == 64)
        #expect(fromFile.maxConnectionsPerPeer == 8)
        #expect(fromFile.headerTimeoutMs == 5000)
        #expect(fromFile.bodyTimeoutMs == 6000)
        #expect(fromFile.idleTimeoutMs == 7000)
        #expect(fromFile.limitLogIntervalMs == 8000)
        let overridden = try DaemonConfiguration.load(path: path, environment: [
            "WPWITHIND_HTE_MAX_CONNECTIONS": "32", "WPWITHIND_HTE_MAX_CONNECTIONS_PER_PEER": "4",
            "WPWITHIND_HTE_HEADER_TIMEOUT_MS": "1000", "WPWITHIND_HTE_BODY_TIMEOUT_MS": "2000",
            "WPWITHIND_HTE_IDLE_TIMEOUT_MS": "3000", "WPWITHIND_HTE_LIMIT_LOG_INTERVAL_MS": "4000",
        ]).hteLimits
        #expect(overridden.maxConnections == 32)
        #expect(overridden.maxConnectionsPerPeer == 4)
        #expect(overridden.headerTimeoutMs == 1000)
        #expect(overridden.bodyTimeoutMs == 2000)
        #expect(overridden.idleTimeoutMs == 3000)
        #expect(overridden.limitLogIntervalMs == 4000)
    }

    @Test(arguments: [
        (#"{"producer":{"hte":{"maxConnections":0}}}"#, [:], "producer.hte.maxConnections: must be between 1 and 65536"),
        (#"{"producer":{"hte":{"maxConnections":8,"maxConnectionsPerPeer":9}}}"#, [:], "producer.hte.maxConnectionsPerPeer: must be at most producer.hte.maxConnections (8)"),
        (#"{"producer":{"hte":{"maxConnectionsPerPeer":-1}}}"#, [:], "producer.hte.maxConnectionsPerPeer: must be between"),
        (#"{"producer":{"hte":{"headerTimeoutMs":0}}}"#, [:], "producer.hte.headerTimeoutMs: must be between 100"),
        (#"{"producer":{"hte":{"bodyTimeoutMs":"10s"}}}"#, [:], "producer.hte.bodyTimeoutMs: must be an integer"),
        (#"{"producer":{"hte":{"idleTimeoutMs":-5}}}"#, [:], "producer.hte.idleTimeoutMs: must be between"),
        (#"{"producer":{"hte":{"limitLogIntervalMs":99}}}"#, [:], "producer.hte.limitLogIntervalMs: must be between"),
        (#"{"producer":{"hte":{"maxConnection":5}}}"#, [:], "producer.hte.maxConnection: unknown key"),
        ("{}", ["WPWITHIND_HTE_MAX_CONNECTIONS_PER_PEER": "many"], "WPWITHIND_HTE_MAX_CONNECTIONS_PER_PEER: must be an integer"),
        ("{}", ["WPWITHIND_HTE_MAX_CONNECTIONS": "4"], "producer.hte.maxConnectionsPerPeer: must be at most producer.hte.maxConnections (4)"),
    ] as [(String, [String: String], String)])
    func badValuesAreRefusedNamingTheKey(json: String, environment: [String: String], expected: String) throws {
        let dir = try TempDir()
        try Data(json.utf8).write(to: URL(fileURLWithPath: dir.file("c.json")))
        do {
            _ = try DaemonConfiguration.load(path: dir.file("c.json"), environment: environment)
            Issue.record("accepted \(json) \(environment)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }

    @Test func theLimitsChangeOnlyAtRestart() {
        let old = DaemonConfiguration()
        var new = old
        new.hteLimits.maxConnections = 100
        #expect(ReloadService.restartOnlyChanges(old: old, new: new).contains("producer.hte"))
        #expect(ReloadService.keepingRestartOnly(new: new, old: old).hteLimits == old.hteLimits)
    }

    @Test func theDescriptorBudget() {
        let needed = FileDescriptorBudget.needed(hteConnections: 256 + 64, rpcConnections: 256)
        #expect(needed == 256 + 64 + 256 + FileDescriptorBudget.margin)
        #expect(FileDescriptorBudget.plan(needed: needed, soft: 1024, hard: 524_288) == .fits)
        #expect(FileDescriptorBudget.plan(needed: needed, soft: 256, hard: 4096) == .raise(to: 4096))
        #expect(FileDescriptorBudget.plan(needed: needed, soft: 256, hard: 512) == .short(raiseTo: 512))
        #expect(FileDescriptorBudget.plan(needed: needed, soft: 512, hard: 512) == .short(raiseTo: nil))
    }

    @Test func theShippedUnitHoldsTheDefaultBudget() throws {
        let unit = try String(contentsOf: SystemdUnitTests.root.appendingPathComponent("systemd/wpwithind.service"), encoding: .utf8)
        let line = try #require(unit.split(separator: "\n").first { $0.hasPrefix("LimitNOFILE=") })
        let limit = try #require(UInt64(line.dropFirst("LimitNOFILE=".count)))
        let defaults = DaemonConfiguration()
        let needed = FileDescriptorBudget.needed(
            hteConnections: defaults.hteLimits.maxConnections + hteServerConfiguration(defaults).maxPendingRefusals,
            rpcConnections: defaults.maxConnections)
        #expect(FileDescriptorBudget.plan(needed: needed, soft: limit, hard: limit) == .fits)
    }
}

/// The start-up check on a real daemon whose descriptor limit is set low by `prlimit` (util-linux).
@Suite struct FileDescriptorLimitTests {
    /// Starts a producer under `prlimit --nofile=soft:hard`; returns it and its soft limit as the kernel has it.
    func start(soft: Int, hard: Int) async throws -> (DaemonProcess, Int) {
        let dir = try TempDir()
        var environment = loopbackDiscovery(port: try freeUDPPort(), roles: "producer")
        environment["WPWITHIND_HTE_PORT"] = "0"
        let daemon = try DaemonProcess(
            dir: dir,
            extraArguments: [
                "--nofile=\(soft):\(hard)", "--", BuiltProducts.path("wpwithind"),
                "--socket", dir.file("rpc.sock"), "--state-dir", dir.file("state"), "--log-level", "debug",
            ],
            environment: environment, executablePath: "/usr/bin/prlimit", useDefaultArguments: false)
        try await daemon.waitUntilListening()
        let limits = try String(contentsOfFile: "/proc/\(daemon.pid)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        return (daemon, try #require(Int(fields[3])))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit")))
    func aLowSoftLimitIsRaisedToTheHardLimit() async throws {
        let (daemon, soft) = try await start(soft: 256, hard: 4096)
        #expect(soft == 4096)
        #expect(daemon.log.contains("Raised the file descriptor limit to hold the connection caps"))
        #expect(try await daemon.stop() == 0)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit")))
    func aHardLimitBelowTheCapsIsAWarningWithTheNumbers() async throws {
        let (daemon, soft) = try await start(soft: 128, hard: 512)
        #expect(soft == 512)
        let line = try #require(daemon.log.split(separator: "\n").first { $0.contains("The file descriptor limit is below what the connection caps need") })
        #expect(line.contains("warning"))
        #expect(line.contains("fd.needed=640") && line.contains("fd.hard=512") && line.contains("hte.max_connections=320"))
        #expect(try await daemon.stop() == 0)
    }
}
