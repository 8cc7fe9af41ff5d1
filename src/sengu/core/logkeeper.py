"""The log keeper: copies one process's output into its log file, from a process of its own.

``procs.start`` runs one per started process that has a log or a stream. The job writes into a pipe this
process reads, so when the engine is killed the job's output still reaches its log, to the last line: the
keeper lives until every writer of the pipe is gone (which, after a crash, is when the restarted engine has
killed what the lost attempt left). A job writing straight into the file would survive the engine too, but
then nothing could stop it at the log cap.

Run as ``python -I -S logkeeper.py CAP KEEP_LOG STREAM FD`` — standard library only, so it starts in ~15 ms
without site-packages. fd 0 is the output pipe, fd 1 the log file, fd FD a pipe to the engine that carries
frames (one byte of kind, four of length, the payload): ``o`` a chunk of output (only when STREAM is 1,
uncapped), and last ``s``, the summary ``LOG_BYTES DROPPED_BYTES``. When the engine is gone the frames fail
with EPIPE and the keeper goes on logging. SIGTERM: stop reading, write the cap note, exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import sys
from types import FrameType

CHUNK = 65536
OUTPUT = b"o"
SUMMARY = b"s"
HEADER = struct.Struct(">cI")


class _Stop(Exception):
    pass


def _on_term(signum: int, frame: FrameType | None) -> None:
    # Raised out of the blocking read: Python would otherwise retry a read interrupted by a signal (PEP 475).
    raise _Stop


def frame(kind: bytes, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def cap_note(cap: int, dropped: int) -> bytes:
    return f"[sengu] log cap of {cap} bytes reached: dropped {dropped} bytes of output\n".encode()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Keeper:
    def __init__(self, cap: int, keep_log: bool, stream: bool, engine_fd: int):
        self.cap = cap
        self.keep_log = keep_log
        self.stream = stream
        self.engine_fd = engine_fd
        self.log_bytes = 0
        self.dropped = 0
        self.ends_with_newline = True
        self.write_failed = False

    def take(self, data: bytes) -> None:
        if self.stream:
            try:
                _write_all(self.engine_fd, frame(OUTPUT, data))
            except OSError:
                self.stream = False  # the engine is gone or stopped listening: the log still matters
        if not self.keep_log:
            return
        room = 0 if self.write_failed else self.cap - self.log_bytes
        keep = data[: max(room, 0)]
        self.dropped += len(data) - len(keep)
        if not keep:
            return
        try:
            # Unbuffered: someone following the log sees output as the process makes it.
            _write_all(1, keep)
        except OSError as e:
            # Disk full or similar: the process must still be supervised; its output is what we lose.
            print(f"sengu log keeper: writing the log failed ({e.strerror}); output dropped from here", file=sys.stderr)
            self.write_failed = True
            self.dropped += len(keep)
            return
        self.log_bytes += len(keep)
        self.ends_with_newline = keep.endswith(b"\n")

    def finish(self) -> None:
        if self.keep_log and self.dropped and not self.write_failed:
            lead = b"" if self.ends_with_newline else b"\n"
            try:
                _write_all(1, lead + cap_note(self.cap, self.dropped))
            except OSError as e:
                print(f"sengu log keeper: writing the log cap note failed: {e.strerror}", file=sys.stderr)
        # Nobody may be listening: the engine died, and its successor reads the log file instead.
        with contextlib.suppress(OSError):
            _write_all(self.engine_fd, frame(SUMMARY, f"{self.log_bytes} {self.dropped}".encode()))


def main(argv: list[str]) -> int:
    cap, keep_log, stream, engine_fd = int(argv[1]), argv[2] == "1", argv[3] == "1", int(argv[4])
    keeper = Keeper(cap, keep_log, stream, engine_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    try:
        while data := os.read(0, CHUNK):
            keeper.take(data)
    except _Stop:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    keeper.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
