/// Seeded ways to split one data set among simulated clients. Each returns, per client, the
/// row indices it gets.
public enum Partitioner: Sendable, Equatable {
    /// Shuffle, then deal out nearly equal parts.
    case iid
    /// Per class, client shares drawn from Dirichlet(alpha): small alpha, strong label skew.
    case dirichlet(alpha: Double)
    /// Sort by label, cut into `shardsPerClient * clients` shards, give each client that many.
    case shards(perClient: Int)
    /// IID labels, client sizes drawn from Dirichlet(alpha).
    case quantitySkew(alpha: Double)

    /// Parses `iid`, `dirichlet:ALPHA`, `shards:N` or `quantity:ALPHA` (command-line form).
    public init(parsing scheme: String) throws(CoreError) {
        let parts = scheme.split(separator: ":", maxSplits: 1).map(String.init)
        let value = parts.count == 2 ? Double(parts[1]) : nil
        switch (parts.first ?? "", value) {
        case ("iid", nil): self = .iid
        // Bounded: an infinite alpha would never finish its gamma draws, a huge shard count would trap.
        case ("dirichlet", let alpha?) where alpha > 0 && alpha <= 1e6: self = .dirichlet(alpha: alpha)
        case ("shards", let count?) where count >= 1 && count <= 1e9 && count == count.rounded(): self = .shards(perClient: Int(count))
        case ("quantity", let alpha?) where alpha > 0 && alpha <= 1e6: self = .quantitySkew(alpha: alpha)
        default: throw .invalidData("partition scheme '\(scheme)' is not iid, dirichlet:ALPHA, shards:N or quantity:ALPHA")
        }
    }

    /// Row indices for each of `clients` clients, every row to exactly one; seeded.
    public func partition(_ data: Dataset, clients: Int, classes: Int?, seed: UInt64) throws(CoreError) -> [[Int]] {
        guard clients >= 1, clients <= data.count else {
            throw .invalidData("cannot split \(data.count) rows among \(clients) clients")
        }
        var random = SplitMix64(seed: seed)
        switch self {
        case .iid:
            return Self.deal(random.permutation(data.count), into: clients)
        case .dirichlet(let alpha):
            guard alpha > 0, alpha.isFinite, let classes else {
                throw .invalidData("Dirichlet partitioning needs a finite alpha > 0 and class labels")
            }
            let labels = try data.labels(classes: classes)
            var parts = [[Int]](repeating: [], count: clients)
            for label in 0..<classes {
                let rows = labels.indices.filter { labels[$0] == label }
                let order = random.permutation(rows.count).map { rows[$0] }
                let shares = random.nextDirichlet(alpha: alpha, count: clients)
                for (client, piece) in Self.cut(order, shares: shares).enumerated() { parts[client] += piece }
            }
            return parts
        case .shards(let perClient):
            guard perClient >= 1, let classes else { throw .invalidData("shard partitioning needs shards >= 1 and class labels") }
            let labels = try data.labels(classes: classes)
            let byLabel = Array(0..<data.count).sorted { (labels[$0], $0) < (labels[$1], $1) }
            let shardCount = perClient * clients
            guard shardCount <= data.count else { throw .invalidData("\(shardCount) shards exceed \(data.count) rows") }
            let shards = Self.deal(byLabel, into: shardCount)
            let order = random.permutation(shardCount)
            return (0..<clients).map { client in
                (0..<perClient).flatMap { shards[order[client * perClient + $0]] }
            }
        case .quantitySkew(let alpha):
            guard alpha > 0, alpha.isFinite else { throw .invalidData("quantity skew needs a finite alpha > 0") }
            let order = random.permutation(data.count)
            // Every client gets at least one row; the rest follow the Dirichlet shares.
            let shares = random.nextDirichlet(alpha: alpha, count: clients)
            let rest = Self.cut(Array(order.dropFirst(clients)), shares: shares)
            return (0..<clients).map { [order[$0]] + rest[$0] }
        }
    }

    /// Splits `rows` into `parts` contiguous pieces whose sizes differ by at most one (the
    /// first ones larger), as numpy's `array_split`.
    static func deal(_ rows: [Int], into parts: Int) -> [[Int]] {
        let base = rows.count / parts
        let extra = rows.count % parts
        var start = 0
        return (0..<parts).map { part in
            let size = base + (part < extra ? 1 : 0)
            defer { start += size }
            return Array(rows[start..<(start + size)])
        }
    }

    /// Cuts `rows` at the cumulative `shares` (as numpy's `split(rows, (cumsum(p) * n).astype(int)[:-1])`).
    static func cut(_ rows: [Int], shares: [Double]) -> [[Int]] {
        var cuts: [Int] = []
        var total = 0.0
        for share in shares.dropLast() {
            total += share
            cuts.append(min(rows.count, Int(total * Double(rows.count))))
        }
        var pieces: [[Int]] = []
        var start = 0
        for cut in cuts + [rows.count] {
            let end = max(start, cut)
            pieces.append(Array(rows[start..<end]))
            start = end
        }
        return pieces
    }
}
