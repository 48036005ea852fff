"""Publishing a built folder to the Hugging Face Hub; the token never appears in output."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from xbench.built_dataset import CARD_FILE, REPORT_FILE, SHARD_NAME
from xbench.errors import InputError, XbenchError
from xbench.redact import hub_token

# The Hub's rules for a repo id (huggingface_hub.utils.validate_repo_id), and git's for a tag name.
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_BAD_TAG = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[-/.]|[/.]$|\.lock$")


def push(folder: str | Path, repo: str, *, revision: str | None = None, private: bool = False, token: str | None = None, api=None, force: bool = False) -> str:
    """Upload ``folder`` as a dataset repo and tag ``revision``; returns the commit URL.

    Sample and pseudo-translated builds are refused unless ``force``: on the Hub they would pass for the real dataset.
    """
    folder = Path(folder)
    if not (folder / CARD_FILE).is_file() or not (folder / REPORT_FILE).is_file():
        raise InputError(f"{folder}: not an xbench build folder ({CARD_FILE} and {REPORT_FILE} expected)")
    listing = manifest(folder)
    if not force:
        _refuse_placeholder_build(folder)
    check_repo_id(repo)
    if revision is not None and (not revision or _BAD_TAG.search(revision)):
        raise InputError(f"--revision: {revision!r} is not a valid tag name (no spaces, '..', '~^:?*[\\', leading '-' or '.')")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    token = hub_token(token)  # stripped: a trailing newline from a secrets file is not part of it
    try:
        api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True, token=token)
        if revision and revision in {tag.name for tag in api.list_repo_refs(repo, repo_type="dataset", token=token).tags}:
            raise InputError(f"--revision: tag {revision!r} already exists in {repo}; choose a new one")
        commit = api.upload_folder(
            repo_id=repo,
            folder_path=str(folder),
            repo_type="dataset",
            allow_patterns=listing.upload,  # only what the build wrote: a .env or notes beside it stay local
            commit_message=f"xbench build{f' {revision}' if revision else ''}",
            # shards of an earlier build that this one no longer has must not be loaded with it
            delete_patterns=["*.parquet"],
            token=token,
        )
        if revision:
            api.create_tag(repo, tag=revision, repo_type="dataset", token=token)
    except InputError:
        raise
    except Exception as err:
        message = (f"{type(err).__name__}: {err}".splitlines() or [""])[0][:300]
        raise XbenchError(f"push to {repo} failed ({message}); check the network and your token (HF_TOKEN or `hf auth login`)") from None
    return str(getattr(commit, "commit_url", commit))


@dataclass(frozen=True)
class Manifest:
    """The files of a build folder that ``push`` uploads (what the build wrote) and those it leaves out."""

    upload: list[str]  # POSIX paths relative to the folder
    left_out: list[str]


def manifest(folder: str | Path) -> Manifest:
    """The card, the build report and the parquet shards of the configs the report lists; anything else is left out."""
    folder = Path(folder)
    try:
        configs = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8")).get("configs") or {}
    except (OSError, ValueError, AttributeError) as err:
        raise InputError(f"{folder / REPORT_FILE}: unreadable ({type(err).__name__})") from None
    if not isinstance(configs, dict) or not all(isinstance(name, str) and name and "/" not in name and name not in (".", "..") for name in configs):
        raise InputError(f"{folder / REPORT_FILE}: 'configs' is not a mapping of config folder names")
    upload, left_out = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        relative = path.relative_to(folder).as_posix()
        parts = relative.split("/")
        owned = relative in (CARD_FILE, REPORT_FILE) or (
            len(parts) == 2 and parts[0] in configs and SHARD_NAME.fullmatch(parts[1]) is not None and not path.is_symlink()
        )
        (upload if owned else left_out).append(relative)
    return Manifest(upload=upload, left_out=left_out)


def check_repo_id(repo: str) -> None:
    """ORG/NAME with the Hub's characters; ``..``, ``--`` and spaces are refused before any request."""
    parts = repo.split("/")
    if len(parts) != 2 or not all(_REPO_PART.fullmatch(p) for p in parts) or ".." in repo or "--" in repo or repo.endswith(".git"):
        raise InputError(f"--repo: {repo!r} is not a valid repo id; expected ORG/NAME (letters, digits, '-', '_', '.')")


def _refuse_placeholder_build(folder: Path) -> None:
    import json

    from xbench.card import build_notice

    try:
        report = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"{folder / REPORT_FILE}: unreadable ({type(err).__name__})") from None
    notice = build_notice(str(report.get("translator", "")), report.get("source"))
    if notice:
        raise InputError(f"{folder}: {notice} Pass --force to push it anyway.")
