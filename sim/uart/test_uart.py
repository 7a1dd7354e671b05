"""pytest entry of the UART's cocotb testbench."""

import pytest

from hw.uart import UART
from sim.runner import run_cocotb


@pytest.mark.parametrize("divisor", [4, 13])
def test_uart_matches_the_serial_model(divisor):
    run_cocotb(UART(divisor=divisor), toplevel="uart", test_module="sim.uart.tb_uart",
               build_name=f"uart_{divisor}", env={"DIVISOR": str(divisor)})
