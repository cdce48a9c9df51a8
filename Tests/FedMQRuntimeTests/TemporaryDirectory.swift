import Foundation

/// A new, empty directory under the system's temporary folder, named `fedmq-<prefix>-<uuid>`.
func freshDirectory(_ prefix: String) throws -> String {
    let path = NSTemporaryDirectory() + "fedmq-\(prefix)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
