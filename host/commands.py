"""`mmfree run`, `mmfree serve` and `mmfree sim-device`: the command-line front of the host side (a model on a
device: simulated, a running simulated device, or a board; one prompt, or an HTTP server) and of the simulated
device as a server."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from assembler.isa import MAX_BATCH
from golden.errors import MmfreeError
from golden.zoo import DEFAULT_MODEL
from mmfree.checks import nonempty
from mmfree.specs import FORMATS, image_for, model_check, weights_and_prompt
from sim.memory_model import MEMORIES


def _add_build_arguments(parser, model_help: str, model_suffix: str) -> None:
    """The model and the simulated build's options (run, serve, sim-device)."""
    parser.add_argument("--model", default=DEFAULT_MODEL, help=model_help + model_suffix)
    parser.add_argument("--format", choices=sorted(FORMATS), default="base3",
                        help="weight packing of the image (base3: a shipped model's own image)")
    parser.add_argument("--lanes", type=int, help="engine lanes of the simulated build (default: one memory beat a "
                        "cycle: 64 for 2bit, 80 for base3 behind ddr; 8 / 10 behind sdram)")
    parser.add_argument("--memory", choices=sorted(MEMORIES), default="ddr", help="memory model of the simulated build")
    parser.add_argument("--vector-width", type=int, default=1, help="V of the simulated build: elements a cycle of the "
                        "vector, norm and data-mover units (a power of two dividing the lanes)")
    parser.add_argument("--prefetch-bytes", type=int, default=4096, help="the simulated build's prefetch buffer")
    parser.add_argument("--batch", type=int, default=1, help="Q slots of the simulated build (1..%d): B requests "
                        "decoded together, prompts prefilled B tokens a weight pass (docs/serving.md)" % MAX_BATCH)
    parser.add_argument("--timeout-cycles", type=int, help="the simulated link's inter-byte frame timeout in cycles "
                        "(default: host.protocol.FRAME_TIMEOUT_CYCLES)")


def _add_device_arguments(parser, model_help: str) -> None:
    """The options of a command that runs a model on a device (run, serve): the build's and the link's."""
    _add_build_arguments(parser, model_help, "; or an .mmfi image")
    parser.add_argument("--device", default="sim", help="'sim' (a simulated device of its own, Verilator), "
                        "tcp:HOST:PORT (a running `mmfree sim-device`), udp://HOST[:PORT] (a board's Ethernet port, "
                        "docs/protocol.md 'Datagrams') or a serial port (a board, e.g. /dev/ttyUSB0, "
                        "or the simulated device's /dev/pts/N)")
    from bitstreams.targets import BOARDS
    parser.add_argument("--baud", type=int, default=BOARDS["ulx3s-85f"].baud,
                        help="a board's UART rate, as built (default: the ULX3S build's, %(default)s)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for any answer")
    parser.add_argument("--waves", type=Path, help="with --device sim: write a trace of the whole run here, .fst "
                        "(needs Debian's liblz4-dev to build) or .vcd (GTKWave; slow and large: use a short run)")


def add_commands(sub, model_help: str) -> None:
    """The `run`, `serve` and `sim-device` subcommands, on the `mmfree` parser's subparsers."""
    run = sub.add_parser("run", help="generate text on the accelerator (simulated, or a board)")
    _add_device_arguments(run, model_help)
    run.add_argument("--prompt", default='class Config:\n    """')
    run.add_argument("--max-tokens", type=int, default=16)
    run.add_argument("--clock-mhz", type=float, default=100.0, help="clock for the tokens/s projection")
    run.set_defaults(func=cmd_run, checks=(model_check(layouts=False), check_device))

    serve = sub.add_parser("serve", help="an OpenAI-compatible HTTP server over the accelerator (docs/serving.md)")
    _add_device_arguments(serve, model_help)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (0: any free one)")
    serve.add_argument("--queue", type=int, default=16, help="requests that may wait for the device; one more is "
                       "answered 429 (default %(default)s)")
    serve.set_defaults(func=cmd_serve, checks=(model_check(layouts=False), check_device, nonempty("host")))

    sim_device = sub.add_parser("sim-device", help="the simulated device as a server: a TCP port and a serial port")
    _add_build_arguments(sim_device, model_help, "; or an .mmfi image (sizes the device)")
    sim_device.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free one)")
    sim_device.add_argument("--no-pty", action="store_true", help="no pseudo-terminal serial port")
    sim_device.add_argument("--waves", help="write a trace here, .fst (needs Debian's liblz4-dev) or .vcd "
                            "(GTKWave; grows while it runs)")
    sim_device.add_argument("--log", help="simulator output file (default: a new file in the temp folder)")
    sim_device.set_defaults(func=cmd_sim_device, checks=(model_check(layouts=False),))


