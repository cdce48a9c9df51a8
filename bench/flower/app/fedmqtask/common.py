"""The shared task's code (bench/flower/task.py and client.py), found through FEDMQ_BENCH_FLOWER:
Flower installs this app elsewhere before running it."""
import os
import sys

sys.path.insert(0, os.environ["FEDMQ_BENCH_FLOWER"])
from client import TaskClient  # noqa: E402,F401
from task import DATA, evaluate, initial_parameters, load  # noqa: E402,F401
