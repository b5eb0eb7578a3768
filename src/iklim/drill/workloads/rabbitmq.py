"""RabbitMQ: one persistent message per value to a quorum queue with publisher confirms (pika's
``BlockingChannel.confirm_delivery``), the at-least-once path the applications use; every member
is listed, pika connects to the first that accepts (rabbitmq.com/docs/confirms,
rabbitmq.com/docs/quorum-queues).

A connect that fails, or a message returned unroutable (``mandatory``), was not enqueued:
``fail``. A nack, or a connection or channel lost while waiting for the confirm: ``info``; the
client then reconnects (in the lab, RabbitMQ 3.10 went on nacking every publish on a channel
that had published to a killed queue leader, long after the new leader was elected). The
final read drains the run's queue (``basic_get``), so a message delivered twice shows as
duplicated; the queue is deleted afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pika
from pika import exceptions

from iklim.drill.history import Indeterminate, Refused
from iklim.drill.workloads.base import Client, Workload


class RabbitClient(Client):
    def __init__(self, params: list[Any], queue: str) -> None:
        self.params, self.queue = params, queue
        self.conn: Any = None
        self.channel: Any = None

    def write(self, value: str) -> None:
        if self.conn is None or not self.conn.is_open:
            try:
                self.conn = pika.BlockingConnection(self.params)
                self.channel = self.conn.channel()
                self.channel.confirm_delivery()
            except exceptions.AMQPError as exc:
                self._drop()
                raise Refused(f"connect: {type(exc).__name__} {exc}") from None
        try:
            self.channel.basic_publish(
                "", self.queue, value.encode(), properties=pika.BasicProperties(delivery_mode=2), mandatory=True
            )
        except exceptions.UnroutableError:
            raise Refused("unroutable: returned by the broker") from None
        except exceptions.NackError:
            self._drop()  # a channel whose queue client nacks keeps nacking: start a fresh one
            raise Indeterminate("nacked by the broker") from None
        except (exceptions.AMQPError, OSError) as exc:
            self._drop()
            raise Indeterminate(f"{type(exc).__name__} {exc}") from None

    def _drop(self) -> None:
        conn, self.conn, self.channel = self.conn, None, None
        if conn is not None and conn.is_open:
            with contextlib.suppress(exceptions.AMQPError, OSError):
                conn.close()

    def close(self) -> None:
        self._drop()


class RabbitWorkload(Workload):
    name = "rabbitmq"

    def __init__(self, endpoints: Sequence[tuple[str, int]], user: str, password: str, run_id: str) -> None:
        credentials = pika.PlainCredentials(user, password)
        self.params = [
            pika.ConnectionParameters(
                h,
                p,
                credentials=credentials,
                connection_attempts=1,
                socket_timeout=2,
                # a partitioned node sends nothing back, not even TCP: without this a publish
                # waits for its confirm for the kernel's retransmissions (~15 min)
                tcp_options={"TCP_USER_TIMEOUT": 3000},
            )
            for h, p in endpoints
        ]
        self.queue = f"iklim-drill-{run_id}"

    def _open(self) -> tuple[Any, Any]:
        conn = pika.BlockingConnection(self.params)
        return conn, conn.channel()

    def setup(self) -> None:
        conn, channel = self._open()
        try:
            channel.queue_declare(self.queue, durable=True, arguments={"x-queue-type": "quorum"})
        finally:
            conn.close()

    def client(self) -> Client:
        return RabbitClient(self.params, self.queue)

    def final_read(self) -> list[str]:
        conn, channel = self._open()
        values: list[str] = []
        try:
            while True:
                method, _, body = channel.basic_get(self.queue, auto_ack=True)
                if method is None:
                    break
                values.append(body.decode())
            channel.queue_delete(self.queue)
        finally:
            conn.close()
        return values
