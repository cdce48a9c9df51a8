/// The one error type of FedMQLocalBroker.
public enum LocalBrokerError: Error, Sendable, CustomStringConvertible {
    /// A program we need is not installed (`mosquitto`, `mosquitto_passwd`, `openssl`).
    case programNotFound(String, hint: String)
    /// A helper program ran and failed.
    case commandFailed(command: String, status: Int32, output: String)
    /// The broker exited or never accepted connections; `log` is the end of its log.
    case brokerDidNotStart(port: Int, reason: String, log: String)
    /// A socket call failed while looking for a free port or probing the broker.
    case socket(call: String, errno: Int32)
    /// Writing the broker's files failed.
    case file(path: String, reason: String)

    public var description: String {
        switch self {
        case .programNotFound(let name, let hint):
            "'\(name)' was not found on PATH or in /usr/sbin; \(hint)"
        case .commandFailed(let command, let status, let output):
            "'\(command)' exited with status \(status): \(output)"
        case .brokerDidNotStart(let port, let reason, let log):
            "mosquitto on port \(port) did not start (\(reason)); its log ends with:\n\(log)"
        case .socket(let call, let errno):
            "\(call) failed with errno \(errno)"
        case .file(let path, let reason):
            "cannot write '\(path)': \(reason)"
        }
    }
}
