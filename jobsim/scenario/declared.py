"""Jobs declared in a scenario file: a Job subclass built from a list of steps.

A ``jobs:`` entry whose value is a mapping declares a job without Python::

    DeliverWebhook:
      queue: default
      retry: 5
      perform:
        - read: {table: deliveries, key: "{event_id}", from: primary, exists: stop}
        - call: {service: webhooks, op: post, key: "{event_id}", effect: true}
        - insert: {table: deliveries, key: "{event_id}", on_conflict: stop}

Each step compiles to a small generator over the same world primitives a Python job
calls (``world.service(...).call``, ``world.db.exists/insert/delete``, pools, temp files,
memory), so a declared job races, fails, leaks and retries exactly as the equivalent
Python job would: there is no second implementation of any guard. Everything is
validated when the file loads; an error names ``jobs.NAME.perform[i].KIND.FIELD``.

A declared job's payload args are one JSON object (``[{"event_id": "evt-3"}]``), as
ActiveJob passes keyword arguments. ``{NAME}`` templates read it (``templates.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import simpy

from jobsim import backoff as backoff_policies
from jobsim.scenario import fields as f
from jobsim.scenario import templates
from jobsim.scenario.build import latency_spec
from jobsim.scenario.errors import ScenarioError, Where, show, unknown
from jobsim.scenario.parse_system import read_distribution
from jobsim.scenario.problems import Abandon, attempt
from jobsim.scenario.schema import Distribution, Fault, WorkloadEntry
from jobsim.system.job import Job, Work
from jobsim.system.unique import check_options
from jobsim.world.database import UniqueViolation
from jobsim.world.distributions import make_sampler

JOB_KEYS = ("queue", "retry", "backoff", "jitter", "unique", "dead", "perform", "rescue")
UNIQUE_KEYS = ("lock", "ttl", "on_conflict")
STEP_KEYS: dict[str, tuple[str, ...]] = {
    "call": ("service", "op", "key", "effect", "once", "idempotency_key"),
    "read": ("table", "key", "from", "exists"),
    "insert": ("table", "key", "on_conflict"),
    "delete": ("table", "key"),
    "enqueue": ("job", "args", "after"),
    "work": (),                      # a duration or a distribution, not a mapping
    "use": ("pool", "for"),
    "tempfile": ("bytes",),
    "memory": ("bytes",),
    "fail": ("rate", "error"),
}
READ_FROM = ("primary", "replica")
ON_EXISTS = ("stop", "fail", "continue")
ON_CONFLICT = ("stop", "fail")
KEY_COLUMN = "key"                   # a string key's column in a table without `unique`
PARENT_ARGS = frozenset({"*"})       # an enqueue without args passes the parent's on
STOP = object()                      # a step's return value: end perform successfully


class StepFailed(Exception):
    """Base of the errors a declared job raises (``fail:``, ``exists: fail``, ...)."""


@dataclass(frozen=True)
class Names:
    """What a declared job may refer to, from the rest of the scenario."""

    services: Collection[str]
    tables: Mapping[str, tuple[str, ...]]     # table -> its unique columns
    pools: Collection[str]
    jobs: Collection[str]                     # every job name: Python and declared
    declared: Collection[str]                 # the declared ones (args are a mapping)
    queues: Collection[str]
    scoped: bool                              # the resources safeguard: release on every path
    any_queue: bool = False                   # route_all_to is set


@dataclass
class _Run:
    """One execution's state: its args, what it holds, the jids it enqueued."""

    args: Mapping[str, Any]
    held: list[Callable[[], object]] = field(default_factory=list)
    jids: dict[Any, str | None] = field(default_factory=dict)


Step = Callable[["DeclaredJob", _Run], Work]


