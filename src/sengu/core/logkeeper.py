"""The log keeper: copies the output of started processes into their log files, from a process of its own.

``procs.start`` hands each process's output pipe to one log keeper per engine (started with the first
process that has a log or a stream, ended when the last is done). The job writes into a pipe this process
reads, so when the engine is killed the job's output still reaches its log, to the last line: the keeper
lives until every writer of every pipe it holds is gone (after a crash, until the restarted engine has
killed what the lost attempts left). A job writing straight into its file would survive the engine too,
but then nothing could stop it at the log cap. One keeper for all processes, not one each: starting a
Python process costs ~15 ms, which 250 jobs due in the same minute cannot afford.

Run as ``python -I -S logkeeper.py FD`` — standard library only, so it starts without site-packages. FD is
a SOCK_SEQPACKET Unix socket to the engine. Engine to keeper: ``open KEY CAP KEEP_LOG STREAM`` with the
pipe's read end and (when KEEP_LOG is 1) the log file as SCM_RIGHTS; ``stop KEY`` to stop reading a pipe
that a runaway descendant holds open. Keeper to engine: ``o`` + KEY (4 bytes) + a chunk of output (only for
STREAM 1, uncapped), and last ``s`` + KEY + ``LOG_BYTES DROPPED_BYTES`` when a pipe is done. When the engine
is gone the keeper stops sending and goes on logging. SIGTERM: finish every pipe (cap notes) and exit.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import struct
import sys
from types import FrameType

CHUNK = 65536
OUTPUT = b"o"
SUMMARY = b"s"
KEY = struct.Struct(">I")
MAX_MESSAGE = 1 + KEY.size + CHUNK


class _Stop(Exception):
    pass


def _on_term(signum: int, frame: FrameType | None) -> None:
    # Raised out of the blocking select: the keeper stops reading and finishes what it holds.
    raise _Stop


def cap_note(cap: int, dropped: int) -> bytes:
    return f"[sengu] log cap of {cap} bytes reached: dropped {dropped} bytes of output\n".encode()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _complain(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"sengu log keeper: {text}\n".encode())


class Pipe:
    """One process's output: its pipe, its log file, the cap."""

    def __init__(self, key: int, fd: int, log_fd: int | None, cap: int, stream: bool):
        self.key = key
        self.fd = fd
        self.log_fd = log_fd
        self.cap = cap
        self.stream = stream
        self.log_bytes = 0
        self.dropped = 0
        self.ends_with_newline = True
        self.write_failed = False

    def take(self, data: bytes) -> None:
        if self.log_fd is None:
            return
        room = 0 if self.write_failed else self.cap - self.log_bytes
        keep = data[: max(room, 0)]
        self.dropped += len(data) - len(keep)
        if not keep:
            return
        try:
            # Unbuffered: someone following the log sees output as the process makes it.
            _write_all(self.log_fd, keep)
        except OSError as e:
            # Disk full or similar: the process must still be supervised; its output is what we lose.
            _complain(f"writing a log failed ({e.strerror}); its output is dropped from here")
            self.write_failed = True
            self.dropped += len(keep)
            return
        self.log_bytes += len(keep)
        self.ends_with_newline = keep.endswith(b"\n")

    def finish(self) -> bytes:
        """Write the cap note, close both ends; the summary message for the engine."""
        if self.log_fd is not None:
            if self.dropped and not self.write_failed:
                lead = b"" if self.ends_with_newline else b"\n"
                try:
                    _write_all(self.log_fd, lead + cap_note(self.cap, self.dropped))
                except OSError as e:
                    _complain(f"writing the log cap note failed: {e.strerror}")
            os.close(self.log_fd)
        os.close(self.fd)
        return SUMMARY + KEY.pack(self.key) + f"{self.log_bytes} {self.dropped}".encode()


class Keeper:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.engine = True  # the engine is there to hear from us
        self.pipes: dict[int, Pipe] = {}
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ, None)

    def send(self, message: bytes) -> None:
        if not self.engine:
            return
        try:
            self.sock.send(message)
        except OSError:
            self.engine = False  # gone (killed): its successor reads the log files instead

    def run(self) -> None:
        while self.engine or self.pipes:
            for key, _ in self.selector.select():
                if key.data is None:
                    self.from_engine()
                else:
                    self.from_pipe(key.data)

    def from_engine(self) -> None:
        try:
            message, fds, _, _ = socket.recv_fds(self.sock, 256, 2)
        except OSError:
            message, fds = b"", []
        if not message:
            self.engine = False
            self.selector.unregister(self.sock)
            for fd in fds:
                os.close(fd)
            return
        words = message.split()
        if words[0] == b"open":
            key, cap, keep_log, stream = int(words[1]), int(words[2]), words[3] == b"1", words[4] == b"1"
            pipe = Pipe(key, fds[0], fds[1] if keep_log else None, cap, stream)
            os.set_blocking(pipe.fd, False)
            self.pipes[key] = pipe
            self.selector.register(pipe.fd, selectors.EVENT_READ, pipe)
        elif words[0] == b"stop":
            stopped = self.pipes.get(int(words[1]))
            if stopped is not None:
                self.done(stopped)

    def from_pipe(self, pipe: Pipe) -> None:
        try:
            data = os.read(pipe.fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.done(pipe)
            return
        if pipe.stream:
            self.send(OUTPUT + KEY.pack(pipe.key) + data)
        pipe.take(data)

    def done(self, pipe: Pipe) -> None:
        self.selector.unregister(pipe.fd)
        del self.pipes[pipe.key]
        self.send(pipe.finish())

    def finish_all(self) -> None:
        for pipe in list(self.pipes.values()):
            self.done(pipe)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    keeper = Keeper(socket.socket(fileno=int(argv[1])))
    try:
        keeper.run()
    except _Stop:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        keeper.finish_all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
