import Glibc

/// Starts detached POSIX threads. The device binaries use FoundationEssentials, which has no
/// `Thread`; the network thread needs no more than a name and a body.
enum PosixThread {
    /// Runs `body` on a new detached thread called `name` (Linux keeps its first 15 bytes).
    /// Returns `pthread_create`'s error number when no thread could be started.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> Int32? {
        let context = Unmanaged.passRetained(ThreadBody(name: name, body: body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let result = pthread_create(
            &thread, &attributes,
            { context in
                guard let context else { return nil }
                Unmanaged<ThreadBody>.fromOpaque(context).takeRetainedValue().run()
                return nil
            }, context)
        guard result == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(context).release()
            return result
        }
        return nil
    }
}

private final class ThreadBody: Sendable {
    let name: String
    let body: @Sendable () -> Void

    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    func run() {
        nameThisThread()
        body()
    }

    /// Writes the name where `ps -T` and `top -H` read it; Swift cannot see glibc's
    /// `pthread_setname_np`, which is behind `_GNU_SOURCE`. A name is a help, so failures pass.
    private func nameThisThread() {
        let file = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard file >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(file, $0.baseAddress, $0.count) }
        close(file)
    }
}