class DeclaredJob(Job):
    """Runs its ``steps`` in order; a step returning STOP ends perform successfully.

    When a step raises, the ``rescue`` steps run and the error is raised again (Ruby's
    ``rescue => e; ...; raise``), so a claim can be given back before the retry. A kill
    or a hard shutdown interrupts without running them, as in Ruby.

    Temp files and memory taken by steps are released when perform ends: on every path
    when ``scoped`` (the ``resources`` safeguard), only on success otherwise, like the
    unscoped code it models (a failure or a kill leaks them until the process dies).
    """

    abstract = True
    arrival_index = "entry"
    steps: ClassVar[tuple[Step, ...]] = ()
    rescue: ClassVar[tuple[Step, ...]] = ()      # run when a step raises, then re-raise
    scoped: ClassVar[bool] = False
    enqueues: ClassVar[tuple[str, ...]] = ()     # the jobs its enqueue steps push
    arg_sources: ClassVar[tuple[tuple[str, frozenset[str]], ...]] = ()
    templated: ClassVar[tuple[tuple[Where, Any], ...]] = ()

    @classmethod
    def make_args(cls, index: int, params: dict[str, Any]) -> list[Any]:
        """One args object, ``{n}`` filled with the arrival's index within its entry."""
        return [templates.render(dict(params), {"n": index})]

    def perform(self, args: Mapping[str, Any] | None = None) -> Work:
        run = _Run(args or {})
        finished = False
        try:
            try:
                yield from self._run(self.steps, run)
            except simpy.Interrupt:
                raise    # a kill, or Sidekiq::Shutdown: not a StandardError, never rescued
            except Exception:
                if self.rescue:
                    yield from self._run(self.rescue, run)
                raise
            finished = True
        finally:
            if finished or self.scoped:
                for release in reversed(run.held):
                    release()


    def _run(self, steps: tuple[Step, ...], run: _Run) -> Work:
        for step in steps:
            if (yield from step(self, run)) is STOP:
                return


# ---- declaring a job ---------------------------------------------------------------
def declare(name: str, value: Any, where: Where, names: Names) -> type[DeclaredJob]:
    """The job class NAME declared by VALUE (a mapping), validated against NAMES."""
    data = f.mapping(value, where, JOB_KEYS)
    options: dict[str, Any] = {
        "queue": f.optional(data, "queue", where, _queue(names), "default"),
        "retry": f.optional(data, "retry", where, _retry, True),
        "backoff": f.optional(data, "backoff", where, _backoff, "sidekiq"),
        "jitter": f.optional(data, "jitter", where, f.number(minimum=0, below=1), 0.0),
        "dead": f.optional(data, "dead", where, f.boolean, True),
        "unique": f.optional(data, "unique", where, _unique, None),
    }
    compiler = _Compiler(name, names)
    steps = f.required(data, "perform", where, compiler.steps)
    rescue = f.optional(data, "rescue", where, compiler.rescue_steps, ())
    namespace = {
        **options,
        "abstract": True,  # registered by the scenario's job library, not globally
        "steps": steps,
        "rescue": rescue,
        "scoped": names.scoped,
        "arg_sources": tuple(compiler.sources),
        # the parts of the world the steps use, for reference checks
        "services": tuple(sorted(compiler.used["service"])),
        "tables": tuple(sorted(compiler.used["table"])),
        "pools": tuple(sorted(compiler.used["pool"])),
        "enqueues": tuple(sorted(compiler.used["job"])),
        "templated": tuple(compiler.templated),
        "__doc__": f"Declared in {where.file or 'a scenario'} at {where.path}.",
        "__module__": __name__,
    }
    return type(name, (DeclaredJob,), namespace)


def check_args(jobs: Mapping[str, type[DeclaredJob]], workload: tuple[WorkloadEntry, ...],
               faults: tuple[Fault, ...], where: Where) -> None:
    """Every template names an arg that every producer of the job gives.

    Producers are workload entries and faults that push jobs (``load_burst``,
    ``poison_jobs``): their ``args`` keys, where only ``{n}`` may be templated; and
    ``enqueue`` steps of declared jobs. A job nothing produces is not checked.
    """
    given: dict[str, list[tuple[str, frozenset[str]]]] = {name: [] for name in jobs}
    pushers = [(where.key("workload").index(i), e.job, e.args) for i, e in enumerate(workload)]
    pushers += [(where.key("faults").index(i), f.params.get("job"), f.params.get("args", {}))
                for i, f in enumerate(faults)]
    for at, job, args in pushers:
        if isinstance(job, str) and job in jobs and isinstance(args, Mapping):
            templates.check(dict(args), {"n"}, at.key("args"), f"{at.path} (only {{n}})")
            given[job].append((at.path, frozenset(args)))
    for parent, cls in jobs.items():
        for child, keys in cls.arg_sources:
            if child in given and keys != PARENT_ARGS:
                given[child].append((f"{parent}'s enqueue", keys))
    for name, cls in jobs.items():
        if not given[name]:
            continue
        common = frozenset.intersection(*(keys for _, keys in given[name]))
        for at, value in cls.templated:
            templates.check(value, common, at, name)


