"""One scheduler at a time across processes: the lease in a real Redis decides who runs the cron schedule."""

from __future__ import annotations

import threading
import time

import pytest
import redis as redis_lib

from jobs.leader import LeaderCronScheduler, LeadershipLost, SchedulerLease


@pytest.fixture
def conn(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    yield client
    client.close()


def _lease(conn, name: str, ttl: float = 3.0) -> SchedulerLease:
    lease = SchedulerLease(conn, ttl=ttl)
    lease.identity = name  # two leases in one test process stand for two hosts
    return lease


def test_only_one_scheduler_holds_the_lease(conn):
    first, second = _lease(conn, "host-a:1"), _lease(conn, "host-b:2")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert first.held
    assert not second.held
    assert second.holder() == "host-a:1"


def test_a_standby_takes_over_when_the_holder_releases(conn):
    first, second = _lease(conn, "host-a:1"), _lease(conn, "host-b:2")
    assert first.try_acquire()
    stop = threading.Event()
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(second.wait(stop, poll=0.05)))
    waiter.start()
    time.sleep(0.2)
    assert got == []  # still waiting while the first holds it
    first.release()
    waiter.join(timeout=5)
    assert got == [True]
    assert second.holder() == "host-b:2"


def test_a_dead_holder_is_replaced_after_the_lease_expires(conn):
    first, second = _lease(conn, "host-a:1", ttl=0.3), _lease(conn, "host-b:2", ttl=0.3)
    assert first.try_acquire()  # and then never renews: the process died
    assert second.wait(poll=0.05)
    assert second.holder() == "host-b:2"
    with pytest.raises(LeadershipLost, match="host-b:2"):
        first.renew()
    assert not first.held


def test_the_scheduler_stops_scheduling_when_the_lease_is_taken(conn):
    lease = _lease(conn, "host-a:1")
    assert lease.try_acquire()
    scheduler = LeaderCronScheduler(conn, lease, name="test-cron")
    scheduler.register(print, "default", interval=3600)
    assert len(scheduler.enqueue_jobs()) == 1  # due at once, while the lease is held
    conn.set("hongguan:scheduler:lease", "host-b:2")  # another scheduler took over (e.g. after an expiry)
    with pytest.raises(LeadershipLost):
        scheduler.enqueue_jobs()
    assert conn.llen("rq:queue:default") == 1  # nothing enqueued without the lease


def test_the_loop_comes_round_before_the_lease_expires(conn):
    lease = _lease(conn, "host-a:1", ttl=9.0)
    scheduler = LeaderCronScheduler(conn, lease)
    scheduler.register(print, "default", interval=3600)
    assert scheduler.calculate_sleep_interval() <= 3.0


def test_the_scheduler_command_loop_waits_for_the_lease_and_gives_it_up_on_stop(conn):
    from jobs.worker import cron_through_outages

    other, mine = _lease(conn, "host-a:1"), _lease(conn, "host-b:2")
    assert other.try_acquire()
    started: list[str | None] = []

    def make_scheduler():
        class Once:
            def start(self) -> None:  # stands for RQ's loop returning on SIGTERM
                started.append(mine.holder())

        return Once()

    loop = threading.Thread(target=cron_through_outages, args=(make_scheduler, conn, mine))
    loop.start()
    time.sleep(0.3)
    assert started == []  # the standby does not schedule while another host holds the lease
    other.release()
    loop.join(timeout=10)
    assert started == ["host-b:2"]
    assert mine.holder() is None  # stopping gives the lease up at once for the next standby
