"""Assertions the CLI tests share."""
from __future__ import annotations


def one_line_error(capsys, *fragments: str) -> str:
    """The one `pocketgan: error:` line the command printed (no traceback), holding every fragment."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("pocketgan: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]
