#!/usr/bin/env python3
"""A car wash that sells washes through wpwithind (the producer side of Worldpay Within).

Registers a car-wash service with its daemon (addService), broadcasts it on the discovery port
(startServiceBroadcast) and prints every delivery the daemon reports: a consumer that paid begins a
delivery (the wash starts) and ends it (the washes it received). Exits after --deliveries finished
deliveries (0: run until Ctrl-C). Standard library only, plus the wpwithin client.

    python3 examples/python/carwash_producer.py --socket /run/wpwithin.sock --deliveries 2
"""

import argparse
import os
import sys

try:
    import wpwithin
except ImportError:  # running from a checkout: use the client next to this file
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python", "src"))
    import wpwithin

from money import money


def car_wash(service_id: int, amount: int, currency: str) -> dict:
    return {
        "id": service_id,
        "name": "Car wash",
        "description": "Car washed by robot",
        "serviceType": "car-wash",
        "prices": [
            {
                "id": 1,
                "description": "One wash",
                "amount": amount,
                "currencyCode": currency,
                "unitId": 1,
                "unitDescription": "Single wash",
                "stock": None,
            }
        ],
    }


def say(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace) -> int:
    with wpwithin.Client(args.socket) as client:
        device = client.getDevice()
        say(f"producer: {device['name']} ({device['serverId']})")
        # Subscribe first, so no delivery that follows is missed.
        with client.subscribe(["producer.deliveryBegun", "producer.deliveryEnded"]) as deliveries:
            try:
                service = client.addService(service=car_wash(args.service_id, args.amount, args.currency))
                say(f"service {service['id']} registered: {service['name']}, {money(args.amount, args.currency)} a wash")
            except wpwithin.AlreadyExistsError:
                say(f"service {args.service_id} already registered")
            client.startServiceBroadcast(timeoutMs=0)
            say("ready: broadcasting, waiting for customers")
            finished = 0
            try:
                for event in deliveries:
                    if event.type == "producer.deliveryBegun":
                        say(f"delivery begun: {event.get('unitsGranted')} wash(es) for payment {event.get('paymentReferenceId')}")
                    else:
                        finished += 1
                        say(
                            f"delivery ended: {event.get('unitsCommitted')} wash(es) done, "
                            f"{event.get('unitsDelivered')} of {event.get('unitsPurchased')} delivered"
                        )
                        if args.deliveries and finished >= args.deliveries:
                            break
            finally:
                try:
                    client.stopServiceBroadcast()
                except (wpwithin.WPWithinError, wpwithin.WPWithinClientError):
                    pass
    say(f"stopped after {finished} deliveries")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="A car-wash producer for wpwithind.")
    parser.add_argument("--socket", help="the daemon's socket (default: $WPWITHIN_SOCKET, else /run/wpwithin.sock)")
    parser.add_argument("--deliveries", type=int, default=0, help="exit after this many finished deliveries (0: never)")
    parser.add_argument("--service-id", type=int, default=1)
    parser.add_argument("--amount", type=int, default=500, help="price of one wash in minor units (default: 500)")
    parser.add_argument("--currency", default="GBP")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        say("interrupted")
        return 0
    except (wpwithin.WPWithinError, wpwithin.WPWithinClientError) as error:
        print(f"carwash_producer: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
