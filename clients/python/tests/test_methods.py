"""The typed layer matches the daemon: its method list, parameters, error codes; every method is callable."""

import asyncio
import inspect
import re
import subprocess
import sys

import pytest

import wpwithin
from wpwithin import _generated
from conftest import REPO, ROBOWASH


def test_client_has_every_method_of_a_live_daemon(daemon):
    """A method added to the daemon (or a parameter changed) and missing from the client fails here.

    The daemon runs both roles: a daemon lists only the methods of the roles it runs.
    """
    with daemon.client() as client:
        document = client.discover()
    live = {m["name"]: m for m in document["methods"]}
    assert sorted(live) == sorted(wpwithin.METHODS), "regenerate: python3 clients/python/tools/generate.py --socket SOCK"
    for name, method in live.items():
        params = {p["name"]: {"required": bool(p.get("required")), "schema": p.get("schema", {})} for p in method["params"]}
        assert params == _generated.PARAMS[name], f"{name}: parameters differ from the daemon's"
        python_name = _generated.PYTHON_NAMES[name]
        for cls in (wpwithin.Client, wpwithin.AsyncClient):
            assert callable(getattr(cls, python_name, None)), f"{cls.__name__} lacks {python_name} ({name})"
        if name not in _generated.HANDWRITTEN:
            assert inspect.iscoroutinefunction(getattr(wpwithin.AsyncClient, python_name))
            signature = inspect.signature(getattr(wpwithin.Client, python_name))
            assert [p for p in signature.parameters if p != "self"] == [_python(p) for p in params]
            for param in signature.parameters.values():
                assert param.name == "self" or param.kind is inspect.Parameter.KEYWORD_ONLY


def _python(name):
    return name if name.isidentifier() else name + "_"


def test_a_one_role_daemon_lists_every_method_and_refuses_the_other_roles(world):
    select = {"url": "http://127.0.0.1:9", "serviceId": 1, "priceId": 1, "numberOfUnits": 1}
    for one_role, other, params in ((world.producer, "selectService", select), (world.consumer, "listServices", {})):
        with one_role.client() as client:
            names = {m["name"] for m in client.discover()["methods"]}
            assert names == set(wpwithin.METHODS)
            try:
                client.call(other, params)
            except wpwithin.WPWithinError as error:
                assert error.code == -32003, error
            else:
                raise AssertionError(f"{other} answered on a Thing without its role")


def test_error_codes_used_by_the_daemon_have_classes(daemon):
    with daemon.client() as client:
        document = client.discover()
    for method in document["methods"]:
        for error in method.get("errors", []):
            cls = wpwithin.ERRORS_BY_CODE[error["code"]]
            assert cls.name == error["message"], method["name"]


def test_error_classes_match_the_table_in_docs_rpc_md():
    rows = re.findall(r"^\| (-\d+) \| (\w+) \|", (REPO / "docs" / "rpc.md").read_text(), re.M)
    assert len(rows) >= 30
    assert {int(code): name for code, name in rows} == {code: cls.name for code, cls in wpwithin.ERRORS_BY_CODE.items()}
    for code, cls in wpwithin.ERRORS_BY_CODE.items():
        assert issubclass(cls, wpwithin.WPWithinError) and cls.code == code
        assert getattr(wpwithin, cls.__name__) is cls


