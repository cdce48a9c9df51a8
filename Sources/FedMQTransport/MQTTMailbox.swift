import Dispatch
import Synchronization

/// A subscription read in batches, with flow control.
///
/// Messages wait here until `takeAll()`. Once `capacityBytes` of payloads wait, the client's
/// network thread waits too: it stops reading the socket, TCP pushes back, and the broker
/// holds further messages in its queue for this session. A burst of large messages then costs
/// this process at most about `capacityBytes` plus one message, not the whole burst.
///
/// The network thread also reads the acknowledgements of this client's own publishes and
/// subscriptions, so a consumer that publishes or subscribes (and waits for the
/// acknowledgement) while it is not taking messages wraps that call in `withoutLimit`.
public final class MQTTMailbox: Sendable {
    public let filters: [String]
    public let capacityBytes: Int
    /// Yields once whenever messages arrive in an empty mailbox; ends with the mailbox.
    public let arrivals: AsyncStream<Void>

    private struct State {
        var messages: [MQTTMessage] = []
        var bytes = 0
        /// Open `withoutLimit` scopes.
        var unlimited = 0
        /// The client is stopping or the mailbox has ended: never hold the network thread.
        var released = false
        var producerWaiting = false
    }

    private let state = Mutex(State())
    private let producerGate = DispatchSemaphore(value: 0)
    private let arrivalsContinuation: AsyncStream<Void>.Continuation
    private let unsubscribe: Mutex<(@Sendable () -> Void)?>

    init(filters: [String], capacityBytes: Int) {
        self.filters = filters
        self.capacityBytes = capacityBytes
        (arrivals, arrivalsContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        unsubscribe = Mutex(nil)
    }

    func onCancel(_ action: @escaping @Sendable () -> Void) {
        unsubscribe.withLock { $0 = action }
    }

    /// Called on the network thread; waits while the mailbox is full.
    func deliver(_ message: MQTTMessage) {
        let (first, mustWait) = state.withLock { state in
            state.messages.append(message)
            state.bytes += message.payload.count
            let full = state.bytes >= capacityBytes && state.unlimited == 0 && !state.released
            if full { state.producerWaiting = true }
            return (state.messages.count == 1, full)
        }
        if first { arrivalsContinuation.yield() }
        if mustWait { producerGate.wait() }
    }

    /// Payload bytes waiting to be taken.
    public var waitingBytes: Int { state.withLock { $0.bytes } }

    /// Every waiting message, oldest first; frees the network thread if it was held.
    public func takeAll() -> [MQTTMessage] {
        let (messages, wake) = state.withLock { state in
            defer {
                state.messages = []
                state.bytes = 0
            }
            return (state.messages, wakeProducer(&state))
        }
        if wake { producerGate.signal() }
        return messages
    }

    /// Runs `body` while the mailbox takes messages without limit (for a publish, whose
    /// acknowledgement comes in on the network thread).
    @discardableResult
    public func withoutLimit<Result>(_ body: () async throws -> Result) async rethrows -> Result {
        let wake = state.withLock { state in
            state.unlimited += 1
            return wakeProducer(&state)
        }
        if wake { producerGate.signal() }
        defer { state.withLock { $0.unlimited -= 1 } }
        return try await body()
    }

    /// Never holds the network thread again (the client is stopping).
    func release() {
        let wake = state.withLock { state in
            state.released = true
            return wakeProducer(&state)
        }
        if wake { producerGate.signal() }
    }

    /// Ends `arrivals` and releases the network thread; messages already here can still be taken.
    func finish() {
        release()
        arrivalsContinuation.finish()
    }

    /// Ends the mailbox and unsubscribes the filters no other subscription uses.
    public func cancel() {
        finish()
        unsubscribe.withLock { action in
            defer { action = nil }
            return action
        }?()
    }

    private func wakeProducer(_ state: inout State) -> Bool {
        defer { state.producerWaiting = false }
        return state.producerWaiting
    }
}
