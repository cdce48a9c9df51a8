import CMosquitto
import Synchronization

/// An MQTT client over libmosquitto.
///
/// ```swift
/// let client = try MQTTClient(options: ConnectionOptions(host: "127.0.0.1", port: 1883))
/// try await client.connect()
/// let models = try await client.subscribe(to: ["fedmq/v1/job/global/model"], qos: .atLeastOnce)
/// try await client.publish("fedmq/v1/job/status/a1", payload: Array("online".utf8), retain: true)
/// for await message in models { ... }
/// await client.disconnect()
/// ```
///
/// After `connect()` succeeds the client stays connected on its own: it reconnects with the
/// options' backoff policy, restores subscriptions, and resends unacknowledged QoS 1 messages.
public final class MQTTClient: MQTTTransport {
    public var options: ConnectionOptions { core.options }
    let core: ClientCore
    let handle: MosquittoHandle
    private let started = Mutex(false)

    /// A client with these options, not connected yet; refuses invalid options.
    public init(options: ConnectionOptions) throws(MQTTError) {
        try options.validate()
        let core = ClientCore(options: options)
        let cleanStart = options.session == .clean
        let handle = try MosquittoHandle(
            clientID: options.clientID, cleanStart: cleanStart, context: Unmanaged.passUnretained(core).toOpaque())
        do {
            try handle.withPointer("configure") { mosq throws(MQTTError) in
                try MosquittoSetup.configure(mosq, with: options)
            }
        } catch {
            handle.destroy()
            throw error
        }
        self.core = core
        self.handle = handle
    }

    deinit {
        // An owner that forgot `disconnect()` must not leave the network thread running.
        requestStop()
        if !started.withLock({ $0 }) { handle.destroy() }
    }

    /// Connects and returns once the broker accepted the connection.
    ///
    /// Network failures are retried with backoff until `options.connectTimeout`; a refusal
    /// by the broker (bad credentials, not authorized) or a TLS failure throws at once.
    public func connect() async throws {
        let first = started.withLock { started in
            defer { started = true }
            return !started
        }
        guard first else { throw MQTTError(.invalidArgument, call: "connect", detail: "connect() was already called") }
        let timer = options.connectTimeout.map { timeout in
            Task { [core] in
                try await Task.sleep(for: timeout)
                core.connectTimedOut(after: timeout)
            }
        }
        defer { timer?.cancel() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
                core.state.withLock { state in
                    state.phase = .connecting
                    state.connectWaiter = waiter
                }
                NetworkThread(core: core, handle: handle).start()
            }
        } onCancel: {
            requestStop()
        }
    }

    /// A new sequence of this client's connection events, from now on.
    public func connectionEvents() -> AsyncStream<ConnectionEvent> {
        core.events.makeStream()
    }

    /// Sends DISCONNECT (no last will), stops the network thread, frees the handle, and ends
    /// every subscription and event sequence. Unacknowledged publishes fail with `.closed`.
    public func disconnect() async {
        requestStop()
        if started.withLock({ $0 }) {
            await core.awaitTermination()
        } else {
            handle.destroy()
            core.finish()
        }
    }

    /// The network thread sees the stop, then queues and writes the DISCONNECT itself: queued
    /// from here, it could read an incoming packet first, which libmosquitto refuses once a
    /// DISCONNECT is queued, and close the socket without one (see `NetworkThread.serve`).
    private func requestStop() {
        core.stopSignal.stop()
        core.releaseReceivers()
        core.waker.signal()
    }
}
