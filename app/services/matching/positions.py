"""The library's ids and the position of each, read from the id columns.

A million ``uuid.UUID`` objects and a dict over them were most of the full load's time at the
national scale (making them, then every later collection scanning them) and the largest part
of the matching cache's memory. The ids are already columns (``id_hi``, ``id_lo``, the 128-bit
halves): a position's id is made when asked for, and an id's position is found by binary
search over the halves sorted once, on first use. Neither object refers back to the library,
so an old library is freed by reference counting alone.
"""

import uuid
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

_LOW = (1 << 64) - 1


def _uuid(hi: Any, lo: Any) -> uuid.UUID:
    return uuid.UUID(int=(int(hi) << 64) | int(lo))


class Ids(Sequence[uuid.UUID]):
    """Position i's id, made from the halves on demand (a view: cheap to make, nothing kept)."""

    __slots__ = ("_hi", "_lo")

    def __init__(self, hi: NDArray[np.uint64], lo: NDArray[np.uint64]) -> None:
        self._hi, self._lo = hi, lo

    def __len__(self) -> int:
        return len(self._hi)

    @overload
    def __getitem__(self, i: int) -> uuid.UUID: ...
    @overload
    def __getitem__(self, i: slice) -> list[uuid.UUID]: ...
    def __getitem__(self, i: int | slice) -> uuid.UUID | list[uuid.UUID]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return _uuid(self._hi[i], self._lo[i])

    def __iter__(self) -> Iterator[uuid.UUID]:
        for hi, lo in zip(self._hi.tolist(), self._lo.tolist(), strict=True):
            yield uuid.UUID(int=(hi << 64) | lo)


class Positions(MutableMapping[uuid.UUID, int]):
    """id → position over the library's first ``size`` positions as built (their ids never
    change: a patch overwrites a project at its own position), with the patches' changes on top:
    the positions that left, and the ids appended since (or re-entering) in a small dict."""

    def __init__(self, hi: NDArray[np.uint64], lo: NDArray[np.uint64]) -> None:
        self._hi, self._lo = hi, lo
        self._sorted: tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.intp] | None]
        self._sorted_ready = False
        self._gone: set[int] = set()
        self._added: dict[uuid.UUID, int] = {}

    def _keys(
        self,
    ) -> tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.intp] | None]:
        """The halves in id order, and the positions in that order (None: already in order, as
        both databases' index scans give them)."""
        if not self._sorted_ready:
            hi, lo = self._hi, self._lo
            ascending = bool(
                np.all((hi[1:] > hi[:-1]) | ((hi[1:] == hi[:-1]) & (lo[1:] > lo[:-1])))
            )
            if ascending:
                self._sorted = (hi, lo, None)
            else:
                order = np.lexsort((lo, hi)).astype(np.intp)
                self._sorted = (hi[order], lo[order], order)
            self._sorted_ready = True
        return self._sorted

    def _built(self, pid: uuid.UUID) -> int | None:
        """The position ``pid`` had in the library as built, if any (left or not)."""
        if not len(self._hi):
            return None
        key = pid.int
        hi, lo = np.uint64(key >> 64), np.uint64(key & _LOW)
        keys_hi, keys_lo, order = self._keys()
        start = int(np.searchsorted(keys_hi, hi, side="left"))
        end = int(np.searchsorted(keys_hi, hi, side="right"))
        if start == end:
            return None
        at = start + int(np.searchsorted(keys_lo[start:end], lo))
        if at == end or keys_lo[at] != lo:
            return None
        return at if order is None else int(order[at])

    def __getitem__(self, pid: uuid.UUID) -> int:
        found = self._added.get(pid)
        if found is not None:
            return found
        if isinstance(pid, uuid.UUID):
            i = self._built(pid)
            if i is not None and i not in self._gone:
                return i
        raise KeyError(pid)

    def __setitem__(self, pid: uuid.UUID, i: int) -> None:
        built = self._built(pid)
        if built is not None and built != i:
            self._gone.add(built)
        if built is not None and built == i:
            self._gone.discard(built)
        else:
            self._added[pid] = i

    def __delitem__(self, pid: uuid.UUID) -> None:
        if pid in self._added:
            del self._added[pid]
            return
        i = self._built(pid) if isinstance(pid, uuid.UUID) else None
        if i is None or i in self._gone:
            raise KeyError(pid)
        self._gone.add(i)

    def __len__(self) -> int:
        return len(self._hi) - len(self._gone) + len(self._added)

    def __iter__(self) -> Iterator[uuid.UUID]:
        for i, pid in enumerate(Ids(self._hi, self._lo)):
            if i not in self._gone:
                yield pid
        yield from list(self._added)
