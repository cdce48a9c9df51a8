import CMosquitto

extension MQTTClient {
    /// Publishes through libmosquitto; see `MQTTTransport.publish`.
    @discardableResult
    public func publish(
        _ topic: String, payload: [UInt8], qos: QoS, retain: Bool, messageExpiry: UInt32?,
        userProperties: [UserProperty]
    ) async throws -> ReasonCode {
        let message = MQTTMessage(
            topic: topic, payload: payload, qos: qos, retain: retain,
            properties: MessageProperties(messageExpiry: messageExpiry, userProperties: userProperties))
        return try await outcome(of: try send(message), message)
    }

    /// Hands every message to libmosquitto first, then waits for their acknowledgements: one
    /// round trip to the broker for all of them; see `MQTTTransport.publish(_:)`.
    public func publish(_ messages: [MQTTMessage]) async throws {
        var sent: [(id: Int32, message: MQTTMessage)] = []
        var failure: (any Error)?
        for message in messages {
            do {
                sent.append((try send(message, wakingNetworkThread: false), message))
            } catch {
                failure = error
                break
            }
        }
        // One wake-up of the network thread writes them all.
        core.waker.signal()
        // The broker answers one connection's packets in order: waiting for the last one first
        // finds the others already answered, so this task wakes once, not once a message.
        var answers: [(any Error)?] = Array(repeating: nil, count: sent.count)
        for index in sent.indices.reversed() {
            do {
                try await outcome(of: sent[index].id, sent[index].message)
            } catch {
                answers[index] = error
            }
        }
        if let failure = failure ?? answers.lazy.compactMap({ $0 }).first { throw failure }
    }

    /// Queues `message` in libmosquitto (sent by its network thread, which this wakes unless
    /// told not to); returns its packet id.
    private func send(_ message: MQTTMessage, wakingNetworkThread: Bool = true) throws -> Int32 {
        let call = "mosquitto_publish_v5"
        try TopicName.validate(message.topic, call: call)
        guard message.payload.count <= 268_435_455 else {
            throw MQTTError(.packetTooLarge, call: call, detail: "payload of \(message.payload.count) bytes exceeds MQTT's limit")
        }
        var properties: PropertyList?
        let (messageExpiry, userProperties) = (message.properties.messageExpiry, message.properties.userProperties)
        if options.protocolVersion == .v5 && (messageExpiry != nil || !userProperties.isEmpty) {
            let list = PropertyList()
            if let messageExpiry {
                try list.addInt32(Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), messageExpiry, call: call)
            }
            for property in userProperties { try list.addUserProperty(property, call: call) }
            properties = list
        }
        var id: Int32 = 0
        let result = try handle.withPointer(call) { mosq in
            message.payload.withUnsafeBytes { bytes in
                mosquitto_publish_v5(
                    mosq, &id, message.topic, Int32(bytes.count), bytes.baseAddress, Int32(message.qos.rawValue), message.retain,
                    properties?.head)
            }
        }
        // The network thread writes the packet; it sleeps in poll until woken.
        if wakingNetworkThread { core.waker.signal() }
        switch result {
        case Int32(MOSQ_ERR_SUCCESS.rawValue):
            return id
        case Int32(MOSQ_ERR_NO_CONN.rawValue) where message.qos != .atMostOnce:
            // Not connected, but libmosquitto has queued the message and sends it after the
            // reconnect. Retrying here would send it twice.
            return id
        default:
            throw MosquittoLibrary.error(result, call: call, detail: "topic '\(message.topic)', \(message.payload.count) bytes")
        }
    }

    /// Waits for what the broker made of packet `id` (its acknowledgement at QoS 1 and 2).
    @discardableResult
    private func outcome(of id: Int32, _ message: MQTTMessage) async throws -> ReasonCode {
        switch await core.outcome(of: id, kind: message.qos == .atMostOnce ? .sent : .acknowledged) {
        case .published(let reason) where reason.isFailure:
            throw MQTTError(.rejected(reason), call: "mosquitto_publish_v5", detail: "broker refused publish to '\(message.topic)': \(reason)")
        case .published(let reason):
            return reason
        case .subscribed:
            return .success
        case .failed(let error):
            throw error
        case .cancelled:
            throw CancellationError()
        }
    }
}
