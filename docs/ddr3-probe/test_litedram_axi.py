"""cocotb test of the simulation LiteDRAM core (SDRAMPHYModel, ECP5 1:2 settings) through its AXI user port.
Env: CSR_CSV (csr.csv of the core), SDRAM_INIT_PY (sdram_init.py), IMAGE (optional preloaded image to check),
     RUN_DFII_INIT=1 to run the DFII init sequence over wb_ctrl first (delays shortened)."""
import csv, logging, os, random, struct, runpy

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, FallingEdge, ClockCycles, ReadOnly
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiBus, AxiMaster

CLK_NS = 10  # any period: the model has no analog timing


def csr_map():
    regs = {}
    for row in csv.reader(open(os.environ["CSR_CSV"])):
        if row and row[0] == "csr_register":
            regs[row[1]] = int(row[2], 0)
    return regs


async def wb_write(dut, addr, data):
    dut.wb_ctrl_adr.value = addr >> 2
    dut.wb_ctrl_dat_w.value = data
    dut.wb_ctrl_sel.value = 0xF
    dut.wb_ctrl_we.value = 1
    dut.wb_ctrl_cyc.value = 1
    dut.wb_ctrl_stb.value = 1
    while True:
        await FallingEdge(dut.clk)
        if dut.wb_ctrl_ack.value:
            break
    await RisingEdge(dut.clk)
    dut.wb_ctrl_cyc.value = 0
    dut.wb_ctrl_stb.value = 0
    dut.wb_ctrl_we.value = 0


async def wb_read(dut, addr):
    dut.wb_ctrl_adr.value = addr >> 2
    dut.wb_ctrl_sel.value = 0xF
    dut.wb_ctrl_we.value = 0
    dut.wb_ctrl_cyc.value = 1
    dut.wb_ctrl_stb.value = 1
    while True:
        await FallingEdge(dut.clk)
        if dut.wb_ctrl_ack.value:
            data = int(dut.wb_ctrl_dat_r.value)
            break
    await RisingEdge(dut.clk)
    dut.wb_ctrl_cyc.value = 0
    dut.wb_ctrl_stb.value = 0
    return data


async def setup(dut):
    for name in ("cyc", "stb", "we", "adr", "dat_w", "sel", "cti", "bte"):
        getattr(dut, f"wb_ctrl_{name}").value = 0
    if hasattr(dut, "sim_trace"):
        dut.sim_trace.value = 0
    cocotb.start_soon(Clock(dut.clk, CLK_NS, unit="ns").start())
    axi = AxiMaster(AxiBus.from_prefix(dut, "user_port_axi_0"), dut.clk)
    axi.write_if.log.setLevel(logging.WARNING)
    axi.read_if.log.setLevel(logging.WARNING)
    await ClockCycles(dut.clk, 5)
    return axi


async def bring_up(dut, regs):
    """Optionally run the DFII init sequence (software control), then hand over to the controller and set
    init_done (which un-gates the AXI port in litedram_gen's cores)."""
    if os.environ.get("RUN_DFII_INIT") == "1":
        seq = runpy.run_path(os.environ["SDRAM_INIT_PY"])["init_sequence"]
        await wb_write(dut, regs["sdram_dfii_control"], 0b1110)      # software control, CKE|ODT|RESET_N
        for i, (comment, a, ba, cmd, delay) in enumerate(seq):
            await wb_write(dut, regs["sdram_dfii_pi0_address"], a)
            await wb_write(dut, regs["sdram_dfii_pi0_baddress"], ba)
            if i < 2:   # DDR3: the first two entries are DFII *control* values (reset_n, cke), not commands
                await wb_write(dut, regs["sdram_dfii_control"], cmd)
            else:
                await wb_write(dut, regs["sdram_dfii_pi0_command"], cmd)
                await wb_write(dut, regs["sdram_dfii_pi0_command_issue"], 1)
            await ClockCycles(dut.clk, min(delay, 100) + 1)
            dut._log.info("DFII: %s", comment)
        await wb_write(dut, regs["sdram_dfii_control"], 0b0001)      # hardware control (sel)
    assert await wb_read(dut, regs["sdram_dfii_control"]) == 1
    # AXI gated until init_done: awready/arready must stay low
    dut.user_port_axi_0_arvalid.value = 0
    for _ in range(4):
        await FallingEdge(dut.clk)
        assert dut.user_port_axi_0_arready.value == 0 and dut.user_port_axi_0_awready.value == 0
    await wb_write(dut, regs["ddrctrl_init_done"], 1)
    assert await wb_read(dut, regs["ddrctrl_init_done"]) == 1
    await ClockCycles(dut.clk, 2)


