import Foundation
import WPWithinCore

/// The Thing's identity: a lowercase UUID made once and kept in the state directory.
public struct DeviceIdentity: Sendable, Equatable, Codable {
    public var serverId: String
    public var createdAt: String

    static let fileName = "identity.json"

    /// Reads the identity from `stateDirectory`, creating the directory (0700) and the identity on first start.
    public static func loadOrCreate(stateDirectory: String) throws -> DeviceIdentity {
        let manager = FileManager.default
        try manager.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let url = URL(fileURLWithPath: stateDirectory).appendingPathComponent(fileName)
        if manager.fileExists(atPath: url.path) {
            let identity = try JSONDecoder().decode(DeviceIdentity.self, from: Data(contentsOf: url))
            guard UUID(uuidString: identity.serverId) != nil, identity.serverId == identity.serverId.lowercased() else {
                throw WPWError(.internalError, "identity file \(url.path) holds no valid lowercase serverId")
            }
            return identity
        }
        let identity = DeviceIdentity(
            serverId: UUID().uuidString.lowercased(),
            createdAt: Date().formatted(Date.ISO8601FormatStyle())
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Written to a temporary file, flushed and renamed, so a crash never leaves half an identity.
        try encoder.encode(identity).write(to: url, options: [.atomic])
        return identity
    }
}
