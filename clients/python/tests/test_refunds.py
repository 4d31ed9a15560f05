"""requestRefund: the producer's refund of undelivered units, and its refusals as error subclasses."""

import copy

import pytest

import wpwithin
from conftest import ROBOWASH, World


@pytest.fixture
def refunding_world(sandbox):
    """A producer whose RoboWash price refunds undelivered units (refundOnExpiry)."""
    service = copy.deepcopy(ROBOWASH)
    service["prices"][0]["refundOnExpiry"] = True
    own = World(sandbox, {"producer": {"services": [service]}}, name="refunding")
    yield own
    own.cleanup()


def buy(world, consumer, units, delivered):
    world.discover(consumer)
    quote = consumer.selectService(serverId=world.server_id, serviceId=1, priceId=1, numberOfUnits=units)
    purchase = consumer.makePayment(paymentReferenceId=quote["paymentReferenceId"])
    if delivered:
        consumer.beginServiceDelivery(purchaseId=purchase["purchaseId"], units=delivered)
        consumer.endServiceDelivery(purchaseId=purchase["purchaseId"], unitsReceived=delivered)
    return purchase["purchaseId"]


def test_request_refund_is_granted_once_and_maps_refusals_to_error_subclasses(refunding_world):
    with refunding_world.consumer.client() as consumer:
        pid = buy(refunding_world, consumer, units=3, delivered=1)
        refunded = consumer.requestRefund(purchaseId=pid)
        assert refunded["refundStatus"] == "issued"
        assert refunded["unitsRefunded"] == 2 and refunded["amountRefunded"] == 1000
        assert refunded["unitsRemaining"] == 0
        again = consumer.requestRefund(purchaseId=pid)
        assert again["unitsRefunded"] == 2 and again["amountRefunded"] == 1000

        with pytest.raises(wpwithin.UnitsRefundedError) as refused:
            consumer.beginServiceDelivery(purchaseId=pid, units=1)
        assert refused.value.code == -32062 and refused.value.data["unitsRefunded"] == 2

        full = buy(refunding_world, consumer, units=1, delivered=1)
        with pytest.raises(wpwithin.NothingToRefundError) as nothing:
            consumer.requestRefund(purchaseId=full)
        assert nothing.value.code == -32061 and nothing.value.data["purchaseId"] == full

        with pytest.raises(wpwithin.NotFoundError):
            consumer.requestRefund(purchaseId=999999)


def test_a_price_without_refunds_is_refund_not_offered(world, world_clients):
    _, consumer = world_clients
    pid = buy(world, consumer, units=2, delivered=0)
    before = [p for p in consumer.listPurchases() if p["purchaseId"] == pid]
    with pytest.raises(wpwithin.RefundNotOfferedError) as refused:
        consumer.requestRefund(purchaseId=pid)
    assert refused.value.code == -32060 and refused.value.data["reason"] == "notAllowed"
    assert isinstance(refused.value, wpwithin.WPWithinError)
    assert [p for p in consumer.listPurchases() if p["purchaseId"] == pid] == before
