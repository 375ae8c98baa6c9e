"""Listing files: recursive, globbed, sorted off the heap, any file name, loops skipped."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from shardrun import Dataset, ParallelRunConfig, run_parallel
from shardrun.data.listing import iter_files, sorted_unique
from shardrun.errors import ConfigError
from tests.conftest import SCRIPTS


def make(folder: Path, names: list[str], size: int = 1) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)


def test_globs_lists_and_repeats(tmp_path: Path) -> None:
    make(tmp_path, ["x/a.csv", "x/b.txt", "y/c.csv"])
    paths = [str(tmp_path / "**" / "*.csv"), str(tmp_path / "x" / "a.csv")]
    files = [Path(p).name for p, _size in sorted_unique(iter_files(paths))]
    assert files == ["a.csv", "c.csv"]


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        list(iter_files([str(tmp_path / "nope")]))


def test_sorting_a_large_listing_does_not_hold_it_in_memory() -> None:
    count = 200_000
    names = (f"/data/{(n * 7919) % count:08d}.png" for n in range(count))
    tracemalloc.start()
    try:
        previous = ""
        seen = 0
        for path, _size in sorted_unique(((name, 1) for name in names), in_memory=10_000):
            assert path > previous
            previous = path
            seen += 1
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    # 200,000 paths as Python strings would take over 14 MB; 10,000 are held at most.
    assert peak < 8_000_000


def test_in_memory_and_on_disk_sorts_give_the_same_order_and_keep_the_first_repeat() -> None:
    names = [(f"/d/{(n * 7919) % 5000:06d}.png", n) for n in range(5000)]
    names += [(names[7][0], -1), ("/d/caf\udcff", 1), ("/d/caf\u00e9", 2), ("/d/Z", 3)]
    in_memory = list(sorted_unique(iter(names)))
    on_disk = list(sorted_unique(iter(names), chunk=300, in_memory=1000))
    assert in_memory == on_disk
    assert len(in_memory) == 5003
    assert dict(in_memory)[names[7][0]] == 7  # the first of a repeated path stays
    paths = [path for path, _size in in_memory]
    assert paths == sorted(paths, key=lambda p: p.encode("utf-8", "surrogateescape"))
    assert paths[:1] == ["/d/000000.png"]
    assert paths[-2:] == ["/d/caf\u00e9", "/d/caf\udcff"]


# -- any file name, and symbolic link loops (issue 8, item 11) ---------------------------------

ODD_NAME = b"caf\xe9 \xff.txt"  # Latin-1 bytes: not UTF-8


def odd_folder(folder: Path) -> Path:
    """A folder with a file whose name is not UTF-8, a link loop and a self-referring link."""
    (folder / "sub").mkdir(parents=True)
    try:
        with open(os.path.join(os.fsencode(folder), ODD_NAME), "wb") as handle:
            handle.write(b"ok")
    except (OSError, UnicodeError):
        pytest.skip("this filesystem refuses file names that are not UTF-8")
    (folder / "sub" / "plain.txt").write_text("ok")
    os.symlink("..", folder / "sub" / "up")  # a loop: back to its grandparent
    os.symlink("self", folder / "self")  # a link to itself
    return folder


def test_a_name_that_is_not_utf8_is_listed_sorted_and_opened(tmp_path: Path) -> None:
    folder = odd_folder(tmp_path / "in")
    listed = [path for path, _size in sorted_unique(iter_files([str(folder)]))]
    odd = os.fsdecode(os.path.join(os.fsencode(folder), ODD_NAME))
    assert listed == [odd, str(folder / "sub" / "plain.txt")]  # by bytes: "c" < "s"
    with open(listed[0], "rb") as handle:
        assert handle.read() == b"ok"


@pytest.mark.parametrize("pattern", ["", "**", "**/*.txt", "sub"])
def test_link_loops_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, pattern: str
) -> None:
    folder = odd_folder(tmp_path / "in")
    with caplog.at_level(logging.WARNING, logger="shardrun"):
        listed = [path for path, _size in sorted_unique(iter_files([str(folder / pattern)]))]
    assert str(folder / "sub" / "plain.txt") in listed
    assert len(listed) == (1 if pattern == "sub" else 2)  # each file once, not once per level
    loops = [r.getMessage() for r in caplog.records if "symbolic link loop" in r.getMessage()]
    assert loops == [
        f"skipping {folder / 'sub' / 'up'}: a symbolic link loop (it leads back to "
        "a folder above it)"
    ]


def test_a_link_to_itself_is_skipped_with_a_warning_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = odd_folder(tmp_path / "in")
    with caplog.at_level(logging.WARNING, logger="shardrun"):
        listed = list(iter_files([str(folder), str(folder / "*")]))
    assert str(folder / "self") not in [path for path, _ in listed]
    named = [r.getMessage() for r in caplog.records if str(folder / "self") in r.getMessage()]
    assert len(named) == 2  # once per listed path (each path lists on its own)
    assert "Too many levels of symbolic links" in named[0]


def test_a_run_scores_a_name_that_is_not_utf8_and_skips_loops(tmp_path: Path) -> None:
    folder = odd_folder(tmp_path / "in")
    config = ParallelRunConfig(entry_script=str(SCRIPTS / "behave.py"), mini_batch_size="1")
    result = run_parallel(config, str(folder), tmp_path / "out", workspace=tmp_path / "ws")
    assert (result.status, result.succeeded_items, result.failed_items) == ("Completed", 2, 0)
    assert result.output_file is not None
    lines = result.output_file.read_bytes().splitlines()
    assert sorted(lines) == sorted([ODD_NAME + b": ok", b"plain.txt: ok"])


def test_an_error_naming_such_a_file_is_recorded(tmp_path: Path) -> None:
    folder = odd_folder(tmp_path / "in")
    script = tmp_path / "fail.py"
    script.write_text(
        "def init():\n    pass\n\n\ndef run(mini_batch):\n"
        "    raise ValueError(f'cannot score {mini_batch[0]}')\n"
    )
    config = ParallelRunConfig(entry_script=str(script), mini_batch_size="1", run_max_try=1)
    result = run_parallel(config, str(folder), tmp_path / "out", workspace=tmp_path / "ws")
    assert (result.status, result.failed_items) == ("Failed", 2)
    assert f"cannot score {folder}/caf\\xe9 \\xff.txt" in result.reason


def test_a_tabular_path_column_shows_undecodable_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "tab"
    folder.mkdir()
    try:
        with open(os.path.join(os.fsencode(folder), b"caf\xe9.csv"), "wb") as handle:
            handle.write(b"a\n1\n")
    except (OSError, UnicodeError):
        pytest.skip("this filesystem refuses file names that are not UTF-8")
    dataset = Dataset.Tabular.from_delimited_files(str(folder), include_path=True)
    frame = dataset.to_pandas_dataframe()
    assert frame["Path"].tolist() == [str(folder / "caf\\xe9.csv")]


JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/parallelJob.schema.json
type: parallel
name: odd-names
inputs:
  items: {{type: uri_folder, path: ./in}}
outputs:
  scores: {{type: uri_folder, path: ./out}}
input_data: ${{{{inputs.items}}}}
mini_batch_size: "1"
task:
  type: run_function
  code: {code}
  entry_script: behave.py
  append_row_to: ${{{{outputs.scores}}}}
"""


def test_the_cli_runs_a_job_over_odd_names_and_loops(tmp_path: Path) -> None:
    odd_folder(tmp_path / "in")
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(code=SCRIPTS))
    done = subprocess.run(
        [sys.executable, "-m", "shardrun", "run", str(job), "--workspace", "ws"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"skipping {tmp_path / 'in' / 'sub' / 'up'}: a symbolic link loop" in done.stderr
    output = sorted((tmp_path / "out" / "parallel_run_step.txt").read_bytes().splitlines())
    assert output == sorted([ODD_NAME + b": ok", b"plain.txt: ok"])
