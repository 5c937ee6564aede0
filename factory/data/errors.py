"""The error every input problem becomes: it names the file, the row and the rule."""

from __future__ import annotations


class DataValidationError(ValueError):
    """Input rejected. ``row`` is the 1-based data row (the header is not counted; in a CSV
    file data row n is on line n + 1), or None when the rule concerns the whole file."""

    def __init__(self, file: str, rule: str, detail: str, row: int | None = None) -> None:
        self.file = file
        self.rule = rule
        self.detail = detail
        self.row = row
        where = f"{file}: row {row}" if row is not None else file
        if row is not None and file.lower().endswith(".csv"):
            where += f" (line {row + 1})"
        super().__init__(f"{where}: {rule}: {detail}")
