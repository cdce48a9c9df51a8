"""The shared task's code (bench/flower/task.py), found through FEDMQ_BENCH_FLOWER: Flower
installs this app elsewhere before running it."""
import os
import sys

sys.path.insert(0, os.environ["FEDMQ_BENCH_FLOWER"])
from task import DATA, evaluate, initial_parameters, load, train_one_epoch  # noqa: E402,F401
