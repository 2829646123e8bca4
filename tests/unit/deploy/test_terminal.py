"""What a newcomer sees in the terminal of `make run`: readable service logs and a progress bar on lines of its own."""

from deploy.demo import Progress
from deploy.local_stack import log_format


def test_services_log_readable_lines_when_a_person_watches() -> None:
    assert log_format({}, terminal=True) == {"LOG_JSON": "false"}


def test_services_log_json_when_the_output_goes_to_a_file_or_a_pipe() -> None:
    assert log_format({}, terminal=False) == {"LOG_JSON": "true"}


def test_an_explicit_log_json_wins() -> None:
    assert log_format({"LOG_JSON": "1"}, terminal=True) == {}


def test_the_progress_bar_is_whole_lines_one_per_tenth_and_the_last_at_the_end() -> None:
    progress = Progress(total=67_787)
    lines = [line for sent in range(1_000, 69_000, 1_000) if (line := progress.advance(min(sent, 67_787)))]
    assert len(lines) == 10
    assert all("\r" not in line and "\n" not in line for line in lines)
    assert lines[0] == f"demo feed [{'#' * 3:<30}]   7000/67787 changes"
    assert lines[-1] == f"demo feed [{'#' * 30}]  67787/67787 changes"


def test_a_feed_shorter_than_ten_batches_still_ends_with_a_full_bar() -> None:
    progress = Progress(total=3)
    assert [progress.advance(n) for n in (1, 2, 3)][-1] == f"demo feed [{'#' * 30}]      3/3 changes"
