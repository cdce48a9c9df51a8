"""The Flower ServerApp of the shared task: FedAvg over all SuperNodes, central evaluation each
round, the curve written to the run config's `out` (index 0 = before round 1)."""
import json
import time

import flwr as fl
from flwr.server import ServerApp, ServerAppComponents, ServerConfig

from .common import DATA, evaluate, initial_parameters, load


def server_fn(context):
    config = context.run_config
    clients = int(config["clients"])
    x_test, y_test = load(DATA / "test.csv")
    curve = {"accuracy": [], "loss": [], "evaluated": []}

    def central_evaluation(server_round, parameters, _):
        accuracy, loss = evaluate(parameters, x_test, y_test)
        curve["accuracy"].append(accuracy)
        curve["loss"].append(loss)
        curve["evaluated"].append(time.time())
        with open(config["out"], "w") as out:
            json.dump(curve, out)
        return loss, {"accuracy": accuracy}

    strategy = fl.server.strategy.FedAvg(
        fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=clients, min_evaluate_clients=0,
        min_available_clients=clients, evaluate_fn=central_evaluation,
        on_fit_config_fn=lambda server_round: {"round": server_round},
        initial_parameters=fl.common.ndarrays_to_parameters(initial_parameters(config["model"])))
    return ServerAppComponents(strategy=strategy, config=ServerConfig(num_rounds=int(config["num-server-rounds"])))


app = ServerApp(server_fn=server_fn)
