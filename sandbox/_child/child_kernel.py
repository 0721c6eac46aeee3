from __future__ import annotations

import ctypes
import os
import pickle


CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RDONLY = 1
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

SERVER_PIDS_MAX = 4096  # all jobs of one fork server together
SANDBOX_UID_BASE = 200_000  # uids nobody on the host uses; one per running job
SANDBOX_UID_SPAN = 50_000
SOLUTION_FILENAME = "<solution>"
SOLUTION_MODULE = "__solution__"
DETAIL_CHARS = 500
MAX_RECORD_BYTES = 16 * 1024 * 1024

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


# --------------------------------------------------------------------------- kernel helpers
def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, value, 0, 0, 0), f"prctl({option})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def umount(target: str) -> None:
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _readable_by_others(path: str) -> bool:
    """Whether an unprivileged user can reach ``path`` (every ancestor has o+x)."""
    parts = os.path.abspath(path).split("/")
    for i in range(2, len(parts) + 1):
        prefix = "/".join(parts[:i]) or "/"
        try:
            if not os.stat(prefix).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True

def _read_payload(payload_fd: int) -> dict:
    os.lseek(payload_fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(payload_fd, 1 << 20):
        chunks.append(chunk)
    os.close(payload_fd)
    return pickle.loads(b"".join(chunks))  # written by the trusted parent


# --------------------------------------------------------------------------- outcome text
def _truncate(text: str, limit: int = DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _exception_status(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return "memory_exceeded"
    return f"error:{type(error).__name__}"


def _exception_detail(error: BaseException) -> str:
    try:
        return _truncate(f"{type(error).__name__}: {error}")
    except BaseException:  # noqa: BLE001
        return type(error).__name__
