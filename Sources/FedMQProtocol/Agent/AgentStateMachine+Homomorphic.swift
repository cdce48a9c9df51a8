import FedMQCore

/// Homomorphic rounds on the agent's side: the key holder's signed public key, and the update
/// packed and encrypted under it (after clipping and privacy noise, as in every round).
extension AgentStateMachine {
    /// The retained `he/key` arrived (or changed), with its `fedmq-signature`: used only if the
    /// enrolled key holder signed it.
    public mutating func homomorphicKeyReceived(_ payload: [UInt8], signature: String?, now: Double) -> [AgentAction] {
        guard let keyholder else { return [.ignored("a homomorphic key, but this agent has no key holder's key in its enrolment")] }
        guard let signature, keyholder.verifies(signature, for: SignedStatement.homomorphic("he-key", job: topics.job, round: 0, payload: payload))
        else { return [.ignored("homomorphic key refused: not signed by the enrolled key holder")] }
        do {
            let key = try HomomorphicKey(payload: payload, job: topics.job)
            guard key.fingerprint != homomorphicKey?.fingerprint else { return [] }
            homomorphicKey = key
        } catch {
            return [.ignored("homomorphic key refused: \(error)")]
        }
        return startIfReady(now: now)
    }

    /// Why a homomorphic round cannot start yet (no key) or at all (no identity or key holder's
    /// key); nil when it can, or when the round is not homomorphic.
    mutating func homomorphicWait(_ round: RoundAnnouncement, now: Double) -> [AgentAction]? {
        guard let settings = round.homomorphic else { return nil }
        guard identity != nil, keyholder != nil else {
            return refuse(
                round.round, "homomorphic aggregation needs this agent's identity_key and the key holder's key (enrolment 'keyholder')", now: now)
        }
        guard let key = homomorphicKey, key.key.bits == settings.keyBits else {
            return [.ignored("round \(round.round) waits for the key holder's \(settings.keyBits)-bit public key")]
        }
        return nil
    }

    /// The delta, clipped entry by entry and quantized into packed plaintexts, encrypted under
    /// the key holder's key.
    mutating func encrypted(
        _ delta: Parameters, _ settings: HomomorphicSettings, round: RoundAnnouncement, examples: Int, baseSHA256: String
    ) throws(ProtocolError) -> [UInt8] {
        guard let key = homomorphicKey, key.key.bits == settings.keyBits else {
            throw .homomorphic("the key holder's \(settings.keyBits)-bit key is not here")
        }
        let packing = try settings.packing(cohort: round.targetUpdates)
        return HomomorphicCodec.encryptUpdate(
            delta.tensors.flatMap(\.values), packing: packing, key: key, job: topics.job, round: round.round, agent: agent, baseSHA256: baseSHA256,
            examples: examples, using: &random)
    }
}
