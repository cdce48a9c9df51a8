import FedMQCommandLine
import Foundation
import Synchronization
import Testing

/// `runWaitingOnMainThread` is what the three daemons' `main` runs: it must return only after
/// the async work has ended, and hand back what the work threw, payload and all.
@Suite("A daemon's main thread waiting for its async work")
struct WaitingMainThreadTests {
    struct Refusal: Error, Equatable {
        let path: String
    }

    /// Calls `runWaitingOnMainThread` on a thread of its own, as `main` does, so that the
    /// waiting never holds one of the test run's cooperative threads.
    private func onOwnThread(_ work: @escaping @Sendable () async throws -> Void) async -> (any Error)? {
        await withCheckedContinuation { continuation in
            Thread {
                do {
                    try runWaitingOnMainThread(work)
                    continuation.resume(returning: nil)
                } catch {
                    continuation.resume(returning: error)
                }
            }.start()
        }
    }

    @Test("returns once the work has ended, with every step of it done")
    func returnsAfterTheWork() async {
        let steps = Mutex<[Int]>([])
        let error = await onOwnThread {
            for step in 1...5 {
                await Task.yield()
                steps.withLock { $0.append(step) }
            }
        }
        #expect(error == nil)
        #expect(steps.withLock { $0 } == [1, 2, 3, 4, 5])
    }

    @Test("throws what the work threw")
    func handsBackTheError() async {
        let error = await onOwnThread {
            await Task.yield()
            throw Refusal(path: "/etc/fedmq/agent.json")
        }
        #expect(error as? Refusal == Refusal(path: "/etc/fedmq/agent.json"))
    }
}
