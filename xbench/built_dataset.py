"""A built dataset, as eval, fine-tuning and the audit read it: a local folder or a Hub id.

Its configs, the rows of a config's split, the content hash of the files read, and what its
card says of each config (the ``xbench:`` block of the README front matter: family, kind,
prompt language, cell languages, header).

A local folder never goes through the shared ``datasets`` cache: its key for a local folder
does not change when the folder's files do, so a rebuilt folder (or another folder of the same
name) would be served the rows of an earlier one. Parquet files (what ``xbench build`` writes)
are read with pyarrow; other file types through ``datasets`` with a cache used once. The files
read are recorded by their content hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from xbench.errors import InputError, XbenchError
from xbench.languages import SOURCE_LANGUAGE
from xbench.signature import build_signature
from xbench.sources import load_hub_dataset

REQUIRED_COLUMNS = ("question", "answer")
CARD_FILE = "README.md"
REPORT_FILE = "build_report.json"  # what a build did; it also lists the configs the folder owns
SHARD_NAME = re.compile(r"[A-Za-z0-9_.-]+-\d{5}-of-\d{5}\.parquet")  # what a build writes in a config folder
MULTIPLE_CHOICE, GENERATION, TEXT = "multiple_choice", "generation", "text"
KINDS = (MULTIPLE_CHOICE, GENERATION, TEXT)


def is_local(dataset: str) -> bool:
    return Path(dataset).exists()


DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv", ".arrow")  # files a folder without an xbench card may be read from
EXPECTED = "expected a folder written by xbench build, or a Hub dataset id"
_PROBE_SECONDS = 5.0


def check_dataset(dataset: str, option: str = "--dataset", *, hub: bool = True) -> None:
    """Refuse, in one line, a ``dataset`` that is not a build: a file, an empty folder, a folder with neither an
    xbench card nor data files, or a name that is neither a local folder nor a dataset on the Hub. Run it before
    any model is loaded. A name that is not a local folder costs one quick Hub probe, none under HF_HUB_OFFLINE;
    ``hub`` False: only a local folder will do. ``option`` names the option in the line ("" for an argument)."""
    where = f"{option} {dataset}" if option else dataset
    path = Path(dataset).expanduser()
    if path.is_file():
        raise InputError(f"{where}: a file, not a folder; {EXPECTED}")
    if path.is_dir():
        if not any(path.iterdir()):
            raise InputError(f"{where}: an empty folder; {EXPECTED}")
        if not (path / CARD_FILE).is_file() and not _has_data_files(path):
            raise InputError(f"{where}: no xbench card ({CARD_FILE}) and no data files; {EXPECTED}")
        return
    if not hub or dataset.startswith((".", "/", "~")) or dataset.count("/") > 1 or (os.sep != "/" and os.sep in dataset):
        raise InputError(f"{where}: no such folder; {EXPECTED if hub else 'expected a folder written by xbench build'}")
    _probe_hub(dataset, where)


def _has_data_files(folder: Path) -> bool:
    near = [*folder.iterdir(), *(f for d in folder.iterdir() if d.is_dir() for f in d.iterdir())]
    return any(f.is_file() and f.name.endswith(DATA_SUFFIXES) for f in near)


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _probe_hub(name: str, where: str) -> None:
    """One request for the dataset's info, no retries; refused when the Hub cannot be reached or has no such dataset."""
    missing = f"{where}: no local folder {name} and"
    if _hub_offline():
        raise InputError(f"{missing} not reachable on the Hub (HF_HUB_OFFLINE is set); {EXPECTED}")
    from huggingface_hub import HfApi, errors

    try:
        HfApi().dataset_info(name, timeout=_PROBE_SECONDS)
    except errors.GatedRepoError:
        return  # there, behind a licence: the loader names the next step
    except (errors.RepositoryNotFoundError, errors.HFValidationError):
        raise InputError(f"{missing} no Hub dataset of that name; {EXPECTED}") from None
    except errors.HfHubHTTPError:
        return  # the Hub answered (gated, rate-limited...): the loader gives the precise message
    except Exception as err:  # name resolution, refused connection, timeout
        raise InputError(f"{missing} not reachable on the Hub ({type(err).__name__}); {EXPECTED}") from None


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
    return load_hub_dataset(dataset, config, split, remedy="check the path, the network or HF_TOKEN").to_list()


