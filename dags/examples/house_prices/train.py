"""Train one model on prepared/train.csv and score it on prepared/test.csv: `python train.py linear|knn`."""

import json
import os
import sys

import numpy as np


def load(name):
    data = np.loadtxt(f"prepared/{name}.csv", delimiter=",", skiprows=1)
    return data[:, :-1], data[:, -1]


def linear(x_train, y_train, x_test):
    # Ridge regression in closed form: (X'X + aI)^-1 X'y, with an unpenalised intercept column.
    alpha = float(os.environ.get("RIDGE_ALPHA", "0"))
    design = np.hstack([np.ones((len(x_train), 1)), x_train])
    penalty = alpha * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    weights = np.linalg.solve(design.T @ design + penalty, design.T @ y_train)
    return np.hstack([np.ones((len(x_test), 1)), x_test]) @ weights, {"weights": weights.tolist(), "alpha": alpha}


def knn(x_train, y_train, x_test):
    k = int(os.environ.get("KNN_NEIGHBOURS", "5"))
    distances = np.linalg.norm(x_test[:, None, :] - x_train[None, :, :], axis=2)
    nearest = np.argsort(distances, axis=1)[:, :k]
    return y_train[nearest].mean(axis=1), {"k": k}


kind = sys.argv[1]
x_train, y_train = load("train")
x_test, y_test = load("test")
predicted, params = {"linear": linear, "knn": knn}[kind](x_train, y_train, x_test)
rmse = float(np.sqrt(np.mean((predicted - y_test) ** 2)))
os.makedirs("models", exist_ok=True)
with open(f"models/{kind}.json", "w") as fh:
    json.dump({"model": kind, "rmse": rmse, "params": params, "test_rows": len(y_test)}, fh, indent=2)
print(f"{kind}: RMSE {rmse:,.0f} EUR on {len(y_test)} test rows")
