"""Event streams: order, resume_from, resuming across a daemon restart and after subscriptionLost."""

import asyncio
import signal

import pytest

import wpwithin
from conftest import Daemon, ROBOWASH, free_udp_port, loopback_discovery


def service(service_id: int) -> dict:
    return {**ROBOWASH, "id": service_id, "name": f"Wash {service_id}"}


def added_ids(events):
    return [e["serviceId"] for e in events if e.type == "producer.serviceAdded"]


def test_events_come_in_seq_order_and_resume_from_replays(daemon):
    with daemon.client() as client, client.subscribe(["producer.serviceAdded"]) as stream:
        assert stream.subscription["subscribed"] is True
        for i in (1, 2, 3):
            client.addService(service=service(i))
        events = [stream.next_event(timeout=10) for _ in range(3)]
        assert added_ids(events) == [1, 2, 3]
        assert [e.seq for e in events] == sorted(e.seq for e in events)
        assert stream.last_seq == events[-1].seq
        assert events[0].time.endswith("Z") and events[0].epoch == 0
        # Nothing more is waiting: next_event times out, and nothing is lost by that.
        with pytest.raises(wpwithin.CallTimeoutError):
            stream.next_event(timeout=0.2)
        client.addService(service=service(4))
        assert stream.next_event(timeout=10)["serviceId"] == 4

        # A new stream resuming from the first event's seq replays the others.
        with client.subscribe(["producer.serviceAdded"], resume_from=events[0].seq) as again:
            assert again.subscription["replayed"] == 3
            assert added_ids([again.next_event(timeout=10) for _ in range(3)]) == [2, 3, 4]


def test_events_are_typed_by_default(daemon):
    """``Event.params`` is ``EventParams``, the union of the generated TypedDicts discriminated by ``type``."""
    import typing

    assert typing.get_type_hints(wpwithin.Event)["params"] == wpwithin.EventParams
    members = typing.get_args(wpwithin.EventParams)
    assert wpwithin.EventProducerServiceAdded in members and len(members) == len(wpwithin.EVENT_TYPES)
    with daemon.client() as client, client.subscribe(["producer.serviceAdded"]) as stream:
        client.addService(service=service(7))
        event = stream.next_event(timeout=10)
        params = event.payload
        assert params is event.params and event.known
        if params["type"] == "producer.serviceAdded":  # narrows to EventProducerServiceAdded
            assert params["serviceId"] == 7
        typed = wpwithin.EventProducerServiceAdded
        assert set(params) <= typed.__required_keys__ | typed.__optional_keys__
    unknown = wpwithin.Event(1, "producer.teleported", "t", {"seq": 1, "type": "producer.teleported", "time": "t"})
    assert not unknown.known and unknown["type"] == "producer.teleported"  # a newer daemon's type arrives as it came


def test_a_stream_resumes_across_a_daemon_restart(daemon):
    client = daemon.client()
    stream = client.subscribe(["daemon.started", "daemon.stopping", "producer.serviceAdded"])
    client.addService(service=service(1))
    client.addService(service=service(2))
    assert added_ids([stream.next_event(timeout=10) for _ in range(2)]) == [1, 2]

    # SIGTERM, restart on the same state dir; events happen before the stream notices.
    assert daemon.stop(signal.SIGTERM) == 0
    daemon.start()
    for i in (3, 4, 5, 6):  # more events than the old run had: their seqs pass the last one seen
        client.addService(service=service(i))  # the client connects again by itself

    seen = []
    while len(added_ids(seen)) < 4:
        seen.append(stream.next_event(timeout=30))
    types = [e.type for e in seen]
    assert types == ["daemon.stopping", "daemon.started"] + ["producer.serviceAdded"] * 4, seen
    assert added_ids(seen) == [3, 4, 5, 6]
    assert stream.reconnects >= 1
    # This daemon numbers its events from 1 again after a restart: the stream noticed and replayed the
    # new run from its start (a new epoch) instead of skipping seqs it had already seen.
    if seen[1].seq <= seen[0].seq:
        assert stream.epoch == 1 and seen[1].epoch == 1
    client.addService(service=service(7))
    assert stream.next_event(timeout=10)["serviceId"] == 7
    with pytest.raises(wpwithin.CallTimeoutError):
        stream.next_event(timeout=0.2)  # and nothing twice
    stream.close()
    client.close()


