import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

/// `wpw-sandbox-gateway --state-file`: orders, tokens and refunds survive kill -9 and a restart on the same port.
@Suite struct SandboxStateFileTests {
    @Test func orderPlacedBeforeKill9IsFoundAndRefundedAfterRestart() async throws {
        try await withSandbox { sandbox, _ in
            let token = try await sandbox.newToken()
            let spare = try await sandbox.newToken()
            let reference = uniqueReference()
            let placed = try await sandbox.placeOrder(token: token, reference: reference)
            #expect(placed.status == 200)
            let orderCode = try #require(placed.json?["orderCode"]?.stringValue)

            // kill -9 right after the answer: the order must already be on disk.
            try await sandbox.restart(hard: true)
            let found = try await sandbox.findOrder(reference: reference)
            #expect(found.status == 200)
            #expect(found.json?["orderCode"]?.stringValue == orderCode)
            #expect(found.json?["paymentStatus"] == "SUCCESS")
            #expect(found.json?["amount"] == 500)
            #expect(try await sandbox.lookupOrder(code: orderCode).status == 200)
            // The token stays used; the unused one stays usable.
            #expect(try await sandbox.placeOrder(token: token, reference: uniqueReference()).json?["customCode"] == "TKN_EXPIRED")
            #expect(try await sandbox.placeOrder(token: spare, reference: uniqueReference()).status == 200)

            #expect(try await sandbox.refund(code: orderCode, amount: 200).status == 200)
            try await sandbox.restart(hard: true)
            let partly = try await sandbox.lookupOrder(code: orderCode)
            #expect(partly.json?["paymentStatus"] == "PARTIALLY_REFUNDED")
            #expect(partly.json?["refundedAmount"] == 200)
            #expect(try await sandbox.refund(code: orderCode).status == 200)
            #expect(try await sandbox.refund(code: orderCode).json?["customCode"] == "ORDER_NOT_REFUNDABLE")

            // The audit log kept every run's lines; refund lines name the order, the reference and the amount.
            let audit = sandbox.audit
            #expect(audit.charges(reference: reference).map(\.orderCode) == [orderCode])
            #expect(audit.refunds(orderCode: orderCode).map(\.refundAmount) == [200, 300])
            #expect(audit.refunds(orderCode: orderCode).allSatisfy { $0.customerOrderCode == reference })
            #expect(audit.netCharged(reference: reference) == 0)
            #expect(audit.events("token.created").count == 2)
            #expect(audit.doubleCharged.isEmpty)
        }
    }

