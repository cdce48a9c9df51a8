import FedMQProtocol
import FedMQRuntime
import Foundation
import Synchronization

/// The agent's record file (`agent-<job>.json`), read once and then kept in memory: every
/// round updates it, and reading it back each time would decode a growing ledger per round.
/// Writes are durable (`DurableFile`) before the copy in memory changes.
final class AgentRecordFile: Sendable {
    let path: String
    let job: String
    private let cached = Mutex<AgentRecord?>(nil)

    init(path: String, job: String) {
        self.path = path
        self.job = job
    }

    /// The record: from memory, or from the file the first time (a fresh one if there is none).
    func load() throws(RuntimeError) -> AgentRecord {
        if let record = cached.withLock({ $0 }) { return record }
        let record = try read()
        cached.withLock { $0 = record }
        return record
    }

    /// Writes `record` durably (owner only: it holds the privacy ledger), then keeps it.
    func save(_ record: AgentRecord) throws(RuntimeError) {
        try DurableFile.write(ProtocolJSON.encode(record), to: path, mode: 0o600)
        cached.withLock { $0 = record }
    }

    private func read() throws(RuntimeError) -> AgentRecord {
        guard FileManager.default.fileExists(atPath: path) else { return AgentRecord(job: job, lastServedRound: 0, ledger: []) }
        guard let record = try? JSONDecoder().decode(AgentRecord.self, from: Data(try DurableFile.read(path))), record.job == job,
            record.lastServedRound >= 0
        else {
            throw .file(path: path, reason: "unreadable record of served rounds and privacy ledger")
        }
        return record
    }
}
