/// A program of the user's that FedMQ runs for one task: an agent's `trainer` (any training
/// framework, see docs/operations.md, "Any training framework") or an aggregator's
/// `evaluation_command` (the central evaluation of an external model).
public struct ExternalCommand: Codable, Sendable, Equatable {
    /// The program and its arguments. A program name without `/` is looked up in `PATH`; a
    /// relative path is taken from the config file's folder.
    public var command: [String]
    /// A run that takes longer is stopped (its whole process group) and counts as failed.
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

    /// Fills the default timeout (600 s) when the key is absent.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        command = try container.decode([String].self, forKey: .command)
        timeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? 600
    }

    /// Refuses an empty command or a timeout that is not a positive number of seconds up to a
    /// day, naming the config key (`trainer`, `evaluation_command`).
    public func validate(key: String) throws(RuntimeError) {
        guard let program = command.first, !program.isEmpty else { throw .configuration("\(key).command must name a program") }
        guard timeoutSeconds > 0, timeoutSeconds <= 86_400 else {
            throw .configuration("\(key).timeout_seconds must be within 0 (exclusive) and 86400, not \(timeoutSeconds)")
        }
    }

    /// The command with a relative program path (one with a `/`) taken from `folder` (a config
    /// file's); a bare name stays, for `PATH`.
    public func resolved(relativeTo folder: String) -> ExternalCommand {
        guard let program = command.first, program.contains("/") else { return self }
        var copy = self
        copy.command[0] = resolvePath(program, relativeTo: folder) ?? program
        return copy
    }
}
