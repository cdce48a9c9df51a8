"""FedMQ's sequential models as PyTorch modules, and an agent trainer that trains them.

A FedMQ `sequential` spec lists layers that are PyTorch modules one for one, so
`build(spec)` gives an `nn.Sequential` whose state dict has the tensors of FedMQ's model:
the same names (`0.weight`, `0.bias`, ...), shapes and layouts. An agent can then train a
sequential job's model with PyTorch instead of FedMQ's own trainer, beside agents that train
natively: see `trainer.py`.
"""
import torch

class LastHidden(torch.nn.GRU):
    """FedMQ's `gru` layer: a GRU over the time steps of (batch, channels, time) input, giving its last hidden state."""

    def __init__(self, channels, units):
        super().__init__(channels, units, batch_first=True)

    def forward(self, x):
        _, hidden = super().forward(x.transpose(1, 2))
        return hidden[-1]


ACTIVATIONS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "gelu": torch.nn.GELU}


def module(layer, shape):
    """The PyTorch module of one spec layer, and the shape (channels, length or None when flat) after it."""
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
    if kind == "gru":
        return LastHidden(channels, layer["units"]), (layer["units"], None)
    if kind == "group_norm":
        return torch.nn.GroupNorm(layer["groups"], channels), shape
    if kind == "layer_norm":
        return (torch.nn.LayerNorm(channels) if length is None else torch.nn.GroupNorm(1, channels)), shape
    if kind == "dropout":
        return torch.nn.Dropout(layer["rate"]), shape
    if kind in ACTIVATIONS:
        return ACTIVATIONS[kind](), shape
    raise ValueError(f"layer type '{kind}' has no PyTorch module here")


def input_shape(spec):
    return tuple(spec["input_shape"]) if spec.get("input_shape") else (spec["inputs"], None)


def build(spec):
    """The nn.Sequential of a FedMQ sequential spec (a dict, as in round.json's model_spec)."""
    if spec.get("kind") != "sequential":
        raise ValueError(f"a {spec.get('kind')} model is not a sequential one")
    shape = input_shape(spec)
    modules = []
    for layer in spec["layers"]:
        made, shape = module(layer, shape)
        modules.append(made)
    return torch.nn.Sequential(*modules)


def batch(spec, rows):
    """Flat, channel-major rows (what FedMQ's CSVs hold) as the model's input tensor."""
    tensor = torch.as_tensor(rows, dtype=torch.float32)
    return tensor.reshape((tensor.shape[0], *spec["input_shape"])) if spec.get("input_shape") else tensor
