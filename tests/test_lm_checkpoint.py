"""Checkpoints are safetensors + JSON: they round-trip, carry the program's sources, and a pickle
(which would run code when loaded) is refused without being unpickled."""

import pickle
from dataclasses import replace

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from lm import checkpoint as ckpt
from lm.checkpoint import load_checkpoint
from lm.cli import lm
from lm.config import TrainConfig
from lm.model import ModelConfig, build_model
from lm.train import train
from runtime import TransformerConfig


class _WritesAFile:
    """Unpickling this object creates `path`: what a malicious checkpoint could do."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _tiny(tmp_path, program="examples/dyck2.rasp", **kw) -> TrainConfig:
    base = TrainConfig(
        program=program,
        max_len=4,
        n_examples=300,
        model=ModelConfig(n_layers=1, d_model=16, n_heads=2),
        tokens=3000,
        batch_size=16,
        progress=False,
        out=str(tmp_path / "run.safetensors"),
    )
    return replace(base, **kw)


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_pickle_checkpoint_is_refused_without_running(tmp_path, writer):
    marker = tmp_path / "pwned"
    payload = {"model": _WritesAFile(str(marker))}
    path = tmp_path / "old.pt"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload, protocol=4))
    else:
        torch.save(payload, path)
    # The payload is live: unpickling it does write the file.
    pickle.loads(pickle.dumps(_WritesAFile(str(tmp_path / "proof"))))
    assert (tmp_path / "proof").exists()
    with pytest.raises(ckpt.CheckpointError, match="pickle checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()
    result = CliRunner().invoke(lm, ["eval", str(path)])
    assert result.exit_code == 1 and not marker.exists()
    assert result.output.count("\n") == 1 and "pickle" in result.output
    assert "Traceback" not in result.output


def test_files_that_are_not_checkpoints_get_one_line(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("garbage\n")
    result = CliRunner().invoke(lm, ["eval", str(garbage)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "not an lm checkpoint" in result.output and "int()" not in result.output
    other = tmp_path / "weights.safetensors"
    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(ckpt.CheckpointError, match="not an lm checkpoint"):
        load_checkpoint(other)


def test_checkpoint_round_trips_and_evaluates_from_another_directory(tmp_path, monkeypatch):
    config = _tiny(tmp_path, long_range=(5, 6), n_long=50)
    metrics = train(config)
    model, tokenizer, saved, meta = load_checkpoint(config.out)
    assert saved.identity() == config.identity()
    assert meta["step"] == metrics["steps"]
    assert set(meta["sources"]) == {"dyck2.rasp", "lib/dyck.rasp"}  # the loaded library too
    assert meta["optimizer"]["param_groups"]
    # Resuming restores the optimizer's moments: a finished run trains no further.
    again = train(config)
    assert again["steps"] == metrics["steps"]
    assert again["val_output_nll"] == pytest.approx(metrics["val_output_nll"], rel=1e-9)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # examples/dyck2.rasp does not resolve from here
    result = CliRunner().invoke(lm, ["eval", config.out, "--json"])
    assert result.exit_code == 0, result.output
    assert '"exact_match_long"' in result.output


@pytest.mark.parametrize("position", ["rope", "none"])
def test_other_positions_train_and_decode_the_same_with_or_without_cache(tmp_path, position):
    cfg = ModelConfig(n_layers=2, d_model=16, n_heads=2, position=position)
    model = build_model(cfg.transformer(vocab_size=9, max_seq_len=20), position).eval()
    assert model.pos_emb is None  # rotary and NoPE models have no position table
    prompt = torch.randint(4, 9, (3, 6))
    with_cache = model.generate(prompt, 8, greedy=True, use_cache=True)
    without = model.generate(prompt, 8, greedy=True, use_cache=False)
    assert torch.equal(with_cache, without)
    if position == "rope":  # positions matter: shifting the input changes what a query sees
        x = torch.randint(4, 9, (1, 6))
        a = model(x)
        shifted = model(torch.cat([torch.full((1, 1), 4), x], dim=1))[:, 1:]
        assert not torch.allclose(a, shifted)
    metrics = train(_tiny(tmp_path, program="examples/reverse.rasp", model=cfg))
    assert metrics["position"] == position
    loaded, *_ = load_checkpoint(tmp_path / "run.safetensors")
    assert not TransformerConfig.from_dict(loaded.config.to_dict()).pos_embedding
    x = torch.randint(4, loaded.config.vocab_size, (2, 5))
    assert loaded(x).shape[:2] == (2, 5)


def test_small_excesses_print_in_scientific_notation():
    """An excess perplexity of 2.09e-5 must not read 0.0000."""
    from lm.metrics_table import eval_rows, num

    assert num(2.09e-5) == "2.09e-05" and num(0.5) == "0.5000" and num(0.0) == "0.0000"
    split = {"output_ppl": 1.0000209, "output_bits": 3.0e-5, "output_excess_ppl": 2.09e-5}
    split |= {"sequence_ppl": 3.1, "sequence_bits": 1.63}
    metrics = {f"{s}_{k}": v for s in ("val", "test", "ngram3") for k, v in split.items()}
    metrics |= {"exact_match": 0.998, "test_examples": 500}
    rows = dict(eval_rows(metrics))
    assert "excess 2.09e-05" in rows["val outputs"] and "0.0000" not in rows["val outputs"]
    assert rows["exact match"] == "99.80% (499 of 500 test inputs; 90% interval 99.1%-100.0%)"
