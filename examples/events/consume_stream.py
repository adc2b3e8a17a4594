#!/usr/bin/env python3
"""Consume auth-service user events from the Redis Stream with a consumer group.

    pip install redis
    REDIS_URL=redis://localhost:6379 python3 consume_stream.py --group users-service --consumer users-1

Each stream entry has the fields `id`, `type`, `user_id` and `payload` (the event JSON, see
docs/events/user-event.schema.json). Delivery is at least once: make `handle` idempotent on
the event `id`. Entries are acknowledged (XACK) only after they were handled, so a consumer
that crashes leaves them pending; on start it first re-reads its own pending entries, and
XAUTOCLAIM takes over entries another consumer left pending for too long.
"""

import argparse
import json
import os

import redis


def handle(event: dict) -> None:
    """Apply one event to this service's own data. Replace with real work."""
    print(f"{event['occurred_at']} {event['type']} user={event['user_id']} data={json.dumps(event['data'])}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stream", default=os.environ.get("EVENTS_STREAM", "auth:events"))
    parser.add_argument("--group", required=True)
    parser.add_argument("--consumer", required=True)
    parser.add_argument("--stale-ms", type=int, default=60_000, help="take over entries pending this long")
    parser.add_argument("--once", action="store_true", help="stop when nothing new arrives within a block")
    arguments = parser.parse_args()

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379"), decode_responses=True)
    try:
        # "$": only events appended from now on; use "0" to replay what the stream still holds.
        client.xgroup_create(arguments.stream, arguments.group, id="$", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise

    def process(entries) -> int:
        for entry_id, fields in entries:
            if fields:  # an entry trimmed away while pending comes back empty
                handle(json.loads(fields["payload"]))
            client.xack(arguments.stream, arguments.group, entry_id)
        return len(entries)

    # Our own entries left unacknowledged by a previous run, then other consumers' stale ones.
    for _, entries in client.xreadgroup(arguments.group, arguments.consumer, {arguments.stream: "0"}) or []:
        process(entries)
    _, claimed, _ = client.xautoclaim(arguments.stream, arguments.group, arguments.consumer, arguments.stale_ms)
    process(claimed)

    while True:
        reply = client.xreadgroup(
            arguments.group, arguments.consumer, {arguments.stream: ">"}, count=100, block=5_000
        )
        handled = sum(process(entries) for _, entries in reply or [])
        if arguments.once and handled == 0:
            return


if __name__ == "__main__":
    main()
