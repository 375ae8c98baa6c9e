"""Identify digits in PNG files (shape of Azure's digit_identification.py)."""

import argparse
import os
import pickle

import numpy as np
from PIL import Image


def init():
    global g_model
    parser = argparse.ArgumentParser(description="Azure ML parallel digit identification")
    parser.add_argument("--model", type=str, default="")
    args, _ = parser.parse_known_args()
    with open(os.path.join(args.model, "digits.pkl"), "rb") as handle:
        g_model = pickle.load(handle)


def run(mini_batch):
    result_list = []
    for image in mini_batch:
        pixels = np.asarray(Image.open(image), dtype=np.float64) * 16 / 255
        label = g_model.predict(pixels.reshape(1, -1))[0]
        result_list.append(f"{os.path.basename(image)}: {label}")
    return result_list
