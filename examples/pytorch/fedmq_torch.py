"""FedMQ's sequential models as PyTorch modules, and an agent trainer that trains them.

A FedMQ `sequential` spec lists layers that are PyTorch modules one for one, so
`build(spec)` gives an `nn.Sequential` whose state dict has the tensors of FedMQ's model:
the same names (`0.weight`, `0.bias`, ...), shapes and layouts. An agent can then train a
sequential job's model with PyTorch instead of FedMQ's own trainer, beside agents that train
natively: see `trainer.py`.
"""
import csv

import numpy as np
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


def load_rows(path):
    """A FedMQ CSV's features and labels: label in the last column, or in a column named `label`."""
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    try:
        [float(cell) for cell in rows[0]]
        body, label_column = rows, len(rows[0]) - 1
    except ValueError:
        body = rows[1:]
        label_column = rows[0].index("label") if "label" in rows[0] else len(rows[0]) - 1
    data = np.array([[float(cell) for cell in row] for row in body], dtype=np.float32)
    return np.delete(data, label_column, axis=1), data[:, label_column]


def train(model, spec, features, labels, training, seed):
    """Trains `model` in place as a FedMQ round's `training` asks (SGD with its learning rate,
    momentum, weight decay, batch size and epochs, and FedProx's proximal term mu/2·‖w − w_start‖²;
    softmax cross-entropy for classifiers, squared error for one output); returns the mean batch
    loss. Augmentation and DP-SGD are refused: they are FedMQ's own trainer's."""
    asked = [key for key in ("augmentation", "dp_sgd") if training.get(key)]
    if asked:
        raise ValueError(f"this trainer does not implement {', '.join(asked)}, which the round asks for")
    mu = training.get("proximal_mu", 0.0)
    start = [parameter.detach().clone() for parameter in model.parameters()]
    inputs = batch(spec, features)
    classify = spec["outputs"] >= 2
    targets = torch.as_tensor(labels, dtype=torch.long if classify else torch.float32)
    loss_function = torch.nn.CrossEntropyLoss() if classify else torch.nn.MSELoss()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=training["learning_rate"], momentum=training.get("momentum", 0.0),
        weight_decay=training.get("weight_decay", 0.0))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    losses = []
    for _ in range(training["epochs"]):
        for rows in torch.randperm(len(targets), generator=generator).split(training["batch_size"]):
            optimizer.zero_grad()
            output = model(inputs[rows])
            loss = loss_function(output if classify else output.squeeze(1), targets[rows])
            if mu > 0:
                loss = loss + mu / 2 * sum(((p - s) ** 2).sum() for p, s in zip(model.parameters(), start))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return float(np.mean(losses))


def evaluate(model, spec, features, labels):
    """Accuracy and mean cross-entropy of a classifier on rows."""
    model.eval()
    with torch.no_grad():
        logits = model(batch(spec, features))
        targets = torch.as_tensor(labels, dtype=torch.long)
        loss = torch.nn.functional.cross_entropy(logits, targets).item()
        accuracy = (logits.argmax(1) == targets).float().mean().item()
    return accuracy, loss
