"""A batched device over the link (issue 18): the simulated Device built with B = 2 Q slots (`--batch 2`), its
batched serving program loaded by host.run.load, requests admitted into free slots between decode steps by
`mmfree serve`'s scheduler. Every request of different lengths, finishing at different times, gets exactly
the sequential golden model's greedy continuation; `mmfree run --batch 2` prints what the golden model says."""

import threading

import numpy as np

from golden.hwexact import HardwareExactModel
from golden.image import image_bytes, parse_header
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.tokenizer import ByteTokenizer
from golden.zoo import load_model
from host.scheduler import DeviceSession, Scheduler
from mmfree.cli import main

MODEL = "random:tiny:8"
BUILD = ["--model", MODEL, "--format", "2bit", "--lanes", "16", "--memory", "sdram", "--timeout-cycles", "256",
         "--batch", "2"]                                  # the link tests' device, with two Q slots


def _golden():
    model = quantize_model(load_model(MODEL))
    return model, HardwareExactModel(model)


def test_concurrent_requests_on_a_batched_simulated_device_are_each_the_golden_continuation():
    from host.commands import _device_for_model, _run_log_file
    from host.transport import SimTransport
    from mmfree.cli import build_parser

    model, golden = _golden()
    image = image_bytes(model, TritFormat.TRITS_2BIT)
    info = parse_header(image)
    args = build_parser().parse_args(["sim-device", *BUILD])
    device, recipe = _device_for_model(args, info)
    assert device.build.batch == 2
    transport = SimTransport(device, memory="sdram", log_file=_run_log_file(), recipe=recipe)
    rng = np.random.default_rng(1)
    requests = [([int(t) for t in rng.integers(0, model.config.vocab_size, size=length)], generate)
                for length, generate in [(3, 4), (1, 2), (5, 3), (2, 1), (4, 5)]]   # B-1, B, B+1, ... tokens
    results, scheduler = {}, None
    try:
        session = DeviceSession(image, info, transport, timeout=120)
        assert session.batch == 2
        scheduler = Scheduler(session, queue_size=len(requests), log=lambda line: None)

        def client(index, prompt, generate):
            results[index] = list(scheduler.submit(prompt, generate).tokens())

        threads = [threading.Thread(target=client, args=(i, *r)) for i, r in enumerate(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
    finally:
        if scheduler is not None:
            scheduler.close()
        transport.close()
    for index, (prompt, generate) in enumerate(requests):
        assert results.get(index) == golden.generate(prompt, generate), (index, prompt)


def test_mmfree_run_on_a_batched_simulated_device_prints_the_golden_tokens(capsys):
    prompt, tokens = "abc", 4
    code = main(["run", *BUILD, "--prompt", prompt, "--max-tokens", str(tokens)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    model, golden = _golden()
    tokenizer = ByteTokenizer(model.config.vocab_size)
    assert captured.out == prompt + tokenizer.decode(golden.generate(tokenizer.encode(prompt), tokens)) + "\n"
