import FedMQCommandLine
import FedMQLocalBroker
import Foundation
import Synchronization

/// The processes a demo started, so that every one of them is stopped, by its PID.
final class DemoProcesses: Sendable {
    private let running = Mutex<[ChildProcess]>([])

    func start(_ command: (executable: String, arguments: [String], log: String)) throws {
        let child = try ChildProcess(command.executable, command.arguments, logFile: command.log)
        running.withLock { $0.append(child) }
    }

    /// SIGTERM to all, then SIGKILL to any still running after 5 s.
    func stopAll() async {
        let children = running.withLock { list in
            defer { list = [] }
            return list
        }
        for child in children { child.send(SIGTERM) }
        for child in children { await child.stop(signal: SIGTERM, grace: .seconds(5)) }
    }
}
