import Logging
import WPWithinHTTP
import WPWithinMetrics
import WPWithinRPC

/// `metrics.listen`, parsed: a loopback host and a port. The metrics name what a Thing sells and earns, so
/// the listener is never opened on another interface (a scraper elsewhere goes through an SSH tunnel or a
/// local agent).
struct MetricsListenAddress: Equatable {
    var host: String
    var port: Int

    init?(_ text: String) {
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port),
              (0...65535).contains(number) else { return nil }
        switch host {
        case "localhost": self.host = "127.0.0.1"
        case "::1": self.host = "::1"
        default:
            // 127.0.0.0/8, written as four decimal octets.
            let octets = host.split(separator: ".", omittingEmptySubsequences: false)
            guard octets.count == 4, octets.first == "127",
                  octets.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) && Int($0)! <= 255 })
            else { return nil }
            self.host = String(host)
        }
        self.port = number
    }
}

/// The Prometheus listener: `GET /metrics` answers the text exposition; anything else a JSON error.
enum MetricsListener {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func server(address: MetricsListenAddress, metrics: DaemonMetrics, logger: Logger) -> HTTPServer {
        var serverLogger = logger
        serverLogger[metadataKey: "http.server"] = "metrics"
        return HTTPServer(
            configuration: HTTPServerConfiguration(
                host: address.host, port: address.port, maxBodySize: 4096, maxConnections: 16, maxConnectionsPerPeer: 8),
            logger: serverLogger,
            onServerRunning: { port in
                let host = address.host.contains(":") ? "[\(address.host)]" : address.host
                metrics.listenerBound(url: "http://\(host):\(port)/metrics")
                logger.info("Metrics listener running", metadata: ["metrics.host": "\(address.host)", "metrics.port": "\(port)"])
            },
            handler: { request in respond(to: request, metrics: metrics) }
        )
    }

    static func respond(to request: HTTPRequest, metrics: DaemonMetrics) -> HTTPResponse {
        guard request.path == "/metrics" else {
            return .json(status: 404, #"{"error":{"status":404,"message":"not found: the metrics are at /metrics"}}"#)
        }
        guard request.method == "GET" else {
            var response = HTTPResponse.json(status: 405, #"{"error":{"status":405,"message":"method not allowed: use GET"}}"#)
            response.headers.add(name: "Allow", value: "GET")
            return response
        }
        return HTTPResponse(status: 200, headers: ["Content-Type": contentType], body: Array(metrics.registry.exposition().utf8))
    }
}
