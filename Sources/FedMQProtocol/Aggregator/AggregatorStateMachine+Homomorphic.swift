import FedMQCore
import FedMQHomomorphic

/// Homomorphic rounds on the aggregator: encrypted updates are checked and multiplied
/// together without any key; at the round's close the product goes to the key holder as a
/// signed decryption request, and its signed sum becomes the new model.
extension AggregatorStateMachine {
    /// The key holder's public key arrived on `he/key`, with its `fedmq-signature`. Updates that
    /// waited for it (replayed from the spool, or early) are taken now.
    public mutating func homomorphicKeyReceived(_ payload: [UInt8], signature: String?, now: Double) -> [AggregatorAction] {
        guard let settings = policy.homomorphic else { return [] }
        guard let keyholder, let signature,
            keyholder.verifies(signature, for: SignedStatement.homomorphic("he-key", job: job, round: 0, payload: payload))
        else { return [.homomorphicIgnored(round: announcement.round, reason: "a public key not signed by the enrolled key holder")] }
        let key: HomomorphicKey
        do {
            key = try HomomorphicKey(payload: payload, job: job)
        } catch {
            return [.homomorphicIgnored(round: announcement.round, reason: "the key holder's key is unusable: \(error)")]
        }
        guard key.key.bits == settings.keyBits else {
            return [
                .homomorphicIgnored(round: announcement.round, reason: "the key has \(key.key.bits) bits; the policy asks for \(settings.keyBits)")
            ]
        }
        if key.fingerprint == homomorphicKey?.fingerprint { return [] }
        // Ciphertexts under the old key cannot be combined with new ones: a round that holds some fails cleanly.
        let stranded = homomorphic?.product != nil && !finished
        homomorphicKey = key
        homomorphic = nil
        var actions =
            stranded ? conclude(model.parameters, participants: [:], now: now, failure: "the key holder's key changed during the round") : []
        openHomomorphicRound()
        let waiting = waitingForKey
        waitingForKey = []
        for update in waiting {
            actions += receiveEncrypted(
                agent: update.agent, round: update.round, payload: update.payload, signature: update.signature, now: now, spooled: update.spooled)
        }
        return actions
    }

    /// An encrypted update on `round/<round>/update/<agent>`: the usual checks before decoding,
    /// then the ciphertexts' own, then it is multiplied into the round's product.
    mutating func receiveEncrypted(
        agent: String, round: Int, payload: [UInt8], signature: String?, now: Double, spooled: Bool = false
    ) -> [AggregatorAction] {
        guard let key = homomorphicKey, let settings = policy.homomorphic, var collection = homomorphic else {
            // Until the key holder's key is here nothing can be checked: a bounded number of updates wait for it.
            guard waitingForKey.count < policy.targetUpdates * 2 else {
                return reject(Rejection(agent: agent, round: round, reason: .homomorphic, detail: "the key holder's public key has not arrived"))
            }
            waitingForKey.append((agent, round, payload, signature, spooled))
            return []
        }
        guard collection.request == nil else {
            return reject(
                Rejection(agent: agent, round: round, reason: .closedRound, detail: "round \(round) is closed: its aggregate is being decrypted"))
        }
        if let rejection = validator(checkingSignatures: !spooled).checkEnvelope(agent: agent, round: round, payload: payload, signature: signature) {
            return reject(rejection)
        }
        guard let signature else {
            return reject(Rejection(agent: agent, round: round, reason: .unsigned, detail: "the key holder decrypts only signed updates' sum"))
        }
        let update: HomomorphicCodec.EncryptedUpdate
        do {
            update = try HomomorphicCodec.decodeUpdate(
                payload, job: job, round: round, agent: agent, baseSHA256: announcement.baseModelSHA256, key: key,
                packing: try settings.packing(cohort: announcement.targetUpdates), values: model.parameters.count)
        } catch {
            return reject(Rejection(agent: agent, round: round, reason: .homomorphic, detail: "\(error)"))
        }
        let examples = min(update.examples, policy.maxExamplesPerUpdate)
        collection.add(update, contribution: .init(agent: agent, sha256: ModelCodec.sha256(payload), signature: signature), key: key.key)
        homomorphic = collection
        accepted[agent] = examples
        var actions: [AggregatorAction] = spooled ? [] : [.spool(round: round, agent: agent, payload: payload, signature: signature)]
        if accepted.count >= target { actions += requestDecryption(now: now) }
        return actions
    }

