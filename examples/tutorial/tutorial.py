# %% [markdown]
# # Run batch inference on large amounts of data, on shardrun
#
# Azure ML's tutorial "Run batch inference on large amounts of data"
# (ParallelRunStep over MNIST digits in a blob container), with its import lines changed
# and its Azure-only resources swapped for local or emulated ones:
#
# * the blob container is **Azurite**, Azure Blob's emulator, on 127.0.0.1 (this script
#   starts it from `.cache/azurite`, which `make test` installs, unless
#   `TUTORIAL_BLOB_ENDPOINT` names one that runs already);
# * the compute cluster is this machine (`AmlCompute` maps to local worker processes;
#   `node_count=2` becomes two groups of workers), or a Ray cluster (`RayCompute`) when
#   `TUTORIAL_RAY_ADDRESS` names one;
# * the TensorFlow model is the ONNX digit classifier of `examples/mnist` (trained here in a
#   few seconds), scored with onnxruntime.
#
# Everything else (datastores, datasets, pipeline parameters, PipelineData, Model.register,
# Environment, ParallelRunConfig, ParallelRunStep, Pipeline, Experiment, RunDetails,
# the resubmission with one image) is the tutorial's code.

# %%
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent.parent
BUILD = HERE / "build"
IMAGE_COUNT = int(os.environ.get("TUTORIAL_IMAGE_COUNT", "500"))
AZURITE_KEY = (  # Azurite's documented development key: public, not a secret
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def start_azurite() -> str:
    """Start Azurite on a free port (stopped by PID when this script ends)."""
    import socket

    main = ROOT / ".cache/azurite/node_modules/azurite/dist/src/blob/main.js"
    if not main.exists():
        raise SystemExit("Azurite is not installed: run `make test` once (it installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # In memory, so it writes no files (Azurite refuses --location with it); never without
    # --disableTelemetry, which stops it from calling out of this machine.
    node = subprocess.Popen(
        ["node", str(main), "--blobHost", "127.0.0.1", "--blobPort", str(port),
         "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
         "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip

    def stop() -> None:
        node.terminate()
        try:
            node.wait(5)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()

    atexit.register(stop)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or node.poll() is not None:
                stop()
                said = node.stderr.read().decode(errors="replace").strip() if node.stderr else ""
                raise SystemExit(f"Azurite did not start: {said or 'no message'}") from None
            time.sleep(0.1)
    return f"http://127.0.0.1:{port}/devstoreaccount1"


# %%
blob_endpoint = os.environ.get("TUTORIAL_BLOB_ENDPOINT") or start_azurite()
sys.path.insert(0, str(ROOT / "examples" / "mnist"))
import demo as mnist_demo  # the bundled MNIST digits and the ONNX trainer

# %% [markdown]
# ## Connect to the workspace
# The tutorial reads `config.json`; here it points at a workspace folder.

# %%
from shardrun import Workspace

BUILD.mkdir(parents=True, exist_ok=True)
Workspace.create(BUILD / "workspace").write_config(path=BUILD)
os.chdir(BUILD)
ws = Workspace.from_config()

# %% [markdown]
# ## Create a compute target (this machine, or a Ray cluster)
#
# With `TUTORIAL_RAY_ADDRESS` set (`ray://head:10001`, or `head:6379` on a cluster node),
# the same pipeline runs on that Ray cluster: only the compute target changes.

# %%
from shardrun import AmlCompute, ComputeTarget, RayCompute

compute_name = os.environ.get("AML_COMPUTE_CLUSTER_NAME", "cpu-cluster")
ray_address = os.environ.get("TUTORIAL_RAY_ADDRESS")
if ray_address:
    provisioning_config = RayCompute.provisioning_configuration(address=ray_address, node_count=2)
else:
    provisioning_config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", min_nodes=0, max_nodes=4
    )
compute_target = ComputeTarget.create(ws, compute_name, provisioning_config)
compute_target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)

# %% [markdown]
# ## The digit images in a blob container (Azurite), and a datastore for it

# %%
from shardrun import Datastore

mnist_data = Datastore.register_azure_blob_container(
    ws, datastore_name="mnist_datastore", container_name="sampledata",
    account_name="devstoreaccount1", account_key=AZURITE_KEY, endpoint=blob_endpoint,
    create_if_not_exists=True, overwrite=True,
)  # fmt: skip
images = BUILD / "images"
if not images.exists():
    staging = BUILD / "all-images"
    mnist_demo.write_images(staging, BUILD / "labels.csv")
    images.mkdir()
    for name in sorted(os.listdir(staging))[:IMAGE_COUNT]:
        shutil.copy2(staging / name, images / name)
    shutil.rmtree(staging)
mnist_data.upload(src_dir=str(images), target_path="mnist", overwrite=True)
def_data_store = ws.get_default_datastore()

# %% [markdown]
# ## Datasets, a pipeline parameter for the input, PipelineData for the output

# %%
from shardrun import Dataset, DatasetConsumptionConfig, PipelineData, PipelineParameter

path_on_datastore = mnist_data.path("mnist/")
input_mnist_ds = Dataset.File.from_files(path=path_on_datastore, validate=False)
pipeline_param = PipelineParameter(name="mnist_param", default_value=input_mnist_ds)
input_mnist_ds_consumption = DatasetConsumptionConfig(
    "minist_param_config", pipeline_param
).as_mount()
output_dir = PipelineData(
    name="inferences", datastore=def_data_store, output_path_on_compute="mnist/results"
)

# %% [markdown]
# ## Register the model (the tutorial downloads a TensorFlow model; we train ONNX)

# %%
from shardrun import Model

model_file = BUILD / "models" / "mnist.onnx"
if not model_file.exists():
    mnist_demo.ensure_model(model_file)
model = Model.register(
    model_path=str(model_file), model_name="mnist-prs",
    tags={"pretrained": "mnist"}, description="Mnist trained ONNX model", workspace=ws,
)  # fmt: skip

# %% [markdown]
# ## The environment and the ParallelRunConfig

# %%
from shardrun import CondaDependencies, Environment, ParallelRunConfig, ParallelRunStep

batch_conda_deps = CondaDependencies.create(
    python_version="3.11", pip_packages=["onnxruntime", "pillow", "numpy"]
)
batch_env = Environment(name="batch_environment")
batch_env.python.conda_dependencies = batch_conda_deps
batch_env.docker.base_image = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"

parallel_run_config = ParallelRunConfig(
    source_directory=str(HERE / "scripts"),
    entry_script="digit_identification.py",
    mini_batch_size=PipelineParameter(name="batch_size_param", default_value="5"),
    error_threshold=10,
    output_action="append_row",
    append_row_file_name="mnist_outputs.txt",
    environment=batch_env,
    compute_target=compute_target,
    process_count_per_node=PipelineParameter(name="process_count_param", default_value=2),
    node_count=2,
)
parallelrun_step = ParallelRunStep(
    name="predict-digits-mnist",
    parallel_run_config=parallel_run_config,
    inputs=[input_mnist_ds_consumption],
    output=output_dir,
    allow_reuse=False,
)

# %% [markdown]
# ## Run the pipeline

# %%
from shardrun import Experiment, Pipeline, RunDetails

pipeline = Pipeline(workspace=ws, steps=[parallelrun_step])
experiment = Experiment(ws, "digit_identification")
pipeline_run = experiment.submit(pipeline)
RunDetails(pipeline_run).show()
pipeline_run.wait_for_completion(show_output=True)

# %% [markdown]
# ## View the results

# %%
batch_run = pipeline_run.find_step_run(parallelrun_step.name)[0]
batch_output = batch_run.get_output_data(output_dir.name)
target_dir = tempfile.mkdtemp()
batch_output.download(local_path=target_dir)
result_file = os.path.join(
    target_dir, batch_output.path_on_datastore, parallel_run_config.append_row_file_name
)
df = pd.read_csv(result_file, delimiter=":", header=None)
df.columns = ["Filename", "Prediction"]
print("Prediction has ", df.shape[0], " rows")
print(df.head(10))

# %% [markdown]
# ## Resubmit with one image and new parameters

# %%
path_on_datastore = mnist_data.path("mnist/mnist_05000.png")
single_image_ds = Dataset.File.from_files(path=path_on_datastore, validate=False)
pipeline_run_2 = experiment.submit(
    pipeline,
    pipeline_parameters={
        "mnist_param": single_image_ds, "batch_size_param": "1", "process_count_param": 1,
    },
)  # fmt: skip
pipeline_run_2.wait_for_completion()
single = pipeline_run_2.find_step_run(parallelrun_step.name)[0].get_output_data("inferences")
second_dir = single.download(local_path=tempfile.mkdtemp())
print(Path(second_dir, "mnist_outputs.txt").read_text().strip())
print(f"model: {model.name} version {model.version}; results: {result_file}")
