"""``rasp lm``: train language models on a program's data, measure perplexity, fit scaling laws.

User errors (a missing file, a bad program, an inconsistent option) exit 1 with one line on
stderr; bad usage exits 2 (click). ``python -m lm`` runs the same group, which is how
``torchrun --nproc_per_node K -m lm train ...`` trains on K processes or GPUs.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from lm.scaling import DEFAULT_SIZES, DEFAULT_TOKENS, parse_size

_SUFFIX = {"k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12}


def parse_amount(text: str) -> float:
    """``25k``, ``2M``, ``1e6``, ``3.5e18``: a count or a FLOP budget."""
    t = text.strip().lower()
    scale = _SUFFIX.get(t[-1:], 1.0)
    number = t[:-1] if t[-1:] in _SUFFIX else t
    try:
        value = float(number) * scale
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number (forms: 25k, 2M, 1e6)") from None
    if not value > 0:
        raise click.BadParameter(f"{text!r} must be positive")
    return value


class Amount(click.ParamType):
    name = "AMOUNT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        return value if isinstance(value, int | float) else parse_amount(value)


class LengthRange(click.ParamType):
    name = "LO-HI"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, tuple):
            return value
        lo, sep, hi = str(value).partition("-")
        try:
            return (int(lo), int(hi if sep else lo))
        except ValueError:
            self.fail(f"{value!r} is not a length range such as 9-12", param, ctx)


def _parse_list(text: str, parse: Callable[[str], Any]) -> list[Any]:
    """A comma-separated option; a bad item is a usage error (exit 2)."""
    try:
        items = [parse(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if not items:
        raise click.BadParameter("the list is empty")
    return items


def _user_errors(fn: Callable) -> Callable:
    """Turn the errors a user can cause into one line and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from compiler import CompileError
        from rasp import RaspError
        from runtime import ModelFileError

        try:
            return fn(*args, **kwargs)
        except (ValueError, KeyError, OSError, RaspError, CompileError, ModelFileError) as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            click.echo(f"error: {message}", err=True)
            sys.exit(1)

    return wrapper


