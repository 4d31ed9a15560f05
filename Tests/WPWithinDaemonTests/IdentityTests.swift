#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
import WPWithinDaemon

/// The device identity has one source of truth, the database: an older state directory's identity.json
/// seeds it, and a database that disagrees with that file does not start.
@Suite struct IdentityTests {
    func writeIdentityFile(_ serverId: String, in stateDir: String) throws {
        mkdir(stateDir, 0o700)
        let text = "{\n  \"createdAt\" : \"2026-01-01T00:00:00Z\",\n  \"serverId\" : \"\(serverId)\"\n}"
        try text.write(toFile: stateDir + "/identity.json", atomically: true, encoding: .utf8)
    }

    func serverId(_ daemon: DaemonProcess) async throws -> String? {
        try await RawClient(path: daemon.socketPath).result("getDevice")["serverId"]?.stringValue
    }

    /// Starts a daemon on `dir`, reads its serverId and stops it cleanly.
    func runOnce(_ dir: TempDir) async throws -> String? {
        let daemon = try DaemonProcess(dir: dir)
        try await daemon.waitUntilListening()
        let id = try await serverId(daemon)
        #expect(try await daemon.stop() == 0)
        return id
    }

    @Test func aNewStateDirectoryKeepsItsIdentityInTheDatabaseOnly() async throws {
        let dir = try TempDir()
        let id = try #require(try await runOnce(dir))
        #expect(!FileManager.default.fileExists(atPath: dir.file("state/identity.json")))
        #expect(try await runOnce(dir) == id)
    }

    @Test func anOlderStateDirectoryKeepsTheServerIdOfItsIdentityFile() async throws {
        let dir = try TempDir()
        let legacy = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
        try writeIdentityFile(legacy, in: dir.file("state"))
        #expect(try await runOnce(dir) == legacy)
        // Both agree now: the next start is normal.
        #expect(try await runOnce(dir) == legacy)
    }

    @Test func aDatabaseAndAnIdentityFileThatDisagreeRefuseToStart() async throws {
        let dir = try TempDir()
        let stored = try #require(try await runOnce(dir))
        let stateDir = dir.file("state")

        let other = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
        try writeIdentityFile(other, in: stateDir)
        let refused = try DaemonProcess(dir: dir)
        #expect(try await refused.waitForExit() == 1)
        let log = refused.log
        #expect(log.contains(stored), "\(log)")
        #expect(log.contains(other), "\(log)")
        #expect(log.contains(stateDir + "/identity.json"), "\(log)")
        #expect(log.contains(stateDir + "/wpwithin.sqlite"), "\(log)")
        #expect(probe(refused.socketPath) != 0, "it never served")

        // Removing the stray file lets the database's identity run again, unchanged.
        try FileManager.default.removeItem(atPath: stateDir + "/identity.json")
        #expect(try await runOnce(dir) == stored)
    }

    @Test func anUnreadableIdentityFileRefusesToStart() async throws {
        let dir = try TempDir()
        mkdir(dir.file("state"), 0o700)
        try "{\"serverId\": \"NOT-A-UUID\"}".write(toFile: dir.file("state/identity.json"), atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(dir: dir)
        #expect(try await daemon.waitForExit() == 1)
        #expect(daemon.log.contains("holds no valid lowercase serverId"))
        #expect(!FileManager.default.fileExists(atPath: daemon.stateDir + "/wpwithin.sqlite"), "nothing was created")
    }
}
