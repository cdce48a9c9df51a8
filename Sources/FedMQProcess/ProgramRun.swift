import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// One run of a user's program in a work folder, bounded in time: started in a process group of
/// its own (so its workers go with it), output to a log there, stopped with its group when its
/// time is up. `role` names it in every failure ("the trainer", "the evaluation command").
public struct ProgramRun: Sendable {
    public let command: [String]
    public let timeoutSeconds: Double
    public let role: String

    /// Why a run produced nothing usable; names the program and where its output went.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String

        /// A failure that reads `description`.
        public init(_ description: String) { self.description = description }
    }

    /// `command` (program first), given `timeoutSeconds`.
    public init(command: [String], timeoutSeconds: Double, role: String) {
        self.command = command
        self.timeoutSeconds = timeoutSeconds
        self.role = role
    }

    /// Starts the program in `work` with `environment` added to this process's own, its output
    /// appended to `log`.
    public func start(in work: String, environment extra: [String: String], log: String) throws(Failure) -> ChildProcess {
        var environment = ProcessInfo.processInfo.environment
        environment.merge(extra) { _, new in new }
        guard let name = command.first, !name.isEmpty else { throw Failure("\(role) names no program") }
        let program = try resolve(name, path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        do {
            return try ChildProcess(
                program, Array(command.dropFirst()), logFile: log, environment: environment, workingDirectory: work, ownGroup: true)
        } catch {
            throw Failure("\(role): \(error)")
        }
    }

    /// Waits for `child` to exit, polling while the caller's task sleeps; a program past its time
    /// is stopped with its group. Throws unless it exited with status 0.
    public func finish(_ child: ChildProcess, log: String) async throws(Failure) {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeoutSeconds * 1000))
        var status = child.poll()
        while status == nil && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
            status = child.poll()
        }
        try outcome(status, of: child, log: log)
    }

    /// `finish`, blocking the calling thread: for a caller that must answer synchronously (the
    /// aggregator's evaluation of a model it is about to publish).
    public func finishBlocking(_ child: ChildProcess, log: String) throws(Failure) {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeoutSeconds * 1000))
        var status = child.poll()
        while status == nil && ContinuousClock.now < deadline {
            usleep(10_000)
            status = child.poll()
        }
        try outcome(status, of: child, log: log)
    }

    /// Stops a program still running (SIGTERM to its group, then SIGKILL) and anything an exited
    /// one left behind; throws unless it exited 0 in time.
    private func outcome(_ status: Int32?, of child: ChildProcess, log: String) throws(Failure) {
        guard let raw = status else {
            child.sendToGroup(SIGTERM)
            for _ in 0..<500 where child.poll() == nil { usleep(10_000) }
            child.sendToGroup(SIGKILL)
            _ = child.poll()
            throw Failure("\(role) did not finish within \(timeoutSeconds) s and was stopped (its output: \(log))")
        }
        child.sendToGroup(SIGKILL)  // anything it left running
        let code = ChildProcess.exitCode(raw)
        guard code == 0 else { throw Failure("\(role) exited with status \(code): \(Self.tail(of: log))") }
    }

    /// `program` as a path: a name without `/` from `path` (a `PATH` value).
    func resolve(_ program: String, path: String) throws(Failure) -> String {
        guard !program.contains("/") else { return program }
        for folder in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(folder)/\(program)") {
            return "\(folder)/\(program)"
        }
        throw Failure("\(role) '\(program)' is not in PATH (\(path))")
    }

    /// The last lines of a log, for an error message.
    public static func tail(of path: String, lines: Int = 5) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let last = text.split(separator: "\n").suffix(lines).joined(separator: " | ")
        return last.isEmpty ? "no output" : String(last.suffix(600))
    }
}
