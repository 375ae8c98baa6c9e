"""The tutorial's entry script (``digit_identification.py``), with ONNX in place of TensorFlow.

Unchanged from Azure's sample but for the model runtime: it imports ``Model`` from
``azureml.core`` and finds the registered model ``mnist-prs`` with ``get_model_path``.
"""

import os

import numpy as np
import onnxruntime as ort
from azureml.core import Model
from PIL import Image


def init():
    global g_session
    # pull down model from workspace
    model_path = Model.get_model_path("mnist-prs")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    g_session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])


def run(mini_batch):
    print(f"run method start: {__file__}, run({mini_batch})")
    result_list = []
    for image in mini_batch:
        # prepare each image
        data = Image.open(image)
        np_im = np.array(data, dtype=np.float32).reshape((1, 784)) / 255
        # perform inference
        (pred,) = g_session.run(["label"], {"pixels": np_im})
        # find best probability, and add to result list
        result_list.append(f"{os.path.basename(image)}: {pred[0]}")
    return result_list
