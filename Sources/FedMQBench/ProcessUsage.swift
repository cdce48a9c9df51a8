import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What a running process has used so far, read from /proc: CPU seconds (user + system) and
/// resident memory (now and its peak). Zero for a process that is gone.
struct ProcessUsage: Sendable, Equatable {
    var cpuSeconds: Double
    var residentBytes: Int
    var peakResidentBytes: Int

    static func of(_ pid: pid_t) -> ProcessUsage {
        ProcessUsage(
            cpuSeconds: cpuSeconds(of: pid), residentBytes: statusBytes(of: pid, field: "VmRSS"),
            peakResidentBytes: statusBytes(of: pid, field: "VmHWM"))
    }

    /// The CPU used since `earlier`, with this reading's memory.
    func since(_ earlier: ProcessUsage) -> ProcessUsage {
        ProcessUsage(cpuSeconds: cpuSeconds - earlier.cpuSeconds, residentBytes: residentBytes, peakResidentBytes: peakResidentBytes)
    }

    /// utime + stime of /proc/PID/stat (fields 14 and 15, after the parenthesised name).
    static func cpuSeconds(of pid: pid_t) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A /proc/PID/status memory line (VmRSS now, VmHWM the peak) in bytes.
    static func statusBytes(of pid: pid_t, field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
            let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return 0 }
        return kib * 1024
    }

    /// Raises this process's open-file limit to its hard limit (inherited by the brokers and
    /// workers it starts): thousands of connections need more than the usual 1024.
    static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }
}
