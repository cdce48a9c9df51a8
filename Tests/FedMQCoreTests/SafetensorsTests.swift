import FedMQCore
import Foundation
import Testing

@Suite("safetensors encoding")
struct SafetensorsTests {
    func randomParameters(_ random: inout SplitMix64) throws -> Parameters {
        let count = Int(random.next() % 4) + 1
        return try Parameters(
            (0..<count).map { index in
                let shape = (0..<Int(random.next() % 3)).map { _ in Int(random.next() % 5) + 1 }
                let values = (0..<(Tensor.elementCount(shape) ?? 1)).map { _ in Float(random.nextGaussian() * 3) }
                return try Tensor(name: "t\(index)", shape: shape, values: values)
            })
    }

    @Test("float32 round-trips exactly for random shapes, with metadata", arguments: 0..<20)
    func float32RoundTrip(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let parameters = try randomParameters(&random)
        let bytes = SafetensorsEncoder.encode(parameters, metadata: ["fedmq.round": "7", "note": "quote \" and \\ ok"])
        let file = try SafetensorsDecoder.decode(bytes)
        #expect(file.tensors == parameters.tensors)
        #expect(file.metadata["fedmq.round"] == "7")
        #expect(file.metadata["note"] == "quote \" and \\ ok")
        #expect(file.metadata["fedmq.encoding"] == "float32")
        #expect((Int(bytes[0]) + 8) % 8 == 0)
    }

