"""Tables the server's commands print (rich), with every cell shown as plain text."""

from __future__ import annotations

import functools
from typing import Any

from crashveil.textsafe import visible

__all__ = ["print_table", "table"]


def table(*columns: str) -> Any:
    """A rich table whose string cells are plain text: rich markup (``[red]``) is not
    interpreted and controls are shown as escapes (``crashveil.textsafe.visible``)."""
    from rich.text import Text

    result = _plain_table_class()(show_edge=False, pad_edge=False, box=None)
    for column in columns:
        result.add_column(Text(visible(column)))
    return result


@functools.cache
def _plain_table_class() -> Any:
    from rich.table import Table
    from rich.text import Text

    class PlainTable(Table):
        def add_row(self, *cells: Any, **kwargs: Any) -> None:
            super().add_row(*(Text(visible(c)) if isinstance(c, str) else c for c in cells), **kwargs)

    return PlainTable


def print_table(rendered: Any) -> None:
    from rich.console import Console

    Console(width=200, soft_wrap=True).print(rendered)
