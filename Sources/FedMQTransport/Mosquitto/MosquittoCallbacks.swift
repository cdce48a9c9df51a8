import CMosquitto
import FoundationEssentials

// libmosquitto calls these free functions on its loop thread while holding its callback
// mutex. They are plain nonisolated functions on purpose: a closure formed in a MainActor
// context crashes when a foreign thread calls it. Each one copies what it needs out of
// libmosquitto's memory (freed when the callback returns), hands it to the ClientCore and
// returns without blocking.

private func core(_ context: UnsafeMutableRawPointer?) -> ClientCore? {
    context.map { Unmanaged<ClientCore>.fromOpaque($0).takeUnretainedValue() }
}

func mosquittoOnConnect(
    _ mosq: OpaquePointer?, _ context: UnsafeMutableRawPointer?, _ reason: Int32, _ flags: Int32,
    _ properties: OpaquePointer?
) {
    core(context)?.didConnect(mosq, reason: reason, flags: flags)
}

func mosquittoOnDisconnect(
    _ mosq: OpaquePointer?, _ context: UnsafeMutableRawPointer?, _ reason: Int32, _ properties: OpaquePointer?
) {
    core(context)?.didDisconnect(reason: reason)
}

func mosquittoOnPublish(
    _ mosq: OpaquePointer?, _ context: UnsafeMutableRawPointer?, _ id: Int32, _ reason: Int32,
    _ properties: OpaquePointer?
) {
    core(context)?.didComplete(id, .published(ReasonCode(rawValue: UInt8(truncatingIfNeeded: reason))))
}

func mosquittoOnSubscribe(
    _ mosq: OpaquePointer?, _ context: UnsafeMutableRawPointer?, _ id: Int32, _ count: Int32,
    _ granted: UnsafePointer<Int32>?, _ properties: OpaquePointer?
) {
    let codes = (0..<Int(max(0, count))).map { ReasonCode(rawValue: UInt8(truncatingIfNeeded: granted?[$0] ?? 0x80)) }
    core(context)?.didComplete(id, .subscribed(codes))
}

func mosquittoOnMessage(
    _ mosq: OpaquePointer?, _ context: UnsafeMutableRawPointer?, _ message: UnsafePointer<mosquitto_message>?,
    _ properties: OpaquePointer?
) {
    guard let core = core(context), let message = message?.pointee, let topic = message.topic else { return }
    let payload: [UInt8] =
        if let bytes = message.payload, message.payloadlen > 0 {
            Array(UnsafeRawBufferPointer(start: bytes, count: Int(message.payloadlen)))
        } else {
            []
        }
    core.didReceive(
        MQTTMessage(
            topic: String(cString: topic), payload: payload, qos: QoS(rawValue: Int(message.qos)) ?? .atMostOnce,
            retain: message.retain, properties: MessagePropertyReader.read(properties)))
}

func mosquittoOnLog(_ mosq: OpaquePointer?, _ context: UnsafeMutableRawPointer?, _ level: Int32, _ text: UnsafePointer<CChar>?) {
    guard level == MOSQ_LOG_ERR, let text else { return }
    core(context)?.didLogError(String(cString: text))
}

/// OpenSSL asks for the key's password through this; OpenSSL's userdata is the mosquitto
/// handle. Without a configured password it answers "none", so an encrypted key fails with a
/// TLS error instead of libmosquitto prompting on the terminal.
func mosquittoKeyPassword(
    _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32, _ rwflag: Int32, _ handle: UnsafeMutableRawPointer?
) -> Int32 {
    guard let buffer, let handle,
        let password = core(mosquitto_userdata(OpaquePointer(handle)))?.options.tls?.keyPassword
    else { return 0 }
    let bytes = Array(password.utf8.prefix(Int(max(0, size - 1))))
    for (index, byte) in bytes.enumerated() { buffer[index] = CChar(bitPattern: byte) }
    buffer[bytes.count] = 0
    return Int32(bytes.count)
}

enum MosquittoCallbacks {
    static func install(on handle: OpaquePointer) {
        mosquitto_connect_v5_callback_set(handle, mosquittoOnConnect)
        mosquitto_disconnect_v5_callback_set(handle, mosquittoOnDisconnect)
        mosquitto_publish_v5_callback_set(handle, mosquittoOnPublish)
        mosquitto_subscribe_v5_callback_set(handle, mosquittoOnSubscribe)
        mosquitto_message_v5_callback_set(handle, mosquittoOnMessage)
        mosquitto_log_callback_set(handle, mosquittoOnLog)
    }
}
