import Synchronization

/// Fans connection events out to every `connectionEvents()` sequence.
final class EventBroadcaster: Sendable {
    private let listeners = Mutex<(next: Int, all: [Int: AsyncStream<ConnectionEvent>.Continuation], finished: Bool)>(
        (0, [:], false))

    func makeStream() -> AsyncStream<ConnectionEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: ConnectionEvent.self, bufferingPolicy: .bufferingNewest(256))
        let id: Int? = listeners.withLock { state in
            if state.finished { return nil }
            state.next += 1
            state.all[state.next] = continuation
            return state.next
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.listeners.withLock { $0.all.removeValue(forKey: id) }
        }
        return stream
    }

    func send(_ event: ConnectionEvent) {
        let targets = listeners.withLock { Array($0.all.values) }
        for continuation in targets { continuation.yield(event) }
    }

    /// Ends every sequence; later `makeStream()` calls get an empty, finished one.
    func finish() {
        let targets = listeners.withLock { state -> [AsyncStream<ConnectionEvent>.Continuation] in
            state.finished = true
            defer { state.all = [:] }
            return Array(state.all.values)
        }
        for continuation in targets { continuation.finish() }
    }
}
