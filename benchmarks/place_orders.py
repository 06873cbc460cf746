"""Benchmark: order placement over real HTTP against a running `mcburger run`.

    python benchmarks/place_orders.py --url http://127.0.0.1:8000 --orders 300 --concurrency 8

Prints throughput and latency percentiles of POST /orders (each answer waits until the views and
the estimate include the new order: read-your-writes), then how long the board took to show
them all. Only use it against an instance of your own on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

import httpx


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    async with httpx.AsyncClient(base_url=args.url, timeout=30) as client:
        items = [item["id"] for item in (await client.get("/menu")).json()["items"]]
        bodies = [{"items": [{"item": item, "quantity": rng.randint(1, 3)}
                             for item in rng.sample(items, rng.randint(1, 3))]}
                  for _ in range(args.orders)]
        latencies: list[float] = []
        queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)

        async def client_loop() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post("/orders", json=body)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    print(f"orders: {args.orders}, concurrency: {args.concurrency}")
    print(f"throughput: {args.orders / elapsed:.1f} orders/s over {elapsed:.2f} s")
    print(f"latency ms: p50 {cuts[49] * 1000:.1f}  p95 {cuts[94] * 1000:.1f}  "
          f"max {max(latencies) * 1000:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
