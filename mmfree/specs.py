"""What the command line's --model and --format values name, resolved once for every command."""

from __future__ import annotations

from pathlib import Path

from golden.errors import MmfreeError
from mmfree.checks import check_input_file

# --format value -> golden.packing.TritFormat member name
FORMATS = {"base3": "TRITS_BASE3", "2bit": "TRITS_2BIT"}
SHIPPED_IMAGE = "model.mmfi"            # a shipped model's compiled image (models/<name>/)


def trit_format(name: str):
    from golden.packing import TritFormat

    return TritFormat[FORMATS[name]]


def check_model_spec(spec: str, *, layouts: bool, images: bool = True) -> None:
    """What image_for (and load_model under it) accepts, checked without weights: a layout's preset is known
    (when the command takes one), an .mmfi file exists and its header is sound, else a model source
    (golden.zoo.check_model_source). Raises MmfreeError."""
    from golden.config import PRESETS
    from golden.zoo import check_model_source

    if spec.startswith("layout:"):
        if not layouts:
            raise MmfreeError(f"--model {spec}: this command needs weights: give a model or an image, not a layout")
        if spec.split(":", 1)[1] not in PRESETS:
            raise MmfreeError(f"unknown preset in {spec!r}; known: {sorted(PRESETS)}")
    elif spec.endswith(".mmfi") and images:
        check_image_header(spec, "--model")
    else:
        check_model_source(spec)


def check_image_header(path: str, option: str) -> None:
    """An image file exists and its header and section table are sound (golden.image.parse_header: a
    truncated image, another format version, a damaged header); its payloads are checked where read."""
    from golden.image import parse_header

    check_input_file(path, option)
    parse_header(Path(path).read_bytes(), path)


def model_check(*, layouts: bool, images: bool = True):
    """A command's check of --model (mmfree.checks); a build's None means the board's model, checked there."""
    return lambda args: args.model is None or check_model_spec(args.model, layouts=layouts, images=images)


def image_for(spec: str, format_name: str):
    """(image bytes or None, ImageInfo) for a model spec, an .mmfi file, or 'layout:<preset>' (no weights)."""
    from golden.config import preset
    from golden.image import image_bytes, image_layout, parse_header
    from golden.quantize import quantize_model
    from golden.zoo import load_model, shipped_model_dir

    check_model_spec(spec, layouts=True)
    packing = trit_format(format_name)
    if spec.startswith("layout:"):
        return None, image_layout(preset(spec.split(":", 1)[1]), packing)
    if spec.endswith(".mmfi"):
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
    from golden.config import CONFIG_FILE, PRESETS, HGRNBitConfig
    from golden.zoo import MODELS_DIR

    if spec in PRESETS:
        return PRESETS[spec]
    for directory in (Path(spec), MODELS_DIR / spec):
        if spec and (directory / CONFIG_FILE).is_file():
            return HGRNBitConfig.from_directory(directory)
    raise MmfreeError(f"{spec!r} is neither a preset ({', '.join(sorted(PRESETS))}) nor a directory with config.json")


def weights_and_prompt(spec: str, format_name: str, prompt_text: str):
    """(image bytes, ImageInfo, tokenizer, prompt tokens) for a command that runs a model on text: the
    model's weights (refused for a layout), its tokenizer by the one rule (host.text.tokenizer_for)."""
    from host.text import tokenizer_for

    check_model_spec(spec, layouts=False)
    data, info = image_for(spec, format_name)
    tokenizer = tokenizer_for(info, spec)
    return data, info, tokenizer, tokenizer.encode(prompt_text)

