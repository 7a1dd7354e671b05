"""The OpenAI API as `mmfree serve` speaks it: request bodies checked into GenerationParams, the response
and stream-chunk objects, errors as OpenAI's error objects, stop strings, the chat prompt template.

The device decodes greedily (the serving program's ARGMAX): the sampling parameters are accepted only
where they mean greedy decoding (temperature 0, top_p 1, or absent); other values are a 400 saying so.
docs/serving.md lists every parameter and error.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

DEFAULT_MAX_TOKENS = 16         # tokens generated when a request names no max_tokens (OpenAI's completions default)
MAX_STOP_STRINGS = 4            # as OpenAI's API
CHAT_ROLES = ("system", "developer", "user", "assistant")
# The released MMfreeLM models (and the shipped stdlib-256) have no chat template: a chat is written as
# plain text, one "role: content" line a message, and the model continues after "assistant: ".
CHAT_LINE = "{role}: {content}\n"
CHAT_REPLY_PREFIX = "assistant: "

# Fields that change nothing for greedy decoding of one choice, with the values that mean so.
NEUTRAL_VALUES = {"n": (1,), "best_of": (1,), "presence_penalty": (0,), "frequency_penalty": (0,),
                  "logprobs": (False, 0), "top_logprobs": (0,), "echo": (False,), "logit_bias": ({},),
                  "parallel_tool_calls": (True, False)}
IGNORED_FIELDS = ("user", "seed", "stream_options", "metadata", "store")    # any value: no effect here


class ApiError(Exception):
    """A request the server refuses: HTTP `status` and OpenAI's error object."""

    TYPES = {400: "invalid_request_error", 404: "invalid_request_error", 405: "invalid_request_error",
             413: "invalid_request_error", 429: "rate_limit_error", 500: "server_error", 503: "server_error"}

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.TYPES.get(self.status, "server_error"),
                          "param": self.param, "code": self.code}}


@dataclasses.dataclass(frozen=True)
class GenerationParams:
    """What one request asks for: a prompt (text, or token ids), tokens to generate, stop strings."""
    model: str
    prompt: str | list[int]
    max_tokens: int
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool         # stream_options.include_usage: a last chunk with the token counts
    chat: bool


def _field(body: dict, name: str, types: tuple[type, ...], what: str, *, required: bool = False, default=None):
    """body[name] checked against `types` (bool is never an int here); None counts as absent."""
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"'{name}' is required", param=name, code="missing_required_parameter")
        return default
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise ApiError(400, f"'{name}' must be {what}, not {json_type(value)}", param=name, code="invalid_type")
    return value


def json_type(value) -> str:
    """The JSON name of a decoded value's type, for messages."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
             dict: "an object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def parse_request(body, *, chat: bool) -> GenerationParams:
    """A /v1/completions (chat False) or /v1/chat/completions body, checked; ApiError 400 for anything wrong."""
    if not isinstance(body, dict):
        raise ApiError(400, f"the request body must be a JSON object, not {json_type(body)}")
    allowed = {"model", "max_tokens", "stop", "stream", "temperature", "top_p", *NEUTRAL_VALUES, *IGNORED_FIELDS}
    allowed |= {"messages", "max_completion_tokens"} if chat else {"prompt"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"unsupported parameter '{unknown[0]}' (mmfree serve takes: {', '.join(sorted(allowed))})",
                       param=unknown[0], code="unsupported_parameter")
    _check_greedy(body)
    model = _field(body, "model", (str,), "a string", required=True)
    prompt = chat_prompt(body.get("messages")) if chat else _prompt(body.get("prompt"))
    tokens_field = "max_completion_tokens" if chat and body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = _field(body, tokens_field, (int,), "an integer", default=DEFAULT_MAX_TOKENS)
    if max_tokens < 1:
        raise ApiError(400, f"'{tokens_field}' must be at least 1, not {max_tokens}", param=tokens_field,
                       code="invalid_value")
    stop = _field(body, "stop", (str, list), "a string or an array of strings", default=[])
    stop = [stop] if isinstance(stop, str) else stop
    if len(stop) > MAX_STOP_STRINGS or not all(isinstance(s, str) and s for s in stop):
        raise ApiError(400, f"'stop' must be at most {MAX_STOP_STRINGS} non-empty strings", param="stop",
                       code="invalid_value")
    stream = _field(body, "stream", (bool,), "a boolean", default=False)
    options = _field(body, "stream_options", (dict,), "an object", default={})
    include_usage = options.get("include_usage") is True
    return GenerationParams(model, prompt, max_tokens, tuple(stop), stream, include_usage, chat)


def _check_greedy(body: dict) -> None:
    for name, greedy in [("temperature", 0), ("top_p", 1)]:
        value = _field(body, name, (int, float), "a number")
        if value is not None and value != greedy:
            raise ApiError(400, f"the device decodes greedily: '{name}' must be {greedy} (or absent), not {value}",
                           param=name, code="unsupported_value")
    for name, neutral in NEUTRAL_VALUES.items():
        if name in body and body[name] is not None and not any(
                body[name] == v and isinstance(body[name], bool) == isinstance(v, bool) for v in neutral):
            raise ApiError(400, f"'{name}' {body[name]!r} is not supported: the device returns one greedy choice "
                           f"(accepted: {', '.join(repr(v) for v in neutral)})", param=name, code="unsupported_value")


def _prompt(prompt) -> str | list[int]:
    """A completion's prompt: a string, an array of one string, or an array of token ids."""
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        return prompt
    if prompt is None:
        raise ApiError(400, "'prompt' is required", param="prompt", code="missing_required_parameter")
    raise ApiError(400, f"'prompt' must be a string, an array of one string or an array of token ids, not "
                   f"{json_type(prompt)} of that shape (one prompt per request)", param="prompt", code="invalid_type")


