"""Sweeps: train a grid of model sizes x token budgets x seeds, one Ray task per run.

Each `(size, tokens, seed)` run is a Ray task that asks for what it uses (`threads` CPUs,
or a fraction of a GPU so that several small runs share one). `ray.init()` starts Ray inside
this process by default (nothing to set up); `address` sends the same sweep to a cluster.
Only the driver writes `OUT/results.jsonl`, one line per finished run as it arrives, so many
workers never race on the file; a rerun reads the finished runs back and trains the rest
(each run also checkpoints to `OUT/checkpoints/` and resumes from there). `jobs=1` without
an address trains in this process, one run after another, with no Ray at all.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from lm.config import TrainConfig
from lm.data import ProgramSpec
from lm.model import ModelConfig
from lm.train import train

#: Fit targets: the validation NLL over output tokens, or over whole sequences.
FIT_ON = {"outputs": "val_output_nll", "sequence": "val_sequence_nll"}
#: A grid that finishes for reverse or hist in under 10 minutes on a 2-core CPU.
DEFAULT_SIZES = "2x16,2x32,2x64,2x128"
DEFAULT_TOKENS = "50k,100k,200k,400k,800k"


def parse_size(text: str, position: str = "learned") -> ModelConfig:
    """`LxD` (layers x d_model, one head per 16 dimensions) or `LxDxH` (H heads)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (2, 3) or min(parts) < 1:
        raise ValueError(f"model size {text!r}: expected LAYERSxD_MODEL or LAYERSxD_MODELxHEADS")
    layers, d_model = parts[:2]
    heads = parts[2] if len(parts) == 3 else max(1, d_model // 16)
    if d_model % heads:
        raise ValueError(f"model size {text!r}: d_model is not a multiple of the head count")
    return ModelConfig(n_layers=layers, d_model=d_model, n_heads=heads, position=position)


def size_label(model: ModelConfig) -> str:
    return f"{model.n_layers}x{model.d_model}x{model.n_heads}"


@dataclass
class SweepConfig:
    """A grid of sizes x token budgets x seeds; `base` holds everything else about a run."""

    base: TrainConfig
    sizes: list[ModelConfig] = field(
        default_factory=lambda: [parse_size(s) for s in DEFAULT_SIZES.split(",")]
    )
    token_budgets: list[int] = field(
        default_factory=lambda: [int(t.rstrip("k")) * 1000 for t in DEFAULT_TOKENS.split(",")]
    )
    seeds: list[int] = field(default_factory=lambda: [0])
    out_dir: str = "runs/scale"
    jobs: int = 1  # runs trained at once on this machine (Ray CPUs); ignored with an address
    fit_on: str = "outputs"
    address: str | None = None  # a Ray cluster ("auto", "ray://host:10001"); None: local
    gpu_fraction: float = 0.25  # of a GPU per run when training on CUDA

    def __post_init__(self) -> None:
        if self.fit_on not in FIT_ON:
            raise ValueError(f"fit_on must be one of {sorted(FIT_ON)}, not {self.fit_on!r}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct, and at least one")
        if not 0 < self.gpu_fraction <= 1:
            raise ValueError("gpu_fraction must lie in (0, 1]")

    def runs(self) -> list[tuple[str, TrainConfig]]:
        """`(key, config)` for every grid point and seed, smallest compute first."""
        grid = sorted(
            ((m, d, s) for m in self.sizes for d in self.token_budgets for s in self.seeds),
            key=lambda mds: (mds[0].n_layers * mds[0].d_model ** 2 * mds[1], mds[1], mds[2]),
        )
        out = []
        for model, tokens, seed in grid:
            key = f"{size_label(model)}_D{tokens}_s{seed}"
            if model.position != "learned":
                key += f"_{model.position}"
            ckpt = str(Path(self.out_dir) / "checkpoints" / f"{key}.safetensors")
            out.append((key, replace(self.base, model=model, tokens=tokens, seed=seed, out=ckpt)))
        return out


def run_one(key: str, config: TrainConfig) -> dict[str, Any]:
    """Train one grid point; the row its results line holds."""
    metrics = train(config)
    metrics.pop("loss_curve")
    return {"key": key, "config": asdict(config), **metrics}


def _grid_free(config: TrainConfig) -> dict[str, Any]:
    """What defines a run apart from its grid point (model size, token budget and seed)."""
    identity = config.identity()
    del identity["model"], identity["tokens"], identity["seed"]
    return identity


def read_results(path: str | Path) -> dict[str, dict[str, Any]]:
    """Finished runs by key; a torn last line (an interrupted write) is ignored."""
    results: dict[str, dict[str, Any]] = {}
    path = Path(path)
    if not path.exists():
        return results
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "key" in row:
            results[row["key"]] = row
    return results


def sweep(config: SweepConfig, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train every run not already in `results.jsonl`; return all the sweep's results."""
    base = config.base
    spec = ProgramSpec.from_file(base.program, base.expr, base.vocab, base.max_len)
    config.base = replace(base, expr=spec.expr, vocab=spec.vocab)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    done = read_results(results_path)
    for row in done.values():
        if _grid_free(TrainConfig(**row["config"])) != _grid_free(config.base):
            raise ValueError(
                f"{results_path} holds runs with other settings (data or schedule); "
                "use another output directory"
            )
    runs = config.runs()
    todo = [(k, c) for k, c in runs if k not in done]
    if len(todo) < len(runs):
        log(f"{len(runs) - len(todo)} of {len(runs)} runs already in {results_path}")
    parallel = config.address is not None or (config.jobs > 1 and len(todo) > 1)
    quiet = parallel or not config.base.progress
    todo = [(k, replace(c, progress=not quiet)) for k, c in todo]
    bar = tqdm(total=len(todo), desc="sweep", unit="run", disable=not config.base.progress)

    def record(row: dict[str, Any]) -> None:
        """The driver alone appends to the results file, one whole line per finished run."""
        done[row["key"]] = row
        with open(results_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        bar.update(1)
        bar.set_postfix_str(f"{row['key']}: loss {row[FIT_ON[config.fit_on]]:.3g}")

    if parallel:
        _ray_sweep(config, todo, record)
    else:
        for key, run_config in todo:
            record(run_one(key, run_config))
    bar.close()
    return [done[k] for k, _ in runs]


def _ray_sweep(
    config: SweepConfig,
    todo: list[tuple[str, TrainConfig]],
    record: Callable[[dict[str, Any]], None],
) -> None:
    """One Ray task per run, each with its resource request; results recorded as they end."""
    import ray  # imported only for a Ray sweep: it takes seconds, and jobs=1 runs without it

    started_here = start_ray(config.jobs, config.address)
    try:
        cuda = (config.base.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith(
            "cuda"
        )
        task = ray.remote(run_one).options(
            num_cpus=config.base.threads or 1,
            num_gpus=config.gpu_fraction if cuda else 0,
            max_retries=1,
        )
        pending = [task.remote(k, c) for k, c in todo]
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            record(ray.get(finished[0]))
    finally:
        if started_here:
            ray.shutdown()


def start_ray(jobs: int, address: str | None = None) -> bool:
    """Start Ray in this process with `jobs` CPUs (or join the cluster at `address`) unless
    it is running already; whether this call started it (and so should shut it down)."""
    import ray  # as in _ray_sweep

    if ray.is_initialized():
        return False
    if address is None:
        # A new local cluster turns token authentication on, as it should, and says so in
        # a warning on stderr at every start: kept out of the command's output.
        notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
        level = notice.level
        notice.setLevel(logging.ERROR)
        try:
            ray.init(
                num_cpus=jobs, include_dashboard=False, log_to_driver=False, configure_logging=False
            )
        finally:
            notice.setLevel(level)
    else:
        try:
            ray.init(address=address, log_to_driver=False)
        except ConnectionError as err:
            if os.environ.get("RAY_AUTH_MODE"):
                raise
            raise ConnectionError(
                f"{err}; a cluster that `ray start` made uses token authentication: set "
                "RAY_AUTH_MODE=token here (its token in RAY_AUTH_TOKEN or ~/.ray/auth_token)"
            ) from None
    return True


def default_jobs() -> int:
    """Two runs at once on a multi-core CPU (each trains on one thread); one on a GPU."""
    return 1 if torch.cuda.is_available() else max(1, min(2, os.cpu_count() or 1))
