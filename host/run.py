"""`mmfree run`: a model on a device (the simulated accelerator or a board), text in, text out.

Loads the compiled serving program and the model image through the link, sends the prompt, prints
each token's text as it arrives, and reports cycles per token from the device's own counters
(*measured*) and tokens/s at a stated clock (*projected* until the bitstream's Fmax is known).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Callable

from assembler import isa
from assembler.compiler import compile_model
from golden.errors import MmfreeError
from golden.image import ImageInfo
from golden.tokenizer import ByteTokenizer

from .driver import Driver


@dataclasses.dataclass
class RunResult:
    tokens: list[int]
    decode_steps: int
    cycles: int                     # device cycles of the request, waits on the host excluded
    load_seconds: float
    generate_seconds: float

    @property
    def cycles_per_token(self) -> float:
        return self.cycles / max(self.decode_steps, 1)


def simulated_device(info: ImageInfo, *, lanes: int, memory: str, program_instructions: int, vmem_words: int,
                     log_file: Path | None = None):
    """A Device sized for the model behind the memory preset, in cocotb (host.transport.SimTransport)."""
    from hw.accelerator import Accelerator
    from hw.device import Device
    from sim.memory_model import MEMORIES

    from .transport import SimTransport

    accelerator = Accelerator.for_model(info.config, program_instructions=program_instructions, vmem_words=vmem_words,
                                        lanes=lanes, trit_format=info.trit_format, mem_bytes=MEMORIES[memory].mem_bytes)
    memory_bytes = 1 << max(16, (info.size - 1).bit_length())
    device = Device(accelerator, memory_bytes=memory_bytes)
    name = f"device_{info.trit_format.name}_{lanes}_{memory}_{accelerator.program_words}_{accelerator.vmem_words}_" \
           f"{info.config.hidden_size}_{info.config.vocab_size}_{info.config.mlp_size}_{memory_bytes}"
    return SimTransport(device, memory=memory, build_name=name, log_file=log_file)


class FileTokenizer:
    """A Hugging Face tokenizer.json from the model's directory (local files only)."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer
        self.tokenizer = Tokenizer.from_file(str(path))

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens)


def tokenizer_for(info: ImageInfo, model: str | None = None):
    """The model directory's tokenizer.json when there is one, else byte-level text (vocab <= 256)."""
    if model and (Path(model) / "tokenizer.json").is_file():
        return FileTokenizer(Path(model) / "tokenizer.json")
    if info.config.vocab_size > 256:
        raise MmfreeError(f"a vocabulary of {info.config.vocab_size} needs a tokenizer: put its tokenizer.json in "
                          "the model directory (byte-level text covers vocabularies of at most 256)")
    return ByteTokenizer(info.config.vocab_size)


def run(image: bytes, info: ImageInfo, prompt: list[int], max_tokens: int, transport, *,
        on_token: Callable[[int], None] = lambda token: None, progress: Callable[[int], None] | None = None,
        timeout: float = 60.0) -> RunResult:
    """Load, start, generate. The driver checks the build first (IncompatibleError)."""
    from hw.accelerator import CountersLayout

    if not prompt:
        raise MmfreeError("the prompt must hold at least one token")
    limit = info.config.max_position_embeddings
    if len(prompt) + max_tokens > limit:
        raise MmfreeError(f"prompt ({len(prompt)} tokens) plus --max-tokens {max_tokens} exceeds the model's "
                          f"{limit} positions")
    bad = [t for t in prompt if not 0 <= t < info.config.vocab_size]
    if bad:
        raise MmfreeError(f"prompt token {bad[0]} outside the vocabulary of {info.config.vocab_size}")
    compiled = compile_model(info)
    program = compiled.program.to_bytes()
    driver = Driver(transport, timeout=timeout, counter_names=list(CountersLayout().members))
    driver.hello()
    driver.check_compatible(info, len(image), len(compiled.program.instructions), compiled.program.vmem_words)
    started = time.perf_counter()
    state = driver.status().state
    if state == "RUNNING":                   # an earlier request cut short (Ctrl-C): let it finish
        driver.wait_for("WAITING", timeout=10 * timeout)
        state = "WAITING"
    if state in ("WAITING", "HALTED", "ERROR"):
        driver.stop()
    driver.words.clear()
    driver.load_program(program)
    driver.load_image(image, progress)
    before = driver.start(len(program) // isa.INSTRUCTION_BYTES, len(image)).counters
    loaded = time.perf_counter()
    tokens = []
    for token in driver.generate(prompt, max_tokens, token_timeout=timeout):
        tokens.append(token)
        on_token(token)
    after = driver.wait_for("WAITING").counters
    cycles = (after["cycles"] - before["cycles"]) - (after["host_wait"] - before["host_wait"])
    return RunResult(tokens, len(prompt) + max(max_tokens - 1, 0), cycles, loaded - started,
                     time.perf_counter() - loaded)


def print_progress(total: int):
    """A progress line on stderr for the image load."""
    done = [0]

    def advance(nbytes: int):
        done[0] += nbytes
        print(f"\r[load] {done[0]:,} / {total:,} bytes ({100 * done[0] / total:.0f} %)", end="", file=sys.stderr,
              flush=True)
        if done[0] >= total:
            print(file=sys.stderr)
    return advance
