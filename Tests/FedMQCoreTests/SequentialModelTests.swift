import FedMQCore
import Foundation
import Testing

@Suite("Sequential models: convolutions, pooling, normalization, dropout")
struct SequentialModelTests {
    /// Smooth models (max pooling's kinks would spoil central differences: it is checked
    /// against PyTorch, with overlapping windows, below).
    static let specs: [ModelSpec] = [
        // Every other layer type, with a convolution after another layer so its input gradient counts.
        ModelSpec(
            layers: [
                .conv1d(filters: 4, kernel: 3, stride: 1, padding: 1), .activation(.tanh), .groupNorm(groups: 2),
                .conv1d(filters: 3, kernel: 2, stride: 2, padding: 1), .activation(.gelu), .dropout(rate: 0.3),
                .globalAveragePool, .flatten, .dense(units: 5), .activation(.sigmoid), .dense(units: 3),
            ], inputs: 20, inputShape: [2, 10], outputs: 3),
        ModelSpec(layers: [.dense(units: 6), .layerNorm, .activation(.relu), .dropout(rate: 0.5), .dense(units: 1)], inputs: 5, outputs: 1),
        ModelSpec(
            layers: [.conv1d(filters: 2, kernel: 4, stride: 3, padding: 0), .flatten, .dense(units: 2)], inputs: 24, inputShape: [3, 8], outputs: 2),
        // An autoencoder: its loss is the mean squared error of its reconstruction of the input.
        {
            var spec = ModelSpec(layers: [.dense(units: 3), .activation(.tanh), .dense(units: 6)], inputs: 6, outputs: 6)
            spec.objective = .reconstruction
            return spec
        }(),
        // A GRU after a convolution, so the gradient through time reaches the filters too.
        ModelSpec(
            layers: [.conv1d(filters: 3, kernel: 2, stride: 1, padding: 1), .activation(.tanh), .gru(units: 4), .dense(units: 3)], inputs: 12,
            inputShape: [2, 6], outputs: 3),
    ]

    @Test("the analytic gradient matches central differences (dropout's masks held fixed)", arguments: specs)
    func finiteDifferences(spec: ModelSpec) throws {
        var random = SplitMix64(seed: 5)
        let parameters = try Parameters(
            try spec.initialParameters(seed: 2).tensors.map { tensor in
                var tensor = tensor
                tensor.values = tensor.values.map { $0 + Float(random.nextGaussian() * 0.3) }
                return tensor
            })
        let rows = 5
        let features = (0..<(rows * spec.inputs)).map { _ in Float(random.nextGaussian()) }
        let targets: [Float] = (0..<rows).map { spec.isClassifier ? Float($0 % spec.outputs) : Float(random.nextGaussian()) }
        var network = try DenseNetwork(spec: spec)
        func loss(_ p: Parameters, into gradient: inout Parameters) -> Double {
            network.reseed(42)
            return features.withUnsafeBufferPointer { f in
                targets.withUnsafeBufferPointer { t in network.lossAndGradient(p, features: f, targets: t, rows: rows, into: &gradient) }
            }
        }
        var gradient = parameters.zeros()
        _ = loss(parameters, into: &gradient)
        var scratch = parameters.zeros()
        let step: Float = 1e-2
        var worst = 0.0
        for index in parameters.tensors.indices {
            for element in parameters.tensors[index].values.indices {
                let value = parameters.tensors[index].values[element]
                let plus = try replacing(parameters, index, element, value + step)
                let minus = try replacing(parameters, index, element, value - step)
                let numeric = (loss(plus, into: &scratch) - loss(minus, into: &scratch)) / Double(2 * step)
                let analytic = Double(gradient.tensors[index].values[element])
                worst = max(worst, abs(numeric - analytic) / max(1e-2, abs(numeric) + abs(analytic)))
            }
        }
        #expect(worst < 2e-2, "worst relative gradient error \(worst)")
    }