    @Test("float16 round-trips within float16 precision", arguments: 0..<10)
    func float16RoundTrip(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let parameters = try randomParameters(&random)
        let file = try SafetensorsDecoder.decode(SafetensorsEncoder.encode(parameters, encoding: .float16))
        for (decoded, original) in zip(file.tensors, parameters.tensors) {
            #expect(decoded.shape == original.shape)
            for (a, b) in zip(decoded.values, original.values) { #expect(abs(a - b) <= abs(b) * 1e-3 + 1e-4) }
        }
        #expect(file.encodings.values.allSatisfy { $0 == .float16 })
    }

    @Test("int8 error stays within half a quantization step", arguments: 0..<10)
    func int8RoundTrip(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let parameters = try randomParameters(&random)
        let bytes = SafetensorsEncoder.encode(parameters, encoding: .int8)
        let file = try SafetensorsDecoder.decode(bytes)
        for (decoded, original) in zip(file.tensors, parameters.tensors) {
            let scale = Float(file.metadata["fedmq.scale.\(original.name)"]!)!
            #expect(abs(scale - original.values.map(abs).max()! / 127) <= 1e-6 * scale)
            for (a, b) in zip(decoded.values, original.values) { #expect(abs(a - b) <= scale / 2 * 1.0001) }
        }
    }

    @Test("int8 stores a model in about a quarter of the float32 bytes")
    func int8Size() throws {
        var random = SplitMix64(seed: 3)
        let parameters = try Parameters([
            Tensor(name: "W", shape: [100, 100], values: (0..<10_000).map { _ in Float(random.nextGaussian()) })
        ])
        let int8 = SafetensorsEncoder.encode(parameters, encoding: .int8).count
        let float32 = SafetensorsEncoder.encode(parameters).count
        #expect(Double(float32) / Double(int8) >= 3.9)
    }

    @Test("stochastic int8 rounding is unbiased")
    func stochasticRounding() throws {
        // Scale is 1.27 / 127 = 0.01, so 0.305 lies halfway between steps 30 and 31.
        let values = [Float](repeating: 0.305, count: 20_000) + [1.27]
        let parameters = try Parameters([Tensor(name: "x", shape: [values.count], values: values)])
        let file = try SafetensorsDecoder.decode(SafetensorsEncoder.encode(parameters, encoding: .int8, stochasticRoundingSeed: 1))
        let mean = file.tensors[0].values.dropLast().reduce(0, +) / 20_000
        #expect(abs(mean - 0.305) < 0.001)
        #expect(Set(file.tensors[0].values.dropLast()).count == 2)
    }

    @Test("tensors come back in the model's order")
    func ordering() throws {
        let parameters = try Parameters([tensor("W1", [2], [1, 2]), tensor("b1", [1], [3]), tensor("W2", [1], [4])])
        let file = try SafetensorsDecoder.decode(SafetensorsEncoder.encode(parameters))
        #expect(try file.parameters(orderedAs: ["W1", "b1", "W2"]) == parameters)
        #expect(throws: CoreError.self) { try file.parameters(orderedAs: ["W1", "b1"]) }
    }
}

@Suite("safetensors decoding of hostile input")
struct SafetensorsHostileTests {
    /// A payload with `header` (padded) and `data` bytes.
    func payload(_ header: String, data: [UInt8] = []) -> [UInt8] {
        var bytes = Array(header.utf8)
        while bytes.count % 8 != 0 { bytes.append(0x20) }
        let length = UInt64(bytes.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) } + bytes + data
    }

    func reason(_ bytes: [UInt8]) -> SafetensorsError? {
        do {
            _ = try SafetensorsDecoder.decode(bytes)
            return nil
        } catch {
            if case .safetensors(let reason) = error { return reason }
            return nil
        }
    }

    @Test("each kind of damage gets its own error")
    func distinctErrors() {
        let four = [UInt8](repeating: 0, count: 4)
        #expect(reason([1, 2, 3]) == .truncated(needed: 8, available: 3))
        #expect(reason([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]) == .headerTooLarge(length: 0xFFFF_FFFF, limit: 1 << 20))
        #expect(reason([100, 0, 0, 0, 0, 0, 0, 0, 0x7B]) == .truncated(needed: 108, available: 9))
        if case .invalidHeaderJSON = reason(payload("{not json")) {} else { Issue.record("bad JSON accepted") }
        #expect(reason(payload("[1,2]")) == .invalidHeaderJSON("the header is not a JSON object"))
        #expect(
            reason(payload(#"{"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#, data: four + four))
                == .unsupportedDType(tensor: "x", dtype: "F64"))
        #expect(
            reason(payload(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#, data: four))
                == .offsetsOutOfBounds(tensor: "x", begin: 0, end: 8, dataLength: 4))
        #expect(
            reason(payload(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: four))
                == .offsetsOutOfBounds(tensor: "x", begin: 4, end: 0, dataLength: 4))
        #expect(
            reason(payload(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: four))
                == .byteLengthMismatch(tensor: "x", expected: 8, actual: 4))
        #expect(
            reason(
                payload(
                    #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#, data: four + four
                ))
                == .overlappingRanges("x", "y"))
        #expect(reason(payload(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: four + four)) == .unindexedBytes(at: 0))
        #expect(reason(payload(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: four + four)) == .unindexedBytes(at: 4))
        #expect(
            reason(payload(#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: four))
                == .invalidEntry(tensor: "x", reason: "shape is not a list of non-negative integers"))
        #expect(
            reason(payload(#"{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: four))
                == .invalidEntry(tensor: "x", reason: "shape is not a list of non-negative integers"))
        #expect(
            reason(payload(#"{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: four))
                == .invalidEntry(tensor: "x", reason: "shape [4294967296, 4294967296] overflows"))
        #expect(reason(payload(#"{"x":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}"#, data: four)) == .missingScale(tensor: "x"))
        #expect(reason(payload(#"{"__metadata__":{"a":1}}"#)) == .invalidMetadata("value of 'a' is not a string"))
        #expect(reason(payload(#"{"x":7}"#)) == .invalidEntry(tensor: "x", reason: "entry is not a JSON object"))
    }

    @Test("random and mutated payloads never crash and are always refused or decoded consistently")
    func fuzz() throws {
        var random = SplitMix64(seed: 99)
        let parameters = try Parameters([tensor("W", [3, 4], (0..<12).map(Float.init)), tensor("b", [4], [1, 2, 3, 4])])
        let valid = SafetensorsEncoder.encode(parameters, encoding: .int8)
        var refused = 0
        for round in 0..<3000 {
            var bytes: [UInt8]
            if round % 3 == 0 {
                bytes = (0..<Int(random.next() % 200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            } else {
                bytes = valid
                for _ in 0..<Int(random.next() % 4 + 1) {
                    bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
                }
                if round % 5 == 0 { bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count)))) }
            }
            do {
                let file = try SafetensorsDecoder.decode(bytes)
                for tensor in file.tensors { #expect(tensor.values.count == Tensor.elementCount(tensor.shape)) }
            } catch {
                refused += 1
            }
        }
        #expect(refused > 1500)
    }
}

@Suite("safetensors interoperability with the Python package")
struct SafetensorsInteropTests {
    /// The virtualenv `make deps` creates, with `safetensors` and `numpy`.
    let python = repositoryRoot.appendingPathComponent(".venv/bin/python").path

    func run(_ arguments: [String]) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [fixture("safetensors_interop.py")] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python \(arguments) failed")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func values(_ description: [String: Any], _ name: String) -> [Float] {
        ((description["tensors"] as? [String: Any])?[name] as? [String: Any])?["values"].flatMap { $0 as? [Double] }?
            .map(Float.init) ?? []
    }

    @Test("files written by FedMQ load in Python with the same values, for every encoding", arguments: TensorEncoding.allCases)
    func fedmqToPython(encoding: TensorEncoding) throws {
        #expect(FileManager.default.isExecutableFile(atPath: python), "run 'make deps' to create .venv with safetensors")
        let parameters = try Parameters([
            tensor("W", [2, 3], [0.5, -1.25, 3, 0.001, -7, 2.5]), tensor("b", [3], [1, -1, 0]),
        ])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-\(encoding.rawValue)-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: path) }
        let bytes = SafetensorsEncoder.encode(parameters, encoding: encoding, metadata: ["fedmq.job": "demo"])
        try Data(bytes).write(to: path)
        let seen = try run(["read", path.path])
        let metadata = try #require(seen["metadata"] as? [String: String])
        #expect(metadata["fedmq.job"] == "demo")
        #expect(metadata["fedmq.encoding"] == encoding.rawValue)
        let ours = try SafetensorsDecoder.decode(bytes)
        for name in ["W", "b"] {
            var expected = ours.tensors.first { $0.name == name }!.values
            if encoding == .int8 {
                let scale = Float(metadata["fedmq.scale.\(name)"]!)!
                expected = expected.map { ($0 / scale).rounded() }
            }
            #expect(values(seen, name) == expected)
        }
        let dtypes = try #require(seen["dtypes"] as? [String: String])
        #expect(dtypes["W"] == ["float32": "float32", "float16": "float16", "int8": "int8"][encoding.rawValue])
    }

    @Test("files written by Python decode exactly in FedMQ")
    func pythonToFedMQ() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-py-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = try run(["write", directory.path])
        for dtype in ["F32", "F16", "I8"] {
            let description = try #require(written[dtype] as? [String: Any])
            let path = try #require(description["path"] as? String)
            try checkDecodes(path: path, description: description)
        }
    }

    @Test("committed golden files from Python decode exactly")
    func goldenFiles() throws {
        let golden = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture("golden.json")))) as? [String: Any])
        for dtype in ["F32", "F16", "I8"] {
            try checkDecodes(path: fixture("golden_\(dtype.lowercased()).safetensors"), description: try #require(golden[dtype] as? [String: Any]))
        }
    }

    func checkDecodes(path: String, description: [String: Any]) throws {
        let file = try SafetensorsDecoder.decode(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        let metadata = try #require(description["metadata"] as? [String: String])
        for name in ["W", "b"] {
            let scale = metadata["fedmq.scale.\(name)"].flatMap(Float.init) ?? 1
            let expected = values(description, name).map { $0 * scale }
            #expect(file.tensors.first { $0.name == name }?.values == expected, "\(path): tensor \(name)")
        }
        #expect(file.metadata == metadata)
    }
}
