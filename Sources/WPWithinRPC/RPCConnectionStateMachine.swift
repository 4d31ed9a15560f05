import NIOCore
import WPWithinCore

/// The life of one JSON-RPC connection as a value, in the style of postgres-nio's connection state machine:
/// `RPCChannelHandler` feeds it what happens (a request line arrived, a call finished, the socket became
/// writable, the client half-closed, the daemon drains) and performs the action it returns (start a call,
/// read on, write a last line and close). It decides:
///
/// * **the window**: at most `maxInFlight` calls run at once; further requests wait here, parsed, in order;
/// * **back-pressure**: no call starts and no read is asked for while the outbound buffer is full (the
///   channel is not writable), so a client that does not read its replies is not answered into memory;
/// * **closing**: after a parse error, a line over the limit, an idle timeout, a refusal or a drain, the
///   calls in flight finish first, then the last line (if any) is written and the connection closes; when
///   the client half-closes, the calls in flight *and* those waiting are answered first.
///
/// `Message` is what a request is once parsed (`JSONValue` in the server; anything in tests).
struct RPCConnectionStateMachine<Message> {
    enum Closing {
        case open
        /// Answer this once nothing is in flight, then close (nil: just close).
        case after(JSONValue?)
        /// The client closed its side: answer what is in flight and waiting, then close.
        case draining
        case closed
    }

    /// What the handler does next.
    enum Action {
        /// Run this call (already counted in flight).
        case start(Message)
        /// Ask the channel for more input.
        case read
        /// Write this line, if any, then close the channel.
        case close(lastLine: JSONValue?)
        case none
    }

    let maxInFlight: Int
    private(set) var inFlight = 0
    private(set) var closing = Closing.open
    private var waiting = CircularBuffer<Message>()
    private var readHeld = false

    init(maxInFlight: Int) {
        self.maxInFlight = max(1, maxInFlight)
    }

    var waitingCount: Int { waiting.count }
    var isOpen: Bool { if case .open = closing { true } else { false } }
    var isClosed: Bool { if case .closed = closing { true } else { false } }
    /// Nothing running or waiting (for the idle timeout).
    var isIdle: Bool { inFlight == 0 && waiting.isEmpty }

    /// A request line arrived, parsed. Started at once when the window and the outbound buffer allow and
    /// nothing waits before it; otherwise it waits. Ignored once the connection is closing.
    mutating func received(_ message: Message, writable: Bool) -> Action {
        guard isOpen else { return .none }
        if inFlight < maxInFlight, waiting.isEmpty, writable {
            inFlight += 1
            return .start(message)
        }
        waiting.append(message)
        return .none
    }

    /// The channel asks whether to read: not while the window is full, requests wait or the outbound
    /// buffer is full (the client's writes then stay in its socket); the read is owed until `next`.
    mutating func readRequested(writable: Bool) -> Action {
        if inFlight >= maxInFlight || !waiting.isEmpty || !writable {
            readHeld = true
            return .none
        }
        return .read
    }

    /// Close once the calls in flight are done, answering `lastLine` (if any) first; what waits is dropped.
    /// `onlyIfOpen`: a second reason to close does not replace the first (a line over the limit after a
    /// drain). Returns `.close` when nothing is in flight.
    mutating func closeAfter(_ lastLine: JSONValue?, onlyIfOpen: Bool = true) -> Action {
        if case .closed = closing { return .none }
        if onlyIfOpen, !isOpen { return .none }
        closing = .after(lastLine)
        waiting.removeAll()
        return closeIfIdle()
    }

    /// The client half-closed: everything it sent is answered, then the connection closes.
    mutating func inputClosed() -> Action {
        guard isOpen else { return .none }
        if isIdle {
            closing = .after(nil)
            return closeIfIdle()
        }
        closing = .draining
        return .none
    }

    /// A call finished and its reply is queued (or none was due).
    mutating func callFinished() {
        precondition(inFlight > 0, "a call finished that was not in flight")
        inFlight -= 1
    }

    /// The next thing to do after a call finished, the socket became writable, or a close was asked for;
    /// call until it returns `.none`, `.read` or `.close` (each `.start` is one call more in flight).
    mutating func next(writable: Bool) -> Action {
        switch closing {
        case .open, .draining:
            if inFlight < maxInFlight, writable, let message = waiting.popFirst() {
                inFlight += 1
                return .start(message)
            }
            if case .draining = closing, isIdle {
                closing = .after(nil)
                return closeIfIdle()
            }
            if readHeld, inFlight < maxInFlight, waiting.isEmpty, writable {
                readHeld = false
                return .read
            }
            return .none
        case .after:
            return closeIfIdle()
        case .closed:
            return .none
        }
    }

    /// The channel went away: nothing more is started or written.
    mutating func channelClosed() {
        closing = .closed
        waiting.removeAll()
    }

    private mutating func closeIfIdle() -> Action {
        guard case .after(let last) = closing, inFlight == 0 else { return .none }
        closing = .closed
        return .close(lastLine: last)
    }
}
