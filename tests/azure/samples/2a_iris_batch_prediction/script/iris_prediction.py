"""Score iris rows with a pickled scikit-learn model (shape of Azure's iris_prediction.py)."""

import argparse
import os
import pickle

from azureml_user.parallel_run import EntryScript


def init():
    global model
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=str)
    args, _ = parser.parse_known_args()
    with open(os.path.join(args.model, "model.pkl"), "rb") as handle:
        model = pickle.load(handle)
    EntryScript().logger.info("model loaded from %s", args.model)


def run(input_data):
    features = input_data[["sepal_length", "sepal_width", "petal_length", "petal_width"]]
    input_data["variety"] = model.predict(features.to_numpy())
    return input_data[["row_id", "variety"]]
