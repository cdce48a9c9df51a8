import Foundation
import Synchronization
import Testing

@testable import FedMQTransport

/// The POSIX thread and stop signal under the network thread (FoundationEssentials has no
/// `Thread` or `NSCondition`).
@Suite("Network thread primitives", .hangGuard)
struct NetworkThreadPrimitivesTests {
    @Test("a thread runs its body under its name, cut to the 15 bytes Linux keeps")
    func namedThread() async {
        let name = await withCheckedContinuation { (done: CheckedContinuation<String, Never>) in
            let failure = PosixThread.start(name: "fedmq-mqtt-a-long-name") {
                let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
                done.resume(returning: comm.trimmingCharacters(in: .newlines))
            }
            #expect(failure == nil)
        }
        #expect(name == "fedmq-mqtt-a-lo")
    }

    @Test("a wait of an hour ends when another thread stops the signal, and reports the stop")
    func stopEndsWait() async {
        let signal = StopSignal()
        let waiting = Atomic(false)
        let stopped = await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            _ = PosixThread.start(name: "waiter") {
                waiting.store(true, ordering: .sequentiallyConsistent)
                done.resume(returning: signal.wait(for: .seconds(3600)))
            }
            while !waiting.load(ordering: .sequentiallyConsistent) { sched_yield() }
            signal.stop()
        }
        #expect(stopped && signal.isStopped)
        #expect(signal.wait(for: .seconds(3600)), "a stopped signal does not wait at all")
    }

    @Test("a wait that runs out reports no stop; zero and negative waits return at once")
    func timeout() {
        let signal = StopSignal()
        #expect(!signal.wait(for: .milliseconds(5)))
        #expect(!signal.wait(for: .zero))
        #expect(!signal.wait(for: .seconds(-1)))
        #expect(!signal.isStopped)
    }
}
