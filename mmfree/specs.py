"""What the command line's --model and --format values name, resolved once for every command."""

from __future__ import annotations

from pathlib import Path

from golden.errors import MmfreeError

# --format value -> golden.packing.TritFormat member name
FORMATS = {"base3": "TRITS_BASE3", "2bit": "TRITS_2BIT"}
SHIPPED_IMAGE = "model.mmfi"            # a shipped model's compiled image (models/<name>/)


def trit_format(name: str):
    from golden.packing import TritFormat

    return TritFormat[FORMATS[name]]


def image_for(spec: str, format_name: str):
    """(image bytes or None, ImageInfo) for a model spec, an .mmfi file, or 'layout:<preset>' (no weights)."""
    from golden.config import preset
    from golden.image import image_bytes, image_layout, parse_header
    from golden.quantize import quantize_model
    from golden.zoo import load_model, shipped_model_dir

    packing = trit_format(format_name)
    if spec.startswith("layout:"):
        try:
            config = preset(spec.split(":", 1)[1])
        except KeyError as error:
            raise MmfreeError(f"unknown preset in {spec!r}: {error}") from None
        return None, image_layout(config, packing)
    if spec.endswith(".mmfi") and Path(spec).is_file():
        data = Path(spec).read_bytes()
        return data, parse_header(data, spec)
    shipped = shipped_model_dir(spec)
    if shipped and (shipped / SHIPPED_IMAGE).is_file():
        # The image shipped beside the checkpoint (tests/golden/test_image.py holds it to a fresh compile):
        # no float model, no torch, when its packing is the one asked for.
        data = (shipped / SHIPPED_IMAGE).read_bytes()
        info = parse_header(data, str(shipped / SHIPPED_IMAGE))
        if info.trit_format == packing:
            return data, info
    data = image_bytes(quantize_model(load_model(spec)), packing)
    return data, parse_header(data)


def config_for(spec: str):
    """A model's config without its weights: a preset (370M, 1.3B, 2.7B, …), a shipped model name or a
    directory holding config.json."""
    from golden.config import PRESETS, HGRNBitConfig
    from golden.zoo import MODELS_DIR

    if spec in PRESETS:
        return PRESETS[spec]
    for directory in (Path(spec), MODELS_DIR / spec):
        if (directory / "config.json").is_file():
            return HGRNBitConfig.from_json_file(directory / "config.json")
    raise MmfreeError(f"{spec!r} is neither a preset ({', '.join(sorted(PRESETS))}) nor a directory with config.json")


def weights_and_prompt(spec: str, format_name: str, prompt_text: str, command: str):
    """(image bytes, ImageInfo, tokenizer, prompt tokens) for a command that runs a model on text: the
    model's weights (refused for a layout), its tokenizer by the one rule (host.text.tokenizer_for)."""
    from host.text import tokenizer_for

    data, info = image_for(spec, format_name)
    if data is None:
        raise MmfreeError(f"{command} needs weights: give a model or an image, not a layout")
    tokenizer = tokenizer_for(info, spec)
    return data, info, tokenizer, tokenizer.encode(prompt_text)