# ---- option readers ----------------------------------------------------------------
def _queue(names: Names) -> f.Reader[str]:
    def read(value: Any, where: Where) -> str:
        queue = f.name(value, where)
        if not names.any_queue and queue not in names.queues:
            raise where.error(f"queue {queue!r} is not in system.queues "
                              f"({', '.join(names.queues)}): no process would run it")
        return queue

    return read


def _retry(value: Any, where: Where) -> bool | int:
    if isinstance(value, bool) or (isinstance(value, int) and value >= 0):
        return value
    raise where.error(f"expected true, false or a non-negative integer, got {show(value)}")


def _backoff(value: Any, where: Where) -> str:
    spec = f.string(value, where)
    try:
        backoff_policies.parse(spec)
    except ValueError as exc:
        raise where.error(str(exc)) from None
    return spec


def _unique(value: Any, where: Where) -> dict[str, Any]:
    data = f.mapping(value, where, UNIQUE_KEYS)
    spec = dict(data)
    if "ttl" in spec and spec["ttl"] is not None:
        spec["ttl"] = f.duration(positive=True)(spec["ttl"], where.key("ttl"))
    try:
        check_options(spec, where.path)
    except ValueError as exc:
        path, _, reason = str(exc).partition(": ")
        raise ScenarioError(where.file, path, reason) from None
    return spec


