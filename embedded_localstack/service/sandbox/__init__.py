"""The sandbox of an execution environment: command line, environment and containment of function processes.

Both a freshly started environment (executor.py) and a pre-started spare (spares.py) are started by
:func:`launch.launch`, so the two can never drift. With the sandbox on (``EMBEDDED_LAMBDA_SANDBOX=auto|bwrap``, read
when LocalStack starts) every process runs inside bubblewrap, shaped like a Lambda execution environment:

* user, pid, mount, ipc, uts and cgroup namespaces; uid 993 / gid 990 inside (AWS's ``sbx_user1051``), no
  capabilities, a seccomp filter (``seccomp``); ``--die-with-parent`` and a pid namespace, so the whole
  environment dies with its first process; as root, 993 is an unprivileged host user (``hostside``);
* read-only everything but ``/tmp``: ``/usr`` (libraries), the interpreter's prefix at ``/var/lang`` (AWS's path),
  our runtime loop at ``/var/runtime``, the function's code at ``/var/task``, the runtime packages at
  ``/var/lang/lib/<runtime>/site-packages`` (when they exist on the host), a few files of ``/etc`` (resolver,
  CA certificates); as root these are staged, so no host path shows in the sandbox's mount table;
* private: ``/proc``, a ``/dev`` of character devices (no ``shm``), ``/tmp`` as a tmpfs capped at the function's
  EphemeralStorage, an empty ``/opt``; nothing else of the host (no home, no checkout, no LocalStack state, no
  other function);
* cgroups (v1 ``memory``, ``pids``, ``cpu`` and ``freezer`` hierarchies, when they can be created): MemorySize for
  the function's memory with /tmp apart, as AWS counts them; 1024 processes/threads; one core (or AWS's share of
  one, ``EMBEDDED_LAMBDA_CPU=aws``); frozen between invocations; caps over all environments of one LocalStack;
* network: its own namespace through pasta, only LocalStack's functions' gateway forwarded, no address of the host
  reachable;
* nothing of the function reaches a process outside the sandbox: the host-side ones start with a fixed
  environment, the function's variables travel in bwrap's ``--args`` descriptor.

``off`` runs the interpreter directly on the host, as before the sandbox existed (host paths for the task root,
the runtime dir and the packages). ``auto`` probes bubblewrap once and falls back to ``off`` with one warning.
Standard library only: imported by the executor inside LocalStack and by the launcher in the harness.

Modules: ``mode`` (sandboxed or not, the probes, the confinement), ``layout`` (what the function sees: AWS's
paths, identity, variables, the runtime's command), ``view`` (its file system as data, and resolving a path in
it), ``bwrap`` (bubblewrap's command line), ``hostside`` (the host-side processes: environment, uid, stage),
``seccomp`` (the filter), ``network`` (the function's own network namespace through pasta), ``host_addresses`` (no
address of the host reachable from it), ``cgroups`` (limits, and clearing what a dead LocalStack left),
``watcher`` (MemorySize with /tmp apart, the caps' warnings), ``freezer`` (frozen between invocations), ``launch``
(the one launcher thread: start and end an environment).
"""
