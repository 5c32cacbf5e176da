"""Loss scaling for fp16 mixed precision, behind the two calls every task makes per update.

fp16 has a narrow exponent range: small gradients underflow to zero unless the loss is scaled up
before ``backward`` and the gradients scaled back down before the optimizer step (skipping steps
whose gradients overflowed). ``torch.amp.GradScaler`` does that; bf16 and fp32 need none of it.
Tasks write ``self.precision.backward(loss)`` and ``self.precision.step(optimizer)`` instead of
``loss.backward()`` / ``optimizer.step()``, so the same ``train_step`` serves every precision, and
the Trainer calls ``update()`` once per training step (one scale shared by G and D updates, the
pattern torch documents for several losses and optimizers).
"""
from __future__ import annotations

import torch

INIT_SCALE = 2.0 ** 16  # torch's default: too high at first for most nets; it halves on each overflow (step skipped)


class Precision:
    """Pass-through for fp32 and bf16 (no loss scaling)."""

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.step()

    def update(self) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class LossScaledPrecision(Precision):
    """fp16: dynamic loss scaling with ``torch.amp.GradScaler`` (its state goes into checkpoints)."""

    def __init__(self, device_type: str, init_scale: float | None = None) -> None:
        self.scaler = torch.amp.GradScaler(device_type, init_scale=init_scale or INIT_SCALE)

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.step(optimizer)  # unscales first; skips the step if a gradient is inf/nan

    def update(self) -> None:
        self.scaler.update()

    def state_dict(self) -> dict:
        """Scale, growth tracker and factors as plain numbers ({} before the first step)."""
        return {k: (v if isinstance(v, (int, float)) else float(v)) for k, v in self.scaler.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.scaler.load_state_dict(dict(state))


PLAIN = Precision()


def precision_for(amp: torch.dtype | None, device_type: str) -> Precision:
    """fp16 autocast gets loss scaling; bf16 (fp32's exponent range) and fp32 do not."""
    return LossScaledPrecision(device_type) if amp == torch.float16 else PLAIN
