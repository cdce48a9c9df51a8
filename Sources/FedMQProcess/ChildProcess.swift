import FoundationEssentials
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Why a child process could not be started.
public struct ChildProcessError: Error, Sendable, CustomStringConvertible {
    public let command: String
    public let reason: String
    public var description: String { "cannot start '\(command.prefix(200))': \(reason)" }
}

/// A child process started with `posix_spawn`, signalled and reaped by its PID only. If the
/// last reference goes away while the child still runs (a failed test, an error path), the
/// child is killed, so nothing is left behind.
///
/// It starts with an empty signal mask and default signal handlers: a child inherits the
/// spawning thread's mask, and threads of a Swift process (test runners among them) may
/// block SIGTERM, which would make `mosquitto` or an agent ignore our polite stop.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    public let command: String
    private let exitStatus = Mutex<Int32?>(nil)

    /// Whether the child leads a process group of its own (see `init`).
    public let leadsGroup: Bool

    /// Starts `executable` with `arguments`; standard output and error go to `logFile`
    /// (appended) or are discarded. Standard input is /dev/null. With `workingDirectory` it
    /// starts there; with `ownGroup` it leads a new process group, so `sendToGroup` reaches the
    /// processes it starts too (a training script's workers).
    public init(
        _ executable: String, _ arguments: [String], logFile: String? = nil, environment: [String: String]? = nil,
        workingDirectory: String? = nil, ownGroup: Bool = false
    ) throws(ChildProcessError) {
        command = ([executable] + arguments).joined(separator: " ")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else goes to the child: libmosquitto opens its broker socket and its wake-up
        // pipe without close-on-exec, and an external trainer must not hold the agent's broker
        // connection (or any file it has open).
        if let addCloseFrom = Self.addCloseFrom {
            guard addCloseFrom(&actions, 3) == 0 else {
                throw ChildProcessError(command: command, reason: "cannot close the other descriptors for it")
            }
        }
        if let workingDirectory {
            guard let addChdir = Self.addChdir else {
                throw ChildProcessError(command: command, reason: "this C library cannot start a process in another folder")
            }
            guard addChdir(&actions, workingDirectory) == 0 else {
                throw ChildProcessError(command: command, reason: "cannot start it in \(workingDirectory)")
            }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        if ownGroup { posix_spawnattr_setpgroup(&attributes, 0) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (ownGroup ? POSIX_SPAWN_SETPGROUP : 0)))

        let environmentLines = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environmentLines.map { strdup($0) } + [nil]
        defer {
            for argument in argv { free(argument) }
            for variable in envp { free(variable) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw ChildProcessError(command: command, reason: String(cString: strerror(result))) }
        pid = child
        leadsGroup = ownGroup
    }

    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29 and later), which Swift's Glibc
    /// module does not declare.
    private static let addChdir = undeclaredGlibcFunction(
        "posix_spawn_file_actions_addchdir_np",
        as: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), likewise undeclared.
    /// Without it (an older C library), children inherit what the parent left open.
    private static let addCloseFrom = undeclaredGlibcFunction(
        "posix_spawn_file_actions_addclosefrom_np", as: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)

    deinit {
        if poll() == nil { kill(leadsGroup ? -pid : pid, SIGKILL) }
    }

    /// Sends `signal` to the child (and only to it).
    public func send(_ signal: Int32) {
        if exitStatus.withLock({ $0 }) == nil { kill(pid, signal) }
    }

    /// Sends `signal` to the child's whole process group (it must lead one: `ownGroup`), also
    /// after the child itself exited, so processes it left behind get it too.
    public func sendToGroup(_ signal: Int32) {
        guard leadsGroup else { return send(signal) }
        kill(-pid, signal)
    }

    /// The raw wait status once the child has exited (reaping it), else nil.
    public func poll() -> Int32? {
        exitStatus.withLock { status in
            if status == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid { status = raw }
            }
            return status
        }
    }

    public var isRunning: Bool { poll() == nil }

    /// Waits for the child to exit; returns its exit code (128 + signal number if killed).
    /// Throws `CancellationError` if the waiting task is cancelled (the child keeps running).
    @discardableResult
    public func wait() async throws -> Int32 {
        while true {
            if let raw = poll() { return Self.exitCode(raw) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Sends `signal`, waits up to `grace` for the exit, then SIGKILLs. Returns the exit code.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, grace: Duration = .seconds(5)) async -> Int32 {
        send(signal)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if let raw = poll() { return Self.exitCode(raw) }
            try? await Task.sleep(for: .milliseconds(5))
        }
        send(SIGKILL)
        // SIGKILL cannot be ignored: the child is gone in moments, so this wait ignores
        // cancellation (a cancelled sleep returns at once; the loop ends when the child does).
        while true {
            if let raw = poll() { return Self.exitCode(raw) }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// A wait status as a shell reports it: the exit code, or 128 plus the signal.
    public static func exitCode(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}
