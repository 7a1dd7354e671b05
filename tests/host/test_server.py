"""`mmfree serve` through the official `openai` client and raw HTTP.

One server (a subprocess, as a user starts it) on one simulated device (the link tests' tiny build: one
Verilator build) serves every test of the first part: each text is the hardware-exact golden model's greedy
continuation, computed here from the golden model, never from the server. The second part runs the HTTP
side on a scripted session (no device) for what a device cannot be made to do on cue: a full queue (429),
a device failure (500), a device that cannot be loaded again (503).
"""

import http.client
import json
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from openai import OpenAI

from golden.config import preset
from golden.errors import MmfreeError
from golden.hwexact import HardwareExactModel
from golden.quantize import quantize_model
from golden.tokenizer import ByteTokenizer
from golden.zoo import load_model
from host.driver import DeviceError, LinkError
from host.scheduler import Scheduler
from host.server import ApiServer

MODEL = "random:tiny:8"
DEVICE = ["--model", MODEL, "--format", "2bit", "--lanes", "16", "--memory", "sdram",
          "--timeout-cycles", "256"]                     # the device the link tests build (one Verilator build)
TOKENIZER = ByteTokenizer(256)


@pytest.fixture(scope="module")
def golden():
    model = HardwareExactModel(quantize_model(load_model(MODEL)))
    return lambda prompt, tokens: TOKENIZER.decode(model.generate(TOKENIZER.encode(prompt), tokens))


def _serve(tmp_path_factory, *extra):
    """The base URL of `mmfree serve` on the simulated device; its console is checked for tracebacks after."""
    console = tmp_path_factory.mktemp("serve") / "console.txt"
    with open(console, "w") as out:                       # a queue with room for every concurrent request below
        process = subprocess.Popen([sys.executable, "-c", "import sys; from mmfree.cli import main; sys.exit(main())",
                                    "serve", *DEVICE, *extra, "--port", "0", "--queue", "8"], stdout=out,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600                     # the first start builds the device (cached after)
    while not (url := re.search(r"listening on (http://\S+)", console.read_text())):
        assert process.poll() is None and time.monotonic() < deadline, console.read_text()
        time.sleep(0.2)
    yield url.group(1)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    text = console.read_text()
    assert process.returncode == 0 and "[serve] stopped" in text and "Traceback" not in text, text


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from _serve(tmp_path_factory)


@pytest.fixture(scope="module")
def batched_server(tmp_path_factory):
    """The same on a device of two Q slots (`--batch 2`: the build of sim/link/test_batched_device.py)."""
    yield from _serve(tmp_path_factory, "--batch", "2")


@pytest.fixture
def client(server):
    return OpenAI(base_url=server, api_key="unused", max_retries=0, timeout=120)


def test_models(client):
    assert [model.id for model in client.models.list()] == [MODEL]
    assert client.models.retrieve(MODEL).owned_by == "mmfree"


def test_concurrent_completions_are_the_golden_continuations(client, golden):
    jobs = [("ab", 5), ("def f(x):", 7), ("zz", 3), ("import os\n", 6), ("q", 4)]

    def complete(job):
        prompt, tokens = job
        return client.completions.create(model=MODEL, prompt=prompt, max_tokens=tokens, temperature=0)

    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(complete, jobs))
    for (prompt, tokens), answer in zip(jobs, answers):
        assert answer.choices[0].text == golden(prompt, tokens), prompt
        assert answer.choices[0].finish_reason == "length"
        assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (len(prompt), tokens)


def test_streamed_completion_arrives_in_pieces(client, golden):
    chunks = list(client.completions.create(model=MODEL, prompt="class A:", max_tokens=8, stream=True,
                                            stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == golden("class A:", 8)
    assert len([c for c in chunks if c.choices and c.choices[0].text]) >= 2
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 8 and chunks[-1].usage.prompt_tokens == len("class A:")


def test_chat_uses_the_documented_template(client, golden):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    template = "system: be brief\nuser: hi\nassistant: "      # docs/serving.md, "Chat"
    answer = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=6)
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content == golden(template, 6)
    assert answer.usage.prompt_tokens == len(template)
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, max_tokens=6, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == golden(template, 6)
    assert chunks[-1].choices[0].finish_reason == "length"


def test_a_batched_device_serves_concurrent_requests_each_the_golden_continuation(batched_server, golden):
    """Continuous batching over HTTP: requests of different lengths admitted into the two slots as they free,
    streamed and not, one cut by a stop string (its slot drains unseen): every text the golden model's."""
    client = OpenAI(base_url=batched_server, api_key="unused", max_retries=0, timeout=120)
    full = golden("ab", 12)
    stop = full[5:7]
    jobs = [("ab", 12, stop, False), ("def f(x):", 7, None, True), ("zz", 3, None, False), ("import os\n", 6, None, True),
            ("q", 4, None, False)]

    def complete(job):
        prompt, tokens, until, stream = job
        answer = client.completions.create(model=MODEL, prompt=prompt, max_tokens=tokens, stop=until, stream=stream)
        return "".join(c.choices[0].text for c in answer) if stream else answer.choices[0].text

    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(complete, jobs))
    for (prompt, tokens, until, _), answer in zip(jobs, answers):
        want = golden(prompt, tokens)
        assert answer == (want[:want.find(until)] if until else want), prompt
    assert client.completions.create(model=MODEL, prompt="xy", max_tokens=4).choices[0].text == golden("xy", 4)


