import CMosquitto
import Synchronization

/// Owns one `struct mosquitto *`.
///
/// `@unchecked Sendable` is safe because the pointer is only used in two ways: callers on any
/// thread go through `withPointer`, which holds `lock`, and `destroy()` clears it under the
/// same lock, so no caller can use a destroyed handle. The network thread reads `loopPointer`
/// without the lock; it is the thread that calls `destroy()`, after its last use. libmosquitto
/// itself makes concurrent calls on one handle safe (it is built for a loop thread beside
/// publishing threads).
final class MosquittoHandle: @unchecked Sendable {
    private let lock = Mutex<Void>(())
    private var pointer: OpaquePointer?
    /// For the network thread only (see the type's comment).
    let loopPointer: OpaquePointer

    init(clientID: String?, cleanStart: Bool, context: UnsafeMutableRawPointer) throws(MQTTError) {
        _ = MosquittoLibrary.initialized
        guard let created = mosquitto_new(clientID, cleanStart, context) else {
            throw MosquittoLibrary.error(Int32(MOSQ_ERR_ERRNO.rawValue), call: "mosquitto_new")
        }
        pointer = created
        loopPointer = created
    }

    /// Runs `body` with the live handle; throws `.closed` once the handle is destroyed.
    func withPointer<Result>(_ call: String, _ body: (OpaquePointer) throws(MQTTError) -> Result) throws(MQTTError)
        -> Result
    {
        try lock.withLock { _ throws(MQTTError) -> Result in
            guard let pointer else { throw MQTTError(.closed, call: call, detail: "the client was disconnected") }
            return try body(pointer)
        }
    }

    /// Frees the handle. Only the network thread calls this, after its loop has ended.
    func destroy() {
        lock.withLock { _ in
            if let pointer { mosquitto_destroy(pointer) }
            pointer = nil
        }
    }
}
