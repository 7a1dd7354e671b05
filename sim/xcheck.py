"""Four-state checks of the cocotb benches (SIM=icarus): X in wherever the outside world leaves it, none out.

Amaranth gives every register and memory an initial value (FPGA configuration loads it), so X reaches a design
only from outside: a payload while its `valid` is low, an input the protocol calls don't-care, a byte of external
memory never written. Under a four-state simulator the benches drive X there (`dont_care`; `start_and_reset`
for every input payload, the shared drivers while they offer nothing, the memory models for bytes never
written), and `watch_outputs` asserts every cycle that no output the design promises to drive is X or Z: every
output port of the component, a stream's payload while its `valid` is high. The runner lists those ports from
the component's signature (`port_roles`, passed as XCHECK_PORTS), so no bench restates them.

Verilator is two-state (X reads as 0): there `dont_care` drives nothing and the watch does not run.
"""

from __future__ import annotations

import json
import os

XCHECK_PORTS = "XCHECK_PORTS"        # the environment variable run_cocotb passes port_roles in


def port_roles(component, unwatched: tuple[str, ...] = ()) -> dict:
    """The Verilog ports of `component` (Amaranth's names: the signature's path joined by "__") by role:
    "outputs": {port: the `valid` port that qualifies it, or None: always driven};
    "dont_care": the input payloads whose `valid` is an input too (X while it is low).
    Left out: ports of no bits (Verilog's `[-1:0]`), and a read port's `data` (an output beside an input `addr`:
    it holds the word of whatever address the bench gives; the bench checks the words it reads, sim/vmem.py),
    and the outputs named in `unwatched`."""
    from amaranth.hdl import Value
    flows = {"__".join(str(part) for part in path): member.flow.name
             for path, member, value in component.signature.flatten(component) if len(Value.cast(value))}
    outputs, dont_care = {}, []
    for name, flow in flows.items():
        port = name.rpartition("__")[0] + "__" if "__" in name else ""
        if name in unwatched or (flow == "Out" and name == port + "data" and flows.get(port + "addr") == "In"):
            continue
        qualified = name == port + "payload" and flows.get(port + "valid") == flow
        if flow == "Out":
            outputs[name] = port + "valid" if qualified else None
        elif qualified:
            dont_care.append(name)
    if unknown := set(unwatched) - set(flows):
        raise ValueError(f"unwatched names no port of {type(component).__name__}: {sorted(unknown)}")
    return {"outputs": outputs, "dont_care": dont_care}


def four_state() -> bool:
    """Whether the running simulator keeps X and Z (Icarus) rather than reading them as 0 (Verilator)."""
    import cocotb
    return "icarus" in cocotb.SIM_NAME.lower()


def unknown(width: int):
    """A value of `width` bits, all X."""
    from cocotb.types import LogicArray
    return LogicArray("X" * width)


def dont_care(*signals) -> None:
    """Drive X on `signals` (inputs the protocol does not look at now) under a four-state simulator."""
    if four_state():
        for signal in signals:
            signal.value = unknown(len(signal))


def assert_known(signal, what: str) -> None:
    """Raise AssertionError if `signal` holds an X or Z bit; `what` names it in the message."""
    value = signal.value
    if not value.is_resolvable:
        from cocotb.utils import get_sim_time
        raise AssertionError(f"{what} is {value} (X or Z) at {get_sim_time('ns'):g} ns")


def bench_roles() -> dict | None:
    """The port roles run_cocotb passed this simulation (None: a bench started some other way)."""
    text = os.environ.get(XCHECK_PORTS)
    return json.loads(text) if text else None


def drive_dont_care(dut) -> None:
    """X on every input payload of the running bench's component (the bench drives each when it offers it)."""
    if (roles := bench_roles()) is not None:
        dont_care(*(getattr(dut, name) for name in roles["dont_care"]))


class OutputWatch:
    """The promised outputs of `dut` (port_roles' "outputs"), checked by `check()`: what the clock edge samples."""

    def __init__(self, dut, outputs: dict[str, str | None]):
        self.ports = [(getattr(dut, name), name, getattr(dut, valid) if valid else None, valid)
                      for name, valid in outputs.items()]

    def check(self) -> None:
        for port, name, valid, valid_name in self.ports:
            if valid is not None:
                assert_known(valid, valid_name)
                if valid.value != 1:
                    continue
                name = f"{name} (while {valid_name} is high)"
            assert_known(port, name)


def watch_outputs(dut, clock) -> None:
    """Under a four-state simulator, check the bench's promised outputs at every falling edge of `clock`, once
    the inputs driven there have settled (a failure fails the running test). Call after reset."""
    roles = bench_roles()
    if roles is None or not four_state():
        return
    import cocotb
    from cocotb.triggers import FallingEdge, ReadOnly

    watch = OutputWatch(dut, roles["outputs"])

    async def every_cycle():
        while True:
            await FallingEdge(clock)
            await ReadOnly()
            watch.check()
    cocotb.start_soon(every_cycle())
