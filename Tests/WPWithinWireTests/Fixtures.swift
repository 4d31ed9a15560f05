import Foundation
import Testing

/// The Go SDK captures copied from shared/testdata/go-sdk-captures.
enum Fixtures {
    static func text(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)
            ?? Bundle.module.url(forResource: name, withExtension: nil))
        return try String(contentsOf: url, encoding: .utf8)
    }

    static func bytes(_ name: String) throws -> [UInt8] { Array(try text(name).utf8) }

    /// The ten JSON bodies of the HTE stream (tcp.stream eq 0) in order: discover response, prices
    /// response, requestTotal request/response, payment request/response, begin request/response,
    /// end request/response.
    static func hteBodies() throws -> [String] {
        let all = try text("http-e2e-follow.txt")
        let stream0 = try #require(all.components(separatedBy: "Filter: tcp.stream eq 1").first)
        return stream0.split(whereSeparator: \.isNewline)
            .map(String.init)
            .filter { $0.hasPrefix("{") }
    }

    /// The `ErrorResponse` bodies of hte-error-examples.txt.
    static func errorBodies() throws -> [String] {
        try text("hte-error-examples.txt").split(whereSeparator: \.isNewline).map(String.init).filter { $0.hasPrefix("{\"HTTPStatusCode\"") }
    }
}