def _device_for_model(args, info):
    """The simulated Device for --model/--format/--lanes/--memory (sized for the model's compiled program),
    and its recipe (sim.fast.build)."""
    from assembler.batch_compiler import compile_batched
    from assembler.compiler import compile_model
    from host.run import device_for, device_recipe

    from sim.memory_model import MEMORIES

    compiled = compile_batched(info, args.batch) if args.batch > 1 else compile_model(info)
    if args.lanes is None:                  # an engine that takes one memory beat a cycle
        args.lanes = MEMORIES[args.memory].mem_bytes * info.trit_format.trits_per_byte
    parameters = dict(lanes=args.lanes, memory=args.memory, program_instructions=len(compiled.program.instructions),
                      vmem_words=compiled.program.vmem_words, timeout_cycles=getattr(args, "timeout_cycles", None),
                      vector_width=args.vector_width, prefetch_bytes=args.prefetch_bytes, batch=args.batch,
                      memory_bytes=compiled.memory_bytes)
    try:
        return device_for(info, **parameters), device_recipe(info, **parameters)
    except (TypeError, ValueError) as error:
        raise MmfreeError(str(error)) from None


def _run_log_file() -> Path:
    """A new log file for one simulated run (two runs never share one)."""
    handle, name = tempfile.mkstemp(prefix="mmfree-sim-", suffix=".log")
    os.close(handle)
    return Path(name)


def device_address(device: str):
    """--device: ("sim", None) (a simulated device of this run's own), ("tcp", (HOST, PORT)) (a running
    `mmfree sim-device`), ("udp", (HOST, PORT)) (a board's Ethernet port), or ("serial", PATH) (a board, or
    the simulated device's pseudo-terminal). Raises MmfreeError for a malformed one."""
    from host.transport import UdpTransport

    if device == "sim":
        return "sim", None
    if device.startswith("tcp:"):
        host, _, port = device[4:].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise MmfreeError(f"--device {device}: expected tcp:HOST:PORT, e.g. tcp:127.0.0.1:5555")
        return "tcp", (host, int(port))
    if device.startswith("udp://"):
        return "udp", UdpTransport.parse(device)
    if not device:
        raise MmfreeError("--device: empty; give sim, tcp:HOST:PORT, udp://HOST[:PORT] or a serial port's path")
    return "serial", device


def check_device(args) -> None:
    """--device is well formed, and --waves comes with a simulated device of the run's own."""
    kind, address = device_address(args.device)
    if args.waves and kind != "sim":
        raise MmfreeError("--waves needs --device sim (or `mmfree sim-device --waves`)")
    if kind == "serial" and not Path(address).exists():
        from host.transport import SerialTransport

        raise SerialTransport.cannot_open(address, "no such file")


def _transport(args, info):
    """The transport to --device (device_address)."""
    kind, address = device_address(args.device)
    if kind == "sim":
        from host.transport import SimTransport

        log = _run_log_file()
        device, recipe = _device_for_model(args, info)
        print(f"[sim] the accelerator for this model ({args.lanes} lanes, {args.memory} memory model) in Verilator; "
              f"simulator output: {log}", file=sys.stderr)
        return SimTransport(device, memory=args.memory, log_file=log, waves=args.waves, recipe=recipe,
                            log=lambda line: print(f"[sim] {line}", file=sys.stderr, flush=True))
    if kind == "tcp":
        from host.transport import TcpTransport

        return TcpTransport(*address)
    if kind == "udp":
        from host.transport import UdpTransport

        return UdpTransport(*address)
    from host.transport import SerialTransport
    return SerialTransport(address, baudrate=args.baud)


