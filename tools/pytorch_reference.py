#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures FedMQ's sequential models are checked against.

For each model below it builds the nn.Sequential of the same layers as the FedMQ spec (a spec
layer is one PyTorch module, so the state dicts share names and layouts; the builder is the
PyTorch example's, examples/pytorch/fedmq_torch.py), draws weights and a
batch from a fixed seed, and stores in one safetensors file: the weights under their
state-dict names, the batch (`input`, `target`), PyTorch's logits in evaluation mode
(`logits`), and the gradient of the mean cross-entropy (`grad.<name>`), all float32, with the
spec (`fedmq.model_spec`) and the loss (`loss`) in the metadata.

Run with the benchmark environment's Python (it has torch): make pytorch-fixtures
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "pytorch"))
from fedmq_torch import batch, build  # noqa: E402  (the example's builder: one definition of the layers)

OUT = sys.argv[1] if len(sys.argv) > 1 else "Tests/FedMQCoreTests/Fixtures"

MODELS = {
    # A sensor-window classifier: 3 channels x 16 readings, 4 classes.
    "pytorch_cnn": {
        "version": 1, "kind": "sequential", "inputs": 48, "input_shape": [3, 16], "outputs": 4,
        "layers": [
            {"type": "conv1d", "filters": 5, "kernel": 3, "stride": 1, "padding": 1},
            {"type": "gelu"},
            {"type": "group_norm", "groups": 5},
            {"type": "conv1d", "filters": 6, "kernel": 4, "stride": 2, "padding": 0},
            {"type": "relu"},
            {"type": "max_pool", "size": 3, "stride": 2},
            {"type": "tanh"},
            {"type": "global_avg_pool"},
            {"type": "flatten"},
            {"type": "dense", "units": 4},
        ],
    },
    # A convolution feeding a GRU over time: 4 channels x 7 steps, 3 classes.
    "pytorch_gru": {
        "version": 1, "kind": "sequential", "inputs": 28, "input_shape": [4, 7], "outputs": 3,
        "layers": [
            {"type": "conv1d", "filters": 5, "kernel": 3, "stride": 1, "padding": 1},
            {"type": "tanh"},
            {"type": "gru", "units": 6},
            {"type": "dense", "units": 3},
        ],
    },
    # A dense network with layer normalization and a sigmoid, on flat rows of 10 features.
    "pytorch_mlp": {
        "version": 1, "kind": "sequential", "inputs": 10, "outputs": 3,
        "layers": [
            {"type": "dense", "units": 8},
            {"type": "layer_norm"},
            {"type": "sigmoid"},
            {"type": "dense", "units": 3},
        ],
    },
}


def main():
    torch.manual_seed(7)
    rng = np.random.default_rng(7)
    for name, spec in MODELS.items():
        model = build(spec)
        with torch.no_grad():
            for parameter in model.parameters():  # away from the defaults: norms' weights too
                parameter.copy_(torch.from_numpy(rng.normal(0, 0.5, parameter.shape).astype(np.float32)))
        rows = 6
        flat = rng.normal(0, 1, (rows, spec["inputs"])).astype(np.float32)
        target = np.arange(rows) % spec["outputs"]
        model.eval()
        logits = model(batch(spec, flat))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(target))
        loss.backward()
        loss = loss.detach()
        tensors = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
        tensors["input"] = torch.from_numpy(flat)
        tensors["target"] = torch.from_numpy(target.astype(np.float32))
        tensors["logits"] = logits.detach().contiguous()
        for key, parameter in model.named_parameters():
            tensors["grad." + key] = parameter.grad.detach().contiguous()
        metadata = {"fedmq.model_spec": json.dumps(spec, sort_keys=True), "loss": repr(loss.item()), "torch": torch.__version__}
        path = os.path.join(OUT, name + ".safetensors")
        save_file(tensors, path, metadata=metadata)
        print(f"{path}: loss {float(loss):.6f}, {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
