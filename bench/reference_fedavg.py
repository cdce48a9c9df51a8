#!/usr/bin/env python3
"""Reference run of the shared task's FedAvg in numpy, for FedMQ's parity test.

Follows bench/task/TASK.md sections 3-5 exactly: float32, zero-initialised logistic
regression (or the MLP from the committed init files), one epoch of SGD per client and round
(batch 32, lr 0.1), SplitMix64 shuffles seeded 1000*round + client, FedAvg weighted by shard
size, central evaluation after every round. Prints JSON: {"accuracy": [...], "loss": [...]},
index 0 being the model before round 1.

    .venv/bin/python bench/reference_fedavg.py logreg|mlp iid|noniid [ROUNDS]
"""
import json
import pathlib
import sys

import numpy as np

DATA = pathlib.Path(__file__).resolve().parent / "task" / "data"
MASK = (1 << 64) - 1


def splitmix_permutation(n, seed):
    state = seed
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        j = z % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def load(path):
    table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    return table[:, :-1].astype(np.float32), table[:, -1].astype(np.int64)


def forward(params, x):
    if len(params) == 2:
        return [x], x @ params[0] + params[1]
    z1 = x @ params[0] + params[1]
    h = np.maximum(z1, 0)
    return [x, z1, h], h @ params[2] + params[3]


def gradients(params, x, y):
    cache, logits = forward(params, x)
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    dz = (p / np.float32(len(y))).astype(np.float32)
    if len(params) == 2:
        return [cache[0].T @ dz, dz.sum(axis=0)]
    x, z1, h = cache
    dh = dz @ params[2].T
    dh[z1 <= 0] = 0
    return [x.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]


def evaluate(params, x, y):
    _, logits = forward(params, x)
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float((logits.argmax(axis=1) == y).mean()), float(-log_probs[np.arange(len(y)), y].mean())


def main():
    model, split = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    clients = [load(DATA / split / f"client_{k}.csv") for k in range(10)]
    x_test, y_test = load(DATA / "test.csv")
    if model == "logreg":
        params = [np.zeros((64, 10), np.float32), np.zeros(10, np.float32)]
    else:
        params = [np.loadtxt(DATA / f"mlp_init_{n}.csv", delimiter=",", dtype=np.float32, ndmin=2) for n in ("W1", "b1", "W2", "b2")]
        params[1], params[3] = params[1].reshape(-1), params[3].reshape(-1)
    accuracy, loss = evaluate(params, x_test, y_test)
    curve = {"accuracy": [accuracy], "loss": [loss]}
    rate = np.float32(0.1)
    for r in range(1, rounds + 1):
        total = sum(len(y) for _, y in clients)
        new = [np.zeros_like(p) for p in params]
        for k, (x, y) in enumerate(clients):
            local = [p.copy() for p in params]
            order = splitmix_permutation(len(y), 1000 * r + k)
            for start in range(0, len(order), 32):
                batch = order[start:start + 32]
                for p, g in zip(local, gradients(local, x[batch], y[batch])):
                    p -= rate * g
            for n, p in zip(new, local):
                n += np.float32(len(y) / total) * p
        params = new
        accuracy, loss = evaluate(params, x_test, y_test)
        curve["accuracy"].append(accuracy)
        curve["loss"].append(loss)
    print(json.dumps(curve))


if __name__ == "__main__":
    main()
