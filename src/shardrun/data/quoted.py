"""Find record boundaries in a CSV whose quoted fields hold line breaks, in one pass.

With ``support_multi_line=True`` a line feed ends a record only outside quotes, so the
planner cannot cut at any line feed as it does for other text files. :func:`record_starts`
reads the file once, sequentially, in large blocks, and finds the cuts with numpy:

* **Quote parity.** Outside quotes, every quoted field has an even number of ``"`` (its
  two delimiting quotes, plus two per RFC 4180 ``""`` escape). So a line feed ends a record
  exactly when the number of quotes before it is even: (quotes carried from earlier blocks
  + ``searchsorted(quotes, line feed)``) & 1 == 0, and the byte after it is a record start.
  For each target (the previous cut + ``size``) the first record start at or after it is
  a cut. Only the few kilobytes after a target are searched for line feeds; every block is
  searched for quotes.
* **Stray quotes.** Parity is only right when every ``"`` opens or closes a field, as the
  CSV parser (pyarrow's) reads it. In ``5"`` inside an unquoted field the quote is a
  literal, and parity would be off by one from there on. So each quote is checked where
  it stands: one that opens a field (an even number of quotes before it) must follow a
  delimiter, a line break, the start of the file (or its UTF-8 BOM) or a quote (the second
  half of ``""``); one that closes a field must be followed by a delimiter, a line break,
  the end of the file or a quote. At the first quote that breaks the rule the scan stops
  and no more cuts are made: the cuts before it are still right (every quote before it
  was read as pyarrow reads it), and the rest of the file is one mini-batch. A file with a
  stray quote in its first mini-batch is therefore read whole, as before; a cut is never
  made in the wrong place.
* **A quote left open at the end of the file** makes no cut after it (the parity is odd from
  there), so the last mini-batch reads exactly what reading the whole file would.
* **The header** (when the files have one) must be one line: a worker reads it from the
  first line of the file. If the first line feed is inside quotes, nothing is cut.

Only encodings in which ``"``, the delimiter, CR and LF are single ASCII bytes that never
occur inside another character can be scanned this way (UTF-8, Latin-1, Windows-1252,
ASCII): :func:`shardrun.data.splits.plan_tabular` scans only those, and only when the
delimiter is one byte in the file's encoding.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import numpy as np
import numpy.typing as npt

Bytes = npt.NDArray[np.uint8]
Indices = npt.NDArray[np.intp]

#: Bytes read at a time (a block and its index arrays stay in the CPU caches: with
#: dense quotes 1 MiB scans about twice as fast as 16 MiB).
BLOCK = 1 << 20
#: Bytes searched for line feeds at a time after a target.
_WINDOW = 1 << 14
_QUOTE, _LF, _CR = ord('"'), ord("\n"), ord("\r")
_BOM = b"\xef\xbb\xbf"


def record_starts(
    handle: IO[bytes],
    nbytes: int,
    size: int,
    delimiter: int,
    *,
    header: bool = False,
    block: int = BLOCK,
) -> Iterator[int]:
    """Byte offsets of record starts about ``size`` bytes apart, in increasing order.

    Each one is the first record start at or after the previous one (0 at first) plus
    ``size``, before ``nbytes``; 0 and ``nbytes`` themselves are never yielded. The cuts
    come while the file is read, so that a caller can plan the first mini-batches before
    the scan ends.

    Args:
        handle: The file, open for reading bytes, positioned at its start.
        nbytes: The file's size (as listed); nothing at or past it is yielded.
        size: The distance between targets (the mini-batch size, in bytes).
        delimiter: The field delimiter's byte.
        header: The first line is a header: nothing is cut if it holds a quoted line break.
        block: Bytes read at a time (small in tests, to cut quotes and CRLFs across blocks).
    """
    scan = _Scan(nbytes, size, delimiter, header)
    # The buffer holds one byte already scanned (what precedes the first byte to scan; a
    # line feed before the file), the bytes to scan, and one byte held back so that a
    # quote's next byte is always there (at the end of the file: a line feed not in it).
    buffer = bytearray(block + 2)
    view = memoryview(buffer)
    buffer[0] = _LF
    kept = 1
    origin = -1  # the file offset of buffer[0]
    while scan.target < nbytes:
        got = _read_into(handle, view[kept : kept + block])
        if got:
            filled = kept + got
        else:
            buffer[kept] = _LF
            filled = kept + 1
        yield from scan.region(np.frombuffer(buffer, np.uint8, filled), origin)
        if scan.stopped or not got:
            return
        origin += filled - 2
        buffer[:2] = buffer[filled - 2 : filled]
        kept = 2


def _read_into(handle: IO[bytes], into: memoryview) -> int:
    """Fill ``into`` from ``handle`` (a short read only at the end); the bytes read."""
    reader = getattr(handle, "readinto", None)
    if reader is not None:
        return int(reader(into) or 0)
    data = handle.read(len(into))
    into[: len(data)] = data
    return len(data)


class _Scan:
    """The state carried from block to block."""

    def __init__(self, nbytes: int, size: int, delimiter: int, header: bool) -> None:
        self.nbytes = nbytes
        self.size = max(size, 1)
        self.target = self.size
        self.quotes = 0  # quotes before the current region
        self.header = header  # the first line feed is still to be checked
        self.head = b""  # the first bytes of the file, up to the length of a BOM
        self.stopped = False
        self.fits = np.zeros(256, np.bool_)  # bytes that may stand next to a field's quote
        self.fits[[delimiter, _LF, _CR, _QUOTE]] = True

    def region(self, array: Bytes, origin: int) -> Iterator[int]:
        """The cuts in ``array[1:-1]`` (file offsets ``origin + 1`` onwards)."""
        end = len(array) - 1
        if len(self.head) < len(_BOM):
            self.head += array[1:end][: len(_BOM) - len(self.head)].tobytes()
        quotes = np.flatnonzero(array[1:end] == _QUOTE) + 1
        limit = self._first_stray(array, quotes, origin)
        if limit < end:
            self.stopped = True
        if self.header:
            feeds = np.flatnonzero(array[1:limit] == _LF)
            if feeds.size:
                self.header = False
                if (self.quotes + np.searchsorted(quotes, feeds[0] + 1)) & 1:
                    self.stopped = True
                    return
            elif limit < end:
                return
        low = max(self.target - 1 - origin, 1)
        while low < limit and not self.header:
            high = min(low + _WINDOW, limit)
            feeds = np.flatnonzero(array[low:high] == _LF) + low
            if feeds.size:
                parity = (self.quotes + np.searchsorted(quotes, feeds)) & 1
                ends = feeds[parity == 0]
                if ends.size:
                    cut = origin + int(ends[0]) + 1
                    if cut >= self.nbytes:
                        self.stopped = True
                        return
                    yield cut
                    self.target = cut + self.size
                    low = max(self.target - 1 - origin, int(ends[0]) + 1)
                    continue
            low = high
        self.quotes += len(quotes)

    def _first_stray(self, array: Bytes, quotes: Indices, origin: int) -> int:
        """The index of the first quote that neither opens nor closes a field (or the end)."""
        first = self.quotes & 1  # the first quote here closes a field when odd
        opening, closing = quotes[first::2], quotes[1 - first :: 2]
        before = array[opening - 1]
        if self.head == _BOM and opening.size and opening[0] + origin == len(_BOM):
            before[0] = _LF  # a quote right after the BOM opens the first field
        bad_open = opening[~self.fits[before]]
        bad_close = closing[~self.fits[array[closing + 1]]]
        strays = [int(bad[0]) for bad in (bad_open, bad_close) if bad.size]
        return min(strays, default=len(array) - 1)
