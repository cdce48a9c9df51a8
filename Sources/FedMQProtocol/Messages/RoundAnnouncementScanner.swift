import FedMQCore

/// The quick way through a `global/round` announcement: one pass over the bytes for the plain
/// announcement an aggregator writes for a FedAvg round (its numbers, ids and lists, the
/// training settings without DP-SGD or augmentation). Every agent reads one a round, and
/// `JSONDecoder` took about 75 µs for it, a sixth of an agent's CPU in a round of the shared
/// task. Anything else it leaves to `JSONDecoder` by answering nil: a key it does not know or
/// sees twice, a `null`, a number written with a fraction where a whole one belongs, privacy,
/// secure, homomorphic, asynchronous and analytics settings, malformed JSON. Where it answers,
/// its answer is `JSONDecoder`'s (`RoundAnnouncementScannerTests` checks that on thousands of
/// damaged announcements); `ProtocolJSON.decode` then checks the schema and bounds as for any
/// message.
enum RoundAnnouncementScanner {
    static func scan(_ payload: [UInt8]) -> RoundAnnouncement? {
        JSONScanner.fields(of: payload, as: Fields.self)?.announcement()
    }

    /// The fields as they are read; `announcement()` needs every required one.
    private struct Fields: JSONObjectFields {
        var schema, job, baseModelSHA256: String?
        var round, targetUpdates, minUpdates, extensions, maxUpdateBytes, revision, evaluateEvery, rounds: Int?
        var openedAt, deadline, normBound: Double?
        var training: TrainingConfig?
        var encoding: TensorEncoding?
        var weighting: FedAvg.Weighting?
        var received, selected, sites: [String]?
        var ingestShards, sparseBitmaps: Bool?

        /// Reads the value of `key`; false for a key read before, one outside the plain
        /// announcement, or a value not of the plain kind.
        mutating func read(_ key: String, _ scanner: inout JSONScanner) -> Bool {
            switch key {
            case "schema": return JSONScanner.keepFirst(scanner.string(), in: &schema)
            case "job": return JSONScanner.keepFirst(scanner.string(), in: &job)
            case "base_model_sha256": return JSONScanner.keepFirst(scanner.string(), in: &baseModelSHA256)
            case "round": return JSONScanner.keepFirst(scanner.integer(), in: &round)
            case "target_updates": return JSONScanner.keepFirst(scanner.integer(), in: &targetUpdates)
            case "min_updates": return JSONScanner.keepFirst(scanner.integer(), in: &minUpdates)
            case "extensions": return JSONScanner.keepFirst(scanner.integer(), in: &extensions)
            case "max_update_bytes": return JSONScanner.keepFirst(scanner.integer(), in: &maxUpdateBytes)
            case "revision": return JSONScanner.keepFirst(scanner.integer(), in: &revision)
            case "evaluate_every": return JSONScanner.keepFirst(scanner.integer(), in: &evaluateEvery)
            case "rounds": return JSONScanner.keepFirst(scanner.integer(), in: &rounds)
            case "opened_at": return JSONScanner.keepFirst(scanner.double(), in: &openedAt)
            case "deadline": return JSONScanner.keepFirst(scanner.double(), in: &deadline)
            case "norm_bound": return JSONScanner.keepFirst(scanner.double(), in: &normBound)
            case "training": return JSONScanner.keepFirst(RoundAnnouncementScanner.training(&scanner), in: &training)
            case "encoding": return JSONScanner.keepFirst(scanner.string().flatMap(TensorEncoding.init(rawValue:)), in: &encoding)
            case "weighting": return JSONScanner.keepFirst(scanner.string().flatMap(FedAvg.Weighting.init(rawValue:)), in: &weighting)
            case "received": return JSONScanner.keepFirst(scanner.strings(), in: &received)
            case "selected": return JSONScanner.keepFirst(scanner.strings(), in: &selected)
            case "sites": return JSONScanner.keepFirst(scanner.strings(), in: &sites)
            case "ingest_shards": return JSONScanner.keepFirst(scanner.bool(), in: &ingestShards)
            case "sparse_bitmaps": return JSONScanner.keepFirst(scanner.bool(), in: &sparseBitmaps)
            default: return false
            }
        }

        /// The announcement, if every required field was read.
        func announcement() -> RoundAnnouncement? {
            guard let schema, let job, let round, let openedAt, let deadline, let targetUpdates, let minUpdates, let extensions,
                let baseModelSHA256, let training, let maxUpdateBytes, let encoding
            else { return nil }
            var announcement = RoundAnnouncement(
                job: job, round: round, openedAt: openedAt, deadline: deadline, targetUpdates: targetUpdates, minUpdates: minUpdates,
                extensions: extensions, baseModelSHA256: baseModelSHA256, training: training, maxUpdateBytes: maxUpdateBytes,
                normBound: normBound, encoding: encoding, evaluateEvery: evaluateEvery)
            announcement.schema = schema
            announcement.revision = revision
            announcement.rounds = rounds
            announcement.weighting = weighting
            announcement.received = received
            announcement.selected = selected
            announcement.sites = sites
            announcement.ingestShards = ingestShards
            announcement.sparseBitmaps = sparseBitmaps
            return announcement
        }
    }

    /// Training settings of plain SGD (no DP-SGD, no augmentation); absent fields take
    /// `TrainingConfig`'s defaults, as its decoder gives them.
    private static func training(_ scanner: inout JSONScanner) -> TrainingConfig? {
        var config = TrainingConfig()
        var seen: UInt8 = 0
        /// Sets field number `bit` to `value`; false for a value not read or a field set before.
        func set<Value>(_ bit: UInt8, _ value: Value?, _ field: inout Value) -> Bool {
            guard seen & 1 << bit == 0, let value else { return false }
            seen |= 1 << bit
            field = value
            return true
        }
        let complete = scanner.object { key, scanner in
            switch key {
            case "learning_rate": set(0, scanner.float(), &config.learningRate)
            case "momentum": set(1, scanner.float(), &config.momentum)
            case "weight_decay": set(2, scanner.float(), &config.weightDecay)
            case "proximal_mu": set(3, scanner.float(), &config.proximalMu)
            case "batch_size": set(4, scanner.integer(), &config.batchSize)
            case "epochs": set(5, scanner.integer(), &config.epochs)
            default: false
            }
        }
        return complete ? config : nil
    }
}
