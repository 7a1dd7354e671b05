"""`mmfree run`: a model on a device (the simulated accelerator or a board), text in, text out.

Loads the compiled serving program and the model image through the link, sends the prompt, prints
each token's text as it arrives, and reports cycles per token from the device's own counters
(*measured*) and tokens/s at a stated clock (*projected* until the bitstream's Fmax is known).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from assembler import isa
from assembler.compiler import compile_to_fit
from golden.errors import MmfreeError
from golden.image import ImageInfo

from . import protocol as p
from .driver import Driver
from .link_csr import dram_ready
from .text import FileTokenizer, print_progress, tokenizer_for  # noqa: F401  (re-exported)


@dataclasses.dataclass
class RunResult:
    tokens: list[int]
    decode_steps: int
    cycles: int                     # device cycles of the request, waits on the host excluded
    load_seconds: float
    generate_seconds: float
    image_sent: bool                # False: the device already held this image (not re-sent)
    counters: dict[str, int]        # the device's counters over the request (after - before)

    @property
    def cycles_per_token(self) -> float:
        return self.cycles / max(self.decode_steps, 1)


def simulated_device(info: ImageInfo, *, lanes: int, memory: str, program_instructions: int, vmem_words: int,
                     log_file: Path | None = None, waves: Path | None = None, log=None):
    """A Device sized for the model behind the memory preset, in the fast Verilator harness (sim/fast),
    reached over a local TCP connection (host.transport.SimTransport)."""
    from .transport import SimTransport

    return SimTransport(device_for(info, lanes=lanes, memory=memory, program_instructions=program_instructions,
                                   vmem_words=vmem_words), memory=memory, log_file=log_file, waves=waves, log=log)


def device_recipe(info: ImageInfo, *, lanes: int, memory: str, program_instructions: int, vmem_words: int,
                  timeout_cycles: int | None = None, vector_width: int = 1, prefetch_bytes: int = 4096,
                  batch: int = 1, memory_bytes: int | None = None) -> str:
    """Everything device_for builds its Device from, as text: with the RTL's sources it names the build
    (sim.fast.build's `recipe`: a warm start skips elaborating the design)."""
    from sim.memory_model import MEMORIES, MEMORY_KINDS

    return repr(("device_for", info.config, info.trit_format.name, info.size, lanes, MEMORIES[memory],
                 MEMORY_KINDS[memory], program_instructions, vmem_words, timeout_cycles, vector_width, prefetch_bytes,
                 batch, memory_bytes))


def device_for(info: ImageInfo, *, lanes: int, memory: str, program_instructions: int, vmem_words: int,
               timeout_cycles: int | None = None, vector_width: int = 1, prefetch_bytes: int = 4096,
               batch: int = 1, memory_bytes: int | None = None):
    """The hw.device.Device a simulation of this model uses: an accelerator sized for the model and its
    program, the memory preset's beat width (sim.memory_model.MEMORIES), batch B Q slots (assembler.isa), and
    external memory for `memory_bytes` (the program's image and work area, CompiledProgram.memory_bytes;
    default: the image) rounded up to a power of two."""
    from host.protocol import FRAME_TIMEOUT_CYCLES
    from hw.accelerator import Accelerator
    from hw.device import Device
    from sim.memory_model import MEMORIES, MEMORY_KINDS

    accelerator = Accelerator.for_model(info.config, program_instructions=program_instructions, vmem_words=vmem_words,
                                        lanes=lanes, trit_format=info.trit_format, mem_bytes=MEMORIES[memory].mem_bytes,
                                        vector_width=vector_width, prefetch_bytes=prefetch_bytes, batch=batch)
    memory_bytes = 1 << max(16, (max(info.size, memory_bytes or 0) - 1).bit_length())
    return Device(accelerator, memory_bytes=memory_bytes, memory_kind=MEMORY_KINDS[memory],
                  timeout_cycles=timeout_cycles or FRAME_TIMEOUT_CYCLES)


def check_prompt(config, prompt: list[int], max_tokens: int, max_tokens_name: str = "--max-tokens") -> None:
    """MmfreeError unless the device can serve `prompt` (token ids) and `max_tokens` more within the model's
    positions (config.max_position_embeddings); `max_tokens_name` names that number in the message."""
    if not prompt:
        raise MmfreeError("the prompt must hold at least one token")
    limit = config.max_position_embeddings
    if len(prompt) + max_tokens > limit:
        raise MmfreeError(f"too long: the prompt ({len(prompt)} tokens) plus {max_tokens_name} {max_tokens} exceeds "
                          f"the model's {limit} positions")
    bad = [t for t in prompt if not 0 <= t < config.vocab_size]
    if bad:
        raise MmfreeError(f"prompt token {bad[0]} outside the vocabulary of {config.vocab_size}")


@dataclasses.dataclass
class LoadedDevice:
    """A device whose program waits for its first request (load's result)."""
    driver: Driver
    build: p.BuildInfo
    counters: dict[str, int]        # the device's counters once the program waited for a request
    image_sent: bool                # False: the device already held this image (not re-sent)
    seconds: float                  # host seconds from the first STATUS to the program waiting
    compiled: object                # the program it runs: a CompiledProgram, or a BatchedProgram (build.batch > 1)


def load(image: bytes, info: ImageInfo, transport, *, timeout: float = 60.0,
         progress: Callable[[int], None] | None = None, log: Callable[[str], None] = lambda line: None,
         compiled=None) -> LoadedDevice:
    """Connect, check the build, load program and image, start: the device then waits for a request.

    compiled: the program to run (default: the batched serving program on a batched build, else
    compile_to_fit for the device's VMEM); checked against the build like the default one.

    The driver checks the build first (IncompatibleError); a device with a LiteDRAM control bus has its DRAM
    brought up (once per power-up; host.link_csr.dram_ready). An image the device already holds (same length
    and CRC-32, host.protocol "Held image") is not sent again; `log` says so. timeout: seconds to wait for
    any answer."""
    from hw.accelerator import CountersLayout

    driver = Driver(transport, timeout=timeout, counter_names=list(CountersLayout().members))
    driver.resync()                          # a new client: nothing an earlier one left half-sent counts
    build = driver.hello()
    dram_ready(driver, build, log=log)       # a LiteDRAM core behind a control bus: its DRAM brought up first
    if compiled is not None:
        pass
    elif build.batch > 1:                    # B request slots: the batched serving program (host.batched)
        from assembler.batch_compiler import compile_batched
        compiled = compile_batched(info, build.batch)
    else:
        compiled = compile_to_fit(info, build.vmem_words)    # the states in the device's DRAM if VMEM is short
    program = compiled.program.to_bytes()
    driver.check_compatible(info, compiled.memory_bytes, len(compiled.program.instructions), compiled.program.vmem_words,
                            isa.vector_alignment(compiled.program.instructions))
    started = time.perf_counter()
    status = driver.status()
    if status.state == "RUNNING":            # an earlier request cut short (Ctrl-C): let it finish
        status = driver.wait_for("WAITING", timeout=10 * timeout)
    if status.state in ("WAITING", "HALTED", "ERROR"):
        driver.stop()
    driver.words.clear()
    driver.load_program(program)
    send_image = not status.holds(image)
    if send_image:
        driver.load_image(image, progress)
    else:
        log(f"the device holds this image ({len(image):,} bytes, CRC-32 {status.held_image_crc:08x}): not sent again")
    counters = driver.start(len(program) // isa.INSTRUCTION_BYTES, len(image)).counters
    return LoadedDevice(driver, build, counters, send_image, time.perf_counter() - started, compiled)


def _generate(loaded: LoadedDevice, prompt: list[int], max_tokens: int, timeout: float):
    """The request's tokens as they come: the serving program's request, or a batched device's slot 0."""
    if loaded.build.batch == 1:
        yield from loaded.driver.generate(prompt, max_tokens, token_timeout=timeout)
        return
    from .batched import BatchedSession

    session = BatchedSession(loaded.driver, loaded.compiled, timeout=timeout)
    session.admit(0, prompt, max_tokens)
    produced = 0
    while produced < max_tokens:
        for token in session.step().values():
            produced += 1
            yield token


def run(image: bytes, info: ImageInfo, prompt: list[int], max_tokens: int, transport, *,
        on_token: Callable[[int], None] = lambda token: None, progress: Callable[[int], None] | None = None,
        timeout: float = 60.0, on_start: Callable[[], None] = lambda: None,
        log: Callable[[str], None] = lambda line: None) -> RunResult:
    """Check the prompt (check_prompt: nothing is sent for one the device cannot serve), load (see load),
    generate. on_start: called once the device waits for the prompt (before the first token)."""
    check_prompt(info.config, prompt, max_tokens)
    loaded = load(image, info, transport, timeout=timeout, progress=progress, log=log)
    driver, before = loaded.driver, loaded.counters
    generating = time.perf_counter()
    on_start()
    tokens = []
    for token in _generate(loaded, prompt, max_tokens, timeout):
        tokens.append(token)
        on_token(token)
    after = driver.wait_for("WAITING").counters
    counters = {name: after[name] - before[name] for name in after}
    cycles = counters["cycles"] - counters["host_wait"]
    return RunResult(tokens, len(prompt) + max(max_tokens - 1, 0), cycles, loaded.seconds,
                     time.perf_counter() - generating, loaded.image_sent, counters)
