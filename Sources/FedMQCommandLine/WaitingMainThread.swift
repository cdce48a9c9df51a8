import ArgumentParser
import Dispatch
import FedMQProcess
import Glibc
import Synchronization

/// A command whose work is async, run by a main thread that waits for it
/// (`runWaitingOnMainThread`) instead of an `async` entry point. The daemons are such commands.
public protocol MainThreadWaitingCommand: ParsableCommand {
    /// The command's work, on Swift's cooperative threads.
    func serve() async throws
}

extension MainThreadWaitingCommand {
    /// The process's entry point: binds every symbol (`EagerBinding`), keeps malloc to one
    /// arena (`MallocArenas`: an MLP job's agents peaked at a median 11.84 MiB against 12.09
    /// with glibc's default, at the same CPU, 0.061 s an agent, in 4 alternating runs of 20
    /// agents each way), hands back the pages loading used (`CleanPages`, see
    /// `StartupPages`), then parses the command line and runs the command as ArgumentParser does.
    public static func main() {
        EagerBinding.executeAgainUnlessEager()
        MallocArenas.limitToOne()
        CleanPages.release()
        main(nil)
    }

    /// Runs `serve()` while the main thread waits. The main thread does not touch the command
    /// until `serve()` has ended, so the work may own it meanwhile.
    ///
    /// A daemon whose work ended without an error (its graceful shutdown done: state saved,
    /// disconnected) leaves with `_exit(0)` once standard output and error are flushed. `exit`
    /// would run the libraries' destructors (OpenSSL's, OpenBLAS's, which only free memory) and
    /// map their code back in, 0.6 MiB of an agent that had handed its start-up pages back.
    /// An error goes back to ArgumentParser, which prints it and exits with its code.
    public func run() throws {
        CleanPages.release()  // what parsing the command line used
        nonisolated(unsafe) let command = self
        try runWaitingOnMainThread { try await command.serve() }
        fflush(nil)
        _exit(0)
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