    @Test func halfWrittenLastLinesAreCutOffAndTheNextRecordsStartOnTheirOwnLines() async throws {
        try await withSandbox { sandbox, _ in
            let first = uniqueReference()
            #expect(try await sandbox.placeOrder(token: try await sandbox.newToken(), reference: first).status == 200)
            await sandbox.kill9()
            // What a write cut short leaves behind, in both files.
            for path in [try #require(sandbox.stateFile), sandbox.auditLog] {
                let handle = try #require(FileHandle(forWritingAtPath: path))
                handle.seekToEndOfFile()
                handle.write(Data(#"{"type":"order","orderCode":"half-writ"#.utf8))
                try handle.close()
            }
            try await sandbox.start()
            let second = uniqueReference()
            #expect(try await sandbox.placeOrder(token: try await sandbox.newToken(), reference: second).status == 200)
            try await sandbox.restart(hard: true)
            #expect(try await sandbox.findOrder(reference: first).status == 200)
            #expect(try await sandbox.findOrder(reference: second).status == 200)
            for path in [try #require(sandbox.stateFile), sandbox.auditLog] {
                let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                #expect(lines.last == "", "\(path) does not end with a newline")
                for line in lines.dropLast() { #expect((try? JSONValue.parse(String(line))) != nil, "damaged line in \(path): \(line)") }
            }
            #expect(Set(sandbox.audit.charges.map(\.customerOrderCode)) == [first, second])
            let log = try String(contentsOfFile: try #require(await sandbox.stderrPaths.dropLast().last), encoding: .utf8)
            #expect(log.contains("Sandbox cut off a half-written last line"))
        }
    }

    @Test func aDamagedLineInTheMiddleRefusesToStart() async throws {
        try await withSandbox { sandbox, _ in
            #expect(try await sandbox.placeOrder(token: try await sandbox.newToken(), reference: uniqueReference()).status == 200)
            await sandbox.stop()
            let path = try #require(sandbox.stateFile)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            try Data(("not json\n" + text).utf8).write(to: URL(fileURLWithPath: path))
            let error = await #expect(throws: TestSupportError.self) { try await sandbox.start() }
            #expect(error?.description.contains("damaged line 1") == true)
        }
    }

    @Test func withoutAStateFileARestartForgets() async throws {
        try await withSandbox(stateFile: false) { sandbox, directory in
            let reference = uniqueReference()
            #expect(try await sandbox.placeOrder(token: try await sandbox.newToken(), reference: reference).status == 200)
            try await sandbox.restart(hard: true)
            #expect(try await sandbox.findOrder(reference: reference).status == 404)
            #expect(!FileManager.default.fileExists(atPath: directory.path("sandbox-state.jsonl")))
        }
    }

    @Test func theStateFileHoldsNoCardNumberCVCOrServiceKey() async throws {
        try await withSandbox { sandbox, _ in
            let token = try await sandbox.newToken()
            let code = try #require(try await sandbox.placeOrder(token: token, reference: uniqueReference()).json?["orderCode"]?.stringValue)
            #expect(try await sandbox.refund(code: code, amount: 100).status == 200)
            let text = try String(contentsOfFile: try #require(sandbox.stateFile), encoding: .utf8)
            #expect(text.contains("************1111"))
            #expect(!text.contains("4444333322221111"))
            #expect(!text.contains("444433332222"))
            #expect(!text.contains("\"123\""))
            #expect(!text.contains(merchant.serviceKey))
            let attributes = try FileManager.default.attributesOfItem(atPath: try #require(sandbox.stateFile))
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
        }
    }
}

/// The sandbox's control API (`--control`): fault rules before or after the charge, lookups that fail N times.
@Suite struct SandboxFaultRuleTests {
    @Test func afterCharge502StillPlacesChargesAndAuditsTheOrder() async throws {
        try await withSandbox { sandbox, _ in
            try await sandbox.setFaults([.init(route: "POST /orders", when: .afterCharge, status: 502, body: .text("<html>Bad Gateway</html>"), times: 1)])
            let reference = uniqueReference()
            let answer = try await sandbox.placeOrder(token: try await sandbox.newToken(), reference: reference)
            #expect(answer.status == 502)
            #expect(answer.text == "<html>Bad Gateway</html>")
            #expect(sandbox.audit.charges(reference: reference).count == 1)
            let found = try await sandbox.findOrder(reference: reference)
            #expect(found.status == 200)
            #expect(found.json?["paymentStatus"] == "SUCCESS")
            let fault = try #require(sandbox.audit.faults.first)
            #expect(fault["httpStatusCode"] == 502)
            #expect(fault["originalStatusCode"] == 200)
            #expect(fault["when"] == "after")
            // times: 1 — the next order is answered normally.
            #expect(try await sandbox.placeOrder(token: try await sandbox.newToken(), reference: uniqueReference()).status == 200)
            let rules = try await sandbox.faults()
            #expect(rules.first?["remaining"] == 0)
            #expect(rules.first?["hits"] == 1)
        }
    }

    @Test func beforeChargeStatusChargesNothingAndLeavesTheTokenUsable() async throws {
        try await withSandbox { sandbox, _ in
            try await sandbox.setFaults([.init(route: "POST /v1/orders", status: 503, body: .json(["customCode": "BUSY"]), times: 1)])
            let token = try await sandbox.newToken()
            let reference = uniqueReference()
            let answer = try await sandbox.placeOrder(token: token, reference: reference)
            #expect(answer.status == 503)
            #expect(answer.json?["customCode"] == "BUSY")
            #expect(sandbox.audit.charges.isEmpty)
            #expect(try await sandbox.findOrder(reference: reference).status == 404)
            #expect(try await sandbox.placeOrder(token: token, reference: reference).status == 200)
        }
    }

    @Test func lookupsAnswer503ForNTimesThenTheTruth() async throws {
        try await withSandbox { sandbox, _ in
            let reference = uniqueReference()
            let code = try #require(try await sandbox.placeOrder(token: try await sandbox.newToken(), reference: reference).json?["orderCode"]?.stringValue)
            try await sandbox.setFaults([
                .init(route: "GET /orders", status: 503, times: 2),
                .init(route: "GET /orders/*", status: 503, times: 1),
            ])
            #expect(try await sandbox.findOrder(reference: reference).status == 503)
            #expect(try await sandbox.lookupOrder(code: code).status == 503)
            #expect(try await sandbox.findOrder(reference: reference).status == 503)
            #expect(try await sandbox.findOrder(reference: reference).status == 200)
            #expect(try await sandbox.lookupOrder(code: code).status == 200)
            // A refund is another route: untouched.
            #expect(try await sandbox.refund(code: code).status == 200)
            try await sandbox.clearFaults()
            #expect(try await sandbox.faults().isEmpty)
        }
    }

    @Test func aDelayAfterTheChargeAnswersNoEarlierThanTheDelay() async throws {
        try await withSandbox { sandbox, _ in
            try await sandbox.setFaults([.init(route: "POST /orders", when: .afterCharge, delay: .milliseconds(700), times: 1)])
            let reference = uniqueReference()
            let token = try await sandbox.newToken()
            let clock = ContinuousClock()
            let start = clock.now
            let answer = try await sandbox.placeOrder(token: token, reference: reference)
            // A lower bound only: load can make it later, never earlier.
            #expect(clock.now - start >= .milliseconds(700))
            #expect(answer.status == 200)
            #expect(answer.json?["customerOrderCode"]?.stringValue == reference)
        }
    }

    @Test func theControlAPIIsOffWithoutTheFlag() async throws {
        try await withSandbox(control: false) { sandbox, _ in
            let rule: JSONValue = [["route": "POST /orders", "status": 502]]
            let refused = try await sandbox.request("POST", "/_sandbox/faults", json: rule)
            #expect(refused.status == 404)
            #expect(refused.json?["customCode"] == "NOT_FOUND")
            #expect(try await sandbox.placeOrder(token: try await sandbox.newToken(), reference: uniqueReference()).status == 200)
        }
    }

    @Test func theControlAPIIsRefusedOnANonLoopbackHost() async throws {
        let directory = try TemporaryDirectory(prefix: "wpw-faulttools")
        defer { directory.remove() }
        // The check comes before binding: nothing listens on 0.0.0.0.
        let outcome = try await withLaunchedProcess(
            BuiltExecutable.url(named: "wpw-sandbox-gateway"),
            arguments: ["--host", "0.0.0.0", "--port", "0", "--control"], stderrPath: directory.path("stderr.log")
        ) { process in
            await #expect(throws: TestSupportError.self) { try await process.nextLine() }
            return await process.terminate()
        }
        #expect(outcome != 0)
        #expect(directory.lines(of: "stderr.log").contains { $0.contains("loopback only") })
    }

    @Test func aBadRuleIsRefusedAndChangesNothing() async throws {
        try await withSandbox { sandbox, _ in
            try await sandbox.setFaults([.init(route: "GET /orders", status: 503)])
            for bad: JSONValue in [
                [["route": "POST /orders", "status": 502, "whenn": "after"]],
                [["route": "/orders", "status": 502]],
                [["route": "POST /orders", "status": 700]],
                [["route": "POST /orders", "when": "later", "status": 502]],
                [["route": "POST /orders"]],
            ] {
                let answer = try await sandbox.request("PUT", "/_sandbox/faults", json: bad)
                #expect(answer.status == 400, "\(bad.jsonString)")
                #expect(answer.json?["customCode"] == "BAD_FAULT_RULE")
            }
            let rules = try await sandbox.faults()
            #expect(rules.count == 1)
            #expect(rules.first?["route"] == "GET /orders")
        }
    }
}
