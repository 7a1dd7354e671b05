"""cocotb end-to-end test: a compiled model generating tokens on the whole accelerator.

Protocol checked: the model image lies in the external-memory model (latency, refresh gaps); the
program is written into program memory and started with its length and the image size; the host
sends a request (prompt length, tokens to generate, the prompt tokens) with random gaps and takes the
words with random stalls: for each generated token the logits (SENDV, when the program sends them) then
the token (SEND). Against the instruction-level simulator on the same image and program, and the
hardware-exact golden model: every word the host receives (all logits, all tokens) and, once the
accelerator waits for the next request, every layer's recurrent state: in VMEM, or with STATES_IN_MEMORY
in the memory model's work area past the image (VSTORE's writes; not read back from LiteDRAM's PHY model,
where the tokens and logits, which depend on every state, are the check). LOGITS_CHUNK: the compiler's
logits chunk (ARGMAX / ARGMAXC and SENDV a chunk at a time).

Memory: sim.memory_model.ExternalMemory on the accelerator's own channels, or (MEMORY_PORT=axi) the
accelerator behind hw.axi.AXI4MemoryPort and cocotbext-axi's AxiRam, each AXI channel paused at random with
AXI_PAUSE (then the cycles are not compared with the ISS: no cost model describes random pauses).

Cycle accounting: the hardware's counters against the ISS run with the build's cost model
(`Accelerator.cost_model`): instructions and image bytes exactly; cycles (less the start-time image
check and the waits on the host) within 5 % over the run and per instruction kind; the activity counters add up to the cycles.
Cycles per decode step, measured and estimated, and the memory roofline go to the log and, with
RESULTS_FILE set, to a JSON file (bench/decode_roofline.py).
"""

import collections
import dataclasses
import json
import logging
import os
import random
import struct

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from assembler.compiler import compile_model
from assembler.isa import ErrorCode
from assembler.iss import CostModel, InstructionSetSimulator, IssError, decode_step_counters
from golden.config import HGRNBitConfig
from golden.hwexact import HardwareExactModel
from golden.image import HEADER, image_bytes, parse_header
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model
from hw.accelerator import ACTIVITY_COUNTERS, CountersLayout
from hw.controller import State
from hw.image_check import check_read_bytes
from sim.accelerator.harness import accelerator_for
from sim.clocking import start_and_reset
from sim.coverage import Coverage
from sim.host_link import HostLink
from sim.memory_model import BENCH_MEMORIES, ExternalMemory
from sim.vmem import read_all

CONFIG = HGRNBitConfig(**json.loads(os.environ["MODEL_CONFIG"]))
SEED = int(os.environ["MODEL_SEED"])
FORMAT = TritFormat[os.environ["FORMAT"]]
MEMORY = BENCH_MEMORIES[os.environ["MEMORY"]]
LANES = int(os.environ["LANES"])
VECTOR_WIDTH, PREFETCH_BYTES = int(os.environ["VECTOR_WIDTH"]), int(os.environ["PREFETCH_BYTES"])
EMIT_LOGITS = os.environ.get("EMIT_LOGITS", "1") == "1"
STATES_IN_MEMORY = os.environ.get("STATES_IN_MEMORY", "0") == "1"
LOGITS_CHUNK = int(os.environ["LOGITS_CHUNK"]) if os.environ.get("LOGITS_CHUNK") else None
HOST_RATE = float(os.environ.get("HOST_RATE", "0.8"))        # chance per cycle the host offers / takes a word
COUNTERS = CountersLayout()
CYCLE_TOLERANCE = 0.05
HOST_OPS = ("RECV", "SEND", "SENDV")                          # their cycles depend on the host
MEMORY_PORT = os.environ.get("MEMORY_PORT", "native")         # "axi": through hw.axi to AxiRam (axi_top.py)
AXI_PAUSE = float(os.environ.get("AXI_PAUSE", "0"))           # chance per cycle each AXI channel pauses
# Cycles against the ISS: the run within CYCLE_TOLERANCE, unless AXI channels pause at random (no memory the
# cost model describes); and per instruction kind on the native memory models only: AxiRam takes two AR
# requests at a time and back-pressures the rest, which delays a unit's short read behind the prefetch
# stream's bursts otherwise than the cost model's one in-order queue (measured: EMBED 460 cycles vs 560).
CHECK_CYCLES = AXI_PAUSE == 0
CHECK_KINDS = MEMORY_PORT == "native"


