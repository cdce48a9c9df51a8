import FedMQCommandLine
import FedMQLocalBroker
import Foundation

/// Runs a peer's Python script from the benchmark virtualenv and returns what it printed.
enum PythonScript {
    /// - Parameter python: a path, or a program name looked up on PATH.
    static func run(_ python: String, _ arguments: [String], hint: String, environment overrides: [String: String] = [:]) throws -> Data {
        let python = python.contains("/") ? python : ((try? Programs.path(of: python)) ?? python)
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw CommandFailure("\(python) not found: \(hint)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        // OpenBLAS core-type overrides slow a current numpy down; the peers run without them.
        environment["OPENBLAS_CORETYPE"] = nil
        environment["OPENBLAS_L2_SIZE"] = nil
        environment.merge(overrides) { $1 }
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailure("\(([python] + arguments).joined(separator: " ")) failed with status \(process.terminationStatus)")
        }
        return data
    }
}
