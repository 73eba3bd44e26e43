"""``POST /orders/`` saves an order and enqueues its receipt when the transaction commits;
``GET /orders/<id>/`` tells whether the receipt went out."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from .models import Order
from .tasks import send_receipt


@require_POST
def place_order(request: HttpRequest) -> JsonResponse | HttpResponseBadRequest:
    try:
        total = int(request.POST["total"])
    except (KeyError, ValueError):
        return HttpResponseBadRequest("expected a form field total=<whole number>")
    with transaction.atomic():
        order = Order.objects.create(total=total)
        # Enqueued only if this transaction commits: the worker always finds the order.
        send_receipt.delay_on_commit(order.pk)
    return JsonResponse({"order_id": order.pk}, status=201)


@require_GET
def order_status(request: HttpRequest, order_id: int) -> JsonResponse:
    order = get_object_or_404(Order, pk=order_id)
    return JsonResponse({"order_id": order.pk, "receipt_sent": order.receipt_sent})
