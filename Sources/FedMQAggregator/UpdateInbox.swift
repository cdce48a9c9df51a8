import FedMQTransport
import Synchronization

/// Updates delivered by the broker and not yet handled. The event loop takes them all at once,
/// so that a burst of updates is spooled with one directory fsync instead of one per update.
final class UpdateInbox: Sendable {
    private let waiting = Mutex<[MQTTMessage]>([])

    /// Adds a message; true when the inbox was empty (the event loop needs a nudge).
    func put(_ message: MQTTMessage) -> Bool {
        waiting.withLock { messages in
            messages.append(message)
            return messages.count == 1
        }
    }

    func takeAll() -> [MQTTMessage] {
        waiting.withLock { messages in
            defer { messages = [] }
            return messages
        }
    }
}
