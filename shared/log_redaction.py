"""No secret, key or signed URL in any log line, whatever a client sends: one logging filter,
installed in every process (gateway, workers, beat, Flower) by `install()`.

It rewrites each record as it is made, whichever logger and handler it goes to, when its text
holds one of these (and leaves every other record exactly as it was):
- API keys (`veo_…`), webhook secrets (`whsec_…`) and the secrets of our own settings;
- the credential after `Bearer`, in a URL's user-info, and in `key: value` header dumps;
- the value of any parameter named like a credential or a signature (`api_key=`, `token=`,
  `X-Amz-Signature=`, `Signature=`, …), so a signed URL loses what makes it work;
- and the request line of an access log (uvicorn's, and Tornado's under Flower) loses its whole
  query string, and any path segment that decodes to a secret: the client fills them, with
  anything.

Installed as the record factory rather than on handlers: Celery and uvicorn build their handlers
after our modules are imported, and a record is made once whatever handles it.
"""

import logging
import re
from collections.abc import Iterable
from functools import cache
from typing import Any
from urllib.parse import unquote

REDACTED = "[redacted]"
ACCESS_LOGGERS = frozenset({"uvicorn.access", "tornado.access"})
_CREDENTIAL_WORDS = (
    r"api[_-]?key|apikey|key|token|secret|signature|sig|password|passwd|credential|auth"
)
# (pattern, replacement): each keeps what names the secret and drops the secret itself. Each
# starts only where a run of its characters starts (the look-behinds), so a hostile path of
# thousands of characters costs linear time, not quadratic.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"veo_[A-Za-z0-9_-]{16,}"), "veo_" + REDACTED),
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]{8,}"), "whsec_" + REDACTED),
    (re.compile(r"AIza[0-9A-Za-z_-]{30,}"), REDACTED),  # a Google API key
    (re.compile(r"(/dashboard/login/)[A-Za-z0-9_-]+"), r"\1" + REDACTED),  # a one-time link
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)[^/\s@]*@"), r"\1" + REDACTED + "@"),
    # key=value (query strings, form bodies, log fields): names ending in a credential word.
    (
        re.compile(rf"(?i)(?<![\w.-])((?:[\w.-]*[_.-])?(?:{_CREDENTIAL_WORDS})=)[^&\s\"'#,;]+"),
        r"\1" + REDACTED,
    ),
    # header dumps: 'authorization': 'Basic …', x-goog-api-key: …
    (
        re.compile(
            r"(?i)\b((?:authorization|x-goog-api-key|x-api-key)[\"']?\s*[:=]\s*[\"']?)[^\"'\n]+"
        ),
        r"\1" + REDACTED,
    ),
)
_QUERY = re.compile(r"\?\S*")


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and traceback without what `redact` removes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if len(secret) >= 8)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _RULES:
            text = pattern.sub(replacement, text)
        return text

    def redact_request_line(self, text: str) -> str:
        """An access log's path: no query string, no segment that decodes to a secret."""
        segments = _QUERY.sub("?" + REDACTED, text).split("/")
        for i, segment in enumerate(segments):
            if "%" in segment and self.redact(unquote(segment)) != unquote(segment):
                segments[i] = REDACTED
        return self.redact("/".join(segments))

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in ACCESS_LOGGERS and isinstance(record.args, tuple):
            # Their formatters unpack the arguments (uvicorn's colours the status): keep them.
            record.args = tuple(
                self.redact_request_line(arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        else:
            try:
                message = record.getMessage()
            except Exception:  # a broken format: left for the handler to report, as logging does
                message = ""
            cleaned = self.redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            trace = logging.Formatter().formatException(record.exc_info)
            if self.redact(trace) != trace:
                record.exc_text = self.redact(trace)
        return True


def configured_secrets() -> list[str]:
    """The secret settings' values (upstream keys, storage and Flower passwords)."""
    from pydantic import SecretStr

    from shared.settings import get_settings

    settings = get_settings()
    values = (getattr(settings, name) for name in type(settings).model_fields)
    return [value.get_secret_value() for value in values if isinstance(value, SecretStr)]


@cache
def install() -> RedactSecrets:
    """Pass every record this process makes through one RedactSecrets (once per process)."""
    redactor = RedactSecrets(configured_secrets())
    make_record = logging.getLogRecordFactory()

    def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        redactor.filter(record)
        return record

    logging.setLogRecordFactory(redacted_record)
    return redactor
