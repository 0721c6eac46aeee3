from __future__ import annotations

import json
import math
import os
import pickle
import resource
import signal
import _signal
import sys
import time

from child_kernel import (  # noqa: E501
    _read_payload,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUTS,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    SANDBOX_UID_BASE,
    SANDBOX_UID_SPAN,
    _write_all,
    mount,
    prctl,
    umount,
    unshare,
)
from child_runner import Runner

# --------------------------------------------------------------------------- isolation
WORK_DIR = "/tmp/work"  # in the sandbox's own /tmp: working-directory slots (fork server) or the job's tmpfs (spawn)


def _kept_paths(under: str, candidates) -> list[str]:
    """The existing directories among ``candidates`` inside ``under``, outermost only."""
    found = sorted({path for path in candidates if path.startswith(under + "/") and os.path.isdir(path)})
    return [path for path in found if not any(path.startswith(other + "/") for other in found)]


def _cover_keeping(target: str, options: str, keep: list[str], holds_dir: str) -> None:
    """Mount an empty tmpfs on ``target``; the directories in ``keep`` (inside it) stay, read-only.

    Each kept directory is bind-mounted aside (into ``holds_dir``, which must not be inside
    ``target``), the tmpfs goes on, and the directory is re-created there and bound back.
    """
    holds = []
    for i, path in enumerate(keep):
        hold = f"{holds_dir}/.hold{i}"
        os.mkdir(hold)
        mount(path, hold, None, MS_BIND | MS_REC)
        holds.append((hold, path))
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for hold, path in holds:
        os.makedirs(path, exist_ok=True)
        mount(hold, path, None, MS_BIND | MS_REC)
        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        umount(hold)
        os.rmdir(hold)


