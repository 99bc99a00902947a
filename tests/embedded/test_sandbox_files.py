"""Hostile functions against the sandbox's files: what they may write, what they learn of the host's layout, which
package files they may read, where an exec wrapper is looked up.

Real embedded LocalStack (the session's, sandboxed, as root: sources staged, embedded_localstack/service/sandbox/
hostside.py and view.py), real functions. AWS: only /tmp is writable, there is no /dev/shm, the package's file
modes are kept (Lambda needs them world-readable), and nothing of the service's host shows inside.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from embedded_helpers import invoke
from support import zip_entry

from embedded_localstack.service.interpreters import InterpreterResolver
from embedded_localstack.service.sandbox.layout import interpreter_prefix

pytestmark = pytest.mark.embedded

REPO_ROOT = Path(__file__).resolve().parents[2]

FILES = r"""
import errno, multiprocessing, os, stat, subprocess


def attempt(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))


def write(path):
    with open(path, "w") as planted:
        planted.write("x")


def proc_texts():
    texts = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() or entry == "self":
            for name in ("cmdline", "environ", "mountinfo"):
                try:
                    with open(f"/proc/{entry}/{name}", "rb") as source:
                        texts[f"/proc/{entry}/{name}"] = source.read().decode(errors="replace")
                except OSError:
                    continue
    return texts


def lambda_handler(event, context):
    places = ["/", "/etc", "/var", "/opt", "/dev", "/usr", "/var/task", "/var/runtime", "/var/lang", "/tmp"]
    task = "/var/task/"
    return {
        "writes": {place: attempt(lambda p=place: write(os.path.join(p, "planted"))) for place in places},
        "mkdir": {place: attempt(lambda p=place: os.mkdir(os.path.join(p, "planted-dir"))) for place in places},
        "dev": sorted(os.listdir("/dev")),
        "shm": os.path.exists("/dev/shm"),
        "semaphore": attempt(multiprocessing.Lock),
        "texts": proc_texts(),
        "environ": dict(os.environ),
        "modes": {name: stat.S_IMODE(os.stat(task + name).st_mode) for name in ("secret.txt", "public.txt",
                                                                                   "private", "tool.sh", "")},
        "reads": {name: attempt(lambda n=name: open(task + n).read()) for name in ("secret.txt", "public.txt",
                                                                                  "private/inside.txt")},
        "list_private": attempt(lambda: os.listdir(task + "private")),
        "tool": subprocess.run([task + "tool.sh"], capture_output=True, text=True, check=False).stdout,
    }
"""


def _package() -> bytes:
    """The function, a 0600 file, a 0644 file, a 0700 directory with a 0644 file, a 0755 script."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zip_entry("lambda_function.py"), FILES)
        archive.writestr(zip_entry("secret.txt", 0o600), "only its owner")
        archive.writestr(zip_entry("public.txt"), "anyone")
        private = zipfile.ZipInfo("private/")
        private.create_system, private.external_attr = 3, (stat.S_IFDIR | 0o700) << 16
        archive.writestr(private, "")
        archive.writestr(zip_entry("private/inside.txt"), "behind a closed directory")
        archive.writestr(zip_entry("tool.sh", 0o755), "#!/bin/sh\necho tool ran\n")
    return buffer.getvalue()


