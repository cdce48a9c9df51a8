"""The shared task's data, models and local training for the Flower side of `make bench-flower`.

The math is bench/reference_fedavg.py's (TASK.md sections 3-4); this module only loads the
files and runs one client's epoch, so the Flower clients train exactly like FedMQ's agents.
"""
import pathlib
import sys

import numpy as np

BENCH = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))

from reference_fedavg import DATA, evaluate, gradients, load, splitmix_permutation  # noqa: E402

__all__ = ["DATA", "evaluate", "initial_parameters", "load", "train_one_epoch"]


def initial_parameters(model):
    """Zero logistic regression, or the MLP from the task's committed init files."""
    if model == "logreg":
        return [np.zeros((64, 10), np.float32), np.zeros(10, np.float32)]
    params = [np.loadtxt(DATA / f"mlp_init_{n}.csv", delimiter=",", dtype=np.float32, ndmin=2) for n in ("W1", "b1", "W2", "b2")]
    params[1], params[3] = params[1].reshape(-1), params[3].reshape(-1)
    return params


def train_one_epoch(params, x, y, round_number, client):
    """One epoch of SGD (batch 32, lr 0.1) in the order SplitMix64(1000 * round + client) gives."""
    local = [np.array(p, dtype=np.float32, copy=True) for p in params]
    order = splitmix_permutation(len(y), 1000 * round_number + client)
    rate = np.float32(0.1)
    for start in range(0, len(order), 32):
        batch = order[start:start + 32]
        for p, g in zip(local, gradients(local, x[batch], y[batch])):
            p -= rate * g
    return local
