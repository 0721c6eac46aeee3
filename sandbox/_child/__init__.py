"""The child side of the sandbox: isolation layers, the warm fork server, the runner and the judge.

Standard library only, no ``sandbox`` imports: it runs as a directory,
``python -S -P sandbox/_child server FD CONFIG`` (the warm fork server), ``... spawn ...`` (one
fresh interpreter per execution, the fallback) and ``... probe`` (what ``isolation_report``
shows); Python puts this directory first on ``sys.path``, so its modules import each other by
their ``child_*`` names. The parent imports the same modules through this package.

Modules, each importing only those above it (one job each):
- ``child_kernel``     libc calls (unshare, mount, prctl), constants, fd helpers, outcome text.
- ``child_codec``      the restricted encoding of outputs (plain data only), packing, digests.
- ``child_guards``     comparison/assert guards compiled into test code; the tamper snapshot.
- ``child_plan``       (parent side) which candidate calls a judged test makes, for one batch.
- ``child_judge``      the judge's link to the candidate (handles, batches) and the candidate's
                       request loop at the other end of the socket.
- ``child_runner``     the runner: call and stdio tests, the judge's side of check_function /
                       asserts, a pooled judge's loop (``serve_judgements``).
- ``child_isolation``  working directories, rlimits, uid drop, cgroups, job entry, spawn keeper.
- ``child_server``     the warm fork server (launcher, zygote), warm-up, probe, ``main``.
Nothing here decides a verdict for CallTests or StdioTests: the child reports outputs only
and the parent (``sandbox/executor.py``) compares them; check_function / asserts verdicts come
from a judge job that never runs candidate code (below).

Process layout (fork-server mode, the default)::

    launcher (python -S -P _child server)         unshare(net, pid, mount, ipc, uts), fork
      └─ zygote: pid 1 of the new pid namespace. Read-only view of the host file system,
         fresh /proc (hidepid=2), private /tmp and /dev/shm, root's home hidden except the
         interpreter; pids + memory cgroup backstop; common modules imported. Never runs
         candidate code; forks one job per request and reaps it.
           └─ job: a bounded tmpfs of its own as its working directory (a reused slot,
              0700, wiped between jobs), unprivileged uid (one per job), no_new_privs,
              rlimits (CPU, address space,
              processes, file size, open files, no core), scrubbed environment, stdin
              /dev/null, stdout/stderr to a capped pipe, new session. Runs the tests.

Orphans (double-forked daemons) are re-parented to the zygote (pid 1) and killed when any
job ends; everything left dies with the pid namespace when the zygote exits. In spawn mode
each execution enters its own namespaces (the spawned interpreter is the keeper, the job is
pid 1). Without namespaces (``PATFLOW_SANDBOX_NAMESPACES=0`` or a kernel that refuses) the
zygote/keeper is a child subreaper that kills what is left, and the working directory is a
private 0700 directory under the host's /tmp; world-writable host directories are then
writable by the job's uid.

Which guarantees hold where (``patflow doctor`` prints the layers):
- always: rlimits, scrubbed environment, private working directory, closed stdin, capped
  output, whole-tree kill, result records only with the per-run nonce;
- as root: uid drop (RLIMIT_NPROC then holds; other processes' /proc/*/environ unreadable);
- with unshare(2) allowed (Linux >= 3.8, root or user namespaces): no network at all (not
  even loopback), no view of other processes, read-only host file system;
- with writable cgroup v1 pids + memory controllers: a backstop for all jobs of one server
  (per-job cgroups with ``PATFLOW_SANDBOX_JOB_CGROUPS=1``; they cost ~1-5 ms per job here).

Verdicts no candidate can forge (check_function / asserts): the test code (the dataset's
``check``, asserts, trusted helpers, imports) runs in a *judge* job, the candidate's program
in a job of its own (another uid when run as root; on every kernel the judge is not
dumpable, so a same-uid candidate cannot ptrace it or read its /proc/<pid>/{mem,fd}). They
share one stream socket and nothing else: each call of the candidate from test code is a
request (pickled arguments: the judge is trusted) and the answer is the restricted codec's
JSON (plain data), an exception's name and message, or an opaque handle to an object that
stays in the candidate's process (calling, iterating, ``str``/``len``/``bool`` or reading a
public attribute of a handle is another request; it equals only itself). Top-level list,
dict, set and bytearray arguments travel back after each call, so in-place mutation tests
work. A check (or assert list) made of straight-line ``assert candidate(<literals>) ...``
statements sends its calls as one batch and reads the answers in order (``child_plan``
says when that is the same as round trips: same calls, same order, no argument seen
earlier than a round trip would show it). ``setup_code`` runs candidate-side (MBPP's ``Node`` trees), and the names it binds
reach the tests like the program's own: plain values by value, objects as handles. A name
the test code reads resolves, the later winning: the program's (a module by name,
re-imported in the judge if it is standard library), the trusted imports and helpers, the
entry point; builtin names are the judge's own unless one is the entry point. The nonce, the expected values, frames and the result fd
exist only in the judge; the candidate's side writes only to its socket and the capped
output pipe. A closed socket or a malformed answer ends the judge at once (exit 72 / 73),
and the parent reports the test from the candidate's exit status, never as passed; a
candidate's load-failure status is reported only if it is a failure status.

Reward hacks, what else is caught:
- Call tests: a returned object of a class the solution defined (its ``__module__`` is the
  solution's, or one of its methods was compiled from the solution) that overrides comparison
  is refused (``error:UnencodableOutput``); plain subclasses cross as their base, so a class
  that lies about ``__module__`` and reuses a builtin comparison crosses as the plain value.
- Replacing names in ``builtins`` or functions in math, operator, functools, itertools,
  collections, re, json: in call tests, checked after loading and after every passing test
  (CPython's dict version tags make this ~free; "reward hack: ..."). In the judged formats
  the patch stays in the candidate's process, which the tests never use.
- ``sys.exit`` / ``SystemExit`` anywhere is ``error:SystemExit``; ``os._exit`` or killing
  itself leaves no record (``no_result`` / ``crashed``); a forked copy of the runner (or of
  the candidate's request loop) never reports (fork-and-guess); text on stdout/stderr is never
  read as a verdict.
- Reading expected values from the caller's frames, bytecode or ``gc``: the candidate's
  process holds none in any format (call and stdio outputs are compared in the parent).
What is not caught:
- Test code that hands the candidate what it checks (an expected value as an argument).
  Helpers a test uses that the TestSpec does not carry as trusted ``helpers`` resolve to
  the program's definitions (remote calls the candidate answers). Test code that passes a
  function or object the candidate's process cannot unpickle gets an error, not a verdict.
- In a batched check the candidate sees every call's arguments before its first answer.
  ``child_plan`` refuses a batch when any part of a compared value (numbers by value, lists
  as tuples) first appears in a later call's arguments; an answer that only a computation
  from a later argument yields (not equal to any part of it) is not detected. Set
  ``PATFLOW_SANDBOX_BATCH=0`` for one round trip per call (the order of the old guarantee).
- Tampering with objects through ``ctypes`` inside the candidate's own process. Jobs of one
  server share its network namespace (no interface is up, but abstract unix sockets could
  connect two concurrent jobs).
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)  # the child modules import each other by their top-level names

from child_codec import (  # noqa: E402
    DIGEST_THRESHOLD_BYTES,
    PACK_MAX_ITEMS,
    Unencodable,
    _hash_hex,
    _output_record,
    _packed_numbers,
    _some_double_reaches_2_49,
    canonical_digest,
    encode,
)
from child_guards import precompile_test_code  # noqa: E402
from child_plan import plan_asserts, plan_check  # noqa: E402
from child_isolation import JobCgroups, work_dir_size_mb  # noqa: E402
from child_runner import CANDIDATE_GONE_EXIT, MALFORMED_REPLY_EXIT, _record_encoder, serve_judgements  # noqa: E402

__all__ = [
    "CANDIDATE_GONE_EXIT",
    "DIGEST_THRESHOLD_BYTES",
    "JobCgroups",
    "MALFORMED_REPLY_EXIT",
    "PACK_MAX_ITEMS",
    "Unencodable",
    "_hash_hex",
    "_output_record",
    "_packed_numbers",
    "_record_encoder",
    "_some_double_reaches_2_49",
    "canonical_digest",
    "encode",
    "plan_asserts",
    "plan_check",
    "precompile_test_code",
    "serve_judgements",
    "work_dir_size_mb",
]
