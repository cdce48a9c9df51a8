import CMosquitto

extension MQTTClient {
    /// Publishes through libmosquitto; see `MQTTTransport.publish`.
    @discardableResult
    public func publish(
        _ topic: String, payload: [UInt8], qos: QoS, retain: Bool, messageExpiry: UInt32?,
        userProperties: [UserProperty]
    ) async throws -> ReasonCode {
        let call = "mosquitto_publish_v5"
        try TopicName.validate(topic, call: call)
        guard payload.count <= 268_435_455 else {
            throw MQTTError(.packetTooLarge, call: call, detail: "payload of \(payload.count) bytes exceeds MQTT's limit")
        }
        var properties: PropertyList?
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
            payload.withUnsafeBytes { bytes in
                mosquitto_publish_v5(
                    mosq, &id, topic, Int32(bytes.count), bytes.baseAddress, Int32(qos.rawValue), retain, properties?.head)
            }
        }
        switch result {
        case Int32(MOSQ_ERR_SUCCESS.rawValue):
            break
        case Int32(MOSQ_ERR_NO_CONN.rawValue) where qos != .atMostOnce:
            // Not connected, but libmosquitto has queued the message and sends it after the
            // reconnect. Retrying here would send it twice.
            break
        default:
            throw MosquittoLibrary.error(result, call: call, detail: "topic '\(topic)', \(payload.count) bytes")
        }
        switch await core.outcome(of: id, kind: qos == .atMostOnce ? .sent : .acknowledged) {
        case .published(let reason) where reason.isFailure:
            throw MQTTError(.rejected(reason), call: call, detail: "broker refused publish to '\(topic)': \(reason)")
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
