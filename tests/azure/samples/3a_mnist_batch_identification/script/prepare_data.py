"""Write handwritten digits as PNG files (shape of Azure's prepare_data.py; local data)."""

import argparse
import os

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

parser = argparse.ArgumentParser()
parser.add_argument("--output_folder", type=str)
args = parser.parse_args()

digits = load_digits()
os.makedirs(args.output_folder, exist_ok=True)
for index in range(0, len(digits.images), 40):
    pixels = (digits.images[index] * 255 / 16).astype(np.uint8)
    name = f"{index:04d}_label{digits.target[index]}.png"
    Image.fromarray(pixels).save(os.path.join(args.output_folder, name))
print("wrote", len(os.listdir(args.output_folder)), "images to", args.output_folder)
