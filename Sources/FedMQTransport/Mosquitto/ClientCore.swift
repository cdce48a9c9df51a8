import CMosquitto
import Synchronization

/// The part of an `MQTTClient` that libmosquitto's callbacks reach (through the userdata
/// pointer). It holds all mutable state under one lock; continuations and stream
/// continuations are always resumed after the lock is released, and no C call is made
/// while it is held.
final class ClientCore: Sendable {
    enum Phase: Equatable {
        case idle, connecting, connected, disconnected, closed
    }

    struct State {
        var phase: Phase = .idle
        var connectWaiter: CheckedContinuation<Void, any Error>?
        var hasConnected = false
        var consecutiveFailures = 0
        var acks = AckTable()
        var subscriptions = SubscriptionRegistry()
        /// The last error line libmosquitto logged: it names TLS and socket failures precisely.
        var lastLoggedError: String?
        /// A CONNACK refusal, reported by the network thread when the connection then ends.
        var refusal: MQTTError?
        /// Why the latest attempt failed, for the connect timeout's message.
        var lastFailure: String?
        var terminated = false
        var terminationWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let options: ConnectionOptions
    let events = EventBroadcaster()
    let stopSignal = StopSignal()
    let waker = Waker()
    let state = Mutex(State())

    init(options: ConnectionOptions) {
        self.options = options
    }

    var endpoint: String { "\(options.host):\(options.port)" }

    /// The broker accepted the current connection (its CONNACK came) and it has not ended.
    var isConnected: Bool { state.withLock { $0.phase == .connected } }

    // MARK: connecting

    /// Called by the network thread when an attempt or a live connection failed. Returns
    /// false when the failure is final: the first connect met an error retrying cannot fix.
    func connectionFailed(_ error: MQTTError) -> Bool {
        let waiter: CheckedContinuation<Void, any Error>? = state.withLock { state in
            state.consecutiveFailures += 1
            state.lastFailure = error.detail
            guard !state.hasConnected, isFinal(error.code) else { return nil }
            defer { state.connectWaiter = nil }
            return state.connectWaiter
        }
        guard let waiter else { return true }
        stopSignal.stop()
        waiter.resume(throwing: error)
        return false
    }

    private func isFinal(_ code: MQTTError.Code) -> Bool {
        switch code {
        case .tls, .invalidArgument, .connectionRefused, .protocolError, .outOfMemory: true
        default: false
        }
    }

    func failures() -> Int {
        state.withLock { $0.consecutiveFailures }
    }

    /// The connect timeout passed: fail `connect()` and stop trying.
    func connectTimedOut(after timeout: Duration) {
        let (waiter, lastError) = state.withLock { state in
            defer { state.connectWaiter = nil }
            return (state.connectWaiter, state.lastFailure ?? state.lastLoggedError)
        }
        guard let waiter else { return }
        stopSignal.stop()
        var detail = "no connection to \(endpoint) within \(timeout)"
        if let lastError { detail += " (last error: \(lastError))" }
        waiter.resume(throwing: MQTTError(.timeout, call: "connect", detail: detail))
    }

    /// The error that explains why a connection ended: the broker's refusal if there was one,
    /// else `result` from libmosquitto with its last logged error line.
    func failure(from result: Int32, call: String) -> MQTTError {
        let (refusal, logged) = state.withLock { state in
            defer {
                state.refusal = nil
                state.lastLoggedError = nil
            }
            return (state.refusal, state.lastLoggedError)
        }
        if let refusal { return refusal }
        let error = MosquittoLibrary.error(result, call: call, detail: logged)
        // With TLS 1.3 the broker rejects a client certificate after the client's side of the
        // handshake is done, so libmosquitto reports a lost connection; its log names the
        // OpenSSL error. Classing it as TLS makes the first connect fail at once and clearly,
        // with the likely cause in the terms of the settings.
        if let logged, logged.hasPrefix("OpenSSL Error") {
            let cause = TLSFailureCause.explain(logged, options: options).map { " (likely cause: \($0))" } ?? ""
            return MQTTError(.tls, call: call, detail: error.detail + cause)
        }
        return error
    }

    // MARK: callbacks (libmosquitto's loop thread)

