import Synchronization

/// The newest snapshot of something (a job's state, as JSON) and everyone waiting for the next:
/// what a dashboard page and its server-sent events show.
public final class LiveFeed: Sendable {
    private struct State {
        var latest: [UInt8]
        var listeners: [Int: AsyncStream<[UInt8]>.Continuation] = [:]
        var nextListener = 0
    }

    private let state: Mutex<State>

    /// A feed whose snapshot is `initial` until the first `publish`.
    public init(initial: [UInt8]) {
        state = Mutex(State(latest: initial))
    }

    /// The newest snapshot.
    public var latest: [UInt8] { state.withLock { $0.latest } }

    /// Replaces the snapshot and hands it to every listener.
    public func publish(_ snapshot: [UInt8]) {
        let listeners = state.withLock { state in
            state.latest = snapshot
            return Array(state.listeners.values)
        }
        for listener in listeners { listener.yield(snapshot) }
    }

    /// The current snapshot, then each new one; a slow reader gets the newest, not a backlog.
    public func updates() -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state in
            defer { state.nextListener += 1 }
            state.listeners[state.nextListener] = continuation
            continuation.yield(state.latest)
            return state.nextListener
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.listeners.removeValue(forKey: id) }
        }
        return stream
    }
}
