"""Columns as the client counts them (UTF-16 code units unless the client chose UTF-32)."""

from __future__ import annotations


def column(text: str, index: int, utf16: bool = True) -> int:
    """The client's column of the character at ``index`` (a Python string index) of ``text``."""
    if not utf16:
        return index
    return len(text[:index].encode("utf-16-le")) // 2


def line_end(text: str, utf16: bool = True) -> int:
    return column(text, len(text), utf16)


def index(text: str, col: int, utf16: bool = True) -> int:
    """The Python string index of a client column (the inverse of ``column``)."""
    if not utf16:
        return min(col, len(text))
    units = 0
    for i, ch in enumerate(text):
        if units >= col:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text)


def first_non_blank(text: str) -> int:
    return len(text) - len(text.lstrip())
