"""bench/mutation.py's mutator: every mutant applies where it was found and changes only its segment, and every
argued-equivalent entry still names a mutant the generator makes (an edited line drops its argument)."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def mutation():
    spec = importlib.util.spec_from_file_location("mutation_bench", ROOT / "bench" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                 # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_each_mutant_replaces_its_segment_and_nothing_else(mutation):
    for unit, (path, _) in mutation.UNITS.items():
        source = (ROOT / path).read_text()
        mutants = mutation.mutants_of(unit, path)
        assert mutants, f"no mutants of {path}"
        for mutant in mutants:
            mutated = mutation.apply(mutant, source)
            assert mutated != source, mutant.describe()
            assert len(mutated) - len(source) == len(mutant.after) - len(mutant.before), mutant.describe()
            line = mutated.splitlines()[mutant.line - 1]
            assert mutant.after.split("\n")[0] in line, mutant.describe()


def test_every_argued_equivalent_names_a_mutant_the_generator_makes(mutation):
    made = {}
    for unit, (path, _) in mutation.UNITS.items():
        for mutant in mutation.mutants_of(unit, path):
            if (reason := mutation.argued(mutant)) is not None:
                made[mutant.describe()] = reason
    assert len(made) == len(mutation.ARGUED_EQUIVALENT), (
        "an ARGUED_EQUIVALENT entry matches no mutant (its line was edited: run the mutant again): "
        f"{len(made)} of {len(mutation.ARGUED_EQUIVALENT)} match")


def test_a_bench_that_grows_without_bound_fails_instead_of_taking_the_memory(mutation):
    import subprocess
    grow = f"bytearray({mutation.BENCH_ADDRESS_SPACE + (1 << 30)})"
    result = subprocess.run([sys.executable, "-c", grow], capture_output=True, text=True,
                            preexec_fn=mutation._limit_memory)
    assert result.returncode != 0 and "MemoryError" in result.stderr
