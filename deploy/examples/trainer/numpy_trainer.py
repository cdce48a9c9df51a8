#!/usr/bin/env python3
"""An external trainer for fedmq-agent, written with numpy alone.

fedmq-agent starts it once per round in a private work folder holding `round.json` and
`global.safetensors`; it writes `trained.safetensors` and `result.json` there and exits 0.
It trains FedMQ's dense models (softmax regression, an MLP with ReLU, linear regression) the
way the round asks (learning rate, momentum, batch size, epochs) on the CSV named in
`round.json` (`data_csv`, label in the last column, or in a column named `label`).

Any framework works the same way: read the tensors of `global.safetensors` by name (W1, b1,
W2, b2, ...; weights are (in, out)), train, write every tensor back with the same name and
shape. Exit with a non-zero status (and a message on stderr) when something is wrong: the
agent gives the round up and reports the message in its status.

Options (after the script's name in the agent's `trainer.command`):
  --fail       exit with status 3 at once (to see how an agent reports a failing trainer)
  --hang       never finish (to see the agent's timeout)
"""
import csv
import json
import os
import sys
import time

import numpy as np
from safetensors.numpy import load_file, save_file


def refuse_unsupported(training, supported):
    """Exits, naming them, when the round asks for settings this trainer does not implement:
    training without them would quietly be other training than the job asked for."""
    asked = [key for key in ("weight_decay", "proximal_mu", "augmentation", "dp_sgd") if training.get(key) and key not in supported]
    if asked:
        sys.exit(f"this trainer does not implement {', '.join(asked)}, which the round asks for")


def load_rows(path, features):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    try:
        [float(cell) for cell in header]
        body = rows
        label_column = len(header) - 1
    except ValueError:
        body = rows[1:]
        label_column = header.index("label") if "label" in header else len(header) - 1
    data = np.array([[float(cell) for cell in row] for row in body], dtype=np.float32)
    labels = data[:, label_column]
    inputs = np.delete(data, label_column, axis=1)
    if inputs.shape[1] != features:
        sys.exit(f"{path}: {inputs.shape[1]} features, the model takes {features}")
    return inputs, labels


def forward(params, layers, x):
    activations = [x]
    for index, (weight, bias) in enumerate(layers):
        z = activations[-1] @ params[weight] + params[bias]
        activations.append(np.maximum(z, 0) if index < len(layers) - 1 else z)
    return activations


def main():
    if "--fail" in sys.argv:
        print("asked to fail (--fail)", file=sys.stderr)
        sys.exit(3)
    if "--hang" in sys.argv:
        while True:
            time.sleep(1)
    work = os.environ["FEDMQ_WORK_DIR"]
    with open(os.path.join(work, "round.json")) as handle:
        round_config = json.load(handle)
    spec = round_config["model_spec"]
    training = round_config["training"]
    refuse_unsupported(training, supported=())
    params = {name: value.astype(np.float32) for name, value in load_file(os.path.join(work, round_config["global_model"])).items()}
    names = [tensor["name"] for tensor in round_config["tensors"]]
    layers = list(zip(names[0::2], names[1::2]))
    if not round_config.get("data_csv"):
        sys.exit("round.json names no data_csv: set data_csv in the agent's config")
    x, y = load_rows(round_config["data_csv"], spec["inputs"])
    if spec.get("scaling"):
        x = (x - np.array(spec["scaling"]["mean"], dtype=np.float32)) / np.array(spec["scaling"]["std"], dtype=np.float32)
    classify = spec["kind"] != "linear_regression"
    rng = np.random.default_rng(round_config["seed"])
    velocity = {name: np.zeros_like(value) for name, value in params.items()}
    rate, momentum, batch = training["learning_rate"], training.get("momentum", 0.0), training["batch_size"]
    losses = []
    for _ in range(training["epochs"]):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            rows = order[start:start + batch]
            activations = forward(params, layers, x[rows])
            out = activations[-1]
            if classify:
                shifted = np.exp(out - out.max(axis=1, keepdims=True))
                probabilities = shifted / shifted.sum(axis=1, keepdims=True)
                target = np.eye(out.shape[1], dtype=np.float32)[y[rows].astype(int)]
                losses.append(float(-np.log(np.maximum((probabilities * target).sum(axis=1), 1e-12)).mean()))
                grad = (probabilities - target) / len(rows)
            else:
                error = out[:, 0] - y[rows]
                losses.append(float((error ** 2).mean()))
                grad = (2 * error / len(rows))[:, None]
            for index in reversed(range(len(layers))):
                weight, bias = layers[index]
                gradients = {weight: activations[index].T @ grad, bias: grad.sum(axis=0)}
                if index > 0:
                    grad = (grad @ params[weight].T) * (activations[index] > 0)
                for name, gradient in gradients.items():
                    velocity[name] = momentum * velocity[name] + gradient
                    params[name] = params[name] - rate * velocity[name]
    save_file({name: params[name].astype(np.float32) for name in names}, os.path.join(work, round_config["trained_model"]))
    with open(os.path.join(work, round_config["result"]), "w") as handle:
        json.dump({"examples": int(len(x)), "metrics": {"train_loss": float(np.mean(losses)) if losses else 0.0}}, handle)


if __name__ == "__main__":
    main()
