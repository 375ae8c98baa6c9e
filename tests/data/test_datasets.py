"""Datasets: paths as Azure takes them, registration and versions, lazy take/skip, to_path and
download, tabular windows, local datastores read in place, and side inputs (local and on
Azurite, through run_parallel and a ParallelRunStep)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shardrun import (
    ConfigError,
    Dataset,
    DatasetConsumptionConfig,
    Datastore,
    FileDataset,
    ParallelRunConfig,
    Workspace,
    run_parallel,
)
from shardrun.data import side_inputs as sides
from shardrun.data.datasets import AbstractDataset, dataset_from_spec
from shardrun.data.factory import named_inputs
from shardrun.data.formats import read_table
from shardrun.data.windows import plan_table
from shardrun.engine.partition import plan_input
from shardrun.pipelines.experiment import Experiment
from shardrun.pipelines.pipeline import ParallelRunStep, Pipeline, PipelineData

if TYPE_CHECKING:
    from tests.services import Server

pytest_plugins = ["tests.services"]


def make_files(folder: Path, names: list[str]) -> Path:
    """Files named ``names`` below ``folder``, each holding ``content of <name>``."""
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {name}")
    return folder


DIGITS = [f"{n}.png" for n in range(10)]


def digits(tmp_path: Path) -> Path:
    """``mnist/0.png`` … ``mnist/9.png`` and ``mnist/sub/x.png`` in ``tmp_path/src``."""
    return make_files(tmp_path / "src" / "mnist", [*DIGITS, "sub/x.png"])


# -- paths --------------------------------------------------------------------------------


def test_from_files_takes_paths_as_azure_does(ws: Workspace, tmp_path: Path) -> None:
    store = ws.get_default_datastore()
    store.upload(digits(tmp_path), "mnist", show_progress=False)
    url = "azureml://datastores/workspaceblobstore/paths/mnist"
    assert Dataset.File.from_files(store.path("mnist/")).paths == (f"{url}/",)
    one = Dataset.File.from_files((store, "mnist/0.png"))  # one path, not a list of two
    assert one.paths == (f"{url}/0.png",)
    here = tmp_path / "src"
    mixed = Dataset.File.from_files([(store, "mnist/1.png"), store.path("mnist/sub/"), here])
    assert mixed.paths == (f"{url}/1.png", f"{url}/sub/", str(here))
    with pytest.raises(ConfigError, match="does not exist"):
        Dataset.File.from_files(store.path("mnist/missing.png"))
    with pytest.raises(ConfigError, match="matches no file"):
        Dataset.File.from_files([(store, "mnist/*.jpg")])
    with pytest.raises(ConfigError, match="matches no file"):
        Dataset.File.from_files(str(tmp_path / "src" / "*.jpg"))
    with pytest.raises(ConfigError, match="a path must be a string, a DataPath"):
        Dataset.File.from_files([42])
    with pytest.raises(ConfigError, match="at least one"):
        Dataset.File.from_files([])
    # Run inputs take the same: one path, or a list of paths as one file dataset.
    (single,) = named_inputs((store, "mnist/"))
    assert (single.name, single.dataset.paths) == ("input", (f"{url}/",))
    (both,) = named_inputs([store.path("mnist/0.png"), (store, "mnist/1.png")])
    assert both.dataset.paths == (f"{url}/0.png", f"{url}/1.png")
    lazy = Dataset.File.from_files(store.path("later/"), validate=False)
    assert lazy.to_spec() == {"kind": "file", "paths": [f"{url[:-5]}later/"], "name": None}


def test_tabular_factories_take_datapaths(ws: Workspace, tmp_path: Path) -> None:
    store = ws.get_default_datastore()
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.csv").write_text("id,name\n1,x\n2,y\n")
    store.upload(tmp_path / "t", "tables", show_progress=False)
    table = Dataset.Tabular.from_delimited_files((store, "tables/a.csv"))
    assert table.paths == ("azureml://datastores/workspaceblobstore/paths/tables/a.csv",)
    assert table.to_pandas_dataframe()["id"].tolist() == [1, 2]
    with pytest.raises(ConfigError):
        Dataset.Tabular.from_delimited_files(store.path("tables/missing.csv"))


def test_consumption_configs(tmp_path: Path) -> None:
    dataset = Dataset.File.from_files(str(make_files(tmp_path, ["a.txt"])))
    named = dataset.as_named_input("images")
    assert (named.name, named.dataset, named.mode) == ("images", dataset, "mount")
    assert named.as_download("/tmp/x").mode == "download"
    assert named.as_mount(path_on_compute="/mnt/x") == named
    assert dataset.as_mount("/tmp/y").mode == "mount"
    assert DatasetConsumptionConfig("p", dataset).as_download().dataset is dataset


# -- registration -------------------------------------------------------------------------


def test_registration_versions(ws: Workspace, tmp_path: Path) -> None:
    folder = digits(tmp_path)
    dataset = Dataset.File.from_files(str(folder))
    first = dataset.register(ws, "mnist files", "ten digits", {"stage": 1})
    assert (first.name, first.version, first.description, first.tags) == (
        "mnist files", 1, "ten digits", {"stage": "1"},
    )  # fmt: skip
    assert (dataset.name, dataset.version, dataset.id) == (None, None, None)  # unchanged
    assert isinstance(first, FileDataset)
    uuid.UUID(str(first.id))
    # The same definition: the same version, with or without create_new_version.
    assert dataset.register(ws, "mnist files").version == 1
    assert dataset.register(ws, "mnist files", create_new_version=True).version == 1
    assert first.register(ws, "mnist files").id == first.id
    changed = dataset.take(3)
    with pytest.raises(ConfigError, match=r"already registered \(version 1\); pass create_new"):
        changed.register(ws, "mnist files")
    second = changed.register(ws, "mnist files", create_new_version=True)
    assert (second.version, second.window.take) == (2, 3)
    assert second.id != first.id

    latest = Dataset.get_by_name(ws, "mnist files")
    assert (latest.version, latest.to_path()) == (2, ["/0.png", "/1.png", "/2.png"])
    assert Dataset.get_by_name(ws, "mnist files", version=1).to_path()[-1] == "/sub/x.png"
    assert AbstractDataset.get_by_name(ws, "mnist files", "2").id == second.id
    with pytest.raises(ConfigError, match=r"registered: \['mnist files'\]"):
        Dataset.get_by_name(ws, "nope")
    with pytest.raises(ConfigError, match=r"has no version 7; it has versions \[1, 2\]"):
        Dataset.get_by_name(ws, "mnist files", 7)
    with pytest.raises(ConfigError, match="version must be a positive integer"):
        Dataset.get_by_name(ws, "mnist files", "newest")
    other = Dataset.Tabular.from_delimited_files(str(_csv(tmp_path)))
    other.register(ws, "table")
    everything = Dataset.get_all(ws)
    assert {n: d.version for n, d in everything.items()} == {"mnist files": 2, "table": 1}
    assert everything["table"].to_pandas_dataframe()["id"].tolist() == [0, 1, 2]
    for bad in ("", " x", "a/b", "x\n"):
        with pytest.raises(ConfigError, match="dataset name must be"):
            dataset.register(ws, bad)
    with pytest.raises(ConfigError, match="workspace must be a Workspace"):
        dataset.register(str(ws.path), "x")  # type: ignore[arg-type]


def test_ensure_saved_and_get_by_id(ws: Workspace, tmp_path: Path) -> None:
    dataset = Dataset.File.from_files(str(digits(tmp_path))).skip(8)
    saved_id = dataset._ensure_saved(ws)
    assert (dataset.id, dataset.version) == (saved_id, None)
    assert dataset._ensure_saved(ws) == saved_id
    assert Dataset.get_all(ws) == {}  # saved is not registered
    found = Dataset.get_by_id(ws, saved_id)
    assert (found.name, found.version, found.id) == (None, None, saved_id)
    assert found.to_path() == ["/8.png", "/9.png", "/sub/x.png"]
    registered = dataset.register(ws, "tail")
    assert registered.id == saved_id
    assert Dataset.get_by_id(ws, saved_id).name == "tail"  # the registered one wins
    with pytest.raises(ConfigError, match="no dataset with id 'nope'"):
        Dataset.get_by_id(ws, "nope")


# -- take and skip --------------------------------------------------------------------------


def test_take_and_skip_are_lazy_and_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ws: Workspace
) -> None:
    folder = digits(tmp_path)
    import shardrun.data.datasets

    def refuse(paths: Any) -> Any:
        raise AssertionError("listed")

    with monkeypatch.context() as patch:
        patch.setattr(shardrun.data.datasets, "iter_files", refuse)
        dataset = Dataset.File.from_files(str(folder))
        cut = dataset.skip(2).take(5).skip(1).take(3)
        registered = cut.register(ws, "cut")
    assert (cut.window.skip, cut.window.take) == (3, 3)
    assert (cut.to_spec()["skip"], cut.to_spec()["take"]) == (3, 3)
    assert dataset_from_spec(cut.to_spec()).window == cut.window
    assert registered.to_path() == ["/3.png", "/4.png", "/5.png"]
    assert dataset.take(3).to_path() == ["/0.png", "/1.png", "/2.png"]
    assert dataset.skip(9).to_path() == ["/9.png", "/sub/x.png"]
    assert dataset.take(5).skip(3).to_path() == ["/3.png", "/4.png"]
    assert dataset.take(0).to_path() == []
    assert dataset.skip(50).to_path() == []
    assert [Path(p).name for p, _ in dataset.skip(1).take(2).list_files()] == ["1.png", "2.png"]
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ConfigError, match=r"take\(\) needs a count"):
            dataset.take(bad)  # type: ignore[arg-type]
    config = ParallelRunConfig(entry_script=str(_script(tmp_path)), mini_batch_size="2")
    batches = list(plan_input(dataset.skip(4).take(5), config, "in"))
    assert [[Path(f).name for f in b.files] for b in batches] == [
        ["4.png", "5.png"], ["6.png", "7.png"], ["8.png"],
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="cannot be combined with partition_keys"):
        plan_input(dataset.take(2), config.replace(partition_keys=["x"]), "in")


def _csv(tmp_path: Path, files: int = 1, rows: int = 3) -> Path:
    folder = tmp_path / "csv"
    folder.mkdir(exist_ok=True)
    for f in range(files):
        body = "".join(f"{f * rows + i},n{f * rows + i}\n" for i in range(rows))
        # A blank line is no record (pyarrow skips it too).
        (folder / f"part{f}.csv").write_text("id,name\n" + body + "\n")
    return folder


def _ids(dataset: Any, size: int) -> list[int]:
    """The ``id`` of every record, read mini-batch by mini-batch as workers read them."""
    options = dataset.read_options()
    return [
        i for b in plan_table(dataset, size, "in") for i in read_table(b, options)["id"].to_pylist()
    ]


WINDOWS = [(0, 5), (8, 4), (10, 10), (25, None), (0, 30), (29, 5), (30, 1), (3, 0), (7, 1)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_tabular_take_and_skip_count_records(tmp_path: Path, fmt: str) -> None:
    if fmt == "csv":
        dataset = Dataset.Tabular.from_delimited_files(str(_csv(tmp_path, files=3, rows=10)))
    elif fmt == "jsonl":
        (tmp_path / "j").mkdir()
        for f in range(3):
            lines = "".join(json.dumps({"id": f * 10 + i}) + "\n" for i in range(10))
            (tmp_path / "j" / f"{f}.jsonl").write_text(lines)
        dataset = Dataset.Tabular.from_json_lines_files(str(tmp_path / "j"))
    else:
        (tmp_path / "p").mkdir()
        pq.write_table(pa.table({"id": list(range(17))}), tmp_path / "p" / "a.parquet", 4)
        pq.write_table(pa.table({"id": list(range(17, 30))}), tmp_path / "p" / "b.parquet", 13)
        dataset = Dataset.Tabular.from_parquet_files(str(tmp_path / "p"))
    for skip, take in WINDOWS:
        cut = dataset.skip(skip) if take is None else dataset.skip(skip).take(take)
        expected = list(range(30))[skip : None if take is None else skip + take]
        for size in (1 << 20, 40, 1):
            assert _ids(cut, size) == expected, (skip, take, size)
        frame = cut.to_pandas_dataframe()
        assert (frame["id"].tolist() if expected else len(frame)) == (expected or 0)
    assert type(dataset.take(2)) is type(dataset)


def test_take_on_a_csv_reads_only_what_it_needs(tmp_path: Path) -> None:
    folder = _csv(tmp_path, files=2, rows=4)
    (folder / "zz.csv").write_bytes(b"\xff\xfe not a csv at all \x00\n" * 10)
    dataset = Dataset.Tabular.from_delimited_files(str(folder), validate=False)
    assert dataset.take(6).to_pandas_dataframe()["name"].tolist() == [
        "n0", "n1", "n2", "n3", "n4", "n5",
    ]  # fmt: skip
    whole = Dataset.Tabular.from_delimited_files(
        str(folder), validate=False, infer_column_types=False, support_multi_line=True
    )
    with pytest.raises(ConfigError, match="cannot be counted by lines"):
        list(plan_table(whole.take(2), 100, "in"))


# -- to_path and download -------------------------------------------------------------------


def test_to_path_and_download_keep_the_layout(tmp_path: Path) -> None:
    src = make_files(tmp_path / "src", ["mnist/0.png", "mnist/sub/1.png", "other/x.png"])
    folder = Dataset.File.from_files(str(src / "mnist"))
    assert folder.to_path() == ["/0.png", "/sub/1.png"]
    files = Dataset.File.from_files([str(src / "mnist" / "0.png"), str(src / "other" / "x.png")])
    assert files.to_path() == ["/mnist/0.png", "/other/x.png"]
    assert Dataset.File.from_files(str(src / "*" / "*.png")).to_path() == [
        "/mnist/0.png", "/other/x.png",
    ]  # fmt: skip
    assert Dataset.File.from_files(str(src / "other" / "x.png")).to_path() == ["/x.png"]

    target = tmp_path / "out"
    local = files.download(target)
    assert local == [str(target / "mnist" / "0.png"), str(target / "other" / "x.png")]
    assert Path(local[1]).read_text() == "content of other/x.png"
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        files.download(target)
    (src / "other" / "x.png").write_text("changed")
    files.download(target, overwrite=True)
    assert Path(local[1]).read_text() == "changed"
    assert not list(target.rglob(".*.partial"))
    temporary = folder.take(1).download()
    assert [Path(p).name for p in temporary] == ["0.png"]


# -- runs -------------------------------------------------------------------------------------

SCORE = """
import argparse
import os


