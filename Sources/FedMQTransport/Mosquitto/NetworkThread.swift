import CMosquitto
import Glibc

/// The one thread that drives a client's socket: it connects, runs `mosquitto_loop`, and after
/// a failure waits out the reconnect policy's backoff (with jitter) before the next attempt.
///
/// libmosquitto's own `loop_start` reconnects with a fixed or squared delay in whole seconds
/// and no jitter; owning the loop gives us the policy, an interruptible wait and a clean stop.
struct NetworkThread: Sendable {
    let core: ClientCore
    let handle: MosquittoHandle

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
        let success = Int32(MOSQ_ERR_SUCCESS.rawValue)
        while !core.stopSignal.isStopped {
            var result = connect(mosq)
            var call = "mosquitto_connect_bind_v5"
            if result == success {
                call = "mosquitto_loop"
                while !core.stopSignal.isStopped {
                    result = mosquitto_loop(mosq, 1000, 1)
                    if result != success { break }
                }
            }
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

    /// Sends DISCONNECT (so the broker drops the last will), lets the loop write it, then
    /// frees the handle and ends every waiter and sequence.
    private func shutDown(_ mosq: OpaquePointer) {
        if mosquitto_disconnect_v5(mosq, 0, nil) == Int32(MOSQ_ERR_SUCCESS.rawValue) {
            var rounds = 0
            while rounds < 20 && mosquitto_loop(mosq, 100, 1) == Int32(MOSQ_ERR_SUCCESS.rawValue) {
                rounds += 1
            }
        }
        handle.destroy()
        core.finish()
    }
}
