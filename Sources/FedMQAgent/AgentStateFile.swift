import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FoundationEssentials
import Glibc
import Synchronization

/// What an agent keeps for one job across restarts: its record (last served round, privacy
/// ledger, pacing), the bytes of the update it published for that round (republished, never
/// retrained, if the aggregator missed it) and what top-k sparsification held back so far.
struct AgentState {
    var record: AgentRecord
    var lastUpdate: [UInt8]?
    var residual: [UInt8]?
}

/// The agent's state file (`agent-<job>.state`), read once and then kept in memory. Record,
/// update and residual go into one `SlotFile` write: one fdatasync a round, where separate
/// files cost a journal commit each. Owner only: it holds the privacy ledger.
///
/// An agent upgraded from the separate files (`agent-<job>.json`, `update-<job>.safetensors`,
/// `residual-<job>.safetensors`) reads them once; its first write replaces them.
final class AgentStateFile: Sendable {
    let directory: String
    let job: String
    /// The file, the state last read or written (nil until then), and whether that state came
    /// from the older separate files, which the next write replaces.
    private let storage: Mutex<(file: SlotFile, state: AgentState?, fromLegacyFiles: Bool)>

    init(directory: String, job: String) {
        self.directory = directory
        self.job = job
        storage = Mutex((SlotFile(path: Self.path(directory: directory, job: job)), nil, false))
    }

    static func path(directory: String, job: String) -> String { directory + "/agent-\(job).state" }
    var path: String { Self.path(directory: directory, job: job) }
    private var legacyFiles: [String] {
        ["agent-\(job).json", "update-\(job).safetensors", "residual-\(job).safetensors"].map { directory + "/" + $0 }
    }

    /// The state: from memory, or from the file the first time (a fresh one if there is none).
    func load() throws(RuntimeError) -> AgentState {
        try storage.withLock { storage throws(RuntimeError) in
            if let state = storage.state { return state }
            let state: AgentState
            if let bytes = try storage.file.read() {
                state = try decode(bytes)
            } else {
                (state, storage.fromLegacyFiles) = try readLegacy()
            }
            storage.state = state
            return state
        }
    }

    /// Writes `state` durably, then keeps it.
    func save(_ state: AgentState) throws(RuntimeError) {
        let sections = [("record", ProtocolJSON.encode(state.record)), ("update", state.lastUpdate), ("residual", state.residual)]
        let bytes = StateSections.encode(sections.compactMap { name, bytes in bytes.map { (name, $0) } })
        try storage.withLock { storage throws(RuntimeError) in
            try storage.file.write(bytes)
            storage.state = state
            if storage.fromLegacyFiles {
                for legacy in legacyFiles { unlink(legacy) }
                DurableFile.sync(directory: directory)
                storage.fromLegacyFiles = false
            }
        }
    }

    private func decode(_ bytes: [UInt8]) throws(RuntimeError) -> AgentState {
        guard let sections = StateSections.decode(bytes), let recordBytes = sections["record"],
            let record = try? JSONDecoder().decode(AgentRecord.self, from: Data(recordBytes)), record.job == job, record.lastServedRound >= 0
        else { throw .file(path: path, reason: "unreadable record of served rounds and privacy ledger") }
        return AgentState(record: record, lastUpdate: sections["update"], residual: sections["residual"])
    }

    /// The separate files an older agent kept, and whether there were any (a fresh state if not).
    private func readLegacy() throws(RuntimeError) -> (AgentState, found: Bool) {
        let (recordPath, updatePath, residualPath) = (legacyFiles[0], legacyFiles[1], legacyFiles[2])
        guard FileManager.default.fileExists(atPath: recordPath) else {
            return (AgentState(record: AgentRecord(job: job, lastServedRound: 0, ledger: [])), false)
        }
        guard let record = try? JSONDecoder().decode(AgentRecord.self, from: Data(try DurableFile.read(recordPath))), record.job == job,
            record.lastServedRound >= 0
        else {
            throw .file(path: recordPath, reason: "unreadable record of served rounds and privacy ledger")
        }
        return (AgentState(record: record, lastUpdate: try? DurableFile.read(updatePath), residual: try? DurableFile.read(residualPath)), true)
    }
}