def chat_prompt(messages) -> str:
    """The chat as plain text (no model here has a chat template): a CHAT_LINE per message, then
    CHAT_REPLY_PREFIX. A message's content is a string or an array of {"type": "text", "text": …} parts."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty array of {role, content} objects", param="messages",
                       code="invalid_type" if messages is not None else "missing_required_parameter")
    lines = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in CHAT_ROLES:
            raise ApiError(400, f"{where} must be an object whose 'role' is one of {', '.join(CHAT_ROLES)}",
                           param=where, code="invalid_value")
        content = message.get("content")
        if isinstance(content, list) and all(isinstance(part, dict) and part.get("type") == "text"
                                             and isinstance(part.get("text"), str) for part in content):
            content = "".join(part["text"] for part in content)
        if not isinstance(content, str):
            raise ApiError(400, f"{where}.content must be a string or an array of text parts", param=where,
                           code="invalid_type")
        lines.append(CHAT_LINE.format(role=message["role"], content=content))
    return "".join(lines) + CHAT_REPLY_PREFIX


class StopCut:
    """Generated text in, the part certain to precede every stop string out: the text is cut before the
    first stop string. A tail that may begin one is held back until it cannot."""

    def __init__(self, stops: tuple[str, ...]):
        self.stops, self.pending, self.stopped = stops, "", False

    def push(self, text: str) -> str:
        if self.stopped:
            return ""
        self.pending += text
        found = [at for at in (self.pending.find(stop) for stop in self.stops) if at >= 0]
        if found:
            self.stopped = True
            return self.pending[:min(found)]
        held = max((k for stop in self.stops for k in range(1, len(stop)) if self.pending.endswith(stop[:k])),
                   default=0)
        certain = self.pending[:len(self.pending) - held]
        self.pending = self.pending[len(certain):]
        return certain

    def finish(self) -> str:
        """What was held back (the generation ended without completing a stop string)."""
        rest, self.pending = ("" if self.stopped else self.pending), ""
        return rest


class Response:
    """The objects of one response, completion or chat (OpenAI's field names), sharing one id and time."""

    def __init__(self, params: GenerationParams):
        self.chat, self.model = params.chat, params.model
        self.id = ("chatcmpl-" if self.chat else "cmpl-") + uuid.uuid4().hex[:24]
        self.created = int(time.time())

    def _object(self, kind: str, choices: list, usage: dict | None = None) -> dict:
        body = {"id": self.id, "object": kind, "created": self.created, "model": self.model, "choices": choices}
        if usage is not None:
            body["usage"] = usage
        return body

    @staticmethod
    def usage(prompt_tokens: int, completion_tokens: int) -> dict:
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}

    def whole(self, text: str, finish_reason: str, usage: dict) -> dict:
        """The non-streamed response."""
        if self.chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}
            return self._object("chat.completion", [choice], usage)
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        return self._object("text_completion", [choice], usage)

    def chunk(self, text: str | None, finish_reason: str | None = None, *, first: bool = False) -> dict:
        """A stream chunk: text (None: none, as in the last chunk), finish_reason on the last."""
        if self.chat:
            delta = ({"role": "assistant"} if first else {}) | ({"content": text} if text is not None else {})
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return self._object("chat.completion.chunk", [choice])
        choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}
        return self._object("text_completion", [choice])

    def usage_chunk(self, usage: dict) -> dict:
        """The last chunk when stream_options.include_usage: no choices, the token counts."""
        return self._object("chat.completion.chunk" if self.chat else "text_completion", [], usage)
