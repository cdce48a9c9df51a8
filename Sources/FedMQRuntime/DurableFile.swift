import FedMQCore
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// Writes that survive a crash or power cut: write a temporary file, fsync it, rename it over
/// the target, fsync the directory. A reader sees the old file or the new one, never half.
public enum DurableFile {
    /// - Parameters:
    ///   - syncDirectory: false when a durable write into the same directory follows at once:
    ///     its directory fsync makes this rename durable too.
    ///   - mode: the file's permissions from its creation on (0600 for keys and private state:
    ///     never readable by others, not even for a moment).
    public static func write(_ bytes: [UInt8], to path: String, syncDirectory: Bool = true, mode: mode_t = 0o644) throws(RuntimeError) {
        let directory = PathText.directory(of: path)
        let temporary = path + ".tmp-\(getpid())"
        // A new file only (O_EXCL), never through a symbolic link (O_NOFOLLOW): whatever waits at
        // the temporary name (a file left by a crash, a link planted there) is removed, not written through.
        let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC
        var descriptor = open(temporary, flags, mode)
        if descriptor < 0 && errno == EEXIST {
            unlink(temporary)
            descriptor = open(temporary, flags, mode)
        }
        guard descriptor >= 0 else { throw failure(temporary, "open") }
        if !writeAll(bytes, to: descriptor) {
            let error = failure(temporary, "write")
            close(descriptor)
            unlink(temporary)
            throw error
        }
        if fsync(descriptor) != 0 {
            let error = failure(temporary, "fsync")
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let error = failure(path, "rename")
            unlink(temporary)
            throw error
        }
        if syncDirectory { sync(directory: directory.isEmpty ? "." : directory) }
    }

    /// Appends `bytes`, fsynced when `sync` is set (a log's group commit writes most of a batch
    /// unsynced and fsyncs with its last write). A write that fails part way is undone.
    public static func append(_ bytes: [UInt8], to path: String, sync: Bool = false) throws(RuntimeError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard descriptor >= 0 else { throw failure(path, "open") }
        defer { close(descriptor) }
        let original = lseek(descriptor, 0, SEEK_END)
        if !writeAll(bytes, to: descriptor) {
            let error = failure(path, "append")
            _ = ftruncate(descriptor, original)
            throw error
        }
        if sync { guard fsync(descriptor) == 0 else { throw failure(path, "fsync") } }
    }

    /// Cuts a file to its first `length` bytes, durably (a log's torn tail after a crash).
    public static func truncate(_ path: String, to length: Int) throws(RuntimeError) {
        let descriptor = open(path, O_WRONLY)
        guard descriptor >= 0 else { throw failure(path, "open") }
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(length)) == 0 else { throw failure(path, "truncate") }
        guard fsync(descriptor) == 0 else { throw failure(path, "fsync") }
    }

    /// Writes every byte (at `offset`, or at the file position when nil), across short writes
    /// and interruptions; false (errno set) on failure.
    static func writeAll(_ bytes: [UInt8], to descriptor: Int32, at offset: off_t? = nil) -> Bool {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                let start = buffer.baseAddress! + written
                return if let offset { pwrite(descriptor, start, bytes.count - written, offset + off_t(written)) } else {
                    Glibc.write(descriptor, start, bytes.count - written)
                }
            }
            if result < 0 {
                if errno == EINTR { continue }
                return false
            }
            written += result
        }
        return true
    }

    /// Creates the directory and its parents if missing; an error names the path.
    public static func createDirectory(_ path: String) throws(RuntimeError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .file(path: path, reason: "cannot create directory: \(ErrorText.describe(error))")
        }
    }

    /// The file's bytes; an error names the path.
    public static func read(_ path: String) throws(RuntimeError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw .file(path: path, reason: "cannot read") }
        return Array(data)
    }

    /// fsyncs a directory, making the renames into it durable.
    public static func sync(directory path: String) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    static func failure(_ path: String, _ call: String) -> RuntimeError {
        .file(path: path, reason: "\(call) failed: \(String(cString: strerror(errno)))")
    }
}
