#!/usr/bin/env python3
"""Export the small public data sets FedMQ ships.

Run once (the CSVs are committed); needs scikit-learn from PyPI, and pip to fetch sktime's
wheel (only its data files are read; sktime is not installed or imported):

    python3 -m venv .venv && .venv/bin/pip install scikit-learn
    .venv/bin/python tools/export_datasets.py

Writes data/digits.csv (1,797 rows: 64 pixel intensities 0..16, then the digit 0..9),
data/breast_cancer.csv (569 rows: 30 measurements, then 0 = malignant, 1 = benign) and
data/basic_motions_train.csv and data/basic_motions_test.csv (40 windows each of a smart
watch's 6 sensor channels x 100 readings, channel-major, then the activity's index in
Standing, Running, Walking, Badminton), data/japanese_vowels_{train,test}.csv (270 and 370
utterances: 12 LPC cepstrum channels x 29 frames, channel-major, each utterance's 7 to 29
frames padded at the end with zeros to 29, then the speaker 0..8) and
data/acsf1_{train,test}.csv (100 and 100 appliance power signatures of 1,460 readings, then the
appliance type 0..9), each with a header line. Values are written in Python's shortest
round-trip form.
"""
import csv
import pathlib
import subprocess
import sys
import tempfile
import zipfile

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


SKTIME = "sktime==1.2.0"
BASIC_MOTIONS = "sktime/datasets/data/BasicMotions/BasicMotions_{}.ts"
ACTIVITIES = ["Standing", "Running", "Walking", "Badminton"]
JAPANESE_VOWELS = "sktime/datasets/data/JapaneseVowels/JapaneseVowels_{}.ts"
ACSF1 = "sktime/datasets/data/ACSF1/ACSF1_{}.ts"


def read_ts(text):
    """The (channels, label) cases of a .ts file whose series have a class label."""
    cases = []
    in_data = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower() == "@data":
            in_data = True
            continue
        if in_data:
            *channels, label = line.split(":")
            cases.append(([[float(v) for v in channel.split(",")] for channel in channels], label))
    return cases


def export_windows(archive, source, name, label_index):
    """One sktime data set's train and test parts as channel-major windows, series shorter than
    the longest of both parts padded at the end with zeros (so both parts have the same width)."""
    parts = {part: read_ts(archive.read(source.format(part)).decode("utf-8")) for part in ("TRAIN", "TEST")}
    length = max(len(channel) for cases in parts.values() for series, _ in cases for channel in series)
    for part, cases in parts.items():
        channels = len(cases[0][0])
        header = [f"d{c}_{t}" for c in range(channels) for t in range(length)] + ["label"]
        rows = [
            [number(v) for channel in series for v in channel + [0.0] * (length - len(channel))] + [label_index(label)]
            for series, label in cases
        ]
        write(DATA / f"{name}_{part.lower()}.csv", header, rows)


def export_sensor_sets():
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", SKTIME, "--no-deps", "-q", "-d", folder], check=True)
        wheel = next(pathlib.Path(folder).glob("sktime-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            export_windows(archive, BASIC_MOTIONS, "basic_motions", ACTIVITIES.index)
            export_windows(archive, JAPANESE_VOWELS, "japanese_vowels", lambda label: int(label) - 1)
            export_windows(archive, ACSF1, "acsf1", int)


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

    export_sensor_sets()


if __name__ == "__main__":
    main()
