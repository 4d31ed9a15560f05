"""Every answer of the daemon validates against its own rpc.discover document (issue 14).

A real purchase flow (producer + consumer + sandbox gateway) calls every method; each result is validated
against the method's ``result.schema``, each error's ``data`` against the ``x-dataSchema`` of its code, and
each event a subscriber receives against ``components/schemas/Event.<type>``, with ``jsonschema`` (Draft 7,
the dialect OpenRPC 1.2.6 uses). The snapshots the generators read are the live document.
"""

import copy
import json
import time
from collections import Counter
from typing import Any, Dict, List, Optional, Tuple

import jsonschema
import pytest

import wpwithin
import os
import signal

from conftest import CARD, REPO, ROBOWASH, Daemon, World, write_private

SCHEMAS = "#/components/schemas/"


class Validator:
    """Validates values against the schemas of one OpenRPC document (``$ref``s resolve inside it)."""

    def __init__(self, document: Dict[str, Any]) -> None:
        self.document = document
        self.methods = {m["name"]: m for m in document["methods"]}
        self.common = {e["code"]: e for e in document.get("x-commonErrors", [])}

    def check(self, schema: Dict[str, Any], value: Any, what: str) -> None:
        ref = schema.get("$ref", "")
        if ref.startswith("https://"):  # rpc.discover: the OpenRPC meta-schema (not fetched offline)
            schema = {"type": "object", "required": ["openrpc", "info", "methods", "components"]}
        root = {**schema, "components": self.document["components"]}
        errors = sorted(jsonschema.Draft7Validator(root).iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            details = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5])
            raise AssertionError(f"{what} does not match its schema: {details}\n{json.dumps(value)[:2000]}")

    def result(self, method: str, value: Any) -> None:
        self.check(self.methods[method]["result"]["schema"], value, f"{method} result")

    def error(self, method: str, error: wpwithin.WPWithinError) -> None:
        listed = {e["code"]: e for e in self.methods.get(method, {}).get("errors", [])}
        entry = listed.get(error.code) or self.common.get(error.code)
        assert entry is not None, f"{method} answered {error.code} {error}, which rpc.discover does not list for it"
        if error.data is not None:
            self.check(entry["x-dataSchema"], error.data, f"{method} error {error.code} data")

    def event(self, params: Dict[str, Any]) -> None:
        name = f"Event.{params.get('type')}"
        assert name in self.document["components"]["schemas"], f"no schema for the event {params.get('type')}"
        self.check({"$ref": SCHEMAS + name}, params, name)
        self.check({"$ref": SCHEMAS + "Event"}, params, "Event")


class Checked:
    """A client whose every answer is validated; counts what was checked."""

    def __init__(self, validator: Validator, client: wpwithin.Client) -> None:
        self.validator = validator
        self.client = client
        self.results: Counter = Counter()
        self.errors: Counter = Counter()

    def call(self, method: str, **params: Any) -> Any:
        result = self.client.call(method, params or None)
        self.validator.result(method, result)
        self.results[method] += 1
        return result

    def fails(self, code: int, method: str, **params: Any) -> wpwithin.WPWithinError:
        with pytest.raises(wpwithin.WPWithinError) as raised:
            self.client.call(method, params or None)
        assert raised.value.code == code, f"{method}: {raised.value.code} {raised.value} (expected {code})"
        self.validator.error(method, raised.value)
        self.errors[(method, code)] += 1
        return raised.value


def drain(stream, timeout: float = 0.5) -> List[Dict[str, Any]]:
    seen = []
    while True:
        try:
            seen.append(stream.next_event(timeout=timeout).params)
        except wpwithin.CallTimeoutError:
            return seen


def discover(daemon: Daemon) -> Dict[str, Any]:
    with daemon.client() as client:
        return client.discover()


@pytest.fixture(scope="module")
def live_world(sandbox):
    """A world of its own, so every event it produces comes from the flow below."""
    own = World(sandbox, name="openrpc")
    yield own
    own.cleanup()


def without_version(document: Dict[str, Any]) -> Dict[str, Any]:
    document = copy.deepcopy(document)
    document["info"].pop("version", None)
    return document


