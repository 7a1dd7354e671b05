"""Fuzzing the assembler and the disassembler: every input yields a result or a clean, located error.

Used by tests/assembler/test_fuzz.py (a few thousand cases) and bench/fuzz_assembler.py (a long run).
Inputs: random bytes; valid programs with random bytes flipped; random text; valid source lines
with random characters inserted, deleted or replaced. A clean error is `AsmError` (file:line:col)
or `isa.DecodeError` (byte offset); anything else escaping is a crash, reported with its input.
"""

from __future__ import annotations

import random
from collections import Counter

from . import isa
from .asm import AsmError, assemble
from .disasm import disassemble

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t,:;#.+-_$\"'\n()[]{}*/\\%@!"
SEED_SOURCE = """\
.const D 64
.vector h D
.vector x D
start:  SETLEN D
        LI r1, -5
loop:   ADDI r1, r1, 1      ; count up
        BNZ r1, loop
        SETSCALE 65536, -3
        QUANT x, 0x100, -2, 12345
        MATVEC h, 0x2000, 16
        VMULADD h, x, h + 4
        EMBED x, r3, 256, 0x40, 0x8040
        JMP start
"""


class FuzzCrash(AssertionError):
    pass


def _check_binary(data: bytes, stats: Counter) -> None:
    try:
        text = disassemble(data)
    except isa.DecodeError as error:
        if not 0 <= error.offset <= len(data):
            raise FuzzCrash(f"decode error offset {error.offset} outside the {len(data)}-byte input") from None
        stats["binary rejected"] += 1
        return
    except Exception as error:                  # noqa: BLE001 - exactly what the fuzzer looks for
        raise FuzzCrash(f"disassembler crashed ({error!r}) on {data.hex()}") from error
    try:
        again = assemble(text).to_bytes()
    except Exception as error:                  # noqa: BLE001
        raise FuzzCrash(f"disassembly of {data.hex()} does not assemble: {error!r}") from error
    if again != data:
        raise FuzzCrash(f"disassembly of {data.hex()} re-assembles to other bytes")
    stats["binary accepted"] += 1


def _check_text(text: str, stats: Counter) -> None:
    try:
        program = assemble(text, "fuzz.s")
    except AsmError as error:
        lines = text.splitlines() or [""]
        if not 1 <= error.line <= len(lines) or not 1 <= error.col <= len(lines[error.line - 1]) + 1:
            raise FuzzCrash(f"error located outside the input: {error}\n--- input ---\n{text}") from None
        stats["text rejected"] += 1
        return
    except Exception as error:                  # noqa: BLE001
        raise FuzzCrash(f"assembler crashed ({error!r}) on:\n{text}") from error
    binary = program.to_bytes()
    _check_binary(binary, Counter())            # what the assembler accepts decodes and round-trips
    stats["text accepted"] += 1


def fuzz(cases: int, seed: int = 0) -> Counter:
    """Run `cases` inputs of each of the four kinds; returns the counts by outcome. Raises FuzzCrash."""
    rng = random.Random(seed)
    stats: Counter = Counter()
    valid_binary = assemble(SEED_SOURCE).to_bytes()
    source_lines = SEED_SOURCE.splitlines()
    for _ in range(cases):
        length = rng.choice([0, 3, 16, 32, 48, 64, 100])
        _check_binary(bytes(rng.getrandbits(8) for _ in range(length)), stats)

        mutated = bytearray(valid_binary)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(mutated))
            mutated[position] = rng.getrandbits(8) if rng.random() < 0.5 else mutated[position] ^ (1 << rng.randrange(8))
        _check_binary(bytes(mutated), stats)

        _check_text("".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 60))), stats)

        lines = list(source_lines)
        for _ in range(rng.randint(1, 3)):
            index = rng.randrange(len(lines))
            chars = list(lines[index])
            action = rng.random()
            position = rng.randint(0, len(chars))
            if action < 0.4:
                chars.insert(position, rng.choice(ALPHABET))
            elif action < 0.7 and chars:
                del chars[min(position, len(chars) - 1)]
            elif chars:
                chars[min(position, len(chars) - 1)] = rng.choice(ALPHABET)
            lines[index] = "".join(chars)
        _check_text("\n".join(lines) + "\n", stats)
    stats["cases"] = 4 * cases
    return stats
