import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The result of one HTTP exchange with the gateway.
struct LoadedResponse: Sendable {
    var status: Int
    var body: Data
}

/// Why one HTTP exchange failed before a complete response was read.
enum LoadFailure: Error, Sendable {
    /// The connection could not be made: the request never reached the gateway.
    case connectFailed(String)
    /// No progress within the inactivity timeout, or the total deadline passed.
    case timedOut
    /// The connection broke after the request may have been sent.
    case connectionLost(String)
    /// The body exceeded the cap (status known).
    case responseTooLarge(status: Int)
    /// A redirect, which the gateway API never sends.
    case redirected(status: Int)
    case other(String)
}

/// Runs data tasks on one long-lived `URLSession` and stops reading a body as soon as it exceeds the cap,
/// so a huge or endless answer costs at most `limit` bytes of memory.
final class BoundedHTTPLoader: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: all mutable state is behind `lock`.
    private let lock = NSLock()
    private var loads: [Int: Load] = [:]

    private final class Load {
        let limit: Int
        var continuation: CheckedContinuation<LoadedResponse, any Error>?
        var status = 0
        var body = Data()
        var tooLarge = false
        var redirected = false
        init(limit: Int, continuation: CheckedContinuation<LoadedResponse, any Error>) {
            self.limit = limit
            self.continuation = continuation
        }
    }

    func load(_ request: URLRequest, session: URLSession, limit: Int) async throws -> LoadedResponse {
        let task = session.dataTask(with: request)
        let id = task.taskIdentifier
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<LoadedResponse, any Error>) in
                lock.withLock { loads[id] = Load(limit: limit, continuation: continuation) }
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
    }

    private func withLoad(_ id: Int, _ body: (Load) -> Void) {
        lock.withLock {
            if let load = loads[id] { body(load) }
        }
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void
    ) {
        var cancel = false
        withLoad(dataTask.taskIdentifier) { load in
            load.status = (response as? HTTPURLResponse)?.statusCode ?? 0
            if response.expectedContentLength > Int64(load.limit) {
                load.tooLarge = true
                cancel = true
            }
        }
        completionHandler(cancel ? .cancel : .allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        var cancel = false
        withLoad(dataTask.taskIdentifier) { load in
            guard !load.tooLarge else { return }
            if load.body.count + data.count > load.limit {
                load.tooLarge = true
                load.body = Data()
                cancel = true
            } else {
                load.body.append(data)
            }
        }
        if cancel { dataTask.cancel() }
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        withLoad(task.taskIdentifier) { load in
            load.redirected = true
            load.status = response.statusCode
        }
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let load = lock.withLock { loads.removeValue(forKey: task.taskIdentifier) }
        guard let load, let continuation = load.continuation else { return }
        if load.tooLarge {
            continuation.resume(throwing: LoadFailure.responseTooLarge(status: load.status))
        } else if load.redirected {
            continuation.resume(throwing: LoadFailure.redirected(status: load.status))
        } else if let error {
            continuation.resume(throwing: BoundedHTTPLoader.classify(error))
        } else {
            continuation.resume(returning: LoadedResponse(status: load.status, body: load.body))
        }
    }

    static func classify(_ error: any Error) -> any Error {
        if error is CancellationError { return error }
        guard let urlError = error as? URLError else { return LoadFailure.other(String(describing: error)) }
        switch urlError.code {
        case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet,
            .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
            .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot, .clientCertificateRejected,
            .unsupportedURL, .badURL:
            return LoadFailure.connectFailed(urlError.localizedDescription)
        case .timedOut:
            return LoadFailure.timedOut
        case .cancelled:
            return CancellationError()
        case .networkConnectionLost, .badServerResponse, .cannotParseResponse, .zeroByteResource:
            return LoadFailure.connectionLost(urlError.localizedDescription)
        default:
            return LoadFailure.other(urlError.localizedDescription)
        }
    }
}
