"""MAAC audio captioning pipeline.

``from maac import Captioner; Captioner.load(bundle).caption("clip.wav")`` captions audio with a
trained model bundle (imported on first use, so ``import maac`` stays light).
"""

from typing import Any

__all__ = ["Captioner"]


def __getattr__(name: str) -> Any:
    if name == "Captioner":
        from maac.inference.api import Captioner

        return Captioner
    raise AttributeError(f"module 'maac' has no attribute {name!r}")