def init():
    global side
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", default="")
    parser.add_argument("--more", default="")
    parser.add_argument("--fail_if", default="")
    args, _ = parser.parse_known_args()
    global fail_if
    fail_if = args.fail_if
    side = describe(args.side) + "|" + describe(args.more)


def describe(path):
    if not path:
        return "-"
    if os.path.isfile(path):
        return f"file:{os.path.basename(path)}={open(path).read()}"
    found = []
    for root, _, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            found.append(f"{os.path.relpath(full, path)}={open(full).read()}")
    return "dir:" + ",".join(sorted(found))


def run(mini_batch):
    if fail_if and os.path.exists(fail_if):
        raise RuntimeError("asked to fail")
    return [f"{os.path.basename(p)}|{open(p).read()}|{os.path.dirname(p)}|{side}"
            for p in mini_batch]
"""


def _script(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "score.py").write_text(SCORE)
    return code / "score.py"


def _config(tmp_path: Path, **overrides: Any) -> ParallelRunConfig:
    settings: dict[str, Any] = {
        "entry_script": "score.py",
        "source_directory": str(_script(tmp_path).parent),
        "mini_batch_size": "2",
        "process_count_per_node": 1,
    }
    return ParallelRunConfig(**{**settings, **overrides})


def _lines(result: Any) -> list[str]:
    assert result.status == "Completed", result.reason
    return list(result.output_file.read_text().splitlines())


def test_a_local_datastore_is_read_in_place_and_side_inputs_reach_workers(
    ws: Workspace, tmp_path: Path
) -> None:
    store = ws.get_default_datastore()
    store.upload(make_files(tmp_path / "img", ["a.txt", "b.txt", "c.txt"]), "images")
    labels = make_files(tmp_path / "labels", ["l1.txt", "sub/l2.txt"])
    vocab = make_files(tmp_path / "vocab", ["v.txt", "w.txt", "skip.md"])
    local_labels = Dataset.File.from_files(str(labels)).as_named_input("labels")
    vocab_glob = Dataset.File.from_files(str(vocab / "*.txt"))
    result = run_parallel(
        _config(tmp_path),
        Dataset.File.from_files(store.path("images/")).skip(1),
        workspace=ws,
        arguments=["--side", local_labels, "--more", vocab_glob],
        side_inputs=[local_labels, vocab_glob],
        show_progress=False,
    )
    images = ws.path / "datastores" / "workspaceblobstore" / "images"
    copied = result.run_dir / "side_inputs" / "side_input_1"
    side = "dir:l1.txt=content of l1.txt,sub/l2.txt=content of sub/l2.txt"
    more = "dir:v.txt=content of v.txt,w.txt=content of w.txt"
    assert _lines(result) == [
        f"{n}.txt|content of {n}.txt|{images}|{side}|{more}" for n in ("b", "c")
    ]  # read in place: no copy into the run's cache
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["arguments"] == ["--side", str(labels), "--more", str(copied)]
    assert [(s["name"], s["fetch"]) for s in record["side_inputs"]] == [
        ("labels", False), ("side_input_1", True),
    ]  # fmt: skip
    assert sorted(p.name for p in copied.iterdir()) == ["v.txt", "w.txt"]

    # Resume fetches what is missing, once.
    (copied / "v.txt").unlink()
    sides.fetch(result.run_dir, record["side_inputs"])
    assert not (copied / "v.txt").exists()
    copied.rename(tmp_path / "gone")
    sides.fetch(result.run_dir, record["side_inputs"])
    assert sorted(p.name for p in copied.iterdir()) == ["v.txt", "w.txt"]

    twice = [vocab_glob.as_named_input("v"), local_labels.dataset.as_named_input("v")]
    with pytest.raises(ConfigError, match="side input names must be unique"):
        run_parallel(_config(tmp_path), str(labels), workspace=ws, side_inputs=twice)
    with pytest.raises(ConfigError, match="side_inputs must be datasets"):
        run_parallel(_config(tmp_path), str(labels), workspace=ws, side_inputs=[3])
    with pytest.raises(ConfigError, match=r"side input path .* does not exist"):
        run_parallel(
            _config(tmp_path), str(labels), workspace=ws, side_inputs=[str(tmp_path / "nope")]
        )


def test_a_resumed_run_fetches_its_side_inputs_again(ws: Workspace, tmp_path: Path) -> None:
    flag = tmp_path / "fail"
    flag.write_text("")
    data = make_files(tmp_path / "data", ["x.txt"])
    vocab = Dataset.File.from_files(str(make_files(tmp_path / "vocab", ["v.txt"])))
    # A dataset in arguments must be one of the side inputs (the same object).
    with pytest.raises(ConfigError, match=r"arguments\[3\] must be a string"):
        run_parallel(
            _config(tmp_path),
            str(data),
            workspace=ws,
            arguments=["--fail_if", str(flag), "--side", vocab.take(1)],
            side_inputs=[vocab.take(1)],
        )
    cut = vocab.take(1)
    second = run_parallel(
        _config(tmp_path, run_max_try=1, error_threshold=0),
        str(data),
        workspace=ws,
        arguments=["--fail_if", str(flag), "--side", cut],
        side_inputs=[cut],
        show_progress=False,
    )
    assert second.status == "Failed"
    folder = second.run_dir / "side_inputs" / "side_input_0"
    shutil.rmtree(folder)
    flag.unlink()
    resumed = second.resume(show_progress=False)
    assert _lines(resumed) == [f"x.txt|content of x.txt|{data}|dir:v.txt=content of v.txt|-"]
    assert (folder / "v.txt").read_text() == "content of v.txt"


def test_side_inputs_count_for_step_reuse(
    ws: Workspace, tmp_path: Path, pipeline_drivers: Path
) -> None:
    data = make_files(tmp_path / "data", ["x.txt"])
    labels = make_files(tmp_path / "labels", ["l.txt"])
    label_ds = Dataset.File.from_files(str(labels / "l.txt"))

    def submit() -> list[str]:
        step = ParallelRunStep(
            "reuse-side",
            _config(tmp_path),
            inputs=[Dataset.File.from_files(str(data))],
            output=PipelineData("scores"),
            side_inputs=[label_ds],
            arguments=["--side", label_ds],
        )
        run = Experiment(ws, "reuse-side").submit(Pipeline(ws, [step]))
        assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Completed"
        details = run.find_step_run("reuse-side")[0].get_details()
        output = run.find_step_run("reuse-side")[0].get_output_data("scores").local_path
        lines = (Path(output) / "parallel_run_step.txt").read_text().splitlines()
        return [str("reused_from" in details), *lines]

    line = f"x.txt|content of x.txt|{data}|file:l.txt=content of l.txt|-"
    assert submit() == ["False", line]
    assert submit() == ["True", line]
    (labels / "l.txt").write_text("new labels")
    assert submit() == ["False", line.replace("content of l.txt", "new labels")]


# -- Azurite --------------------------------------------------------------------------------


def register_blob(ws: Workspace, azurite: Server) -> Datastore:
    """An Azurite container (fresh) as datastore ``images`` (test_datastores owns ``blob``:
    credentials announce a variable once per process, and it checks that)."""
    return Datastore.register_azure_blob_container(
        ws, "images", f"ds-{uuid.uuid4().hex[:8]}", azurite.account_name,
        account_key=azurite.account_key, endpoint=azurite.blob_endpoint,
        create_if_not_exists=True,
    )  # fmt: skip


@pytest.mark.service
def test_remote_datasets_list_download_and_run(
    ws: Workspace, azurite: Server, tmp_path: Path
) -> None:
    store = register_blob(ws, azurite)
    store.upload(digits(tmp_path), "mnist", show_progress=False)
    images = Dataset.File.from_files(store.path("mnist/"))
    assert images.to_path() == [f"/{n}" for n in DIGITS] + ["/sub/x.png"]
    pair = Dataset.File.from_files([(store, "mnist/3.png"), store.path("mnist/sub/x.png")])
    assert pair.to_path() == ["/3.png", "/sub/x.png"]
    with pytest.raises(ConfigError, match="does not exist"):
        Dataset.File.from_files((store, "nothing/"))
    with pytest.raises(ConfigError, match="matches no file"):
        Dataset.File.from_files(store.path("mnist/*.jpg"))
    local = pair.download(tmp_path / "out")
    assert local == [str(tmp_path / "out" / "3.png"), str(tmp_path / "out" / "sub" / "x.png")]
    assert Path(local[1]).read_text() == "content of sub/x.png"

    labels = make_files(tmp_path / "labels", ["labels.txt"])
    store.upload(labels, "labels", show_progress=False)
    label_file = Dataset.File.from_files((store, "labels/labels.txt"))
    result = run_parallel(
        _config(tmp_path),
        images.take(3),
        workspace=ws,
        arguments=["--side", label_file],
        side_inputs=[label_file],
        show_progress=False,
    )
    rows = [line.split("|") for line in _lines(result)]
    side = "file:labels.txt=content of labels.txt"
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        (f"{n}.png", f"content of {n}.png", side, "-") for n in range(3)
    ]
    # Remote files are downloaded per mini-batch into the run's cache, removed after run().
    assert all(Path(r[2]).is_relative_to(result.run_dir / "cache") for r in rows)
    assert not list((result.run_dir / "cache").rglob("*.png"))
    downloaded = result.run_dir / "side_inputs" / "side_input_0" / "labels.txt"
    assert downloaded.read_text() == "content of labels.txt"
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["arguments"] == ["--side", str(downloaded)]


@pytest.mark.service
def test_a_pipeline_step_gets_remote_side_inputs_as_local_paths(
    ws: Workspace, azurite: Server, tmp_path: Path
) -> None:
    store = register_blob(ws, azurite)
    store.upload(make_files(tmp_path / "ref", ["a.txt", "deep/b.txt"]), "ref", show_progress=False)
    data = make_files(tmp_path / "data", ["x.txt", "y.txt"])
    reference = Dataset.File.from_files(store.path("ref/")).as_named_input("reference")
    step = ParallelRunStep(
        "with-side",
        _config(tmp_path, mini_batch_size="5"),
        inputs=[Dataset.File.from_files(str(data))],
        output=PipelineData("scores"),
        side_inputs=[reference],
        arguments=["--side", reference],
        allow_reuse=False,
    )
    run = Experiment(ws, "side").submit(Pipeline(ws, [step]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Completed"
    step_run = run.find_step_run("with-side")[0]
    folder = step_run.run_dir / "side_inputs" / "reference"
    side = "dir:a.txt=content of a.txt,deep/b.txt=content of deep/b.txt"
    output = Path(step_run.get_output_data("scores").local_path) / "parallel_run_step.txt"
    assert output.read_text().splitlines() == [
        f"{n}.txt|content of {n}.txt|{data}|{side}|-" for n in ("x", "y")
    ]
    record = json.loads((step_run.run_dir / "run.json").read_text())
    assert record["arguments"] == ["--side", str(folder)]
