"""What determines a training run (`TrainConfig`) and the data it trains on (`load_data`).

Apart from `train` so that a checkpoint (`lm.checkpoint`), the sweep and the CLI can read
and build configurations without importing the training loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lm.data import DataConfig, Dataset, Program, ProgramSpec, make_dataset, rasp_program
from lm.model import ModelConfig
from runtime.device import COMPILE_MODES


@dataclass
class TrainConfig:
    """Everything that determines a run. Fields after `seed` only say how and where to run
    it: they may change between a run and its resumption."""

    program: str = ""  # path of the .rasp file (or a label when a program is passed in)
    expr: str | None = None  # the s-op to learn; default from the file's header
    vocab: list[Any] | None = None  # input tokens; default from the file's header
    min_len: int = 1
    max_len: int = 8
    n_examples: int = 20_000
    long_range: tuple[int, int] | None = None  # held-out input lengths for generalisation
    n_long: int = 1_000  # held-out longer inputs (at most)
    model: ModelConfig = field(default_factory=ModelConfig)
    tokens: int = 1_000_000  # training budget D: tokens processed (padding excluded)
    batch_size: int = 64  # sequences per step, over all processes
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_fraction: float = 0.05
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    loss_on: str = "outputs"  # "outputs" (after SEP) or "all" (every token but BOS)
    seed: int = 0
    device: str | None = None
    threads: int | None = 1  # CPU intra-op threads (small models run fastest on one); None: torch's
    torch_compile: str = "none"  # torch.compile mode, for GPUs
    out: str | None = None  # checkpoint path; resumed from when it exists
    resume: bool = True
    checkpoint_every: int = 1000  # steps
    log_every: int = 25  # steps between reading the loss back from the device
    max_steps: int | None = None  # stop this call after so many steps (a later call resumes)
    progress: bool = True
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = ModelConfig(**self.model)
        if self.long_range is not None:
            self.long_range = tuple(self.long_range)
        if self.loss_on not in ("outputs", "all"):
            raise ValueError(f"loss_on must be 'outputs' or 'all', not {self.loss_on!r}")
        if self.tokens <= 0 or self.batch_size <= 0:
            raise ValueError("tokens and batch_size must be positive")
        if self.torch_compile not in COMPILE_MODES:
            raise ValueError(
                f"torch_compile must be one of {COMPILE_MODES}, not {self.torch_compile!r}"
            )

    def identity(self) -> dict[str, Any]:
        """The fields that define the run (a checkpoint must match them to be resumed)."""
        names = [f.name for f in fields(self)]
        return {k: v for k, v in asdict(self).items() if names.index(k) <= names.index("seed")}

    def data_config(self, vocab: list[Any]) -> DataConfig:
        return DataConfig(
            vocab=vocab,
            min_len=self.min_len,
            max_len=self.max_len,
            n_examples=self.n_examples,
            long_range=self.long_range,
            n_long=self.n_long,
            seed=self.seed,
        )


def load_data(
    config: TrainConfig, program: Program | None = None, sources: dict[str, str] | None = None
) -> Dataset:
    """The run's dataset: the program file's interpreter (or that of its saved `sources`)
    unless `program` is given."""
    if program is None and sources is not None:
        if config.expr is None or config.vocab is None:
            raise ValueError("saved program sources need the config's expr and vocab")
        program = rasp_program(config.program, config.expr, sources)
    if program is None:
        spec = ProgramSpec.from_file(config.program, config.expr, config.vocab, config.max_len)
        config.expr, config.vocab = spec.expr, spec.vocab
        program = rasp_program(spec.path, spec.expr)
    if config.vocab is None:
        raise ValueError("a program passed in needs config.vocab")
    return make_dataset(program, config.data_config(list(config.vocab)))
