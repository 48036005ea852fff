"""Fine-tuning on built datasets: the study's English and mixed-language fine-tuning (Sec. 3.2, 4.2).

    from xbench.finetune import FinetuneConfig, finetune
    report = finetune(FinetuneConfig(model="HuggingFaceTB/SmolLM2-135M", data="wt2_mixed:sentence", out="ckpt"))

torch, transformers and accelerate come with ``pip install 'xbench[run]'``; LoRA needs
``pip install 'xbench[finetune]'`` (peft).
"""

from xbench.finetune.config import FinetuneConfig, Hyperparameters, accelerate_config, available_recipes, load_recipe
from xbench.finetune.report import FinetuneReport
from xbench.finetune.train import ProgressEvent, estimate, finetune

__all__ = [
    "FinetuneConfig",
    "FinetuneReport",
    "Hyperparameters",
    "ProgressEvent",
    "accelerate_config",
    "available_recipes",
    "estimate",
    "finetune",
    "load_recipe",
]
