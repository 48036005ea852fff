"""Data parallel scoring with torch.distributed: each rank scores a shard, rank 0 merges.

Started by ``torchrun`` or ``accelerate launch`` (``WORLD_SIZE`` > 1 in the environment); a
plain run is one shard of one. gloo on CPU, nccl on CUDA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def take(self, rows: list[Any]) -> list[Any]:
        return rows[self.rank :: self.world]


def current_shard() -> Shard:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Shard()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return Shard(dist.get_rank(), dist.get_world_size())


def all_gather(items: list[Any], shard: Shard) -> list[Any]:
    """Every rank's items, concatenated in rank order (the items of a plain run as they are)."""
    if shard.world == 1:
        return items
    import torch.distributed as dist

    gathered: list[list[Any]] = [[] for _ in range(shard.world)]
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in part]


def barrier(shard: Shard) -> None:
    if shard.world > 1:
        import torch.distributed as dist

        dist.barrier()
