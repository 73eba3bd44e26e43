"""The orders app's tasks; the worker imports this module by autodiscovery."""

from __future__ import annotations

from taskito.contrib.django import task

from .models import Order


@task(max_retries=3)
def send_receipt(order_id: int) -> str:
    order = Order.objects.get(pk=order_id)
    # ... e-mail the customer here ...
    order.receipt_sent = True
    order.save(update_fields=["receipt_sent"])
    return f"receipt for order {order_id} sent"