class AxiMemory:
    """cocotbext-axi's AxiRam on the `axi` port (sim/accelerator/axi_top.py) holding `contents` (a 4 KB-padded
    bytearray: reads past the image stay inside it), every channel paused at random with AXI_PAUSE."""

    def __init__(self, dut, contents: bytes, rng: random.Random):
        from cocotbext.axi import AxiBus, AxiRam
        self.dut = dut
        self.ram = AxiRam(AxiBus.from_prefix(dut, "axi_"), dut.clk, dut.rst,
                          mem=bytearray(-(-len(contents) // 4096) * 4096 + 4096))
        logging.getLogger(f"cocotb.{dut._name}.axi_").setLevel(logging.WARNING)      # a line per burst
        self.contents = contents
        if AXI_PAUSE:
            for channel in (self.ram.write_if.aw_channel, self.ram.write_if.w_channel, self.ram.write_if.b_channel,
                            self.ram.read_if.ar_channel, self.ram.read_if.r_channel):
                channel.set_pause_generator(iter(lambda: rng.random() < AXI_PAUSE, None))

    @property
    def contents(self) -> bytes:
        return bytes(self.ram.mem)

    @contents.setter
    def contents(self, data: bytes) -> None:
        self.ram.write(0, bytes(data) + bytes(len(self.ram.mem) - len(data)))

    def start(self) -> None:
        pass                                          # AxiRam runs from its construction

    def check(self) -> None:
        check_axi_port(self.dut)


class PreloadedMemory:
    """LiteDRAM's PHY model (MEMORY_PORT=litedram), its contents the image it was generated with (harness.py)."""

    def __init__(self, dut):
        self.dut = dut

    def start(self) -> None:
        pass

    def check(self) -> None:
        check_axi_port(self.dut)


def check_axi_port(dut) -> None:
    assert dut.axi_error.value == 0, "hw.axi saw an error response or a beat nobody asked for"


def attach_memory(dut, contents: bytes, rng: random.Random):
    """The external memory of MEMORY_PORT holding the image, started."""
    if MEMORY_PORT == "litedram":
        memory = PreloadedMemory(dut)
    elif MEMORY_PORT == "axi":
        memory = AxiMemory(dut, contents, rng)
    else:
        memory = ExternalMemory(dut, contents, MEMORY, writable=True)
    memory.start()
    return memory


async def reset_with_model(dut):
    """Clock and reset with every host input idle; the random model of CONFIG / SEED: (qmodel, image, info)."""
    await start_and_reset(dut, low=("program_write__en", "start__valid", "host_in__valid", "host_out__ready",
                                    "vmem_write__en", "stop"), high=("vmem_read__en",))
    qmodel = quantize_model(random_model(CONFIG, seed=SEED))
    image = image_bytes(qmodel, FORMAT)
    return qmodel, image, parse_header(image)


@cocotb.test()
async def model_generates_bit_exactly(dut):
    qmodel, image, info = await reset_with_model(dut)
    compiled = compile_model(info, emit_logits=EMIT_LOGITS, logits_chunk=LOGITS_CHUNK, states_in_memory=STATES_IN_MEMORY)
    words = compiled.program.to_bytes()
    accelerator = accelerator_for(CONFIG, compiled, trit_format=FORMAT, memory=os.environ["MEMORY"], lanes=LANES,
                                  vector_width=VECTOR_WIDTH, prefetch_bytes=PREFETCH_BYTES,
                                  write_bytes=int(os.environ.get("WRITE_BYTES", "1")))
    program_words, vmem_words = accelerator.program_words, accelerator.vmem_words
    rng = random.Random(SEED)
    memory = attach_memory(dut, image + bytes(compiled.memory_bytes - len(image)), random.Random(SEED + 1))
    prompt = [rng.randrange(info.config.vocab_size) for _ in range(int(os.environ.get("PROMPT", "3")))]
    generate = int(os.environ.get("TOKENS", "3"))
    requests = [len(prompt), generate] + prompt

    cost = accelerator.cost_model(bytes_per_cycle=MEMORY.bytes_per_cycle, memory_latency=MEMORY.latency,
                                  write_cycles=MEMORY.write_cycles)
    iss = InstructionSetSimulator(compiled.program.instructions, image, info.trit_format, cost=cost,
                                  vmem_words=vmem_words, vector_width=VECTOR_WIDTH, trace=True)
    iss.send(*requests)
    assert iss.run() == "waiting"
    expected = []
    chunks = -(-info.config.vocab_size // compiled.logits_chunk)            # SENDVs a token's logits take
    for index, token in enumerate(iss.host_out):
        logits = np.concatenate(iss.vectors_out[index * chunks:(index + 1) * chunks]) if EMIT_LOGITS else []
        expected += [int(v) for v in logits] + [token]
    golden_tokens = HardwareExactModel(qmodel).generate(prompt, generate)
    assert iss.host_out == golden_tokens, "the ISS disagrees with the golden model (see tests/assembler)"

    await start_program(dut, words, len(image), program_words)
    link = HostLink(dut, rng, program_words=program_words, words=requests, offer_rate=HOST_RATE,
                    ready_rate=HOST_RATE)
    send_pcs = {pc for pc, mnemonic, _ in iss.trace if mnemonic == "SEND"}
    # End-to-end coverage: every kind of instruction the program holds ran (the ISS's trace of the same run, whose
    # words the RTL must match) and every token asked for was generated.
    coverage = Coverage(f"accelerator {FORMAT.name} {os.environ['MEMORY']} L{LANES} V{VECTOR_WIDTH}", {
        **{f"op {name}": f"{name} executed" for name in sorted({i.op.mnemonic for i in compiled.program.instructions})},
        "generated tokens": f"{generate} tokens after a {len(prompt)}-token prompt"})
    for _, mnemonic, _ in iss.trace:
        coverage.hit(f"op {mnemonic}")
    coverage.hit("generated tokens", len(iss.host_out) == generate)
    cycles, timeline, snapshots = await run_host(dut, link, len(expected), snapshot_pcs=send_pcs)
    received = link.received
    assert len(received) == len(expected), f"received {len(received)} words, expected {len(expected)}"
    bad = [i for i, (a, b) in enumerate(zip(received, expected)) if a != b]
    assert not bad, f"{len(bad)} words differ, first at {bad[0]}: {received[bad[0]]} vs {expected[bad[0]]}"
    vmem = await read_all(dut, vmem_words, prefix="vmem_")
    inner = info.config.inner_size
    for layer, address in enumerate(compiled.state_addresses):
        np.testing.assert_array_equal(vmem[address:address + inner], iss.vmem[address:address + inner],
                                      err_msg=f"layer {layer} state")
    if MEMORY_PORT != "litedram":
        stored = memory.contents
        for layer, address in enumerate(compiled.state_memory_addresses):
            want = [iss.work[address + 4 * j] for j in range(inner)]
            got = np.frombuffer(bytes(stored[address:address + 4 * inner]), dtype="<i4")
            np.testing.assert_array_equal(got, want, err_msg=f"layer {layer} state in the work area")

    if MEMORY_PORT != "native":
        memory.check()

    # --- Cycle accounting (cycles against the ISS only where the memory is the preset's, CHECK_CYCLES) -----
    counters, measured, ratio, by_kind = check_counters(dut, iss, image, timeline, cycles)

    # Decode steps: from one token's SEND to the next (the last prompt token's step, then generated ones).
    sends = [(at, waited) for pc, at, waited in timeline if pc in send_pcs]
    iss_at = np.cumsum([c for _, _, c in iss.trace])
    iss_sends = [iss_at[i] for i, (pc, _, _) in enumerate(iss.trace) if pc in send_pcs]
    steps = [(b[0] - a[0]) - (b[1] - a[1]) for a, b in zip(sends, sends[1:])]
    step_counters = [{name: b[name] - a[name] for name in a} for a, b in zip(snapshots, snapshots[1:])]
    iss_steps = np.diff(iss_sends).tolist()
    step_bytes = _decode_step_bytes(compiled, info)
    roofline = step_bytes / MEMORY.bytes_per_cycle
    result = {"model": dataclasses.asdict(info.config),
              "format": FORMAT.name, "memory": os.environ["MEMORY"], "lanes": LANES, "counters": counters,
              "cycles_to_wait": measured, "iss_cycles": iss.counters.cycles, "decode_steps": steps,
              "decode_step_counters": step_counters,
              "iss_decode_steps": iss_steps, "decode_step_bytes": step_bytes, "roofline_cycles": roofline,
              "by_kind": {k: v for k, v in by_kind.items()}, "bytes_per_cycle": MEMORY.bytes_per_cycle}
    dut._log.info(f"tokens {iss.host_out}; cycles per decode step (measured, host waits excluded) {steps}, "
                  f"ISS {iss_steps}; memory roofline {roofline:.0f} cycles ({step_bytes} bytes at "
                  f"{MEMORY.bytes_per_cycle:.3f} B/cycle); whole run {measured} cycles measured, ISS "
                  f"{iss.counters.cycles} ({100 * (ratio - 1):+.2f} %)")
    if os.environ.get("RESULTS_FILE"):
        with open(os.environ["RESULTS_FILE"], "w") as file:
            json.dump(result, file, indent=1, default=str)
    coverage.finish()


def check_counters(dut, iss, image: bytes, timeline, cycles: int, kind_tolerance: dict[str, float] | None = None):
    """The hardware's counters against the ISS's run (`timeline`: (pc, cycle, host waits so far) at each
    instruction's execute; `cycles`: the bench's cycles to the end): instructions and image bytes exactly,
    no port conflict, the activities adding up, the same pcs executed; cycles (less the image check and the
    host waits) within CYCLE_TOLERANCE over the run and per instruction kind. Returns the counters, the
    measured cycles, their ratio to the ISS's and {mnemonic: [measured, ISS]}. `kind_tolerance`: a wider
    tolerance for the kinds it names (a caller states why)."""
    raw = int(dut.counters.value)
    counters = {name: _counter(raw, name) for name in COUNTERS.members}
    dut._log.info(f"counters (measured): {counters}")
    assert counters["instructions"] == iss.counters.instructions + 1, (counters, iss.counters)   # + the RECV it waits in
    check_bytes = check_read_bytes(struct.unpack_from("<I", image, 8)[0])     # the header, [0, H), its CRC
    assert counters["bytes_requested"] == iss.counters.bytes_read + check_bytes, (counters, iss.counters)
    assert counters["bytes_received"] >= counters["bytes_requested"]
    assert counters["port_conflicts"] == 0, "two clients drove one VMEM port in the same cycle"
    assert sum(counters[name] for name in ACTIVITY_COUNTERS.values()) == counters["cycles"], counters
    assert len(timeline) == len(iss.trace) + 1
    by_kind = collections.defaultdict(lambda: [0, 0])          # mnemonic: [measured, estimated] cycles
    for (pc, at, waited), (after, later, waited_later), (iss_pc, mnemonic, estimate) in zip(timeline, timeline[1:], iss.trace):
        assert pc == iss_pc, f"the hardware executed pc {pc} where the ISS executed {iss_pc}"
        by_kind[mnemonic][0] += later - at - (waited_later - waited)
        by_kind[mnemonic][1] += estimate
        if os.environ.get("TRACE_CYCLES"):
            dut._log.info(f"pc {pc} {mnemonic}: {later - at - (waited_later - waited)} measured, {estimate} ISS")
    # From the first instruction (after the image check) to the RECV it now waits in, host waits excluded.
    measured = counters["cycles"] - counters["check"] - counters["host_wait"] - (cycles - timeline[-1][1])
    dut._log.info("cycles by instruction (measured / ISS): " + ", ".join(
        f"{k} {v[0]}/{v[1]}" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1][0])))
    ratio = measured / iss.counters.cycles
    assert not CHECK_CYCLES or abs(ratio - 1) <= CYCLE_TOLERANCE, f"{measured} cycles measured, ISS {iss.counters.cycles}"
    # Per kind, beyond the tolerance: one refresh (the cost model charges refresh as average bandwidth; a
    # kind of few short instructions is hit by a whole refresh or by none).
    for mnemonic, (rtl, estimate) in by_kind.items():
        if CHECK_KINDS and mnemonic not in HOST_OPS and rtl > 0.01 * measured:
            tolerance = (kind_tolerance or {}).get(mnemonic, CYCLE_TOLERANCE)
            assert abs(rtl - estimate) <= tolerance * estimate + MEMORY.refresh_cycles, \
                f"{mnemonic}: {rtl} cycles measured, ISS {estimate}"

    return counters, measured, ratio, by_kind


async def start_program(dut, words: bytes, image_length: int, program_words: int) -> None:
    """Load the program and start it with its length and the image's."""
    await load_program(dut, words)
    dut.start__payload.value = (len(words) // 16) | image_length << program_words.bit_length()
    dut.start__valid.value = 1
    await ReadOnly()
    assert dut.start__ready.value == 1
    await FallingEdge(dut.clk)
    dut.start__valid.value = 0


def iss_outcome(iss: InstructionSetSimulator) -> tuple:
    """Run `iss` to its end: (state, error code, the error's pc or None), as the RTL's status reports them."""
    try:
        iss.run()
        return State.HALTED, ErrorCode.NONE, None
    except IssError as error:
        return State.ERROR, error.code, error.pc


async def run_to_stop(dut, link: HostLink, program, image_length: int, program_words: int) -> tuple:
    """Start `program` (assembler output) and clock until it halts or stops with an error: (state, error code, the
    error's pc or None)."""
    await start_program(dut, program.to_bytes(), image_length, program_words)
    for _ in range(200_000):
        state, error, pc = await link.cycle()
        if state in (State.HALTED, State.ERROR):
            break
    return state, ErrorCode(error), pc if state is State.ERROR else None


async def run_host(dut, link: HostLink, expected_words: int, snapshot_pcs=frozenset()):
    """Clock the accelerator while `link` offers its words, until it waits for the host with every word sent
    and `expected_words` received. Returns the cycles, the timeline ((pc, cycle, host waits so far) at every
    instruction's execute cycle) and the counters as each instruction at `snapshot_pcs` executed."""
    received, cycles, executed, last_pc = link.received, 0, 0, 0
    timeline, snapshots = [], []
    while True:
        state, error, pc = await link.cycle()
        cycles += 1
        raw = int(dut.counters.value)
        if _counter(raw, "instructions") != executed:
            executed = _counter(raw, "instructions")
            timeline.append((last_pc, cycles - 1, _counter(raw, "host_wait")))
            if last_pc in snapshot_pcs:
                snapshots.append({name: _counter(raw, name) for name in COUNTERS.members})
        last_pc = pc
        assert state is not State.ERROR, f"stopped with error {error} at pc {pc}"
        if state is State.WAITING and not link.pending and len(received) >= expected_words:
            break
        assert cycles < 50_000_000, f"no end after {cycles} cycles ({len(received)} of {expected_words} words)"
    link.stop()
    return cycles, timeline, snapshots


async def load_program(dut, words: bytes) -> None:
    """Write the program's 16-byte instructions into program memory, one per cycle."""
    for address in range(0, len(words), 16):
        await FallingEdge(dut.clk)
        dut.program_write__addr.value = address // 16
        dut.program_write__data.value = int.from_bytes(words[address:address + 16], "little")
        dut.program_write__en.value = 1
    await FallingEdge(dut.clk)
    dut.program_write__en.value = 0


def _decode_step_bytes(compiled, info) -> int:
    """Image bytes one decode step reads (ISS, data-free): a two-token request less a one-token one."""
    return decode_step_counters(compiled.program.instructions, info.trit_format, CostModel()).bytes_read


def _counter(raw: int, name: str) -> int:
    return (raw >> COUNTERS[name].offset) & ((1 << COUNTERS[name].width) - 1)


@cocotb.test()
async def corrupt_image_stops_at_start(dut):
    """A flipped bit in the image header's config stops the core at start with IMAGE_CRC (pc 0), before
    any instruction; a good image started next runs to its first RECV (the core is still usable)."""
    await start_and_reset(dut, low=("program_write__en", "start__valid", "host_in__valid", "host_out__ready",
                                    "vmem_write__en", "stop"), high=("vmem_read__en",))
    image = image_bytes(quantize_model(random_model(CONFIG, seed=SEED)), FORMAT)
    compiled = compile_model(parse_header(image), emit_logits=EMIT_LOGITS, logits_chunk=LOGITS_CHUNK,
                             states_in_memory=STATES_IN_MEMORY)
    accelerator = accelerator_for(CONFIG, compiled, trit_format=FORMAT, memory=os.environ["MEMORY"], lanes=LANES,
                                  vector_width=VECTOR_WIDTH, prefetch_bytes=PREFETCH_BYTES)
    corrupt = bytearray(image)
    corrupt[HEADER.size + 3] ^= 0x10
    memory = attach_memory(dut, bytes(corrupt), random.Random(SEED + 1))
    words = compiled.program.to_bytes()
    await load_program(dut, words)
    link = HostLink(dut, random.Random(1), program_words=accelerator.program_words)
    for contents, expected_state, expected_error in [(bytes(corrupt), State.ERROR, ErrorCode.IMAGE_CRC),
                                                     (image, State.WAITING, ErrorCode.NONE)]:
        memory.contents = contents + bytes(-len(contents) % MEMORY.mem_bytes)
        dut.start__payload.value = (len(words) // 16) | len(image) << accelerator.program_words.bit_length()
        dut.start__valid.value = 1
        await FallingEdge(dut.clk)
        dut.start__valid.value = 0
        for cycle in range(20_000):
            state, error, pc = await link.cycle()
            if state in (State.ERROR, State.WAITING):
                break
        assert (state, error, pc) == (expected_state, expected_error, 0), (state, error, pc, cycle)
        counters = int(dut.counters.value)
        assert _counter(counters, "instructions") == (expected_state is State.WAITING)
