"""The broker faults of `make chaos CHAOS_ARGS="--cluster ..."`, on the local three-node KRaft
cluster (SMARTCITY_KAFKA_NODES=3; each node is broker and controller, topics have replication
factor 3 and min.insync.replicas 2):

1. `leader`: SIGKILL of the node that leads most of the run's partitions, restarted after a while;
2. `controller`: SIGKILL of the active KRaft controller (the quorum's leader), restarted;
3. `two-nodes`: SIGKILL of two of the three nodes at once, both kept down for `--outage`
   seconds (60 by default: longer than a producer's delivery timeout, so writes must wait in
   the services' commits and be retried, not be lost), then restarted.

For each fault it measures, from the moment of the kill:
- `writes_stalled_s`: how long until an acknowledged write (acks=all, to a probe topic of the
  run's namespace with the same replication) succeeds again;
- `in_sync_s`: from the restart until every partition of the run is fully replicated again;
- `caught_up_s`: from the restart until every consumer group of the run has consumed everything
  that had been written by the time the nodes were back (consumer lag back to zero for it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from aiokafka.errors import KafkaError
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.kafka import consumer_lag
from tests.support import LOCAL, ROOT, kafka_auth

NODES = (1, 2, 3)
FAULTS = ("leader", "controller", "two-nodes")


@dataclass
class Recovery:
    fault: str
    nodes: list[int]
    writes_stalled_s: float
    in_sync_s: float
    caught_up_s: float
    last_behind: str
    """The consumer group that caught up last, and on which partition."""

    def summary(self) -> str:
        return (
            f"{self.fault}(kafka-{'+'.join(map(str, self.nodes))}): writes stalled "
            f"{self.writes_stalled_s:.1f}s, in sync {self.in_sync_s:.1f}s, "
            f"caught up {self.caught_up_s:.1f}s (last: {self.last_behind})"
        )


def require_cluster() -> None:
    if os.environ.get("SMARTCITY_KAFKA_NODES") != "3":
        raise SystemExit(
            "chaos --cluster needs the three-node local Kafka: "
            'run `make chaos CHAOS_ARGS="--cluster ..."` (it sets SMARTCITY_KAFKA_NODES=3)'
        )


def _admin() -> AdminClient:
    return AdminClient(dict(kafka_auth().librdkafka()))


def _pid(node: int) -> int | None:
    try:
        return int((LOCAL / "run" / f"kafka-{node}.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None


def kill(nodes: list[int]) -> None:
    """SIGKILL each node's whole process group (infra/stack.sh spawns a node with setsid)."""
    for node in nodes:
        pid = _pid(node)
        if pid is None:
            raise RuntimeError(f"kafka-{node} is not running (no pid file)")
        os.killpg(pid, signal.SIGKILL)


def start(nodes: list[int]) -> None:
    """Start the nodes again and wait until each answers (`infra/stack.sh up kafka-N ...`)."""
    subprocess.run(
        ["bash", str(ROOT / "infra" / "stack.sh"), "up", *(f"kafka-{n}" for n in nodes)],
        check=True,
        cwd=ROOT,
        env={**os.environ, "SMARTCITY_KAFKA_NODES": "3"},
        stdout=subprocess.DEVNULL,
    )


def active_controller() -> int:
    """The KRaft quorum's leader: each node records the leader it knows, with its epoch, in its
    metadata log's `quorum-state`; the newest epoch's leader is the active controller."""
    known: list[tuple[int, int]] = []
    for node in NODES:
        path = LOCAL / "kafka" / f"node-{node}" / "data" / "__cluster_metadata-0" / "quorum-state"
        try:
            state = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            continue
        if state.get("leaderId", -1) >= 0:
            known.append((int(state["leaderEpoch"]), int(state["leaderId"])))
    if not known:
        raise RuntimeError("no node knows a KRaft quorum leader")
    return max(known)[1]


def leader_of_most(topics: Topics) -> int:
    meta = _admin().list_topics(timeout=10)
    led = Counter(p.leader for name in topics.all() for p in meta.topics[name].partitions.values())
    return led.most_common(1)[0][0]


def under_replicated(topics: Topics) -> int:
    meta = _admin().list_topics(timeout=10)
    return sum(
        1
        for name in topics.all()
        if name in meta.topics
        for p in meta.topics[name].partitions.values()
        if len(p.isrs) < len(p.replicas)
    )


