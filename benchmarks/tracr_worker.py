"""Runs one program under Tracr for `vs_tracr.py`, inside Tracr's own environment.

Tracr is not on PyPI and needs JAX, so it lives in a separate virtual environment; its Python
runs this script with a JSON request on stdin and prints a JSON answer on stdout:

    request: {"program": "sort", "vocab": [1, 2, 3, 4, 5], "max_len": 32,  (inputs: one length)
              "inputs": [[...], ...], "batches": [1, 64] (or [] for back_to_back alone),
              "min_cpu": 1.0, "back_to_back": 256 or null}
    answer:  {"d_model": 239, "layers": 4, "compile_s": 9.1,
              "rows": [{"batch": 1, "e2e": {"cpu": s, "wall": s, "reps": n}, "bare": {...}}],
              "outputs": [[...], ...] (decoded, for the largest batch's inputs),
              "back_to_back_wall": seconds per batch of the jitted forward}

End to end is Tracr's own path: its input encoder per sequence, the jitted forward (only the
unembedded output is returned, so XLA drops every other intermediate), its output decoder per
sequence. Bare is the jitted forward alone on encoded ids. This file imports only Tracr and
JAX, never raspc.
"""

from __future__ import annotations

import json
import sys
import time

from timing import timed, timed_together


def program(name: str, max_len: int):
    from tracr.compiler import lib
    from tracr.rasp import rasp

    if name == "sort":
        return lib.make_sort(rasp.tokens, rasp.tokens, max_seq_len=max_len, min_key=1)
    if name == "hist":
        return lib.make_hist()
    if name == "reverse":
        return lib.make_reverse(rasp.tokens)
    if name == "sort_freq":
        return lib.make_sort_freq(max_len)
    raise SystemExit(f"tracr_worker: unknown program {name!r}")


def main() -> None:
    import jax
    import numpy as np
    from tracr.compiler import compiling

    req = json.load(sys.stdin)
    t0 = time.perf_counter()
    model = compiling.compile_rasp_to_model(
        program(req["program"], req["max_len"]),
        vocab=set(req["vocab"]),
        max_seq_len=req["max_len"],
        compiler_bos="BOS",
    )
    compile_s = time.perf_counter() - t0
    forward = jax.jit(lambda params, ids: model.forward(params, ids).unembedded_output)
    enc, dec = model.input_encoder, model.output_encoder
    inputs = req["inputs"]

    def e2e(batch: list) -> list:
        ids = np.array([enc.encode(["BOS", *x]) for x in batch])
        out = np.asarray(forward(model.params, ids)).tolist()
        return [(dec.decode(row) if dec else row)[1:] for row in out]

    rows, outputs = [], []
    for b in req["batches"]:
        batch = inputs[:b]
        ids = np.array([enc.encode(["BOS", *x]) for x in batch])
        fns = {
            "e2e": lambda batch=batch: e2e(batch),
            "bare": lambda ids=ids: forward(model.params, ids).block_until_ready(),
        }
        rows.append({"batch": b, **timed_together(fns, req["min_cpu"])})
        print(f"tracr {req['program']} batch {b:,} done", file=sys.stderr, flush=True)
        if b == max(req["batches"]):
            outputs = e2e(batch)
    answer = {
        "d_model": int(model.params["token_embed"]["embeddings"].shape[1]),
        "layers": int(model.model_config.num_layers),
        "compile_s": compile_s,
        "rows": rows,
        "outputs": outputs,
        "back_to_back_wall": None,
    }
    if req.get("back_to_back"):
        ids = np.array([enc.encode(["BOS", *x]) for x in inputs[: req["back_to_back"]]])
        answer["back_to_back_wall"] = timed(
            lambda: forward(model.params, ids).block_until_ready(), req["min_cpu"]
        )["wall"]
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
