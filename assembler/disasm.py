"""The disassembler: a program binary back to assembly text that re-assembles to the same bytes.

Jump targets become labels L<index> (a target past the end stays a number); vector operands print as word addresses; every other operand
prints as the number it encodes. Illegal encodings raise isa.DecodeError with their byte offset.
"""

from __future__ import annotations

from . import isa


def format_operand(operand: isa.Operand, value: int, program_length: int) -> str:
    if operand.kind is isa.Kind.SREG:
        return f"r{value}"
    if operand.kind is isa.Kind.LABEL:
        return f"L{value}" if value < program_length else str(value)
    if operand.kind is isa.Kind.VREG:
        return str(value * isa.VMEM_ALIGN)
    if operand.kind is isa.Kind.WADDR:
        return f"0x{value:x}"
    return str(value)


def disassemble(data: bytes) -> str:
    instructions = isa.decode_program(data)
    targets = {value for ins in instructions for operand, value in zip(ins.op.operands, ins.args)
               if operand.kind is isa.Kind.LABEL}
    lines = []
    for index, ins in enumerate(instructions):
        label = f"L{index}:" if index in targets else ""
        shown = list(zip(ins.op.operands, ins.args))
        while shown and shown[-1][0].optional and shown[-1][1] == 0:      # optional operands at 0 go unwritten
            shown.pop()
        operands = ", ".join(format_operand(o, v, len(instructions)) for o, v in shown)
        lines.append(f"{label:<8}{ins.op.mnemonic:<10}{operands}".rstrip())
    return "\n".join(lines) + "\n"
