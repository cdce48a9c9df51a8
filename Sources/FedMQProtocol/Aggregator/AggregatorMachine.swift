import FedMQCore

/// What the aggregator's runtime drives, whatever the job's mode: events in, actions out.
/// `AggregatorStateMachine` runs rounds; `BufferedAggregatorStateMachine` runs asynchronous
/// buffers. Both keep their state in the same checkpoint, spool and retained topics.
public protocol AggregatorMachine {
    var job: String { get }
    /// The bytes of the current global model.
    var modelBytes: [UInt8] { get }
    /// The open round (in an asynchronous job, the version being built).
    var announcement: RoundAnnouncement { get }
    var finished: Bool { get }
    /// Agents whose retained status says they are connected.
    var online: Set<String> { get }
    /// Agents whose updates count in the open round or buffer.
    var acceptedAgents: [String] { get }
    /// Actions that (re)establish the retained state: checkpoint (fresh start) and publish.
    func startActions(fresh: Bool) -> [AggregatorAction]
    /// An update arrived on `round/<round>/update/<agent>`, with its `fedmq-signature` property if any.
    mutating func receive(agent: String, round: Int, payload: [UInt8], signature: String?, now: Double) -> [AggregatorAction]
    /// A site aggregator's partial aggregate arrived on `round/<round>/partial/<site>`.
    mutating func receivePartial(site: String, round: Int, payload: [UInt8], signature: String?, now: Double) -> [AggregatorAction]
    /// A secure-aggregation message arrived on `round/<round>/secagg/<stage>/<agent>`.
    mutating func receiveSecAgg(
        agent: String, round: Int, stage: SecAggStage, payload: [UInt8], signature: String?, now: Double
    ) -> [AggregatorAction]
    /// An agent's evaluation arrived on `round/<round>/eval/<agent>`.
    mutating func receiveEvaluation(agent: String, round: Int, payload: [UInt8]) -> [AggregatorAction]
    /// An agent's retained status arrived on `status/<agent>`.
    mutating func statusReceived(agent: String, payload: [UInt8], now: Double) -> [AggregatorAction]
    /// Time passed.
    mutating func tick(now: Double) -> [AggregatorAction]
    /// The key holder's public key arrived on `he/key` (homomorphic jobs).
    mutating func homomorphicKeyReceived(_ payload: [UInt8], signature: String?, now: Double) -> [AggregatorAction]
    /// The key holder's sum arrived on `round/<round>/he/sum` (homomorphic jobs).
    mutating func decryptedSumReceived(round: Int, payload: [UInt8], signature: String?, now: Double) -> [AggregatorAction]
}

extension AggregatorMachine {
    /// A job mode without homomorphic rounds has no use for the key holder's key.
    public mutating func homomorphicKeyReceived(_ payload: [UInt8], signature: String?, now: Double) -> [AggregatorAction] { [] }
    /// A job mode without homomorphic rounds waits for no sum.
    public mutating func decryptedSumReceived(round: Int, payload: [UInt8], signature: String?, now: Double) -> [AggregatorAction] {
        [.homomorphicIgnored(round: round, reason: "this job has no homomorphic rounds")]
    }
}

extension AggregatorStateMachine: AggregatorMachine {}
