"""Random command lines through the parser and every subcommand's checks (`main(argv, validate_only=True)`,
which returns before any work: a random valid command line never starts a build or a simulation): whatever
comes in, the answer is exit status 0 or 2, never a traceback or a hang, and a refusal ends with one `error:`
line."""

import argparse
import re
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmfree.checks import NUMBER_RANGES
from mmfree.cli import build_parser, main

EXAMPLE_LIMIT_S = 10            # one example: the parser built, the checks run (an image header read at most)
# Values a user might give any option: model specs, devices, names; bad_inputs' paths are added per test.
WORDS = ["", "sim", "stdlib-256", "random:tiny", "random:tiny:3", "random:", "layout:tiny", "layout:", "370M",
         "tcp:127.0.0.1:1", "tcp::", "udp://", "udp://h:99999", "-", "--", "/", ".", "..", "/dev/null", "x.mmfi",
         "w.fst", "w.vcd", "0", "-1", "1e309", "nan", "0x10", "ulx3s-85f", "engine-check", "a\0b", "é" * 300]


def command_options(parser: argparse.ArgumentParser, path=()):
    """{command path: [(option string or None for a positional, action)]} of every (sub)command."""
    commands = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                commands.update(command_options(subparser, path + (name,)))
    if path and not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
        commands[path] = [(action.option_strings[-1] if action.option_strings else None, action)
                          for action in parser._actions if not isinstance(action, argparse._HelpAction)]
    return commands


COMMANDS = command_options(build_parser())


@st.composite
def command_lines(draw, paths: list[str]):
    words = st.sampled_from(WORDS + paths)
    path = draw(st.sampled_from(sorted(COMMANDS)))
    argv = list(path)
    for _ in range(draw(st.integers(0, 6))):
        option, action = draw(st.sampled_from(COMMANDS[path]))
        if draw(st.integers(0, 9)) == 0:                # now and then a stray word in place of an option
            argv.append(draw(st.one_of(words, st.text(max_size=12))))
            continue
        if option is not None:
            argv.append(option)
        if action.nargs == 0:                           # a flag
            continue
        values = [words, st.text(max_size=12), st.integers(-2**40, 2**40).map(str), st.floats().map(str)]
        if action.choices:
            values.append(st.sampled_from(sorted(action.choices)))
        argv.append(draw(st.one_of(*values)))
    return argv


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_command_lines_answer_cleanly(data, bad_inputs, capsys, time_limit):
    argv = data.draw(command_lines(sorted(bad_inputs.values())), label="argv")
    capsys.readouterr()
    started = time.monotonic()
    with time_limit(EXAMPLE_LIMIT_S):
        code = main(argv, validate_only=True)
    out, err = capsys.readouterr()
    assert time.monotonic() - started < EXAMPLE_LIMIT_S
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err + out
    if code == 2:                   # the error line (argparse's usage before it; a value may hold a line break)
        assert re.search(r"^(mmfree[\w -]*: )?error: ", err, re.MULTILINE), (argv, err)
    else:
        assert err == "", (argv, err)


def test_every_numeric_option_has_a_checked_range():
    """A numeric option added without a range in mmfree.checks.NUMBER_RANGES would go unchecked."""
    numeric = {action.dest for options in COMMANDS.values() for _, action in options if action.type in (int, float)}
    assert numeric and numeric <= set(NUMBER_RANGES), numeric - set(NUMBER_RANGES)
