import FedMQProtocol
import FedMQRuntime
import Foundation

/// A site aggregator's state directory:
///
/// - `site.json`: the central round the spool belongs to, and whether its partial was sent;
/// - `spool/round-<r>.log`: the agents' updates accepted in round r (`RoundSpool`).
struct SiteStore {
    let directory: String
    var checkpointPath: String { directory + "/site.json" }
    var spool: RoundSpool { RoundSpool(directory: directory + "/spool") }

    /// A site's state directory; one that holds a central aggregator's checkpoint is refused,
    /// since the two would spool into the same files.
    init(directory: String) throws(RuntimeError) {
        self.directory = directory
        try DurableFile.createDirectory(directory)
        if let central = AggregatorStore.checkpointFound(in: directory) {
            throw .file(path: central, reason: "this state directory holds a central aggregator's checkpoint: give the site its own")
        }
    }

    /// The saved checkpoint and the spooled updates of its round, if any.
    func load() throws(RuntimeError) -> (checkpoint: SiteCheckpoint, spooled: [SpoolLog.Record])? {
        guard FileManager.default.fileExists(atPath: checkpointPath) else { return nil }
        let checkpoint: SiteCheckpoint
        do {
            checkpoint = try ProtocolJSON.decode(SiteCheckpoint.self, from: try DurableFile.read(checkpointPath))
        } catch {
            throw .file(path: checkpointPath, reason: "unreadable site checkpoint: \(error)")
        }
        return (checkpoint, try spool.records(round: checkpoint.round))
    }

    /// Writes the checkpoint atomically; the spools of other rounds go.
    func save(_ checkpoint: SiteCheckpoint) throws(RuntimeError) {
        try DurableFile.write(ProtocolJSON.encode(checkpoint), to: checkpointPath)
        spool.removeAll(but: checkpoint.round)
    }
}
