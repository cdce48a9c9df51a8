import CMosquitto
import FoundationEssentials

/// Applies `ConnectionOptions` to a fresh handle, before its first connect.
enum MosquittoSetup {
    static func configure(_ mosq: OpaquePointer, with options: ConnectionOptions) throws(MQTTError) {
        let version = options.protocolVersion == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
        try MosquittoLibrary.check(
            mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, Int32(version)), "mosquitto_int_option(protocol)")
        // Small packets (acks, control JSON) would otherwise wait for Nagle's algorithm.
        try MosquittoLibrary.check(mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1), "mosquitto_int_option(nodelay)")
        // Publishing threads only queue packets and wake our network thread, which writes them.
        try MosquittoLibrary.check(mosquitto_threaded_set(mosq, true), "mosquitto_threaded_set")
        if let credentials = options.credentials {
            try MosquittoLibrary.check(
                mosquitto_username_pw_set(mosq, credentials.username, credentials.password), "mosquitto_username_pw_set")
        }
        if let tls = options.tls { try configureTLS(mosq, tls) }
        if let will = options.will { try configureWill(mosq, will, version: options.protocolVersion) }
        MosquittoCallbacks.install(on: mosq)
    }

    private static func configureTLS(_ mosq: OpaquePointer, _ tls: TLSOptions) throws(MQTTError) {
        for (role, path) in [("CA file", tls.caFile), ("certificate file", tls.certificateFile), ("key file", tls.keyFile)] {
            guard let path else { continue }
            if !FileManager.default.isReadableFile(atPath: path) {
                throw MQTTError(.tls, call: "mosquitto_tls_set", detail: "cannot read TLS \(role) '\(path)'")
            }
        }
        if (tls.certificateFile == nil) != (tls.keyFile == nil) {
            throw MQTTError(.invalidArgument, call: "mosquitto_tls_set", detail: "a client certificate needs its key, and a key its certificate")
        }
        try MosquittoLibrary.check(
            mosquitto_tls_set(mosq, tls.caFile, nil, tls.certificateFile, tls.keyFile, mosquittoKeyPassword),
            "mosquitto_tls_set")
        // 1 = SSL_VERIFY_PEER: the broker's certificate must chain to the CA.
        try MosquittoLibrary.check(mosquitto_tls_opts_set(mosq, 1, tls.version.rawValue, nil), "mosquitto_tls_opts_set")
        try MosquittoLibrary.check(mosquitto_tls_insecure_set(mosq, !tls.verifyHostname), "mosquitto_tls_insecure_set")
    }

    private static func configureWill(_ mosq: OpaquePointer, _ will: LastWill, version: ProtocolVersion) throws(MQTTError) {
        guard will.payload.count <= Int(Int32.max) else {
            throw MQTTError(.invalidArgument, call: "mosquitto_will_set", detail: "last will payload is too large")
        }
        let result = will.payload.withUnsafeBytes { bytes in
            version == .v5
                ? mosquitto_will_set_v5(
                    mosq, will.topic, Int32(bytes.count), bytes.baseAddress, Int32(will.qos.rawValue), will.retain, nil)
                : mosquitto_will_set(
                    mosq, will.topic, Int32(bytes.count), bytes.baseAddress, Int32(will.qos.rawValue), will.retain)
        }
        try MosquittoLibrary.check(result, "mosquitto_will_set")
    }
}
