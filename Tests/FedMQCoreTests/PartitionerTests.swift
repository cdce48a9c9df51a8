import FedMQCore
import Testing

@Suite("Seeded partitioners and splits")
struct PartitionerTests {
    let digits = try! readCSV(dataFile("digits.csv"), options: CSVOptions(hasHeader: true))

    func checkCoverage(_ parts: [[Int]], rows: Int) {
        let all = parts.flatMap { $0 }
        #expect(all.count == rows)
        #expect(Set(all).count == rows)
    }

    @Test("SplitMix64 permutations follow the benchmark task's definition")
    func taskShuffle() {
        var random = SplitMix64(seed: 1000 * 1 + 0)
        #expect(random.permutation(10) == [4, 3, 2, 0, 9, 8, 5, 1, 7, 6])
    }

    @Test("IID: every row once, sizes differ by at most one")
    func iid() throws {
        let parts = try Partitioner.iid.partition(digits, clients: 10, classes: 10, seed: 0)
        checkCoverage(parts, rows: 1797)
        #expect(Set(parts.map(\.count)) == [180, 179])
        #expect(try Partitioner.iid.partition(digits, clients: 10, classes: 10, seed: 0) == parts)
        #expect(try Partitioner.iid.partition(digits, clients: 10, classes: 10, seed: 1) != parts)
    }

    @Test("Dirichlet label skew: small alpha concentrates each client's labels")
    func dirichlet() throws {
        let labels = try digits.labels(classes: 10)
        func meanTopShare(_ alpha: Double) throws -> Double {
            let parts = try Partitioner.dirichlet(alpha: alpha).partition(digits, clients: 10, classes: 10, seed: 3)
            checkCoverage(parts, rows: 1797)
            let shares = parts.filter { !$0.isEmpty }.map { part -> Double in
                var histogram = [Int](repeating: 0, count: 10)
                for row in part { histogram[labels[row]] += 1 }
                return Double(histogram.max()!) / Double(part.count)
            }
            return shares.reduce(0, +) / Double(shares.count)
        }
        let skewed = try meanTopShare(0.1)
        let mild = try meanTopShare(100)
        #expect(skewed > 0.5)
        #expect(mild < 0.2)
    }

    @Test("label shards give each client few labels; quantity skew varies sizes")
    func shardsAndQuantity() throws {
        let labels = try digits.labels(classes: 10)
        let shards = try Partitioner.shards(perClient: 2).partition(digits, clients: 10, classes: 10, seed: 4)
        checkCoverage(shards, rows: 1797)
        #expect(shards.allSatisfy { Set($0.map { labels[$0] }).count <= 4 })
        let skew = try Partitioner.quantitySkew(alpha: 0.5).partition(digits, clients: 10, classes: 10, seed: 4)
        checkCoverage(skew, rows: 1797)
        #expect(skew.allSatisfy { !$0.isEmpty })
        #expect(skew.map(\.count).max()! > 3 * skew.map(\.count).min()!)
    }

    @Test("impossible requests are refused clearly")
    func refusals() {
        #expect(throws: CoreError.invalidData("cannot split 1797 rows among 0 clients")) {
            try Partitioner.iid.partition(digits, clients: 0, classes: 10, seed: 0)
        }
        #expect(throws: CoreError.self) { try Partitioner.dirichlet(alpha: 0).partition(digits, clients: 2, classes: 10, seed: 0) }
        #expect(throws: CoreError.self) { try DataSplit.trainTest(digits, testFraction: 1.5, classes: 10, seed: 0) }
    }

    @Test("the stratified split keeps class proportions and is reproducible")
    func stratified() throws {
        let (train, test) = try DataSplit.trainTest(digits, testFraction: 0.2, classes: 10, seed: 0)
        #expect(train.count == 1437)
        #expect(test.count == 360)
        let testLabels = try test.labels(classes: 10)
        for label in 0..<10 { #expect((34...38).contains(testLabels.filter { $0 == label }.count)) }
        #expect(try DataSplit.trainTest(digits, testFraction: 0.2, classes: 10, seed: 0).test == test)
    }
}

@Suite("Partition schemes from the command line")
struct PartitionSchemeTests {
    @Test(
        "schemes parse; values that would hang or trap are refused",
        arguments: ["dirichlet:inf", "dirichlet:nan", "dirichlet:0", "quantity:1e300", "shards:1e30", "shards:2.5", "mystery"])
    func refused(scheme: String) {
        #expect(throws: CoreError.self) { try Partitioner(parsing: scheme) }
    }

    @Test("accepted schemes")
    func accepted() throws {
        #expect(try Partitioner(parsing: "dirichlet:0.5") == .dirichlet(alpha: 0.5))
        #expect(try Partitioner(parsing: "shards:2") == .shards(perClient: 2))
        #expect(try Partitioner(parsing: "iid") == .iid)
    }
}
