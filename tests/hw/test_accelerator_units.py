"""The accelerator's unit contract (hw.accelerator.UNITS): what a unit must offer to be one line there.

Each unit takes its command on `cmd` and answers on `done` (the controller's `<port>` and `<port>_done`,
flipped); its VMEM clients carry hw.vmem's client signatures under the VMEM's port names; it is built
from the accelerator's parameters alone and refuses a bad one before it exists, naming it.
(Behaviour end to end: sim/accelerator; each unit's own: sim/<unit>.)
"""

import pytest
from amaranth.lib import stream, wiring

from golden.packing import TritFormat
from hw.accelerator import UNITS, VMEM_READ_PORTS, Accelerator
from hw.component import CheckedComponent
from hw.image_reader import ReadLayout
from hw.vmem import ReadSignature, WriteSignature

PARAMS = dict(program_words=64, vmem_words=1024, lanes=16, trit_format=TritFormat.TRITS_2BIT, max_length=64,
              max_cols=64, max_rows=64, mem_bytes=2, vector_width=4)


@pytest.fixture(scope="module")
def accelerator():
    return Accelerator(**PARAMS)


def test_every_unit_is_built_from_the_accelerators_parameters(accelerator):
    assert [name for name, _, _ in UNITS] == list(accelerator.units)
    for name, _, unit_class in UNITS:
        unit = accelerator.units[name]
        assert isinstance(unit, unit_class) and issubclass(unit_class, CheckedComponent)
        assert getattr(accelerator, name) is unit


def test_every_unit_speaks_the_controllers_command_and_done(accelerator):
    controller = accelerator.controller.signature.members
    for name, port, _ in UNITS:
        members = accelerator.units[name].signature.members
        for member in ("cmd", "done"):
            assert isinstance(members[member].signature, stream.Signature), (name, member)
        assert members["cmd"].flow is wiring.In and members["done"].flow is wiring.Out
        # wiring.connect in the accelerator needs the shapes to agree: the same payload on both ends.
        assert controller[port].signature.members["payload"].shape == members["cmd"].signature.members["payload"].shape
        assert controller[f"{port}_done"].signature.members["payload"].shape == \
            members["done"].signature.members["payload"].shape


def test_vmem_clients_carry_the_vmem_client_signatures(accelerator):
    clients = {port: [] for port in (*VMEM_READ_PORTS, "write")}
    for name, unit in accelerator.units.items():
        members = unit.signature.members
        for port in clients:
            if port in members:
                expected = WriteSignature if port == "write" else ReadSignature
                assert isinstance(members[port].signature, expected) and members[port].flow is wiring.Out, (name, port)
                assert members[port].signature.vector_width == PARAMS["vector_width"]
                clients[port].append(name)
        if "words" in members:                   # an image reader client: its requests on `read`
            assert members["read"].signature.members["payload"].shape == ReadLayout()
    # Every VMEM port has a client, and all the units that write results do.
    assert all(clients[port] for port in VMEM_READ_PORTS)
    assert set(clients["write"]) == {"vector", "norm", "matvec", "mover"}


@pytest.mark.parametrize("name, value", [("vector_width", 3), ("vmem_words", 1002), ("lanes", 0),
                                         ("trit_format", "2bit"), ("max_length", 0), ("batch", 0), ("batch", 17),
                                         ("batch", 2.0)])
def test_a_bad_parameter_is_refused_by_name_before_anything_is_built(name, value):
    with pytest.raises((ValueError, TypeError), match=name):
        Accelerator(**{**PARAMS, name: value})


def test_the_batch_reaches_every_unit_that_holds_q_slots_and_the_build_info():
    from hw.device import build_info
    from host.protocol import MemoryKind
    accelerator = Accelerator(**PARAMS, batch=4)
    assert (accelerator.batch, accelerator.controller.batch, accelerator.norm.batch, accelerator.matvec.batch,
            accelerator.matvec.engine.batch) == (4, 4, 4, 4, 4)
    assert accelerator.matvec.engine.act_depth == 4 << accelerator.matvec.engine.word_bits
    assert len(accelerator.norm.quant.as_value()) == 4 * len(Accelerator(**PARAMS).norm.quant.as_value())
    assert build_info(accelerator, 1 << 20, MemoryKind.SDR_SDRAM, 1000).batch == 4
