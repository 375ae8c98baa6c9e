"""Azure's four v1 parallel-run notebooks, as scripts that import only ``azureml.*`` names.

Each script under ``notebooks/`` is its notebook's code cells in order, unchanged except
for data locations (local files uploaded to the default datastore instead of Azure's public
storage account) and ``Workspace.from_config()`` finding a local workspace. The scripts run
in a fresh Python that has shardrun's ``.pth`` (as ``pip install shardrun`` leaves it) and
no Azure package; each test checks the results.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"
pytest_plugins = ["tests.services"]


@pytest.fixture(autouse=True)
def _stop_drivers(pipeline_drivers: Path) -> None:
    """Every pipeline driver a test here starts is stopped by PID at teardown."""


def project(tmp_path: Path) -> Path:
    """A notebook folder: config.json naming a local workspace, shardrun's .pth in a site."""
    folder = tmp_path / "project"
    folder.mkdir()
    config = {"subscription_id": "0000", "resource_group": "rg", "workspace_name": "ws"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def run_notebook(name: str, folder: Path) -> subprocess.CompletedProcess[str]:
    site = folder.parent / "site"
    site.mkdir(exist_ok=True)
    shutil.copy(SRC / "shardrun_azureml.pth", site)
    script = HERE / "notebooks" / name
    code = (
        f"import runpy, site; site.addsitedir({str(site)!r}); "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(SRC.parent)])}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_tabular_dataset_inference_iris(tmp_path: Path) -> None:
    folder = project(tmp_path)
    (folder / "Code").mkdir()
    shutil.copy(HERE.parent / "scripts" / "azure_samples" / "iris_score.py", folder / "Code")
    iris = load_iris(as_frame=True)
    features = iris.data.set_axis(
        ["sepal_length", "sepal_width", "petal_length", "petal_width"], axis=1
    )
    model = LogisticRegression(max_iter=1000).fit(features.to_numpy(), iris.target.to_numpy())
    (folder / "iris_model.pkl").mkdir()
    with open(folder / "iris_model.pkl" / "iris_model.pkl", "wb") as handle:
        pickle.dump(model, handle)
    (folder / "iris_data").mkdir()
    features.to_csv(folder / "iris_data" / "iris.csv", index=False)

    done = run_notebook("tabular_dataset_inference_iris.py", folder)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Azure region: local\nSubscription id: 0000\nResource group: rg" in done.stdout
    assert "Prediction has  150  rows" in done.stdout
    (result,) = (folder / "iris_results").rglob("iris_outputs.txt")
    scored = pd.read_csv(result, sep=" ", header=None)
    assert scored.iloc[:, :4].to_numpy().tolist() == features.to_numpy().tolist()
    assert scored.iloc[:, 4].tolist() == model.predict(features.to_numpy()).tolist()


TOTAL_INCOME = """
def init():
    print("Init")


def run(mini_batch):
    total = mini_batch["INCOME"].sum()
    print(f"total_income = {total}")
    mini_batch["total_income"] = total
    return mini_batch
"""

OJ_COLUMNS = [
    "WeekStarting", "Store", "Brand", "Quantity", "logQuantity", "Advert", "Price", "Age60",
    "COLLEGE", "INCOME", "Hincome150", "Large HH", "Minorities", "WorkingWoman", "SSTRDIST",
    "SSTRVOL", "CPDIST5", "CPWVOL5",
]  # fmt: skip


def oj_csv(path: Path) -> pd.DataFrame:
    """dominicks_OJ.csv's columns, 3 stores x 3 brands x 8 weeks of made-up values."""
    rows = []
    for store in (2, 5, 8):
        for brand in ("dominicks", "minute.maid", "tropicana"):
            for week in range(8):
                values = [f"1990-06-{14 + week:02d}", store, brand, 8000 + week, 9.0, 1, 2.5]
                values += [0.2, 0.25, 10.5 + store, 3.5, 0.4, 0.1, 0.3, 2.1, 1.1, 1.9, 0.5]
                rows.append(values)
    frame = pd.DataFrame(rows, columns=OJ_COLUMNS)
    frame.to_csv(path, index=False)
    return frame


