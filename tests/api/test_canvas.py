"""The canvas: ``Signature`` and the compositions (chain, group, chord, chunks, starmap), run
in test mode, plus how a signature's options reach storage outside test mode."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from taskito import Queue, Signature, TaskWrapper, chain, chord, chunks, group, starmap
from tests.api.driving import MakeQueue


@pytest.fixture
def tasks(queue: Queue) -> dict[str, TaskWrapper]:
    @queue.task(name="add", queue="math")
    def add(a: int, b: int = 0) -> int:
        return a + b

    @queue.task(name="mul")
    def mul(a: int, b: int) -> int:
        return a * b

    @queue.task(name="total")
    def total(values: list[int], bonus: int = 0) -> int:
        return sum(values) + bonus

    @queue.task(name="nothing")
    def nothing(*args: Any) -> None:
        return None

    return {"add": add, "mul": mul, "total": total, "nothing": nothing}


def test_signatures_are_frozen_and_s_si_set_immutability(tasks: dict[str, TaskWrapper]) -> None:
    sig = tasks["add"].s(1, b=2)
    assert (sig.task, sig.args, sig.kwargs, sig.immutable) == (tasks["add"], (1,), {"b": 2}, False)
    assert tasks["add"].si(1).immutable is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        sig.args = (5,)  # type: ignore[misc]


def test_signature_checks_its_parts(tasks: dict[str, TaskWrapper]) -> None:
    with pytest.raises(TypeError, match="needs a task"):
        Signature(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown Signature options"):
        Signature(tasks["add"], (1,), options={"countdown": 5})


def test_signature_apply_uses_task_defaults_and_options(
    queue: Queue, tasks: dict[str, TaskWrapper]
) -> None:
    job = Signature(tasks["add"], (1, 2), options={"priority": 7}).apply()
    record = queue._storage.get_job(job.id)
    assert record is not None
    assert (record.queue, record.priority, record.task_name) == ("math", 7, "add")


def test_signature_apply_on_another_queue(
    make_queue: MakeQueue, tasks: dict[str, TaskWrapper], tmp_path: Any
) -> None:
    other = make_queue(db_path=str(tmp_path / "other.db"))
    job = tasks["add"].s(1).apply(other)
    assert other.get_job(job.id) is not None
    with pytest.raises(TypeError, match="takes a Queue"):
        tasks["add"].s(1).apply("math")  # type: ignore[arg-type]


def test_chain_passes_each_result_on(queue: Queue, tasks: dict[str, TaskWrapper]) -> None:
    with queue.test_mode() as results:
        last = chain(tasks["add"].s(1, 2), tasks["add"].s(b=10), tasks["mul"].s(2)).apply()
    assert last.result() == 26
    assert [(r.task_name, r.args) for r in results] == [
        ("add", (1, 2)),
        ("add", (3,)),
        ("mul", (13, 2)),
    ]


def test_chain_skips_immutable_steps_and_none_results(
    queue: Queue, tasks: dict[str, TaskWrapper]
) -> None:
    with queue.test_mode() as results:
        chain(
            tasks["add"].s(1, 1), tasks["mul"].si(3, 3), tasks["nothing"].s(), tasks["add"].s(5)
        ).apply()
    assert [r.args for r in results] == [(1, 1), (3, 3), (9,), (5,)]


def test_chain_apply_async(queue: Queue, tasks: dict[str, TaskWrapper]) -> None:
    with queue.test_mode():
        last = asyncio.run(chain(tasks["add"].s(2, 2), tasks["mul"].s(10)).apply_async())
    assert last.result() == 40


def test_compositions_need_signatures(tasks: dict[str, TaskWrapper]) -> None:
    with pytest.raises(ValueError, match="at least one"):
        chain()
    with pytest.raises(ValueError, match="at least one"):
        group()
    with pytest.raises(TypeError, match="signatures"):
        chain(tasks["add"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_concurrency"):
        group(tasks["add"].s(1), max_concurrency=0)
    with pytest.raises(TypeError, match="group"):
        chord([tasks["add"].s(1)], tasks["total"].s())  # type: ignore[arg-type]


def test_group_applies_every_signature(queue: Queue, tasks: dict[str, TaskWrapper]) -> None:
    with queue.test_mode():
        jobs = group(*(tasks["mul"].s(i, i) for i in range(4))).apply()
    assert [job.result() for job in jobs] == [0, 1, 4, 9]


def test_group_in_waves_keeps_order(queue: Queue, tasks: dict[str, TaskWrapper]) -> None:
    with queue.test_mode() as results:
        jobs = group(*(tasks["add"].s(i) for i in range(5)), max_concurrency=2).apply()
        also = asyncio.run(group(tasks["add"].s(7), max_concurrency=1).apply_async())
    assert [job.result() for job in jobs] == [0, 1, 2, 3, 4]
    assert [r.args for r in results][:5] == [(i,) for i in range(5)]
    assert also[0].result() == 7


def test_chord_calls_back_with_every_result(queue: Queue, tasks: dict[str, TaskWrapper]) -> None:
    with queue.test_mode():
        header = group(tasks["add"].s(1, 1), tasks["add"].s(2, 2))
        assert chord(header, tasks["total"].s(bonus=100)).apply().result() == 106
        assert chord(header, tasks["mul"].si(5, 5)).apply().result() == 25
        result = asyncio.run(chord(header, tasks["total"].s()).apply_async())
    assert result.result() == 6


def test_chunks_splits_items(queue: Queue, tasks: dict[str, TaskWrapper]) -> None:
    with queue.test_mode():
        jobs = chunks(tasks["total"], range(5), 2).apply()
    assert [job.result() for job in jobs] == [1, 5, 4]
    with pytest.raises(ValueError, match="chunk_size"):
        chunks(tasks["total"], [1], 0)
    with pytest.raises(ValueError, match="at least one item"):
        chunks(tasks["total"], [], 2)


def test_starmap_spreads_argument_tuples(queue: Queue, tasks: dict[str, TaskWrapper]) -> None:
    with queue.test_mode():
        jobs = starmap(tasks["mul"], [(2, 3), (4, 5)]).apply()
    assert [job.result() for job in jobs] == [6, 20]
    with pytest.raises(ValueError, match="at least one"):
        starmap(tasks["mul"], [])