    @Test(
        "logits, loss and every gradient equal PyTorch's on the same weights and batch, to 1e-5",
        arguments: ["pytorch_cnn", "pytorch_gru", "pytorch_mlp"])
    func pytorch(name: String) throws {
        let file = try SafetensorsDecoder.decodeForeign(Array(try Data(contentsOf: URL(fileURLWithPath: fixture(name + ".safetensors"))))).file
        let spec = try ModelSpec.parse(try #require(file.metadata["fedmq.model_spec"]))
        let byName = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0) })
        // The state dict's names and shapes are the spec's own: no renaming, no transposing.
        let parameters = try Parameters(
            spec.parameterLayout.map { name, shape in try #require(byName[name].flatMap { $0.shape == shape ? $0 : nil }) })
        let input = try #require(byName["input"]).values
        let target = try #require(byName["target"]).values
        let rows = target.count
        var network = try DenseNetwork(spec: spec)
        let logits = input.withUnsafeBufferPointer { network.outputs(parameters, features: $0, rows: rows) }
        expectClose(logits, try #require(byName["logits"]).values, "logits")
        var gradient = parameters.zeros()
        let loss = input.withUnsafeBufferPointer { f in
            target.withUnsafeBufferPointer { t in network.lossAndGradient(parameters, features: f, targets: t, rows: rows, into: &gradient) }
        }
        #expect(abs(loss - (Double(file.metadata["loss"] ?? "") ?? .nan)) < 1e-5, "loss \(loss) against \(file.metadata["loss"] ?? "")")
        for tensor in gradient.tensors {
            expectClose(tensor.values, try #require(byName["grad." + tensor.name]).values, "gradient of \(tensor.name)")
        }
    }

    @Test("a GRU's tensors are PyTorch's, and a GRU needs time steps")
    func gruLayout() throws {
        let spec = Self.specs[4]
        #expect(
            spec.parameterLayout.map(\.name) == [
                "0.weight", "0.bias", "2.weight_ih_l0", "2.weight_hh_l0", "2.bias_ih_l0", "2.bias_hh_l0", "3.weight", "3.bias",
            ])
        #expect(spec.parameterLayout[2].shape == [12, 3] && spec.parameterLayout[3].shape == [12, 4])
        #expect(try ModelSpec.parse(spec.jsonString()) == spec)
        let flat = #expect(throws: CoreError.self) {
            try ModelSpec.parse(
                #"{"version":1,"kind":"sequential","inputs":6,"outputs":2,"layers":[{"type":"gru","units":3},{"type":"dense","units":2}]}"#)
        }
        #expect(flat?.description.contains("layer 0 (gru) needs channels x time steps") == true)
    }

    @Test("a PyTorch nn.Sequential's state dict imports into the sequential spec as it is, whatever the dense layout flag says")
    func importsStateDict() throws {
        let (file, skipped) = try SafetensorsDecoder.decodeForeign(
            Array(try Data(contentsOf: URL(fileURLWithPath: fixture("pytorch_mlp.safetensors")))))
        let spec = try ModelSpec.parse(try #require(file.metadata["fedmq.model_spec"]))
        let result = try ModelImport.parameters(for: spec, from: file, skipped: skipped, layout: .outIn)
        #expect(result.parameters.names == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"])
        #expect(result.parameters["0.weight"] == file.tensors.first { $0.name == "0.weight" })
        #expect(Set(result.unused.keys).isSuperset(of: ["input", "target", "logits", "grad.0.weight"]))
    }

    private func replacing(_ p: Parameters, _ index: Int, _ element: Int, _ value: Float) throws -> Parameters {
        var tensors = p.tensors
        tensors[index].values[element] = value
        return try Parameters(tensors)
    }

    /// `p`'s tensors under `names`, in order.
    private func renamed(_ p: Parameters, _ names: [String]) throws -> Parameters {
        try Parameters(
            zip(p.tensors, names).map { tensor, name in
                var tensor = tensor
                tensor.name = name
                return tensor
            })
    }

    private func expectClose(_ actual: [Float], _ expected: [Float], _ what: String) {
        #expect(actual.count == expected.count, "\(what): \(actual.count) values, PyTorch has \(expected.count)")
        let worst = zip(actual, expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
        #expect(worst <= 1e-5, "\(what): worst difference \(worst)")
    }

    @Test("a spec's tensors are named and shaped like PyTorch's nn.Sequential state dict, and the JSON round-trips")
    func layout() throws {
        let spec = Self.specs[0]
        #expect(
            spec.parameterLayout.map(\.name) == [
                "0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias", "8.weight", "8.bias", "10.weight", "10.bias",
            ])
        #expect(spec.parameterLayout.map(\.shape) == [[4, 2, 3], [4], [4], [4], [3, 4, 2], [3], [5, 3], [5], [3, 5], [3]])
        #expect(try ModelSpec.parse(spec.jsonString()) == spec)
        #expect(spec.isClassifier && spec.isNative && !Self.specs[1].isClassifier)
        let initial = try spec.initialParameters(seed: 1)
        #expect(initial["2.weight"]?.values == [1, 1, 1, 1] && initial["2.bias"]?.values == [0, 0, 0, 0])
        let bound = Float(1 / Double(2 * 3).squareRoot())
        #expect(initial["0.weight"]!.values.allSatisfy { abs($0) <= bound } && initial["0.weight"]!.values.contains { abs($0) > bound / 2 })
        #expect(try spec.initialParameters(seed: 1) == initial && spec.initialParameters(seed: 2) != initial)
    }

    @Test(
        "specs whose layers do not fit together are refused, naming the layer",
        arguments: [
            (
                #"{"version":1,"kind":"sequential","inputs":8,"outputs":2,"layers":[{"type":"conv1d","filters":2,"kernel":3},{"type":"flatten"},{"type":"dense","units":2}]}"#,
                "layer 0 (conv1d) needs channels x length"
            ),
            (
                #"{"version":1,"kind":"sequential","inputs":8,"input_shape":[2,4],"outputs":2,"layers":[{"type":"dense","units":2}]}"#,
                "layer 0 (dense) needs a flat input"
            ),
            (
                #"{"version":1,"kind":"sequential","inputs":8,"input_shape":[2,4],"outputs":2,"layers":[{"type":"conv1d","filters":2,"kernel":5},{"type":"flatten"},{"type":"dense","units":2}]}"#,
                "kernel 5 is longer"
            ),
            (
                #"{"version":1,"kind":"sequential","inputs":8,"input_shape":[2,4],"outputs":2,"layers":[{"type":"group_norm","groups":3},{"type":"flatten"},{"type":"dense","units":2}]}"#,
                "groups (3) must divide the 2 channels"
            ),
            (#"{"version":1,"kind":"sequential","inputs":8,"outputs":2,"layers":[{"type":"dense","units":3}]}"#, "the model needs 2 flat outputs"),
            (
                #"{"version":1,"kind":"sequential","inputs":8,"input_shape":[3,3],"outputs":2,"layers":[{"type":"flatten"},{"type":"dense","units":2}]}"#,
                "input_shape must be [channels, length]"
            ),
            (#"{"version":1,"kind":"sequential","inputs":8,"outputs":2,"layers":[]}"#, "needs 'layers'"),
            (
                #"{"version":1,"kind":"sequential","inputs":8,"outputs":2,"layers":[{"type":"lstm"}]}"#,
                "unknown layer type 'lstm' (valid: conv1d, max_pool"
            ),
            (
                #"{"version":1,"kind":"sequential","inputs":8,"outputs":2,"layers":[{"type":"dense","units":2,"filters":3}]}"#,
                "unknown key(s) filters"
            ),
            (
                #"{"version":1,"kind":"sequential","inputs":8,"outputs":2,"layers":[{"type":"dropout","rate":1},{"type":"dense","units":2}]}"#,
                "rate must lie in [0, 1)"
            ),
            (
                #"{"version":1,"kind":"mlp","inputs":8,"hidden":[2],"outputs":2,"layers":[{"type":"dense","units":2}]}"#,
                "only a sequential model has 'layers'"
            ),
            // A model from the network must not make a device allocate without limit.
            (
                #"{"version":1,"kind":"sequential","inputs":1000,"input_shape":[1,1000],"outputs":2,"layers":[{"type":"conv1d","filters":65536,"kernel":3},{"type":"global_avg_pool"},{"type":"flatten"},{"type":"dense","units":2}]}"#,
                "layer 0 (conv1d) keeps 65407922 values per example, more than 16777216"
            ),
        ])
    func invalid(json: String, reason: String) {
        let error = #expect(throws: CoreError.self) { try ModelSpec.parse(json) }
        #expect(error?.description.contains(reason) == true, "\(error.map { "\($0)" } ?? "")")
    }

    @Test("dropout drops about its rate of values in training, scales the rest, and does nothing in evaluation")
    func dropout() throws {
        let spec = ModelSpec(layers: [.dropout(rate: 0.25), .dense(units: 2)], inputs: 400, outputs: 2)
        let plain = ModelSpec(layers: [.dense(units: 2)], inputs: 400, outputs: 2)
        let plainParameters = try plain.initialParameters(seed: 1)
        let parameters = try renamed(plainParameters, ["1.weight", "1.bias"])
        let features = [Float](repeating: 1, count: 400)
        var network = try DenseNetwork(spec: spec)
        var reference = try DenseNetwork(spec: plain)
        let evaluated = features.withUnsafeBufferPointer { network.outputs(parameters, features: $0, rows: 1) }
        #expect(evaluated == features.withUnsafeBufferPointer { reference.outputs(plainParameters, features: $0, rows: 1) })
        // In training the weight gradient of an input is its (scaled or dropped) value.
        var gradient = parameters.zeros()
        network.reseed(3)
        _ = features.withUnsafeBufferPointer { f in
            [Float(0)].withUnsafeBufferPointer { network.lossAndGradient(parameters, features: f, targets: $0, rows: 1, into: &gradient) }
        }
        let row = Array(gradient.tensors[0].values.prefix(400))
        let dropped = row.filter { $0 == 0 }.count
        #expect((70...130).contains(dropped), "\(dropped) of 400 dropped at rate 0.25")
    }

    @Test("a small CNN trained by FedMQ's own trainer learns BasicMotions' sensor windows, also with DP-SGD's per-example gradients")
    func trainsOnSensorWindows() throws {
        let options = CSVOptions(hasHeader: true, label: .name("label"))
        let train = try readCSV(dataFile("basic_motions_train.csv"), options: options)
        let test = try readCSV(dataFile("basic_motions_test.csv"), options: options)
        let spec = ModelSpec(
            layers: [
                .conv1d(filters: 8, kernel: 5, stride: 1, padding: 0), .activation(.relu), .groupNorm(groups: 2), .maxPool(size: 2, stride: 2),
                .globalAveragePool, .flatten, .dropout(rate: 0.1), .dense(units: 4),
            ], inputs: 600, inputShape: [6, 100], outputs: 4)
        var parameters = try spec.initialParameters(seed: 0)
        var trainer = try Trainer(spec: spec, config: TrainingConfig(learningRate: 0.05, momentum: 0.9, batchSize: 8, epochs: 30))
        var random = SplitMix64(seed: 1)
        _ = try trainer.train(&parameters, on: train, random: &random)
        let accuracy = try #require(try Evaluation.evaluate(parameters, spec: spec, on: test).accuracy)
        #expect(accuracy >= 0.9, "test accuracy \(accuracy)")

        var privateParameters = try spec.initialParameters(seed: 0)
        var config = TrainingConfig(learningRate: 0.5, batchSize: 8, epochs: 2)
        config.dpSGD = DPSGDConfig(clipNorm: 1, noiseMultiplier: 1.1, samplingRate: 0.25)
        var privateTrainer = try Trainer(spec: spec, config: config, privacyRandom: SplitMix64(seed: 4))
        let report = try privateTrainer.train(&privateParameters, on: train, random: &random)
        #expect(report.privacyEvent != nil && report.steps == 8 && privateParameters.allFinite)
        #expect(privateParameters != (try spec.initialParameters(seed: 0)))
    }
}

@Suite("The shipped sensor data sets")
struct ShippedSensorDataTests {
    @Test(
        "train and test windows have the same width and the documented rows and classes",
        arguments: [("basic_motions", 600, 40, 40, 4), ("japanese_vowels", 348, 270, 370, 9), ("acsf1", 1460, 100, 100, 10)])
    func shape(name: String, width: Int, trainRows: Int, testRows: Int, classes: Int) throws {
        let options = CSVOptions(hasHeader: true, label: .name("label"))
        let train = try readCSV(dataFile("\(name)_train.csv"), options: options)
        let test = try readCSV(dataFile("\(name)_test.csv"), options: options)
        #expect(train.featureCount == width && test.featureCount == width)
        #expect(train.count == trainRows && test.count == testRows)
        #expect(Set(train.targets) == Set((0..<classes).map(Float.init)) && Set(test.targets).isSubset(of: Set(train.targets)))
    }

    @Test("a small CNN trained by FedMQ's trainer tells JapaneseVowels' nine speakers apart")
    func japaneseVowels() throws {
        let options = CSVOptions(hasHeader: true, label: .name("label"))
        let train = try readCSV(dataFile("japanese_vowels_train.csv"), options: options)
        let test = try readCSV(dataFile("japanese_vowels_test.csv"), options: options)
        let spec = ModelSpec(
            layers: [.conv1d(filters: 16, kernel: 3, stride: 1, padding: 1), .activation(.relu), .globalAveragePool, .flatten, .dense(units: 9)],
            inputs: 348, inputShape: [12, 29], outputs: 9)
        var parameters = try spec.initialParameters(seed: 0)
        var trainer = try Trainer(spec: spec, config: TrainingConfig(learningRate: 0.05, momentum: 0.9, batchSize: 8, epochs: 20))
        var random = SplitMix64(seed: 1)
        _ = try trainer.train(&parameters, on: train, random: &random)
        let accuracy = try #require(try Evaluation.evaluate(parameters, spec: spec, on: test).accuracy)
        #expect(accuracy >= 0.85, "test accuracy \(accuracy)")
    }
}
