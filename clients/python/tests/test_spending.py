"""The consumer's spending policy: its refusals are typed exceptions (docs/rpc.md, -32050…-32053)."""

import os

import pytest

import wpwithin
from conftest import CARD, Daemon, free_udp_port, loopback_discovery, short_tempdir, write_private


def test_the_spending_codes_have_their_exceptions():
    assert wpwithin.ERRORS_BY_CODE[-32050] is wpwithin.SpendingLimitExceededError
    assert wpwithin.ERRORS_BY_CODE[-32051] is wpwithin.ProducerNotAllowedError
    assert wpwithin.ERRORS_BY_CODE[-32052] is wpwithin.ServiceTypeNotAllowedError
    assert wpwithin.ERRORS_BY_CODE[-32053] is wpwithin.CurrencyNotAllowedError


def test_a_spending_refusal_is_its_typed_exception_and_changes_nothing(world, world_clients, sandbox):
    _, consumer = world_clients
    url = world.discover(consumer)["url"]
    card = write_private(os.path.join(short_tempdir("wpw-card-"), "card.json"), CARD)
    spender = Daemon("spender", {**loopback_discovery(free_udp_port(), "consumer"),
                                 "WPWITHIND_GATEWAY_ENDPOINT": sandbox.endpoint, "WPWITHIND_CARD_FILE": card},
                     {"consumer": {"spending": {"maxTotal": {"GBP": 999}, "denyServiceTypes": ["parking"]}}})
    try:
        with spender.client() as client:
            policy = client.getSpendingPolicy()
            assert policy["policy"]["maxTotal"] == [{"currencyCode": "GBP", "amount": 999}] and policy["budgets"] == []
            quote = client.selectService(url=url, serviceId=1, priceId=1, numberOfUnits=2)
            with pytest.raises(wpwithin.SpendingLimitExceededError) as refused:
                client.makePayment(paymentReferenceId=quote["paymentReferenceId"])
            error = refused.value
            assert isinstance(error, wpwithin.WPWithinError)
            assert error.code == -32050 and error.name == "spendingLimitExceeded" and error.method == "makePayment"
            assert error.data["limit"] == "maxTotal" and error.data["limitAmount"] == 999
            assert error.data["requested"] == 1000 and error.data["exceededBy"] == 1
            assert error.data["paymentReferenceId"] == quote["paymentReferenceId"]
            assert client.listPurchases() == []
            # One unit is within the limit.
            small = client.selectService(url=url, serviceId=1, priceId=1, numberOfUnits=1)
            assert client.makePayment(paymentReferenceId=small["paymentReferenceId"])["totalPaid"] == 500
    finally:
        spender.cleanup()
