#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore

/// `subscribe` / `unsubscribe`: seq order, filters and resume, on a real daemon.
@Suite struct EventStreamTests {
    @Test func eventsArriveInSeqOrderAndResumeReplaysWhatWasMissed() async throws {
        let dir = try TempDir()
        let daemon = try DaemonProcess(dir: dir)
        try await daemon.waitUntilListening()
        let watcher = try RawClient(path: daemon.socketPath)
        let subscribed = try await watcher.result("subscribe")
        let start = try #require(subscribed["lastSeq"]?.int64Value)
        #expect(start >= 1)  // daemon.started

        for _ in 0..<3 { daemon.signal(SIGHUP); try await Task.sleep(for: .milliseconds(150)) }
        var seqs: [Int64] = []
        while seqs.count < 3 {
            let message = try await watcher.readJSON()
            #expect(message["method"] == "event")
            #expect(message["params"]?["time"]?.stringValue != nil)
            if let seq = message["params"]?["seq"]?.int64Value { seqs.append(seq) }
        }
        #expect(seqs == seqs.sorted())
        #expect(Set(seqs).count == 3)
        #expect(seqs.allSatisfy { $0 > start })

        // A second client resumes from the first event it "missed".
        let late = try RawClient(path: daemon.socketPath)
        let resumed = try await late.result("subscribe", ["resumeFrom": .int(start)])
        #expect(resumed["replayed"] == 3)
        var replayed: [Int64] = []
        while replayed.count < 3 {
            if let seq = try await late.readJSON()["params"]?["seq"]?.int64Value { replayed.append(seq) }
        }
        #expect(replayed == seqs)

        // Unsubscribed: no more events on that connection.
        #expect(try await late.result("unsubscribe")["subscribed"] == false)
        daemon.signal(SIGHUP)
        _ = try await watcher.readJSON()  // the watcher still gets it
        let next = try await late.call("getStatus")
        #expect(next["result"] != nil)
        #expect(try await daemon.stop() == 0)
    }

    @Test func resumeFromWorksAcrossARestartBecauseTheJournalIsDurable() async throws {
        let dir = try TempDir()
        let first = try DaemonProcess(dir: dir)
        try await first.waitUntilListening()
        let watcher = try RawClient(path: first.socketPath)
        let start = try await #require(try watcher.result("subscribe")["lastSeq"]?.int64Value)
        for _ in 0..<2 { first.signal(SIGHUP); _ = try await watcher.readJSON() }
        #expect(try await first.stop() == 0)

        // A crash must not lose committed events either.
        let second = try DaemonProcess(dir: dir)
        try await second.waitUntilListening()
        let started = try RawClient(path: second.socketPath)
        _ = try await started.result("subscribe", ["types": ["daemon.started"], "resumeFrom": .int(start)])
        #expect(try await started.readJSON()["params"]?["type"] == "daemon.started")  // committed: now crash
        second.signal(SIGKILL)
        _ = try await second.waitForExit()

        let third = try DaemonProcess(dir: dir)
        try await third.waitUntilListening()
        let late = try RawClient(path: third.socketPath)
        let resumed = try await late.result("subscribe", ["resumeFrom": .int(start)])
        #expect(resumed["truncated"] == false)
        let count = Int(try #require(resumed["replayed"]?.int64Value))
        var types: [String] = []
        var seqs: [Int64] = []
        for _ in 0..<count {
            let params = try await late.readJSON()["params"]
            types.append(params?["type"]?.stringValue ?? "?")
            seqs.append(params?["seq"]?.int64Value ?? -1)
        }
        // Gap-free and in order, starting right after the last seq the client saw.
        #expect(seqs == Array((start + 1)...(start + Int64(count))))
        #expect(types == ["daemon.reloaded", "daemon.reloaded", "daemon.stopping", "daemon.started", "daemon.started"])
        #expect(try await third.stop() == 0)
    }

    @Test func errorEventsCanBeSubscribedToByNameAndAreListed() async throws {
        let dir = try TempDir()
        let daemon = try DaemonProcess(dir: dir)
        try await daemon.waitUntilListening()
        let client = try RawClient(path: daemon.socketPath)
        let subscribed = try await client.result("subscribe", ["types": ["producer.error", "consumer.error"]])
        #expect(subscribed["subscribed"] == true)
        let discover = try await RawClient(path: daemon.socketPath).result("rpc.discover")
        let subscribe = discover["methods"]?.arrayValue?.first { $0["name"] == "subscribe" }
        let listed = subscribe?["params"]?.arrayValue?.first { $0["name"] == "types" }?["schema"]?["items"]?["enum"]?.arrayValue ?? []
        #expect(listed.contains("producer.error") && listed.contains("consumer.error"), "\(listed)")
        // A type that does not exist is still refused.
        #expect(try await client.call("subscribe", ["types": ["producer.nosuch"]])["error"]?["code"] == .int(-32602))
        daemon.signal(SIGTERM)
        _ = try await daemon.waitForExit()
    }

    @Test func typeFiltersApply() async throws {
        let dir = try TempDir()
        let daemon = try DaemonProcess(dir: dir)
        try await daemon.waitUntilListening()
        let client = try RawClient(path: daemon.socketPath)
        _ = try await client.result("subscribe", ["types": ["daemon.stopping"], "resumeFrom": 0])
        daemon.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(200))
        daemon.signal(SIGTERM)
        let event = try await client.readJSON()
        // Neither daemon.started (replayed) nor daemon.reloaded pass the filter.
        #expect(event["params"]?["type"] == "daemon.stopping")
        _ = try await daemon.waitForExit()
    }
}
