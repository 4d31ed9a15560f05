import Foundation
import Testing
import WPWithinTestSupport

/// The shipped units pass `systemd-analyze verify` with no complaint at all.
@Suite struct SystemdUnitTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func unitsVerify() throws {
        let dir = try TempDir()
        let service = try String(contentsOf: Self.root.appendingPathComponent("systemd/wpwithind.service"), encoding: .utf8)
        let socket = try String(contentsOf: Self.root.appendingPathComponent("systemd/wpwithind.socket"), encoding: .utf8)
        #expect(service.contains("Type=notify"))
        // getifaddrs() needs a netlink socket: without it a producer cannot find its LAN address.
        let families = try #require(service.split(separator: "\n").first { $0.hasPrefix("RestrictAddressFamilies=") })
        #expect(families.split(separator: "=")[1].split(separator: " ").contains("AF_NETLINK"))
        #expect(socket.contains("ListenStream=/run/wpwithin.sock"))
        #expect(socket.contains("SocketMode=0660"))
        // verify checks that ExecStart exists: point it at the binary this build made.
        try service.replacingOccurrences(of: "/usr/local/bin/wpwithind", with: BuiltProducts.path("wpwithind"))
            .write(toFile: dir.file("wpwithind.service"), atomically: true, encoding: .utf8)
        try socket.write(toFile: dir.file("wpwithind.socket"), atomically: true, encoding: .utf8)

        let stderrPath = dir.file("verify.err")
        let pid = try spawn(
            "/usr/bin/systemd-analyze",
            arguments: ["verify", dir.file("wpwithind.service"), dir.file("wpwithind.socket")],
            environment: ProcessInfo.processInfo.environment,
            stderrPath: stderrPath
        )
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let complaints = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(complaints)")
        #expect(complaints.isEmpty, "\(complaints)")
    }

    /// The tmpfiles entry makes the credentials directory private (applied to a scratch root, not this machine).
    @Test func theTmpfilesEntryMakesAPrivateCredentialsDirectory() throws {
        let dir = try TempDir()
        let stderrPath = dir.file("tmpfiles.err")
        let pid = try spawn(
            "/usr/bin/systemd-tmpfiles",
            arguments: ["--create", "--root=" + dir.path, Self.root.appendingPathComponent("systemd/wpwithind.tmpfiles").path],
            environment: ProcessInfo.processInfo.environment,
            stderrPath: stderrPath
        )
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status == 0, "\((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")")
        var info = stat()
        #expect(stat(dir.path + "/etc/wpwithind/credentials", &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o700)
        #expect((info.st_mode & S_IFMT) == S_IFDIR)
    }
}
