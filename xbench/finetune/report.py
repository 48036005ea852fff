"""What a run leaves behind besides the model: train_report.json and a loss-curve PNG."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPORT_FILE = "train_report.json"
LOSS_PLOT = "loss.png"
RUN_CONFIG = "finetune_config.json"  # written first: marks the folder as an xbench run, checked by --resume
CHECKPOINTS = "checkpoints"


@dataclass
class FinetuneReport:
    model: str
    out: str
    data: dict[str, Any]  # folder, config, split, kind, rows, examples, tokens, build signature
    hyperparameters: dict[str, Any]
    steps: int
    tokens_seen: int
    losses: list[dict[str, float]]  # {"step", "loss", "learning_rate"} per logging step
    train_loss: float | None
    wall_seconds: float
    peak_memory_bytes: int
    peak_memory_kind: str  # cuda_max_allocated or cpu_max_rss
    device: str
    saved: str  # "model" (plain HF folder) or "adapter" (peft LoRA adapter)
    resumed_from: str | None
    packages: dict[str, str]
    git_commit: str | None
    xbench_version: str
    dry_run: bool = False
    estimate: dict[str, float] = field(default_factory=dict)  # dry run: measured seconds per step and the total

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, folder: Path) -> Path:
        path = folder / REPORT_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


def plot_losses(losses: list[dict[str, float]], path: Path, title: str) -> Path | None:
    if not losses:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.plot([p["step"] for p in losses], [p["loss"] for p in losses], marker="." if len(losses) < 50 else None)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("training loss")
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(figure)
    return path
