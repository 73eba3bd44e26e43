"""Tasks of the test project, found by autodiscovery (``TASKITO_AUTODISCOVER``)."""

from __future__ import annotations

from taskito.contrib.django import task

from .models import Order


@task()
def add(a: int, b: int) -> int:
    return a + b


@task(max_retries=0)
def always_fails(message: str) -> None:
    raise RuntimeError(message)


@task(queue="mail")
def send_receipt(order_id: int) -> bool:
    """Runs in the worker: reads and writes the order through the ORM."""
    order = Order.objects.get(pk=order_id)
    order.receipt_sent = True
    order.save(update_fields=["receipt_sent"])
    return True
