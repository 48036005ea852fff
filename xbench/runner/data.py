"""The rows ``xbench eval`` scores: a local folder read from its own files, a Hub id through ``datasets``.

A local folder never goes through the shared ``datasets`` cache: its key for a local folder
does not change when the folder's files do, so a rebuilt folder (or another folder of the same
name) would be served the rows of an earlier one. Parquet files (what ``xbench build`` writes)
are read with pyarrow; other file types through ``datasets`` with a cache used once. The files
read are recorded by their content hash.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from xbench.errors import InputError, XbenchError

REQUIRED_COLUMNS = ("question", "answer")  # with "choices": multiple choice; without: generation


def is_local(dataset: str) -> bool:
    return Path(dataset).exists()


def available_configs(dataset: str) -> list[str]:
    import datasets

    if not is_local(dataset) and dataset.startswith((".", "/", "~")):
        raise InputError(f"--dataset: {dataset} does not exist")
    if is_local(dataset) and not Path(dataset).is_dir():
        raise InputError(f"--dataset: {dataset} is a file; give the folder written by xbench build")
    try:
        return datasets.get_dataset_config_names(dataset)
    except Exception as err:
        raise XbenchError(f"could not read the configs of {dataset} ({type(err).__name__})") from None


def read_rows(dataset: str, config: str, split: str) -> list[dict[str, Any]]:
    """The rows of one split of one config: a local build from its own files, never a shared cache."""
    return _load_local(dataset, config, split) if is_local(dataset) else _load_hub(dataset, config, split)


def load_split(dataset: str, config: str, split: str) -> list[dict[str, Any]]:
    """The rows of one split of one config, checked for the columns eval needs."""
    rows = read_rows(dataset, config, split)
    missing = [c for c in REQUIRED_COLUMNS if c not in (rows[0] if rows else {})]
    if rows and missing:
        raise InputError(f"{dataset} config {config!r}: missing column(s) {', '.join(missing)}")
    return rows


def data_files(folder: str | Path, config: str) -> dict[str, list[Path]]:
    """{split: files} of a config of a local folder, as ``datasets`` resolves them (the card's ``configs``)."""
    import datasets

    try:
        builder = datasets.load_dataset_builder(str(folder), config)  # resolves file names; reads no rows
    except ValueError as err:
        raise InputError(f"{folder}: config {config!r}: {str(err).splitlines()[0][:200]}") from None
    except Exception as err:
        raise XbenchError(f"could not read {folder} ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    return {split: [Path(f) for f in files] for split, files in (builder.config.data_files or {}).items()}


def content_hash(folder: str | Path, configs: Iterable[str]) -> str:
    """sha256 over the data files of ``configs``: the ``sha256sum`` lines of every file, in path order.

    ``cd FOLDER && sha256sum $(ls -d fr/* | sort) | sha256sum`` gives the same value for one config.
    """
    folder = Path(folder)
    files = {f for config in dict.fromkeys(configs) for split in data_files(folder, config).values() for f in split}
    lines = sorted((Path(os.path.relpath(f, folder)).as_posix(), _file_sha256(f)) for f in files)
    listing = "".join(f"{digest}  {name}\n" for name, digest in lines)
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_local(folder: str, config: str, split: str) -> list[dict[str, Any]]:
    splits = data_files(folder, config)
    if split not in splits:
        raise InputError(f"{folder}: config {config!r} has no split {split!r} (it has {', '.join(splits) or 'none'})")
    files = splits[split]
    try:
        if all(f.suffix == ".parquet" for f in files):  # an xbench build: read as is, nothing written anywhere
            import pyarrow as pa
            import pyarrow.parquet as pq

            return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default").to_pylist()
        return _load_with_throwaway_cache(folder, config, split)
    except XbenchError:
        raise
    except (OSError, ValueError) as err:
        raise InputError(f"{folder}: config {config!r} split {split!r}: cannot read ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None


def _load_with_throwaway_cache(folder: str, config: str, split: str) -> list[dict[str, Any]]:
    """Other file types (JSON Lines, CSV...) through ``datasets``, with a cache used once and removed."""
    import datasets

    with tempfile.TemporaryDirectory(prefix="xbench-data-") as cache:
        builder = datasets.load_dataset_builder(folder, config, cache_dir=cache)
        builder.download_and_prepare()
        return builder.as_dataset(split=split).to_list()


def _load_hub(dataset: str, config: str, split: str) -> list[dict[str, Any]]:
    import datasets

    try:
        rows = datasets.load_dataset(dataset, config, split=split)
    except ValueError as err:
        raise InputError(f"{dataset}: config {config!r} split {split!r}: {str(err).splitlines()[0][:200]}") from None
    except Exception as err:
        raise XbenchError(f"could not load {dataset} ({type(err).__name__}); check the path, the network or HF_TOKEN") from None
    return rows.to_list()
