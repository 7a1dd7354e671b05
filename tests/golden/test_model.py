import torch

from golden.config import preset
from golden.model import BitLinear, HGRNBitForCausalLM, generate_greedy
from golden.zoo import random_model


def layer_names(i):
    """Parameter names of one layer as listed in shared/MODEL.md (the upstream layout)."""
    p = f"model.layers.{i}."
    names = [p + "attn_norm.weight", p + "attn.g_norm.weight", p + "mlp_norm.weight"]
    for proj in ("attn.i_proj", "attn.f_proj", "attn.g_proj", "attn.o_proj", "mlp.gate_proj", "mlp.down_proj"):
        names += [p + proj + ".weight", p + proj + ".norm.weight"]
    return names


def test_parameter_names_are_upstreams():
    config = preset("tiny")
    expected = {"model.embeddings.weight", "model.lower_bounds", "model.norm.weight", "lm_head.weight",
                "lm_head.norm.weight"}
    for i in range(config.num_hidden_layers):
        expected.update(layer_names(i))
    assert set(HGRNBitForCausalLM(config).state_dict()) == expected


def test_parameter_shapes():
    config = preset("370M")
    with torch.device("meta"):
        model = HGRNBitForCausalLM(config)
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    d, inter = 1024, 2816
    assert shapes["model.embeddings.weight"] == (32000, d)
    assert shapes["model.lower_bounds"] == (24, d)
    assert shapes["model.layers.3.attn.i_proj.weight"] == (d, d)
    assert shapes["model.layers.3.mlp.gate_proj.weight"] == (2 * inter, d)
    assert shapes["model.layers.3.mlp.down_proj.weight"] == (d, inter)
    assert shapes["model.layers.3.mlp.down_proj.norm.weight"] == (inter,)
    assert shapes["lm_head.weight"] == (32000, d)


def test_recurrent_step_matches_parallel_forward(any_model):
    torch.manual_seed(0)
    ids = torch.randint(0, any_model.config.vocab_size, (3, 29))
    with torch.no_grad():
        parallel = any_model(ids)
    state = any_model.initial_state(3)
    for t in range(ids.shape[1]):
        logits, state = any_model.step(ids[:, t], state)
        torch.testing.assert_close(logits, parallel[:, t], atol=1e-5, rtol=0)


def test_state_carries_across_chunks(any_model):
    """Prefill in two chunks with the state handed over == one whole-sequence forward."""
    ids = torch.randint(0, any_model.config.vocab_size, (2, 20), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        whole = any_model(ids)
        first, state = any_model(ids[:, :7], return_state=True)
        second = any_model(ids[:, 7:], state=state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, atol=1e-5, rtol=0)


def test_bitlinear_matches_the_dequantised_formula():
    """y = (q_x/s_x) . (q_W/s_w)^T, written independently of BitLinear.forward."""
    torch.manual_seed(0)
    layer = BitLinear(48, 20)
    with torch.no_grad():
        layer.norm.weight.uniform_(0.5, 2)
    x = torch.randn(5, 48, dtype=torch.float64)
    layer = layer.double()
    xn = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * layer.norm.weight
    s_x = 127 / xn.abs().max(-1, keepdim=True).values
    q_x = torch.clamp(torch.sign(xn * s_x) * torch.floor((xn * s_x).abs() + 0.5), -128, 127)
    s_w = 1 / layer.weight.abs().mean()
    q_w = torch.clamp(torch.round(layer.weight * s_w), -1, 1)
    assert set(q_w.unique().tolist()) <= {-1.0, 0.0, 1.0}
    with torch.no_grad():
        torch.testing.assert_close(layer(x), (q_x / s_x) @ (q_w / s_w).T, rtol=1e-12, atol=1e-12)


def test_lower_bounds_floor_the_forget_gate():
    model = random_model(preset("tiny"), seed=0)
    lower = model.model.lower_bound_table()
    assert torch.all(lower[0] == 0)
    assert torch.all(lower[1:] >= 0) and torch.all(lower <= 1)
    x = torch.randn(1, 4, 64)
    _, f = model.model.layers[1].attn.gates(x, lower[1])
    assert torch.all(f >= lower[1])


def test_quantization_aware_forward_has_same_values_and_gradients():
    model = random_model(preset("tiny"), seed=0)
    ids = torch.randint(0, 256, (2, 9))
    with torch.no_grad():
        reference = model(ids)
    model.set_training_mode(True)
    logits = model(ids)
    # Same values up to the scan's reassociation (which may move an int8 step: loose bound).
    torch.testing.assert_close(logits, reference, atol=2e-2, rtol=0)
    logits.logsumexp(-1).mean().backward()
    grad = model.model.layers[0].attn.i_proj.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_generate_greedy_is_argmax_of_step():
    model = random_model(preset("tiny"), seed=2)
    out = generate_greedy(model, [1, 2, 3], 5)
    seq = [1, 2, 3] + out
    with torch.no_grad():
        logits = model(torch.tensor([seq]))[0]
    assert out == logits[2:-1].argmax(-1).tolist()
