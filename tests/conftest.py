import pytest

from golden.config import preset
from golden.zoo import random_model

PRESET_NAMES = ("tiny", "tiny-odd", "tiny-expand")


@pytest.fixture(params=PRESET_NAMES)
def any_model(request):
    """A seeded random model of each small preset (non-trivial norms, lower bounds, embeddings)."""
    return random_model(preset(request.param), seed=1)


class TooSlow(Exception):
    """A case ran past its time limit (raised by the time_limit fixture's alarm)."""


@pytest.fixture
def time_limit():
    """time_limit(seconds): a context that raises TooSlow in the test's thread when it runs longer (a hang, or
    a command that started real work: a model load, a Verilator build, place and route)."""
    import contextlib
    import signal

    @contextlib.contextmanager
    def limit(seconds: float):
        def expire(*_):
            raise TooSlow(f"still running after {seconds} s")
        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return limit


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory):
    """Files a user might wrongly hand the command line, by name: {tmp} (a directory), {text} (a UTF-8 file),
    {empty}; images derived from the shipped model's: {truncated}, {other_version} (another format version),
    {damaged_header} (a config byte flipped: header CRC), {trailing} (a byte appended); checkpoint directories
    {no_config} and {bad_config} (config.json not JSON); {source} (assembly) and {binary} (a program)."""
    from golden.image import HEADER
    from golden.zoo import DEFAULT_MODEL, MODELS_DIR

    tmp = tmp_path_factory.mktemp("bad-inputs")
    image = (MODELS_DIR / DEFAULT_MODEL / "model.mmfi").read_bytes()
    other_version = bytearray(image)
    other_version[4] += 1
    damaged = bytearray(image)
    damaged[HEADER.size + 2] ^= 0x01
    files = {"text": b"hello, hardware\n" * 4, "empty": b"", "truncated.mmfi": image[:1000], "other_version.mmfi": other_version,
             "damaged_header.mmfi": damaged, "trailing.mmfi": image + b"\0", "source.s": b"HALT\n",
             "binary.bin": bytes(16), "no_config/model.safetensors": b"", "bad_config/config.json": b"{not json"}
    paths = {"tmp": str(tmp)}
    for name, data in files.items():
        (tmp / name).parent.mkdir(exist_ok=True)
        (tmp / name).write_bytes(bytes(data))
        paths[name.split(".")[0].split("/")[0]] = str(tmp / name)
    paths["no_config"], paths["bad_config"] = str(tmp / "no_config"), str(tmp / "bad_config")
    return paths
