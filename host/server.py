"""`mmfree serve`'s HTTP side: OpenAI's endpoints over the scheduler (host/scheduler.py).

    GET  /v1/models, /v1/models/{id}       the one model served
    POST /v1/completions                   prompt -> text; "stream": true for server-sent events
    POST /v1/chat/completions              messages (host.openai_api.chat_prompt) -> assistant message

A handler thread (stdlib ThreadingHTTPServer) checks the request (host.openai_api), submits it to the
scheduler's bounded queue and turns the request's tokens into text as they arrive: detokenized in the
prompt's context (host.text.TextStream), cut at the first stop string (StopCut), written to the client at
once when streaming. Every refusal is OpenAI's JSON error object with its HTTP status; a failure after a
stream began is an error event in the stream. docs/serving.md has the whole contract.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from golden.errors import MmfreeError

from .openai_api import ApiError, GenerationParams, Response, StopCut, parse_request
from .run import check_prompt
from .scheduler import DeviceFailure, QueueFull, Request, Unavailable
from .text import TextStream

MODELS_PATH = "/v1/models"
ENDPOINTS = {MODELS_PATH: "GET", "/v1/completions": "POST", "/v1/chat/completions": "POST"}   # path -> method
ENDPOINT_LIST = ", ".join(f"{method} {path}" for path, method in ENDPOINTS.items())
MAX_BODY_BYTES = 1 << 20        # a request body larger than this is refused (413)


class Generation:
    """The text of one request's tokens (iterate for the pieces, as they become certain); then
    `finish_reason` ("stop": a stop string ended it, "length": max_tokens did) and `completion_tokens`
    (tokens the device sent until then)."""

    def __init__(self, request: Request, tokenizer, prompt: list[int], stops: tuple[str, ...]):
        self.request, self.tokenizer, self.prompt, self.stops = request, tokenizer, prompt, stops
        self.finish_reason: str | None = None
        self.completion_tokens = 0

    def __iter__(self):
        text, cut = TextStream(self.tokenizer, self.prompt), StopCut(self.stops)
        try:
            for token in self.request.tokens():
                self.completion_tokens += 1
                if piece := cut.push(text.push(token)):
                    yield piece
                if cut.stopped:
                    break
            else:
                if piece := cut.push(text.finish()) + cut.finish():
                    yield piece
            self.finish_reason = "stop" if cut.stopped else "length"
        finally:
            self.request.cancel()               # a stop string, or the client gone: no more of its tokens


def _api_error(error: MmfreeError) -> ApiError:
    """A scheduler's refusal or failure as the HTTP error it is."""
    status = {QueueFull: 429, Unavailable: 503, DeviceFailure: 500}.get(type(error), 500)
    return ApiError(status, str(error), code={429: "rate_limit_exceeded"}.get(status))


