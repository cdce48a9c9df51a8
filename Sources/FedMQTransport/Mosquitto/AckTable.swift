/// What became of a packet the client waits on, keyed by MQTT message id.
enum AckOutcome: Sendable {
    case published(ReasonCode)
    case subscribed([ReasonCode])
    case failed(MQTTError)
    case cancelled
}

/// Matches acknowledgements to their waiters.
///
/// An acknowledgement can arrive before the publishing thread has registered its waiter
/// (libmosquitto's loop thread may get the PUBACK before `mosquitto_publish` returns the id),
/// so outcomes without a waiter are kept until the waiter comes. Plain value type: the
/// owner keeps it under its lock and resumes continuations after unlocking.
struct AckTable {
    enum Kind {
        /// QoS 0 publish: done once written to the socket.
        case sent
        /// QoS 1/2 publish: done at PUBACK/PUBCOMP; survives reconnects (libmosquitto resends).
        case acknowledged
        /// SUBSCRIBE: done at SUBACK, or at a reconnect, which restores it.
        case subscribed
    }

    typealias Waiter = CheckedContinuation<AckOutcome, Never>

    private var waiting: [Int32: (kind: Kind, waiter: Waiter)] = [:]
    private var early: [Int32: AckOutcome] = [:]
    /// Ids whose next acknowledgement nobody waits for: subscriptions restored after a
    /// reconnect, and waits that were cancelled before it came, with the kind of packet (a
    /// QoS 1/2 publish's acknowledgement still comes after a reconnect; the others' never do).
    private var ignored: [Int32: Kind] = [:]
    /// Waits cancelled before they registered (the task was cancelled first), and whether
    /// their acknowledgement has come already.
    private var cancelledBeforeRegistering: [Int32: Bool] = [:]

    /// Registers a waiter; returns the outcome instead if it already arrived, or `.cancelled`.
    mutating func register(_ id: Int32, kind: Kind, _ waiter: Waiter) -> AckOutcome? {
        if let acknowledged = cancelledBeforeRegistering.removeValue(forKey: id) {
            if !acknowledged { ignored[id] = kind }
            return .cancelled
        }
        if let outcome = early.removeValue(forKey: id) { return outcome }
        waiting[id] = (kind, waiter)
        return nil
    }

    /// Drops the next acknowledgement of `id`: a subscription restored after a reconnect.
    mutating func ignoreRestoredSubscription(_ id: Int32) {
        ignored[id] = .subscribed
    }

    /// Records an acknowledgement; returns the waiter to resume, if one is registered.
    ///
    /// The acknowledgement of a cancelled wait is dropped, never kept as "early": ids wrap, and
    /// a kept one would answer a later packet with the same id before its own acknowledgement.
    /// One that comes between a cancellation and its wait's registration is only noted: the
    /// wait still ends as cancelled (it used to find nothing and wait forever).
    mutating func complete(_ id: Int32, with outcome: AckOutcome) -> Waiter? {
        if ignored.removeValue(forKey: id) != nil { return nil }
        if let entry = waiting.removeValue(forKey: id) { return entry.waiter }
        if cancelledBeforeRegistering[id] == false {
            cancelledBeforeRegistering[id] = true
            return nil
        }
        early[id] = outcome
        return nil
    }

    /// Cancels one wait. A registered waiter is returned (to resume with `.cancelled`) and its
    /// acknowledgement will be dropped; a waiter not yet registered finds `.cancelled` when it
    /// registers.
    mutating func cancel(_ id: Int32) -> Waiter? {
        if let entry = waiting.removeValue(forKey: id) {
            ignored[id] = entry.kind
            return entry.waiter
        }
        cancelledBeforeRegistering[id] = early.removeValue(forKey: id) != nil
        return nil
    }

    /// The connection dropped: QoS 0 writes are lost, subscriptions will be restored by the
    /// reconnect, QoS 1/2 publishes keep waiting for the resend's acknowledgement. A cancelled
    /// QoS 1/2 publish stays ignored: libmosquitto resends it, and its acknowledgement must not
    /// be kept as early for a later packet with the same id.
    mutating func connectionLost(detail: String) -> [(Waiter, AckOutcome)] {
        var resumed: [(Waiter, AckOutcome)] = []
        for (id, entry) in waiting {
            switch entry.kind {
            case .sent:
                resumed.append((entry.waiter, .failed(MQTTError(.connectionLost, call: "publish", detail: detail))))
                waiting[id] = nil
            case .subscribed:
                resumed.append((entry.waiter, .subscribed([])))
                waiting[id] = nil
            case .acknowledged:
                break
            }
        }
        ignored = ignored.filter { $0.value == .acknowledged }
        return resumed
    }

    /// The client is closed: every waiter fails.
    mutating func closeAll() -> [(Waiter, AckOutcome)] {
        let closed = AckOutcome.failed(MQTTError(.closed, call: "publish", detail: "the client was disconnected"))
        let resumed = waiting.values.map { ($0.waiter, closed) }
        waiting = [:]
        early = [:]
        ignored = [:]
        cancelledBeforeRegistering = [:]
        return resumed
    }
}