# ---- steps ---------------------------------------------------------------------------
class _Compiler:
    """Turns ``perform:`` into step generators, collecting what is checked afterwards."""

    def __init__(self, job: str, names: Names) -> None:
        self.job = job
        self.names = names
        self.section = "perform"
        self.sources: list[tuple[str, frozenset[str]]] = []   # (child job, its arg names)
        self.templated: list[tuple[Where, Any]] = []
        self.enqueued: dict[Any, int] = {}                    # job name or index -> step
        self.used: dict[str, set[str]] = {"service": set(), "table": set(), "pool": set(),
                                          "job": set()}

    def steps(self, value: Any, where: Where) -> tuple[Step, ...]:
        items = f.sequence(value, where, nonempty=True)
        steps = [attempt(lambda i=i, item=item: self.step(i, item, where.index(i)), None)
                 for i, item in enumerate(items)]   # every step's problems, not the first's
        return tuple(step for step in steps if step is not None)

    def rescue_steps(self, value: Any, where: Where) -> tuple[Step, ...]:
        """``rescue:`` steps; their enqueues cannot wait on perform's."""
        self.section, self.enqueued = "rescue", {}
        return self.steps(value, where)

    def step(self, i: int, value: Any, where: Where) -> Step:
        data = f.mapping(value, where, STEP_KEYS)
        if not data and value:
            raise Abandon()              # its unknown keys are already reported
        if len(data) != 1:
            raise where.error(f"a step is one of {', '.join(STEP_KEYS)} with its settings, "
                              f"got {len(data)} keys ({', '.join(data)})")
        (kind, body), = data.items()
        at = where.key(kind)
        if kind == "work":
            return _work(self.stream(i), _dist(body, at))
        body = f.mapping(body, at, STEP_KEYS[kind])
        return getattr(self, f"_{kind}")(i, body, at)

    def stream(self, i: int) -> str:
        return f"jobs.{self.job}.{self.section}[{i}]"

    def template(self, value: Any, where: Where) -> Any:
        self.templated.append((where, value))
        return value

    def key(self, table: str, body: dict[str, Any], where: Where, *, insert: bool = False
            ) -> dict[str, Any]:
        """The row's columns for a table step: a string fills the table's one unique
        column (or ``key``), a mapping names columns."""
        unique = self.names.tables[table]
        raw = f.required(body, "key", where, _json)
        if isinstance(raw, dict):
            missing = [c for c in unique if c not in raw] if insert else []
            if missing:
                raise where.key("key").error(f"table {table!r} is unique on {list(unique)}: "
                                             f"the key must give {missing}")
            return self.template(raw, where.key("key"))
        if len(unique) > 1:
            raise where.key("key").error(f"table {table!r} is unique on {list(unique)}: give "
                                         f"the key as a mapping of those columns")
        return {unique[0] if unique else KEY_COLUMN: self.template(raw, where.key("key"))}

    def table(self, body: dict[str, Any], where: Where) -> str:
        table = f.required(body, "table", where, f.name)
        if table not in self.names.tables:
            raise where.key("table").error(
                unknown("table", table, self.names.tables) + " (declare it under world.tables)")
        self.used["table"].add(table)
        return table

    def _call(self, i: int, body: dict[str, Any], where: Where) -> Step:
        service = f.required(body, "service", where, f.name)
        if service not in self.names.services:
            raise where.key("service").error(unknown("service", service, self.names.services))
        self.used["service"].add(service)
        op = f.required(body, "op", where, f.name)
        effect = f.optional(body, "effect", where, f.boolean, False)
        key = f.optional(body, "key", where, f.string, None)
        if effect and key is None:
            raise where.error("effect: true needs a key naming the effect")
        idem = f.optional(body, "idempotency_key", where, f.string, None)
        once = f.optional(body, "once", where, f.boolean, True)
        if key is not None:
            self.template(key, where.key("key"))
        if idem is not None:
            self.template(idem, where.key("idempotency_key"))
        return _call(service, op, key, effect, once, idem)

    def _read(self, i: int, body: dict[str, Any], where: Where) -> Step:
        table = self.table(body, where)
        row = self.key(table, body, where)
        copy = f.optional(body, "from", where, f.choice(READ_FROM), "primary")
        on_exists = f.optional(body, "exists", where, f.choice(ON_EXISTS), "stop")
        return _read(table, row, copy, on_exists)

    def _insert(self, i: int, body: dict[str, Any], where: Where) -> Step:
        table = self.table(body, where)
        row = self.key(table, body, where, insert=True)
        on_conflict = f.optional(body, "on_conflict", where, f.choice(ON_CONFLICT), "fail")
        return _insert(table, row, on_conflict)

    def _delete(self, i: int, body: dict[str, Any], where: Where) -> Step:
        table = self.table(body, where)
        return _delete(table, self.key(table, body, where))

    def _enqueue(self, i: int, body: dict[str, Any], where: Where) -> Step:
        job = f.required(body, "job", where, f.member("job", self.names.jobs))
        declared = job in self.names.declared
        self.used["job"].add(job)
        if declared:
            args = f.optional(body, "args", where, f.mapping, None)
            if args is not None:
                self.template(_json(args, where.key("args")), where.key("args"))
                self.sources.append((job, frozenset(args)))
            else:
                self.sources.append((job, PARENT_ARGS))
        else:
            args = f.optional(body, "args", where, f.sequence, [])
            self.template(_json(args, where.key("args")), where.key("args"))
        after = f.optional(body, "after", where, f.sequence, [])
        deps = [self._dependency(item, where.key("after").index(k))
                for k, item in enumerate(after)]
        self.enqueued[job] = i
        self.enqueued[i] = i
        return _enqueue(job, args, tuple(deps), i)

    def _dependency(self, item: Any, where: Where) -> int:
        if isinstance(item, int) and not isinstance(item, bool) and item in self.enqueued:
            return self.enqueued[item]
        if isinstance(item, str) and item in self.enqueued:
            return self.enqueued[item]
        earlier = sorted(str(k) for k in self.enqueued)
        raise where.error(f"{show(item)} is not an earlier enqueue step of this perform "
                          f"(by job name or step index); earlier: {', '.join(earlier) or 'none'}")

    def _use(self, i: int, body: dict[str, Any], where: Where) -> Step:
        pool = f.required(body, "pool", where, f.name)
        if pool not in self.names.pools:
            raise where.key("pool").error(unknown("pool", pool, self.names.pools))
        self.used["pool"].add(pool)
        return _use(pool, self.stream(i), f.required(body, "for", where, _dist))

    def _tempfile(self, i: int, body: dict[str, Any], where: Where) -> Step:
        return _tempfile(f.required(body, "bytes", where, f.integer(minimum=0)))

    def _memory(self, i: int, body: dict[str, Any], where: Where) -> Step:
        return _memory(f.required(body, "bytes", where, f.integer(minimum=0)))

    def _fail(self, i: int, body: dict[str, Any], where: Where) -> Step:
        rate = f.required(body, "rate", where, f.number(minimum=0, maximum=1))
        error = f.optional(body, "error", where, _error_name, "StepFailed")
        return _fail(rate, _error_class(error), self.stream(i))


def _json(value: Any, where: Where) -> Any:
    return f.json_value(value, where)


