import CMosquitto
import FoundationEssentials
import Glibc

extension MQTTClient {
    /// Subscribes through libmosquitto; see `MQTTTransport.subscribe`.
    public func subscribe(to filters: [String], qos: QoS, deliver: (@Sendable (MQTTMessage) -> Void)?) async throws -> MQTTSubscription {
        let call = "mosquitto_subscribe_multiple"
        guard !filters.isEmpty else { throw MQTTError(.invalidArgument, call: call, detail: "no topic filter given") }
        for filter in filters { try TopicName.validateFilter(filter, call: call) }
        let (stream, continuation) = AsyncStream.makeStream(of: MQTTMessage.self, bufferingPolicy: .unbounded)
        let entry = SubscriptionRegistry.Entry(filters: filters, qos: qos, receiver: MessageReceiver(continuation, deliver: deliver))
        let id = core.state.withLock { $0.subscriptions.add(entry).id }
        continuation.onTermination = { [core, handle] _ in
            Self.endSubscription(id, core: core, handle: handle)
        }
        let subscription = MQTTSubscription(filters: filters, stream: stream, continuation: continuation)
        do {
            try await sendSubscribe(filters, qos: qos)
        } catch {
            subscription.cancel()
            throw error
        }
        return subscription
    }

    /// Subscribes with flow control: messages wait in the mailbox until taken, and once
    /// `capacityBytes` of payloads wait, the network thread waits too (see `MQTTMailbox`).
    public func subscribeMailbox(to filters: [String], qos: QoS, capacityBytes: Int) async throws -> MQTTMailbox {
        let call = "mosquitto_subscribe_multiple"
        guard !filters.isEmpty else { throw MQTTError(.invalidArgument, call: call, detail: "no topic filter given") }
        guard capacityBytes > 0 else { throw MQTTError(.invalidArgument, call: call, detail: "mailbox capacity must be positive") }
        for filter in filters { try TopicName.validateFilter(filter, call: call) }
        let mailbox = MQTTMailbox(filters: filters, capacityBytes: capacityBytes)
        let id = core.state.withLock {
            $0.subscriptions.add(SubscriptionRegistry.Entry(filters: filters, qos: qos, receiver: MessageReceiver(mailbox))).id
        }
        mailbox.onCancel { [core, handle] in Self.endSubscription(id, core: core, handle: handle) }
        do {
            try await sendSubscribe(filters, qos: qos)
        } catch {
            mailbox.cancel()
            throw error
        }
        return mailbox
    }

    /// Sends SUBSCRIBE for every filter, even those another subscription already holds: the
    /// broker then sends the matching retained messages again, which the new subscriber needs.
    private func sendSubscribe(_ filters: [String], qos: QoS) async throws {
        let call = "mosquitto_subscribe_multiple"
        var id: Int32 = 0
        let result = try handle.withPointer(call) { mosq in
            withCStrings(filters) { strings in
                mosquitto_subscribe_multiple(mosq, &id, Int32(filters.count), strings, Int32(qos.rawValue), 0, nil)
            }
        }
        core.waker.signal()
        if result == Int32(MOSQ_ERR_NO_CONN.rawValue) { return }  // made on the next connect
        try MosquittoLibrary.check(result, call)
        switch await core.outcome(of: id, kind: .subscribed) {
        case .subscribed(let granted):
            if let refused = granted.first(where: \.isFailure) {
                throw MQTTError(
                    .rejected(refused), call: call, detail: "broker refused subscription to \(filters): \(refused)")
            }
        case .published:
            return
        case .failed(let error):
            throw error
        case .cancelled:
            throw CancellationError()
        }
    }

    static func endSubscription(_ id: Int, core: ClientCore, handle: MosquittoHandle) {
        let unused = core.state.withLock { $0.subscriptions.remove(id) }
        guard !unused.isEmpty else { return }
        _ = try? handle.withPointer("mosquitto_unsubscribe_multiple") { mosq in
            withCStrings(unused) { strings in
                mosquitto_unsubscribe_multiple(mosq, nil, Int32(unused.count), strings, nil)
            }
        }
        core.waker.signal()
    }
}

/// Calls `body` with a C array of NUL-terminated copies of `strings`.
private func withCStrings<Result>(
    _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Result
) -> Result {
    let copies = strings.map { strdup($0) }
    defer { for copy in copies { free(copy) } }
    return copies.withUnsafeBufferPointer { body($0.baseAddress!) }
}
