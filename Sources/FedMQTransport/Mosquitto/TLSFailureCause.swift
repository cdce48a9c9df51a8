/// The likely cause of a TLS failure, from the OpenSSL error libmosquitto logged, in the terms
/// of the connection's settings: OpenSSL's own text names a routine, not what to change.
enum TLSFailureCause {
    static func explain(_ logged: String, options: ConnectionOptions) -> String? {
        let text = logged.lowercased()
        let ca = options.tls.map { "'\($0.caFile)'" } ?? "ca_file"
        if text.contains("certificate verify failed") {
            return "the broker's certificate is not signed by the CA in \(ca), has expired, or does not name '\(options.host)' "
                + "among its DNS and IP names (connect by a name the certificate holds)"
        }
        if text.contains("certificate required") {
            return "the broker requires a client certificate: give cert_file and key_file"
        }
        if text.contains("unknown ca") || text.contains("bad certificate") || text.contains("certificate unknown") {
            return "the broker does not accept this client certificate: it is not signed by a CA the broker trusts"
        }
        if text.contains("unexpected eof") || text.contains("wrong version number") || text.contains("packet length too long") {
            return "port \(options.port) may not be a TLS listener (a plain MQTT port?)"
        }
        if text.contains("key values mismatch") {
            return "the key file does not belong to the client certificate"
        }
        return nil
    }
}
