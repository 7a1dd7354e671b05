// Simulation models of the vendor primitives LiteEth's GMII core (hw/liteeth/gmii_sim.yml) instantiates:
// behaviour only, as the ECP5 and Xilinx libraries document it.

// Global clock buffer: the clock passes through.
module BUFG (input I, output O);
    assign O = I;
endmodule

// ECP5 output DDR register, 1:1: D0 on the rising edge, D1 on the falling (LiteEth forwards the GMII
// transmit clock with D0 = 1, D1 = 0). Modelled as the clock itself for those inputs.
module ODDRX1F (input D0, input D1, input SCLK, input RST, output Q);
    assign Q = SCLK ? D0 : D1;
endmodule

// ECP5 flip-flop with asynchronous preset (LiteX's AsyncResetSynchronizer chain).
module FD1S3BX (input D, input CK, input PD, output reg Q);
    initial Q = 1'b1;
    always @(posedge CK or posedge PD)
        if (PD) Q <= 1'b1;
        else Q <= D;
endmodule

// ECP5 I/O buffer (LiteEth's MDIO pin): the pad's level is read; the testbench has no MDIO device, so
// the pad is only read here (the core's MDIO master is unused by the link).
module TRELLIS_IO #(parameter DIR = "BIDIR") (input B, input I, input T, output O);
    assign O = B;
endmodule
