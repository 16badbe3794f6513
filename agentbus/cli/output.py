"""Terminal output for the CLI: rich tables and colour on a TTY, plain aligned text when piped."""

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

STATUS_STYLE = {"pass": "green", "info": "cyan", "warn": "yellow", "fail": "bold red"}
STATUS_MARK = {"pass": "✓", "info": "i", "warn": "!", "fail": "✗"}


class Output:
    """Where the CLI writes. ``rich`` is True when stdout is a terminal (or FORCE_COLOR is set)."""

    def __init__(self, stream: TextIO | None = None, err: TextIO | None = None) -> None:
        self.console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
        self.err_console = Console(file=err or sys.stderr, highlight=False, soft_wrap=True)
        self.rich = self.console.is_terminal

    def line(self, text: str = "", style: str | None = None) -> None:
        """One line of plain text; ``style`` is applied on a terminal only."""
        if self.rich:
            self.console.print(escape(text), style=style)
        else:
            self.console.file.write(text + "\n")
            self.console.file.flush()

    def markup(self, rich_text: str, plain_text: str) -> None:
        """A line with rich markup on a terminal, ``plain_text`` when piped."""
        if self.rich:
            self.console.print(rich_text)
        else:
            self.line(plain_text)

    def note(self, text: str) -> None:
        """A side remark on stderr (never mixed into output a script parses)."""
        if self.err_console.is_terminal:
            self.err_console.print(escape(text), style="dim")
        else:
            self.err_console.file.write(text + "\n")
            self.err_console.file.flush()

    def error(self, text: str) -> None:
        """The one line an expected failure prints, on stderr."""
        first = " ".join(text.split("\n")[0].split()) if text else "failed"
        if self.err_console.is_terminal:
            self.err_console.print(f"[bold red]error:[/] {escape(first)}")
        else:
            self.err_console.file.write(f"agentbus: error: {first}\n")
            self.err_console.file.flush()

    def status(self, status: str, label: str, summary: str, hint: str = "") -> None:
        """A doctor-style line: ``✓ label  summary`` plus an indented hint for warn/fail."""
        if self.rich:
            mark = STATUS_MARK.get(status, "?")
            style = STATUS_STYLE.get(status, "")
            self.console.print(f"[{style}]{mark}[/] [bold]{escape(label):<16}[/] {escape(summary)}")
            if hint:
                self.console.print(f"  [dim]→ {escape(hint)}[/]")
        else:
            self.line(f"{status.upper():<4}  {label:<16} {summary}")
            if hint:
                self.line(f"      {'':<16} hint: {hint}")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
        """A table: rich on a terminal; columns padded with two spaces when piped (one row per line)."""
        if self.rich:
            table = Table(title=title, title_justify="left", header_style="bold")
            for header in headers:
                table.add_column(header)
            for row in rows:
                table.add_row(*(escape(cell) for cell in row))
            self.console.print(table)
            return
        if title:
            self.line(title)
        widths = [len(h) for h in headers]
        for row in rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
        for row in (list(headers), *rows):
            self.line("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def age(seconds_ago: float) -> str:
    """A short human age: ``4s``, ``3m``, ``2h``, ``5d``."""
    seconds = max(0.0, seconds_ago)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def since(epoch: float, now: float | None = None) -> str:
    """How long ago ``epoch`` was, as ``age`` puts it."""
    return age((time.time() if now is None else now) - epoch)


def one_line(text: str, width: int = 80) -> str:
    """``text`` on one line (newlines shown as ⏎), cut to ``width`` characters."""
    flat = text.replace("\r\n", "\n").replace("\n", " ⏎ ")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def display_path(path: Path) -> str:
    """``path`` as a person reads it: under ``~/`` when it is in the home directory."""
    home = Path.home()
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)
