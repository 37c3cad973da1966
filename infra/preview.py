"""Offline preview: what the real program would declare, without AWS or the CLI.

`preview_resources` runs `declare_stack` under `pulumi.runtime.set_mocks`
(answers from `OfflineMocks`) and lists every resource it declared.
`check_policies` runs the policy pack's checks over that list, so `plan`
can refuse a campaign before anything is created.

Pulumi's mocks are process-wide state: its settings live in context
variables and its engine calls need an event loop. Each preview therefore
runs in a thread of its own, which starts with an empty context and no
event loop; the thread's loops are closed when it ends, the settings
defaults the SDK remembers across contexts are put back, and the caller's
context, event loop and any mocks it installed itself are never touched.
Previews may be called any number of times, from any thread or coroutine;
they run one at a time. A process that also drives the real engine (`run`,
`up`) calls `check_in_own_process` instead, which runs the preview and the
policy checks in a Python of its own: the mocks never enter that process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fmbench_orch.infra.errors import InfraError, PoliciesViolated, PreviewRefused
from fmbench_orch.infra.policy.checks import PolicyConfig, Violation, run_checks
from fmbench_orch.models.spec import StackSpec

# A syntactically valid ed25519 public key whose private half was discarded:
# the preview needs a key line, never a usable one.
PLACEHOLDER_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILqoo+tP6Z3GE8ShzNpk8zrY3BlrkT7OWa8uqVRywyhi "
    "fmbench-orch-preview"
)
PROJECT = "fmbench-orchestrator"
# The child imports pulumi and pulumi_aws (~1 s) and declares ~12 ms a host;
# the cap on hosts per campaign keeps a preview far below this.
OWN_PROCESS_TIMEOUT_S = 300
# One preview at a time: the defaults restored after each (see
# _settings_defaults_restored) are process-wide, so overlapping previews
# would restore each other's leftovers.
_PREVIEW_LOCK = threading.Lock()
# Where pulumi's ContextProperty keeps its default (name-mangled, private).
# Limitation: should the SDK rename it, the defaults are no longer put back —
# test_threads_started_after_a_preview_see_no_trace_of_its_mocks then fails.
_DEFAULT_ATTRIBUTE = "_ContextProperty__default"
# Registrations reach the engine in no fixed order; previews list resources in
# the order the program declares them (hosts in campaign order), so two
# previews of one spec are equal.
DECLARATION_ORDER = (
    "fmbench:index:ResultsBucket",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketServerSideEncryptionConfiguration:"
    "BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "fmbench:index:HostRole",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/instanceProfile:InstanceProfile",
    "aws:ec2/keyPair:KeyPair",
    "fmbench:index:HostNetwork",
    "aws:ec2/securityGroup:SecurityGroup",
    "fmbench:index:BenchmarkHost",
    "aws:ec2/instance:Instance",
)


@dataclass(frozen=True)
class StackPreview:
    """What one offline run of the program declared and exported.

    `resources`: one `{"type", "name", "inputs"}` per declared resource in
    declaration order, components included (`fmbench:index:…`). `inputs` are
    plain JSON with the wire's camelCase names (`instanceType`,
    `metadataOptions.httpTokens`), as the policy pack sees them.
    `outputs`: the stack outputs, resolved.
    """

    resources: list[dict[str, Any]]
    outputs: dict[str, Any]


def preview_resources(
    spec: StackSpec, public_key: str = PLACEHOLDER_PUBLIC_KEY
) -> list[dict[str, Any]]:
    """Every resource `declare_stack` declares for `spec`, in declaration order."""
    return preview_stack(spec, public_key).resources


def preview_stack(
    spec: StackSpec,
    public_key: str = PLACEHOLDER_PUBLIC_KEY,
    mocks: Any = None,
) -> StackPreview:
    """Run the program once under mocks; `mocks` defaults to fresh OfflineMocks.

    Raises whatever the program raises (for example NoSubnetForInstanceType).
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["preview"] = _run_program(spec, public_key, mocks)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    with _PREVIEW_LOCK, _settings_defaults_restored():
        worker = threading.Thread(target=run, name=f"preview-{spec.stack_name}")
        worker.start()
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["preview"]


def check_policies(
    resources: Sequence[Mapping[str, Any]],
    spec: StackSpec,
    config: PolicyConfig | None = None,
) -> list[Violation]:
    """The policy pack's verdict on previewed resources; empty when all pass.

    `config` defaults to the campaign's own budget and no instance allow-list.
    """
    config = config or PolicyConfig.for_spec(spec)
    declared = [(r["type"], r["name"], r["inputs"]) for r in resources]
    return run_checks(declared, config)