def test_tabular_dataset_partition_per_column(tmp_path: Path) -> None:
    folder = project(tmp_path)
    (folder / "Code").mkdir()
    (folder / "Code" / "total_income.py").write_text(TOTAL_INCOME)
    data = oj_csv(folder / "oj.csv")

    done = run_notebook("tabular_dataset_partition_per_column.py", folder)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Prediction has  72  rows" in done.stdout
    results = pd.read_pickle(folder / "results.pkl")
    expected = data.groupby(["Store", "Brand"])["INCOME"].sum()
    for (store, brand), group in results.groupby(["Store", "Brand"]):
        assert len(group) == 8
        assert group["total_income"].unique().tolist() == [pytest.approx(expected[store, brand])]


TOTAL_FILE_SIZE = """
import os


def init():
    print("Init")


def run(mini_batch, mini_batch_context):
    print(f"partition_key_value = {mini_batch_context.partition_key_value}")
    print(f"dataset = {mini_batch_context.dataset}")
    sizes = [os.path.getsize(path) for path in mini_batch]
    total = sum(sizes)
    keys = mini_batch_context.partition_key_value
    rows = []
    for path, size in zip(mini_batch, sizes):
        fields = (os.path.basename(path), size, size / total, keys["user"], keys["genres"], total)
        rows.append(",".join(str(x) for x in fields))
    return rows
"""


def test_file_dataset_partition_per_folder(tmp_path: Path) -> None:
    folder = project(tmp_path)
    (folder / "Code").mkdir()
    (folder / "Code" / "total_file_size.py").write_text(TOTAL_FILE_SIZE)
    sizes = {"disco": 300, "orchestra": 500, "piano": 700, "spirituality": 1100}
    for genre, size in sizes.items():
        (folder / "test_files" / genre).mkdir(parents=True)
        (folder / "test_files" / genre / f"{genre}.wav").write_bytes(b"\0" * size)

    done = run_notebook("file_dataset_partition_per_folder.py", folder)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Prediction has 6 rows" in done.stdout
    results = pd.read_pickle(folder / "results.pkl")
    # partition_keys=['user', 'genres']: user4's two piano files (spring, fall) are one
    # mini-batch, so each is half of its partition's size.
    rows = {(r.user, r.genres): r for r in results.itertuples()}
    assert len(rows) == 5
    assert sorted(results["File Size"]) == sorted([300, 500, 700, 1100, 700, 700])
    user4 = results[results["user"] == "user4"]
    assert user4["Total File Size of Partition"].tolist() == [1400, 1400]
    assert user4["Ratio of Size in Partition"].tolist() == [0.5, 0.5]


DIGIT_IDENTIFICATION = """
import os
import pickle

import numpy as np
from azureml.core.model import Model
from PIL import Image


def init():
    global g_model
    model_path = Model.get_model_path("mnist-prs")
    with open(os.path.join(model_path, "digits.pkl"), "rb") as handle:
        g_model = pickle.load(handle)


def run(mini_batch):
    result_list = []
    for image in mini_batch:
        pixels = np.asarray(Image.open(image), dtype=np.float64) * 16 / 255
        label = g_model.predict(pixels.reshape(1, -1))[0]
        result_list.append(f"{os.path.basename(image)}: {label}")
    return result_list
"""


def test_file_dataset_image_inference_mnist(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    folder = project(tmp_path)
    (folder / "Code").mkdir()
    (folder / "Code" / "digit_identification.py").write_text(DIGIT_IDENTIFICATION)
    digits = load_digits()
    model = LogisticRegression(max_iter=5000).fit(digits.data, digits.target)
    (folder / "models").mkdir()
    with open(folder / "models" / "digits.pkl", "wb") as handle:
        pickle.dump(model, handle)
    (folder / "mnist").mkdir()
    labels = {}
    for number in range(24):
        pixels = (digits.images[number * 7] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "mnist" / f"{number}.png")
        labels[f"{number}.png"] = int(digits.target[number * 7])

    done = run_notebook("file_dataset_image_inference_mnist.py", folder)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Prediction has  24  rows" in done.stdout
    assert "second run: Completed" in done.stdout
    results = pd.read_pickle(folder / "results.pkl")
    assert sorted(results["Filename"]) == sorted(labels)
    pairs = zip(results.Filename, results.Prediction, strict=True)
    right = sum(labels[name] == label for name, label in pairs)
    assert right >= 22
