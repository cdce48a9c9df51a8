import CMosquitto
import Glibc

/// The one thread that drives a client's socket: it connects, serves the connection, and after
/// a failure waits out the reconnect policy's backoff (with jitter) before the next attempt.
///
/// libmosquitto's own `loop_start` reconnects with a fixed or squared delay in whole seconds
/// and no jitter; owning the loop gives us the policy, an interruptible wait and a clean stop.
struct NetworkThread: Sendable {
    let core: ClientCore
    let handle: MosquittoHandle

    private static let success = Int32(MOSQ_ERR_SUCCESS.rawValue)

    func start() {
        guard let error = PosixThread.start(name: "fedmq-mqtt", { run() }) else { return }
        let detail = "no thread for the connection to \(core.endpoint): \(String(cString: strerror(error)))"
        _ = core.connectionFailed(MQTTError(.outOfMemory, call: "pthread_create", detail: detail))
        handle.destroy()
        core.finish()
    }

    private func run() {
        let mosq = handle.loopPointer
        var random = SystemRandomNumberGenerator()
        while !core.stopSignal.isStopped {
            var (result, call) = (connect(mosq), "mosquitto_connect_bind_v5")
            if result == Self.success { (result, call) = serve(mosq) }
            if core.stopSignal.isStopped { break }
            let error = core.failure(from: result, call: call)
            guard core.connectionFailed(error) else { break }
            let failures = core.failures()
            let delay = core.options.reconnect.delay(afterFailures: failures, using: &random)
            core.events.send(.reconnecting(attempt: failures, delay: delay, lastError: error.detail))
            if core.stopSignal.wait(for: delay) { break }
        }
        shutDown(mosq)
    }

    private func connect(_ mosq: OpaquePointer) -> Int32 {
        let options = core.options
        let properties = PropertyList()
        if options.protocolVersion == .v5, case .persistent(let expiry) = options.session {
            let seconds = UInt32(clamping: Int64(expiry.seconds.rounded(.up)))
            do {
                try properties.addInt32(
                    Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), seconds, call: "mosquitto_property_add_int32")
            } catch {
                return Int32(MOSQ_ERR_NOMEM.rawValue)
            }
        }
        return mosquitto_connect_bind_v5(
            mosq, options.host, Int32(options.port), Int32(options.keepAlive), nil, properties.head)
    }

    /// Serves one connection until it fails (returning the failure) or a stop is requested.
    ///
    /// The thread polls the socket and the `Waker` itself (not `mosquitto_loop`), so that once a
    /// stop is seen it never reads again before the DISCONNECT is out: libmosquitto refuses
    /// packets that arrive after a DISCONNECT is queued and closes the socket without sending
    /// it, and the broker then publishes the last will. `poll` also takes descriptors above
    /// 1023, which `mosquitto_loop`'s `select` refuses.
    ///
    /// Until the broker's CONNACK, each turn tries the write and polls for input only, with a
    /// short timeout, and always reads: during a TLS handshake libmosquitto holds its CONNECT
    /// back, wants to write at every turn, and continues the handshake only from a read.
    private func serve(_ mosq: OpaquePointer) -> (Int32, String) {
        while !core.stopSignal.isStopped {
            let socket = mosquitto_socket(mosq)
            guard socket >= 0 else { return (Int32(MOSQ_ERR_NO_CONN.rawValue), "mosquitto_socket") }
            let connected = core.isConnected
            if !connected && mosquitto_want_write(mosq) {
                let result = mosquitto_loop_write(mosq, 1)
                if result != Self.success { return (result, "mosquitto_loop_write") }
            }
            let writing = connected && mosquitto_want_write(mosq)
            guard let ready = wait(for: socket, writing: writing, timeout: connected ? 1000 : 100) else {
                return (Int32(MOSQ_ERR_ERRNO.rawValue), "poll")
            }
            if core.stopSignal.isStopped { break }
            if !connected || ready & Int16(POLLIN | POLLHUP | POLLERR | POLLNVAL) != 0 {
                let result = mosquitto_loop_read(mosq, 1)
                if result != Self.success { return (result, "mosquitto_loop_read") }
            }
            if connected && mosquitto_want_write(mosq) {
                let result = mosquitto_loop_write(mosq, 1)
                if result != Self.success { return (result, "mosquitto_loop_write") }
            }
            let result = mosquitto_loop_misc(mosq)
            if result != Self.success { return (result, "mosquitto_loop_misc") }
        }
        return (Self.success, "poll")
    }

    /// Waits until `socket` is ready or the waker is signalled, at most `timeout` ms (a second
    /// once connected, for the keepalive); returns the socket's ready events, nil when `poll`
    /// failed.
    private func wait(for socket: Int32, writing: Bool, timeout: Int32) -> Int16? {
        let waker = core.waker
        var descriptors = (
            pollfd(fd: socket, events: Int16(POLLIN) | (writing ? Int16(POLLOUT) : 0), revents: 0),
            pollfd(fd: waker.descriptor, events: Int16(POLLIN), revents: 0)
        )
        // Without an eventfd (poll skips a negative descriptor), a stop or a queued packet
        // waits at most 20 ms.
        let limit = waker.descriptor >= 0 ? timeout : min(timeout, 20)
        let result = withUnsafeMutableBytes(of: &descriptors) { bytes in
            poll(bytes.baseAddress?.assumingMemoryBound(to: pollfd.self), 2, limit)
        }
        if result < 0 { return errno == EINTR ? 0 : nil }
        if descriptors.1.revents != 0 { waker.drain() }
        return descriptors.0.revents
    }

    /// Sends DISCONNECT (so the broker drops the last will) after whatever was queued before
    /// it, writing only; then ends the connection gracefully (see `closeGracefully`), frees the
    /// handle and ends every waiter and sequence.
    private func shutDown(_ mosq: OpaquePointer) {
        // libmosquitto closes its socket as soon as the DISCONNECT is out. A second descriptor
        // keeps the connection open past that close, so that this thread ends it.
        let socket = mosquitto_socket(mosq)
        let kept = socket >= 0 ? fcntl(socket, F_DUPFD_CLOEXEC, 0) : -1
        let deadline = ContinuousClock.now + .seconds(2)
        if mosquitto_disconnect_v5(mosq, 0, nil) == Self.success {
            while mosquitto_socket(mosq) >= 0 && ContinuousClock.now < deadline {
                var descriptor = pollfd(fd: mosquitto_socket(mosq), events: Int16(POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, 100)
                if descriptor.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { break }
                if mosquitto_loop_write(mosq, 1) != Self.success { break }
            }
        }
        handle.destroy()
        if kept >= 0 { Self.closeGracefully(kept, until: deadline + .seconds(2)) }
        core.finish()
    }

    /// Ends a connection with a FIN, never a reset: shuts down the sending side (after the
    /// DISCONNECT), reads and drops what the broker still sends until it closes its side, then
    /// closes.
    ///
    /// A socket closed with unread input (messages streaming in, or held back by a full
    /// mailbox) sends a TCP reset instead. A broker with output queued for the client then fails
    /// its next write before it reads the DISCONNECT, drops the client as lost ("Broken pipe")
    /// and publishes its last will: a cleanly stopped agent or aggregator would show 'offline'.
    private static func closeGracefully(_ socket: Int32, until deadline: ContinuousClock.Instant) {
        defer { close(socket) }
        guard shutdown(socket, Int32(SHUT_WR)) == 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while ContinuousClock.now < deadline {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 100)
            if ready < 0 && errno != EINTR { return }
            guard ready > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
            if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) { return }
        }
    }
}
