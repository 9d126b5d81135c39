"""The exception hierarchy: an error reworded on its way up keeps its data."""

from __future__ import annotations

import pytest

from lamina.errors import ContainerError, Denied, IntegrityError, LaminaError, TooManyRequests


@pytest.mark.parametrize("err", [
    TooManyRequests("slow down", status=429, code="TOOMANYREQUESTS", hint="wait"),
    Denied("no", status=403, code="DENIED"),
    ContainerError("it died", exit_code=137, hint="look at its logs"),
    IntegrityError("digest mismatch"),
])
def test_reworded_keeps_class_and_data(err: LaminaError) -> None:
    new = err.reworded(f"registry.example: layer 0123: {err}")
    assert type(new) is type(err)
    assert str(new) == new.message == f"registry.example: layer 0123: {err.message}"
    assert new.args == (new.message,)
    assert {k: v for k, v in vars(new).items() if k != "message"} == \
        {k: v for k, v in vars(err).items() if k != "message"}
    assert str(err) != str(new)  # the original is left as it was
