"""Runs the end-to-end testbench (tb_accelerator) on an accelerator sized for a model: shared by the
pytest entry and bench/decode_roofline.py."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from assembler.batch_compiler import compile_batched
from assembler.compiler import compile_model
from golden.config import HGRNBitConfig
from golden.image import image_bytes, image_layout
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model
from hw.accelerator import Accelerator
from sim.accelerator.axi_top import AcceleratorOnAXI
from sim.memory_model import BENCH_MEMORIES
from sim.runner import BUILD_ROOT, run_cocotb

MEMORY_PORTS = {"native": None, "axi": "axi_ram", "litedram": "ddr3_ecpix5"}   # port: the memory it serves


def accelerator_for(config: HGRNBitConfig, compiled, *, trit_format: TritFormat, memory: str, lanes: int,
                    vector_width: int, prefetch_bytes: int, batch: int = 1, parallel: bool = False,
                    write_bytes: int = 1) -> Accelerator:
    """The accelerator of the testbench: Accelerator.for_model for `config` and its compiled program."""
    return Accelerator.for_model(config, program_instructions=len(compiled.program.instructions),
                                 vmem_words=compiled.program.vmem_words, lanes=lanes, trit_format=trit_format,
                                 mem_bytes=BENCH_MEMORIES[memory].mem_bytes, vector_width=vector_width,
                                 prefetch_bytes=prefetch_bytes, batch=batch, parallel=parallel, write_bytes=write_bytes)


def run_model(config: HGRNBitConfig, *, seed: int, trit_format: TritFormat, memory: str, lanes: int,
              build_name: str, vector_width: int = 1, prefetch_bytes: int = 4096, emit_logits: bool = True,
              env: dict[str, str] | None = None, extra_build_args: tuple[str, ...] = (), log_file=None,
              memory_port: str = "native", axi_pause: float = 0.0, logits_chunk: int | None = None,
              states_in_memory: bool = False, write_bytes: int = 1):
    """Build the accelerator for `config` (Accelerator.for_model) behind the memory preset `memory`
    (sim.memory_model.BENCH_MEMORIES) and run the testbench on a random model of that shape.
    memory_port: "native" (the accelerator's mem_req / mem_resp, sim.memory_model.ExternalMemory), "axi"
    (through hw.axi.AXI4MemoryPort to cocotbext-axi's AxiRam: sim/accelerator/axi_top.py) or "litedram" (through
    it to LiteDRAM's DDR3 controller and PHY model, the image preloaded: sim/litedram/); axi_pause: the
    chance per cycle that each AXI channel of the AxiRam pauses (backpressure; the cycle check is then off);
    logits_chunk, states_in_memory: the compiler's (assembler.compiler.compile_model); write_bytes: VSTORE's writes
    (hw.data_mover; the AXI port is built to take them)."""
    if memory_port not in MEMORY_PORTS:
        raise ValueError(f"memory_port must be one of {MEMORY_PORTS}, got {memory_port!r}")
    if memory_port != "native" and memory != MEMORY_PORTS[memory_port]:
        raise ValueError(f"memory_port {memory_port!r} serves the memory {MEMORY_PORTS[memory_port]!r}, got {memory!r}")
    if not 0 <= axi_pause < 1 or (axi_pause and memory_port != "axi"):
        raise ValueError(f"axi_pause must be in [0, 1) and only with memory_port 'axi', got {axi_pause!r}")
    compiled = compile_model(image_layout(config, trit_format), emit_logits=emit_logits, logits_chunk=logits_chunk,
                             states_in_memory=states_in_memory)
    accelerator = accelerator_for(config, compiled, trit_format=trit_format, memory=memory, lanes=lanes,
                                  vector_width=vector_width, prefetch_bytes=prefetch_bytes, write_bytes=write_bytes)
    if write_bytes != 1 and memory_port == "litedram":
        raise ValueError("the LiteDRAM bench takes byte writes (a board's accelerator): write_bytes must be 1")
    extra_sources, test_filter = (), {}
    if memory_port == "litedram":
        from sim.litedram.core import ECPIX5, generate_sim_core
        from sim.litedram.top import AcceleratorOnLiteDRAM
        image = image_bytes(quantize_model(random_model(config, seed=seed)), trit_format)   # as the bench makes it
        key = hashlib.sha256(image).hexdigest()[:16]
        core = generate_sim_core(ECPIX5, image, BUILD_ROOT / "litedram" / f"{ECPIX5.name}-{key}")
        top, extra_sources = AcceleratorOnLiteDRAM(accelerator, core), (core.verilog,)
        test_filter = {"COCOTB_TEST_FILTER": "model_generates_bit_exactly"}      # the image is fixed at build
    else:
        top = AcceleratorOnAXI(accelerator) if memory_port == "axi" else accelerator
    return run_cocotb(top, toplevel="accelerator", test_module="sim.accelerator.tb_accelerator,sim.accelerator.tb_checks",
                      build_name=build_name, extra_sources=extra_sources,
                      env={"MODEL_CONFIG": json.dumps(dataclasses.asdict(config)), "MODEL_SEED": str(seed),
                           "FORMAT": trit_format.name, "MEMORY": memory, "LANES": str(lanes),
                           "VECTOR_WIDTH": str(vector_width), "PREFETCH_BYTES": str(prefetch_bytes),
                           "EMIT_LOGITS": str(int(emit_logits)), "MEMORY_PORT": memory_port,
                           "AXI_PAUSE": str(axi_pause), "LOGITS_CHUNK": str(logits_chunk or ""),
                           "STATES_IN_MEMORY": str(int(states_in_memory)), "WRITE_BYTES": str(write_bytes),
                           **test_filter, **(env or {})},
                      extra_build_args=extra_build_args, log_file=log_file)


def run_batched(config: HGRNBitConfig, *, seed: int, batch: int, trit_format: TritFormat, memory: str, lanes: int,
                build_name: str, vector_width: int = 1, prefetch_bytes: int = 4096, env: dict[str, str] | None = None,
                log_file=None, logits_chunk: int | None = None, parallel: bool = False, write_bytes: int = 1):
    """The batched serving program (assembler.batch_compiler, `batch` Q slots, the head's logits in chunks of
    `logits_chunk`) on an accelerator of that batch behind the memory preset `memory` (native port): the
    testbench sim.accelerator.tb_batch. parallel: the slots side by side (hw.ternary_engine); write_bytes: VSTORE's
    writes (hw.data_mover)."""
    compiled = compile_batched(image_layout(config, trit_format), batch, logits_chunk=logits_chunk)
    accelerator = accelerator_for(config, compiled, trit_format=trit_format, memory=memory, lanes=lanes,
                                  vector_width=vector_width, prefetch_bytes=prefetch_bytes, batch=batch, parallel=parallel,
                                  write_bytes=write_bytes)
    return run_cocotb(accelerator, toplevel="accelerator", test_module="sim.accelerator.tb_batch",
                      build_name=build_name,
                      env={"MODEL_CONFIG": json.dumps(dataclasses.asdict(config)), "MODEL_SEED": str(seed),
                           "FORMAT": trit_format.name, "MEMORY": memory, "LANES": str(lanes), "BATCH": str(batch),
                           "VECTOR_WIDTH": str(vector_width), "PREFETCH_BYTES": str(prefetch_bytes),
                           "LOGITS_CHUNK": str(logits_chunk or 0), "PARALLEL": str(int(parallel)),
                           "WRITE_BYTES": str(write_bytes), **(env or {})},
                      log_file=log_file)
