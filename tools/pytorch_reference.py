#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures FedMQ's sequential models are checked against.

For each model below it builds the nn.Sequential of the same layers as the FedMQ spec (a spec
layer is one PyTorch module, so the state dicts share names and layouts), draws weights and a
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


def module(layer, shape):
    """The PyTorch module of one spec layer, and the shape (channels, length or None) after it."""
    channels, length = shape
    kind = layer["type"]
    if kind == "conv1d":
        stride, padding = layer.get("stride", 1), layer.get("padding", 0)
        out = (length + 2 * padding - layer["kernel"]) // stride + 1
        return torch.nn.Conv1d(channels, layer["filters"], layer["kernel"], stride, padding), (layer["filters"], out)
    if kind == "max_pool":
        stride = layer.get("stride", layer["size"])
        return torch.nn.MaxPool1d(layer["size"], stride), (channels, (length - layer["size"]) // stride + 1)
    if kind == "global_avg_pool":
        return torch.nn.AdaptiveAvgPool1d(1), (channels, 1)
    if kind == "flatten":
        return torch.nn.Flatten(), (channels * (length or 1), None)
    if kind == "dense":
        return torch.nn.Linear(channels, layer["units"]), (layer["units"], None)
    if kind == "group_norm":
        return torch.nn.GroupNorm(layer["groups"], channels), shape
    if kind == "layer_norm":
        return torch.nn.LayerNorm(channels), shape
    return {"relu": torch.nn.ReLU(), "tanh": torch.nn.Tanh(), "sigmoid": torch.nn.Sigmoid(), "gelu": torch.nn.GELU()}[kind], shape


def build(spec):
    shape = tuple(spec["input_shape"]) if "input_shape" in spec else (spec["inputs"], None)
    modules = []
    for layer in spec["layers"]:
        made, shape = module(layer, shape)
        modules.append(made)
    return torch.nn.Sequential(*modules)


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
        batch = torch.from_numpy(flat.reshape((rows, *spec["input_shape"])) if "input_shape" in spec else flat)
        model.eval()
        logits = model(batch)
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
