#!/usr/bin/env python3
"""A small 1D convolutional network for sensor windows, in numpy alone, as an external model.

FedMQ does not need to know this architecture: the job's model spec is `external` (tensor
names and shapes only), this program trains it on the agents (`trainer` in an agent config)
and evaluates it beside the aggregator (`evaluation_command` in the aggregator config).

The network, with PyTorch's names and layouts (so a PyTorch state dict of the same model loads
as it is):
  conv.weight (filters, channels, kernel), conv.bias (filters)  -- Conv1d, stride 1, no padding
  ReLU, global average pooling over time
  fc.weight (classes, filters), fc.bias (classes)               -- Linear
trained with softmax cross-entropy and SGD with momentum, as the round's `training` asks.

Rows are channel-major windows (all of channel 0's readings, then channel 1's, ...), the
layout `fedmq windows` writes, with the label in the last column or in a column named `label`.

Commands:
  numpy_cnn.py init OUT.safetensors --channels C --classes K [--filters F] [--kernel K] [--seed S]
      writes initial weights (He-uniform), for `fedmq model import --external`
  numpy_cnn.py train
      the agent's trainer: reads round.json and global.safetensors from $FEDMQ_WORK_DIR,
      writes trained.safetensors and result.json there
  numpy_cnn.py evaluate [DATA.csv]
      the aggregator's evaluation command: reads model.safetensors from $FEDMQ_WORK_DIR and the
      data from DATA.csv or else $FEDMQ_EVALUATION_CSV (the aggregator's evaluation_csv),
      writes evaluation.json there ({"examples", "loss", "accuracy"})
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file


def refuse_unsupported(training, supported):
    """Exits, naming them, when the round asks for settings this trainer does not implement:
    training without them would quietly be other training than the job asked for."""
    asked = [key for key in ("weight_decay", "proximal_mu", "augmentation", "dp_sgd") if training.get(key) and key not in supported]
    if asked:
        sys.exit(f"this trainer does not implement {', '.join(asked)}, which the round asks for")


def load_rows(path, features=None):
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    header = rows[0]
    try:
        [float(cell) for cell in header]
        body, label_column = rows, len(header) - 1
    except ValueError:
        body = rows[1:]
        label_column = header.index("label") if "label" in header else len(header) - 1
    data = np.array([[float(cell) for cell in row] for row in body], dtype=np.float32)
    labels = data[:, label_column].astype(np.int64)
    inputs = np.delete(data, label_column, axis=1)
    if features is not None and inputs.shape[1] % features != 0:
        sys.exit(f"{path}: {inputs.shape[1]} readings per row do not split into {features} channels")
    return inputs, labels


def windows(inputs, channels):
    """(rows, channels * length) -> (rows, channels, length)."""
    return inputs.reshape(inputs.shape[0], channels, -1)


def forward(params, x):
    """Logits and what the backward pass needs. x: (n, channels, length)."""
    filters, channels, kernel = params["conv.weight"].shape
    steps = x.shape[2] - kernel + 1
    if steps < 1:
        sys.exit(f"windows of {x.shape[2]} readings are shorter than the kernel ({kernel})")
    # patches[n, t, c * kernel + k] = x[n, c, t + k]
    index = np.arange(steps)[:, None] + np.arange(kernel)[None, :]
    patches = x[:, :, index].transpose(0, 2, 1, 3).reshape(x.shape[0], steps, channels * kernel)
    conv = patches @ params["conv.weight"].reshape(filters, -1).T + params["conv.bias"]
    active = np.maximum(conv, 0)
    pooled = active.mean(axis=1)
    logits = pooled @ params["fc.weight"].T + params["fc.bias"]
    return logits, (patches, conv, pooled)


def loss_and_gradient(params, x, labels):
    logits, (patches, conv, pooled) = forward(params, x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.log(probabilities[np.arange(n), labels] + 1e-12).mean()
    d_logits = probabilities
    d_logits[np.arange(n), labels] -= 1
    d_logits /= n
    gradient = {"fc.weight": d_logits.T @ pooled, "fc.bias": d_logits.sum(axis=0)}
    d_pooled = d_logits @ params["fc.weight"]
    d_conv = (conv > 0) * d_pooled[:, None, :] / conv.shape[1]
    gradient["conv.bias"] = d_conv.sum(axis=(0, 1))
    gradient["conv.weight"] = np.einsum("ntf,ntp->fp", d_conv, patches).reshape(params["conv.weight"].shape)
    return loss, gradient


def read_model(path):
    params = {name: value.astype(np.float32) for name, value in load_file(path).items()}
    missing = {"conv.weight", "conv.bias", "fc.weight", "fc.bias"} - params.keys()
    if missing:
        sys.exit(f"{path}: no tensor(s) {', '.join(sorted(missing))}")
    return params


def init(arguments):
    rng = np.random.default_rng(arguments.seed)
    fan_in = arguments.channels * arguments.kernel
    params = {
        "conv.weight": rng.uniform(-1, 1, (arguments.filters, arguments.channels, arguments.kernel)) * np.sqrt(6 / fan_in),
        "conv.bias": np.zeros(arguments.filters),
        "fc.weight": rng.uniform(-1, 1, (arguments.classes, arguments.filters)) * np.sqrt(6 / arguments.filters),
        "fc.bias": np.zeros(arguments.classes),
    }
    save_file({name: value.astype(np.float32) for name, value in params.items()}, arguments.out)


def train():
    work = os.environ["FEDMQ_WORK_DIR"]
    with open(os.path.join(work, "round.json")) as handle:
        round_config = json.load(handle)
    training = round_config["training"]
    refuse_unsupported(training, supported=())
    params = read_model(os.path.join(work, round_config["global_model"]))
    if not round_config.get("data_csv"):
        sys.exit("round.json names no data_csv: set data_csv in the agent's config")
    channels = params["conv.weight"].shape[1]
    inputs, labels = load_rows(round_config["data_csv"], channels)
    x = windows(inputs, channels)
    if labels.min() < 0 or labels.max() >= params["fc.bias"].shape[0]:
        sys.exit(f"{round_config['data_csv']}: labels must lie in 0..{params['fc.bias'].shape[0] - 1}")
    rng = np.random.default_rng(round_config["seed"])
    velocity = {name: np.zeros_like(value) for name, value in params.items()}
    rate, momentum, batch = training["learning_rate"], training.get("momentum", 0.0), training["batch_size"]
    losses = []
    for _ in range(training["epochs"]):
        order = rng.permutation(len(labels))
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            loss, gradient = loss_and_gradient(params, x[rows], labels[rows])
            losses.append(loss)
            for name in params:
                velocity[name] = momentum * velocity[name] + gradient[name]
                params[name] = (params[name] - rate * velocity[name]).astype(np.float32)
    save_file(params, os.path.join(work, round_config["trained_model"]))
    with open(os.path.join(work, round_config["result"]), "w") as handle:
        json.dump({"examples": int(len(labels)), "metrics": {"train_loss": float(np.mean(losses))}}, handle)


def evaluate(data_csv):
    work = os.environ["FEDMQ_WORK_DIR"]
    params = read_model(os.path.join(work, "model.safetensors"))
    channels = params["conv.weight"].shape[1]
    inputs, labels = load_rows(data_csv, channels)
    logits, _ = forward(params, windows(inputs, channels))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    result = {
        "examples": int(len(labels)),
        "loss": float(-log_probabilities[np.arange(len(labels)), labels].mean()),
        "accuracy": float((logits.argmax(axis=1) == labels).mean()),
    }
    with open(os.path.join(work, "evaluation.json"), "w") as handle:
        json.dump(result, handle)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("init", help="write initial weights")
    make.add_argument("out")
    make.add_argument("--channels", type=int, required=True)
    make.add_argument("--classes", type=int, required=True)
    make.add_argument("--filters", type=int, default=8)
    make.add_argument("--kernel", type=int, default=5)
    make.add_argument("--seed", type=int, default=0)
    commands.add_parser("train", help="train one round (the agent's trainer)")
    check = commands.add_parser("evaluate", help="evaluate the global model (the aggregator's evaluation command)")
    check.add_argument("data_csv", nargs="?", help="default: $FEDMQ_EVALUATION_CSV")
    arguments = parser.parse_args()
    if arguments.command == "init":
        init(arguments)
    elif arguments.command == "train":
        train()
    else:
        data_csv = arguments.data_csv or os.environ.get("FEDMQ_EVALUATION_CSV")
        if not data_csv:
            sys.exit("evaluate: give DATA.csv, or evaluation_csv in the aggregator's config")
        evaluate(data_csv)


if __name__ == "__main__":
    main()
