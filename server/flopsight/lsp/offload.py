"""Work that grows with a document's size, kept off the event loop.

Parsing holds the GIL (``ast.parse`` of 5 MB takes seconds), so a thread would still stall every
request: texts above ``INLINE_MAX_CHARS`` go to one helper process (standard library and
``flopsight.source`` only, no torch), smaller ones run inline, where they cost a few milliseconds.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from flopsight.source.model import SourceAnalysis

T = TypeVar("T")

# About 30 ms of parsing on a slow machine; above it the helper process does the work.
INLINE_MAX_CHARS = 64 * 1024


def read_source(text: str, path: str | None) -> SourceAnalysis:
    """The source analysis the server keeps: without the table of top-level statements, which
    only the worker reads (100k objects for a large file, to pickle, hold and garbage-collect)."""
    from flopsight.source import analyse_source

    return replace(analyse_source(text, path), statements=[])


class Offload:
    def __init__(self, inline_max_chars: int = INLINE_MAX_CHARS) -> None:
        self.inline_max_chars = inline_max_chars
        self._pool: ProcessPoolExecutor | None = None

    def is_large(self, text: str) -> bool:
        return len(text) > self.inline_max_chars

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: the server has threads (pygls' pool), which fork would copy half-locked.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        return self._pool

    async def run(self, text: str, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)``, in the helper process when ``text`` (the input it grows with) is large."""
        if not self.is_large(text):
            return fn(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), fn, *args)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
