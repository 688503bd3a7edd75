"""Generator errors survive the trip back from a render process."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

from generator.types import ErrorCode, GeneratorError


def _refuse() -> None:
    raise GeneratorError(ErrorCode.FACE_TOO_SMALL, "the face is 20 px tall", face_px=20)


def test_error_pickles_with_code_and_details() -> None:
    error = pickle.loads(pickle.dumps(GeneratorError(ErrorCode.NO_SPEECH, "silence", rms=0.001)))
    assert error.code is ErrorCode.NO_SPEECH
    assert error.details == {"rms": 0.001}
    assert error.message == "silence"


def test_error_crosses_a_process_pool_without_breaking_it() -> None:
    with ProcessPoolExecutor(max_workers=1) as pool:
        with pytest.raises(GeneratorError) as caught:
            pool.submit(_refuse).result(timeout=60)
        assert caught.value.code is ErrorCode.FACE_TOO_SMALL
        assert caught.value.details == {"face_px": 20}
        assert pool.submit(int, "7").result(timeout=60) == 7  # the pool still works