def _training_options(fn: Callable) -> Callable:
    """Options shared by ``train`` and ``scale``: the program's data and how to train."""
    options = [
        click.argument("file", type=click.Path(dir_okay=False)),
        click.option("-e", "--expr", help="The s-op to learn (default: the header's)."),
        click.option("--vocab", help="Input tokens, comma-separated (default: the header's)."),
        click.option("--min-len", type=click.IntRange(1), default=1, show_default=True),
        click.option(
            "--max-len",
            type=click.IntRange(1),
            default=8,
            show_default=True,
            help="Longest training input.",
        ),
        click.option(
            "--examples",
            type=click.IntRange(10),
            default=20_000,
            show_default=True,
            help="Distinct inputs to sample (all of them when fewer exist).",
        ),
        click.option(
            "--long-lengths",
            type=LengthRange(),
            default=None,
            help="Held-out input lengths for length generalisation, e.g. 9-12.",
        ),
        click.option(
            "--long-examples",
            type=click.IntRange(1),
            default=1000,
            show_default=True,
            help="Held-out longer inputs (at most).",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(1),
            default=64,
            show_default=True,
            help="Sequences per step, over all processes.",
        ),
        click.option("--lr", type=float, default=3e-3, show_default=True),
        click.option(
            "--loss-on",
            type=click.Choice(["outputs", "all"]),
            default="outputs",
            show_default=True,
            help="Score output tokens only, or whole sequences.",
        ),
        click.option("--device", help="cpu, cuda, cuda:1 (default: CUDA when present)."),
        click.option(
            "--torch-compile",
            "compile_mode",
            default="none",
            show_default=True,
            type=click.Choice(["none", "default", "reduce-overhead", "max-autotune"]),
            help="torch.compile mode (GPUs).",
        ),
        click.option(
            "--threads",
            type=click.IntRange(0),
            default=1,
            show_default=True,
            help="CPU threads per run (0: torch's default).",
        ),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option(
            "--position",
            type=click.Choice(["learned", "rope", "none"]),
            default="learned",
            show_default=True,
            help="Positions: learned absolute embeddings, rotary (RoPE) or none (NoPE).",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _base_config(kw: dict[str, Any]) -> Any:
    from lm.train import TrainConfig
    from rasp.examples import parse_vocab

    if not Path(kw["file"]).is_file():
        raise ValueError(f"{kw['file']}: no such file")
    return TrainConfig(
        program=kw["file"],
        expr=kw["expr"],
        vocab=parse_vocab(kw["vocab"]) if kw["vocab"] else None,
        min_len=kw["min_len"],
        max_len=kw["max_len"],
        n_examples=kw["examples"],
        long_range=kw["long_lengths"],
        n_long=kw["long_examples"],
        batch_size=kw["batch_size"],
        lr=kw["lr"],
        loss_on=kw["loss_on"],
        seed=kw["seed"],
        device=kw["device"],
        torch_compile=kw["compile_mode"],
        threads=kw["threads"] or None,
        progress=not kw["quiet"],
    )


def _leave_process_group() -> None:
    """Under torchrun, ``train`` joined a process group; leave it before the process exits."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _print_metrics(metrics: dict[str, Any]) -> None:
    rows = [
        ("steps", f"{metrics['steps']} of {metrics['total_steps']}"),
        ("parameters", f"{metrics['params']} ({metrics['params_non_embedding']} non-embedding)"),
        (
            "tokens",
            f"{metrics['tokens']} ({metrics['epochs']:.3g} epochs; "
            f"{metrics['scored_fraction']:.0%} of tokens carry loss)",
        ),
        ("FLOPs", f"{metrics['flops_6nd']:.3g} (6ND), {metrics['flops_exact']:.3g} (exact)"),
    ]
    rows += _eval_rows(metrics)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        click.echo(f"{k:<{width}}  {v}")


def _num(x: float) -> str:
    """Four decimals, or scientific notation where they would read 0.0000."""
    return f"{x:.4f}" if x == 0 or abs(x) >= 1e-3 else f"{x:.3g}"


def _exact(m: dict[str, Any], key: str, split: str, what: str) -> str:
    from lm.frontier import wilson

    n = m.get(f"{split}_examples")
    if not n:
        return f"{m[key]:.2%} ({what})"
    k = round(m[key] * n)
    lo, hi = wilson(k, n)
    return f"{m[key]:.2%} ({k} of {n} {what}; 90% interval {lo:.1%}-{hi:.1%})"


def _eval_rows(m: dict[str, Any], ngram: int = 3) -> list[tuple[str, str]]:
    rows = []
    splits = ["val", "test", "ngram3"] + (["long"] if "long_output_ppl" in m else [])
    for split in splits:
        label = {"ngram3": f"{ngram}-gram (test)", "long": "long"}.get(split, split)
        rows.append(
            (
                f"{label} outputs",
                f"perplexity {_num(m[f'{split}_output_ppl'])}, "
                f"{_num(m[f'{split}_output_bits'])} bits, "
                f"excess {_num(m[f'{split}_output_excess_ppl'])}",
            )
        )
        rows.append(
            (
                f"{label} sequence",
                f"perplexity {_num(m[f'{split}_sequence_ppl'])}, "
                f"{_num(m[f'{split}_sequence_bits'])} bits",
            )
        )
    rows.append(("exact match", _exact(m, "exact_match", "test", "test inputs")))
    if "exact_match_long" in m:
        rows.append(("exact match long", _exact(m, "exact_match_long", "long", "longer inputs")))
    return rows


@click.group(name="lm", context_settings={"help_option_names": ["-h", "--help"]})
def lm() -> None:
    """Language models that learn RASP programs: training, perplexity and scaling laws."""


@lm.command()
@_training_options
@click.option("--layers", type=click.IntRange(1), default=2, show_default=True)
@click.option("--d-model", type=click.IntRange(1), default=64, show_default=True)
@click.option("--heads", type=click.IntRange(1), default=4, show_default=True)
@click.option(
    "--tokens",
    type=Amount(),
    default="1M",
    show_default=True,
    help="Training budget D in tokens (25k, 2M, 1e9).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False),
    help="Checkpoint (default: runs/NAME.safetensors); resumed from when it exists.",
)
@click.option("--no-resume", is_flag=True, help="Start afresh even if the checkpoint exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@_user_errors
def train(**kw: Any) -> None:
    """Train a causal transformer on FILE's program: BOS input SEP output EOS.

    Runs on K processes or GPUs with: torchrun --nproc_per_node K -m lm train FILE ...
    """
    from lm.train import ModelConfig
    from lm.train import train as run_training

    model = ModelConfig(
        n_layers=kw["layers"], d_model=kw["d_model"], n_heads=kw["heads"], position=kw["position"]
    )
    config = replace(
        _base_config(kw),
        model=model,
        tokens=int(kw["tokens"]),
        out=kw["out"] or str(Path("runs") / f"{Path(kw['file']).stem}.safetensors"),
        resume=not kw["no_resume"],
    )
    metrics = run_training(config)
    _leave_process_group()
    if not _is_main_process():
        return
    metrics.pop("loss_curve")
    if kw["as_json"]:
        click.echo(json.dumps(metrics, indent=2))
    else:
        _print_metrics(metrics)
        click.echo(f"checkpoint {config.out}")


@lm.command(name="eval")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--device", help="cpu or cuda (default: CUDA when present).")
@click.option(
    "--ngram",
    type=click.IntRange(1, 8),
    default=3,
    show_default=True,
    help="Order of the Markov baseline.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@_user_errors
def eval_command(checkpoint: str, device: str | None, ngram: int, as_json: bool) -> None:
    """Perplexity (outputs and whole sequences), an n-gram baseline and exact match of a
    checkpoint written by `rasp lm train`, on its held-out splits."""
    from lm.train import evaluate, load_checkpoint, load_data
    from runtime.device import pick_device

    if not Path(checkpoint).is_file():
        raise ValueError(f"{checkpoint}: no such file")
    dev = pick_device(device)
    model, _, config, state = load_checkpoint(checkpoint, dev)
    data = load_data(config, sources=state.get("sources") or None)
    metrics = evaluate(model, data, device=dev, ngram_order=ngram)
    if as_json:
        click.echo(json.dumps({"step": state["step"], "tokens": state["tokens"], **metrics}))
        return
    click.echo(
        f"checkpoint {checkpoint}: {config.program} -e {config.expr}, step {state['step']}, "
        f"{state['tokens']} tokens"
    )
    rows = _eval_rows({**metrics, **_rename_ngram(metrics, ngram)}, ngram)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        click.echo(f"{k:<{width}}  {v}")


def _rename_ngram(metrics: dict[str, Any], order: int) -> dict[str, Any]:
    """The table prints the baseline under ``ngram3``; point it at the order asked for."""
    return {
        k.replace(f"ngram{order}_", "ngram3_"): v
        for k, v in metrics.items()
        if k.startswith(f"ngram{order}_")
    }


@lm.command()
@_training_options
@click.option(
    "--budget",
    type=Amount(),
    default=None,
    help="Compute budget C in FLOPs for N_opt and D_opt (default: the largest swept "
    "compute; a budget outside the swept range is reported as an extrapolation).",
)
@click.option(
    "--bootstrap",
    "n_boot",
    type=click.IntRange(0),
    default=200,
    show_default=True,
    help="Bootstrap resamples for the fits' intervals (0: none).",
)
@click.option(
    "--sizes",
    default=DEFAULT_SIZES,
    show_default=True,
    callback=lambda ctx, param, value: _parse_list(value, parse_size),
    help="Model sizes LAYERSxD_MODEL[xHEADS], comma-separated.",
)
@click.option(
    "--seeds",
    callback=lambda ctx, param, value: None if value is None else _parse_list(value, int),
    help="Seeds per grid point (data split and initialisation), comma-separated, pooled in "
    "the fit (default: --seed).",
)
@click.option(
    "--address",
    help="Ray cluster to run the sweep on (e.g. auto, ray://host:10001); default: this machine.",
)
@click.option(
    "--tokens",
    "token_list",
    default=DEFAULT_TOKENS,
    show_default=True,
    callback=lambda ctx, param, value: _parse_list(value, lambda t: int(parse_amount(t))),
    help="Token budgets D, comma-separated.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    help="Directory for results, checkpoints and plots (default: runs/scale-NAME).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1),
    default=None,
    help="Runs trained at once (default: 2 on a CPU, 1 on a GPU).",
)
@click.option(
    "--fit-on",
    type=click.Choice(["outputs", "sequence"]),
    default="outputs",
    show_default=True,
    help="Fit the validation NLL of outputs or whole sequences.",
)
@click.option(
    "--compiled/--no-compiled",
    default=True,
    show_default=True,
    help="Compile the program with the RASP compiler to compare its size.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_user_errors
def scale(**kw: Any) -> None:
    """Sweep model sizes x token budgets x seeds on FILE's program (one Ray task per run), fit
    L = E + A/N^alpha + B/D^beta (E free and E = 0, with bootstrap intervals), find the least
    training that reaches 99% exact match, and compare with the compiled model. Resumable."""
    from lm import scaling
    from lm.plots import plot

    base = _base_config(kw)
    sizes = [replace(m, position=kw["position"]) for m in kw["sizes"]]
    tokens = kw["token_list"]
    if len(sizes) * len(tokens) < 5:
        raise ValueError("the law has 5 constants: give at least 5 size x budget combinations")
    out = kw["out"] or str(Path("runs") / f"scale-{Path(kw['file']).stem}")
    config = scaling.SweepConfig(
        base=base,
        sizes=sizes,
        token_budgets=tokens,
        seeds=kw["seeds"] or [base.seed],
        out_dir=out,
        address=kw["address"],
        jobs=kw["jobs"] or scaling.default_jobs(),
        fit_on=kw["fit_on"],
    )
    log = (
        (lambda _msg: None)
        if kw["as_json"] or kw["quiet"]
        else (lambda msg: click.echo(msg, err=True))
    )
    results = scaling.sweep(config, log=log)
    rep = scaling.report(
        config, results, kw["budget"], compile_model=kw["compiled"], n_boot=kw["n_boot"], log=log
    )
    log("plotting")
    plots = plot(rep, out)
    (Path(out) / "report.json").write_text(json.dumps(rep.as_dict(), indent=2))
    (Path(out) / "report.txt").write_text(rep.text() + "\n")
    if kw["as_json"]:
        click.echo(json.dumps(rep.as_dict()))
        return
    click.echo(rep.text())
    click.echo(f"\nresults   {Path(out) / 'results.jsonl'}")
    for path in plots:
        click.echo(f"plot      {path}")
