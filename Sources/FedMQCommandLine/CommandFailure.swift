import FoundationEssentials

/// A failure the command reports as `Error: <message>` with exit status 1 (not a usage error).
public struct CommandFailure: Error, CustomStringConvertible {
    public let description: String

    /// A failure with the message printed after `Error:`.
    public init(_ description: String) {
        self.description = description
    }
}

/// The path of a FedMQ executable built next to this one; a failure says how to build it.
public func siblingExecutable(_ name: String, in directory: URL) throws -> String {
    let path = directory.appendingPathComponent(name).path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw CommandFailure("\(name) is not built next to fedmq (\(path)); run 'make release'")
    }
    return path
}
