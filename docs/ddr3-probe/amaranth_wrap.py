"""Minimal Amaranth 0.5 top instantiating the litedram_gen ECP5 core with raw io ports (no Amaranth buffers),
to check that Yosys accepts the core's `input`-declared ddram_dq/dqs_p (TRELLIS_IO .B inside) tied to inout ports."""
from amaranth.hdl import *
from amaranth.back import verilog

class Top(Elaboratable):
    def elaborate(self, platform):
        m = Module()
        clk = IOPort(1, name="clk100")
        ports = dict(a=15, ba=3, ras_n=1, cas_n=1, we_n=1, cs_n=1, dm=2, clk_p=1, cke=1, odt=1, reset_n=1)
        io = {n: IOPort(w, name=f"ddr_{n}") for n, w in ports.items()}
        dq, dqs = IOPort(16, name="ddr_dq"), IOPort(2, name="ddr_dqs_p")
        init_done = Signal()
        kw = {f"io_ddram_{n}": p for n, p in io.items()}
        m.submodules.ddr = Instance("litedram_ecpix5",
            io_clk=clk, i_rst=0, io_ddram_dq=dq, io_ddram_dqs_p=dqs, **kw,
            o_init_done=init_done,
            i_wb_ctrl_adr=0, i_wb_ctrl_dat_w=0, i_wb_ctrl_sel=0, i_wb_ctrl_cyc=0, i_wb_ctrl_stb=0,
            i_wb_ctrl_we=0, i_wb_ctrl_cti=0, i_wb_ctrl_bte=0,
            i_user_port_axi_0_arvalid=0, i_user_port_axi_0_awvalid=0, i_user_port_axi_0_wvalid=0,
            i_user_port_axi_0_rready=1, i_user_port_axi_0_bready=1)
        return m

open("top.v", "w").write(verilog.convert(Top(), name="top", ports=[]))
