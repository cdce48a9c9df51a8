import FedMQCommandLine
import FedMQProtocol

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
    /// Most messages the broker queues for one client: `BrokerSizing.queuedMessages(forAgents:)`.
    var maxQueuedMessages = 10_000

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
        # Bounded queues, with room for the end-of-round burst to the aggregator: about four
        # messages per agent (update, two statuses, evaluation), and every update's bytes.
        # mosquitto drops what exceeds either limit, and a dropped update does not count:
        # raise both when the fleet or the model grows (see docs/scaling.md).
        max_queued_messages \(maxQueuedMessages)
        max_queued_bytes \(maxQueuedBytes)
        max_inflight_messages 20

        log_dest stdout
        log_type error
        log_type warning
        log_type notice
        connection_messages true

        """
    }

    /// Installs the broker's files where `mosquitto.conf` says they are, readable by the user
    /// mosquitto switches to (it loads the certificates and the ACL after dropping root), and
    /// makes the persistence directory that user's.
    var installScript: String {
        """
        #!/bin/sh
        # Written by `fedmq deploy init`: run as root on the broker host, from anywhere.
        set -eu
        here="$(cd "$(dirname "$0")" && pwd)"
        target='\(directory)'
        group="$(id -gn '\(user)')"
        install -d -o root -g "$group" -m 0750 "$target"
        if [ "$here" != "$(cd "$target" && pwd)" ]; then
            cp "$here/ca.crt" "$here/broker.crt" "$here/broker.key" "$here/mosquitto.conf" "$here/acl" "$target/"
        fi
        chown root:"$group" "$target/ca.crt" "$target/broker.crt" "$target/broker.key" "$target/mosquitto.conf" "$target/acl"
        chmod 0644 "$target/ca.crt" "$target/broker.crt" "$target/mosquitto.conf"
        chmod 0640 "$target/broker.key" "$target/acl"
        install -d -o '\(user)' -g "$group" -m 0750 '\(persistenceDirectory)'
        echo "Installed in $target; start the broker with: mosquitto -c $target/mosquitto.conf"

        """
    }

    /// Agents may write only their own update, evaluation, status and secure-aggregation
    /// topics and read the global model and round, their own secure-aggregation inbox, the
    /// unmask requests and the key holder's key; only the aggregator writes `global/#`,
    /// `metrics`, `aggregator/status`, the inboxes and decryption requests; only the key holder
    /// writes its key and the sums, and it reads nothing but the requests (never an update);
    /// the observer reads everything. Each agent has a block of its own, by
    /// its certificate's name: a certificate for any other name gets nothing (and Mosquitto
    /// warns about patterns without `%u`, which the shared reads would need).
    static func acl(agents: [String]) -> String {
        """
        # FedMQ ACL, written by `fedmq deploy init` (and `fedmq deploy add-agent`). User names
        # are certificate CNs.
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
        topic read fedmq/v1/+/he/key
        topic write fedmq/v1/+/round/+/he/request
        topic read fedmq/v1/+/round/+/he/sum

        user fedmq-keyholder
        topic write fedmq/v1/+/he/key
        topic write fedmq/v1/+/he/keyholder/status
        topic read fedmq/v1/+/round/+/he/request
        topic write fedmq/v1/+/round/+/he/sum

        user fedmq-observer
        topic read fedmq/v1/#

        """ + agents.map(agentBlock).joined()
    }

    /// One agent's rules: its own update, evaluation, status and secure-aggregation topics and
    /// inbox, and the model, round and unmask requests every agent reads.
    static func agentBlock(_ agent: String) -> String {
        """

        user \(agent)
        topic write fedmq/v1/+/round/+/update/\(agent)
        topic write fedmq/v1/+/round/+/eval/\(agent)
        topic readwrite fedmq/v1/+/status/\(agent)
        topic read fedmq/v1/+/global/#
        topic write fedmq/v1/+/round/+/secagg/+/\(agent)
        topic read fedmq/v1/+/round/+/secagg/inbox/\(agent)/#
        topic read fedmq/v1/+/round/+/secagg/unmask
        topic read fedmq/v1/+/he/key

        """
    }
}
