"""ivr/app/runtime.py: the event loop `ivr serve` runs on, and its fallback."""
import asyncio
import sys

import pytest

from ivr.app import runtime


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_auto_prefers_uvloop_when_installed():
    pytest.importorskip("uvloop")
    assert runtime.run(_loop_module(), "auto").startswith("uvloop")


def test_asyncio_is_asyncio():
    assert runtime.run(_loop_module(), "asyncio").startswith("asyncio")


def test_auto_falls_back_without_uvloop(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)       # import uvloop -> ImportError
    factory, name = runtime.loop_factory("auto")
    assert factory is None and name.startswith("asyncio")
    assert runtime.run(_loop_module(), "auto").startswith("asyncio")


def test_uvloop_asked_for_but_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)
    coro = _loop_module()
    with pytest.raises(runtime.LoopUnavailable, match="--loop asyncio"):
        runtime.run(coro, "uvloop")
    assert coro.cr_frame is None             # closed, not left un-awaited


def test_unknown_loop_name():
    with pytest.raises(ValueError, match="auto, uvloop, asyncio"):
        runtime.loop_factory("trio")
