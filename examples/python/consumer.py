#!/usr/bin/env python3
"""A consumer that buys car washes through wpwithind: discover, select, pay, then use the washes.

Finds the producer (searchForDevice by --name or --server-id, else the first one deviceDiscovery
hears), lists its services and prices, selects --units units of the first price, pays, and uses the
units in two delivery sessions. Prints each phase; exits 0 when every unit was delivered.
Standard library only, plus the wpwithin client.

    python3 examples/python/consumer.py --socket /run/wpwithin.sock --name carwash
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


def say(text: str) -> None:
    print(text, flush=True)


def find_producer(client: "wpwithin.Client", args: argparse.Namespace) -> dict:
    if args.server_id or args.name:
        return client.searchForDevice(serverId=args.server_id, name=args.name, timeoutMs=args.timeout_ms)
    devices = client.deviceDiscovery(timeoutMs=args.timeout_ms)
    if not devices:
        raise SystemExit("consumer: no producer found")
    return devices[0]


def run(args: argparse.Namespace) -> int:
    with wpwithin.Client(args.socket) as client:
        # 1. Discover.
        device = find_producer(client, args)
        server = device["serverId"]
        say(f"discovered: {device['deviceName']} ({server}) at {device['url']}")
        services = client.requestServices(serverId=server)["services"]
        for service in services:
            say(f"service {service['serviceId']}: {service['name']} - {service['description']}")
        if not services:
            raise SystemExit("consumer: the producer offers no service")
        service = services[0]
        prices = client.getServicePrices(serverId=server, serviceId=service["serviceId"])["prices"]
        for price in prices:
            say(f"price {price['priceId']}: {price['description']}, {money(price['amount'], price['currencyCode'])} per {price['unitDescription']}")
        if not prices:
            raise SystemExit("consumer: the service has no price")
        price = prices[0]

        # 2. Select.
        quote = client.selectService(serverId=server, serviceId=service["serviceId"], priceId=price["priceId"], numberOfUnits=args.units)
        say(f"selected: {quote['unitsToSupply']} unit(s) for {money(quote['totalPrice'], quote['currencyCode'])} (reference {quote['paymentReferenceId']})")

        # 3. Pay.
        purchase = client.makePayment(paymentReferenceId=quote["paymentReferenceId"])
        say(f"paid: purchase {purchase['purchaseId']}, {money(purchase['totalPaid'], purchase['currencyCode'])}, {purchase['unitsBought']} unit(s)")

        # 4. Deliver, in two sessions.
        first = args.units - args.units // 2
        for session, units in enumerate((first, args.units - first), start=1):
            if units == 0:
                continue
            begun = client.beginServiceDelivery(purchaseId=purchase["purchaseId"], units=units)
            say(f"delivery {session} begun: {begun['unitsToSupply']} unit(s)")
            ended = client.endServiceDelivery(purchaseId=purchase["purchaseId"], unitsReceived=begun["unitsToSupply"])
            say(f"delivery {session} ended: {ended['unitsDelivered']} delivered, {ended['unitsRemaining']} remaining")
        if ended["unitsRemaining"] != 0:
            raise SystemExit(f"consumer: {ended['unitsRemaining']} unit(s) were not delivered")
    say("done")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Buy and use units of a producer's service through wpwithind.")
    parser.add_argument("--socket", help="the daemon's socket (default: $WPWITHIN_SOCKET, else /run/wpwithin.sock)")
    parser.add_argument("--name", help="the producer's device name")
    parser.add_argument("--server-id", help="the producer's serverId")
    parser.add_argument("--units", type=int, default=3, help="units to buy (default: 3)")
    parser.add_argument("--timeout-ms", type=int, default=20000, help="how long discovery may take (default: 20000)")
    args = parser.parse_args(argv)
    if args.units < 1:
        parser.error("--units must be at least 1")
    try:
        return run(args)
    except (wpwithin.WPWithinError, wpwithin.WPWithinClientError) as error:
        print(f"consumer: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
