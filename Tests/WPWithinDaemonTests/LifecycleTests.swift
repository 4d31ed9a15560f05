#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore

/// Start-up, systemd integration, signals and the socket file, on real processes.
@Suite struct LifecycleTests {
    @Test func notifiesReadyStatusStoppingAndRemovesTheSocketOnSIGTERM() async throws {
        let dir = try TempDir()
        let notify = try NotifyListener(path: dir.file("notify.sock"))
        let daemon = try DaemonProcess(dir: dir, environment: ["NOTIFY_SOCKET": notify.path])
        let startup = try await notify.waitFor("READY=1")
        let ready = try #require(startup.last)
        #expect(ready.contains("STATUS=Serving JSON-RPC on \(daemon.socketPath)"))
        // READY=1 only once the socket is bound: it must accept a connection right now.
        #expect(probe(daemon.socketPath) == 0)
        // The identity lives in the database only; identity.json is no longer written.
        #expect(FileManager.default.fileExists(atPath: daemon.stateDir + "/wpwithin.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: daemon.stateDir + "/identity.json"))

        daemon.signal(SIGTERM)
        let stopping = try await notify.waitFor("STOPPING=1")
        #expect(stopping.last?.contains("STATUS=") == true)
        #expect(try await daemon.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
    }

    @Test func SIGINTAlsoStopsCleanly() async throws {
        let dir = try TempDir()
        let daemon = try DaemonProcess(dir: dir)
        try await daemon.waitUntilListening()
        daemon.signal(SIGINT)
        #expect(try await daemon.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
    }

    @Test func pingsTheWatchdog() async throws {
        let dir = try TempDir()
        let notify = try NotifyListener(path: dir.file("notify.sock"))
        let daemon = try DaemonProcess(dir: dir, environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"])
        _ = try await notify.waitFor("READY=1")
        // Two pings at least (200 ms apart) after readiness.
        _ = try await notify.waitFor("WATCHDOG=1")
        _ = try await notify.waitFor("WATCHDOG=1")
        #expect(try await daemon.stop() == 0)
    }

    /// sd_notify blocks while the service manager's socket is full (10 datagrams). With nobody reading
    /// ours, the daemon must go on answering and stop cleanly on SIGTERM; once the socket is read again,
    /// what was queued (STOPPING=1 among it) arrives. Before the fix the event loop itself blocked in
    /// sd_notify: getStatus went unanswered and SIGTERM never finished.
    @Test func aNotifySocketNobodyReadsStallsNothing() async throws {
        let dir = try TempDir()
        let notify = try NotifyListener(path: dir.file("notify.sock"))
        // A ping every 50 ms: the socket's 10 places are full after half a second of not reading.
        let daemon = try DaemonProcess(dir: dir, environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "100000"])
        _ = try await notify.waitFor("READY=1")
        // Stop reading. Each round trip also gives the daemon time to ping; 40 rounds at 50 ms apart are
        // 2 s, 40 pings (fewer on a loaded machine, which can only make the test easier to pass).
        let client = try RawClient(path: daemon.socketPath)
        for _ in 0..<40 {
            #expect(try await client.result("getStatus")["ready"] == true)
            try await Task.sleep(for: .milliseconds(50))
        }
        daemon.signal(SIGTERM)
        _ = try await notify.waitFor("STOPPING=1")
        #expect(try await daemon.waitForExit() == 0)
    }

    @Test func socketActivationUsesThePassedSocketAndLeavesItsFile() async throws {
        let dir = try TempDir()
        let path = dir.file("activated.sock")
        let daemon = try DaemonProcess(
            dir: dir,
            socketPath: path,
            extraArguments: [
                "-l", path, "--fdname=rpc",
                // systemd-socket-activate gives the daemon only the variables named here: keep it on loopback
                // and an ephemeral HTE port (the default 64521 may be taken by another test's daemon).
                "-E", "WPWITHIND_HTE_HOST=127.0.0.1", "-E", "WPWITHIND_HTE_PORT=0",
                "-E", "WPWITHIND_BROADCAST_ADDRESS=127.255.255.255", "-E", "WPWITHIND_BROADCAST_SOURCE=127.0.0.1",
                "-E", "WPWITHIND_SCAN_BIND_ADDRESS=127.0.0.1", "-E", "WPWITHIND_ADVERTISED_HOST=127.0.0.1",
                // A configured path other than the socket unit's: the passed socket is what is served and reported.
                BuiltProducts.path("wpwithind"), "--state-dir", dir.file("state"), "--socket", dir.file("configured.sock"),
            ],
            executablePath: "/usr/bin/systemd-socket-activate",
            useDefaultArguments: false
        )
        try await daemon.waitUntilListening()
        // systemd-socket-activate starts the daemon on the first connection.
        let client = try RawClient(path: path)
        #expect(try await client.result("getDevice")["serverId"] != nil)
        #expect(try await client.result("getStatus")["socketPath"] == .string(path))
        #expect(!FileManager.default.fileExists(atPath: dir.file("configured.sock")))
        let log = daemon.log
        #expect(log.contains("Using the socket passed by systemd"), "\(log)")
        #expect(log.contains("rpc.fd_name=rpc"))
        daemon.signal(SIGTERM)
        _ = try await daemon.waitForExit()
    }

