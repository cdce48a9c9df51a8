#!/usr/bin/env python3
"""An agent trainer (`trainer` in fedmq-agent's config) that trains a sequential job's model with PyTorch.

fedmq-agent starts it each round in a private folder with `round.json` and `global.safetensors`;
it builds the model from the spec (`fedmq_torch.build`), loads the global model's state dict,
trains as the round asks (SGD with the round's learning rate, momentum, weight decay, batch size
and epochs; softmax cross-entropy for classifiers, squared error for one output) on the CSV in
`data_csv` (channel-major rows; label in the last column, or in a column named `label`), and
writes `trained.safetensors` (the state dict) and `result.json`. FedMQ does the rest: delta,
clipping, privacy noise, encoding, signing.

    "trainer": {"command": ["examples/pytorch/trainer.py"], "timeout_seconds": 600}

Needs torch, numpy and safetensors in the python3 that runs it.
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fedmq_torch  # noqa: E402


def main():
    torch.set_num_threads(1)  # an edge device shares its cores, as FedMQ's own trainer does
    work = os.environ["FEDMQ_WORK_DIR"]
    with open(os.path.join(work, "round.json")) as handle:
        round_config = json.load(handle)
    spec, training = round_config["model_spec"], round_config["training"]
    model = fedmq_torch.build(spec)
    model.load_state_dict(load_file(os.path.join(work, round_config["global_model"])))
    if not round_config.get("data_csv"):
        sys.exit("round.json names no data_csv: set data_csv in the agent's config")
    features, labels = fedmq_torch.load_rows(round_config["data_csv"])
    if spec.get("scaling"):
        features = (features - np.array(spec["scaling"]["mean"], dtype=np.float32)) / np.array(spec["scaling"]["std"], dtype=np.float32)
    try:
        loss = fedmq_torch.train(model, spec, features, labels, training, round_config["seed"])
    except ValueError as refusal:
        sys.exit(str(refusal))
    save_file({name: value.contiguous() for name, value in model.state_dict().items()}, os.path.join(work, round_config["trained_model"]))
    with open(os.path.join(work, round_config["result"]), "w") as handle:
        json.dump({"examples": len(labels), "metrics": {"train_loss": loss}}, handle)


if __name__ == "__main__":
    main()
