"""``python -m gatedrnn compare``: LSTM beside GRU, counts checked against PyTorch's layers."""

import json

import pytest

from test_cli import run_cli


def parse_compare_table(text):
    """label -> (LSTM cell, GRU cell, ratio cell) of the compare table."""
    rows = {}
    lines = [ln.strip() for ln in text.splitlines()]
    start = lines.index("| | LSTM | GRU | GRU / LSTM |")
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        label, a, b, ratio = (c.strip() for c in ln.strip("|").split("|"))
        rows[label] = (a, b, ratio)
    return rows


def number(cell):
    return float(cell.split(" ")[0].replace(",", ""))


def run_compare(tmp_path, *args):
    path = tmp_path / "compare.json"
    r = run_cli("compare", "--time-budget", "0.05", "--json", str(path), *args)
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads(path.read_text())


@pytest.mark.parametrize("I, H, L, B, precision", [(17, 33, 2, 3, "fp32"), (8, 16, 1, 1, "int8")])
def test_compare_counts_match_pytorch(tmp_path, I, H, L, B, precision):
    torch = pytest.importorskip("torch")
    T = 5
    out, doc = run_compare(tmp_path, "--input-size", str(I), "--hidden-size", str(H), "--layers", str(L),
                           "--batch", str(B), "--seq-len", str(T), "--precision", precision)
    res = doc["results"]
    per_weight = {"fp32": 4, "bf16": 2, "int8": 1}[precision]
    for kind, module in (("lstm", torch.nn.LSTM(I, H, L)), ("gru", torch.nn.GRU(I, H, L))):
        params = dict(module.named_parameters())
        matrices = sum(p.numel() for name, p in params.items() if name.startswith("weight_"))
        r = res[kind]
        assert r["parameters"] == sum(p.numel() for p in params.values())
        assert r["flops_per_step"] == 2 * B * matrices
        assert r["weight_bytes"] == per_weight * matrices
        # Gates + candidate stacked in weight_ih (torch: i, f, g, o and r, z, n).
        assert r["weight_blocks"] == {"lstm": 4, "gru": 3}[kind]
        _, state = module(torch.zeros(T, B, I))
        states = state if kind == "lstm" else (state,)
        assert r["states"] == len(states)
        assert r["state_bytes"] == sum(s.numel() * 4 for s in states)
        assert r["check"]["max_abs_err"]["y"] <= r["check"]["atol"]
        assert len(r["seq_times_ms"]) >= 3 and len(r["stream_step_times_ms"]) >= 3
    assert (res["lstm"]["gates"], res["gru"]["gates"]) == (3, 2)
    # The printed table shows the same numbers, and each ratio is GRU / LSTM.
    table = parse_compare_table(out)
    assert set(table) >= {"parameters (state_dict)", "states carried", "gates (+ candidate)",
                          "FLOPs per step (matrix multiply-adds)", "state bytes", f"weight bytes ({precision})",
                          "time per sequence (ms, median)", "time per step in a sequence (µs)",
                          "time per streaming step (µs, median)"}
    keys = {"parameters (state_dict)": "parameters", "states carried": "states", "state bytes": "state_bytes",
            "FLOPs per step (matrix multiply-adds)": "flops_per_step"}
    for label, key in keys.items():
        a, b, ratio = table[label]
        assert (number(a), number(b)) == (res["lstm"][key], res["gru"][key])
        assert float(ratio) == pytest.approx(res["gru"][key] / res["lstm"][key], abs=0.005)
    assert "(input, forget, output)" in table["gates (+ candidate)"][0]
    assert doc["settings"]["precision"] == precision and doc["settings"]["layers"] == L


def test_compare_rejects_bad_options():
    r = run_cli("compare", "--hidden-size", "0")
    assert r.returncode == 2 and "--hidden-size" in r.stderr and "must be >= 1, got 0" in r.stderr
    r = run_cli("compare", "--precision", "fp16")
    assert r.returncode == 2 and "--precision" in r.stderr
    r = run_cli("compare", "--seq-len", "x")
    assert r.returncode == 2 and "not an integer: 'x'" in r.stderr


def test_compare_refuses_to_time_wrong_numbers(monkeypatch, capsys, tmp_path):
    """A layer whose output differs from the reference is reported (exit 1), not timed."""
    from gatedrnn import _cli, reference

    true_gru = reference.gru

    def off_by_a_little(*args, **kwargs):
        y, h = true_gru(*args, **kwargs)
        return y + 1e-2, h

    monkeypatch.setattr(reference, "gru", off_by_a_little)
    path = tmp_path / "compare.json"
    code = _cli.main(["compare", "--input-size", "4", "--hidden-size", "8", "--seq-len", "3",
                      "--time-budget", "0.01", "--json", str(path)])
    assert code == 1
    assert "gru: the output does not match gatedrnn.reference" in capsys.readouterr().err
    assert path.read_text() == ""  # nothing measured, nothing written


def test_compare_json_path_checked_first(capsys, tmp_path):
    from gatedrnn import _cli

    code = _cli.main(["compare", "--json", str(tmp_path / "missing" / "out.json")])
    assert code == 2
    assert "error: --json" in capsys.readouterr().err
