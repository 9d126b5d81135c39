"""logs -f across rotations, step by step: the writer and the follower interleaved by hand, so
that each order in which a slow follower can find the files is taken on purpose."""

from __future__ import annotations

from pathlib import Path

from lamina.runtime.logs import Follower, LogWriter


def write(log: LogWriter, first: int, count: int) -> None:
    for i in range(first, first + count):
        log.write("stdout", f"line-{i:03d}\n".encode())


def texts(entries: list) -> list[str]:  # type: ignore[type-arg]
    return [e.text.strip() for e in entries]


def expected(first: int, end: int) -> list[str]:
    return [f"line-{i:03d}" for i in range(first, end)]


def small_log(path: Path) -> LogWriter:
    # one record is some 80 bytes: a file keeps three lines before it is rotated
    return LogWriter(path, max_size=300, max_files=50)


def test_several_rotations_between_two_reads(tmp_path: Path) -> None:
    """The follower holds the first file; the writer rotates it and then three more before the
    follower looks again: it reads the held file to its end, then each one in between."""
    path = tmp_path / "c.log"
    log = small_log(path)
    write(log, 0, 2)
    follower = Follower(path)
    assert texts(follower.read_all()) == expected(0, 2)
    write(log, 2, 18)  # into the held file, then four rotations
    assert path.with_name("c.log.4").exists()
    got = texts(list(follower.follow(lambda: False)))
    assert got == expected(2, 20)
    log.close()
    follower.close()


def test_rotations_between_opening_and_the_first_read(tmp_path: Path) -> None:
    """Rotated after the follower opened the log but before it read anything: the files older
    than the held one first, then the held one, then the newer ones."""
    path = tmp_path / "c.log"
    log = small_log(path)
    write(log, 0, 6)  # one rotation: c.log.1 and c.log
    follower = Follower(path)  # holds what is c.log now
    write(log, 6, 10)  # the held file fills, is rotated, and two more after it
    got = texts(follower.read_all()) + texts(list(follower.follow(lambda: False)))
    assert got == expected(0, 16)
    log.close()
    follower.close()


def test_no_file_read_twice_as_the_names_shift(tmp_path: Path) -> None:
    """Each rotation renames every kept file: read ones must not come back under a new name."""
    path = tmp_path / "c.log"
    log = small_log(path)
    follower = Follower(path)
    got = texts(follower.read_all())
    written = 0
    for burst in (1, 5, 9, 3, 13, 4):
        write(log, written, burst)
        written += burst
        rest = follower._switch()
        if rest is not None:
            got += texts(rest)
        got += texts(follower._read_held())
    got += texts(list(follower.follow(lambda: False)))
    assert got == expected(0, written)
    log.close()
    follower.close()


def test_files_removed_before_they_are_read_are_skipped_in_order(tmp_path: Path) -> None:
    """With few files kept, a slow follower loses the oldest (as docker's does) but what it
    prints stays in order with no line twice."""
    path = tmp_path / "c.log"
    log = LogWriter(path, max_size=300, max_files=2)
    write(log, 0, 2)
    follower = Follower(path)
    got = texts(follower.read_all())
    write(log, 2, 30)
    got += texts(list(follower.follow(lambda: False)))
    numbers = [int(t.removeprefix("line-")) for t in got]
    assert numbers == sorted(set(numbers))
    assert numbers[:3] == [0, 1, 2]  # the held file, read to its end
    assert numbers[3:] == list(range(numbers[3], 32))  # then the two files still kept
    assert numbers[3] > 3
    log.close()
    follower.close()