def test_an_async_stream_resumes_after_the_daemon_was_killed(daemon):
    async def main():
        async with wpwithin.AsyncClient(daemon.socket_path) as client:
            async with client.subscribe(["producer.serviceAdded"]) as stream:
                await client.addService(service=service(1))
                assert (await stream.next_event(timeout=10))["serviceId"] == 1
                daemon.stop(signal.SIGKILL)
                daemon.start()
                await client.addService(service=service(2))
                event = await stream.next_event(timeout=30)
                assert event["serviceId"] == 2
                await client.addService(service=service(3))
                ids = [event["serviceId"]]
                async for event in stream:
                    ids.append(event["serviceId"])
                    break
                assert ids == [2, 3]
                assert stream.reconnects >= 1

    asyncio.run(main())


def test_a_stream_without_reconnect_raises_connection_lost(daemon):
    with daemon.client() as client:
        stream = client.subscribe(reconnect=False)
        daemon.stop(signal.SIGKILL)
        with pytest.raises(wpwithin.ConnectionLostError):
            while True:
                stream.next_event(timeout=10)
        with pytest.raises(wpwithin.ClientClosedError):
            stream.next_event(timeout=1)


def test_a_stream_gives_up_after_reconnect_timeout(daemon):
    with daemon.client() as client:
        stream = client.subscribe(["producer.serviceAdded"], reconnect_timeout=0.5)
        daemon.stop(signal.SIGKILL)
        with pytest.raises(wpwithin.ConnectionLostError, match="could not resubscribe"):
            stream.next_event(timeout=20)


@pytest.fixture
def small_buffer_daemon():
    """A daemon that drops a subscriber 16 events behind (subscriptionLost)."""
    lone = Daemon("lossy", loopback_discovery(free_udp_port(), "producer"), {"rpc": {"eventBufferPerSubscriber": 16}})
    yield lone
    lone.cleanup()


def test_subscription_lost_is_resumed_without_loss_or_duplicates(small_buffer_daemon):
    types = ["producer.serviceAdded", "producer.serviceRemoved"]
    workers, pairs = 4, 150
    with small_buffer_daemon.client() as client:
        resuming = client.subscribe(types)
        raising = client.subscribe(types, reconnect=False)
        first = resuming.subscription["lastSeq"]

        async def worker(service_id):
            async with wpwithin.AsyncClient(small_buffer_daemon.socket_path) as flooder:
                for _ in range(pairs):
                    await flooder.addService(service=service(service_id))
                    await flooder.removeService(serviceId=service_id)

        async def flood():
            # Nobody reads the streams meanwhile: the daemon's buffers fill and it drops both subscribers.
            await asyncio.gather(*(worker(k) for k in range(1, workers + 1)))

        asyncio.run(flood())
        total = workers * pairs * 2
        events = [resuming.next_event(timeout=20) for _ in range(total)]
        assert [e.seq for e in events] == list(range(first + 1, first + total + 1))  # each once, in order
        assert resuming.reconnects >= 1, "the daemon never sent subscriptionLost: flood harder"
        with pytest.raises(wpwithin.CallTimeoutError):
            resuming.next_event(timeout=0.2)

        with pytest.raises(wpwithin.SubscriptionLostError) as lost:
            while True:
                raising.next_event(timeout=20)
        assert first < lost.value.last_seq < first + total
        assert f"resume_from={lost.value.last_seq}" in str(lost.value)
        resuming.close()
        raising.close()
