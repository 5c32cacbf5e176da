"""An exported .onnx/.tflite file as a torch module, for TranslationPipeline's PyTorch path (see
:mod:`pocketgan.inference.runners`; kept apart so the runners themselves need no torch)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .runners import load_runner


class ExportedGenerator(torch.nn.Module):
    """Lets TranslationPipeline run an exported file: float [-1,1] NCHW in/out around the uint8 runner
    (uint8 -> [-1,1] -> uint8 is exact, so this adds no error)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.runner = load_runner(path)
        self.size_multiple = 4
        self.fixed_size = self.runner.input_size  # (h, w) for fixed-size files (LiteRT), else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = torch.round((x.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        outs = [self.runner(np.ascontiguousarray(image[i:i + 1])) for i in range(len(image))]
        return torch.from_numpy(np.concatenate(outs)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
