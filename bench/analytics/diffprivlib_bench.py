"""diffprivlib's central DP statistics on the whole data, the peer of `fedmq bench analytics`.

Reads a CSV with a header, computes each column's mean, variance and 10-bin histogram with
diffprivlib at every epsilon (each call spends the whole epsilon, as in FedMQ's one-query
rounds), and prints, as JSON, the mean absolute error over the columns for each repetition:
{"mean": {"1.0": [error per repetition]}, ...}.

Usage: diffprivlib_bench.py CSV LABEL BOUNDS_JSON EPSILONS REPETITIONS
"""

import json
import sys
import warnings

import numpy as np
from diffprivlib import tools

warnings.simplefilter("ignore")  # diffprivlib warns when bounds are given as data-derived.


def main():
    path, label, bounds_json, epsilons, repetitions = sys.argv[1:6]
    epsilons = [float(value) for value in epsilons.split(",")]
    repetitions = int(repetitions)
    bounds = json.loads(bounds_json)  # {column: [low, high]}, the same public bounds FedMQ uses
    header = open(path).readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    columns = [name for name in header if name != label]
    results = {"mean": {}, "variance": {}, "histogram": {}}
    for epsilon in epsilons:
        for statistic in results:
            results[statistic][str(epsilon)] = []
        for _ in range(repetitions):
            errors = {statistic: [] for statistic in results}
            for name in columns:
                x = data[:, header.index(name)]
                low, high = bounds[name]
                errors["mean"].append(abs(tools.mean(x, epsilon=epsilon, bounds=(low, high)) - x.mean()))
                errors["variance"].append(abs(tools.var(x, epsilon=epsilon, bounds=(low, high)) - x.var()))
                noisy, _ = tools.histogram(x, epsilon=epsilon, bins=10, range=(low, high))
                exact, _ = np.histogram(x, bins=10, range=(low, high))
                errors["histogram"].append(float(np.abs(noisy - exact).mean()))
            for statistic in results:
                results[statistic][str(epsilon)].append(float(np.mean(errors[statistic])))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
