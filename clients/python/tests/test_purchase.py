"""Discover -> select -> pay -> deliver through the client, and the daemon's refusals as error subclasses."""

import asyncio

import pytest

import wpwithin


def test_a_consumer_buys_three_units_and_uses_them_in_two_sessions(world, world_clients):
    producer, consumer = world_clients
    with producer.subscribe(["producer.deliveryBegun", "producer.deliveryEnded"]) as deliveries:
        # Discover.
        device = world.discover(consumer)
        assert device["serverId"] == world.server_id and device["hostname"] == "127.0.0.1"
        services = consumer.requestServices(serverId=world.server_id)["services"]
        assert [s["name"] for s in services] == ["RoboWash"]
        prices = consumer.getServicePrices(serverId=world.server_id, serviceId=services[0]["serviceId"])["prices"]
        assert prices[0]["amount"] == 500 and prices[0]["currencyCode"] == "GBP"

        # Select.
        quote = consumer.selectService(serverId=world.server_id, serviceId=1, priceId=prices[0]["priceId"], numberOfUnits=3)
        assert quote["totalPrice"] == 1500 and quote["unitsToSupply"] == 3

        # Pay, twice: the same purchase, charged once.
        purchase = consumer.makePayment(paymentReferenceId=quote["paymentReferenceId"])
        assert purchase["unitsBought"] == 3 and purchase["totalPaid"] == 1500
        assert consumer.makePayment(paymentReferenceId=quote["paymentReferenceId"])["purchaseId"] == purchase["purchaseId"]

        # Deliver: 2 units, then 1.
        pid = purchase["purchaseId"]
        assert consumer.beginServiceDelivery(purchaseId=pid, units=2)["unitsToSupply"] == 2
        assert consumer.endServiceDelivery(purchaseId=pid, unitsReceived=2)["unitsRemaining"] == 1
        assert consumer.beginServiceDelivery(purchaseId=pid, units=1)["unitsToSupply"] == 1
        ended = consumer.endServiceDelivery(purchaseId=pid, unitsReceived=1)
        assert ended["unitsRemaining"] == 0 and ended["unitsDelivered"] == 3
        listed = {p["purchaseId"]: p for p in consumer.listPurchases()}
        assert listed[pid]["unitsDelivered"] == 3

        # The producer's app heard every begin and end, in order.
        types = [deliveries.next_event(timeout=10).type for _ in range(4)]
        assert types == ["producer.deliveryBegun", "producer.deliveryEnded"] * 2


def test_the_same_flow_with_the_asyncio_client(world):
    async def main():
        async with wpwithin.AsyncClient(world.consumer.socket_path) as consumer:
            async with wpwithin.AsyncClient(world.producer.socket_path) as producer:
                await producer.startServiceBroadcast(timeoutMs=0)
            await consumer.searchForDevice(serverId=world.server_id, timeoutMs=20000)
            async with consumer.subscribe(["consumer.purchaseRecorded", "consumer.deliveryEnded"]) as events:
                quote = await consumer.selectService(serverId=world.server_id, serviceId=1, priceId=1, numberOfUnits=3)
                purchase = await consumer.makePayment(paymentReferenceId=quote["paymentReferenceId"])
                pid = purchase["purchaseId"]
                await consumer.beginServiceDelivery(purchaseId=pid, units=2)
                await consumer.endServiceDelivery(purchaseId=pid, unitsReceived=2)
                await consumer.beginServiceDelivery(purchaseId=pid, units=1)
                assert (await consumer.endServiceDelivery(purchaseId=pid, unitsReceived=1))["unitsRemaining"] == 0
                seen = [await events.next_event(timeout=10) for _ in range(3)]
                assert [e.type for e in seen] == ["consumer.purchaseRecorded", "consumer.deliveryEnded", "consumer.deliveryEnded"]
                assert seen[0].seq < seen[1].seq < seen[2].seq

    asyncio.run(main())


def test_the_daemons_refusals_are_error_subclasses(world, world_clients):
    producer, consumer = world_clients
    world.discover(consumer)
    server = world.server_id

    with pytest.raises(wpwithin.NotFoundError) as unknown_server:
        consumer.requestServices(serverId="00000000-0000-4000-8000-000000000000")
    assert unknown_server.value.code == -32010 and unknown_server.value.method == "requestServices"
    with pytest.raises(wpwithin.NotFoundError):
        consumer.selectService(serverId=server, serviceId=1, priceId=9, numberOfUnits=1)
    with pytest.raises(wpwithin.NotFoundError):
        consumer.makePayment(paymentReferenceId="no-such-reference")
    with pytest.raises(wpwithin.NotFoundError):
        consumer.beginServiceDelivery(purchaseId=999999, units=1)
    # units 0 is caught by the typed layer; sent raw, the daemon refuses it by name.
    with pytest.raises(wpwithin.InvalidParamsError) as zero:
        consumer.call("selectService", {"serverId": server, "serviceId": 1, "priceId": 1, "numberOfUnits": 0})
    assert zero.value.data["field"] == "numberOfUnits"
    with pytest.raises(wpwithin.InvalidParamsError) as both:
        consumer.searchForDevice(serverId="x", name="y")
    assert both.value.code == -32602
    with pytest.raises(wpwithin.DiscoveryTimeoutError):
        consumer.searchForDevice(serverId="00000000-0000-4000-8000-000000000000", timeoutMs=100)
    with pytest.raises(wpwithin.MethodNotFoundError) as missing:
        consumer.call("noSuchMethod")
    assert missing.value.data == {"method": "noSuchMethod"}
    with pytest.raises(wpwithin.RoleDisabledError):
        consumer.startServiceBroadcast()
    with pytest.raises(wpwithin.AlreadyExistsError):
        producer.addService(service={"id": 1, "name": "Again", "description": "", "serviceType": "x",
                                     "prices": [{"id": 1, "description": "d", "amount": 1, "currencyCode": "GBP",
                                                 "unitId": 1, "unitDescription": "u", "stock": None}]})
    with pytest.raises(wpwithin.AmountInvalidError):
        producer.addService(service={"id": 80, "name": "Free", "description": "", "serviceType": "x",
                                     "prices": [{"id": 1, "description": "d", "amount": 0, "currencyCode": "GBP",
                                                 "unitId": 1, "unitDescription": "u", "stock": None}]})
    with pytest.raises(wpwithin.NotFoundError):
        producer.removeService(serviceId=4242)

    # Ending more than begun, and beginning more than bought.
    quote = consumer.selectService(serverId=server, serviceId=1, priceId=1, numberOfUnits=1)
    purchase = consumer.makePayment(paymentReferenceId=quote["paymentReferenceId"])
    with pytest.raises(wpwithin.ConflictError):
        consumer.endServiceDelivery(purchaseId=purchase["purchaseId"], unitsReceived=1)  # nothing begun
    consumer.beginServiceDelivery(purchaseId=purchase["purchaseId"], units=1)
    consumer.endServiceDelivery(purchaseId=purchase["purchaseId"], unitsReceived=1)
    with pytest.raises(wpwithin.InsufficientUnitsError) as used_up:
        consumer.beginServiceDelivery(purchaseId=purchase["purchaseId"], units=1)
    error = used_up.value
    assert isinstance(error, wpwithin.WPWithinError) and error.code == -32013 and error.name == "insufficientUnits"
    assert "insufficientUnits -32013" in str(error)
    # The connection is still in step after every refusal.
    assert consumer.getDevice()["roles"] == ["consumer"]
