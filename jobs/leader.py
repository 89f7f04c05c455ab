"""One scheduler across hosts: the running `hongguan scheduler` holds a lease in Redis and renews it.

RQ's CronScheduler has no election of its own, and two of them would enqueue every periodic job twice. Every
host may run `hongguan scheduler`; each waits for the lease (redis-py's `Lock`: SET NX with an expiry, renewed by
a compare-and-expire script), and only the holder runs the schedule and the inbound relay. The holder renews the
lease on every turn of its loop; when it finds the lease gone or taken it stops scheduling and waits again. A
holder that dies stops renewing, and another host takes over within `ttl` seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from redis import Redis
from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from rq.cron import CronScheduler

log = logging.getLogger(__name__)

LEASE_KEY = "hongguan:scheduler:lease"
LEASE_TTL = 30.0  # seconds a lease outlives its holder; a standby takes over within this
POLL = 2.0  # seconds between a standby's attempts


class LeadershipLost(Exception):
    """The lease expired or another scheduler holds it: stop scheduling and wait for it again."""


class SchedulerLease:
    """The scheduler lease of this process, held in Redis."""

    def __init__(self, connection: Redis, *, ttl: float = LEASE_TTL, key: str = LEASE_KEY) -> None:
        self.ttl = ttl
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self._lock = Lock(connection, key, timeout=ttl, thread_local=False)
        self._held = threading.Event()

    @property
    def held(self) -> bool:
        """Whether this process held the lease when it last checked."""
        return self._held.is_set()

    @property
    def renew_every(self) -> float:
        """How often the holder must renew: a third of the lifetime leaves two misses of slack."""
        return self.ttl / 3

    def holder(self) -> str | None:
        """Who holds the lease now (host:pid), or None."""
        value = self._lock.redis.get(self._lock.name)
        return value.decode() if isinstance(value, bytes) else value

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True when this process holds it now."""
        if self._lock.acquire(blocking=False, token=self.identity):
            self._held.set()
            log.info("scheduler %s holds the scheduler lease", self.identity)
        return self.held

    def wait(self, stop: threading.Event | None = None, poll: float = POLL) -> bool:
        """Block until this process holds the lease (True) or `stop` is set (False), riding out Redis errors."""
        announced = False
        while stop is None or not stop.is_set():
            try:
                if self.try_acquire():
                    return True
                if not announced:
                    log.info("scheduler %s waits: the lease is held by %s", self.identity, self.holder())
                    announced = True
            except RedisError as e:
                log.warning("scheduler lease: Redis error %s: %s", type(e).__name__, e)
            time.sleep(poll)
        return False

    def renew(self) -> None:
        """Extend the lease to a full lifetime; raises LeadershipLost when it is no longer this process's."""
        try:
            self._lock.reacquire()
        except LockError as e:  # LockNotOwnedError: expired, or taken by another scheduler
            self._held.clear()
            raise LeadershipLost(f"scheduler lease lost by {self.identity}; held by {self.holder()}") from e

    def release(self) -> None:
        """Give the lease up (on shutdown), so a standby takes over at once instead of after `ttl`."""
        if not self._held.is_set():
            return
        self._held.clear()
        try:
            self._lock.release()
        except (LockError, RedisError) as e:
            log.info("scheduler lease not released (%s): it expires by itself", e)


class LeaderCronScheduler(CronScheduler):
    """RQ's cron scheduler that runs only while its process holds the scheduler lease."""

    def __init__(self, connection: Redis, lease: SchedulerLease, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.lease = lease

    def enqueue_jobs(self) -> list[Any]:
        """Renew the lease, then enqueue the jobs that are due (nothing when the lease is lost)."""
        self.lease.renew()
        return super().enqueue_jobs()

    def calculate_sleep_interval(self) -> float:
        """RQ's interval, capped so the loop comes round to renew the lease in time."""
        return min(super().calculate_sleep_interval(), self.lease.renew_every)
