import ArgumentParser
import Dispatch
import Foundation

/// `clients` threads, each with its own connection to the consumer's socket, running purchase flows until a
/// flow budget is used, a deadline passes, or a client's `stopWhen` says so. Start it, poll `completed`, `wait()`.
final class FlowLoad: @unchecked Sendable {
    // @unchecked: every mutable member is read and written under `lock`.
    struct Settings: Sendable {
        var clients: Int
        var socket: String
        var serverID: String
        /// Producers to spread the clients over (client i buys from `serverIDs[i % count]`); empty: `serverID`.
        var serverIDs: [String] = []
        var serviceID: Int
        var maxFlows: Int = .max
        var deadline: UInt64 = .max  // monotonic ns
        var recordLatency = true
        /// Called with a failed step; true ends that client (e.g. "sold out").
        var stopWhen: @Sendable (FlowError) -> Bool = { _ in false }
    }

    let settings: Settings
    private let lock = NSLock()
    private let group = DispatchGroup()
    private var issued = 0
    private var done = 0
    private var running = 0
    private var failures: [String: Int] = [:]
    private var harnessErrors: [String] = []
    private var latencies = LatencyStats(capacity: 0)
    private(set) var startedAt: UInt64 = 0
    private(set) var endedAt: UInt64 = 0

    init(_ settings: Settings) { self.settings = settings }

    var completed: Int { lock.withLock { done } }

    /// True once every client has returned (budget used, deadline passed, or each one stopped or broke).
    var isFinished: Bool { lock.withLock { running == 0 } }

    func start() {
        startedAt = monotonicNanos()
        lock.withLock { running = settings.clients }
        for index in 0..<settings.clients {
            group.enter()
            let thread = Thread { [self] in
                defer {
                    lock.withLock { running -= 1 }
                    group.leave()
                }
                runClient(serverID: settings.serverIDs.isEmpty ? settings.serverID : settings.serverIDs[index % settings.serverIDs.count])
            }
            thread.name = "flow-client-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Waits for every client; returns the run's summary.
    func wait() -> Result {
        group.wait()
        endedAt = monotonicNanos()
        return lock.withLock {
            Result(flows: done, seconds: Double(endedAt - startedAt) / 1e9, failures: failures, harnessErrors: harnessErrors, latencies: latencies)
        }
    }

    struct Result {
        var flows: Int
        var seconds: Double
        var failures: [String: Int]
        var harnessErrors: [String]
        var latencies: LatencyStats
        var flowsPerSecond: Double { seconds > 0 ? Double(flows) / seconds : 0 }
        var failureCount: Int { failures.values.reduce(0, +) + harnessErrors.count }
        /// Throws when a client broke (closed connection, unreadable answer): the harness cannot vouch for the run.
        func requireHealthy() throws {
            guard harnessErrors.isEmpty else {
                throw ValidationError("\(harnessErrors.count) flow client(s) broke: \(harnessErrors.prefix(3).joined(separator: "; "))")
            }
        }

        var failureText: String {
            (failures.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" } + harnessErrors.prefix(3)).joined(separator: ", ")
        }
    }

    private func claim() -> Bool {
        lock.withLock {
            guard issued < settings.maxFlows else { return false }
            issued += 1
            return true
        }
    }

    private func runClient(serverID: String) {
        let client: LineClient
        do { client = try LineClient(path: settings.socket) } catch {
            lock.withLock { harnessErrors.append("connect: \(error)") }
            return
        }
        var local = LatencyStats(capacity: settings.recordLatency ? 4096 : 0)
        defer { lock.withLock { latencies.append(contentsOf: local) } }
        while monotonicNanos() < settings.deadline, claim() {
            do {
                let timing = try purchaseFlow(client, serverID: serverID, serviceID: settings.serviceID)
                if settings.recordLatency { local.add(nanoseconds: timing.total) }
                lock.withLock { done += 1 }
            } catch let error as FlowError {
                lock.withLock {
                    issued -= 1
                    failures["\(error.step.rawValue):\(error.error.code)" + (error.error.peerCode.map { "/\($0)" } ?? ""), default: 0] += 1
                }
                if settings.stopWhen(error) { return }
            } catch {
                // A broken connection or an unreadable answer: the harness cannot go on with this client.
                lock.withLock {
                    issued -= 1
                    harnessErrors.append("\(error)")
                }
                return
            }
        }
    }
}