    @Test func aStaleSocketFileIsReplaced() async throws {
        let dir = try TempDir()
        let path = dir.file("rpc.sock")
        // A socket file nobody listens on, as a crash leaves it.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: Array(path.utf8))
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        #expect(bound == 0)
        #expect(probe(path) == ECONNREFUSED)

        let daemon = try DaemonProcess(dir: dir, socketPath: path)
        try await daemon.waitUntilListening()
        #expect(try await RawClient(path: path).result("getDevice")["serverId"] != nil)
        #expect(daemon.log.contains("Replaced a stale socket file"))
        #expect(try await daemon.stop() == 0)
    }

    @Test func refusesToStartWhenADaemonAlreadyListens() async throws {
        let dir = try TempDir()
        let first = try DaemonProcess(dir: dir)
        try await first.waitUntilListening()
        let second = try DaemonProcess(dir: dir, socketPath: first.socketPath)
        let status = try await second.waitForExit()
        #expect(status != 0)
        #expect(second.log.contains("another daemon is already listening on \(first.socketPath)"))
        // The first one is untouched.
        #expect(try await RawClient(path: first.socketPath).result("getDevice")["serverId"] != nil)
        #expect(try await first.stop() == 0)
    }

    /// A fatal bind error names the address and port, and the daemon never says READY=1 first.
    @Test func anHTEPortInUseIsAFatalErrorNamingTheAddressAndNoReadyIsSent() async throws {
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, length) == 0 && listen(holder, 1) == 0 && getsockname(holder, $0, &length) == 0 }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let dir = try TempDir()
        let notify = try NotifyListener(path: dir.file("notify.sock"))
        var env = loopbackDiscovery(port: try freeUDPPort(), roles: "producer")
        env["NOTIFY_SOCKET"] = notify.path
        env["WPWITHIND_HTE_PORT"] = String(port)
        let daemon = try DaemonProcess(dir: dir, environment: env)
        #expect(try await daemon.waitForExit() == 1)
        #expect(daemon.log.contains("cannot listen on 127.0.0.1:\(port)"), "\(daemon.log)")
        #expect(!daemon.log.contains("Daemon ready"))
        #expect(!notify.drain().contains { $0.contains("READY=1") })
    }

    @Test func refusesToReplaceAFileThatIsNotASocket() async throws {
        let dir = try TempDir()
        let path = dir.file("rpc.sock")
        _ = FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8))
        let daemon = try DaemonProcess(dir: dir, socketPath: path)
        #expect(try await daemon.waitForExit() != 0)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
        #expect(daemon.log.contains("is not a socket"))
    }

    @Test func socketModeDefaultsTo0660AndIsConfigurable() async throws {
        let dir = try TempDir()
        let daemon = try DaemonProcess(dir: dir)
        try await daemon.waitUntilListening()
        var info = stat()
        #expect(stat(daemon.socketPath, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o660)
        #expect(try await daemon.stop() == 0)

        let other = try DaemonProcess(dir: dir, socketPath: dir.file("b.sock"), environment: ["WPWITHIND_SOCKET_MODE": "0600"])
        try await other.waitUntilListening()
        #expect(stat(other.socketPath, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(try await other.stop() == 0)
    }

    @Test func theIdentitySurvivesRestarts() async throws {
        let dir = try TempDir()
        let first = try DaemonProcess(dir: dir)
        try await first.waitUntilListening()
        let id1 = try await RawClient(path: first.socketPath).result("getDevice")["serverId"]
        #expect(try await first.stop() == 0)
        let second = try DaemonProcess(dir: dir)
        try await second.waitUntilListening()
        let id2 = try await RawClient(path: second.socketPath).result("getDevice")["serverId"]
        #expect(id1 != nil)
        #expect(id1 == id2)
        #expect(try await second.stop() == 0)
    }

    @Test func configurationErrorsStopStartUpWithAClearMessage() async throws {
        let dir = try TempDir()
        let config = dir.file("bad.json")
        try Data(#"{"rpc":{"socketPath":"/tmp/x.sock","sockMode":"0660"}}"#.utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(dir: dir, extraArguments: ["--config", config])
        #expect(try await daemon.waitForExit() == 78)
        #expect(daemon.log.contains("rpc.sockMode: unknown key"))
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
    }

    @Test func SIGHUPReloadsTheConfigurationAndPublishesAnEvent() async throws {
        let dir = try TempDir()
        let config = dir.file("wpwithind.json")
        func write(_ name: String) throws {
            try Data(#"{"device":{"name":"\#(name)","description":"test"}}"#.utf8).write(to: URL(fileURLWithPath: config))
        }
        try write("before")
        let notify = try NotifyListener(path: dir.file("notify.sock"))
        let daemon = try DaemonProcess(dir: dir, extraArguments: ["--config", config], environment: ["NOTIFY_SOCKET": notify.path])
        try await daemon.waitUntilListening()
        let client = try RawClient(path: daemon.socketPath)
        #expect(try await client.result("getDevice")["name"] == "before")
        let subscription = try await client.result("subscribe", ["types": ["daemon.reloaded"]])
        #expect(subscription["subscribed"] == true)

        try write("after")
        daemon.signal(SIGHUP)
        let event = try await client.readJSON()
        #expect(event["method"] == "event")
        #expect(event["params"]?["type"] == "daemon.reloaded")
        #expect(try await client.result("getDevice")["name"] == "after")
        _ = try await notify.waitFor("RELOADING=1")
        _ = try await notify.waitFor("READY=1")

        // A broken file is refused and the running configuration stays.
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: config))
        daemon.signal(SIGHUP)
        _ = try await notify.waitFor("RELOADING=1")
        _ = try await notify.waitFor("READY=1")
        #expect(try await client.result("getDevice")["name"] == "after")
        #expect(daemon.log.contains("Configuration reload failed"))
        #expect(try await daemon.stop() == 0)
    }
}
