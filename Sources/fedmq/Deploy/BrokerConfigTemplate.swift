import FedMQCommandLine

/// The production Mosquitto configuration and ACL for a FedMQ site. `deploy/mosquitto.conf`
/// and `deploy/acl` in the repository are these, rendered for the standard paths.
struct BrokerConfigTemplate {
    /// Where the broker's certificates and ACL live.
    var directory = "/etc/mosquitto/fedmq"
    var persistenceDirectory = "/var/lib/mosquitto/"
    var listenAddress = "0.0.0.0"
    var port = 8883
    /// The user mosquitto switches to when started as root.
    var user = "mosquitto"
    /// Largest MQTT packet: the biggest model or update plus headroom.
    var maxPacketBytes = 64 << 20
    /// Most bytes the broker queues for one client (a slow or absent aggregator, a stuck agent).
    var maxQueuedBytes = 1 << 30

    var mosquittoConf: String {
        """
        # FedMQ production broker (Mosquitto 2.0), written by `fedmq deploy init`.
        # TLS only; every client authenticates with a certificate from the FedMQ CA, and its
        # certificate's CN becomes its user name, which the ACL uses.
        per_listener_settings false
        allow_anonymous false
        user \(user)

        listener \(port) \(listenAddress)
        cafile \(directory)/ca.crt
        certfile \(directory)/broker.crt
        keyfile \(directory)/broker.key
        tls_version tlsv1.2
        require_certificate true
        use_identity_as_username true
        # The client id is the certificate's name too: no client can take over another's
        # session (the aggregator's, or an agent's) by connecting with its id.
        use_username_as_clientid true

        acl_file \(directory)/acl

        # Retained models and rounds survive a broker restart; save often, because a killed
        # broker loses what it has not saved (the aggregator also republishes its state).
        persistence true
        persistence_location \(persistenceDirectory)
        autosave_interval 60

        # Without it, small deliveries (acks, the retained model to a new subscriber) wait ~40 ms.
        set_tcp_nodelay true
        # MQTT 5 clients refuse bigger publishes locally with a clear error.
        max_packet_size \(maxPacketBytes)
        # Bounded queues: enough for a burst of updates to the aggregator, but bounded.
        max_queued_messages 10000
        max_queued_bytes \(maxQueuedBytes)
        max_inflight_messages 20

        log_dest stdout
        log_type error
        log_type warning
        log_type notice
        connection_messages true

        """
    }

    /// Agents may write only their own update, evaluation, status and secure-aggregation
    /// topics and read the global model and round, their own secure-aggregation inbox and the
    /// unmask requests; only the aggregator writes `global/#`, `metrics`, `aggregator/status`
    /// and the inboxes; the observer reads everything.
    static let acl = """
        # FedMQ ACL, written by `fedmq deploy init`. User names are certificate CNs.
        user fedmq-aggregator
        topic readwrite fedmq/v1/+/global/#
        topic readwrite fedmq/v1/+/metrics
        topic readwrite fedmq/v1/+/aggregator/status
        topic read fedmq/v1/+/round/+/update/+
        topic read fedmq/v1/+/round/+/eval/+
        topic read fedmq/v1/+/status/+
        topic read fedmq/v1/+/round/+/secagg/+/+
        topic write fedmq/v1/+/round/+/secagg/inbox/#
        topic write fedmq/v1/+/round/+/secagg/unmask

        user fedmq-observer
        topic read fedmq/v1/#

        # Every agent (by its own user name).
        pattern write fedmq/v1/+/round/+/update/%u
        pattern write fedmq/v1/+/round/+/eval/%u
        pattern readwrite fedmq/v1/+/status/%u
        pattern read fedmq/v1/+/global/#
        # Secure aggregation: its own keys, shares, masked update and reveal; its own inbox only.
        pattern write fedmq/v1/+/round/+/secagg/+/%u
        pattern read fedmq/v1/+/round/+/secagg/inbox/%u/#
        pattern read fedmq/v1/+/round/+/secagg/unmask

        """
}
