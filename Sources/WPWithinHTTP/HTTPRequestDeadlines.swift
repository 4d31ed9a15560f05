import NIOCore

/// The timers of one served connection, as Go's `net/http` has them: the request head must arrive within
/// the header timeout (from the accept for the first request, from the first byte of a keep-alive
/// connection's next request), the body within the body timeout after the head, and a keep-alive connection
/// may wait for its next request for the idle timeout. Bytes arriving never extend a deadline, so a client
/// trickling one byte at a time is closed like one sending nothing. No timer runs while the handler works
/// on a request. A value without a clock: it says which timer to arm; the channel handler runs it.
struct HTTPRequestDeadlines: Sendable {
    struct Timeouts: Sendable, Hashable {
        var header: TimeAmount
        var body: TimeAmount
        var idle: TimeAmount?
    }

    enum Phase: Sendable, Hashable {
        /// Reading a request head; `started` once a byte of it arrived.
        case head(started: Bool)
        case body
        /// The request is complete; the handler has it.
        case handling
        /// Between requests of a keep-alive connection.
        case idle
        case closed
    }

    enum Reason: Sendable, Hashable {
        case header, body, idle
    }

    /// One armed timer; a generation tells a stale expiry from the current one.
    struct Timer: Sendable, Hashable {
        var reason: Reason
        var generation: Int
    }

    enum Action: Sendable, Hashable {
        case none
        /// Cancel the running timer (if any) and start this one.
        case arm(Timer, after: TimeAmount)
        /// Cancel the running timer.
        case disarm
    }

    enum Expiry: Sendable, Hashable {
        /// A stale timer; nothing to do.
        case ignore
        /// Close without an answer: nothing of a request arrived (an idle keep-alive connection, or a new
        /// one that sent nothing). `reportAs` is the event to count, if any.
        case close(reportAs: Reason?)
        /// Answer 408 and close: part of a request arrived.
        case answerAndClose(Reason)
    }

    let timeouts: Timeouts
    private(set) var phase: Phase = .head(started: false)
    private var armed: Timer?
    private var generation = 0

    init(timeouts: Timeouts) {
        self.timeouts = timeouts
    }

    /// The connection became active: the first request's head deadline starts now.
    mutating func opened() -> Action {
        phase = .head(started: false)
        return arm(.header, timeouts.header)
    }

    /// Bytes arrived from the peer.
    mutating func bytesReceived() -> Action {
        switch phase {
        case .idle:
            phase = .head(started: true)
            return arm(.header, timeouts.header)
        case .head(started: false):
            phase = .head(started: true)
            return .none
        case .head(started: true), .body, .handling, .closed:
            return .none
        }
    }

    /// A whole request head was decoded.
    mutating func headReceived() -> Action {
        guard phase != .closed else { return .none }
        phase = .body
        return arm(.body, timeouts.body)
    }

    /// The request's end was decoded: the handler takes over, no timer runs.
    mutating func requestReceived() -> Action {
        guard phase != .closed else { return .none }
        phase = .handling
        return disarm()
    }

    /// The response's end is being written: wait for the next request.
    mutating func responseEnded() -> Action {
        guard phase == .handling else { return .none }
        phase = .idle
        guard let idle = timeouts.idle else { return disarm() }
        return arm(.idle, idle)
    }

    /// The connection is closing (an answer was given, or the channel went inactive).
    mutating func closing() -> Action {
        phase = .closed
        return disarm()
    }

    /// A timer fired.
    mutating func expired(_ timer: Timer) -> Expiry {
        guard timer == armed else { return .ignore }
        armed = nil
        let expiry: Expiry
        switch (timer.reason, phase) {
        case (.header, .head(started: false)): expiry = .close(reportAs: .header)
        case (.header, .head(started: true)): expiry = .answerAndClose(.header)
        case (.body, .body): expiry = .answerAndClose(.body)
        case (.idle, .idle): expiry = .close(reportAs: nil)
        default: return .ignore
        }
        phase = .closed
        return expiry
    }

    private mutating func arm(_ reason: Reason, _ after: TimeAmount) -> Action {
        generation += 1
        let timer = Timer(reason: reason, generation: generation)
        armed = timer
        return .arm(timer, after: after)
    }

    private mutating func disarm() -> Action {
        guard armed != nil else { return .none }
        armed = nil
        return .disarm
    }
}
