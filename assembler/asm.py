"""The assembler: text to a program binary (a sequence of 16-byte instructions, see assembler.isa).

Source syntax, one statement per line:

    ; comment (also #)
    label:                          a label names the next instruction's index
                                    (a jump operand is a label, or an instruction index as a number)
    MNEMONIC operand, operand, ...  operands: r0..r15, labels, integer expressions
    .const NAME expr                a named integer
    .vector NAME length             allocate `length` VMEM words (VECTOR_ALIGN-aligned), NAME = its address
    .include "path"                 the statements of another file, relative to this one

Expressions: integers (decimal, 0x hex, 0b binary) and names joined by + and -. Mnemonics and
register names are case-insensitive; labels and constants are case-sensitive, one namespace.
Every error names file:line:col and shows the offending line with a caret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from golden.errors import MmfreeError, expect_type

from . import isa

NAME = re.compile(r"[A-Za-z_.$][A-Za-z0-9_.$]*")
NUMBER = re.compile(r"-?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9][0-9_]*)")
REGISTER = re.compile(r"[rR]([0-9]+)")
MAX_INCLUDE_DEPTH = 16


class AsmError(MmfreeError):
    """A located assembly error: `file:line:col: message`, the source line and a caret under the column."""

    def __init__(self, source: str, line: int, col: int, message: str, text: str):
        self.source, self.line, self.col, self.message, self.text = source, line, col, message, text
        caret = " " * (col - 1) + "^"
        super().__init__(f"{source}:{line}:{col}: error: {message}\n    {text}\n    {caret}")


@dataclass
class _Line:
    source: str
    number: int
    text: str

    def error(self, col: int, message: str) -> AsmError:
        return AsmError(self.source, self.number, col, message, self.text.rstrip("\n"))


@dataclass
class _Token:
    text: str
    col: int            # 1-based


@dataclass
class Program:
    instructions: list[isa.Instruction]
    symbols: dict[str, int] = field(default_factory=dict)      # labels (indices) and constants
    vmem_words: int = 0                                          # words allocated by .vector

    def to_bytes(self) -> bytes:
        return b"".join(instruction.encode() for instruction in self.instructions)


def _strip_comment(text: str) -> str:
    for marker in (";", "#"):
        position = text.find(marker)
        if position >= 0:
            text = text[:position]
    return text


def _split_operands(line: _Line, text: str, start: int) -> list[_Token]:
    """Comma-separated operands of `text` (which begins at column `start`), each with its column."""
    operands = []
    if not text.strip():
        return operands
    offset = 0
    for piece in text.split(","):
        stripped = piece.strip()
        col = start + offset + (len(piece) - len(piece.lstrip()))
        if not stripped:
            raise line.error(col, "empty operand")
        operands.append(_Token(stripped, col))
        offset += len(piece) + 1
    return operands


class Assembler:
    def __init__(self):
        self.symbols: dict[str, int] = {}
        self.kinds: dict[str, str] = {}            # name -> "label" | "constant"
        self.vmem_next = 0
        self.statements: list[tuple[_Line, _Token, list[_Token]]] = []

    # --- pass 1: lines, directives, labels ---------------------------------------------------
    def read(self, text: str, source: str, depth: int = 0, base: Path | None = None) -> None:
        for number, raw in enumerate(text.splitlines(), start=1):
            line = _Line(source, number, raw)
            body = _strip_comment(raw)
            col = len(body) - len(body.lstrip()) + 1
            body = body.strip()
            while body:
                match = re.match(r"([A-Za-z_.$][A-Za-z0-9_.$]*)\s*:", body)
                if not match or body.startswith("."):
                    break
                self._define(line, col, match.group(1), len(self.statements), "label")
                consumed = match.end()
                rest = body[consumed:]
                col += consumed + (len(rest) - len(rest.lstrip()))
                body = rest.strip()
            if not body:
                continue
            head = body.split(None, 1)[0]
            rest = body[len(head):]
            rest_col = col + len(head) + (len(rest) - len(rest.lstrip()))
            if head.startswith("."):
                self._directive(line, _Token(head, col), rest.strip(), rest_col, depth, base)
            else:
                self.statements.append((line, _Token(head, col), _split_operands(line, rest.strip(), rest_col)))

    def _define(self, line: _Line, col: int, name: str, value: int, kind: str) -> None:
        if REGISTER.fullmatch(name) or name.upper() in isa.OPS:
            raise line.error(col, f"'{name}' is reserved (a register or mnemonic) and cannot name a {kind}")
        if name in self.symbols:
            raise line.error(col, f"duplicate {kind} '{name}' (already a {self.kinds[name]})")
        self.symbols[name] = value
        self.kinds[name] = kind

    def _directive(self, line, head: _Token, rest: str, col: int, depth: int, base: Path | None) -> None:
        directive = head.text.lower()
        if directive == ".include":
            match = re.fullmatch(r'"([^"]+)"', rest)
            if not match:
                raise line.error(col, '.include takes one quoted path: .include "file.s"')
            if depth >= MAX_INCLUDE_DEPTH:
                raise line.error(col, f".include nested deeper than {MAX_INCLUDE_DEPTH} (a cycle?)")
            path = (base or Path(".")) / match.group(1)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise line.error(col, f"cannot read included file {str(path)!r}: {exc}") from None
            self.read(text, str(path), depth + 1, path.parent)
            return
        if directive in (".const", ".vector"):
            parts = rest.split(None, 1)
            if len(parts) != 2:
                raise line.error(col, f"{directive} takes a name and a value: {directive} NAME value")
            name, expr = parts
            if not NAME.fullmatch(name):
                raise line.error(col, f"'{name}' is not a valid name")
            value = self._expression(line, _Token(expr, col + rest.index(expr, len(name))))
            if directive == ".const":
                self._define(line, col, name, value, "constant")
                return
            if value < 1:
                raise line.error(col, f".vector length must be positive, got {value}")
            address = self.vmem_next
            self.vmem_next += -(-value // isa.VECTOR_ALIGN) * isa.VECTOR_ALIGN
            if self.vmem_next > isa.VMEM_WORDS:
                raise line.error(col, f".vector {name}: VMEM exhausted ({self.vmem_next} of {isa.VMEM_WORDS} words)")
            self._define(line, col, name, address, "constant")
            return
        raise line.error(head.col, f"unknown directive '{head.text}' (known: .const, .vector, .include)")

    # --- expressions and operands ---------------------------------------------------------------
    def _expression(self, line: _Line, token: _Token) -> int:
        text = token.text
        pieces = re.split(r"(\s*[+-]\s*)", text)
        total, sign, position = 0, 1, 0
        if pieces and pieces[0] == "" and len(pieces) > 1:      # leading sign
            pieces = pieces[1:]
            sign = -1 if pieces[0].strip() == "-" else 1
            position += len(pieces[0])
            pieces = pieces[1:]
        for index, piece in enumerate(pieces):
            if index % 2:
                sign = -1 if piece.strip() == "-" else 1
            else:
                term_col = token.col + position
                if not piece:
                    raise line.error(term_col, f"incomplete expression '{text}'")
                total += sign * self._term(line, _Token(piece, term_col))
            position += len(piece)
        return total

    def _term(self, line: _Line, token: _Token) -> int:
        text = token.text
        if NUMBER.fullmatch(text):
            digits = text.replace("_", "")
            base = 16 if digits.lower().lstrip("-").startswith("0x") else 2 if digits.lower().lstrip("-").startswith("0b") else 10
            try:
                return int(digits, base)
            except ValueError:
                raise line.error(token.col, f"malformed number '{text}'") from None
        if NAME.fullmatch(text):
            if text in self.symbols:
                return self.symbols[text]
            raise line.error(token.col, f"undefined name '{text}'")
        raise line.error(token.col, f"'{text}' is not a number or a name")

    def _operand(self, line: _Line, op: isa.Op, operand: isa.Operand, token: _Token) -> int:
        if operand.kind is isa.Kind.SREG:
            match = REGISTER.fullmatch(token.text)
            if not match or int(match.group(1)) >= isa.SCALAR_REGISTERS:
                raise line.error(token.col, f"{op.mnemonic} operand '{operand.name}' must be a register r0..r{isa.SCALAR_REGISTERS - 1}, got '{token.text}'")
            return int(match.group(1))
        if REGISTER.fullmatch(token.text):
            raise line.error(token.col, f"{op.mnemonic} operand '{operand.name}' is a {operand.kind.value}, not a register")
        if operand.kind is isa.Kind.LABEL and NAME.fullmatch(token.text):
            if self.kinds.get(token.text) != "label":
                what = "a constant, not a label" if token.text in self.symbols else "undefined"
                raise line.error(token.col, f"label '{token.text}' is {what}")
            return self.symbols[token.text]
        value = self._expression(line, token)
        if operand.kind is isa.Kind.VREG:
            if value % isa.VMEM_ALIGN:
                raise line.error(token.col, f"vector address {value} is not a multiple of {isa.VMEM_ALIGN}")
            value //= isa.VMEM_ALIGN
        valid = isa.operand_range(operand)
        if value not in valid:
            unit = isa.VMEM_ALIGN if operand.kind is isa.Kind.VREG else 1
            raise line.error(token.col, f"{op.mnemonic} operand '{operand.name}' = {value * unit} out of range "
                                        f"{valid.start * unit}..{(valid.stop - 1) * unit}")
        return value

    # --- pass 2: instructions -------------------------------------------------------------------
    def assemble(self) -> Program:
        instructions = []
        for line, head, operands in self.statements:
            op = isa.OPS.get(head.text.upper())
            if op is None:
                raise line.error(head.col, f"unknown mnemonic '{head.text}'")
            required = isa.required_operands(op)
            if not required <= len(operands) <= len(op.operands):
                col = operands[len(op.operands)].col if len(operands) > len(op.operands) else head.col
                expected = ", ".join(o.name + (" (optional)" if o.optional else "") for o in op.operands) or "no operands"
                count = str(required) if required == len(op.operands) else f"{required} to {len(op.operands)}"
                raise line.error(col, f"{op.mnemonic} takes {count} operand(s) ({expected}), got {len(operands)}")
            args = tuple(self._operand(line, op, operand, token) for operand, token in zip(op.operands, operands))
            args += (0,) * (len(op.operands) - len(args))          # optional operands left out are 0
            problem = isa.semantic_error(op, args)
            if problem:
                raise line.error(head.col, f"{op.mnemonic}: {problem}")
            instructions.append(isa.Instruction(op, args))
        return Program(instructions, dict(self.symbols), self.vmem_next)


def assemble(text: str, source: str = "<source>", base: Path | None = None) -> Program:
    expect_type(text, str, f"{source}: the assembly source (text)")
    assembler = Assembler()
    assembler.read(text, source, base=base)
    return assembler.assemble()


def assemble_file(path: str | Path) -> Program:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MmfreeError(f"cannot read assembly source {str(path)!r}: {exc}") from None
    return assemble(text, str(path), path.parent)
