#!/usr/bin/env python3
"""Flower 1.42 server for the shared task: FedAvg over 10 clients, central evaluation each round.

    server.py --port P --model logreg|mlp --rounds R --out RESULT.json [--clients N]

Writes {"accuracy": [...], "loss": [...], "all_connected": T, "evaluated": [T0, ..., TR]}
(index 0 = before round 1; times are time.time()).
"""
import argparse
import json
import time

import flwr as fl
from flwr.server.client_manager import SimpleClientManager

from task import DATA, evaluate, initial_parameters, load


class TimedClientManager(SimpleClientManager):
    """Notes when the expected number of clients has registered: the start of the timed rounds."""

    def __init__(self, expected):
        super().__init__()
        self.expected = expected
        self.all_connected = None

    def register(self, client):
        registered = super().register(client)
        if self.all_connected is None and self.num_available() >= self.expected:
            self.all_connected = time.time()
        return registered


def serve(port, rounds, clients, initial, evaluate_fn):
    """FedAvg over `clients` clients for `rounds` rounds from `initial` (numpy arrays), all of
    them training every round and none evaluating, `evaluate_fn` evaluating centrally; returns
    when all clients registered (time.time())."""
    strategy = fl.server.strategy.FedAvg(
        fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=clients, min_evaluate_clients=0,
        min_available_clients=clients, evaluate_fn=evaluate_fn,
        on_fit_config_fn=lambda server_round: {"round": server_round},
        initial_parameters=fl.common.ndarrays_to_parameters(initial))
    manager = TimedClientManager(clients)
    fl.server.start_server(
        server_address=f"127.0.0.1:{port}", config=fl.server.ServerConfig(num_rounds=rounds), strategy=strategy,
        client_manager=manager)
    return manager.all_connected


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", choices=["logreg", "mlp"], required=True)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    x_test, y_test = load(DATA / "test.csv")
    curve = {"accuracy": [], "loss": [], "evaluated": []}

    def central_evaluation(server_round, parameters, config):
        accuracy, loss = evaluate(parameters, x_test, y_test)
        curve["accuracy"].append(accuracy)
        curve["loss"].append(loss)
        curve["evaluated"].append(time.time())
        return loss, {"accuracy": accuracy}

    curve["all_connected"] = serve(args.port, args.rounds, args.clients, initial_parameters(args.model), central_evaluation)
    with open(args.out, "w") as out:
        json.dump(curve, out)


if __name__ == "__main__":
    main()