def test_stop_strings_cut_the_text(client, golden):
    prompt, tokens = "ab", 12
    full = golden(prompt, tokens)
    stop = full[5:7]                                      # appears first at or before offset 5
    expected = full[:full.find(stop)]
    answer = client.completions.create(model=MODEL, prompt=prompt, max_tokens=tokens, stop=stop)
    assert (answer.choices[0].text, answer.choices[0].finish_reason) == (expected, "stop")
    chunks = list(client.completions.create(model=MODEL, prompt=prompt, max_tokens=tokens, stop=["\x00never", stop],
                                            stream=True))
    assert "".join(c.choices[0].text for c in chunks) == expected and chunks[-1].choices[0].finish_reason == "stop"
    never = client.completions.create(model=MODEL, prompt=prompt, max_tokens=tokens, stop="\x00never")
    assert (never.choices[0].text, never.choices[0].finish_reason) == (full, "length")
    # The device finished the stopped requests' tokens unseen: the next request is exact again.
    assert client.completions.create(model=MODEL, prompt="xy", max_tokens=4).choices[0].text == golden("xy", 4)


def test_a_client_gone_mid_stream_costs_the_next_request_nothing(server, client, golden):
    parts = urlsplit(server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    connection.request("POST", "/v1/completions", body=json.dumps(completion(max_tokens=30, stream=True)))
    answer = connection.getresponse()
    assert answer.status == 200 and answer.readline().startswith(b"data: {")
    connection.close()                                    # gone after the first event
    assert client.completions.create(model=MODEL, prompt="hello", max_tokens=5).choices[0].text == golden("hello", 5)


def post(url: str, path: str, body, method: str = "POST") -> tuple[int, dict, dict]:
    """(status, headers, JSON answer) of a raw request; body: an object (sent as JSON) or raw bytes."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
    answer = connection.getresponse()
    result = answer.status, dict(answer.getheaders()), json.loads(answer.read())
    connection.close()
    return result


def completion(**fields):
    return {"model": MODEL, "prompt": "ab", "max_tokens": 3, **fields}


@pytest.mark.parametrize("path, method, body, status, message", [
    ("/v1/completions", "POST", b"{not json", 400, "not valid JSON"),
    ("/v1/completions", "POST", [1, 2], 400, "must be a JSON object"),
    ("/v1/completions", "POST", {"model": MODEL}, 400, "'prompt' is required"),
    ("/v1/completions", "POST", completion(model=None), 400, "'model' is required"),
    ("/v1/completions", "POST", completion(max_tokens="3"), 400, "'max_tokens' must be an integer, not a string"),
    ("/v1/completions", "POST", completion(max_tokens=0), 400, "at least 1"),
    ("/v1/completions", "POST", completion(stream="yes"), 400, "'stream' must be a boolean"),
    ("/v1/completions", "POST", completion(stop=[1]), 400, "'stop' must be"),
    ("/v1/chat/completions", "POST", {"model": MODEL, "messages": []}, 400, "non-empty array"),
    ("/v1/chat/completions", "POST", {"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, 400, "'role'"),
    ("/v1/completions", "POST", completion(temperature=0.7), 400, "decodes greedily: 'temperature' must be 0"),
    ("/v1/completions", "POST", completion(top_p=0.9), 400, "decodes greedily: 'top_p' must be 1"),
    ("/v1/completions", "POST", completion(n=2), 400, "one greedy choice"),
    ("/v1/completions", "POST", completion(suffix="x"), 400, "unsupported parameter 'suffix'"),
    ("/v1/completions", "POST", completion(prompt=""), 400, "the prompt is empty"),
    ("/v1/completions", "POST", completion(max_tokens=2047), 400, "too long: the prompt (2 tokens) plus max_tokens "
                                                                  "2047 exceeds the model's 2048 positions"),
    ("/v1/completions", "POST", completion(prompt=[300]), 400, "outside the vocabulary"),
    ("/v1/completions", "POST", completion(model="gpt-4"), 404, "the model 'gpt-4' does not exist"),
    ("/v1/models/gpt-4", "GET", b"", 404, "does not exist"),
    ("/v1/engines", "POST", completion(), 404, "no such endpoint"),
    ("/", "GET", b"", 404, "no such endpoint"),
    ("/v1/completions", "GET", b"", 405, "takes POST, not GET"),
    ("/v1/models", "POST", {}, 405, "takes GET, not POST"),
    ("/v1/chat/completions", "DELETE", b"", 405, "takes POST"),
    ("/v1/models", "OPTIONS", b"", 501, "Unsupported method ('OPTIONS')"),
])
def test_bad_requests_get_openai_errors(server, path, method, body, status, message):
    code, headers, answer = post(server.removesuffix("/v1"), path, body, method)
    assert code == status, answer
    assert set(answer["error"]) == {"message", "type", "param", "code"} and message in answer["error"]["message"]
    assert "Traceback" not in answer["error"]["message"]
    if status == 405:
        assert headers["Allow"] in ("GET", "POST")


# --- the HTTP side on a scripted session: a full queue, a failing device ----------------------------------

class ScriptedSession:
    """A one-slot session: each step waits for `release` and sends token 65 ("A"); or `failing` ("admit" or
    "step") raises `failure`. `recovers`: whether loading it again works."""

    batch = 1

    def __init__(self, failure: Exception | None = None, failing: str = "step", recovers: bool = True):
        self.failure, self.failing, self.recovers = failure, failing, recovers
        self.admitted, self.release = threading.Event(), threading.Event()

    def admit(self, slot, prompt, max_tokens):
        if self.failure and self.failing == "admit":
            raise self.failure
        self.admitted.set()

    def step(self):
        self.release.wait(30)
        if self.failure:
            raise self.failure
        return {0: 65}

    def recover(self):
        if not self.recovers:
            raise LinkError("no answer from the device within 1 s")
        self.failure = None


@pytest.fixture
def scripted(request):
    session = ScriptedSession(**getattr(request, "param", {}))
    scheduler = Scheduler(session, queue_size=1, log=lambda line: None)
    api = ApiServer(("127.0.0.1", 0), scheduler, model_id=MODEL, tokenizer=TOKENIZER, config=preset("tiny"),
                    log=lambda line: None)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    yield session, scheduler, api.url.removesuffix("/v1")
    session.release.set()
    api.shutdown()
    api.server_close()
    scheduler.close()


def test_a_full_queue_is_429(scripted):
    session, scheduler, url = scripted
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(post, url, "/v1/completions", completion())
        assert session.admitted.wait(10)                   # in the device's one slot
        waiting = pool.submit(post, url, "/v1/completions", completion())
        deadline = time.monotonic() + 10
        while scheduler.waiting.qsize() < 1:               # in the queue's one place
            assert time.monotonic() < deadline
            time.sleep(0.01)
        status, _, answer = post(url, "/v1/completions", completion())
        assert status == 429 and "the queue is full (1 request waits" in answer["error"]["message"]
        assert answer["error"]["type"] == "rate_limit_error"
        session.release.set()
        status, _, answer = running.result(30)
        assert status == 200 and answer["choices"][0]["text"] == "AAA"
        assert waiting.result(30)[0] == 200


FAILURE = "the device stopped with BAD_OPCODE at pc 3"


@pytest.mark.parametrize("scripted, recovers", [
    *[({"failure": DeviceError(FAILURE), "failing": failing, "recovers": False}, False) for failing in ("step", "admit")],
    ({"failure": DeviceError(FAILURE), "recovers": True}, True),
], indirect=["scripted"])
def test_a_device_failure_is_500_then_the_device_is_loaded_again_or_503(scripted, recovers):
    session, _, url = scripted
    session.release.set()
    status, _, answer = post(url, "/v1/completions", completion())
    assert status == 500 and FAILURE in answer["error"]["message"]
    status, _, answer = post(url, "/v1/completions", completion())
    if recovers:
        assert status == 200 and answer["choices"][0]["text"] == "AAA"
    else:
        assert status == 503 and "unavailable" in answer["error"]["message"]
        assert "no answer from the device" in answer["error"]["message"]


def test_a_port_in_use_is_one_clear_error(scripted):
    _, scheduler, url = scripted
    with pytest.raises(MmfreeError, match=r"cannot listen on 127.0.0.1:\d+ .*choose another --host/--port"):
        ApiServer(("127.0.0.1", urlsplit(url).port), scheduler, model_id=MODEL, tokenizer=TOKENIZER,
                  config=preset("tiny"))
