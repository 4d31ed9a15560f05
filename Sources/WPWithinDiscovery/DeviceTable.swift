import NIOConcurrencyHelpers
import WPWithinCore
import WPWithinWire

/// The scanner's table of devices (one per serverID) and its subscribers. Thread-safe and
/// synchronous, so the receive loop records a datagram without hopping to an actor.
final class DeviceTable: Sendable {
    typealias Continuation = AsyncStream<DiscoveredDevice>.Continuation

    private struct State {
        var devices: [String: DiscoveredDevice] = [:]
        /// Every accepted datagram (for `search`).
        var updateSubscribers: [UInt64: Continuation] = [:]
        /// Devices new to the table or back after silence (for the `device discovered` event).
        var discoverySubscribers: [UInt64: Continuation] = [:]
        var nextID: UInt64 = 0
        var finished = false
    }

    private let state = NIOLockedValueBox(State())
    private let maxDevices: Int
    private let recentWindow: Duration
    private let bufferSize: Int

    init(maxDevices: Int, recentWindow: Duration, bufferSize: Int) {
        self.maxDevices = max(1, maxDevices)
        self.recentWindow = recentWindow
        self.bufferSize = max(1, bufferSize)
    }

    /// Records a datagram; returns true when the device is new to the table or back after more than
    /// `recentWindow` of silence.
    @discardableResult
    func record(_ message: BroadcastMessage, sourceHost: String, sourcePort: Int, wall: Instant, now: ContinuousClock.Instant) -> Bool {
        let (device, isNew, updates, discoveries) = state.withLockedValue { state in
            var isNew = true
            var device: DiscoveredDevice
            if var known = state.devices[message.serverID] {
                isNew = now - known.lastSeenMonotonic > recentWindow
                known.message = message
                known.sourceHost = sourceHost
                known.sourcePort = sourcePort
                known.lastSeen = wall
                known.lastSeenMonotonic = now
                known.datagrams += 1
                device = known
            } else {
                device = DiscoveredDevice(
                    message: message, sourceHost: sourceHost, sourcePort: sourcePort, firstSeen: wall, lastSeen: wall,
                    lastSeenMonotonic: now, datagrams: 1)
                if state.devices.count >= maxDevices,
                    let oldest = state.devices.values.min(by: { $0.lastSeenMonotonic < $1.lastSeenMonotonic })
                {
                    state.devices[oldest.serverID] = nil
                }
            }
            state.devices[message.serverID] = device
            return (device, isNew, Array(state.updateSubscribers.values), isNew ? Array(state.discoverySubscribers.values) : [])
        }
        // Yield outside the lock: a terminating stream calls back into `remove`.
        for c in updates { c.yield(device) }
        for c in discoveries { c.yield(device) }
        return isNew
    }

    /// Devices heard at or after `since`, one per serverID, most recently heard first.
    func devices(seenSince since: ContinuousClock.Instant) -> [DiscoveredDevice] {
        state.withLockedValue { state in
            state.devices.values.filter { $0.lastSeenMonotonic >= since }.sorted { $0.lastSeenMonotonic > $1.lastSeenMonotonic }
        }
    }

    func device(serverID: String) -> DiscoveredDevice? {
        state.withLockedValue { $0.devices[serverID] }
    }

    /// Atomically: the freshest device matching `match` heard since `since`, or (when none) a stream of
    /// every later update, so no datagram falls between the look-up and the subscription.
    func lookUpOrSubscribe(_ match: DeviceMatch, seenSince since: ContinuousClock.Instant) -> LookUp {
        let (stream, continuation) = AsyncStream.makeStream(of: DiscoveredDevice.self, bufferingPolicy: .bufferingNewest(bufferSize))
        let outcome: LookUp = state.withLockedValue { state in
            if let found = state.devices.values.filter({ $0.lastSeenMonotonic >= since && match.matches($0.message) })
                .max(by: { $0.lastSeenMonotonic < $1.lastSeenMonotonic })
            {
                return .found(found)
            }
            if state.finished { return .finished }
            let id = state.nextID
            state.nextID += 1
            state.updateSubscribers[id] = continuation
            continuation.onTermination = { [weak self] _ in self?.remove(update: id) }
            return .subscribed(stream)
        }
        if case .subscribed = outcome {} else { continuation.finish() }
        return outcome
    }

    enum LookUp: Sendable {
        case found(DiscoveredDevice)
        case subscribed(AsyncStream<DiscoveredDevice>)
        case finished
    }

    /// A new stream of devices new to the table or back after silence. Finishes on `finish()`.
    /// Returns the subscription id, for `cancelDiscoveries`.
    func discoveries() -> (AsyncStream<DiscoveredDevice>, UInt64?) {
        let (stream, continuation) = AsyncStream.makeStream(of: DiscoveredDevice.self, bufferingPolicy: .bufferingNewest(bufferSize))
        let registered = state.withLockedValue { state -> UInt64? in
            guard !state.finished else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.discoverySubscribers[id] = continuation
            continuation.onTermination = { [weak self] _ in self?.remove(discovery: id) }
            return id
        }
        if registered == nil { continuation.finish() }
        return (stream, registered)
    }

    /// Ends one `discoveries()` stream (its subscriber could not be served).
    func cancelDiscoveries(_ id: UInt64) {
        let continuation = state.withLockedValue { $0.discoverySubscribers.removeValue(forKey: id) }
        continuation?.finish()
    }

    /// Ends every stream (the scanner is shutting down); later subscriptions end at once.
    func finish() {
        let all = state.withLockedValue { state -> [Continuation] in
            state.finished = true
            defer {
                state.updateSubscribers = [:]
                state.discoverySubscribers = [:]
            }
            return Array(state.updateSubscribers.values) + Array(state.discoverySubscribers.values)
        }
        for c in all { c.finish() }
    }

    var subscriberCount: Int { state.withLockedValue { $0.updateSubscribers.count + $0.discoverySubscribers.count } }

    private func remove(update id: UInt64) { _ = state.withLockedValue { $0.updateSubscribers.removeValue(forKey: id) } }
    private func remove(discovery id: UInt64) { _ = state.withLockedValue { $0.discoverySubscribers.removeValue(forKey: id) } }
}
