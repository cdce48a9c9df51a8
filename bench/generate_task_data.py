#!/usr/bin/env python3
"""Generate the data of the shared benchmark task "digits-fedavg-10" and verify it.

The code below is the task's normative data definition (bench/task/TASK.md, section 1-2),
run as written; then every CSV's sha256 is checked against bench/task/manifest.json.
Needs numpy 2.4.6 and scikit-learn 1.9.1 (`make deps` puts them in .venv):

    .venv/bin/python bench/generate_task_data.py [OUT]      (default OUT: bench/task/data)
"""
import hashlib
import json
import pathlib
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = pathlib.Path(__file__).resolve().parent


def rows_to_csv(path, X, y):
    with open(path, "w") as handle:
        for features, label in zip(X, y):
            handle.write(",".join(repr(float(v)) for v in features) + f",{int(label)}\n")


def matrix_to_csv(path, M):
    M = np.atleast_2d(M)
    with open(path, "w") as handle:
        for row in M:
            handle.write(",".join(repr(float(v)) for v in row) + "\n")


def main(out):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)

    rng = np.random.default_rng(0)
    perm = rng.permutation(1437)
    iid = np.array_split(perm, 10)

    rng = np.random.default_rng(0)
    shards = [[] for _ in range(10)]
    for c in range(10):
        idx_c = np.where(y_train == c)[0]
        rng.shuffle(idx_c)
        p = rng.dirichlet(0.5 * np.ones(10))
        cuts = (np.cumsum(p) * len(idx_c)).astype(int)[:-1]
        for k, part in enumerate(np.split(idx_c, cuts)):
            shards[k].extend(part.tolist())

    rng = np.random.default_rng(0)
    W1 = rng.uniform(-np.sqrt(6 / 64), np.sqrt(6 / 64), (64, 32)).astype(np.float32)
    W2 = rng.uniform(-np.sqrt(6 / 32), np.sqrt(6 / 32), (32, 10)).astype(np.float32)

    (out / "iid").mkdir(parents=True, exist_ok=True)
    (out / "noniid").mkdir(parents=True, exist_ok=True)
    rows_to_csv(out / "test.csv", X_test, y_test)
    for k in range(10):
        rows_to_csv(out / "iid" / f"client_{k}.csv", X_train[iid[k]], y_train[iid[k]])
        rows_to_csv(out / "noniid" / f"client_{k}.csv", X_train[shards[k]], y_train[shards[k]])
    matrix_to_csv(out / "mlp_init_W1.csv", W1)
    matrix_to_csv(out / "mlp_init_b1.csv", np.zeros(32, np.float32))
    matrix_to_csv(out / "mlp_init_W2.csv", W2)
    matrix_to_csv(out / "mlp_init_b2.csv", np.zeros(10, np.float32))

    manifest = json.loads((HERE / "task" / "manifest.json").read_text())
    bad = []
    for name, expected in manifest["files"].items():
        path = out / name
        actual = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
        if actual != expected:
            bad.append(f"{name}: {actual} != {expected}")
    if bad:
        print("sha256 mismatch against the manifest:\n" + "\n".join(bad), file=sys.stderr)
        sys.exit(1)
    print(f"wrote {len(manifest['files'])} files to {out}; all sha256 match the manifest")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "task" / "data")
