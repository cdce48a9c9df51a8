"""The Flower ClientApp of the shared task: client k (the SuperNode's `partition-id`) trains one
epoch on its shard of the SuperNode's `split` per round."""
import flwr as fl
from flwr.client import ClientApp

from .common import DATA, load, train_one_epoch


class TaskClient(fl.client.NumPyClient):
    def __init__(self, x, y, client):
        self.x, self.y, self.client = x, y, client

    def fit(self, parameters, config):
        trained = train_one_epoch(parameters, self.x, self.y, int(config["round"]), self.client)
        return trained, len(self.y), {}


def client_fn(context):
    client = int(context.node_config["partition-id"])
    x, y = load(DATA / str(context.node_config["split"]) / f"client_{client}.csv")
    return TaskClient(x, y, client).to_client()


app = ClientApp(client_fn=client_fn)
