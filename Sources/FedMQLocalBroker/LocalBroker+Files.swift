import Foundation

extension LocalBroker {
    /// Writes mosquitto.conf and, as configured, the password file, ACL file and certificates.
    func writeFiles() throws(LocalBrokerError) {
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        } catch {
            throw .file(path: directory.path, reason: "\(error)")
        }
        var lines = [
            "# Written by FedMQLocalBroker for a private test broker.",
            "per_listener_settings false",
            "allow_anonymous \(configuration.allowAnonymous)",
            // Without it, the broker delays small deliveries by about 40 ms (Nagle).
            "set_tcp_nodelay true",
            "log_dest file \(logFile)",
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "connection_messages true",
        ]
        // As root, mosquitto would switch to the 'mosquitto' user, which cannot read our files.
        if geteuid() == 0 { lines.append("user root") }
        if configuration.persistence {
            lines += [
                "persistence true",
                "persistence_location \(directory.appendingPathComponent("data").path)/",
                "autosave_interval \(configuration.autosaveInterval)",
            ]
        }
        if let size = configuration.maxPacketSize { lines.append("max_packet_size \(size)") }
        if !configuration.users.isEmpty {
            let passwords = directory.appendingPathComponent("passwd").path
            try write("", to: passwords)
            for (user, password) in configuration.users.sorted(by: { $0.key < $1.key }) {
                try Programs.run("mosquitto_passwd", ["-b", passwords, user, password])
            }
            lines.append("password_file \(passwords)")
        }
        if let rules = configuration.aclRules {
            let acl = directory.appendingPathComponent("acl").path
            try write(rules.joined(separator: "\n") + "\n", to: acl)
            lines.append("acl_file \(acl)")
        }
        lines += configuration.extraLines
        lines.append("listener \(port) 127.0.0.1")
        if let tlsPort, let authority = certificateAuthority {
            let server = try authority.issue(commonName: "broker", hosts: ["127.0.0.1", "localhost"])
            lines += [
                "listener \(tlsPort) 127.0.0.1",
                "cafile \(authority.caCertificate)",
                "certfile \(server.certificate)",
                "keyfile \(server.key)",
                "tls_version tlsv1.2",
            ]
            if configuration.requireClientCertificates {
                lines += ["require_certificate true", "use_identity_as_username true"]
            }
        }
        try write(lines.joined(separator: "\n") + "\n", to: configFile)
    }

    private func write(_ text: String, to path: String) throws(LocalBrokerError) {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw .file(path: path, reason: "\(error)")
        }
    }
}
