"""Reading source rows: local files, validated multiple-choice rows, and Hub datasets.

Every loader yields plain dicts; ``validate_mc_row`` turns a raw record into the canonical
``question``/``choices``/``answer`` form or raises an ``InputError`` naming the file and row.
``load_hub_dataset`` is the one place a Hub dataset is loaded, with one set of error messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from xbench.errors import InputError, XbenchError

if TYPE_CHECKING:
    import datasets

LETTERS = "ABCD"
TABLE_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv")


def read_table(path: Path, *, header: bool = True) -> list[dict[str, Any]]:
    """Rows of a parquet, JSON Lines, JSON or CSV file, as dicts; CSV cells stay strings."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix in (".jsonl", ".json"):
            return read_json_records(path)
        elif suffix == ".csv":
            frame = pl.read_csv(path, has_header=header, infer_schema=False, empty_string_is_null=False)
        else:
            raise InputError(f"{path}: unsupported file type {suffix!r} (use parquet, jsonl, json or csv)")
    except InputError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, pl.exceptions.PolarsError) as err:
        raise InputError(f"{path}: cannot read ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    return frame.to_dicts()


def read_json_records(path: Path) -> list[dict[str, Any]]:
    """A JSON list of objects or JSON Lines, whatever the extension (TOFU's ``.json`` files are JSON Lines)."""
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(4096).lstrip()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read ({_reason(err)})") from None
    if not head.startswith("["):
        return [record for _, record in iter_jsonl(path)]
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read ({_reason(err)})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: invalid JSON at line {err.lineno} ({err.msg})") from None
    if not isinstance(records, list):
        raise InputError(f"{path}: expected a JSON list of records")
    for number, record in enumerate(records, 1):
        _check_text(record, f"{path}: record {number}")
    return records


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line is an InputError naming it."""
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below; open errors get their own message
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    with handle:
        number = 0
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise InputError(f"{path}: line {number}: invalid JSON ({err.msg})") from None
                if not isinstance(record, dict):
                    raise InputError(f"{path}: line {number}: expected a JSON object")
                _check_text(record, f"{path}: line {number}")
                yield number, record
        except UnicodeDecodeError:
            raise InputError(f"{path}: line {_first_undecodable_line(path)}: not UTF-8 text") from None


def _first_undecodable_line(path: Path) -> int:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _check_text(record: Any, where: str) -> None:
    """JSON can escape a lone surrogate (``"\\ud800"``), which no UTF-8 file or cache can store."""
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{where}: a string holds a lone surrogate (invalid Unicode escape)") from None


def _reason(err: Exception) -> str:
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text at byte {err.start}"
    return getattr(err, "strerror", None) or type(err).__name__


def parse_answer(value: Any, where: str) -> int:
    """0-3 or A-D (either case) -> 0-3."""
    if isinstance(value, bool):
        raise InputError(f"{where}: answer {value!r} is not 0-3 or A-D")
    if isinstance(value, int) and 0 <= value < len(LETTERS):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.upper() in LETTERS and len(text) == 1:
            return LETTERS.index(text.upper())
        if text.isdigit() and 0 <= int(text) < len(LETTERS):
            return int(text)
    raise InputError(f"{where}: answer {value!r} is outside 0-3 or A-D")


def validate_mc_row(record: Any, where: str) -> dict[str, Any]:
    """Check question, choices and answer of one record; returns a copy in canonical form."""
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a record, got {type(record).__name__}")
    for column in ("question", "choices", "answer"):
        if column not in record or record[column] is None:
            raise InputError(f"{where}: missing column {column!r}")
    question = record["question"]
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"{where}: empty question")
    choices = record["choices"]
    if not isinstance(choices, (list, tuple)) or len(choices) != len(LETTERS):
        count = len(choices) if isinstance(choices, (list, tuple)) else type(choices).__name__
        raise InputError(f"{where}: expected exactly 4 choices, got {count}")
    if not all(isinstance(c, str) for c in choices):
        raise InputError(f"{where}: every choice must be a string")
    row = dict(record)
    row["choices"] = list(choices)
    row["answer"] = parse_answer(record["answer"], where)
    return row


def existing_path(path: str | Path, option: str = "--source") -> Path:
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise InputError(f"{option}: {resolved} does not exist")
    return resolved


def load_hub_dataset(
    repo: str,
    config: str | None = None,
    split: str | None = None,
    *,
    revision: str | None = None,
    option: str | None = None,
    remedy: str = "check the network or HF_TOKEN",
) -> datasets.Dataset | datasets.DatasetDict:
    """``datasets.load_dataset`` of a Hub dataset: one split (a Dataset), or every split without ``split``.

    A dataset the Hub does not have, or a config or split it does not have, is bad input
    (InputError); anything else (network, auth, an incomplete cache) is an XbenchError that says
    what to do (``remedy``). ``option`` names the command-line option that gave ``repo``.
    """
    import datasets

    label = f"{option} {repo}" if option else repo
    try:
        return datasets.load_dataset(repo, config, split=split, revision=revision)
    except datasets.exceptions.DatasetNotFoundError:
        raise InputError(f"{label}: does not exist on the Hugging Face Hub") from None
    except ValueError as err:  # a config or split the dataset does not have
        where = " ".join(f"{name} {value!r}" for name, value in (("config", config), ("split", split)) if value)
        raise InputError(f"{label}: {where + ': ' if where else ''}{str(err).splitlines()[0][:200]}") from None
    except Exception as err:  # network, auth, missing cache: all mean "could not fetch"
        name = f"{repo} ({config})" if config else repo
        prefix = f"{option} {repo}: " if option else ""
        raise XbenchError(f"{prefix}could not load {name} from the Hugging Face Hub ({type(err).__name__}); {remedy}") from None
