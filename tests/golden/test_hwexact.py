"""The hardware-exact model: determinism, corner cases, and closeness to the float model."""

import numpy as np
import pytest
import torch

from golden import fixedpoint as fxp
from golden import formats as fmt
from golden.config import preset
from golden.fidelity import measure_fidelity
from golden.hwexact import HardwareExactModel, bitlinear, to_float
from golden.model import quantize_activations
from golden.quantize import quantize_linear, quantize_model
from golden.zoo import random_model


def test_deterministic_with_identical_traces(any_model):
    qmodel = quantize_model(any_model)
    tokens = [3, 1, 4, 1, 5, 9, 2, 6]
    runs = []
    for _ in range(2):
        model, state, traces = HardwareExactModel(qmodel), None, []
        state = model.initial_state()
        for token in tokens:
            trace = {}
            logits, state = model.step(token, state, trace)
            traces.append(trace)
        runs.append((logits, state, traces))
    (l1, s1, t1), (l2, s2, t2) = runs
    assert np.array_equal(l1, l2) and all(np.array_equal(a, b) for a, b in zip(s1, s2))
    for a, b in zip(t1, t2):
        assert a.keys() == b.keys()
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_every_value_is_an_integer_in_its_format(any_model):
    trace = {}
    model = HardwareExactModel(quantize_model(any_model))
    model.step(7, model.initial_state(), trace)
    assert len(trace) > 20
    for name, value in trace.items():
        if isinstance(value, fxp.SFloat):
            assert value.m == 0 or (1 << 16) <= value.m < (1 << 17), name
            continue
        assert value.dtype == np.int64, name
        if name.endswith(".q"):
            assert value.min() >= -128 and value.max() <= 127, name
        elif not name.endswith(".acc"):
            assert value.min() >= fmt.ACT_MIN and value.max() <= fmt.ACT_MAX, name


def _float_bitlinear(model_layer, x):
    with torch.no_grad():
        return model_layer(torch.as_tensor(x)).numpy()


@pytest.mark.parametrize("case", ["random", "huge", "tiny", "one-hot", "alternating-max"])
def test_bitlinear_against_float(case):
    torch.manual_seed(0)
    layer = random_model(preset("tiny"), seed=0).model.layers[0].attn.i_proj.double()
    rng = np.random.default_rng(0)
    x = {"random": rng.standard_normal(64),
         "huge": rng.standard_normal(64) * 20000,
         "tiny": rng.standard_normal(64) * 1e-3,
         "one-hot": np.eye(64)[5] * 3.0,
         "alternating-max": np.where(np.arange(64) % 2, 32767.0, -32768.0)}[case]
    words = np.floor(x * 65536 + 0.5).astype(np.int64)
    out = bitlinear(words, quantize_linear(layer))
    with torch.no_grad():
        q_float, _ = quantize_activations(layer.norm(torch.as_tensor(words / 65536)))
    assert np.mean(out.q == q_float.numpy()) >= 0.95
    expected = _float_bitlinear(layer, words / 65536)
    assert np.abs(to_float(out.y) - expected).max() <= 0.02 * np.abs(expected).max() + 1e-4


def test_bitlinear_of_zero_vector_is_zero():
    layer = quantize_linear(random_model(preset("tiny"), seed=0).lm_head)
    out = bitlinear(np.zeros(64, dtype=np.int64), layer)
    assert not out.q.any() and not out.acc.any() and not out.y.any()


def test_logits_close_to_float_and_top1_agrees(any_model):
    tokens = list(range(5, 45))
    report = measure_fidelity(any_model, [[t % any_model.config.vocab_size for t in tokens]])
    assert report.max_logit_error < report.logit_std
    assert report.mean_logit_error < 0.05 * report.logit_std
    assert report.top1_agreement >= 0.9
    assert abs(report.perplexity_ratio - 1) < 0.01


def test_generate_is_argmax_of_steps():
    model = HardwareExactModel(quantize_model(random_model(preset("tiny"), seed=3)))
    out = model.generate([10, 20], 4)
    logits = model.logits_for([10, 20] + out)
    assert out == [int(np.argmax(row)) for row in logits[1:-1]]


def test_bad_token_is_an_error():
    model = HardwareExactModel(quantize_model(random_model(preset("tiny"), seed=0)))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.step(256, model.initial_state())


def test_shipped_model_keeps_its_quality_in_integers():
    """The trained model on two held-out windows: the formats must keep top-1 and perplexity
    (the full figures, over more text, are in models/stdlib-256/README.md)."""
    from golden.fidelity import spread_windows
    from golden.zoo import heldout_text, load_model

    windows = spread_windows(list(heldout_text("stdlib-256")), 512, 2)
    report = measure_fidelity(load_model("stdlib-256"), windows)
    assert report.top1_agreement >= 0.985
    assert abs(report.perplexity_ratio - 1) < 0.01
    assert report.perplexity_float < 4.0             # it is a trained model, not noise
