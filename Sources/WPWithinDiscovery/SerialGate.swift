/// Serialises the start/stop operations of an actor across its suspension points (actors are
/// re-entrant): each operation waits for the previous one to finish. FIFO, not cancellable while
/// waiting (operations are short).
struct SerialGate {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Returns true when the caller may proceed at once; otherwise it must await `enqueue`.
    mutating func tryEnter() -> Bool {
        if busy { return false }
        busy = true
        return true
    }

    mutating func enqueue(_ continuation: CheckedContinuation<Void, Never>) {
        waiters.append(continuation)
    }

    /// Hands the gate to the next waiter, or opens it.
    mutating func leave() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
