import ArgumentParser
import Dispatch
import Synchronization

/// A command whose work is async, run by a main thread that waits for it
/// (`runWaitingOnMainThread`) instead of an `async` entry point. The daemons are such commands.
public protocol MainThreadWaitingCommand: ParsableCommand {
    /// The command's work, on Swift's cooperative threads.
    func serve() async throws
}

extension MainThreadWaitingCommand {
    /// Runs `serve()` while the main thread waits. The main thread does not touch the command
    /// until `serve()` has ended, so the work may own it meanwhile.
    public func run() throws {
        nonisolated(unsafe) let command = self
        try runWaitingOnMainThread { try await command.serve() }
    }
}

/// Runs async work on Swift's cooperative threads while the calling (main) thread waits for it
/// to end, and throws what it threw.
///
/// An `AsyncParsableCommand` (any `async` entry point) hands its main thread to `dispatch_main`,
/// which ends it with `pthread_exit`. glibc unwinds the thread's stack for that, and the
/// unwinder's searches through the executable's unwind tables (`.eh_frame_hdr`, `.eh_frame`)
/// leave about 0.85 MiB of them resident in the process for the rest of its life: 5% of an
/// idle agent, measured with `/proc/<pid>/smaps` and `pagemap`. A main thread that waits on a
/// semaphore touches none of them. Nothing in these commands runs on the main actor.
public func runWaitingOnMainThread(_ work: @escaping @Sendable () async throws -> Void) throws {
    let failure = Failure()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do {
            try await work()
        } catch {
            failure.error.withLock { $0 = error }
        }
        done.signal()
    }
    done.wait()
    if let error = failure.error.withLock({ $0 }) { throw error }
}

/// What the work threw, handed from its task to the waiting main thread.
private final class Failure: Sendable {
    let error = Mutex<(any Error)?>(nil)
}
