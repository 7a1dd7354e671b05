"""Bitstreams with open toolchains (Yosys, nextpnr, ecppack/icepack from YoWASP), their reports, and the
tokens/s and watts projections built on them."""