class ApiServer(ThreadingHTTPServer):
    """The HTTP server of one model (`model_id`, its tokenizer and config) on `scheduler`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], scheduler, *, model_id: str, tokenizer, config,
                 log=lambda line: print(line, file=sys.stderr, flush=True)):
        self.scheduler, self.model_id, self.tokenizer, self.config, self.log = scheduler, model_id, tokenizer, config, log
        self.created = int(time.time())
        try:
            super().__init__(address, ApiHandler)
        except OSError as error:
            raise MmfreeError(f"cannot listen on {address[0]}:{address[1]} ({error.strerror or error}): "
                              "choose another --host/--port") from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def model_object(self) -> dict:
        return {"id": self.model_id, "object": "model", "created": self.created, "owned_by": "mmfree"}

    def handle_error(self, request, client_address) -> None:
        """A connection that failed outside a handler's own care: one line (a client gone), else the traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            self.log(f"[serve] {client_address[0]}: connection ended ({error})")
        else:
            traceback.print_exc()


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mmfree-serve"
    server: ApiServer

    def log_message(self, format, *args):
        self.server.log(f"[serve] {self.address_string()} {format % args}")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server itself refuses (a malformed request line, an unsupported method such as OPTIONS),
        as OpenAI's error object too."""
        self.log_error("%d %s", code, message)
        self._send_json(code, ApiError(code, message or self.responses.get(code, ("error",))[0]).body(),
                        send_body=getattr(self, "command", None) != "HEAD")

    def _dispatch(self) -> None:
        method, path = self.command, urlsplit(self.path).path.rstrip("/")
        endpoint = MODELS_PATH if path.startswith(MODELS_PATH + "/") else path
        try:
            if endpoint not in ENDPOINTS:
                raise ApiError(404, f"no such endpoint: {method} {path} (mmfree serve has {ENDPOINT_LIST})",
                               code="unknown_url")
            if method != ENDPOINTS[endpoint]:
                raise ApiError(405, f"{path} takes {ENDPOINTS[endpoint]}, not {method}", code="method_not_allowed")
            if endpoint == MODELS_PATH:
                return self._send_json(200, self._models(path))
            self._generate(parse_request(self._read_json(), chat=endpoint.endswith("/chat/completions")))
        except ApiError as error:
            self._send_json(error.status, error.body(), allow=ENDPOINTS.get(endpoint))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True        # the client left
        except Exception:                        # noqa: BLE001  (a fault of this program: said, not hidden)
            traceback.print_exc()
            self._send_json(500, ApiError(500, "internal server error (see the server's console)").body())

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def _models(self, path: str) -> dict:
        if path == MODELS_PATH:
            return {"object": "list", "data": [self.server.model_object()]}
        self._check_model(path[len(MODELS_PATH) + 1:])
        return self.server.model_object()

    def _check_model(self, model: str) -> None:
        if model != self.server.model_id:
            raise ApiError(404, f"the model '{model}' does not exist: this server serves '{self.server.model_id}'",
                           param="model", code="model_not_found")

    def _read_json(self):
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise ApiError(400, "the request needs a JSON body with a Content-Length header")
        if int(length) > MAX_BODY_BYTES:
            raise ApiError(413, f"the request body of {int(length):,} bytes exceeds {MAX_BODY_BYTES:,}")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ApiError(400, f"the request body is not valid JSON ({error})") from None

    def _generate(self, params: GenerationParams) -> None:
        server = self.server
        self._check_model(params.model)
        prompt = params.prompt if isinstance(params.prompt, list) else server.tokenizer.encode(params.prompt)
        if not prompt:
            raise ApiError(400, "the prompt is empty: give at least one token of text", param="prompt",
                           code="empty_prompt")
        try:
            check_prompt(server.config, prompt, params.max_tokens, "max_tokens")
            request = server.scheduler.submit(prompt, params.max_tokens)
        except (QueueFull, Unavailable) as refused:
            raise _api_error(refused) from None
        except MmfreeError as invalid:
            raise ApiError(400, str(invalid), param="prompt", code="invalid_prompt") from None
        generation = Generation(request, server.tokenizer, prompt, params.stop)
        response = Response(params)
        pieces = iter(generation)
        try:
            # The first piece (or the end) before any header: a failure until then has its own HTTP status.
            first = next(pieces, None)
            if params.stream:
                return self._stream(response, generation, pieces, first, len(prompt), params.include_usage)
            text = (first or "") + "".join(pieces)
        except (DeviceFailure, Unavailable) as failure:
            raise _api_error(failure) from None
        finally:
            request.cancel()                    # whatever ended it: no more of its tokens
        usage = Response.usage(len(prompt), generation.completion_tokens)
        self._send_json(200, response.whole(text, generation.finish_reason, usage))

    def _stream(self, response: Response, generation: Generation, pieces, first: str | None, prompt_tokens: int,
                include_usage: bool) -> None:
        """Server-sent events: `data: {chunk}` a piece, the last chunk with finish_reason, [DONE]."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")           # the stream ends with the connection
        self.end_headers()
        self.close_connection = True
        try:
            if response.chat:
                self._event(response.chunk("", first=True))
            for piece in itertools.chain([first] if first is not None else [], pieces):
                self._event(response.chunk(piece))
            self._event(response.chunk(None, generation.finish_reason))
            if include_usage:
                self._event(response.usage_chunk(Response.usage(prompt_tokens, generation.completion_tokens)))
        except (DeviceFailure, Unavailable) as failure:
            self._event(_api_error(failure).body())     # too late for a status: the error as an event
        finally:
            generation.request.cancel()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, body: dict) -> None:
        self.wfile.write(b"data: " + json.dumps(body).encode() + b"\n\n")
        self.wfile.flush()

    def _send_json(self, status: int, body: dict, allow: str | None = None, *, send_body: bool = True) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 405 and allow:
            self.send_header("Allow", allow)
        if status >= 400:                       # an unread body may follow: the connection ends here
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if send_body:
            self.wfile.write(data)
