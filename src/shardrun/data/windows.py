"""``take()`` and ``skip()``: the :class:`Window` a dataset records, applied when planning.

A dataset never applies its window when ``take()`` or ``skip()`` is called: it records
it. A FileDataset's window counts files in path order and is applied to the sorted listing
(:meth:`shardrun.data.datasets.FileDataset.list_files`). A TabularDataset's window counts
records, in dataset order (files in path order); the mini-batches that
:func:`shardrun.data.splits.plan_tabular` plans are clipped to it, so that a worker still reads
only its own slice:

* **Parquet**: record counts come from the footers that planning reads anyway. A
  mini-batch that straddles an end of the window keeps only the rows inside it (rows
  ``[start, stop)`` of its row groups). Planning stops at the end of the window, so the
  footers of later files are not read (beyond the few dozen read ahead).
* **CSV and JSON Lines**: records are lines (after each file's header), and counting them
  means reading. The driver reads, line by line, only as far as the window reaches: up to
  record ``skip`` to find where the window starts and, with ``take``, up to record
  ``skip + take`` to find where it ends; byte ranges are then clipped to those line
  starts. ``take(10)`` reads a few lines; ``skip(n)`` reads up to record ``n``. Blank
  lines are not records (pyarrow skips them too).
* CSV with ``support_multi_line=True`` (a record may span lines) and files in ``utf16`` /
  ``utf32`` (read whole) hold records that cannot be counted by lines: a window on them is
  a ConfigError.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any, ClassVar, Protocol, TypeVar

from shardrun.data.formats import SPLITTABLE, open_binary
from shardrun.data.listing import sorted_unique, tabular_files
from shardrun.data.minibatch import MiniBatch
from shardrun.data.splits import TableSource, plan_tabular
from shardrun.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Window:
    """Which items of a dataset it keeps, as ``take()`` and ``skip()`` left it.

    Items are files for a FileDataset (in path order) and records for a TabularDataset.
    ``take`` is None when there is no limit.
    """

    skip: int = 0
    take: int | None = None

    KEYS: ClassVar[tuple[str, str]] = ("skip", "take")

    @property
    def whole(self) -> bool:
        """True when nothing is skipped or cut."""
        return self.skip == 0 and self.take is None

    @property
    def stop(self) -> int | None:
        """The position after the last item kept, or None."""
        return None if self.take is None else self.skip + self.take

    def then_skip(self, count: int) -> Window:
        """This window, then ``skip(count)``."""
        take = None if self.take is None else max(self.take - count, 0)
        return Window(self.skip + count, take)

    def then_take(self, count: int) -> Window:
        """This window, then ``take(count)``."""
        return Window(self.skip, count if self.take is None else min(self.take, count))

    def apply(self, items: Iterable[T]) -> Iterator[T]:
        """The items kept, lazily."""
        return islice(items, self.skip, self.stop)

    def to_spec(self) -> dict[str, Any]:
        """The window as spec entries (none when it keeps everything)."""
        spec: dict[str, Any] = {"skip": self.skip} if self.skip else {}
        if self.take is not None:
            spec["take"] = self.take
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Window:
        """The window a spec records."""
        take = spec.get("take")
        return cls(int(spec.get("skip") or 0), None if take is None else int(take))


def count_of(method: str, count: Any) -> int:
    """``count`` checked for ``take()`` or ``skip()``.

    Raises:
        ConfigError: Not an integer >= 0.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ConfigError(f"{method}() needs a count, an integer >= 0; got {count!r}")
    return count


class WindowedTable(TableSource, Protocol):
    """A tabular dataset with the window its ``take()`` and ``skip()`` left."""

    @property
    def window(self) -> Window:
        """The records kept."""


#: ``(path, byte)``: where a record's line starts; byte -1 means the end of that file.
Place = tuple[str, int]