def test_only_tmp_is_writable_and_nothing_of_the_host_shows(aws, deploy_function, embedded):
    name = deploy_function({}, zip_file=_package())
    seen = invoke(aws, name, {}).payload
    assert isinstance(seen, dict) and "writes" in seen, seen

    # AWS: a read-only file system but for /tmp.
    read_only = {place: outcome for place, outcome in seen["writes"].items() if place != "/tmp"}
    assert set(read_only.values()) <= {"EROFS", "EACCES"}, read_only
    assert {place: o for place, o in seen["mkdir"].items() if place != "/tmp"} == dict.fromkeys(read_only, "EROFS")
    assert seen["writes"]["/tmp"] == seen["mkdir"]["/tmp"] == "ok"
    # AWS has no /dev/shm: POSIX semaphores (multiprocessing's locks) fail; /tmp stays the one place to write.
    assert seen["shm"] is False and "shm" not in seen["dev"]
    assert seen["semaphore"] != "ok"

    # No host path in any process's command line, environment or mount table (bwrap's arguments come through a
    # descriptor; sources are staged and shown through overlays named lang, site-packages, runtime, task).
    prefix = interpreter_prefix(InterpreterResolver().resolve("python3.11"))
    host_paths = {str(REPO_ROOT), str(Path(embedded.settings.state_dir)), str(prefix), "/mnt/", str(Path.home())}
    texts = {**seen["texts"], "os.environ": "\n".join(f"{k}={v}" for k, v in seen["environ"].items())}
    leaks = {(where, path) for where, text in texts.items() for path in host_paths if path in text}
    assert not leaks, sorted(leaks)
    assert any(where.endswith("/mountinfo") for where in texts), sorted(texts)
    pid1 = seen["texts"]["/proc/1/cmdline"].split("\0")
    assert pid1[:2] == ["bwrap", "--args"] and pid1[3] == "--", pid1
    mounts = seen["texts"]["/proc/self/mountinfo"]
    assert " /var/task ro," in mounts and "lowerdir=task:empty" in mounts, mounts


def test_package_files_keep_their_modes_as_on_aws(aws, deploy_function):
    name = deploy_function({}, zip_file=_package())
    seen = invoke(aws, name, {}).payload
    # AWS keeps the archive's modes; Lambda needs code world-readable (its knowledge-center article: files 644,
    # directories 755), so a 0600 file or a 0700 directory is Permission denied to the function's user.
    assert seen["modes"] == {"secret.txt": 0o600, "public.txt": 0o644, "private": 0o700, "tool.sh": 0o755, "": 0o755}
    assert seen["reads"] == {"secret.txt": "EACCES", "public.txt": "ok", "private/inside.txt": "EACCES"}
    assert seen["list_private"] == "EACCES"
    assert seen["tool"] == "tool ran\n"


def test_an_exec_wrapper_is_looked_up_in_the_sandbox_only(aws, deploy_function, tmp_path):
    """Whether a wrapper path exists (or is executable) on the host makes no difference: only the sandbox's view
    counts, so a function cannot probe the host's files through its error messages."""
    host_only = tmp_path / "wrapper.sh"  # executable on the host, absent from the sandbox
    host_only.write_text('#!/bin/sh\nexec "$@"\n')
    host_only.chmod(0o755)
    handler = {"lambda_function.py": "def lambda_handler(e, c):\n    return 'wrapped'\n"}
    answers = {}
    for path in (str(host_only), str(tmp_path / "missing.sh"), "/etc/shadow", "/bin/env", "/var/task"):
        name = deploy_function(handler, environment={"AWS_LAMBDA_EXEC_WRAPPER": path})
        result = invoke(aws, name, {})
        if result.function_error is None:
            answers[path] = result.payload
        else:
            answers[path] = (result.payload["errorType"], result.payload["errorMessage"].split(" Error: ", 1)[1])
    assert answers == {
        str(host_only): ("Runtime.InvalidEntrypoint", f"fork/exec {host_only}: no such file or directory"),
        str(tmp_path / "missing.sh"): (
            "Runtime.InvalidEntrypoint",
            f"fork/exec {tmp_path / 'missing.sh'}: no such file or directory",
        ),
        "/etc/shadow": ("Runtime.InvalidEntrypoint", "fork/exec /etc/shadow: no such file or directory"),
        "/bin/env": "wrapped",  # /bin -> usr/bin inside, as on the host
        "/var/task": ("Runtime.InvalidEntrypoint", "fork/exec /var/task: permission denied"),
    }