@cocotb.test()
async def smoke_and_bandwidth(dut):
    regs = csr_map()
    axi = await setup(dut)
    await bring_up(dut, regs)
    width = len(dut.user_port_axi_0_rdata) // 8

    # 1. Preloaded image (SDRAMPHYModel init) readable through AXI?
    image = os.environ.get("IMAGE")
    if image:
        with open(image, "rb") as f:
            blob = f.read()
        bad = []
        for off in (0, 16, 0x7F0, 0x800, 0x1000, len(blob) - 64):
            got = (await axi.read(off, 64)).data
            ok = got == blob[off:off + 64]
            dut._log.info("image @%#06x: %s (got %s… want %s…)", off, "OK" if ok else "MISMATCH",
                          got[:8].hex(), blob[off:off + 8].hex())
            if not ok:
                bad.append(off)
        if os.environ.get("IMAGE_STRICT", "1") == "1":
            assert not bad, f"preloaded image mismatch at {[hex(b) for b in bad]}"

    # 2. Write a few words, read them back (single beats, strobes, a burst, far address).
    rng = random.Random(1)
    checks = [(0x100000, 16), (0x100010, 4), (0x100024, 8), (0x1FFFF000, 256), (0x2000, 4096)]
    for addr, n in checks:
        data = bytes(rng.getrandbits(8) for _ in range(n))
        await axi.write(addr, data)
        got = (await axi.read(addr, n)).data
        assert got == data, f"readback mismatch at {addr:#x}"
    dut._log.info("write/readback OK: %s", [(hex(a), n) for a, n in checks])

    # 3. Sustained bandwidth: many 256-beat INCR bursts in flight.
    async def measure(kind, nbytes, base):
        cycles = beats = 0
        first = last = None
        done = False
        async def mon():
            nonlocal cycles, beats, first, last
            while not done:
                await RisingEdge(dut.clk)
                await ReadOnly()
                if kind == "read":
                    hs = dut.user_port_axi_0_rvalid.value and dut.user_port_axi_0_rready.value
                    start = dut.user_port_axi_0_arvalid.value
                else:
                    hs = dut.user_port_axi_0_wvalid.value and dut.user_port_axi_0_wready.value
                    start = dut.user_port_axi_0_awvalid.value
                t = int(get_sim_time("ns")) // CLK_NS
                if first is None and start:
                    first = t
                if hs:
                    beats += 1
                    last = t
        m = cocotb.start_soon(mon())
        chunk = 4096
        if kind == "read":
            tasks = [cocotb.start_soon(axi.read(base + i, chunk)) for i in range(0, nbytes, chunk)]
        else:
            tasks = [cocotb.start_soon(axi.write(base + i, bytes(chunk))) for i in range(0, nbytes, chunk)]
        for t in tasks:
            await t
        done = True
        await ClockCycles(dut.clk, 2)
        span = last - first + 1
        dut._log.info("%s %d KiB in 256-beat bursts: %d beats over %d cycles = %.3f beats/cycle "
                      "(%.1f%% of the DRAM peak 0.5 beat/cycle = %d B/cycle); %.2f B/cycle",
                      kind, nbytes // 1024, beats, span, beats / span, 100 * beats / span / 0.5, width // 2,
                      beats * width / span)
        return beats / span

    await measure("write", 256 * 1024, 0x400000)
    await measure("read", 256 * 1024, 0x400000)
    # same-bank worst-ish case: reads striding 8 KiB... (row_bank_col: 2 KiB per (row,bank))


@cocotb.test()
async def raw_read_bandwidth(dut):
    """AR driven directly (no cocotbext-axi): back-to-back 256-beat INCR reads, rready held high."""
    regs = csr_map()
    for name in ("cyc", "stb", "we", "adr", "dat_w", "sel", "cti", "bte"):
        getattr(dut, f"wb_ctrl_{name}").value = 0
    cocotb.start_soon(Clock(dut.clk, CLK_NS, unit="ns").start())
    for s in ("awvalid", "wvalid", "bready", "arvalid"):
        getattr(dut, f"user_port_axi_0_{s}").value = 0
    await ClockCycles(dut.clk, 2)
    await wb_write(dut, regs["ddrctrl_init_done"], 1)
    await ClockCycles(dut.clk, 2)
    width = len(dut.user_port_axi_0_rdata) // 8
    for nbursts, stride in ((64, 4096), (64, 8192 * 4)):
        dut.user_port_axi_0_rready.value = 1
        dut.user_port_axi_0_arburst.value = 1
        dut.user_port_axi_0_arlen.value = 255
        dut.user_port_axi_0_arsize.value = 4
        dut.user_port_axi_0_arid.value = 0
        issued = beats = cyc = 0
        first_beat = None
        gaps = {}
        last = None
        dut.user_port_axi_0_araddr.value = 0x800000
        dut.user_port_axi_0_arvalid.value = 1
        while beats < nbursts * 256:
            await RisingEdge(dut.clk)
            await ReadOnly()
            cyc += 1
            ar_hs = dut.user_port_axi_0_arvalid.value and dut.user_port_axi_0_arready.value
            r_hs = dut.user_port_axi_0_rvalid.value
            await FallingEdge(dut.clk)
            if ar_hs:
                issued += 1
                if issued == nbursts:
                    dut.user_port_axi_0_arvalid.value = 0
                else:
                    dut.user_port_axi_0_araddr.value = (0x800000 + issued * stride) % (1 << 29)
            if r_hs:
                beats += 1
                if first_beat is None:
                    first_beat = cyc
                if last is not None:
                    gaps[cyc - last] = gaps.get(cyc - last, 0) + 1
                last = cyc
        span = last - first_beat + 1
        dut._log.info("raw read, %d bursts x 256 beats, burst stride %#x: first beat after %d cycles; "
                      "%d beats in %d cycles = %.3f beats/cycle = %.2f B/cycle (peak 0.5 beat = %d B); "
                      "beat-to-beat gap histogram %s", nbursts, stride, first_beat, beats, span, beats / span,
                      beats * width / span, width // 2, dict(sorted(gaps.items())))