def cmd_run(args) -> None:
    from host.run import run
    from host.text import LoadProgress, TextStream

    data, info, tokenizer, prompt = weights_and_prompt(args.model, args.format, args.prompt)
    text = TextStream(tokenizer, context=prompt)
    transport = _transport(args, info)
    try:
        result = run(data, info, prompt, args.max_tokens, transport, timeout=args.timeout,
                     on_start=lambda: print(args.prompt, end="", flush=True),
                     on_token=lambda token: print(text.push(token), end="", flush=True),
                     progress=LoadProgress(len(data)), log=lambda line: print(f"[load] {line}", file=sys.stderr))
        print(text.finish())
    except KeyboardInterrupt:
        print("\n[run] cancelled", file=sys.stderr)
        return
    finally:
        transport.close()
    per_token = result.cycles_per_token
    print(f"[run] {len(result.tokens)} tokens; {result.decode_steps} decode steps in {result.cycles:,} device cycles: "
          f"{per_token:,.0f} cycles/token (measured, device counters); {args.clock_mhz * 1e6 / per_token:,.1f} tokens/s "
          f"at {args.clock_mhz:g} MHz (projected: clock assumed); host time: load {result.load_seconds:.1f} s, "
          f"generate {result.generate_seconds:.1f} s ({result.generate_seconds / max(len(result.tokens), 1):.2f} s/token)",
          file=sys.stderr)


def _stop_on_signals() -> None:
    """SIGTERM and SIGINT (Ctrl-C) raise KeyboardInterrupt in the main thread: a server's way to stop. Ctrl-C
    stops it even when started with SIGINT ignored (a background job of a script, or a parent that ignores
    it): Python installs no KeyboardInterrupt handler then."""
    import signal

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def cmd_serve(args) -> None:
    from host.scheduler import DeviceSession, Scheduler
    from host.server import ENDPOINT_LIST, ApiServer
    from host.text import LoadProgress

    data, info, tokenizer, _ = weights_and_prompt(args.model, args.format, "")
    transport = _transport(args, info)
    scheduler = server = None
    try:
        session = DeviceSession(data, info, transport, timeout=args.timeout, progress=LoadProgress(len(data)),
                                log=lambda line: print(f"[load] {line}", file=sys.stderr))
        scheduler = Scheduler(session, queue_size=args.queue)
        server = ApiServer((args.host, args.port), scheduler, model_id=args.model, tokenizer=tokenizer,
                           config=info.config)
        print(f"[serve] {args.model} on the device (batch {session.batch}: requests decoded together; {args.queue} may wait); "
              f"listening on {server.url}   (OpenAI API: {ENDPOINT_LIST})",
              flush=True)
        _stop_on_signals()
        server.serve_forever()
    except KeyboardInterrupt:
        print("[serve] stopped", flush=True)
    finally:
        if server is not None:
            server.server_close()
        if scheduler is not None:
            scheduler.close()
        transport.close()


def cmd_sim_device(args) -> None:
    from sim.fast import FastDevice
    from sim.memory_model import MEMORIES

    data, info = image_for(args.model, args.format)
    device, recipe = _device_for_model(args, info)
    log = Path(args.log) if args.log else _run_log_file()
    simulation = FastDevice(device, MEMORIES[args.memory], tcp_port=args.port, pty=not args.no_pty, recipe=recipe,
                            waves=Path(args.waves) if args.waves else None, log_file=log,
                            log=lambda line: print(f"[sim] {line}", flush=True))
    build = device.build
    print(f"[sim] the simulated device for {args.model} ({info.trit_format.name}, {build.lanes} lanes, batch "
          f"{build.batch}, {args.memory} memory model, {build.memory_bytes:,} bytes of memory); simulator output: {log}")
    if simulation.tcp_port is not None:
        print(f"listening on tcp:127.0.0.1:{simulation.tcp_port}   (mmfree run --device tcp:127.0.0.1:{simulation.tcp_port})")
    if simulation.pty:
        print(f"serial port {simulation.pty}   (mmfree run --device {simulation.pty}; any terminal program)")
    print("[sim] runs until stopped (Ctrl-C); clients may come and go", flush=True)
    _stop_on_signals()
    try:
        simulation.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulation.close()
    simulation.check()
    stats = simulation.stats()
    if stats:
        print(f"[sim] stopped after {stats['cycles']:,.0f} cycles in {stats['seconds']:.1f} s of simulation: "
              f"{stats['cycles_per_second']:,.0f} cycles/s (measured)")
