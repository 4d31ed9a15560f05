#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore

/// The daemon with credential files: unsafe files refused, secrets never in logs, state or answers.
@Suite struct DaemonCredentialsTests {
    static let pan = "4444333322221111"
    static let cvc = "987"

    func writeCredentials(in dir: TempDir, cardMode: mode_t = 0o600) throws -> (card: String, merchant: String) {
        let card = dir.file("card.json")
        let merchant = dir.file("merchant.json")
        try Data(#"{"firstName":"Joe","lastName":"Bloggs","expMonth":12,"expYear":2099,"cardNumber":"\#(Self.pan)","type":"Card","cvc":"\#(Self.cvc)"}"#.utf8)
            .write(to: URL(fileURLWithPath: card))
        try Data(#"{"clientKey":"T_C_client","serviceKey":"T_S_secret_service_key"}"#.utf8).write(to: URL(fileURLWithPath: merchant))
        chmod(card, cardMode)
        chmod(merchant, 0o600)
        return (card, merchant)
    }

    @Test func statusShowsOnlyMaskedCredentialsAndNothingLeaks() async throws {
        let dir = try TempDir()
        let files = try writeCredentials(in: dir)
        let daemon = try DaemonProcess(dir: dir, environment: [
            "WPWITHIND_CARD_FILE": files.card, "WPWITHIND_MERCHANT_FILE": files.merchant, "WPWITHIND_LOG_LEVEL": "trace",
        ])
        try await daemon.waitUntilListening()
        let client = try RawClient(path: daemon.socketPath)
        let status = try await client.result("getStatus")
        let payments = try #require(status["payments"])
        #expect(payments["card"]?.stringValue?.hasSuffix("1111") == true)
        #expect(payments["merchantClientKey"] == "T_C_client")
        let answer = status.jsonString
        #expect(!answer.contains(Self.pan))
        #expect(!answer.contains("T_S_secret_service_key"))
        _ = try await client.result("rpc.discover")
        #expect(try await daemon.stop() == 0)

        let log = daemon.log
        #expect(log.contains("Card loaded"))
        #expect(!log.contains(Self.pan))
        #expect(!log.contains("\"\(Self.cvc)\""))
        #expect(!log.contains("T_S_secret_service_key"))
        // Nothing in the state directory holds the card either.
        let files2 = FileManager.default.enumerator(atPath: daemon.stateDir)?.allObjects as? [String] ?? []
        #expect(!files2.isEmpty)
        for name in files2 {
            let data = (try? Data(contentsOf: URL(fileURLWithPath: daemon.stateDir + "/" + name))) ?? Data()
            #expect(!String(decoding: data, as: UTF8.self).contains(Self.pan), "\(name)")
        }
    }

    @Test func aCardFileReadableByOthersIsRefused() async throws {
        let dir = try TempDir()
        let files = try writeCredentials(in: dir, cardMode: 0o644)
        let daemon = try DaemonProcess(dir: dir, environment: ["WPWITHIND_CARD_FILE": files.card])
        // EX_CONFIG: the unit does not restart on it (RestartPreventExitStatus=78).
        #expect(try await daemon.waitForExit() == 78)
        #expect(daemon.log.contains("chmod 600"), "\(daemon.log)")
        #expect(!daemon.log.contains(Self.pan))
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
    }

    @Test func credentialsComeFromTheSystemdCredentialsDirectory() async throws {
        let dir = try TempDir()
        let credentials = dir.file("creds")
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        let files = try writeCredentials(in: dir)
        try FileManager.default.moveItem(atPath: files.card, toPath: credentials + "/card.json")
        let daemon = try DaemonProcess(dir: dir, environment: ["CREDENTIALS_DIRECTORY": credentials])
        try await daemon.waitUntilListening()
        let status = try await RawClient(path: daemon.socketPath).result("getStatus")
        #expect(status["payments"]?["card"]?.stringValue?.hasSuffix("1111") == true)
        #expect(status["payments"]?["merchantClientKey"] == .null)
        #expect(try await daemon.stop() == 0)
    }
}