    /// Closes collection: the product and the signed updates it came from go to the key holder.
    mutating func requestDecryption(now: Double) -> [AggregatorAction] {
        guard var collection = homomorphic, let key = homomorphicKey, let settings = policy.homomorphic, let product = collection.product
        else { return [] }
        let request = HomomorphicCodec.DecryptionRequest(
            job: job, round: collection.round, baseSHA256: announcement.baseModelSHA256, values: model.parameters.count,
            contributions: Array(collection.contributions.values), aggregate: product)
        let payload = HomomorphicCodec.encodeRequest(request, key: key)
        let deadline = now + settings.decryptSeconds
        collection.request = (payload, ModelCodec.sha256(payload), deadline)
        homomorphic = collection
        return [
            .requestDecryption(
                round: collection.round, payload: payload, updates: collection.contributions.count,
                expirySeconds: MessageExpiry.seconds(until: deadline, now: now))
        ]
    }

    /// The key holder's answer on `round/<round>/he/sum`, with its `fedmq-signature`: the round's
    /// mean delta, once it proves to be the sum of this round's request.
    public mutating func decryptedSumReceived(round: Int, payload: [UInt8], signature: String?, now: Double) -> [AggregatorAction] {
        guard let collection = homomorphic, let request = collection.request, collection.round == round, !finished else {
            // The key holder answers a request it already answered again (after a reconnect the
            // retained request comes back): a sum for a closed round is no news.
            return round < announcement.round || finished ? [] : [.homomorphicIgnored(round: round, reason: "a sum for a round that waits for none")]
        }
        guard let keyholder, let signature,
            keyholder.verifies(signature, for: SignedStatement.homomorphic("he-sum", job: job, round: round, payload: payload))
        else { return [.homomorphicIgnored(round: round, reason: "a sum not signed by the enrolled key holder")] }
        do throws(ProtocolError) {
            guard let key = homomorphicKey, let settings = policy.homomorphic else { return [] }
            let packing = try settings.packing(cohort: announcement.targetUpdates)
            let count = model.parameters.count
            let sums = try HomomorphicCodec.decodeSum(
                payload, job: job, round: round, requestSHA256: request.sha256, count: packing.plaintexts(for: count), key: key)
            let totals: [Double]
            do {
                totals = try packing.unpack(sums, count: count, updates: collection.contributions.count)
            } catch {
                throw .homomorphic("\(error)")
            }
            let mean = totals.map { Float($0 / Double(collection.contributions.count)) }
            var parameters = model.parameters
            do {
                try parameters.add(try model.parameters.reshaped(mean))
            } catch {
                throw .core(error)
            }
            homomorphic = nil
            return conclude(parameters, participants: accepted, now: now)
        } catch {
            homomorphic = nil
            return conclude(model.parameters, participants: [:], now: now, failure: "the key holder's sum is unusable: \(error)")
        }
    }

    /// Time passed in a homomorphic round: a round whose request went unanswered fails at its
    /// deadline; otherwise the round closes as a plain one does (target, or quorum at the deadline).
    mutating func tickHomomorphic(now: Double) -> [AggregatorAction]? {
        guard policy.homomorphic != nil, let collection = homomorphic else { return nil }
        if let request = collection.request {
            guard now >= request.deadline else { return [] }
            homomorphic = nil
            return conclude(
                model.parameters, participants: [:], now: now,
                failure: "the key holder did not answer the decryption request within \(Int(policy.homomorphic?.decryptSeconds ?? 0)) s")
        }
        if accepted.count >= target || (now >= announcement.deadline && accepted.count >= announcement.minUpdates) {
            return requestDecryption(now: now)
        }
        return nil
    }

    /// A fresh collection for the open round, once the key is known.
    mutating func openHomomorphicRound() {
        guard homomorphicKey != nil, policy.homomorphic != nil, !finished else { return }
        homomorphic = HomomorphicCollection(round: announcement.round)
    }

    /// Homomorphic aggregation needs the key holder's key and an enrolled fleet: the key holder
    /// decrypts only what enrolled agents signed.
    func requireEnrolmentForHomomorphic() throws(ProtocolError) {
        guard policy.homomorphic != nil else { return }
        guard signers != nil, keyholder != nil else {
            throw .invalidConfiguration(
                "homomorphic aggregation needs an enrolled fleet and the key holder's key in the enrolment ('keyholder')")
        }
    }
}
