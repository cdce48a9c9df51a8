"""The Flower ClientApp of the shared task: client k (the SuperNode's `partition-id`) trains one
epoch on its shard of the SuperNode's `split` per round, with the same client as
`start_client` (bench/flower/client.py)."""
from flwr.client import ClientApp

from .common import DATA, TaskClient, load


def client_fn(context):
    client = int(context.node_config["partition-id"])
    x, y = load(DATA / str(context.node_config["split"]) / f"client_{client}.csv")
    return TaskClient(x, y, client).to_client()


app = ClientApp(client_fn=client_fn)