def plan_table(
    dataset: WindowedTable, size: int, input_name: str, first_index: int = 0
) -> Iterator[MiniBatch]:
    """The mini-batches of a tabular dataset, about ``size`` bytes each, window applied."""
    window = dataset.window
    if window.whole:
        return plan_tabular(dataset, size, input_name, first_index)
    if window.take == 0:
        return iter(())
    batches = plan_tabular(dataset, size, input_name, first_index)
    if dataset.format == "parquet":
        clipped = clip_rows(batches, window)
    else:
        bounds = text_bounds(dataset, window)
        clipped = iter(()) if bounds is None else clip_bytes(batches, *bounds)
    return (replace(b, index=first_index + n) for n, b in enumerate(clipped))


def clip_rows(batches: Iterable[MiniBatch], window: Window) -> Iterator[MiniBatch]:
    """Parquet mini-batches cut to the records of ``window`` (counted from the footers)."""
    position = 0
    for batch in batches:
        if window.stop is not None and position >= window.stop:
            return
        if batch.items < 0:
            raise ConfigError(
                f"take()/skip() need the row count of {batch.files[0]}, whose Parquet footer "
                "cannot be read; fix or remove the file"
            )
        low, high = position, position + batch.items
        position = high
        first = max(window.skip, low)
        last = high if window.stop is None else min(window.stop, high)
        if last <= first:
            continue
        if (first, last) == (low, high):
            yield batch
            continue
        kept = last - first
        yield replace(
            batch,
            start=batch.start + first - low,
            stop=batch.start + last - low,
            items=kept,
            size=batch.size * kept // max(batch.items, 1),
        )


def text_bounds(dataset: TableSource, window: Window) -> tuple[Place, Place | None] | None:
    """Where record ``window.skip`` starts and record ``window.stop`` starts (or None: the
    end of the data); None when the data has no record ``window.skip``.

    A record that opens its file is placed at byte 0 (its header, if any, then belongs to
    the range); a window that ends where a file begins ends at the previous file's end.

    Raises:
        ConfigError: Records cannot be counted by lines (multi-line CSV, utf16/utf32).
    """
    if dataset.encoding not in SPLITTABLE or (
        dataset.format == "csv" and dataset.support_multi_line
    ):
        raise ConfigError(
            f"take()/skip() cannot be applied to {dataset!r}: its records cannot be counted "
            "by lines (support_multi_line=True lets one span lines; utf16/utf32 files are "
            "read whole); use Parquet, or select whole files with a glob"
        )
    header = dataset.format == "csv" and dataset.header
    blank = b"\r\n" if dataset.format == "csv" else None  # JSON Lines: any whitespace
    count = 0
    start: Place | None = None
    previous = ""
    for path, _size in sorted_unique(tabular_files(dataset.paths)):
        with open_binary(path) as handle:
            offset = len(handle.readline()) if header else 0
            opening = True
            for line in handle:
                if line.strip(blank):
                    place = (path, 0 if opening else offset)
                    if count == window.skip:
                        start = place
                    if count == window.stop and start is not None:
                        return start, ((previous, -1) if opening else place)
                    count += 1
                    opening = False
                offset += len(line)
            if not opening:
                previous = path
    return None if start is None else (start, None)


def clip_bytes(
    batches: Iterable[MiniBatch], start: Place, end: Place | None
) -> Iterator[MiniBatch]:
    """CSV/JSONL byte-range mini-batches cut to the lines from ``start`` up to ``end``."""
    inside = reached_end = False
    for batch in batches:
        path = batch.files[0]
        if not inside:
            if path != start[0]:
                continue
            inside = True
        if end is not None:
            if path == end[0]:
                reached_end = True
            elif reached_end:
                return
        low = start[1] if path == start[0] else 0
        high = end[1] if end is not None and path == end[0] else -1
        begin = max(batch.start, low)
        stop = batch.start + batch.size if batch.stop < 0 else batch.stop
        finish = stop if high < 0 else min(stop, high)
        if finish <= begin:
            continue
        at_eof = batch.stop < 0 and finish == stop
        yield replace(batch, start=begin, stop=-1 if at_eof else finish, size=finish - begin)
