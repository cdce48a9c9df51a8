import CMosquitto
import FoundationEssentials
import Glibc

/// Process-wide libmosquitto set-up and the mapping of its result codes to `MQTTError`.
enum MosquittoLibrary {
    /// `mosquitto_lib_init` must run once before any handle exists; a `static let` is
    /// initialised exactly once, thread-safely.
    static let initialized: Void = {
        _ = mosquitto_lib_init()
    }()

    /// Throws an `MQTTError` naming `call` unless `result` is `MOSQ_ERR_SUCCESS`.
    static func check(_ result: Int32, _ call: String) throws(MQTTError) {
        if result != Int32(MOSQ_ERR_SUCCESS.rawValue) { throw error(result, call: call) }
    }

    /// Turns a `mosq_err_t` into our error, with libmosquitto's text (or the system's for errno).
    static func error(_ result: Int32, call: String, detail: String? = nil) -> MQTTError {
        let text: String
        if result == Int32(MOSQ_ERR_ERRNO.rawValue) {
            text = String(cString: strerror(errno))
        } else {
            text = String(cString: mosquitto_strerror(result))
        }
        let full = detail.map { "\(text): \($0)" } ?? text
        return MQTTError(code(of: result), call: call, detail: full)
    }

    private static func code(of result: Int32) -> MQTTError.Code {
        switch mosq_err_t(rawValue: result) {
        case MOSQ_ERR_NO_CONN: .notConnected
        case MOSQ_ERR_CONN_LOST, MOSQ_ERR_KEEPALIVE: .connectionLost
        case MOSQ_ERR_CONN_REFUSED: .connectionRefused(.unspecifiedError)
        case MOSQ_ERR_AUTH: .connectionRefused(.badUserNameOrPassword)
        case MOSQ_ERR_ACL_DENIED: .rejected(.notAuthorized)
        case MOSQ_ERR_OVERSIZE_PACKET: .packetTooLarge
        case MOSQ_ERR_TLS, MOSQ_ERR_TLS_HANDSHAKE: .tls
        case MOSQ_ERR_INVAL, MOSQ_ERR_MALFORMED_UTF8, MOSQ_ERR_PAYLOAD_SIZE, MOSQ_ERR_QOS_NOT_SUPPORTED:
            .invalidArgument
        case MOSQ_ERR_PROTOCOL, MOSQ_ERR_MALFORMED_PACKET, MOSQ_ERR_NOT_SUPPORTED, MOSQ_ERR_DUPLICATE_PROPERTY:
            .protocolError
        case MOSQ_ERR_NOMEM: .outOfMemory
        case MOSQ_ERR_ERRNO, MOSQ_ERR_EAI, MOSQ_ERR_LOOKUP: .io
        default: .other
        }
    }

    /// libmosquitto's name for an MQTT 5 reason code.
    static func reasonText(_ reason: ReasonCode) -> String {
        String(cString: mosquitto_reason_string(Int32(reason.rawValue)))
    }
}