class WriteProbe:
    """Acknowledged writes (acks=all, idempotent) to a probe topic of the run's namespace, with
    the cluster's replication factor and min.insync.replicas: the time until one succeeds is how
    long a producer's writes stall."""

    def __init__(self, topics: Topics) -> None:
        self.topic = topics.name("chaos-probe")
        admin = _admin()  # kept while its futures resolve
        futures = admin.create_topics([NewTopic(self.topic, num_partitions=1)])
        for future in futures.values():
            try:
                future.result(30)
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
        self._producer = Producer(
            {
                **kafka_auth().librdkafka(),
                "acks": "all",
                "enable.idempotence": True,
                "message.timeout.ms": 3000,
            }
        )

    def write_once(self) -> bool:
        result: list[Any] = []
        self._producer.produce(
            self.topic, b"probe", on_delivery=lambda err, _msg: result.append(err)
        )
        self._producer.flush(5)
        return bool(result) and result[0] is None

    async def until_written(self, since: float, timeout: float) -> float:
        while time.monotonic() - since < timeout:
            if await asyncio.to_thread(self.write_once):
                return time.monotonic() - since
            await asyncio.sleep(0.2)
        raise RuntimeError(f"no acknowledged write for {timeout:.0f} s after a broker fault")

    def close(self) -> None:
        self._producer.flush(5)
        admin = _admin()
        for future in admin.delete_topics([self.topic]).values():
            future.result(30)


async def _lag(auth: Any, names: tuple[str, ...], timeout: float = 120) -> list[dict[str, Any]]:
    """Consumer lag, retried while the restarted nodes' group coordinators load their groups
    (GroupLoadInProgress and other retriable errors)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await consumer_lag(auth, names)
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def _caught_up(topics: Topics, since: float, timeout: float) -> tuple[float, str]:
    """Seconds from `since` until every consumer group of the run has committed at least the
    end offsets its partitions had when this was called, and the group that was last."""
    auth = kafka_auth()
    names = topics.all()
    target = {
        (row["group"], row["topic"], row["partition"]): row["end"]
        for row in await _lag(auth, names)
    }
    last, behind = "-", []
    while time.monotonic() - since < timeout:
        rows = await _lag(auth, names)
        done = {(r["group"], r["topic"], r["partition"]): r["committed"] for r in rows}
        behind = [
            f"{group} {topics.bare(topic)}-{partition} at {done.get((group, topic, partition))}"
            f" of {end}"
            for (group, topic, partition), end in target.items()
            if done.get((group, topic, partition), -1) < end
        ]
        if not behind:
            return time.monotonic() - since, last
        last = behind[0]
        await asyncio.sleep(1)
    raise RuntimeError(
        f"consumers not caught up {timeout:.0f} s after a broker fault: {', '.join(behind[:8])}"
    )


async def _in_sync(topics: Topics, since: float, timeout: float) -> float:
    while time.monotonic() - since < timeout:
        if await asyncio.to_thread(under_replicated, topics) == 0:
            return time.monotonic() - since
        await asyncio.sleep(0.5)
    raise RuntimeError(f"partitions still under-replicated {timeout:.0f} s after a restart")


async def fault(
    kind: str, topics: Topics, probe: WriteProbe, down_for: float, timeout: float = 600
) -> Recovery:
    """Inflict one fault, bring the nodes back, and measure the recovery."""
    if kind == "leader":
        nodes = [await asyncio.to_thread(leader_of_most, topics)]
    elif kind == "controller":
        nodes = [await asyncio.to_thread(active_controller)]
    elif kind == "two-nodes":
        first = await asyncio.to_thread(active_controller)
        nodes = [first, next(n for n in NODES if n != first)]
    else:
        raise ValueError(kind)
    await asyncio.to_thread(kill, nodes)
    killed = time.monotonic()
    stalled = asyncio.create_task(probe.until_written(killed, timeout))
    await asyncio.sleep(down_for)
    await asyncio.to_thread(start, nodes)
    back = time.monotonic()
    in_sync = await _in_sync(topics, back, timeout)
    caught_up, last = await _caught_up(topics, back, timeout)
    return Recovery(
        kind, nodes, round(await stalled, 1), round(in_sync, 1), round(caught_up, 1), last
    )


async def broker_faults(
    topics: Topics, spacing: float, outage: float, short_outage: float
) -> list[dict[str, Any]]:
    """The three faults in turn, `spacing` seconds apart, each fully recovered before the next."""
    probe = await asyncio.to_thread(WriteProbe, topics)
    done: list[dict[str, Any]] = []
    try:
        for kind in FAULTS:
            await asyncio.sleep(spacing)
            down_for = outage if kind == "two-nodes" else short_outage
            recovery = await fault(kind, topics, probe, down_for)
            print(f"chaos: {recovery.summary()}", flush=True)
            done.append(asdict(recovery))
    finally:
        await asyncio.to_thread(probe.close)
    return done
