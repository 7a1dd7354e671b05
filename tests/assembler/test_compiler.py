"""The model compiler and the data-free image layout it can work from."""

import dataclasses

import pytest

from assembler.compiler import CompileError, compile_model
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
