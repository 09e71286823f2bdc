"""The optimisation loop: AdamW with warm-up and cosine decay, periodic validation, early stopping, and
checkpoints from which an interrupted run resumes where it stopped."""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from L3SpotterLib.atomic_files import atomic_write_bytes


@dataclass
class FitConfig:
    steps: int
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    validate_every: int = 200
    patience: int = 5  # validations without improvement before stopping early
    seed: int = 0
    max_seconds: float | None = None  # stop (and keep the best weights so far) after this long
    # SmoothL1 switches from quadratic to linear beyond this error (a fraction of the window height).
    loss_beta: float = 0.02
    # Keep batch-norm statistics as they are (adapting to a few cases: their batches would drag the
    # running statistics the whole network depends on).
    freeze_batch_norm: bool = False


def fit(
    network: nn.Module,
    sampler,
    config: FitConfig,
    device: torch.device,
    validate: Callable[[nn.Module], float] | None = None,
    checkpoint_path: Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
    compute_loss: Callable[[nn.Module, tuple, torch.device], torch.Tensor] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> list[dict]:
    """Train ``network`` on ``sampler.batch`` windows; return the history (one dict per validation).

    ``compute_loss(network, batch, device)`` replaces the window regressor's loss for other networks
    (the vertebra count); by default a batch is ``(windows, targets)`` and the loss a smooth L1.
    ``on_step(step)`` is called after every step (progress for a caller; it may raise to stop the fit).

    ``validate(network) -> score`` (lower is better) drives early stopping; the best weights are loaded
    back into ``network`` at the end. With ``checkpoint_path``, the state is saved at every validation and
    a run started with an existing checkpoint continues from it.
    """
    from tqdm import tqdm

    torch.manual_seed(config.seed)
    network.to(device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(config.warmup_steps, config.steps))
    if compute_loss is None:
        compute_loss = _window_loss(nn.SmoothL1Loss(beta=config.loss_beta))
    state = {"step": 0, "best_score": math.inf, "best_weights": None, "stale": 0, "history": []}
    if checkpoint_path is not None and Path(checkpoint_path).is_file():
        state = _load_checkpoint(checkpoint_path, network, optimizer, scheduler, sampler)
        log(f"resumed from {checkpoint_path} at step {state['step']}")

    bar = tqdm(total=config.steps, initial=state["step"], desc="training", unit="step", disable=not progress, file=sys.stderr)
    running_loss, started = [], time.perf_counter()
    while state["step"] < config.steps:
        network.train()
        if config.freeze_batch_norm:
            for module in network.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        loss = compute_loss(network, sampler.batch(config.batch_size), device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        state["step"] += 1
        running_loss.append(float(loss.detach()))
        bar.update(1)
        if on_step is not None:
            on_step(state["step"])
        bar.set_postfix(loss=f"{np.mean(running_loss[-50:]):.4f}", refresh=False)

        out_of_time = config.max_seconds is not None and time.perf_counter() - started > config.max_seconds
        last_step = state["step"] == config.steps or out_of_time
        if validate is not None and (state["step"] % config.validate_every == 0 or last_step):
            score = float(validate(network))
            record = {"step": state["step"], "train_loss": float(np.mean(running_loss)), "validation_score": score, "elapsed_s": time.perf_counter() - started}
            state["history"].append(record)
            running_loss = []
            if score < state["best_score"]:
                state["best_score"], state["best_weights"], state["stale"] = score, copy.deepcopy(network.state_dict()), 0
            else:
                state["stale"] += 1
            log(f"step {state['step']}: train loss {record['train_loss']:.4f}, validation {score:.3f} (best {state['best_score']:.3f})")
            if checkpoint_path is not None:
                _save_checkpoint(checkpoint_path, network, optimizer, scheduler, sampler, state)
            if state["stale"] >= config.patience:
                log(f"early stop at step {state['step']}: no improvement in {config.patience} validations")
                break
        if out_of_time:
            log(f"time budget of {config.max_seconds:.0f} s reached at step {state['step']}")
            break
    bar.close()
    if state["best_weights"] is not None:
        network.load_state_dict(state["best_weights"])
    network.eval()
    return state["history"]


def _window_loss(loss_function):
    def compute(network, batch, device):
        windows, targets = (torch.from_numpy(array).to(device) for array in batch)
        return loss_function(network(windows), targets)

    return compute


def _warmup_cosine(warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _save_checkpoint(path, network, optimizer, scheduler, sampler, state) -> None:
    import io

    payload = {
        "network": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "sampler_rng": sampler.rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        **state,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _load_checkpoint(path, network, optimizer, scheduler, sampler) -> dict:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    network.load_state_dict(payload["network"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    sampler.rng.bit_generator.state = payload["sampler_rng"]
    torch.set_rng_state(payload["torch_rng"])
    return {key: payload[key] for key in ("step", "best_score", "best_weights", "stale", "history")}
