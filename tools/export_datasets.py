#!/usr/bin/env python3
"""Export the two small UCI data sets FedMQ ships, from the copies inside scikit-learn.

Run once (the CSVs are committed); needs scikit-learn from PyPI:

    python3 -m venv .venv && .venv/bin/pip install scikit-learn
    .venv/bin/python tools/export_datasets.py

Writes data/digits.csv (1,797 rows: 64 pixel intensities 0..16, then the digit 0..9) and
data/breast_cancer.csv (569 rows: 30 measurements, then 0 = malignant, 1 = benign), each
with a header line. Values are written in Python's shortest round-trip form.
"""
import csv
import pathlib

from sklearn.datasets import load_breast_cancer, load_digits

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"


def write(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"wrote {path} ({len(rows)} rows)")


def number(value):
    as_float = float(value)
    return str(int(as_float)) if as_float.is_integer() else repr(as_float)


def main():
    DATA.mkdir(exist_ok=True)
    digits = load_digits()
    header = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)] + ["label"]
    rows = [[number(v) for v in x] + [int(y)] for x, y in zip(digits.data, digits.target)]
    write(DATA / "digits.csv", header, rows)

    cancer = load_breast_cancer()
    header = [name.replace(" ", "_") for name in cancer.feature_names] + ["label"]
    rows = [[number(v) for v in x] + [int(y)] for x, y in zip(cancer.data, cancer.target)]
    write(DATA / "breast_cancer.csv", header, rows)


if __name__ == "__main__":
    main()
