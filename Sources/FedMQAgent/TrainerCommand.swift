import FedMQRuntime

/// An external program that trains instead of FedMQ's own trainer (`trainer` in the agent's
/// config): any framework, as long as it reads the global model and writes the trained one as
/// safetensors (see docs/operations.md, "Any training framework").
public struct TrainerCommand: Codable, Sendable, Equatable {
    /// The program and its arguments. A program name without `/` is looked up in `PATH`; a
    /// relative path is taken from the config file's folder.
    public var command: [String]
    /// A training that takes longer is stopped (its whole process group) and the round given up.
    public var timeoutSeconds: Double

    /// `command`, stopped after `timeoutSeconds`.
    public init(command: [String], timeoutSeconds: Double = 600) {
        self.command = command
        self.timeoutSeconds = timeoutSeconds
    }

    enum CodingKeys: String, CodingKey {
        case command
        case timeoutSeconds = "timeout_seconds"
    }

    /// Fills the default timeout when the key is absent.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        command = try container.decode([String].self, forKey: .command)
        timeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? 600
    }

    /// Refuses an empty command or a timeout that is not a positive number of seconds up to a day.
    public func validate() throws(RuntimeError) {
        guard let program = command.first, !program.isEmpty else { throw .configuration("trainer.command must name a program") }
        guard timeoutSeconds > 0, timeoutSeconds <= 86_400 else {
            throw .configuration("trainer.timeout_seconds must be within 0 (exclusive) and 86400, not \(timeoutSeconds)")
        }
    }
}