def setup_namespace_mounts(site_packages=()) -> None:
    """As root in fresh mount + pid namespaces: the file system every job then sees.

    The host's root file system becomes read-only (no job can write to the host disk, its
    home or the project), /proc shows only this pid namespace (hidepid=2: only one's own
    processes), /tmp and /dev/shm are small private tmpfs that only root can write, and the
    home of root is hidden. Kept, read-only, inside /tmp and root's home: the interpreter and
    the site-packages directories programs import installed libraries from (a virtualenv in a
    checkout under /tmp, or a pyenv under /root), and nothing else of those trees.
    """
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    interpreter = (sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable)))
    wanted = [os.path.realpath(path) for path in (*interpreter, *site_packages)]
    holds_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
    if holds_dir:
        # /dev/shm's own tmpfs first: it holds /tmp's kept directories while /tmp is covered.
        mount("tmpfs", holds_dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=755")
    tmp_keep = _kept_paths("/tmp", wanted) if holds_dir else []
    _cover_keeping("/tmp", "size=4m,mode=755", tmp_keep, holds_dir or "/")
    if os.path.isdir("/root"):
        _cover_keeping("/root", "size=1m,mode=755", _kept_paths("/root", wanted), "/tmp")
    os.mkdir(WORK_DIR, 0o755)


def work_dir_size_mb(file_size_mb: int) -> int:
    """Room in a job's private working directory (a tmpfs)."""
    return max(16, file_size_mb * 4)


def mount_job_tmpfs(limits: dict, uid: int) -> None:
    """The job's private working directory: a tmpfs of bounded size, owned by the job's uid."""
    size_mb = work_dir_size_mb(limits["file_size_mb"])
    mount("tmpfs", WORK_DIR, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=700,uid={uid},gid={uid}")


class WorkDirSlots:
    """Private working directories for the fork server's jobs, reused instead of made per job.

    Each slot is its own tmpfs (so its size is the job's bound and a full disk is the job's
    alone) under the server's /tmp/work, mode 700 and handed to the job's own uid: a job
    cannot enter another's. A slot is wiped when its job is over and all its processes are
    gone. A slot costs a chown and a directory scan; a fresh mount namespace and tmpfs per job
    cost their set-up and, at the job's exit, the namespace's teardown.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.free: list[tuple[str, int]] = []  # (path, size_mb)
        self.created = 0

    def take(self, size_mb: int, uid: int) -> tuple[str, int]:
        slot = next((s for s in self.free if s[1] == size_mb), None)
        if slot is not None:
            self.free.remove(slot)
            path = slot[0]
        elif self.free:
            path, _ = self.free.pop()
            mount(None, path, None, MS_REMOUNT | MS_NOSUID | MS_NODEV, f"size={size_mb}m")
        else:
            self.created += 1
            path = f"{self.root}/{self.created}"
            os.mkdir(path, 0o700)
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=700")
        os.chown(path, uid, uid)
        return path, size_mb

    def release(self, slot: tuple[str, int]) -> None:
        path, size_mb = slot
        try:
            os.chown(path, 0, 0)
            leftovers = list(os.scandir(path))
            if len(leftovers) <= 16 and all(entry.is_file(follow_symlinks=False) for entry in leftovers):
                for entry in leftovers:  # a few files (a stdio job's stdin/stdout): delete them
                    os.unlink(entry.path)
            else:  # anything else: a fresh tmpfs is quicker and surer than a deep delete
                umount(path)
                mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=700")
        except OSError:
            return  # a slot that cannot be reset is not reused
        self.free.append(slot)


def _apply_rlimits(limits: dict) -> None:
    def set_limit(kind: int, value: int) -> None:
        resource.setrlimit(kind, (value, value))

    set_limit(resource.RLIMIT_CORE, 0)
    set_limit(resource.RLIMIT_CPU, max(1, int(math.ceil(limits["cpu_s"]))))
    set_limit(resource.RLIMIT_FSIZE, limits["file_size_mb"] * 1024 * 1024)
    set_limit(resource.RLIMIT_NOFILE, max(limits["open_files"], 16))
    set_limit(resource.RLIMIT_NPROC, limits["max_processes"])
    set_limit(resource.RLIMIT_AS, limits["memory_mb"] * 1024 * 1024)


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:  # pragma: no cover - would mean the drop did not happen
        raise RuntimeError("privilege drop failed: setuid(0) succeeded")
    if 0 in os.getresuid() or 0 in os.getresgid():
        raise RuntimeError("privilege drop failed: still uid/gid 0")


def _total_memory_bytes() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 4 << 30


def _job_uid(seed: int) -> int:
    return SANDBOX_UID_BASE + seed % SANDBOX_UID_SPAN




def _report_setup_failure(job: dict | None, result_fd: int, error: BaseException) -> None:
    try:
        nonce = job["nonce"] if job else ""
        line = json.dumps([nonce, "E", f"sandbox set-up failed: {type(error).__name__}: {error}"])
        _write_all(result_fd, line.encode() + b"\n")
    finally:
        os._exit(71)


def _enter_job_baseline() -> None:
    """What every job inherits from the process that forks it, set once there.

    The environment jobs see (HOME and TMPDIR are added per job), and no_new_privs: no
    execve can gain privileges (set-uid binaries) in this process or any descendant. Set in
    the zygote, jobs skip a ctypes call and an environment rebuild each (page faults after
    the fork).
    """
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"})
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def _enter_and_run(job: dict, result_fd: int, out_fd: int, work: str, uid: int | None, channel_fd: int | None = None) -> None:
    """Last steps in the sandboxed process (as root until the drop), then the runner. Never returns.

    ``channel_fd``: a judge's end of the socket to its candidate's job.
    """
    try:
        if channel_fd is not None:
            # Not dumpable: a candidate of the same uid (no privilege drop) cannot ptrace this
            # process or open its /proc/<pid>/{mem,fd}; set before anything is read.
            prctl(PR_SET_DUMPABLE, 0)
            job["channel_fd"] = channel_fd
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            _signal.signal(sig, _signal.SIG_DFL)  # the C function: no enum conversion per call
        limits = job["limits"]
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        keep = sorted({0, 1, 2, result_fd} | ({channel_fd} if channel_fd is not None else set()))
        for low, high in zip(keep, keep[1:] + [65536]):
            os.closerange(low + 1, high)
        os.environ["HOME"] = os.environ["TMPDIR"] = work  # the rest: _enter_job_baseline()
        os.chdir(work)
        if uid is not None:
            _drop_privileges(uid)
        _apply_rlimits(limits)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
    except BaseException as error:  # noqa: BLE001
        _report_setup_failure(job, result_fd, error)
    try:
        Runner(job, result_fd).run()
    except BaseException:  # noqa: BLE001 - the parent reports what was not reported
        pass
    os._exit(0)


# --- cgroups (v1 pids + memory), one per job under one directory per server
def _cgroup_roots() -> dict[str, str]:
    roots = {}
    try:
        with open("/proc/self/cgroup") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return roots
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(","):
            if controller in ("pids", "memory"):
                path = f"/sys/fs/cgroup/{controller}{parts[2].rstrip('/')}"
                if os.path.isdir(path):
                    roots[controller] = path
    return roots


class JobCgroups:
    """Creates, fills and sweeps per-job cgroups. ``available`` says whether it works here."""

    def __init__(self, name: str) -> None:
        self.base: dict[str, str] = {}
        self.error = ""
        roots = _cgroup_roots()
        if set(roots) != {"pids", "memory"}:
            self.error = "no v1 pids and memory controllers in /proc/self/cgroup"
            return
        try:
            for controller, root in roots.items():
                path = f"{root}/{name}"
                os.makedirs(path, exist_ok=True)
                self.base[controller] = path
        except OSError as error:
            self.error = f"cannot create a cgroup: {error}"
            self.remove_base()
            self.base = {}

    @property
    def available(self) -> bool:
        return bool(self.base)

    def create(self, job_id: int) -> dict[str, str]:
        paths = {}
        for controller, base in self.base.items():
            path = f"{base}/j{job_id}"
            os.mkdir(path)
            paths[controller] = path
        return paths

    def limit_and_enter_base(self, pids_max: int, memory_bytes: int) -> None:
        """Backstop for all jobs of this server together: the zygote moves itself in."""
        with open(self.base["pids"] + "/pids.max", "w") as handle:
            handle.write(str(pids_max))
        with open(self.base["memory"] + "/memory.limit_in_bytes", "w") as handle:
            handle.write(str(memory_bytes))
        for path in self.base.values():
            with open(path + "/cgroup.procs", "w") as handle:
                handle.write(str(os.getpid()))

    @staticmethod
    def join(paths: dict[str, str], limits: dict) -> None:
        """In the job process, still root: set the limits, then move itself in."""
        with open(paths["pids"] + "/pids.max", "w") as handle:
            handle.write(str(limits["max_processes"]))
        with open(paths["memory"] + "/memory.limit_in_bytes", "w") as handle:
            handle.write(str(limits["memory_mb"] * 1024 * 1024))
        me = str(os.getpid())
        for path in paths.values():
            with open(path + "/cgroup.procs", "w") as handle:
                handle.write(me)

    @staticmethod
    def kill_all(paths: dict[str, str]) -> None:
        procs = paths.get("pids", "") + "/cgroup.procs"
        for _ in range(100):
            try:
                with open(procs) as handle:
                    pids = [int(x) for x in handle.read().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.001)

    @staticmethod
    def oom_kills(paths: dict[str, str]) -> int:
        try:
            with open(paths["memory"] + "/memory.oom_control") as handle:
                for line in handle:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
            with open(paths["memory"] + "/memory.failcnt") as handle:
                return 1 if int(handle.read().strip() or 0) else 0
        except (OSError, ValueError, KeyError):
            return 0
        return 0

    @staticmethod
    def remove(paths: dict[str, str]) -> None:
        for path in paths.values():
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.002)

    @staticmethod
    def remove_leftovers(name: str) -> None:
        for controller, root in _cgroup_roots().items():
            path = f"{root}/{name}"
            if os.path.isdir(path):
                for entry in os.listdir(path):
                    if entry.startswith("j"):
                        JobCgroups.kill_all({"pids": f"{path}/{entry}"} if controller == "pids" else {})
                        JobCgroups.remove({controller: f"{path}/{entry}"})
                try:
                    os.rmdir(path)
                except OSError:
                    pass

    def remove_base(self) -> None:
        for path in self.base.values():
            try:
                for entry in os.listdir(path):
                    if entry.startswith("j"):
                        try:
                            os.rmdir(f"{path}/{entry}")
                        except OSError:
                            pass
                os.rmdir(path)
            except OSError:
                pass


def _kill_descendants() -> None:
    """Without namespaces: as a subreaper, kill and reap whatever the job left behind."""
    for _ in range(50):
        children = _children_of(os.getpid())
        if not children:
            break
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _pid in children:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break


def _schedstat(pid: int) -> tuple[int, int]:
    """(ns on a CPU, ns runnable but waiting for one) over the life of ``pid``'s threads."""
    on_cpu = waiting = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                fields = handle.read().split()
            on_cpu += int(fields[0])
            waiting += int(fields[1])
    except (OSError, ValueError, IndexError):
        return -1, -1
    return on_cpu, waiting


def _children_of(pid: int) -> list[int]:
    result: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                result.extend(int(x) for x in handle.read().split())
    except OSError:
        pass
    return result


def keeper(payload_fd: int, result_fd: int, out_fd: int, config: dict, channel_fd: int | None = None) -> None:
    """Spawn mode: one fresh interpreter per job. Enter the namespaces, fork the job, wait."""
    job = _read_payload(payload_fd)
    drop = os.getuid() == 0 and config.get("drop_uid", True)
    namespaced = False
    if config.get("namespaces", True):
        try:
            unshare(CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
            namespaced = True
        except OSError:
            namespaced = False
    work_dir = None
    if not namespaced:
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        import tempfile

        work_dir = tempfile.mkdtemp(prefix="patflow-sandbox-")
    uid = _job_uid(os.getpid()) if drop else None
    _enter_job_baseline()
    pid = os.fork()
    if pid == 0:
        try:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if namespaced:
                setup_namespace_mounts(config.get("site_packages", ()))
                mount_job_tmpfs(job["limits"], uid if uid is not None else 0)
                work = WORK_DIR
            else:
                work = work_dir
                if uid is not None:
                    os.chown(work, uid, uid)
        except BaseException as error:  # noqa: BLE001
            _report_setup_failure(job, result_fd, error)
        _enter_and_run(job, result_fd, out_fd, work, uid, channel_fd)
    os.close(result_fd)
    os.close(out_fd)
    if channel_fd is not None:
        os.close(channel_fd)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if not namespaced:
        _kill_descendants()
        if work_dir:
            import shutil

            shutil.rmtree(work_dir, ignore_errors=True)
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99)


