import Glibc

/// Has the dynamic loader bind every symbol of the executable and its libraries as the process
/// loads (`LD_BIND_NOW`), instead of at each function's first call.
///
/// Why: a daemon hands its start-up pages back (`CleanPages`), the libraries' symbol tables
/// among them. Every symbol still bound lazily afterwards (OpenBLAS's and libmosquitto's first
/// calls in the first round) has the loader search those tables again, which maps 64 KiB
/// windows of them back in: 0.8–1.1 MiB of an agent's resident memory, as measured. glibc binds eagerly only
/// when `LD_BIND_NOW` is set as the process starts, so the process executes itself once more
/// with it set; its children do not inherit it.
public enum EagerBinding {
    /// Set by the first execution, so the second one knows to clear both variables.
    static let marker = "FEDMQ_EAGER_BINDING"

    /// Executes this program again with `LD_BIND_NOW=1` unless the loader already bound
    /// eagerly; in the second execution, clears what the first one set. Returns when it did
    /// not execute (already eager, or the program's file could not be executed): the process
    /// then runs with lazy binding, as it would have anyway.
    public static func executeAgainUnlessEager() {
        if getenv(marker) != nil {
            unsetenv(marker)
            unsetenv("LD_BIND_NOW")
            return
        }
        if let value = getenv("LD_BIND_NOW"), value.pointee != 0 { return }
        guard let program = programPath() else { return }
        setenv("LD_BIND_NOW", "1", 1)
        setenv(marker, "1", 1)
        // By its path, not `/proc/self/exe`: the process keeps its name (`ps`, `killall`).
        execv(program, CommandLine.unsafeArgv)
        unsetenv(marker)
        unsetenv("LD_BIND_NOW")
    }

    /// The file this process runs, from `/proc/self/exe`; nil when it cannot be read, when the
    /// file was deleted or replaced since (an upgrade), or when it is the dynamic loader (the
    /// program was started as `ld-linux-x86-64.so.2 fedmq-agent ...`, and the loader would take
    /// the arguments for another program).
    static func programPath() -> String? {
        var bytes = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &bytes, bytes.count - 1)
        guard count > 0 else { return nil }
        let path = String(decoding: bytes[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let name = path.split(separator: "/").last ?? ""
        guard !path.hasSuffix(" (deleted)"), !name.hasPrefix("ld-"), !name.hasPrefix("ld.so") else { return nil }
        return path
    }
}
