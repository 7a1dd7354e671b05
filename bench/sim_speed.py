"""How fast the simulated device runs: the fast harness (sim/fast, C++ around Verilator) against the
cocotb bench (sim/link/server.py, a Python step per cycle), on the shipped model's `mmfree run` build.

    python bench/sim_speed.py [--model stdlib-256] [--tokens 12] [--cocotb-tokens 2] [--out bench/results]

Measured, in one run on this machine (ratios are what to compare; absolute times vary with the load):
- the build (Verilator + C++ compile) time, from an empty cache, when --cold;
- the image load over the link (WRITE_IMAGE frames, one byte a cycle, the host's round trips included);
- seconds per token and device cycles per second while the clock runs (the harness's own count; the
  time it sleeps while the device is quiet is left out);
- a second request to the same device: the image is held, not sent again;
- the same request on the cocotb bench (--cocotb-tokens, a shorter one), for the ratio.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assembler.compiler import compile_model  # noqa: E402
from host.run import device_for, run  # noqa: E402
from host.text import tokenizer_for  # noqa: E402
from host.transport import CocotbTransport, SimTransport  # noqa: E402
from mmfree.specs import image_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="stdlib-256")
    parser.add_argument("--format", default="base3")
    parser.add_argument("--lanes", type=int, default=80)
    parser.add_argument("--memory", default="ddr")
    parser.add_argument("--prompt", default='class Config:\n    """')
    parser.add_argument("--tokens", type=int, default=12)
    parser.add_argument("--cocotb-tokens", type=int, default=2, help="0: skip the cocotb comparison")
    parser.add_argument("--cold", action="store_true", help="time the build from an empty cache")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()

    image, info = image_for(args.model, args.format)
    program = compile_model(info).program
    prompt = tokenizer_for(info, args.model).encode(args.prompt)

    def device():
        return device_for(info, lanes=args.lanes, memory=args.memory, program_instructions=len(program.instructions),
                          vmem_words=program.vmem_words)

    lines = [f"# Simulated device speed: {args.model} ({args.format}, {args.lanes} lanes, {args.memory} memory model), "
             f"prompt {len(prompt)} tokens", ""]

    def say(line):
        print(line, flush=True)
        lines.append(line)

    cache = None
    if args.cold:
        import os
        cache = tempfile.mkdtemp(prefix="mmfree-sim-cache-")
        os.environ["MMFREE_SIM_CACHE"] = cache
    started = time.perf_counter()
    link = SimTransport(device(), memory=args.memory)
    say(f"fast harness  start{' (cold build)' if args.cold else ''}: {time.perf_counter() - started:.1f} s (measured)")
    try:
        first = run(image, info, prompt, args.tokens, link)
        second = run(image, info, prompt, args.tokens, link)
    finally:
        link.close()
    stats = link.simulation.stats()
    assert first.tokens == second.tokens and first.image_sent and not second.image_sent
    say(f"fast harness  image load: {len(image):,} bytes in {first.load_seconds:.2f} s "
        f"({len(image) / first.load_seconds / 1e3:,.0f} KB/s) (measured)")
    say(f"fast harness  second request: image held, not sent; load step {second.load_seconds:.2f} s (measured)")
    fast_step = first.generate_seconds / first.decode_steps
    say(f"fast harness  generate: {args.tokens} tokens ({first.decode_steps} decode steps with the prompt) in "
        f"{first.generate_seconds:.2f} s = {fast_step:.3f} s/step; {first.cycles_per_token:,.0f} device cycles/step "
        f"(measured)")
    say(f"fast harness  speed: {stats['cycles']:,.0f} cycles in {stats['seconds']:.2f} s with the clock running = "
        f"{stats['cycles_per_second']:,.0f} cycles/s (measured)")
    if args.cocotb_tokens:
        link = CocotbTransport(device(), memory=args.memory, build_name="bench_sim_speed")
        try:
            reference = run(image, info, prompt, args.cocotb_tokens, link, timeout=600)
        finally:
            link.close()
        assert reference.tokens == first.tokens[:args.cocotb_tokens]
        step = reference.generate_seconds / reference.decode_steps
        say(f"cocotb bench  image load: {reference.load_seconds:.1f} s; generate {args.cocotb_tokens} tokens "
            f"({reference.decode_steps} decode steps) in {reference.generate_seconds:.1f} s = {step:.2f} s/step (measured)")
        say(f"ratio         image load {reference.load_seconds / first.load_seconds:.0f}x, per decode step "
            f"{step / fast_step:.0f}x faster on the fast harness (measured, one run)")
    if cache:
        shutil.rmtree(cache, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sim_speed.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