@dataclass(frozen=True)
class ConfigMetadata:
    """What the card says of one config; ``family`` None: not built by xbench, read as generic multiple choice."""

    family: str | None
    kind: str  # multiple_choice, generation or text
    language: str  # the prompt language (header, instructions)
    languages: tuple[str, ...]  # every language in the config's cells, source first
    header: str | None = None  # the family's header sentence in ``language``, where it has one per language


@dataclass(frozen=True)
class CardMetadata:
    """The ``xbench:`` block of a dataset's card: its family and each config's metadata."""

    dataset: str
    family: str | None
    configs: Mapping[str, ConfigMetadata]

    def config(self, name: str, row: Mapping[str, Any]) -> ConfigMetadata:
        """The metadata of config ``name``; without any (not an xbench build, or an older one), ``row``
        (one of its rows) decides: generic multiple choice if it has choices, else refused."""
        if name in self.configs:
            return self.configs[name]
        if "choices" in row:
            return ConfigMetadata(family=None, kind=MULTIPLE_CHOICE, language=SOURCE_LANGUAGE, languages=())
        raise InputError(f"{self.dataset} config {name!r}: no xbench metadata in its card; rebuild it with this xbench")


def read_card(dataset: str, revision: str | None = None) -> CardMetadata:
    """The card metadata of a build folder (its README.md) or a Hub dataset (its card at ``revision``)."""
    text = _local_card(Path(dataset)) if is_local(dataset) else _hub_card(dataset, revision)
    block = (front_matter(text, f"{dataset}: {CARD_FILE}") or {}).get("xbench") if text else None
    if block is None:
        return CardMetadata(dataset, None, {})
    return _parse_block(block, dataset)


def _local_card(folder: Path) -> str | None:
    try:
        return (folder / CARD_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{folder / CARD_FILE}: cannot read ({type(err).__name__})") from None


def _hub_card(repo: str, revision: str | None) -> str | None:
    from huggingface_hub import errors, hf_hub_download

    try:
        path = hf_hub_download(repo, CARD_FILE, repo_type="dataset", revision=revision)
    except errors.RemoteEntryNotFoundError:  # a dataset without a card
        return None
    except Exception as err:
        raise XbenchError(f"could not read the card of {repo} ({type(err).__name__}); check the network or HF_TOKEN") from None
    return Path(path).read_text(encoding="utf-8")


def front_matter(text: str, where: str) -> dict[str, Any] | None:
    """A card's YAML between its opening ``---`` and the next one; None for a card without; ``where`` names the card in errors."""
    if not text.startswith("---"):
        return None
    head, closed, _ = text[3:].partition("\n---")
    if not closed:
        return None
    try:
        found = yaml.safe_load(head)
    except yaml.YAMLError as err:
        raise InputError(f"{where}: invalid YAML front matter ({str(err).splitlines()[0][:200]})") from None
    return found if isinstance(found, dict) else {}


def _parse_block(block: Any, dataset: str) -> CardMetadata:
    where = f"{dataset}: {CARD_FILE}: xbench"
    if not isinstance(block, dict) or not isinstance(block.get("family"), str) or not isinstance(block.get("configs"), dict):
        raise InputError(f"{where}: expected a family name and a configs mapping")
    configs = {}
    for name, entry in block["configs"].items():
        if not isinstance(entry, dict) or entry.get("kind") not in KINDS or not isinstance(entry.get("language"), str):
            raise InputError(f"{where}: config {name!r}: expected a kind ({', '.join(KINDS)}) and a language")
        header = entry.get("header")
        configs[str(name)] = ConfigMetadata(
            family=block["family"],
            kind=entry["kind"],
            language=entry["language"],
            languages=tuple(entry.get("languages") or ()),
            header=header if isinstance(header, str) else None,
        )
    return CardMetadata(dataset, block["family"], configs)


def read_build_report(path: Path) -> dict[str, Any]:
    """A build's build_report.json when it names the build (dataset, translator, seed, xbench version); {} when missing, unreadable or older."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    needed = ("dataset", "translator", "seed", "xbench_version")
    return report if isinstance(report, dict) and all(k in report for k in needed) else {}


def report_signature(report: Mapping[str, Any]) -> str | None:
    """The build signature of a report from read_build_report(); None for {} (not built by xbench, or an older build)."""
    return build_signature(report["dataset"], report["translator"], report["seed"], report["xbench_version"]) if report else None
