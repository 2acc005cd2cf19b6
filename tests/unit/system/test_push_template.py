"""Push templates and job ids: checked once per workload entry, yet the same payloads,
records and refusals as a plain push, and the same ids as one draw per job."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from jobsim.sim.simulation import Simulation
from jobsim.system import ArgumentError, Job
from jobsim.system.jids import BLOCK, JidSource
from jobsim.world.workload import Arrivals, Workload

from .conftest import Build, build_system

OPTIONS: dict[str, Any] = {"queue": "bulk", "retry": 3, "backoff": "linear", "jitter": 0.1}


class TemplateJob(Job):
    queue = "mailers"
    retry = 7

    def perform(self, *args: Any) -> Any:
        yield self.sleep(1)


def _items(system: Any, queue: str) -> list[list[tuple[str, Any]]]:
    return [list(p.items()) for p in system.broker.queue_items(queue)]   # key order too


@pytest.mark.parametrize("options", [{}, OPTIONS])
def test_template_push_equals_plain_push(build: Build, options: dict[str, Any]) -> None:
    plain_sim, plain = build(seed=5, start=False)
    tmpl_sim, templated = build(seed=5, start=False)
    shared = ["exponential", 0.0, {"mean": 0.05}]
    one = templated.client.template(TemplateJob, options)
    fixed = templated.client.template(TemplateJob, options, shared)
    for sim in (plain_sim, tmpl_sim):
        sim.run(until=2.5)
    for n in range(3):
        plain.client.push(TemplateJob, [n, "x"], **options)
        templated.client.push_template(one, [n, "x"])
        plain.client.push(TemplateJob, shared, **options)
        templated.client.push_template(fixed)
    plain.client.push_bulk(TemplateJob, [[7], [8]], **options)
    templated.client.push_template_bulk(one, [[7], [8]])
    queue = options.get("queue", "mailers")
    assert _items(templated, queue) == _items(plain, queue)
    assert list(tmpl_sim.history) == list(plain_sim.history)
    assert tmpl_sim.history.digest() == plain_sim.history.digest()


BAD = [([(1, 2)], "args[0]"), ([1, {3}], "args[1]"), ([math.nan], "args[0]"),
       ([{"a": [1, {"b": (2,)}]}], "args[0]['a'][1]['b']")]


@pytest.mark.parametrize(("args", "path"), BAD)
def test_template_refuses_what_push_refuses(build: Build, args: list[Any], path: str) -> None:
    sim, system = build(start=False)
    with pytest.raises(ArgumentError) as plain:
        system.client.push(TemplateJob, args)
    one = system.client.template(TemplateJob, {})
    for n in range(20):                        # many good pushes first: no shape is trusted
        system.client.push_template(one, [n, {"k": [n]}])
    with pytest.raises(ArgumentError) as templated:
        system.client.push_template(one, args)
    with pytest.raises(ArgumentError) as bulk:
        system.client.push_template_bulk(one, [[1], args])
    with pytest.raises(ArgumentError) as shared:
        system.client.template(TemplateJob, {}, args)   # shared args: checked when made
    assert str(templated.value) == str(bulk.value) == str(shared.value) == str(plain.value)
    assert path in str(plain.value)
    assert system.broker.queue_size("mailers") == 20   # the bad pushes stored nothing
    assert len(sim.history) == 20


def test_template_refuses_a_bad_option_as_push_does(build: Build) -> None:
    _, system = build(start=False)
    with pytest.raises(ArgumentError) as plain:
        system.client.push(TemplateJob, [1], jitter=math.inf)
    with pytest.raises(ArgumentError) as templated:
        system.client.template(TemplateJob, {"jitter": math.inf})
    assert str(templated.value) == str(plain.value)
    with pytest.raises(TypeError, match="'at' or 'jid'"):
        system.client.template(TemplateJob, {"at": 5.0})


def test_a_plain_push_is_still_checked_beside_a_template(build: Build) -> None:
    _, system = build(start=False)
    fixed = system.client.template(TemplateJob, {}, [1, "ok"])
    system.client.push_template(fixed)
    with pytest.raises(ArgumentError, match=r"args\[1\]"):
        system.client.push(TemplateJob, [1, {"no"}])     # as a job calling push would
    system.client.push(TemplateJob, [1, "ok"])          # control: a good one goes in
    assert system.broker.queue_size("mailers") == 2


class SharedArgsJob(TemplateJob):
    arrival_index = "none"
    made: list[Any] = []

    @classmethod
    def make_args(cls, index: int, params: dict[str, Any]) -> list[Any]:
        cls.made.append(index)
        return [params.get("v", "ok")]


def _workload(args: dict[str, Any], count: int = 5) -> tuple[Simulation, Any]:
    sim, system = build_system(start=False)
    entry = Arrivals(job="SharedArgsJob", kind="count", count=count, spread=10.0, args=args)
    system.library.add(SharedArgsJob)
    Workload(sim, system.client, [entry], horizon=60.0).start()
    return sim, system


def test_index_free_args_are_made_checked_and_shared_once_per_entry() -> None:
    SharedArgsJob.made = []
    sim, _ = _workload({"v": "ok"})
    sim.run(until=60)
    enqueues = list(sim.history.of_kind("enqueue"))
    assert len(enqueues) == 5 and SharedArgsJob.made == [0]
    assert all(e[-1] is enqueues[0][-1] for e in enqueues)    # one list, not five


def test_bad_index_free_args_fail_at_the_first_arrival() -> None:
    sim, _ = _workload({"v": math.nan})
    with pytest.raises(ArgumentError, match=r"SharedArgsJob: argument args\[0\] is nan"):
        sim.run(until=60)
    assert sim.now == 0.0 and not list(sim.history.of_kind("enqueue"))


def test_jid_blocks_give_the_ids_of_one_draw_per_job() -> None:
    drawn, source = random.Random(11), JidSource(random.Random(11))
    n = 2 * BLOCK + 7                                       # across block boundaries
    assert [source() for _ in range(n)] == [f"{drawn.getrandbits(96):024x}" for _ in range(n)]
    other = JidSource(random.Random(12))
    assert other() != JidSource(random.Random(11))()        # control: the seed matters
