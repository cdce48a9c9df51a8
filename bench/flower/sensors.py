#!/usr/bin/env python3
"""The Flower 1.42 + PyTorch side of `make bench-sensors`: the same sequential CNN as FedMQ's
job (built from FedMQ's spec by examples/pytorch/fedmq_torch.py, so the state dicts match), from
the same initial weights, trained with the same hyper-parameters on the same shards.

    sensors.py server --port P --spec SPEC.json --initial INITIAL.safetensors --test TEST.csv --rounds R --out RESULT.json
    sensors.py client --port P --spec SPEC.json --data SHARD.csv --training TRAINING.json --client K
    sensors.py central --spec SPEC.json --initial INITIAL.safetensors --train TRAIN.csv --test TEST.csv --training TRAINING.json --epochs E --out RESULT.json

The server writes {"accuracy": [...], "loss": [...], "all_connected": T, "evaluated": [...]}
like bench/flower/server.py.
"""
import argparse
import json
import pathlib
import sys
import time

import flwr as fl
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent.parent / "examples" / "pytorch"))
import fedmq_torch  # noqa: E402
from server import serve as serve_fedavg  # noqa: E402


def model_from(spec, initial=None):
    model = fedmq_torch.build(spec)
    if initial:
        model.load_state_dict(load_file(initial))
    return model


def weights(model):
    return [value.detach().numpy().copy() for value in model.state_dict().values()]


def load_weights(model, arrays):
    model.load_state_dict({name: torch.from_numpy(array) for name, array in zip(model.state_dict().keys(), arrays)})


class SensorClient(fl.client.NumPyClient):
    def __init__(self, spec, data, training, client):
        self.spec, self.training, self.client = spec, training, client
        self.features, self.labels = fedmq_torch.load_rows(data)
        self.model = model_from(spec)

    def fit(self, parameters, config):
        load_weights(self.model, parameters)
        seed = 1000 * int(config["round"]) + self.client
        fedmq_torch.train(self.model, self.spec, self.features, self.labels, self.training, seed)
        return weights(self.model), len(self.labels), {}


def serve(args, spec):
    model = model_from(spec, args.initial)
    test = fedmq_torch.load_rows(args.test)
    curve = {"accuracy": [], "loss": [], "evaluated": []}

    def central_evaluation(server_round, parameters, config):
        load_weights(model, parameters)
        accuracy, loss = fedmq_torch.evaluate(model, spec, *test)
        curve["accuracy"].append(accuracy)
        curve["loss"].append(loss)
        curve["evaluated"].append(time.time())
        return loss, {"accuracy": accuracy}

    curve["all_connected"] = serve_fedavg(args.port, args.rounds, args.clients, weights(model), central_evaluation)
    pathlib.Path(args.out).write_text(json.dumps(curve))


def central(args, spec, training):
    model = model_from(spec, args.initial)
    features, labels = fedmq_torch.load_rows(args.train)
    for epoch in range(args.epochs):
        fedmq_torch.train(model, spec, features, labels, {**training, "epochs": 1}, epoch)
    accuracy, loss = fedmq_torch.evaluate(model, spec, *fedmq_torch.load_rows(args.test))
    pathlib.Path(args.out).write_text(json.dumps({"accuracy": accuracy, "loss": loss}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["server", "client", "central"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--initial")
    parser.add_argument("--data")
    parser.add_argument("--train")
    parser.add_argument("--test")
    parser.add_argument("--training")
    parser.add_argument("--client", type=int, default=0)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as FedMQ's agents and trainer: one thread per process
    spec = json.loads(pathlib.Path(args.spec).read_text())
    training = json.loads(pathlib.Path(args.training).read_text()) if args.training else None
    if args.mode == "server":
        serve(args, spec)
    elif args.mode == "client":
        fl.client.start_client(
            server_address=f"127.0.0.1:{args.port}",
            client=SensorClient(spec, args.data, training, args.client).to_client(), insecure=True)
    else:
        central(args, spec, training)


if __name__ == "__main__":
    main()
