import Foundation

/// Finding and running the helper programs the broker set-up needs.
public enum Programs {
    /// The full path of the program `name` on PATH or in the usual Debian places.
    public static func path(of name: String) throws(LocalBrokerError) -> String {
        let directories =
            (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        for directory in directories {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw .programNotFound(name, hint: "run 'make deps' (it installs mosquitto, mosquitto-clients and openssl)")
    }

    /// Runs a program to completion and returns its standard output; throws with its output
    /// when it exits with a non-zero status.
    @discardableResult
    public static func run(_ name: String, _ arguments: [String], in directory: URL? = nil) throws(LocalBrokerError) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try path(of: name))
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let command = ([name] + arguments).joined(separator: " ")
        do {
            try process.run()
        } catch {
            throw .commandFailed(command: command, status: -1, output: "\(error)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw .commandFailed(command: command, status: process.terminationStatus, output: text)
        }
        return text
    }
}
