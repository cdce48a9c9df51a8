import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQHomomorphic
import FedMQProtocol
import Foundation

/// `fedmq bench he`: FedMQ's Paillier beside python-paillier (phe, with gmpy2) in the same run,
/// per operation at 2048 bits; the compute of one packed round; a whole round through a broker
/// beside SecAgg+ and plain FedAvg; accuracy on digits beside plain FedAvg.
struct HomomorphicBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "he",
        abstract: "Paillier operations beside python-paillier; a packed round beside SecAgg+ and plain FedAvg; accuracy on digits."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(help: "Key size in bits.") var bits = 2048
    @Option(help: "Keys generated per measurement.") var keys = 21
    @Option(help: "Operations per measurement.") var operations = 50
    @Option(help: "Parameters of the packed round's update.") var dimension = 10_000
    @Option(help: "Agents whose ciphertexts the packed round multiplies.") var agents = 100
    @Option(help: "Python with phe and gmpy2 installed.") var python = "bench/.venv-he/bin/python"
    @Option(help: "The phe measurement script.") var script = "bench/he/phe_bench.py"
    @Option(help: "Rounds of the accuracy runs on digits.") var rounds = 30
    @Option(help: "The digits CSV.") var data = "data/digits.csv"

    struct PeerFigures: Decodable {
        var keygen: Double
        var encrypt: Double
        var add: Double
        var decrypt: Double
        var powmod: Double
        var backend: String
    }

    struct Figures {
        var keygen: Double
        var encrypt: Double
        /// With the fast-encryption base (what agents use).
        var fastEncrypt: Double
        var add: Double
        var decrypt: Double
        /// r^n mod n² alone.
        var power: Double
    }

    func run() async throws {
        let machine = BenchmarkReport.machine()
        var ours: [Figures] = []
        var theirs: [PeerFigures] = []
        for run in 1...output.runs {
            // Alternating which goes first.
            if run % 2 == 1 {
                ours.append(try measure())
                theirs.append(try peer())
            } else {
                theirs.append(try peer())
                ours.append(try measure())
            }
            print(
                String(
                    format: "run %d: keygen %.1f vs %.1f ms, encrypt %.2f vs %.2f ms, add %.1f vs %.1f us, decrypt %.2f vs %.2f ms", run,
                    ours[run - 1].keygen * 1e3, theirs[run - 1].keygen * 1e3, ours[run - 1].encrypt * 1e3, theirs[run - 1].encrypt * 1e3,
                    ours[run - 1].add * 1e6, theirs[run - 1].add * 1e6, ours[run - 1].decrypt * 1e3, theirs[run - 1].decrypt * 1e3))
        }
        let backend = theirs.first?.backend ?? "?"
        func result(_ name: String, _ metric: String, _ mine: KeyPath<Figures, Double>, _ peer: KeyPath<PeerFigures, Double>) -> BenchmarkResult {
            BenchmarkResult(
                name: "he-\(name)", metric: "CPU seconds per \(metric), \(bits)-bit key", peerName: "python-paillier (phe, \(backend))",
                goal: "at most phe's", check: { $0 <= $1 }, machine: machine,
                runs: zip(ours, theirs).map { .init(fedmq: $0[keyPath: mine], peer: $1[keyPath: peer]) })
        }
        var results = [
            result("keygen", "key generation", \.keygen, \.keygen), result("encrypt", "encryption (r^n)", \.encrypt, \.encrypt),
            result("encrypt-fast", "encryption (agents: DJN base, 4-bit windows)", \.fastEncrypt, \.encrypt),
            result("add", "addition (ciphertext product)", \.add, \.add), result("decrypt", "decryption", \.decrypt, \.decrypt),
            result("power", "r^n mod n² alone (GMP's powm in both)", \.power, \.powmod),
        ]
        let round = try packedRound()
        var random = SystemRandomNumberGenerator()
        let key = try PaillierPrivateKey.generate(bits: bits, using: &random)
        let base = key.fastEncryptionBase(using: &random)
        let settings = HomomorphicSettings(keyBits: bits, clip: 1, scale: 65_536)
        let compared = try await HomomorphicRoundBench.compare(
            cohort: agents, parameters: dimension, runs: output.runs, key: key, base: base, settings: settings, machine: machine)
        let accuracy = try HomomorphicRoundBench.accuracy(data: data, rounds: rounds, runs: output.runs, key: key, base: base, machine: machine)
        results += compared.results + accuracy.results
        try BenchmarkReport.writeJSON(results, to: output.results)
        let wholeRound: [String] = compared.lines + [""] + accuracy.lines + ["", "Figures: `bench/results/he.json`."]
        let text =
            markdown(results: Array(results.prefix(6)), round: round, backend: backend, machine: machine) + "\n\n"
            + wholeRound.joined(separator: "\n")
        try BenchmarkReport.replaceSection("he", with: text, in: output.markdown)
        print(text)
    }

    /// Seconds of this thread's CPU time that `body` takes.
    private func cpuSeconds(_ body: () throws -> Void) rethrows -> Double {
        var start = timespec()
        var end = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
        try body()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
        return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) * 1e-9
    }

    private func median(_ count: Int, _ body: () throws -> Void) rethrows -> Double {
        BenchmarkReport.median(try (0..<count).map { _ in try cpuSeconds(body) })
    }

    private func measure() throws -> Figures {
        var random = SystemRandomNumberGenerator()
        let keygen = try median(keys) { _ = try PaillierPrivateKey.generate(bits: bits, using: &random) }
        let key = try PaillierPrivateKey.generate(bits: bits, using: &random)
        let messages = (0..<operations).map { _ in BigInteger.random(below: key.publicKey.n >> 2, using: &random) }
        var ciphertexts: [BigInteger] = []
        let encrypt = median(operations) { ciphertexts.append(key.publicKey.encrypt(messages[ciphertexts.count], using: &random)) }
        let encryptor = try PaillierEncryptor(key: key.publicKey, base: key.fastEncryptionBase(using: &random))
        var fast: [BigInteger] = []
        let fastEncrypt = median(operations) { fast.append(encryptor.encrypt(messages[fast.count], using: &random)) }
        var index = 0
        let add = median(operations) {
            _ = key.publicKey.add(ciphertexts[index], ciphertexts[(index + 1) % operations])
            index += 1
        }
        index = 0
        var wrong = 0
        let decrypt = try median(operations) {
            if try key.decrypt(ciphertexts[index]) != messages[index] { wrong += 1 }
            index += 1
        }
        for (message, ciphertext) in zip(messages, fast) where try key.decrypt(ciphertext) != message { wrong += 1 }
        let n = key.publicKey.n
        let power = median(operations) { _ = BigInteger.random(below: n, using: &random).power(n, modulo: key.publicKey.nSquared) }
        guard wrong == 0 else { throw CommandFailure("\(wrong) decryptions were wrong") }
        return Figures(keygen: keygen, encrypt: encrypt, fastEncrypt: fastEncrypt, add: add, decrypt: decrypt, power: power)
    }

    private func peer() throws -> PeerFigures {
        let data = try PythonScript.run(
            python, [script, "\(bits)", "\(keys)", "\(operations)"], hint: "run 'make bench-he', which installs phe and gmpy2 into it")
        return try JSONDecoder().decode(PeerFigures.self, from: data)
    }

    struct Round {
        var ciphertexts: Int
        var slots: Int
        var bytes: Int
        var agentSeconds: Double
        /// Once per key: the table of the fast-encryption base's powers.
        var agentSetupSeconds: Double
        var aggregatorSeconds: Double
        var keyHolderSeconds: Double
        var maxError: Double
    }

    /// One agent's packed update (pack and encrypt), the aggregator's product of `agents` of
    /// them, the key holder's decryption and unpacking; checked against the plain sum.
    private func packedRound() throws -> Round {
        var random = SystemRandomNumberGenerator()
        let key = try PaillierPrivateKey.generate(bits: bits, using: &random)
        let packing = try PaillierPacking(clip: 1, scale: 65_536, cohort: agents, keyBits: bits)
        var seeded = SplitMix64(seed: 1)
        let update = (0..<dimension).map { _ in Float(seeded.nextGaussian() * 0.01) }
        // Once per key: the key holder's fast-encryption base, and each agent's table of its powers.
        let base = key.fastEncryptionBase(using: &random)
        var encryptor: PaillierEncryptor?
        let setupSeconds = try cpuSeconds { encryptor = try PaillierEncryptor(key: key.publicKey, base: base) }
        guard let encryptor else { throw CommandFailure("no encryptor") }
        var ciphertexts: [BigInteger] = []
        let agentSeconds = cpuSeconds { ciphertexts = packing.pack(update).map { encryptor.encrypt($0, using: &random) } }
        // Every agent's update costs the aggregator the same multiplications; one update stands for all.
        var product = ciphertexts
        let aggregatorSeconds = cpuSeconds {
            for _ in 1..<agents { product = zip(product, ciphertexts).map { key.publicKey.add($0, $1) } }
        }
        var sums: [Double] = []
        let keyHolderSeconds = try cpuSeconds {
            sums = try packing.unpack(try product.map { try key.decrypt($0) }, count: dimension, updates: agents)
        }
        let maxError = zip(sums, update).map { abs($0 - Double(agents) * Double($1)) }.max() ?? 0
        return Round(
            ciphertexts: ciphertexts.count, slots: packing.slotsPerPlaintext, bytes: ciphertexts.count * 2 * bits / 8, agentSeconds: agentSeconds,
            agentSetupSeconds: setupSeconds,
            aggregatorSeconds: aggregatorSeconds, keyHolderSeconds: keyHolderSeconds, maxError: maxError)
    }

    private func markdown(results: [BenchmarkResult], round: Round, backend: String, machine: String) -> String {
        var lines = [
            "## Homomorphic encryption (`make bench-he`)",
            "",
            "Paillier with g = n + 1 and CRT decryption (`FedMQHomomorphic`, GMP) beside python-paillier 1.5 (`phe`) with",
            "\(backend) in the same run: raw operations on integers, each the median CPU time of \(operations) (key generation: of",
            "\(keys)), \(output.runs) runs alternating which goes first; the table gives medians over runs. Machine: \(machine).",
            "",
            "| operation (\(bits) bits) | FedMQ | phe | ratio | goal |",
            "|---|---|---|---|---|",
        ]
        for result in results {
            lines.append(
                "| \(result.metric.replacingOccurrences(of: "CPU seconds per ", with: "").replacingOccurrences(of: ", \(bits)-bit key", with: "")) "
                    + "| \(Self.time(result.fedmq)) | \(Self.time(result.peer)) | \(BenchmarkReport.format(result.ratio, digits: 2))x "
                    + "| \(result.goalMet ? "met" : "missed") |")
        }
        lines += [
            "",
            "A packed round's compute, in one process without a broker (the parts of the round below): \(dimension) parameters",
            "quantized with clip 1 and scale 2^16, \(round.slots) to a plaintext with headroom for the sum of \(agents), so",
            "\(round.ciphertexts) ciphertexts of \(2 * bits / 8) bytes.",
            "",
            "| per round | measured | goal |",
            "|---|---|---|",
            "| agent CPU (pack, encrypt with DJN randomizers) | \(Self.time(round.agentSeconds)) | at most 0.5 s: \(round.agentSeconds <= 0.5 ? "met" : "missed") |",
            "| agent CPU once per key (table of the base's powers) | \(Self.time(round.agentSetupSeconds)) | |",
            "| bytes per agent | \(round.bytes) (\(BenchmarkReport.format(Double(round.bytes) / Double(4 * dimension), digits: 2))x a float32 update's \(4 * dimension)) | at most 6x: \(Double(round.bytes) <= 6 * Double(4 * dimension) ? "met" : "missed") |",
            "| aggregator CPU (product of \(agents) updates) | \(Self.time(round.aggregatorSeconds)) | |",
            "| key holder CPU (decrypt, unpack) | \(Self.time(round.keyHolderSeconds)) | |",
            "| largest error of the decoded sum | \(String(format: "%.2g", round.maxError)) (quantization: \(agents) x 2^-17) | |",
            "",
            "Decryption is constant-time (GMP's mpz_powm_sec with the secret p - 1 and q - 1 as exponents), which costs about",
            "10% against phe's plain powmod: the key holder's primes are worth it. phe has no fast encryption; its row compares",
            "with phe's only encryption. An encryption with r^n is one exponentiation by GMP in both; the last row times that",
            "exponentiation alone, from Debian's GMP (libgmp10 \(Self.systemGMP())) here and from the GMP bundled in gmpy2's wheel",
            "there: a gap in it is the libraries' versions, not this code.",
        ]
        return lines.joined(separator: "\n")
    }

    /// The version of the GMP this process links (from the header it was built with).
    static func systemGMP() -> String { BigInteger.libraryVersion }

    static func time(_ seconds: Double) -> String {
        seconds >= 0.1
            ? String(format: "%.2f s", seconds)
            : seconds >= 1e-4 ? String(format: "%.2f ms", seconds * 1e3) : String(format: "%.1f µs", seconds * 1e6)
    }
}
