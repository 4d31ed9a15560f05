#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

/// The unit's sandbox (issue 12, item 5): its exposure score, and a whole purchase by daemons running under
/// what its hardening lines do, emulated without systemd (no systemd runs here): the system-call filter
/// (`SystemCallFilter=@system-service`, `~@privileged @resources`, native architecture only) and
/// `MemoryDenyWriteExecute=yes` as a seccomp filter built from systemd's own group lists, compiled at test
/// time, failing every other call with `EPERM` as the unit's `SystemCallErrorNumber=EPERM` does (the daemon
/// must still complete a purchase: SQLite, for one, runs `fchown` as root and ignores its failure),
/// `LimitNOFILE=4096`, and `ProtectProc=invisible` + `ProcSubset=pid` as a /proc mounted with those options.
@Suite struct HardeningTests {
    static let unit = SystemdUnitTests.root.appendingPathComponent("systemd/wpwithind.service").path

    static func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func theExposureScoreIsAtMost2() async throws {
        let unit = Self.unit
        let (status, output) = try await onOwnThread { try Self.run("/usr/bin/systemd-analyze", ["security", "--offline=true", unit]) }
        #expect(status == 0, "\(output)")
        let line = try #require(output.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(score <= 2.0, "\(line)")
    }

    /// systemd's system-call groups (`systemd-analyze syscall-filter`), expanded.
    static func groups() throws -> [String: [String]] {
        let (status, output) = try run("/usr/bin/systemd-analyze", ["syscall-filter"])
        guard status == 0 else { throw HarnessError("systemd-analyze syscall-filter: \(output)") }
        var groups: [String: [String]] = [:]
        var current: String?
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("@") {
                current = String(line)
                groups[String(line)] = []
            } else if let group = current, line.hasPrefix("    ") {
                let item = line.trimmingCharacters(in: .whitespaces)
                if !item.hasPrefix("#"), !item.isEmpty { groups[group, default: []].append(item) }
            }
        }
        return groups
    }

    static func expand(_ name: String, _ groups: [String: [String]]) -> Set<String> {
        guard name.hasPrefix("@") else { return [name] }
        return (groups[name] ?? []).reduce(into: Set<String>()) { $0.formUnion(expand($1, groups)) }
    }

    /// The system calls the unit's lines allow, from the unit file itself.
    static func allowedSystemCalls() throws -> Set<String> {
        let groups = try groups()
        let unit = try String(contentsOfFile: unit, encoding: .utf8)
        var allowed = Set<String>()
        for line in unit.split(separator: "\n") where line.hasPrefix("SystemCallFilter=") {
            let value = line.dropFirst("SystemCallFilter=".count)
            if value.hasPrefix("~") {
                for item in value.dropFirst().split(separator: " ") { allowed.subtract(expand(String(item), groups)) }
            } else {
                for item in value.split(separator: " ") { allowed.formUnion(expand(String(item), groups)) }
            }
        }
        return allowed
    }

    /// A wrapper that sets the unit's file limit, installs the filter and execs its arguments.
    static func buildFilter(in dir: TempDir) throws -> String {
        let allowed = try allowedSystemCalls().sorted()
        try #require(allowed.count > 200 && allowed.contains("read") && !allowed.contains("setrlimit") && !allowed.contains("mount"))
        let entries = allowed.map { "#ifdef SYS_\($0)\n    ALLOW(SYS_\($0));\n#endif" }.joined(separator: "\n")
        let source = """
            #include <errno.h>
            #include <linux/audit.h>
            #include <linux/filter.h>
            #include <linux/seccomp.h>
            #include <stddef.h>
            #include <stdio.h>
            #include <sys/mman.h>
            #include <sys/prctl.h>
            #include <sys/resource.h>
            #include <sys/syscall.h>
            #include <unistd.h>
            static struct sock_filter f[4096];
            static int n = 0;
            #define OP(x) (f[n++] = (struct sock_filter)x)
            #define KILL OP(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS))
            #define DENY OP(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)))
            #define LOAD_NR OP(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)))
            #define ALLOW(nr) do { OP(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1)); OP(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)); } while (0)
            /* MemoryDenyWriteExecute: no mapping both writable and executable, no mprotect adding exec. */
            #define DENY_PROT(nr, mask, all) do { OP(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4)); \\
                OP(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2]))); \\
                OP(BPF_STMT(BPF_ALU | BPF_AND | BPF_K, (mask))); OP(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (all), 0, 1)); DENY; LOAD_NR; } while (0)
            int main(int argc, char **argv) {
                if (argc < 2) return 2;
                struct rlimit files = {4096, 4096};  /* LimitNOFILE=4096 */
                if (setrlimit(RLIMIT_NOFILE, &files) != 0) { perror("setrlimit"); return 2; }
                OP(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
                OP(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0)); KILL;  /* native only */
                LOAD_NR;
                OP(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1)); KILL;          /* no x32 */
                DENY_PROT(SYS_mmap, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC);
                DENY_PROT(SYS_mprotect, PROT_EXEC, PROT_EXEC);
                DENY_PROT(SYS_pkey_mprotect, PROT_EXEC, PROT_EXEC);
            \(entries)
                DENY;
                struct sock_fprog program = {.len = (unsigned short)n, .filter = f};
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("no_new_privs"); return 2; }
                if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) { perror("seccomp"); return 2; }
                execv(argv[1], argv + 1);
                perror("execv");
                return 2;
            }
            """
        try source.write(toFile: dir.file("filter.c"), atomically: true, encoding: .utf8)
        let output = dir.file("unit-sandbox")
        let (status, log) = try run("/usr/bin/cc", ["-O1", "-o", output, dir.file("filter.c")])
        guard status == 0 else { throw HarnessError("cc: \(log)") }
        return output
    }

    @Test(.enabled(if: TmpfsVolume.canMount && FileManager.default.isExecutableFile(atPath: "/usr/bin/cc")))
    func aWholePurchaseRunsUnderTheUnitsSandbox() async throws {
        let dir = try TempDir()
        // Compiling and running the filter block: on threads of their own, off the Swift concurrency pool.
        let filter = try await onOwnThread { try Self.buildFilter(in: dir) }
        // The filter bites: a call of @privileged (fchownat) and one of @resources (ioprio_set) are refused.
        _ = FileManager.default.createFile(atPath: dir.file("owned"), contents: nil)
        let owned = dir.file("owned")
        let chown = try await onOwnThread { try Self.run(filter, ["/bin/chown", "root", owned]) }
        #expect(chown.status != 0 && chown.output.contains("Operation not permitted"), "\(chown)")
        let ionice = try await onOwnThread { try Self.run(filter, ["/usr/bin/ionice", "-c", "3", "/bin/true"]) }
        #expect(ionice.status != 0 && ionice.output.contains("Operation not permitted"), "\(ionice)")
        let wrapper = [
            "/usr/bin/unshare", "-m", "--", "/bin/sh", "-c",
            #"mount -t proc -o hidepid=invisible,subset=pid proc /proc && exec "$@""#, "sh", filter,
        ]
        let market = try await Market()
        let producer = try await market.startProducer(wrapper: wrapper)
        let consumer = try await market.startConsumer(wrapper: wrapper)
        let p = try RawClient(path: producer.socketPath)
        let c = try RawClient(path: consumer.socketPath)
        let events = try RawClient(path: producer.socketPath)
        _ = try await events.result("subscribe", ["types": ["producer.deliveryEnded"]])
        let serverId = try await #require(try p.result("getDevice")["serverId"]?.stringValue)
        _ = try await p.result("startServiceBroadcast")
        _ = try await c.result("searchForDevice", ["serverId": .string(serverId), "timeoutMs": 30_000])
        let quote = try await c.result("selectService", ["serverId": .string(serverId), "serviceId": 1, "priceId": 1, "numberOfUnits": 2])
        let purchase = try await c.result("makePayment", ["paymentReferenceId": try #require(quote["paymentReferenceId"])])
        let purchaseId = try #require(purchase["purchaseId"])
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": purchaseId, "units": 2])["unitsToSupply"] == 2)
        #expect(try await c.result("endServiceDelivery", ["purchaseId": purchaseId, "unitsReceived": 2])["unitsRemaining"] == 0)
        #expect(try await events.readJSON()["params"]?["type"] == "producer.deliveryEnded")
        #expect(try await p.result("getStatus")["ready"] == true)
        // A reload (SIGHUP) and a clean stop, still inside the sandbox.
        producer.signal(SIGHUP)
        #expect(try await p.result("getStatus")["ready"] == true)
        #expect(try await producer.stop() == 0, "\(producer.log)")
        #expect(try await consumer.stop() == 0, "\(consumer.log)")
        await market.stop()
        for log in [producer.log, consumer.log] {
            #expect(!log.contains(" error ") && !log.contains(" critical "), "\(log)")
        }
    }
}
