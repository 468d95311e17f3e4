from shared.states import ALLOWED_FROM, PUBLIC_STATUS, TERMINAL, JobStatus


def test_terminal_states_are_never_left() -> None:
    for sources in ALLOWED_FROM.values():
        assert not sources & TERMINAL


def test_every_status_has_a_public_name_from_the_seed() -> None:
    assert set(PUBLIC_STATUS) == set(JobStatus)
    assert set(PUBLIC_STATUS.values()) == {"pending", "processing", "completed", "failed"}


def test_completion_only_from_processing() -> None:
    assert ALLOWED_FROM[JobStatus.COMPLETED] == {JobStatus.PROCESSING}