def _dist(value: Any, where: Where) -> Callable[[Any], float]:
    distribution: Distribution = read_distribution(value, where)
    return make_sampler(latency_spec(distribution))


def _error_name(value: Any, where: Where) -> str:
    text = f.string(value, where)
    if not text.isidentifier():
        raise where.error(f"expected an error class name like 'CardDeclined', got {show(text)}")
    return text


_ERRORS: dict[str, type[StepFailed]] = {"StepFailed": StepFailed}


def _error_class(name: str) -> type[StepFailed]:
    """One exception class per name, so the history's failure names the user's error."""
    if name not in _ERRORS:
        _ERRORS[name] = type(name, (StepFailed,), {"__module__": __name__})
    return _ERRORS[name]


# ---- the step generators -------------------------------------------------------------
def _call(service: str, op: str, key: str | None, effect: bool, once: bool,
          idem: str | None) -> Step:
    def call(job: DeclaredJob, run: _Run) -> Work:
        args = run.args
        yield from job.world.service(service).call(
            job, op, key=None if key is None else str(templates.render(key, args)),
            effect=effect, once=once,
            idempotency_key=None if idem is None else str(templates.render(idem, args)))

    return call


def _read(table: str, row: dict[str, Any], copy: str, on_exists: str) -> Step:
    def read(job: DeclaredJob, run: _Run) -> Work:
        found = job.world.db.exists(table, templates.render(row, run.args), on=copy)
        if found and on_exists == "stop":
            return STOP
        if found and on_exists == "fail":
            raise StepFailed(f"{table}: row {found.row!r} already exists")
        return None
        yield

    return read


def _insert(table: str, row: dict[str, Any], on_conflict: str) -> Step:
    def insert(job: DeclaredJob, run: _Run) -> Work:
        try:
            job.world.db.insert(job, table, templates.render(row, run.args), effect=False)
        except UniqueViolation:
            if on_conflict == "stop":
                return STOP
            raise
        return None
        yield

    return insert


def _delete(table: str, row: dict[str, Any]) -> Step:
    def delete(job: DeclaredJob, run: _Run) -> Work:
        job.world.db.delete(table, templates.render(row, run.args))
        return None
        yield

    return delete


def _enqueue(target: str, args: Any, deps: tuple[int, ...], index: int) -> Step:
    def enqueue(job: DeclaredJob, run: _Run) -> Work:
        cls = job.client.system.library.resolve(target)
        if isinstance(args, list):
            payload_args = templates.render(args, run.args)
        else:
            payload_args = [dict(run.args) if args is None else templates.render(args, run.args)]
        client = job.client
        options: dict[str, Any] = {}
        if deps and getattr(client.system, "dependencies", None) is not None:
            options["depends_on"] = [j for j in (run.jids[d] for d in deps) if j]
        run.jids[index] = client.push(cls, payload_args, **options)
        return None
        yield

    return enqueue


def _work(stream: str, sample: Callable[[Any], float]) -> Step:
    def work(job: DeclaredJob, run: _Run) -> Work:
        yield job.sleep(sample(job.sim.streams[stream]))

    return work


def _use(pool: str, stream: str, sample: Callable[[Any], float]) -> Step:
    def use(job: DeclaredJob, run: _Run) -> Work:
        lease = yield from job.world.pool(pool).checkout(job)
        if job.scoped:
            with lease:
                yield job.sleep(sample(job.sim.streams[stream]))
            return None
        yield job.sleep(sample(job.sim.streams[stream]))   # a failure here leaks the lease
        lease.release()
        return None

    return use


def _tempfile(nbytes: int) -> Step:
    def tempfile(job: DeclaredJob, run: _Run) -> Work:
        files = job.world.tempfiles
        handle = files.create(job.worker, nbytes)
        run.held.append(lambda: files.delete(handle))
        return None
        yield

    return tempfile


def _memory(nbytes: int) -> Step:
    def memory(job: DeclaredJob, run: _Run) -> Work:
        heap = job.world.memory
        handle = heap.allocate(job.worker, nbytes)
        run.held.append(lambda: heap.free(handle))
        return None
        yield

    return memory


def _fail(rate: float, error: type[StepFailed], stream: str) -> Step:
    def fail(job: DeclaredJob, run: _Run) -> Work:
        if rate and job.sim.streams[stream].random() < rate:
            raise error(f"{type(job).__name__} failed ({error.__name__}, rate {rate})")
        return None
        yield

    return fail
