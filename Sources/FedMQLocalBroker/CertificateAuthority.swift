import Foundation

/// A throwaway certificate authority made with `openssl` in a folder: a CA, a broker
/// certificate for 127.0.0.1/localhost, and client certificates on request. Keys are
/// unencrypted and the folder is private to the test or demo that made it.
public struct CertificateAuthority: Sendable {
    public let directory: URL
    public var caCertificate: String { directory.appendingPathComponent("ca.crt").path }
    public var caKey: String { directory.appendingPathComponent("ca.key").path }

    /// Makes a new CA in `directory` (created if missing).
    public init(directory: URL, name: String = "FedMQ test CA") throws(LocalBrokerError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .file(path: directory.path, reason: "\(error)")
        }
        try Programs.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", caKey, "-out", caCertificate, "-days", "3650", "-subj", "/CN=\(name)",
            ])
    }

    /// The CA already in `directory` (its `ca.crt` and `ca.key`), to issue more certificates.
    public init(existing directory: URL) throws(LocalBrokerError) {
        self.directory = directory
        for path in [caCertificate, caKey] where !FileManager.default.fileExists(atPath: path) {
            throw .file(path: path, reason: "missing: not a CA made by fedmq deploy init")
        }
    }

    /// Issues a certificate signed by this CA; returns the certificate and key paths.
    /// `hosts` become subject alternative names (IP addresses or DNS names).
    public func issue(commonName: String, hosts: [String] = []) throws(LocalBrokerError) -> (certificate: String, key: String) {
        let base = directory.appendingPathComponent(commonName).path
        let (certificate, key, request, extensions) = (base + ".crt", base + ".key", base + ".csr", base + ".ext")
        try Programs.run(
            "openssl",
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key, "-out", request, "-subj", "/CN=\(commonName)",
            ])
        var signing = [
            "x509", "-req", "-in", request, "-CA", caCertificate, "-CAkey", caKey, "-CAcreateserial",
            "-out", certificate, "-days", "825", "-sha256",
        ]
        if !hosts.isEmpty {
            let names = hosts.map { $0.first?.isNumber == true ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
            do {
                try "subjectAltName=\(names)\n".write(toFile: extensions, atomically: true, encoding: .utf8)
            } catch {
                throw .file(path: extensions, reason: "\(error)")
            }
            signing += ["-extfile", extensions]
        }
        try Programs.run("openssl", signing)
        try? FileManager.default.removeItem(atPath: request)
        try? FileManager.default.removeItem(atPath: extensions)
        return (certificate, key)
    }
}
