"""Amaranth HDL cores of the accelerator (ternary engine, vector unit, controller, memory, board tops)."""
