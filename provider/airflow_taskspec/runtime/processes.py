"""Stopping a command together with everything it started: its process group.

Commands are started in a process group of their own (``start_new_session=True``), so a timeout or a kill can
reach the processes a command left in the background, not only its first process. ``stop`` returns once every
process of the group has exited (or after ``grace_seconds`` and a SIGKILL), not merely once the first process
has: a signal is delivered asynchronously, and a background child can outlive its parent by as long as it
takes to be scheduled (or to run its own TERM handler).

Standard library only: used by the local backend and by the notebook runner, without Airflow.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time

KILL_WAIT_SECONDS = 5.0
"""After SIGKILL, how long to wait for the group's processes to be gone (they cannot refuse; this only bounds
a process stuck in the kernel, e.g. on a dead NFS mount)."""


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid``, from /proc; empty where there is no /proc."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after its last ")".
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            members.append(int(entry))
    return members


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until every process in ``pids`` has exited (a zombie counts as exited), at most ``timeout`` seconds;
    the ones still running. Waits on pidfds (woken by the kernel when a process exits), not by polling, where
    the platform has them."""
    deadline = time.monotonic() + timeout
    pending = {pid: _pidfd(pid) for pid in pids}
    try:
        while True:
            pending = {pid: fd for pid, fd in pending.items() if _running(pid, fd)}
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0:
                return sorted(pending)
            fds = [fd for fd in pending.values() if fd is not None]
            if len(fds) == len(pending):
                select.select(fds, [], [], remaining)
            else:  # no pidfd for some (an old kernel, another OS): look again shortly
                time.sleep(min(0.05, remaining))
    finally:
        for fd in pending.values():
            if fd is not None:
                os.close(fd)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd_open here, or the process is already gone
        return None


def _running(pid: int, fd: int | None) -> bool:
    if fd is not None:
        readable, _, _ = select.select([fd], [], [], 0)
        if not readable:
            return True
        os.close(fd)
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] != b"Z"


def stop(process: subprocess.Popen[bytes], grace_seconds: float = 10) -> None:
    """Stop ``process`` (started as the leader of its own process group) and everything in its group: SIGTERM
    to the group, SIGKILL to what is left after ``grace_seconds``. Returns when the group's processes have
    exited (the leader reaped)."""
    if process.poll() is not None:
        return
    pgid = process.pid
    deadline = time.monotonic() + grace_seconds
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        pass
    left = wait_gone(group_members(pgid), max(0.0, deadline - time.monotonic()))
    if process.poll() is None or left:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        wait_gone(group_members(pgid), KILL_WAIT_SECONDS)
