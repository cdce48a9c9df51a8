#!/usr/bin/env python3
"""One epoch of MLP training in numpy or PyTorch, the same math as `fedmq bench train`.

MLP 784-128-10 (ReLU), mean softmax cross-entropy, plain SGD (lr 0.01), batch 64, rows
shuffled once per epoch, float32, one thread. Prints {"samples_per_second": [...]} with one
figure per run; only the epoch itself is timed.

    train_peer.py numpy|torch ROWS RUNS
"""
import json
import os
import sys
import time

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import numpy as np  # noqa: E402

INPUTS, HIDDEN, CLASSES, BATCH, RATE = 784, 128, 10, 64, 0.01


def data(rows):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, INPUTS), dtype=np.float32)
    y = rng.integers(0, CLASSES, rows)
    return x, y


def numpy_epoch(x, y, rng):
    w1 = rng.uniform(-np.sqrt(6 / INPUTS), np.sqrt(6 / INPUTS), (INPUTS, HIDDEN)).astype(np.float32)
    b1 = np.zeros(HIDDEN, np.float32)
    w2 = rng.uniform(-np.sqrt(6 / HIDDEN), np.sqrt(6 / HIDDEN), (HIDDEN, CLASSES)).astype(np.float32)
    b2 = np.zeros(CLASSES, np.float32)
    start = time.perf_counter()
    order = rng.permutation(len(x))
    for begin in range(0, len(x), BATCH):
        index = order[begin:begin + BATCH]
        xb, yb = x[index], y[index]
        z1 = xb @ w1 + b1
        h = np.maximum(z1, 0)
        logits = h @ w2 + b2
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(yb)), yb] -= 1
        dz2 = p / len(yb)
        dw2 = h.T @ dz2
        db2 = dz2.sum(axis=0)
        dh = dz2 @ w2.T
        dh[z1 <= 0] = 0
        dw1 = xb.T @ dh
        db1 = dh.sum(axis=0)
        w1 -= RATE * dw1
        b1 -= RATE * db1
        w2 -= RATE * dw2
        b2 -= RATE * db2
    return time.perf_counter() - start


def torch_epoch(x, y, rng):
    import torch

    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Linear(INPUTS, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, CLASSES))
    optimizer = torch.optim.SGD(model.parameters(), lr=RATE)
    loss_function = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    start = time.perf_counter()
    order = torch.from_numpy(rng.permutation(len(x)))
    for begin in range(0, len(x), BATCH):
        index = order[begin:begin + BATCH]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_function(model(xt[index]), yt[index])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main():
    framework, rows, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    x, y = data(rows)
    epoch = numpy_epoch if framework == "numpy" else torch_epoch
    rng = np.random.default_rng(1)
    epoch(x[: BATCH * 20], y[: BATCH * 20], rng)  # warm-up: imports, first allocations
    rates = [rows / epoch(x, y, rng) for _ in range(runs)]
    print(json.dumps({"samples_per_second": rates}))


if __name__ == "__main__":
    main()
