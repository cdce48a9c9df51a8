#!/usr/bin/env python3
"""Interoperability helper for FedMQ's safetensors tests, using the real `safetensors` package.

  safetensors_interop.py write DIR   writes f32/f16/i8 files with known tensors and prints
                                     their description (JSON) on stdout
  safetensors_interop.py read FILE   loads FILE with safetensors.numpy and prints its tensors
                                     (dtype, shape, values as written) and metadata as JSON
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


def known_tensors():
    weights = (np.arange(12, dtype=np.float64).reshape(3, 4) - 5.5) / 4.0
    bias = np.array([0.5, -0.25, 1e-3, 100.0])
    return {"W": weights, "b": bias}


def write(directory):
    described = {}
    tensors = known_tensors()
    for dtype in ("F32", "F16", "I8"):
        stored, metadata = {}, {"fedmq.encoding": {"F32": "float32", "F16": "float16", "I8": "int8"}[dtype]}
        for name, values in tensors.items():
            if dtype == "F32":
                stored[name] = values.astype(np.float32)
            elif dtype == "F16":
                stored[name] = values.astype(np.float16)
            else:
                scale = np.float32(np.abs(values).max() / 127.0)
                stored[name] = np.clip(np.round(values / scale), -127, 127).astype(np.int8)
                metadata[f"fedmq.scale.{name}"] = repr(float(scale))
        path = f"{directory}/python_{dtype.lower()}.safetensors"
        save_file(stored, path, metadata=metadata)
        described[dtype] = {"path": path, "metadata": metadata, "tensors": describe(stored)}
    print(json.dumps(described))


def describe(tensors):
    return {
        name: {"shape": list(value.shape), "values": [float(v) for v in value.reshape(-1)]}
        for name, value in tensors.items()
    }


def read(path):
    with safe_open(path, framework="numpy") as handle:
        metadata = handle.metadata() or {}
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    dtypes = {name: str(value.dtype) for name, value in tensors.items()}
    print(json.dumps({"metadata": metadata, "dtypes": dtypes, "tensors": describe(tensors)}))


if __name__ == "__main__":
    command, argument = sys.argv[1], sys.argv[2]
    write(argument) if command == "write" else read(argument)