def test_generated_code_is_up_to_date_with_the_snapshot():
    generator = REPO / "clients" / "python" / "tools" / "generate.py"
    result = subprocess.run([sys.executable, str(generator), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


class Recorder(wpwithin.Client):
    """A client that notes which typed methods were called."""

    called = set()

    def _invoke(self, method, params):
        Recorder.called.add(method)
        return super()._invoke(method, params)

    def subscribe(self, *args, **kwargs):
        Recorder.called.add("subscribe")
        return super().subscribe(*args, **kwargs)


def test_every_method_is_callable(world):
    producer = Recorder(world.producer.socket_path)
    consumer = Recorder(world.consumer.socket_path)
    server = world.server_id
    with producer, consumer:
        assert producer.rpc_discover()["methods"]
        assert producer.getDevice()["serverId"] == server
        assert consumer.getStatus()["ready"] is True
        metrics = producer.getMetrics()
        assert metrics["contentType"].startswith("text/plain; version=0.0.4")
        assert "# TYPE wpwithind_rpc_calls_total counter" in metrics["text"]
        with producer.subscribe(["producer.serviceAdded"]) as events:
            added = producer.addService(service={**ROBOWASH, "id": 70, "name": "Extra"})
            assert added["id"] == 70
            assert events.next_event(timeout=10)["serviceId"] == 70
        assert 70 in [s["id"] for s in producer.listServices()]
        assert producer.replaceService(service={**ROBOWASH, "id": 70, "name": "Extra+"})["name"] == "Extra+"
        assert producer.removeService(serviceId=70) == {"removed": True}
        assert producer.unsubscribe() == {"subscribed": False}
        assert producer.startServiceBroadcast(timeoutMs=0) == {"broadcasting": True}
        assert consumer.searchForDevice(serverId=server, timeoutMs=20000)["serverId"] == server
        assert server in [d["serverId"] for d in consumer.deviceDiscovery(timeoutMs=50)]
        assert producer.stopServiceBroadcast() == {"broadcasting": False}
        assert consumer.requestServices(serverId=server)["services"]
        assert consumer.getServicePrices(serverId=server, serviceId=1)["prices"][0]["amount"] == 500
        quote = consumer.selectService(serverId=server, serviceId=1, priceId=1, numberOfUnits=1)
        purchase = consumer.makePayment(paymentReferenceId=quote["paymentReferenceId"])
        assert consumer.beginServiceDelivery(purchaseId=purchase["purchaseId"], units=1)["unitsToSupply"] == 1
        assert consumer.endServiceDelivery(purchaseId=purchase["purchaseId"], unitsReceived=1)["unitsRemaining"] == 0
        assert purchase["purchaseId"] in [p["purchaseId"] for p in consumer.listPurchases()]
        assert consumer.getSpendingPolicy()["budgets"] == []
        # RoboWash does not refund: the typed refusal.
        with pytest.raises(wpwithin.RefundNotOfferedError):
            consumer.requestRefund(purchaseId=purchase["purchaseId"])
    assert Recorder.called == set(wpwithin.METHODS), f"not called: {set(wpwithin.METHODS) - Recorder.called}"


def test_every_method_is_a_coroutine_on_the_async_client(world):
    async def main():
        async with wpwithin.AsyncClient(world.producer.socket_path) as client:
            device, status, services = await asyncio.gather(client.getDevice(), client.getStatus(), client.listServices())
            assert device["serverId"] == world.server_id and status["ready"] and services
            assert (await client.discover())["methods"]

    asyncio.run(main())


def test_wrong_argument_types_are_caught_before_sending(world):
    with world.consumer.client() as client:
        with pytest.raises(TypeError, match="numberOfUnits must be an integer"):
            client.selectService(serverId="x", serviceId=1, priceId=1, numberOfUnits="3")
        with pytest.raises(TypeError, match="serviceId must be an integer, not bool"):
            client.getServicePrices(serverId="x", serviceId=True)
        with pytest.raises(TypeError, match="must be an integer, not float"):
            client.beginServiceDelivery(purchaseId=1.0, units=1)
        with pytest.raises(TypeError, match="serverId must be a string"):
            client.requestServices(serverId=42)
        with pytest.raises(TypeError, match="service must be an object"):
            client.addService(service=[1, 2])
        with pytest.raises(TypeError):
            client.makePayment()  # a required parameter is missing
        with pytest.raises(TypeError):
            client.makePayment("ref")  # parameters are by name only
        with pytest.raises(ValueError, match="units must be >= 1, got 0"):
            client.beginServiceDelivery(purchaseId=1, units=0)
        with pytest.raises(ValueError, match="timeoutMs must be <= 600000"):
            client.deviceDiscovery(timeoutMs=600001)
        with pytest.raises(TypeError, match="types must be a list"):
            client.subscribe("daemon.started")
        with pytest.raises(ValueError, match="is not one of"):
            client.subscribe(["no.such.event"])
        with pytest.raises(ValueError):
            client.call("getDevice", {"x": float("nan")})  # not JSON
        with pytest.raises(TypeError):
            client.call("getDevice", ["positional"])
        # Nothing was sent: the connection is still in step.
        assert client.getDevice()["serverId"]

    async def main():
        async with wpwithin.AsyncClient(world.consumer.socket_path) as client:
            with pytest.raises(ValueError, match="numberOfUnits must be >= 1"):
                await client.selectService(serverId="x", serviceId=1, priceId=1, numberOfUnits=0)
            with pytest.raises(TypeError):
                await client.makePayment(paymentReferenceId=7)

    asyncio.run(main())
