import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// Where a round's time goes, stage by stage (`make bench-round`): with `FEDMQ_TRACE` naming a
/// file, each process appends one line per stage it passes, "<monotonic ns> <process> <stage>
/// [<detail>]". The monotonic clock is one time line for every process on the machine, so the
/// lines of the agents, the aggregator and the broker's hops between them order into one
/// round. Without `FEDMQ_TRACE` a mark costs one check of an optional.
public struct StageTrace: Sendable {
    /// The environment variable naming the trace file.
    public static let variable = "FEDMQ_TRACE"

    private let descriptor: Int32?
    private let process: String

    /// `process` names this process in the trace (an agent's id, `aggregator`).
    public init(process: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.process = process
        // Appends of one short line are atomic, so the processes' lines never interleave.
        let opened = environment[Self.variable].map { open($0, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644) }
        descriptor = opened.flatMap { $0 >= 0 ? $0 : nil }
    }

    /// Whether marks are written.
    public var isOn: Bool { descriptor != nil }

    /// Notes that this process reached `stage` now (`detail`: an agent id, for example).
    public func mark(_ stage: String, _ detail: String = "") {
        guard let descriptor else { return }
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        let nanoseconds = Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
        let line = Array("\(nanoseconds) \(process) \(stage)\(detail.isEmpty ? "" : " " + detail)\n".utf8)
        _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }
}