def enforce_policies(
    resources: Sequence[Mapping[str, Any]],
    spec: StackSpec,
    config: PolicyConfig | None = None,
) -> None:
    """Raise PoliciesViolated, naming every failed policy, unless all pass."""
    violations = check_policies(resources, spec, config)
    if violations:
        raise PoliciesViolated(spec.campaign, violations)


@contextlib.contextmanager
def _settings_defaults_restored() -> Iterator[None]:
    """Undo what the preview leaves in Pulumi's settings defaults.

    Each setting is a context variable, but the SDK also keeps the first value
    set over None as the default every new context (every new thread) starts
    with; left alone, threads started later would see the preview's mocks.
    """
    from pulumi._utils import ContextProperty
    from pulumi.runtime.settings import Settings

    fields = [f for f in vars(Settings).values() if isinstance(f, ContextProperty)]
    saved = [(f, getattr(f, _DEFAULT_ATTRIBUTE, None)) for f in fields]
    try:
        yield
    finally:
        for field, default in saved:
            if hasattr(field, _DEFAULT_ATTRIBUTE):
                setattr(field, _DEFAULT_ATTRIBUTE, default)


def _run_program(spec: StackSpec, public_key: str, mocks: Any) -> StackPreview:
    """Runs in a fresh thread: empty context, no event loop yet."""
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func

    from fmbench_orch.infra.mocks import OfflineMocks
    from fmbench_orch.infra.program import declare_stack

    mocks = mocks if mocks is not None else OfflineMocks()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The SDK calls the mock engine from the loop's executor threads, and each
    # of those threads makes itself an event loop it never closes; giving them
    # loops we own lets the preview close every loop it caused to exist.
    worker_loops: list[asyncio.AbstractEventLoop] = []

    def give_worker_a_loop() -> None:
        worker_loops.append(asyncio.new_event_loop())
        asyncio.set_event_loop(worker_loops[-1])

    executor = ThreadPoolExecutor(
        thread_name_prefix="preview-engine", initializer=give_worker_a_loop
    )
    loop.set_default_executor(executor)
    try:
        # Settings' fields are context variables; a new Settings sets every one
        # of them afresh in this thread's context, and set_mocks then installs
        # the mock engine and a new root stack.
        settings.Settings(project=PROJECT, stack=spec.stack_name)
        pulumi.runtime.set_mocks(
            mocks, project=PROJECT, stack=spec.stack_name, preview=True
        )
        loop.run_until_complete(
            run_pulumi_func(lambda: declare_stack(spec, public_key))
        )
        outputs = _resolved_outputs(loop, settings.get_root_resource())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        executor.shutdown(wait=True)
        for worker_loop in worker_loops:
            worker_loop.close()
    position = {host.name: index for index, host in enumerate(spec.hosts)}
    declared = sorted(
        mocks.declared,
        key=lambda d: (_type_rank(d.type), position.get(d.name, -1), d.name),
    )
    resources = [
        {"type": d.type, "name": d.name, "inputs": _plain(d.inputs)} for d in declared
    ]
    return StackPreview(resources=resources, outputs=outputs)


def _type_rank(resource_type: str) -> int:
    try:
        return DECLARATION_ORDER.index(resource_type)
    except ValueError:
        return len(DECLARATION_ORDER)


def _resolved_outputs(loop: asyncio.AbstractEventLoop, root: Any) -> dict[str, Any]:
    import pulumi

    exported = dict(getattr(root, "outputs", {}) or {})
    future = pulumi.Output.from_input(exported).future()
    return _plain(loop.run_until_complete(future) or {})


def _plain(value: Any) -> Any:
    """JSON-ready: whole floats (the wire has no ints) back to int."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def check_in_own_process(spec: StackSpec) -> None:
    """`enforce_policies(preview_resources(spec), spec)`, in a child Python.

    Raises PreviewRefused (its `kind` and message are the child's error) when
    the program or a policy refuses the spec.
    """
    done = subprocess.run(
        [sys.executable, "-m", __name__],
        input=spec.model_dump_json(),
        capture_output=True,
        text=True,
        timeout=OWN_PROCESS_TIMEOUT_S,
    )
    if done.returncode == 0:
        return
    try:
        refusal = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(
            f"the offline preview failed (exit {done.returncode}): "
            f"{done.stderr.strip()[-2000:]}"
        ) from None
    raise PreviewRefused(refusal["kind"], refusal["message"])


def _check_spec_from_stdin() -> int:
    spec = StackSpec.model_validate_json(sys.stdin.read())
    try:
        enforce_policies(preview_resources(spec), spec)
    except InfraError as error:
        json.dump({"kind": type(error).__name__, "message": str(error)}, sys.stdout)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_check_spec_from_stdin())
