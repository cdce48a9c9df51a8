/// The messages of one subscription, in arrival order. Cancelling it (or dropping the last
/// iterator) unsubscribes the filters that no other subscription still uses.
public struct MQTTSubscription: AsyncSequence, Sendable {
    /// Each element is one message.
    public typealias Element = MQTTMessage

    public let filters: [String]
    private let stream: AsyncStream<MQTTMessage>
    private let continuation: AsyncStream<MQTTMessage>.Continuation

    init(filters: [String], stream: AsyncStream<MQTTMessage>, continuation: AsyncStream<MQTTMessage>.Continuation) {
        self.filters = filters
        self.stream = stream
        self.continuation = continuation
    }

    /// Ends the sequence and unsubscribes.
    public func cancel() {
        continuation.finish()
    }

    /// The messages, in arrival order.
    public func makeAsyncIterator() -> AsyncStream<MQTTMessage>.Iterator {
        stream.makeAsyncIterator()
    }
}
