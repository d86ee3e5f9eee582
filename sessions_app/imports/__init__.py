"""Spreadsheet import of livestream sessions: read, check every row, save all rows or none.

- `spreadsheets`: reading an upload (XLSX or CSV, recognised by content; size caps).
- `columns`: the accepted headers and platform names.
- `cells`: one cell as its column's value (parsing only, with every path's messages).
- `rows`: each row against the model's rules, the file against the database; staged
  uploads read back.
- `updates`: update mode, rows that correct stored sessions (matched by official and start).
- `preview`: the preview table, bad rows in place.
- `template`: the downloadable template.

The import page shows the preview of `import_check` and stages a file without errors
(`services.import_batch_stage`: its rows as read, in the database); on confirm,
`services.import_batch_confirm` checks the staged rows against the database again and saves
every row in one transaction (`services.sessions_import`), or nothing when any row is wrong.
"""

from .columns import IMPORT_COLUMNS
from .rows import (
    IMPORT_BATCH_TTL,
    MODE_CREATE,
    MODE_UPDATE,
    PREVIEW_ERRORS,
    PREVIEW_ROWS,
    ImportBatchGone,
    ImportCheck,
    ImportRow,
    ReadRows,
    RowError,
    import_batch_check,
    import_batch_get,
    import_check,
    session_rows_read,
    session_rows_resolve,
)
from .spreadsheets import IMPORT_MAX_ROWS, SpreadsheetRejected, spreadsheet_read
from .template import ImportTemplate, import_template_build

__all__ = [
    "IMPORT_BATCH_TTL", "IMPORT_COLUMNS", "IMPORT_MAX_ROWS", "MODE_CREATE", "MODE_UPDATE",
    "PREVIEW_ERRORS", "PREVIEW_ROWS",
    "ImportBatchGone", "ImportCheck", "ImportRow", "ImportTemplate", "ReadRows", "RowError",
    "SpreadsheetRejected", "import_batch_check", "import_batch_get", "import_check",
    "import_template_build", "session_rows_read", "session_rows_resolve", "spreadsheet_read",
]