    func didConnect(_ mosq: OpaquePointer?, reason: Int32, flags: Int32) {
        guard reason == 0 else {
            let code = ReasonCode(rawValue: UInt8(truncatingIfNeeded: reason))
            let error = MQTTError(
                .connectionRefused(code), call: "connect",
                detail: "\(endpoint) refused the connection: \(MosquittoLibrary.reasonText(code))")
            state.withLock { $0.refusal = error }
            return
        }
        let sessionPresent = flags & 1 == 1
        let (waiter, restore) = state.withLock { state in
            state.phase = .connected
            state.hasConnected = true
            state.consecutiveFailures = 0
            defer { state.connectWaiter = nil }
            return (state.connectWaiter, state.subscriptions.activeFilters)
        }
        // (Re)send every subscription, also when the broker kept the session: what the session
        // holds may differ from what this process wants (an earlier process unsubscribed on its
        // way out, or a newer version subscribes to more). Subscribing again is harmless.
        // Calling subscribe from a callback is allowed (only setting callbacks deadlocks).
        var restoredIDs: [Int32] = []
        for (filter, qos) in restore {
            var id: Int32 = 0
            if mosquitto_subscribe_v5(mosq, &id, filter, Int32(qos.rawValue), 0, nil) == Int32(MOSQ_ERR_SUCCESS.rawValue) {
                restoredIDs.append(id)
            }
        }
        state.withLock { state in
            for id in restoredIDs { state.acks.ignoreRestoredSubscription(id) }
        }
        events.send(.connected(sessionPresent: sessionPresent))
        waiter?.resume()
    }

    func didDisconnect(reason: Int32) {
        let (wasConnected, resumed, detail) = state.withLock { state in
            let wasConnected = state.phase == .connected
            if state.phase != .closed { state.phase = .disconnected }
            let detail = state.lastLoggedError ?? String(cString: mosquitto_strerror(reason))
            return (wasConnected, state.acks.connectionLost(detail: detail), detail)
        }
        for (waiter, outcome) in resumed { waiter.resume(returning: outcome) }
        guard wasConnected else { return }
        let why: DisconnectReason
        if stopSignal.isStopped {
            why = .requested
        } else if reason >= 0x80 {
            why = .broker(ReasonCode(rawValue: UInt8(truncatingIfNeeded: reason)))
        } else {
            why = .connectionLost(detail)
        }
        events.send(.disconnected(why))
    }

    func didComplete(_ id: Int32, _ outcome: AckOutcome) {
        let waiter = state.withLock { $0.acks.complete(id, with: outcome) }
        waiter?.resume(returning: outcome)
    }

    func didReceive(_ message: MQTTMessage) {
        let receivers = state.withLock { $0.subscriptions.receivers(of: message.topic) }
        for receiver in receivers { receiver.deliver(message) }
    }

    /// The client is stopping: mailboxes must not hold the network thread, which has to end.
    func releaseReceivers() {
        for receiver in state.withLock({ $0.subscriptions.allReceivers }) { receiver.release() }
    }

    func didLogError(_ text: String) {
        state.withLock { $0.lastLoggedError = text }
    }

    // MARK: waiting

    /// Waits for the acknowledgement of packet `id`; cancelling the task ends the wait.
    func outcome(of id: Int32, kind: AckTable.Kind) async -> AckOutcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: AckTable.Waiter) in
                if let early = state.withLock({ $0.acks.register(id, kind: kind, waiter) }) {
                    waiter.resume(returning: early)
                }
            }
        } onCancel: {
            state.withLock { $0.acks.cancel(id) }?.resume(returning: .cancelled)
        }
    }

    func awaitTermination() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state in
                if !state.terminated { state.terminationWaiters.append(waiter) }
                return state.terminated
            }
            if done { waiter.resume() }
        }
    }

    // MARK: closing

    /// Ends everything: fails waiters, finishes subscriptions and event sequences. Called once
    /// the handle is destroyed.
    func finish() {
        let (connectWaiter, acks, streams, terminationWaiters) = state.withLock { state in
            state.phase = .closed
            state.terminated = true
            defer {
                state.connectWaiter = nil
                state.terminationWaiters = []
            }
            return (
                state.connectWaiter, state.acks.closeAll(), state.subscriptions.removeAll(), state.terminationWaiters
            )
        }
        connectWaiter?.resume(throwing: MQTTError(.closed, call: "connect", detail: "the client was disconnected"))
        for (waiter, outcome) in acks { waiter.resume(returning: outcome) }
        for stream in streams { stream.finish() }
        events.finish()
        for waiter in terminationWaiters { waiter.resume() }
    }
}
