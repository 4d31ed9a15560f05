import WPWithinClient
import WPWithinCore

/// Shell completion of method names and event types, asked of the running daemon (`rpc.discover`) when the
/// shell completes, so the lists are always the daemon's own. The socket is the command line's `--socket`,
/// else `$WPWITHIN_SOCKET`, else the default; no daemon (or no answer within a second) completes nothing.
enum LiveCompletions {
    @Sendable static func methods(_ words: [String], _ index: Int, _ prefix: String) async -> [String] {
        guard let document = await discover(words) else { return [] }
        let names = document.objectValue?["methods"]?.arrayValue?.compactMap { $0.objectValue?["name"]?.stringValue } ?? []
        return names.filter { $0.hasPrefix(prefix) }.sorted()
    }

    @Sendable static func eventTypes(_ words: [String], _ index: Int, _ prefix: String) async -> [String] {
        guard let document = await discover(words) else { return [] }
        let subscribe = document.objectValue?["methods"]?.arrayValue?.first { $0.objectValue?["name"] == "subscribe" }
        let types = subscribe?.objectValue?["params"]?.arrayValue?.first { $0.objectValue?["name"] == "types" }
        let names = types?.objectValue?["schema"]?.objectValue?["items"]?.objectValue?["enum"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return names.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// The value of `--socket` on the command line being completed, if given.
    static func socket(in words: [String]) -> String? {
        for (index, word) in words.enumerated() {
            if word == "--socket", index + 1 < words.count { return words[index + 1] }
            if word.hasPrefix("--socket=") { return String(word.dropFirst("--socket=".count)) }
        }
        return nil
    }

    private static func discover(_ words: [String]) async -> JSONValue? {
        let path = socket(in: words)
        return await withTaskGroup(of: JSONValue?.self) { group in
            group.addTask {
                guard let client = try? await WPWithinClient.connected(socketPath: path, timeout: nil, reconnect: false) else { return nil }
                let document = try? await client.call("rpc.discover")
                await client.close()
                return document
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(1))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
