import FedMQCore

/// The quick way through a `status/<agent>` message: one pass over the bytes for a status as
/// agents write it. The aggregator reads one from every agent every round, and `JSONDecoder`
/// was about a twentieth of its CPU in a round of the shared task. Anything unusual it leaves
/// to `JSONDecoder` by answering nil: a key it does not know or sees twice, a `null`, a round
/// written with a fraction, an unknown state, a `last_error` longer than the status keeps,
/// malformed JSON. Where it answers, its answer is `JSONDecoder`'s (`AgentStatusScannerTests`);
/// `ProtocolJSON.decode` then checks the schema and bounds as for any message.
enum AgentStatusScanner {
    static func scan(_ payload: [UInt8]) -> AgentStatus? {
        JSONScanner.fields(of: payload, as: Fields.self)?.status()
    }

    /// The fields as they are read; `status()` needs every required one.
    private struct Fields: JSONObjectFields {
        var schema, agent, waitingForModel, lastError: String?
        var state: AgentStatus.State?
        var lastRound: Int?
        var time, epsilonSpent, delta: Double?

        /// Reads the value of `key`; false for a key read before, an unknown one, or a value
        /// not of the plain kind.
        mutating func read(_ key: String, _ scanner: inout JSONScanner) -> Bool {
            switch key {
            case "schema": JSONScanner.keepFirst(scanner.string(), in: &schema)
            case "agent": JSONScanner.keepFirst(scanner.string(), in: &agent)
            case "state": JSONScanner.keepFirst(scanner.string().flatMap(AgentStatus.State.init(rawValue:)), in: &state)
            case "last_round": JSONScanner.keepFirst(scanner.integer(), in: &lastRound)
            case "time": JSONScanner.keepFirst(scanner.double(), in: &time)
            case "epsilon_spent": JSONScanner.keepFirst(scanner.double(), in: &epsilonSpent)
            case "delta": JSONScanner.keepFirst(scanner.double(), in: &delta)
            case "waiting_for_model": JSONScanner.keepFirst(scanner.string(), in: &waitingForModel)
            // A longer text would be cut by `lastError`'s setter; JSONDecoder keeps it whole and validation refuses it.
            case "last_error": JSONScanner.keepFirst(scanner.string().flatMap { $0.count <= AgentStatus.maxErrorLength ? $0 : nil }, in: &lastError)
            default: false
            }
        }

        /// The status, if every required field was read.
        func status() -> AgentStatus? {
            guard let schema, let agent, let state, let lastRound else { return nil }
            var status = AgentStatus(agent: agent, state: state, lastRound: lastRound, time: time, epsilonSpent: epsilonSpent, delta: delta)
            status.schema = schema
            status.waitingForModel = waitingForModel
            status.lastError = lastError
            return status
        }
    }
}