def test_the_document_is_the_same_whatever_roles_and_is_the_committed_snapshot(world, daemon):
    both, producer, consumer = discover(daemon), discover(world.producer), discover(world.consumer)
    assert producer == both and consumer == both, "rpc.discover differs with the roles"
    for method in both["methods"]:
        if method["name"] in {"addService", "removeService", "listServices", "startServiceBroadcast", "stopServiceBroadcast",
                              "requestServices", "getServicePrices", "selectService", "makePayment",
                              "beginServiceDelivery", "endServiceDelivery", "listPurchases", "deviceDiscovery", "searchForDevice"}:
            assert -32003 in [e["code"] for e in method["errors"]], f"{method['name']} does not say it answers roleDisabled"
    for snapshot in (REPO / "clients" / "python" / "openrpc.json", REPO / "clients" / "node" / "openrpc.json"):
        committed = json.loads(snapshot.read_text())
        assert without_version(committed) == without_version(both), (
            f"{snapshot.relative_to(REPO)} is not the daemon's document: regenerate the clients "
            "(clients/python/tools/generate.py --socket SOCK; clients/node/scripts/generate.js --socket SOCK)")


def test_every_result_error_and_event_of_a_purchase_flow_validates_against_the_document(live_world, sandbox, daemon):
    world = live_world
    document = discover(world.producer)
    validator = Validator(document)
    # A consumer whose card the sandbox declines (the magic cardholder name FAILED), then errs on (ERROR).
    declined = write_private(os.path.join(world.dir, "declined.json"), {**CARD, "firstName": "FAILED", "lastName": ""})
    erring = write_private(os.path.join(world.dir, "erring.json"), {**CARD, "firstName": "ERROR", "lastName": ""})
    unlucky = Daemon("unlucky", {"WPWITHIND_ROLES": "consumer", "WPWITHIND_GATEWAY_ENDPOINT": sandbox.endpoint,
                                 "WPWITHIND_CARD_FILE": declined})
    # resume_from=0: the journal from its start, so daemon.started is among the events checked.
    with world.producer.client() as p_client, world.consumer.client() as c_client, daemon.client() as l_client, \
            unlucky.client() as u_client, p_client.subscribe(resume_from=0) as p_events, \
            c_client.subscribe(resume_from=0) as c_events, l_client.subscribe(resume_from=0) as l_events:
        producer, consumer, lone, other = (Checked(validator, c) for c in (p_client, c_client, l_client, u_client))
        for stream in (p_events, c_events, l_events):
            validator.result("subscribe", stream.subscription)

        # The daemon's own methods, on both Things.
        for side in (producer, consumer):
            side.call("rpc.discover")
            side.call("getDevice")
            side.call("getStatus")
            side.call("getMetrics")

        # The producer's catalog.
        wash = {**ROBOWASH, "prices": [*ROBOWASH["prices"], {**ROBOWASH["prices"][0], "id": 2, "amount": 700, "stock": 3}]}
        producer.call("addService", service=wash)
        producer.call("addService", service={**ROBOWASH, "id": 2, "name": "Spare"})
        producer.call("listServices")
        producer.call("replaceService", service={**ROBOWASH, "id": 2, "name": "Spare, renamed"})
        producer.fails(-32010, "replaceService", service={**ROBOWASH, "id": 98})
        producer.call("removeService", serviceId=2)
        producer.fails(-32016, "addService", service=wash)
        producer.fails(-32027, "addService", service={**ROBOWASH, "id": 3, "prices": [{**ROBOWASH["prices"][0], "amount": 0}]})
        producer.fails(-32026, "addService", service={**ROBOWASH, "id": 3, "prices": [{**ROBOWASH["prices"][0], "currencyCode": "ZZZ"}]})
        producer.fails(-32010, "removeService", serviceId=99)
        producer.fails(-32602, "addService", service={**ROBOWASH, "id": "one"})
        producer.fails(-32003, "listPurchases")
        consumer.fails(-32003, "listServices")
        consumer.fails(-32601, "noSuchMethod")

        # Discovery.
        producer.call("startServiceBroadcast", timeoutMs=0)
        device = consumer.call("searchForDevice", serverId=world.server_id, timeoutMs=20000)
        consumer.call("deviceDiscovery", timeoutMs=50)
        producer.call("stopServiceBroadcast")
        consumer.fails(-32043, "searchForDevice", name="nobody-by-this-name", timeoutMs=50)
        producer.fails(-32003, "deviceDiscovery", timeoutMs=50)

        # The purchase, phase by phase.
        server = world.server_id
        consumer.call("requestServices", serverId=server)
        consumer.call("getServicePrices", serverId=server, serviceId=1)
        consumer.fails(-32010, "getServicePrices", serverId=server, serviceId=42)
        consumer.fails(-32014, "selectService", serverId=server, serviceId=1, priceId=2, numberOfUnits=5)
        consumer.fails(-32040, "requestServices", url="http://127.0.0.1:9")
        quote = consumer.call("selectService", serverId=server, serviceId=1, priceId=1, numberOfUnits=2)
        purchase = consumer.call("makePayment", paymentReferenceId=quote["paymentReferenceId"])
        assert consumer.call("makePayment", paymentReferenceId=quote["paymentReferenceId"]) == purchase
        consumer.fails(-32010, "makePayment", paymentReferenceId="no-such-reference")
        purchase_id = purchase["purchaseId"]
        consumer.fails(-32011, "endServiceDelivery", purchaseId=purchase_id, unitsReceived=1)
        consumer.call("beginServiceDelivery", purchaseId=purchase_id, units=1)
        consumer.fails(-32602, "endServiceDelivery", purchaseId=purchase_id, unitsReceived=5)
        consumer.call("endServiceDelivery", purchaseId=purchase_id, unitsReceived=1)
        consumer.call("beginServiceDelivery", purchaseId=purchase_id, units=5)
        consumer.call("endServiceDelivery", purchaseId=purchase_id, unitsReceived=1)
        consumer.fails(-32013, "beginServiceDelivery", purchaseId=purchase_id, units=1)
        consumer.fails(-32010, "beginServiceDelivery", purchaseId=9999, units=1)
        consumer.call("listPurchases")

        # Refunds of undelivered units: RoboWash does not refund; service 5's price does.
        consumer.fails(-32060, "requestRefund", purchaseId=purchase_id)
        refunding = {**ROBOWASH, "id": 5, "name": "Refunding", "prices": [{**ROBOWASH["prices"][0], "refundOnExpiry": True}]}
        producer.call("addService", service=refunding)
        refund_quote = consumer.call("selectService", serverId=server, serviceId=5, priceId=1, numberOfUnits=3)
        refund_purchase = consumer.call("makePayment", paymentReferenceId=refund_quote["paymentReferenceId"])["purchaseId"]
        consumer.call("beginServiceDelivery", purchaseId=refund_purchase, units=1)
        consumer.call("endServiceDelivery", purchaseId=refund_purchase, unitsReceived=1)
        assert consumer.call("requestRefund", purchaseId=refund_purchase)["amountRefunded"] == 1000
        assert consumer.call("requestRefund", purchaseId=refund_purchase)["unitsRefunded"] == 2
        consumer.fails(-32062, "beginServiceDelivery", purchaseId=refund_purchase, units=1)
        used_quote = consumer.call("selectService", serverId=server, serviceId=5, priceId=1, numberOfUnits=1)
        used = consumer.call("makePayment", paymentReferenceId=used_quote["paymentReferenceId"])["purchaseId"]
        consumer.call("beginServiceDelivery", purchaseId=used, units=1)
        consumer.call("endServiceDelivery", purchaseId=used, unitsReceived=1)
        consumer.fails(-32061, "requestRefund", purchaseId=used)

        # A Thing with no card (the lone daemon, both roles) buys from the same producer by url.
        lone_quote = lone.call("selectService", url=device["url"], serviceId=1, priceId=1, numberOfUnits=1)
        lone.fails(-32029, "makePayment", paymentReferenceId=lone_quote["paymentReferenceId"])
        lone.call("listPurchases")

        # Declined, then an answer the producer cannot read (the outcome is unknown; it reconciles).
        declined_quote = other.call("selectService", url=device["url"], serviceId=1, priceId=1, numberOfUnits=1)
        other.fails(-32020, "makePayment", paymentReferenceId=declined_quote["paymentReferenceId"])
        unlucky.stop()
        unlucky.env["WPWITHIND_CARD_FILE"] = erring
        unlucky.start()
        unknown_quote = other.call("selectService", url=device["url"], serviceId=1, priceId=1, numberOfUnits=1)
        other.fails(-32028, "makePayment", paymentReferenceId=unknown_quote["paymentReferenceId"])

        # The spending policy: a consumer with limits and a budget, then one per list.
        frugal = Daemon("frugal", {"WPWITHIND_ROLES": "consumer", "WPWITHIND_GATEWAY_ENDPOINT": sandbox.endpoint,
                                   "WPWITHIND_CARD_FILE": write_private(os.path.join(world.dir, "card.json"), CARD)},
                        {"consumer": {"spending": {"maxUnits": 3, "dailyBudget": {"GBP": 600}, "maxTotal": {"GBP": 1500}}}})
        daemons = [frugal]
        try:
            with frugal.client() as f_client, f_client.subscribe(resume_from=0) as f_events:
                spender = Checked(validator, f_client)
                spender.fails(-32050, "makePayment", paymentReferenceId=spender.call(
                    "selectService", url=device["url"], serviceId=1, priceId=1, numberOfUnits=4)["paymentReferenceId"])
                spender.call("makePayment", paymentReferenceId=spender.call(
                    "selectService", url=device["url"], serviceId=1, priceId=1, numberOfUnits=1)["paymentReferenceId"])
                spender.fails(-32050, "makePayment", paymentReferenceId=spender.call(
                    "selectService", url=device["url"], serviceId=1, priceId=1, numberOfUnits=1)["paymentReferenceId"])
                spender.call("getSpendingPolicy")
                spender.call("getStatus")
                for code, policy in ((-32051, {"denyProducers": [server]}), (-32052, {"denyServiceTypes": ["car-wash"]}),
                                     (-32053, {"allowCurrencies": ["EUR"]})):
                    picky = Daemon("picky", {"WPWITHIND_ROLES": "consumer", "WPWITHIND_GATEWAY_ENDPOINT": sandbox.endpoint,
                                             "WPWITHIND_CARD_FILE": os.path.join(world.dir, "card.json")},
                                   {"consumer": {"spending": policy}})
                    daemons.append(picky)
                    with picky.client() as picky_client:
                        checked = Checked(validator, picky_client)
                        checked.fails(code, "makePayment", paymentReferenceId=checked.call(
                            "selectService", url=device["url"], serviceId=1, priceId=1, numberOfUnits=1)["paymentReferenceId"])
                        checked.call("getSpendingPolicy")
                        other.results += checked.results
                        other.errors += checked.errors
                spending_events = drain(f_events, 0.5)
                other.results += spender.results
                other.errors += spender.errors
        finally:
            for each in daemons:
                each.cleanup()

        # daemon.reloaded (SIGHUP), and daemon.stopping with the next daemon.started (a restart of the lone one).
        world.producer.process.send_signal(signal.SIGHUP)
        daemon.restart()
        deadline = time.monotonic() + 20
        events = []
        while time.monotonic() < deadline and not {"daemon.reloaded", "daemon.stopping"} <= {e["type"] for e in events}:
            events += drain(p_events, 0.2) + drain(l_events, 0.2)
        for side in (producer, consumer):
            side.call("unsubscribe")
        events += drain(p_events) + drain(c_events) + drain(l_events) + spending_events
    unlucky.cleanup()

    for params in events:
        validator.event(params)
    seen = Counter(params["type"] for params in events)
    for expected in ("daemon.started", "daemon.reloaded", "daemon.stopping", "producer.paymentFailed",
                     "producer.paymentOutcomeUnknown", "producer.serviceAdded", "producer.serviceRemoved", "producer.quoteCreated", "producer.paymentStarted",
                     "producer.paymentSucceeded", "producer.deliveryBegun", "producer.deliveryEnded",
                     "consumer.deviceDiscovered", "consumer.quoteReceived", "consumer.purchaseRecorded",
                     "consumer.deliveryBegun", "consumer.deliveryConfirmed", "consumer.deliveryEnded",
                     "consumer.deliverySynced", "consumer.error", "consumer.spendingRefused",
                     "producer.refundIssued", "consumer.refundReceived"):
        assert seen[expected], f"no {expected} event was received (saw {dict(seen)})"

    results = producer.results + consumer.results + lone.results + other.results
    errors = producer.errors + consumer.errors + lone.errors + other.errors
    untested = set(validator.methods) - set(results) - {"subscribe"}
    assert not untested, f"methods whose answer was not validated: {sorted(untested)}"
    print(f"\nopenrpc: {sum(results.values())} results of {len(results) + 1} methods, "
          f"{sum(errors.values())} errors of {len({c for _, c in errors})} codes, "
          f"{len(events)} events of {len(seen)} types validated: {dict(sorted(seen.items()))}; errors: {sorted(c for _, c in errors)}")


def test_the_validation_fails_for_an_answer_that_breaks_its_schema(world):
    """The check above can fail: a schema that says purchaseId is a string refuses a real purchase."""
    document = discover(world.producer)
    with world.consumer.client() as client:
        world.discover(client)
        quote = client.call("selectService", {"serverId": world.server_id, "serviceId": 1, "priceId": 1, "numberOfUnits": 1})
        purchase = client.call("makePayment", {"paymentReferenceId": quote["paymentReferenceId"]})
    Validator(document).result("makePayment", purchase)
    broken = copy.deepcopy(document)
    broken["components"]["schemas"]["Purchase"]["properties"]["purchaseId"] = {"type": "string"}
    with pytest.raises(AssertionError, match="purchaseId"):
        Validator(broken).result("makePayment", purchase)
    extra = {**purchase, "surprise": 1}
    with pytest.raises(AssertionError, match="surprise"):
        Validator(document).result("makePayment", extra)
    with pytest.raises(AssertionError, match="unitsGranted"):
        Validator(document).event({"seq": 1, "type": "producer.deliveryBegun", "time": "t", "unitsGranted": "two"})
