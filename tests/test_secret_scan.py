"""Runs last (the conftest moves it): fails if any registered secret appeared in a captured
response body or log record during the whole run."""

from __future__ import annotations

import logging

from tests.support.secrets import REGISTRY, CaptureLogHandler, SecretRegistry


def test_scan_mechanism_detects_a_planted_leak() -> None:
    """The scanner itself works: logs and texts, before and after registration."""
    reg = SecretRegistry()
    logger = logging.getLogger("tollgate.test.scan-probe")
    handler = CaptureLogHandler(reg)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)  # independent of the suite's root level
    try:
        logger.debug("early leak %s", "sk-planted-early-0001")  # leaked before registration
        reg.register("sk-planted-early-0001")
        reg.register("sk-planted-late-0002")
        logger.debug("late leak sk-planted-late-0002")
        reg.capture('{"key": "sk-…0002"}', "masked body")  # masked: not a hit
    finally:
        logger.removeHandler(handler)
    assert [h.where for h in reg.leaks()] == ["log tollgate.test.scan-probe"] * 2
    assert "sk-planted" not in reg.report() and "sk-planted" not in repr(reg)  # never repeated


def test_repo_key_secret_is_allowed_once_in_its_creation_response() -> None:
    reg = SecretRegistry()
    key = "tg_abcdefghij_0123456789"
    reg.capture('{"success": true, "secret": "%s"}' % key, "HTTP POST /repo/r/ai/apikey")
    reg.register(key)
    assert reg.leaks() == []
    reg.capture('{"apiKeys": [{"key": "%s"}]}' % key, "HTTP GET /repo/r/ai/apikey")
    assert [h.where for h in reg.leaks()] == ["HTTP GET /repo/r/ai/apikey"]
    provider = "sk-provider-secret-9999"
    reg.capture(provider, "HTTP POST /ai/llm")
    reg.register(provider)  # not shown-once: any response containing it is a leak
    assert [h.where for h in reg.leaks()][-1] == "HTTP POST /ai/llm"


def test_no_registered_secret_leaked_anywhere() -> None:
    before = REGISTRY.texts_seen
    logging.getLogger("tollgate.test.scan-wiring").debug("probe")
    assert REGISTRY.texts_seen == before + 1, "the root log capture is not installed"
    leaks = REGISTRY.leaks()
    assert not leaks, "registered secrets leaked:\n" + REGISTRY.report()
