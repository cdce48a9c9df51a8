#!/usr/bin/env python3
"""Flower 1.42 client k of the shared task: one epoch of SGD on its shard per round.

    client.py --port P --split iid|noniid --client K
"""
import argparse

import flwr as fl

from task import DATA, load, train_one_epoch


class TaskClient(fl.client.NumPyClient):
    def __init__(self, x, y, client):
        self.x, self.y, self.client = x, y, client

    def fit(self, parameters, config):
        trained = train_one_epoch(parameters, self.x, self.y, int(config["round"]), self.client)
        return trained, len(self.y), {}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--split", choices=["iid", "noniid"], required=True)
    parser.add_argument("--client", type=int, required=True)
    args = parser.parse_args()
    x, y = load(DATA / args.split / f"client_{args.client}.csv")
    fl.client.start_client(
        server_address=f"127.0.0.1:{args.port}", client=TaskClient(x, y, args.client).to_client(), insecure=True)


if __name__ == "__main__":
    main()
