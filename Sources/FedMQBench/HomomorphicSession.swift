import FedMQCommandLine
import FedMQCore
import FedMQHomomorphic
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation

/// One homomorphic round over MQTT with the real state machines: the key holder's
/// (`KeyholderStateMachine`, its key already published, as in a running job), the aggregator's
/// (`AggregatorStateMachine` in homomorphic mode) and agents that pack, encrypt and sign a fixed
/// delta, each with its own connection. `fedmq bench he` measures it beside SecAgg+ and plain
/// FedAvg rounds of the same model.
enum HomomorphicSession {
    struct Costs: Sendable {
        var agents: [SecAggSession.AgentCost]
        var aggregatorSeconds: Double
        var keyholderSeconds: Double
        var latency: Duration
        var failure: String?
    }

    /// A round of `cohort` agents whose deltas are `deltas`, on a model of `parameters` values.
    static func round(
        deltas: [Parameters], parameters: Int, key: PaillierPrivateKey, base: BigInteger, settings: HomomorphicSettings
    ) async throws -> Costs {
        let job = "bench"
        let topics = try Topics(job: job)
        let names = (0..<deltas.count).map { String(format: "agent-%03d", $0) }
        let identities = Dictionary(uniqueKeysWithValues: names.map { ($0, SigningKey()) })
        let (aggregatorIdentity, keyholderIdentity) = (SigningKey(), SigningKey())
        let spec = ModelSpec(kind: .softmaxRegression, inputs: max(1, parameters / 10 - 1), outputs: 10)
        let policy = {
            var policy = RoundPolicy(rounds: 1, targetUpdates: deltas.count, minUpdates: deltas.count, roundSeconds: 600)
            policy.homomorphic = settings
            policy.maxUpdateBytes = 64 << 20
            policy.maxSpoolBytes = policy.maxUpdateBytes * deltas.count
            return policy
        }()
        let initial = try spec.initialParameters(seed: 0)
        let baseSHA256 = ModelCodec.sha256(ModelCodec.encodeModel(initial, spec: spec, job: job, round: 0))
        let keyholder = try KeyholderStateMachine(
            job: job, key: key, base: base, aggregator: aggregatorIdentity.publicKey, agents: identities.mapValues(\.publicKey),
            minUpdates: max(2, deltas.count / 2))
        guard case .publishKey(let keyPayload) = keyholder.startActions().first else { throw ProtocolError.homomorphic("no key") }
        let keyMessage = (keyPayload, keyholderIdentity.sign(SignedStatement.homomorphic("he-key", job: job, round: 0, payload: keyPayload)))
        let agentKey = try HomomorphicKey(payload: keyPayload, job: job)
        let packing = try settings.packing(cohort: deltas.count)

        return try await withLocalBroker(LocalBrokerConfiguration(extraLines: ["max_queued_messages 100000"])) { broker in
            func connected(_ id: String, _ filters: [String]) async throws -> (MQTTClient, MQTTSubscription) {
                let client = try MQTTClient(options: ConnectionOptions(port: broker.port, clientID: id))
                try await client.connect()
                return (client, try await client.subscribe(to: filters, qos: .atLeastOnce))
            }
            let (keyholderClient, requests) = try await connected("keyholder", [topics.allDecryptionRequests])
            let (aggregatorClient, incoming) = try await connected("aggregator", [topics.allUpdates, topics.allDecryptedSums])
            _ = try await keyholderClient.publish(
                topics.homomorphicKey, payload: keyMessage.0, qos: .atLeastOnce, retain: true, messageExpiry: nil,
                userProperties: [UserProperty(SignedStatement.property, keyMessage.1)])
            let start = ContinuousClock.now
            async let keyholderSeconds: Double = {
                var keyholder = keyholder
                var seconds = 0.0
                for await message in requests {
                    guard case .decryptionRequest(let round) = try topics.parse(message.topic) else { continue }
                    let began = SecAggSession.threadCPUSeconds()
                    let actions = keyholder.requestReceived(round: round, payload: message.payload, signature: message.signature)
                    seconds += SecAggSession.threadCPUSeconds() - began
                    for case .publishSum(let round, let payload) in actions {
                        _ = try await keyholderClient.publish(
                            topics.decryptedSum(round: round), payload: payload, qos: .atLeastOnce, retain: false, messageExpiry: nil,
                            userProperties: [
                                UserProperty(
                                    SignedStatement.property,
                                    keyholderIdentity.sign(SignedStatement.homomorphic("he-sum", job: job, round: round, payload: payload)))
                            ])
                        return seconds
                    }
                }
                return seconds
            }()
            async let aggregated: (Double, String?) = {
                var machine = try AggregatorStateMachine(
                    job: job, policy: policy, spec: spec, initial: initial, now: 0, signers: identities.mapValues(\.publicKey),
                    keyholder: keyholderIdentity.publicKey)
                guard machine.model.sha256 == baseSHA256 else { return (0, "the agents' base is not the aggregator's round-0 model") }
                var seconds = 0.0
                func step(_ work: (inout AggregatorStateMachine) -> [AggregatorAction]) -> [AggregatorAction] {
                    let began = SecAggSession.threadCPUSeconds()
                    defer { seconds += SecAggSession.threadCPUSeconds() - began }
                    return work(&machine)
                }
                _ = step { $0.homomorphicKeyReceived(keyMessage.0, signature: keyMessage.1, now: 0) }
                for await message in incoming {
                    let actions: [AggregatorAction]
                    switch try topics.parse(message.topic) {
                    case .update(let round, let agent):
                        actions = step { $0.receive(agent: agent, round: round, payload: message.payload, signature: message.signature, now: 1) }
                    case .decryptedSum(let round):
                        actions = step { $0.decryptedSumReceived(round: round, payload: message.payload, signature: message.signature, now: 2) }
                    default:
                        continue
                    }
                    for action in actions {
                        switch action {
                        case .requestDecryption(let round, let payload, _, _):
                            let signature = aggregatorIdentity.sign(
                                SignedStatement.homomorphic("he-request", job: job, round: round, payload: payload))
                            _ = try await aggregatorClient.publish(
                                topics.decryptionRequest(round: round), payload: payload, qos: .atLeastOnce, retain: true, messageExpiry: 600,
                                userProperties: [UserProperty(SignedStatement.property, signature)])
                        case .publishModel(let bytes):
                            _ = try await aggregatorClient.publish(
                                topics.globalModel, payload: bytes, qos: .atLeastOnce, retain: true, messageExpiry: nil, userProperties: [])
                        case .publishMetrics(let metrics):
                            return (seconds, metrics.failure)
                        default:
                            continue
                        }
                    }
                }
                return (seconds, "the aggregator's subscription ended")
            }()
            let agents = try await withThrowingTaskGroup(of: SecAggSession.AgentCost.self) { group in
                for (name, delta) in zip(names, deltas) {
                    guard let identity = identities[name] else { continue }
                    group.addTask {
                        var cost = SecAggSession.AgentCost()
                        let (client, models) = try await connected(name, [topics.globalModel])
                        var random = KernelRandom()  // as fedmq-agent draws its randomizers
                        let (payload, signature) = SecAggSession.measured(&cost) {
                            let payload = HomomorphicCodec.encryptUpdate(
                                delta.tensors.flatMap(\.values), packing: packing, key: agentKey, job: job, round: 1, agent: name,
                                baseSHA256: baseSHA256, examples: 1, using: &random)
                            return (
                                payload,
                                identity.sign(
                                    SignedStatement.update(job: job, round: 1, baseSHA256: baseSHA256, agent: name, payload: payload))
                            )
                        }
                        cost.bytesSent = payload.count
                        _ = try await client.publish(
                            topics.update(round: 1, agent: name), payload: payload, qos: .atLeastOnce, retain: false, messageExpiry: 600,
                            userProperties: [UserProperty(SignedStatement.property, signature)])
                        for await message in models {
                            cost.bytesReceived += message.payload.count
                            break
                        }
                        await client.disconnect()
                        return cost
                    }
                }
                var costs: [SecAggSession.AgentCost] = []
                for try await cost in group { costs.append(cost) }
                return costs
            }
            let latency = ContinuousClock.now - start
            let (aggregatorSeconds, failure) = try await aggregated
            let keyholderCPU = try await keyholderSeconds
            requests.cancel()
            incoming.cancel()
            await keyholderClient.disconnect()
            await aggregatorClient.disconnect()
            return Costs(agents: agents, aggregatorSeconds: aggregatorSeconds, keyholderSeconds: keyholderCPU, latency: latency, failure: failure)
        }
    }
}
