"""The model compiler and the data-free image layout it can work from."""

import dataclasses

import pytest

from assembler.compiler import CompileError, compile_model, compile_to_fit
from assembler.iss import CostModel, decode_step_counters
from golden.config import preset
from golden.image import image_bytes, image_layout, parse_header
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model


@pytest.mark.parametrize("packing", list(TritFormat))
def test_image_layout_matches_a_built_image(any_model, packing):
    info = parse_header(image_bytes(quantize_model(any_model), packing))
    layout = image_layout(any_model.config, packing)
    strip = lambda s: (s.name, s.kind, s.rows, s.cols, s.offset, s.length)
    assert [strip(s) for s in layout.sections] == [strip(s) for s in info.sections]
    assert layout.size == info.size


@pytest.mark.parametrize("name", ["370M", "1.3B", "2.7B"])
def test_upstream_sizes_compile_and_stream_every_weight_once_per_token(name):
    config = preset(name)
    layout = image_layout(config, TritFormat.TRITS_BASE3)
    compiled = compile_model(layout)
    step = decode_step_counters(compiled.program.instructions, layout.trit_format, CostModel(lanes=256))
    # Every byte of every section is read once per token, except the embedding table (one row of it).
    embedding = sum(s.length for s in layout.sections if s.name.startswith("model.embeddings"))
    row = 2 * config.hidden_size + 1
    assert step.bytes_read == sum(s.length for s in layout.sections) - embedding + row
    assert step.cycles >= step.bytes_read / CostModel().bytes_per_cycle


def test_a_vector_longer_than_the_isa_allows_is_refused():
    config = dataclasses.replace(preset("tiny"), vocab_size=70_000)
    with pytest.raises(CompileError, match="exceeds the ISA"):
        compile_model(image_layout(config))


def test_missing_section_is_named():
    info = parse_header(image_bytes(quantize_model(random_model(preset("tiny"), seed=0))))
    broken = dataclasses.replace(info, sections=[s for s in info.sections if "mlp_norm" not in s.name])
    with pytest.raises(CompileError, match="model.layers.0.mlp_norm.weight"):
        compile_model(broken)


def test_compile_to_fit_moves_the_states_to_memory_only_when_vmem_is_short():
    info = image_layout(preset("tiny"), TritFormat.TRITS_2BIT)
    on_chip = compile_model(info)
    assert compile_to_fit(info, on_chip.program.vmem_words).state_addresses == on_chip.state_addresses
    spilled = compile_to_fit(info, on_chip.program.vmem_words - 1)
    assert spilled.state_addresses == [] and len(spilled.state_memory_addresses) == info.config.num_hidden_layers
    assert spilled.program.vmem_words < on_chip.program.vmem_words
    assert spilled.memory_bytes > info.size == on_chip.memory_bytes


@pytest.mark.parametrize("name, on_chip_words, spilled_words", [("370M", 33280, 9728), ("1.3B", 66560, 19456),
                                                                 ("2.7B", 103424, 24064)])
def test_released_models_keep_one_steps_working_set_on_chip(name, on_chip_words, spilled_words):
    """VMEM words, by hand from the layout: h, r, x (d each), the shared scratch max(5 n, 2 mlp), then the states
    (n a layer on chip, one layer's in memory): 370M d = n = 1024, mlp 2816, 24 layers: 3 x 1024 + 5632 + 24 x 1024;
    1.3B 2048 / 5632 / 24; 2.7B 2560 / 6912 / 32. The logits (32,000) never stand whole: chunks over the scratch."""
    info = image_layout(preset(name), TritFormat.TRITS_BASE3)
    assert compile_model(info).program.vmem_words == on_chip_words
    spilled = compile_model(info, states_in_memory=True)
    assert spilled.program.vmem_words == spilled_words
    assert spilled.logits_chunk < info.config.vocab_size
