"""Board-top parameters that cannot work are refused at construction, naming the parameter."""

import pytest

from bitstreams.flow import make_top
from bitstreams.targets import BOARDS
from golden.config import HGRNBitConfig
from golden.packing import TritFormat
from hw.board import BoardTop
from hw.memory_crossing import MemoryClockCrossing
from hw.sdram import SDRAMController


@pytest.fixture(scope="module")
def device():
    config = HGRNBitConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1)
    return make_top(BOARDS["ulx3s-85f"], config, trit_format=TritFormat.TRITS_2BIT, program_instructions=64,
                    vmem_words=256).device


def test_the_memory_domain_is_not_the_sync_domain():
    with pytest.raises(ValueError, match="memory domain"):
        MemoryClockCrossing(SDRAMController(clock_hz=50e6), domain="sync")


def test_a_memory_clock_faster_than_the_core_is_refused(device):
    # the response FIFO is drained a beat per sync cycle: a faster memory could overflow it
    with pytest.raises(ValueError, match="memory_clock_hz"):
        BoardTop(device, memory=SDRAMController(clock_hz=100e6), clock_hz=75e6, baud=1_000_000, pll=True,
                 memory_clock_hz=100e6)


def test_the_controller_must_be_built_for_the_memory_clock(device):
    with pytest.raises(ValueError, match="memory_clock_hz"):
        BoardTop(device, memory=SDRAMController(clock_hz=75e6), clock_hz=75e6, baud=1_000_000, pll=True,
                 memory_clock_hz=50e6)


def test_the_ulx3s_build_runs_its_sdram_on_its_own_clock():
    board = BOARDS["ulx3s-85f"]
    assert board.memory_hz < board.clock_hz and board.memory_hz <= 60e6        # hw/sdram.py: ~60 MHz at most


def test_a_batched_build_carries_its_batch_to_the_device_and_its_build_info():
    """`mmfree build --batch B`: the board's accelerator has B Q slots, and HELLO tells the host (which then
    loads the batched serving program)."""
    config = HGRNBitConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1)
    device = make_top(BOARDS["ulx3s-85f"], config, trit_format=TritFormat.TRITS_2BIT, program_instructions=64,
                      vmem_words=256, batch=4).device
    assert device.accelerator.batch == 4 and device.build.batch == 4
